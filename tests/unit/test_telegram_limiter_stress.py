"""TelegramRateLimiter under many concurrent senders, on an event loop with virtual time.

120 senders, 8 sends each: interactive and pushes, 60 private chats, 6 groups and a
@channel, answers taking 0.01 s to 3 s, 502s, timeouts, 429s, bad requests and cancelled
sends. Checked independently of the limiter's own bookkeeping: no 1 s holds more than 30
sends (counted at their start, and again at their answer), no private chat gets a message
within 1 s of the previous one's answer, no group more than 20 in a minute, every sender
finishes and nothing is left counted as waiting.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import random
from typing import Any

import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.telegram.limiter import PUSH, SendLimiter, TelegramRateLimiter


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        select = self._selector.select  # type: ignore[attr-defined]

        def jump(timeout: float | None = None) -> Any:
            events = select(0)
            if not events and timeout is not None:
                self._now += max(timeout, 1e-9)
            return events

        self._selector.select = jump  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._now


def _most_in(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered))


async def _scenario(seed: int, senders: int = 120, sends: int = 8) -> dict[str, Any]:
    rnd = random.Random(seed)
    loop = asyncio.get_running_loop()
    clock = loop.time
    limiter = SendLimiter(clock=clock, sleep=asyncio.sleep)
    rl = TelegramRateLimiter(limiter)
    calls: dict[int | str, list[tuple[float, float]]] = collections.defaultdict(list)
    finished = 0

    async def sender() -> None:
        nonlocal finished
        push = rnd.random() < 0.6
        await asyncio.sleep(rnd.uniform(0, 4))
        for _ in range(sends):
            r = rnd.random()
            chat: int | str = (
                rnd.randint(1, 60) if r < 0.8 else -rnd.randint(1, 6) if r < 0.95 else "@news"
            )
            delay = rnd.choice([0.01, 0.05, 0.1, 0.3, 0.8]) * rnd.uniform(0.5, 1.5)
            if rnd.random() < 0.01:
                delay = 3.0

            async def call(chat: int | str = chat, delay: float = delay) -> dict[str, Any]:
                started, fate = clock(), rnd.random()
                try:
                    await asyncio.sleep(delay)
                    if fate < 0.05:
                        raise NetworkError("Bad Gateway")
                    if fate < 0.07:
                        raise TimedOut()
                    if fate < 0.075:
                        raise RetryAfter(1)
                    if fate < 0.08:
                        raise BadRequest("Bad Request: message text is empty")
                    return {"message_id": 1}
                finally:
                    calls[chat].append((started, clock()))

            task = asyncio.ensure_future(
                rl.process_request(
                    call, (), {}, "sendMessage", {"chat_id": chat}, PUSH if push else None
                )
            )
            if rnd.random() < 0.03:
                loop.call_later(rnd.uniform(0, 0.5), task.cancel)
            try:
                await task
            except (asyncio.CancelledError, NetworkError, RetryAfter):
                pass  # given up or cancelled: the outbox or the person tries again
            await asyncio.sleep(rnd.uniform(0, 1.0))
        finished += 1

    await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(senders))), 3600)
    private_gaps = [
        later[0] - earlier[1]
        for chat, made in calls.items()
        if isinstance(chat, int) and chat > 0
        for earlier, later in zip(sorted(made), sorted(made)[1:], strict=False)
    ]
    return {
        "sends": sum(len(made) for made in calls.values()),
        "most_starts_in_1s": _most_in([s for made in calls.values() for s, _ in made], 1.0),
        "most_answers_in_1s": _most_in([a for made in calls.values() for _, a in made], 0.98),
        "closest_private": min(private_gaps),
        "most_in_a_group_minute": max(
            _most_in([s for s, _ in made], 60.0)
            for chat, made in calls.items()
            if isinstance(chat, int) and chat < 0
        ),
        "finished": finished,
        "still_waiting": limiter._interactive_waiting,
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_no_limit_is_broken_under_concurrent_senders_faults_and_cancels(seed: int) -> None:
    loop = VirtualTimeLoop()
    try:
        result = loop.run_until_complete(_scenario(seed))
    finally:
        loop.close()
    assert result["sends"] > 900
    assert result["most_starts_in_1s"] <= 30
    assert result["most_answers_in_1s"] <= 30
    assert result["closest_private"] >= 1.0
    assert result["most_in_a_group_minute"] <= 20
    assert result["finished"] == 120
    assert result["still_waiting"] == 0
