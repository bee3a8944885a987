"""Quiet, backed-off failures of a repeating task (the delivery worker, the scheduler, the
leadership lock) while something it needs, usually the database, is down.

Without it an outage of 70 s wrote 135 full tracebacks (one every 0.5 s) and retried at
full speed. A :class:`FailureBurst` logs the first failure of a burst as one line (the
exception's type and first message line; the traceback only at DEBUG), counts the rest
quietly, says how long to wait before the next try (exponential, capped, with jitter) and
logs one line when the task works again: "... works again after 12 failures, 70 s".
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from storage.db import unreachable

__all__ = ["FailureBurst", "describe", "while_unreachable"]

T = TypeVar("T")

_MAX_MESSAGE = 200


def describe(exc: BaseException) -> str:
    """One short line naming an exception: its type and the first line of its message.

    SQLAlchemy wraps the driver's error and appends the SQL and its parameters; only the
    driver's own message is kept, so no parameter value (a blind index, an id) is logged.
    """
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else None
    name = type(exc).__name__
    if inner is not None:
        name = f"{name} ({type(inner).__name__})"
    message = str(inner if inner is not None else exc).strip().splitlines()
    first = message[0].strip() if message else ""
    if len(first) > _MAX_MESSAGE:
        first = first[: _MAX_MESSAGE - 1] + "…"
    return f"{name}: {first}" if first else name


class FailureBurst:
    """Consecutive failures of one repeating task: one log line when they start, one when
    they end, and the wait before the next try in between."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        base: float = 1.0,
        cap: float = 60.0,
        settle: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """``what`` names the task in the log ("delivery pass"); ``settle`` is how long
        successes must have lasted since the last failure before the burst counts as over
        (0: the first success ends it)."""
        self._log = log
        self.what = what
        self._base = base
        self._cap = max(cap, base)
        self._settle = settle
        self._clock = clock
        self._rng = rng
        self.failures = 0  # in the current burst
        self.total = 0  # since the start, for the metrics
        self.started: float | None = None
        self._last_failure: float | None = None
        self.last_error = ""

    @property
    def failing(self) -> bool:
        """True while a burst is under way."""
        return self.failures > 0

    def failing_for(self) -> float:
        """Seconds since the current burst started (0 when none is)."""
        return 0.0 if self.started is None else max(0.0, self._clock() - self.started)

    def delay(self) -> float:
        """Seconds to wait before the next try in the current burst: doubling from ``base``
        up to ``cap``, with "equal jitter" (between half and all of it) so that processes
        that failed together do not all come back at the same instant."""
        if not self.failing:
            return self._base
        full = min(self._cap, self._base * 2.0 ** min(self.failures - 1, 60))
        return full / 2 + self._rng() * full / 2

    def failed(self, exc: BaseException) -> float:
        """Record one failure (logged only if it starts a burst); return the wait."""
        now = self._clock()
        self.total += 1
        self._last_failure = now
        self.last_error = type(exc).__name__
        if self.failures == 0:
            self.started = now
            self.failures = 1
            self._log.error(
                "%s failed: %s (retrying with backoff up to %.0f s; repeats are counted, "
                "not logged)",
                self.what,
                describe(exc),
                self._cap,
            )
            # The traceback once per burst, for whoever runs at DEBUG to find a bug.
            self._log.debug("%s failure", self.what, exc_info=exc)
        else:
            self.failures += 1
            self._log.debug(
                "%s failed again (%d in a row): %s", self.what, self.failures, describe(exc)
            )
        return self.delay()

    def succeeded(self) -> None:
        """Record a success; it ends the burst (one log line) once ``settle`` has passed."""
        if not self.failures:
            return
        now = self._clock()
        if self._last_failure is not None and now - self._last_failure < self._settle:
            return
        lasted = now - (self.started if self.started is not None else now)
        self._log.warning(
            "%s works again after %d %s, %.0f s",
            self.what,
            self.failures,
            "failure" if self.failures == 1 else "failures",
            lasted,
        )
        self.failures = 0
        self.started = None


async def while_unreachable(
    attempt: Callable[[], Awaitable[T]],
    waiting: Callable[[BaseException, int], bool],
    *,
    first: float = 0.5,
    cap: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``attempt()``, tried again after ``first`` seconds (doubling up to ``cap``) while it
    fails because the database is away (:func:`storage.db.unreachable`) and
    ``waiting(error, tries)`` agrees; any other error, or ``waiting`` saying False, is
    raised. For work that must not be dropped: a message already answered, a push sent."""
    delay, tries = first, 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            tries += 1
            if not unreachable(exc) or not waiting(exc, tries):
                raise
            await sleep(delay)
            delay = min(delay * 2, cap)
