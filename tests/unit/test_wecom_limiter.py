"""The per-member sliding-window limiter, driven by a fake clock."""

from __future__ import annotations

import asyncio

from bot.wecom.client import SlidingWindowLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _limiter(t: FakeTime, limit: int = 30, window: float = 60.0) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(limit, window, clock=t.clock, sleep=t.sleep)


async def test_window_slides_rather_than_resetting_per_minute() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    for _ in range(10):
        await limiter.acquire("m")
    t.now = 30.0
    for _ in range(20):
        await limiter.acquire("m")
    t.now = 45.0
    await limiter.acquire("m")  # the 10 sends at t=0 free up at t=60, not at a minute boundary
    assert t.delays == [15.0]
    assert t.now == 60.0


async def test_after_a_full_window_all_slots_are_free_again() -> None:
    t = FakeTime()
    limiter = _limiter(t, limit=3)
    for _ in range(3):
        await limiter.acquire("m")
    t.now = 60.0
    for _ in range(3):
        await limiter.acquire("m")
    assert t.delays == []


async def test_delay_reports_the_wait_without_consuming_a_slot() -> None:
    t = FakeTime()
    limiter = _limiter(t, limit=2)
    await limiter.acquire("m")
    t.now = 10.0
    await limiter.acquire("m")
    assert limiter.delay("m") == 50.0
    assert limiter.delay("m") == 50.0
    assert limiter.delay("other") == 0.0


async def test_concurrent_waiters_never_exceed_the_limit() -> None:
    t = FakeTime()
    limiter = _limiter(t, limit=2, window=10.0)
    granted: list[float] = []

    async def send() -> None:
        await limiter.acquire("m")
        granted.append(t.now)

    await asyncio.gather(*(send() for _ in range(6)))
    assert len(granted) == 6
    for start in granted:
        assert sum(start <= g < start + 10.0 for g in granted) <= 2
