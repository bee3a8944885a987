"""Admission of WeCom callbacks: each delivery's work runs once, in order per person, a bounded
number at a time, and the callback is answered only when that work has finished.

WeCom resends a callback it got no answer to within 5 s and never resends one answered 200,
so the answer has to wait until the message is durably recorded. This is what keeps that
wait short and the memory bounded under a flood:

- a retry of a delivery that is still being handled waits for the same work instead of
  starting it again (WeCom retries *while* the first attempt is in progress when we are slow);
- a retry of a delivery finished a moment ago is answered from memory (the database claim
  stays the authority: another worker process, or this one after a restart, finds it there);
- at most ``backlog`` deliveries are admitted at once; beyond that the callback is refused
  at once (:class:`Busy`, answered 503) rather than queued past WeCom's 5 s, since a queue
  that long would only be retried anyway, and WeCom resends a refused callback;
- one person's deliveries run one at a time, in arrival order, and only then take one of the
  ``concurrency`` slots, so a single flooding sender cannot occupy every slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["DEFAULT_BACKLOG", "DEFAULT_CONCURRENCY", "Admission", "Busy", "Work"]

# Handling is database-bound: more than a pool's worth of handlers at once only queues
# inside SQLAlchemy's pool (and on SQLite behind its single connection).
DEFAULT_CONCURRENCY = 16
# ~3 s of work at a few hundred messages a second: beyond that WeCom's 5 s would pass.
DEFAULT_BACKLOG = 1000
DEFAULT_REMEMBER = 10_000

Work = Callable[[], Awaitable[None]]


class Busy(Exception):  # noqa: N818 - a signal, not a failure
    """Too many deliveries are waiting: ask WeCom to send this one again later."""


def _retrieve(task: asyncio.Task[None]) -> None:
    # The caller that waited may be gone (WeCom hung up); never warn about an unread error.
    if not task.cancelled():
        task.exception()


class Admission:
    """Runs each delivery key's work at most once at a time, per lane in order, bounded."""

    def __init__(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        backlog: int = DEFAULT_BACKLOG,
        remember: int = DEFAULT_REMEMBER,
    ) -> None:
        if concurrency < 1 or backlog < 1:
            raise ValueError("concurrency and backlog must be positive")
        self._slots = asyncio.Semaphore(concurrency)
        self._backlog = backlog
        self._remember = remember
        self._running: dict[str, asyncio.Task[None]] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._lanes: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @property
    def pending(self) -> int:
        """Deliveries admitted and not finished."""
        return len(self._running)

    async def run(self, key: str, lane: str, work: Work) -> None:
        """Run ``work`` for delivery ``key`` unless it ran or is running; raises Busy when full.

        Returns when the work (this call's or an earlier one's for the same key) has finished,
        and raises what it raised. The work itself is not cancelled when the caller is.
        """
        if key in self._done:
            return
        task = self._running.get(key)
        if task is None:
            if len(self._running) >= self._backlog:
                raise Busy()
            task = asyncio.create_task(self._run(key, lane, work))
            task.add_done_callback(_retrieve)
            self._running[key] = task
        await asyncio.shield(task)

    def submit(self, key: str, lane: str, work: Work) -> None:
        """Start ``work`` for ``key`` in its lane without waiting for it and without the
        backlog bound (the delivery is kept in the database: the caller bounds the rest)."""
        if key in self._done or key in self._running:
            return
        task = asyncio.create_task(self._run(key, lane, work))
        task.add_done_callback(_retrieve)
        self._running[key] = task

    async def _run(self, key: str, lane: str, work: Work) -> None:
        try:
            async with self._lane(lane), self._slots:
                await work()
            self._done[key] = None
            if len(self._done) > self._remember:
                self._done.popitem(last=False)
        finally:
            del self._running[key]

    @contextlib.asynccontextmanager
    async def _lane(self, lane: str) -> AsyncIterator[None]:
        # asyncio.Lock wakes its waiters first come, first served: a lane keeps arrival order.
        lock, users = self._lanes.setdefault(lane, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._lanes.pop(lane, None)

    async def drain(self) -> None:
        """Wait until every admitted delivery has finished (shutdown, tests)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)
