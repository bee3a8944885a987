"""SQLite connections: aiosqlite as designed, every call on the connection's worker thread.

The event loop's thread never runs SQLite. An earlier version ran each call inline on the
loop's thread (SQLite statements take microseconds, and the thread round trips were the
largest share of the bot's CPU in ``bench/telegram_load.py``), but a statement is only as
short as the data is small: a scheduler pass or a list over tens of thousands of cases held
the loop for seconds, and every chat, webhook and health check froze with it. On the
worker thread a long statement delays only the unit of work that waits for it; the loop
keeps serving (``tests/integration/test_scale_stalls.py`` measures it).

What is kept of the old saving: SQLAlchemy's adapter makes four calls per statement
(open a cursor, execute, fetch, close), each a round trip to the thread and a wake-up of
the loop. Here a statement is one round trip: the cursor executes, fetches every row and
closes on the worker thread in one call (SQLAlchemy buffers all rows of a non-streamed
result anyway). The cost per update is in docs/accountability.md ("How passes scale").

The engine still has exactly one connection (storage/db.py): units of work queue for it
in the pool, never in SQLite's busy handler, and every transaction is BEGIN IMMEDIATE.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

__all__ = ["OneTripConnection", "connect"]

_Outcome = tuple[Any, int, int | None, list[Any]]


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    # Runs on the worker thread: the whole life of a cursor in one call.
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _Cursor:
    """The part of aiosqlite's cursor SQLAlchemy uses, one thread round trip per execute."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def _run(self, sql: str, parameters: Any, many: bool) -> None:
        raw = self._connection.sqlite_connection
        outcome = await self._connection.run(_run, raw, sql, parameters, many)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        """Execute a statement and keep its rows."""
        await self._run(sql, () if parameters is None else parameters, False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        """Execute a statement once per parameter set."""
        await self._run(sql, list(parameters), True)
        return self

    async def fetchall(self) -> list[Any]:
        """Return the rows not fetched yet."""
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Return up to ``size`` of the rows not fetched yet."""
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchone(self) -> Any:
        """Return the next row, or None."""
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on the worker thread."""
        self._rows = []

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class _Opening:
    """What ``cursor()`` returns: awaitable, or entered as SQLAlchemy does."""

    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        return self.__aenter__().__await__()

    async def __aenter__(self) -> _Cursor:
        return self._cursor

    async def __aexit__(self, *_exc: object) -> None:
        await self._cursor.close()


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection (worker thread) whose statements take one round trip."""

    def __init__(self, connector: Any, iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        # A command that ends without disposing its engine must still exit; SQLite (WAL)
        # survives a process that stops between statements.
        self._thread.daemon = True

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection the worker thread uses."""
        return self._conn

    async def run(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on the worker thread."""
        # aiosqlite leaves its private _execute unannotated; it is the worker-thread queue.
        return await self._execute(function, *args)  # type: ignore[no-untyped-call]

    def cursor(self) -> Any:
        """A cursor that runs each statement on the worker thread in one call."""
        return _Opening(_Cursor(self))


async def connect(path: str) -> OneTripConnection:
    """Open the database file on its own worker thread; for ``async_creator``."""

    def connector() -> sqlite3.Connection:
        # The worker thread opens the file and makes every call; the pool may finalise a
        # connection it never used from elsewhere, which check_same_thread would refuse.
        return sqlite3.connect(path, check_same_thread=False)

    connection = OneTripConnection(connector, iter_chunk_size=64)
    await connection  # starts the thread and opens the file (aiosqlite types it as its base)
    return connection
