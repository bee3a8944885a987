"""Live connections of open pages: pushed messages go to whoever listens on a topic."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

__all__ = ["ADMIN_TOPIC", "Hub", "KeyedLocks", "employee_topic", "officer_topic"]

ADMIN_TOPIC = "admin"
_QUEUE_SIZE = 200
_MAX_FOLLOWERS = 10_000
_MAX_FOLLOWED = 20

Event = dict[str, Any] | None  # None ends a stream


def employee_topic(chat_id: str) -> str:
    """The topic of one employee page (its chat id)."""
    return f"e:{chat_id}"


def officer_topic(account: str) -> str:
    """The topic of one officer's pages."""
    return f"o:{account}"


class Hub:
    """In-memory fan-out of pushed messages to the pages that are open right now."""

    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue[Event]]] = {}
        # Pages that opened a case by its tracking code also see that case's pushes.
        self._follows: OrderedDict[str, set[int]] = OrderedDict()
        self._closed = False

    @contextmanager
    def subscribe(self, *topics: str) -> Iterator[asyncio.Queue[Event]]:
        """Listen on topics for the duration of a ``with`` block."""
        queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE_SIZE)
        if self._closed:
            queue.put_nowait(None)
        for topic in topics:
            self._subs.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            for topic in topics:
                subs = self._subs.get(topic)
                if subs is not None:
                    subs.discard(queue)
                    if not subs:
                        del self._subs[topic]

    def follow(self, chat_id: str, case_id: int) -> None:
        """Let an employee page see the pushes of a case it opened by tracking code."""
        cases = self._follows.pop(chat_id, set())
        cases.add(case_id)
        while len(cases) > _MAX_FOLLOWED:
            cases.pop()
        self._follows[chat_id] = cases
        while len(self._follows) > _MAX_FOLLOWERS:
            self._follows.popitem(last=False)

    def listeners(self, *topics: str) -> int:
        """How many open pages listen on any of these topics."""
        return len({q for t in topics for q in self._subs.get(t, ())})

    def publish(self, event: dict[str, Any], *topics: str, case_id: int | None = None) -> int:
        """Push an event to every page on these topics (and following the case); count them."""
        wanted = list(topics)
        if case_id is not None:
            wanted += [employee_topic(c) for c, ids in self._follows.items() if case_id in ids]
        queues = {q for t in wanted for q in self._subs.get(t, ())}
        for queue in queues:
            if queue.full():
                continue  # a stalled page; it reloads history when it reconnects
            queue.put_nowait(event)
        return len(queues)

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self._closed = True
        for subs in self._subs.values():
            for queue in subs:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)


class KeyedLocks:
    """One lock per chat, so a page's requests are handled one after another."""

    def __init__(self) -> None:
        self._locks: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the chat's lock; the lock is forgotten when nobody waits for it."""
        entry = self._locks.setdefault(key, _Entry())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[key]


class _Entry:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
