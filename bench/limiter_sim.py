"""How the Telegram send limiter shares the 30 messages/s between replies and pushes.

The real :class:`bot.telegram.limiter.SendLimiter` runs on simulated time: interactive
replies arrive at random (Poisson) to distinct private chats, a backlog of status pushes
waits behind them, every send takes one round trip. It prints, per limiter setting, the
pushes delivered per second, the replies' wait for their budget (p50/p95/p99) and the
flood-limit check (any 1 s holding more than 30 sends, counted at each send's start plus
a random one-way jitter).

Beside it runs the *ideal* limiter: perfect knowledge, no round trip, replies served the
instant a slot frees, pushes in any slot a reply does not need. It shows the trade-off no
limiter escapes: a push sent now holds its slot for a second, so the closer pushes come to
"30 − replies", the longer a surge of replies waits.

    .venv/bin/python -m bench.limiter_sim                    # 20.5 replies/s, 600 s
    .venv/bin/python -m bench.limiter_sim --replies 15 --rtt 250
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import random
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from bot.telegram.limiter import SendLimiter, SendLimits


class VirtualTime:
    """A clock and a sleep for the limiter; run() moves time from one timer to the next."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._seq), fut))
        await fut

    async def run(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for _ in range(10_000):  # let every runnable task run before time moves
                await asyncio.sleep(0)
                if not loop._ready:  # type: ignore[attr-defined]  # noqa: SLF001
                    break
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)  # cancelled sleeps
            if not self._timers or self._timers[0][0] > until:
                return
            at, _, fut = heapq.heappop(self._timers)
            self.now = max(self.now, at)
            fut.set_result(None)


@dataclass
class Result:
    pushes_per_s: float
    waits_ms: tuple[float, float, float]
    violations: int
    replies: int


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _violations(starts: Iterable[float], per_second: int) -> int:
    window: deque[float] = deque()
    bad = 0
    for t in sorted(starts):
        while window and window[0] <= t - 1.0:
            window.popleft()
        if len(window) >= per_second:
            bad += 1
        window.append(t)
    return bad


async def _simulate(
    limits: SendLimits,
    *,
    replies: float,
    rtt: float,
    jitter: float,
    seconds: float,
    workers: int,
    seed: int,
) -> Result:
    rnd = random.Random(seed)
    vt = VirtualTime()
    lim = SendLimiter(limits, clock=vt, sleep=vt.sleep)
    arrivals: list[float] = []  # at Telegram: start + one-way delay
    waits: list[float] = []
    pushes = 0
    warmup = 10.0

    async def send(chat: int, interactive: bool) -> None:
        slot = await lim.acquire(chat, interactive=interactive)
        arrivals.append(vt.now + rtt / 2 + rnd.uniform(0, jitter))
        await vt.sleep(rtt)
        lim.release(slot)

    async def reply(chat: int) -> None:
        began = vt.now
        await send(chat, True)
        if began >= warmup:
            waits.append(vt.now - rtt - began)

    async def arrivals_of_replies() -> None:
        chat = 1
        while True:
            await vt.sleep(rnd.expovariate(replies))
            chat += 1
            asyncio.ensure_future(reply(chat))

    async def pusher(first: int) -> None:
        nonlocal pushes
        for chat in itertools.count(first, workers):
            await send(10_000_000 + chat, False)  # chats no reply goes to
            if vt.now >= warmup:
                pushes += 1

    tasks = [asyncio.ensure_future(arrivals_of_replies())]
    tasks += [asyncio.ensure_future(pusher(i)) for i in range(workers)]
    await vt.run(warmup + seconds)
    for task in tasks:
        task.cancel()
    w = sorted(waits)
    return Result(
        pushes / seconds,
        (_pct(w, 0.5) * 1000, _pct(w, 0.95) * 1000, _pct(w, 0.99) * 1000),
        _violations(arrivals, limits.overall_per_second),
        len(waits),
    )


