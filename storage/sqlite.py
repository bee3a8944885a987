"""SQLite connections that run on the event loop's own thread.

SQLAlchemy's ``sqlite+aiosqlite`` dialect talks to an ``aiosqlite`` connection, which runs
every call (cursor, execute, fetch, close, commit) on a worker thread and wakes the loop
for each answer: about 26 thread round trips per handled update. Measured with
``bench/telegram_load.py`` and py-spy, those wake-ups and SQLAlchemy's await plumbing around
them were the largest share of the bot's CPU. Our SQLite statements take microseconds, far
less than a round trip, so here the same ``aiosqlite.Connection`` runs each call at once on
the calling thread: the dialect, pooling and greenlet adaptation stay SQLAlchemy's.

This is safe because the engine has exactly one connection (storage/db.py): units of work
queue for it in the pool, never in SQLite's busy handler, so a statement here only blocks
on a lock held by *another process* (a CLI command writing to the same file) and then for
no longer than ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

__all__ = ["connect_inline"]


class _RunNow:
    """Stands in for aiosqlite's work queue: runs each queued call immediately."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting caller
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class _NoThread:
    """Stands in for aiosqlite's worker thread, which is never started."""

    daemon = True

    def start(self) -> None:
        """Nothing to start: calls run on the caller's thread."""

    def is_alive(self) -> bool:
        """Never running."""
        return False


class InlineConnection(aiosqlite.Connection):
    """An ``aiosqlite.Connection`` whose calls complete before ``await`` returns."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]
        self._thread = _NoThread()  # type: ignore[assignment]


async def connect_inline(path: str) -> InlineConnection:
    """Open the database file; for ``create_async_engine(async_creator=...)``."""

    def connector() -> sqlite3.Connection:
        # check_same_thread off: the pool may finalise a connection from another thread.
        return sqlite3.connect(path, check_same_thread=False)

    return await InlineConnection(connector)
