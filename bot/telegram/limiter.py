"""Telegram's flood limits, kept by us before Telegram has to enforce them.

PTB's ``AIORateLimiter`` holds every call with a chat id to 30/s together, lets about 60
through in its first second and has no per-private-chat limit, so it is replaced here by
:class:`TelegramRateLimiter`: ≤30 messages/s overall, ≤1 message/s per private chat,
≤20 messages/min per group, with interactive replies served before queued pushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

__all__ = [
    "PUSH",
    "SEND_ENDPOINTS",
    "SendLimiter",
    "SendLimits",
    "TelegramRateLimiter",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

# Calls that put a message into a chat; Telegram's flood limits count these.
SEND_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendContact",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "createForumTopic",
    }
)

# rate_limit_args for queued pushes (the outbox); interactive replies pass nothing.
PUSH: dict[str, Any] = {"push": True}


def retry_after_seconds(error: RetryAfter) -> float:
    """Seconds Telegram asked us to wait, whether PTB gives an int or a timedelta."""
    with warnings.catch_warnings():
        # PTB 22 warns unless PTB_TIMEDELTA is set; both forms are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class SendLimits:
    """The budgets (per Telegram's bot FAQ) and the slack kept for network jitter."""

    overall_per_second: int = 30
    private_interval: float = 1.0
    group_per_minute: int = 20
    push_reserve: int = 1  # of the overall budget per second, kept for interactive replies
    margin: float = 0.03  # seconds added to every window, for network jitter

    @property
    def push_spacing(self) -> float:
        """Pushes start at least this far apart (see :meth:`SendLimiter.acquire`)."""
        return 1.0 / self.overall_per_second


_IN_FLIGHT = float("inf")


class _Slot:
    """One send: started at ``start``; answered at ``at`` (infinite while in flight)."""

    __slots__ = ("at", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.at = _IN_FLIGHT


class SendLimiter:
    """Decides when the next message to a chat may go; time and sleep are injectable.

    The overall budget (30/s) counts a send from when it *starts*, delayed by however much
    longer than the usual round trip it took: requests that take the usual way arrive at
    Telegram as far apart as they started, so only jitter needs the margin; one that was
    slow (a new connection's handshake, a retransmit) may have arrived late, and counts
    from then; one still in flight past the usual round trip counts as arriving now. The
    usual round trip is the shortest of the last 64 answered sends (none yet: the whole
    round trip counts). Counting every send from its answer would hold each slot for an
    extra round trip: 5 % of the budget at 50 ms, a fifth at 250 ms.

    A chat's own limits (1/s per private chat, 20/min per group) count a send from *its
    answer* (and without end while it is in flight): Telegram saw the request somewhere
    in between, so two messages to one chat can never land closer than the limit. That
    costs one round trip per chat, which no chat's conversation notices.
    """

    def __init__(
        self,
        limits: SendLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or SendLimits()
        self._clock = clock
        self._sleep = sleep
        self._overall: list[_Slot] = []  # the sends that may still count
        self._rtts: deque[float] = deque(maxlen=64)  # recent round trips of answered sends
        self._rtt_floor = 0.0  # the usual round trip: the shortest of those
        self._last_push = -_IN_FLIGHT
        self._private: dict[int, _Slot] = {}
        self._groups: dict[int, list[_Slot]] = {}
        self._blocked: dict[int | None, float] = {}
        self._interactive_waiting = 0
        self._changed = asyncio.Event()  # set (and replaced) whenever a send is answered
        self.sent = 0
        self.waited = 0
        # How long recent interactive replies waited for their budget (seconds).
        self.interactive_waits: deque[float] = deque(maxlen=10_000)

    @staticmethod
    def _window_wait(slots: list[_Slot], budget: int, window: float, now: float) -> float:
        slots[:] = [s for s in slots if s.at > now - window]
        if len(slots) < budget:
            return 0.0
        times = sorted(s.at for s in slots)
        return times[len(times) - budget] + window - now

    def _overall_wait(self, budget: int, now: float) -> float:
        window = 1.0 + self.limits.margin
        floor = self._rtt_floor
        # When each send may have reached Telegram (see the class docstring).
        times = [max(s.start, min(s.at, now) - floor) for s in self._overall]
        if times and min(times) <= now - window:
            kept = [(t, s) for t, s in zip(times, self._overall, strict=True) if t > now - window]
            self._overall = [s for _, s in kept]
            times = [t for t, _ in kept]
        if len(times) < budget:
            return 0.0
        times.sort()
        return times[len(times) - budget] + window - now

    def _wait(self, chat_id: int | None, now: float, interactive: bool) -> tuple[float, bool]:
        """Seconds until a send to this chat fits, and whether the overall budget is why."""
        lim = self.limits
        budget = lim.overall_per_second
        overall = max(self._blocked.get(None, 0.0) - now, 0.0)
        if not interactive:
            budget = max(1, budget - lim.push_reserve)
            overall = max(overall, self._last_push + lim.push_spacing - now)
            if self._interactive_waiting:
                overall = max(overall, 0.05)  # interactive replies first
        overall = max(overall, self._overall_wait(budget, now))
        wait = max(overall, self._blocked.get(chat_id, 0.0) - now)
        if chat_id is None:
            return wait, overall > 0
        if chat_id > 0:
            last = self._private.get(chat_id)
            if last is not None:
                wait = max(wait, last.at + lim.private_interval + lim.margin - now)
        else:
            group = self._groups.setdefault(chat_id, [])
            wait = max(
                wait, self._window_wait(group, lim.group_per_minute, 60.0 + lim.margin, now)
            )
        return wait, overall > 0

    def _take(self, chat_id: int | None, now: float, interactive: bool) -> _Slot:
        slot = _Slot(now)
        self._overall.append(slot)
        if not interactive:
            self._last_push = now
        self.sent += 1
        if chat_id is not None and chat_id > 0:
            if len(self._private) > 50_000:  # forget chats quiet for longer than the interval
                horizon = now - self.limits.private_interval - self.limits.margin
                self._private = {c: s for c, s in self._private.items() if s.at > horizon}
            self._private[chat_id] = slot
        elif chat_id is not None:
            self._groups.setdefault(chat_id, []).append(slot)
        return slot

    async def acquire(self, chat_id: int | None, *, interactive: bool) -> _Slot:
        """Wait until a message to this chat fits every budget; release() it when answered.

        Pushes yield to interactive replies that wait for the *overall* budget; a reply
        that waits only for its own chat's interval (1 s per private chat, 20/min per group)
        does not hold pushes to other chats back.
        """
        starved = False  # counted in _interactive_waiting
        began = self._clock()
        try:
            while True:
                now = self._clock()
                wait, overall = self._wait(chat_id, now, interactive)
                if wait <= 1e-9:  # float dust: a clock moved by exactly the wait may not move
                    if interactive:
                        self.interactive_waits.append(now - began)
                    return self._take(chat_id, now, interactive)
                if interactive and overall != starved:
                    self._interactive_waiting += 1 if overall else -1
                    starved = overall
                self.waited += 1
                await self._nap(wait)
        finally:
            if starved:
                self._interactive_waiting -= 1

    async def _nap(self, wait: float) -> None:
        """Sleep until ``wait`` is over or any send is answered, whichever comes first.

        An answered send can end the wait early (a slot's time becomes known), and while
        the slot that decides the wait is in flight its end is unknown (``wait`` is
        infinite): waking on answers, not on a polling interval, keeps replies prompt.
        """
        changed = self._changed
        sleeper = asyncio.ensure_future(self._sleep(min(wait, 1.0)))
        waker = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def release(self, slot: _Slot) -> None:
        """The send was answered (or failed)."""
        slot.at = self._clock()
        self._rtts.append(slot.at - slot.start)
        self._rtt_floor = min(self._rtts)
        self._changed.set()
        self._changed = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        """Sleep on the limiter's clock (a retry's backoff)."""
        await self._sleep(seconds)

    def block(self, chat_id: int | None, seconds: float) -> None:
        """Send nothing to this chat (None: to anyone) for ``seconds`` (after a 429)."""
        until = self._clock() + seconds
        self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), until)


def _transient(error: NetworkError) -> bool:
    """A failure that may pass if tried again at once: a timeout, a dropped connection, a
    server error. Not a bad request, not a 413, not PTB's wrapper around an exception of
    its own (a request after shutdown, say)."""
    if isinstance(error, TimedOut):
        return True
    if isinstance(error, BadRequest):
        return False
    if error.__cause__ is not None:  # raised by the transport, or PTB's "unknown error"
        return isinstance(error.__cause__, aiohttp.ClientError)
    return "too large" not in error.message.lower()  # an HTTP status: 5xx, odd 429s


def _chat_id(data: dict[str, Any]) -> int | None:
    raw = data.get("chat_id")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None  # @channelusername or no chat: only the overall budget applies


class TelegramRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """PTB rate limiter over :class:`SendLimiter`.

    Interactive calls wait for their budget, retry a 429 after ``retry_after`` and a server
    error, timeout or dropped connection after a short backoff (up to ``max_retries`` times
    in all): the reply that carries a tracking code exists nowhere else, so one 502 must not
    lose it (a retried timeout may show a message twice; a lost one is worse). Pushes
    (``rate_limit_args=PUSH``) raise at once so the outbox can reschedule the row instead of
    holding a worker.
    """

    def __init__(
        self, limiter: SendLimiter | None = None, *, max_retries: int = 3, backoff: float = 0.5
    ) -> None:
        self.limiter = limiter or SendLimiter()
        self.max_retries = max_retries
        self.backoff = backoff  # seconds before the first retry of a network error; doubles

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for the budget of a send, then make the call."""
        if endpoint not in SEND_ENDPOINTS:
            return await callback(*args, **kwargs)
        push = bool(rate_limit_args and rate_limit_args.get("push"))
        chat_id = _chat_id(data)
        attempt = failures = 0  # retries of any kind; of network errors (for the backoff)
        while True:
            slot = await self.limiter.acquire(chat_id, interactive=not push)
            held = True  # False once released early, before a network error's backoff
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                self.limiter.block(chat_id, seconds)
                attempt += 1
                if push or attempt > self.max_retries:
                    raise
            except NetworkError as error:
                if push or not _transient(error) or attempt >= self.max_retries:
                    raise
                retry_in = self.backoff * 2**failures
                failures += 1
                attempt += 1
                log.warning(
                    "telegram %s failed (%s); retrying in %.1f s",
                    endpoint,
                    type(error).__name__,
                    retry_in,
                )
                self.limiter.release(slot)
                held = False
                await self.limiter.pause(retry_in)
            finally:
                if held:
                    self.limiter.release(slot)