def ideal(replies: float, seconds: float, reserve: int, spacing: float, seed: int) -> Result:
    """Perfect knowledge, no round trip: replies take a slot the moment one frees."""
    rnd = random.Random(seed)
    arrivals, t = [], 0.0
    while t < seconds:
        t += rnd.expovariate(replies)
        arrivals.append(t)
    sends: deque[float] = deque()
    waiting: deque[float] = deque()
    waits: list[float] = []
    pushes, i, now, last_push = 0, 0, 0.0, -1.0
    while now < seconds:
        while i < len(arrivals) and arrivals[i] <= now:
            waiting.append(arrivals[i])
            i += 1
        while sends and sends[0] <= now - 1.0:
            sends.popleft()
        if waiting and len(sends) < 30:
            waits.append(now - waiting.popleft())
            sends.append(now)
            continue
        if not waiting and len(sends) < 30 - reserve and now - last_push >= spacing:
            pushes += 1
            sends.append(now)
            last_push = now
            continue
        events = [arrivals[i]] if i < len(arrivals) else []
        if sends:
            events.append(sends[0] + 1.0 + 1e-9)
        if not waiting and now - last_push < spacing:
            events.append(last_push + spacing + 1e-9)
        now = min(events) if events else seconds
    return Result(
        pushes / seconds,
        (_pct(waits, 0.5) * 1000, _pct(waits, 0.95) * 1000, _pct(waits, 0.99) * 1000),
        0,
        len(waits),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.limiter_sim",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--replies", type=float, default=20.5, help="replies/s (default 20.5)")
    parser.add_argument("--rtt", type=float, default=50, help="round trip, ms (default 50)")
    parser.add_argument("--jitter", type=float, default=10, help="one-way jitter, ms (10)")
    parser.add_argument("--seconds", type=float, default=300, help="simulated s (default 300)")
    parser.add_argument("--workers", type=int, default=16, help="pushes in flight (16)")
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args(argv)

    left = 30 - opts.replies
    print(
        f"{opts.replies:g} replies/s to distinct chats, a backlog of pushes, RTT {opts.rtt:g} ms,"
        f" {opts.seconds:g} simulated s; budget left by the replies: {left:.1f}/s"
    )
    head = f"{'':34}{'pushes/s':>9}{'of left':>8}{'reply wait p50/p95/p99 ms':>28}{'floods':>7}"
    print(head)
    base = SendLimits()
    for reserve, spaced in [(0, False), (0, True), (1, True), (2, True), (4, False), (4, True)]:
        limits = replace(base, push_reserve=reserve)
        if not spaced:
            limits = _Unspaced(**asdict(limits))
        res = asyncio.run(
            _simulate(
                limits,
                replies=opts.replies,
                rtt=opts.rtt / 1000,
                jitter=opts.jitter / 1000,
                seconds=opts.seconds,
                workers=opts.workers,
                seed=opts.seed,
            )
        )
        mark = "  ← default" if limits == base else ""
        name = f"xinfang: reserve {reserve}, {'spaced' if spaced else 'greedy'}"
        _row(name, res, opts.seconds, mark)
        sys.stdout.flush()
    print("ideal: a window of exactly 1 s, no round trip, no jitter")
    for reserve, spacing in [(0, 0.0), (0, 1 / 30), (1, 1 / 30), (2, 1 / 30), (4, 0.0)]:
        res = ideal(opts.replies, opts.seconds, reserve, spacing, opts.seed)
        name = f"ideal: reserve {reserve}, {'spaced' if spacing else 'greedy'}"
        _row(name, res, opts.seconds, "")
    return 0


@dataclass(frozen=True)
class _Unspaced(SendLimits):
    """Pushes as fast as the window allows (the limiter before spacing)."""

    @property
    def push_spacing(self) -> float:
        return 0.0


def _row(name: str, res: Result, seconds: float, mark: str) -> None:
    """One line; "of left" is pushes/s over 30 − the replies/s this run really drew."""
    waits = "/".join(f"{w:.0f}" for w in res.waits_ms)
    left = 30 - res.replies / seconds
    share = res.pushes_per_s / left * 100 if left > 0 else 0.0
    print(f"{name:34}{res.pushes_per_s:>9.1f}{share:>7.0f}%{waits:>28}{res.violations:>7}{mark}")


if __name__ == "__main__":
    sys.exit(main())
