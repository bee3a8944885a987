"""Engines and sessions: SQLite (WAL) for the embedded default, PostgreSQL for scale-out."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from handlers.ports import Conflict
from storage.sqlite import connect

__all__ = [
    "create_engine",
    "default_sqlite_url",
    "is_sqlite",
    "session_factory",
    "unreachable",
]


def default_sqlite_url(data_dir: Path) -> str:
    """Return the embedded database's URL inside the data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / 'xinfang.db').resolve()}"


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _private_file(path: Path) -> None:
    """Create the database file (and its directory) readable by the service's user only.

    SQLite creates its -wal and -shm files with the database file's permissions, so a
    0600 database keeps those private too; an existing file that others can read is
    tightened, since it holds ciphertexts and blind indexes an offline attack could use.
    """
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            os.chmod(file, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event own transaction start (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue
    # instead of failing; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that reads then writes can fail at once with "database is
    # locked" when another writer got there first; IMMEDIATE takes the write lock up front
    # so concurrent units of work queue on busy_timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create an async engine with the right settings for the backend.

    Both keep statement parameters out of error messages (``hide_parameters``): they are
    blind indexes and ciphertexts, and a logged traceback is no place for either."""
    if is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(Path(path))
        # One connection, handed out in turn by the pool: SQLite has one writer anyway
        # (every transaction is BEGIN IMMEDIATE), and waiting in the pool's queue is FIFO
        # and wakes the moment the connection is back, where waiting in SQLite's busy
        # handler sleeps in steps of up to 100 ms (measured: p99 latency under load).
        # Its calls run on aiosqlite's worker thread, never the loop's (storage/sqlite.py).
        options: dict[str, Any] = {}
        if path and path != ":memory:":
            options["async_creator"] = partial(connect, path)
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=10,  # as long as busy_timeout: a nested unit of work fails alike
            **options,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # Every checkout is checked (three round trips): after a restart or failover no unit of
    # work meets a dead connection, and not every caller could try again (a Telegram
    # webhook update is answered before it is handled). Checking only connections idle
    # for a while saved too little to measure (bench/README.md) and lost such updates.
    engine = create_async_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)
    event.listen(engine.sync_engine, "handle_error", _conflicts)
    return engine


# PostgreSQL's codes for "this transaction was undone to settle a conflict": a deadlock and
# a serialization failure. Doing the work again is safe (handlers.ports.Conflict).
_CONFLICT_STATES = frozenset({"40P01", "40001"})


def _conflicts(context: Any) -> None:
    """Raise a deadlock or serialization failure as handlers.ports.Conflict."""
    error = context.original_exception
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if state in _CONFLICT_STATES:
        raise Conflict(state) from context.sqlalchemy_exception


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (DESIGN.md §8)."""
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATEs of "the server is away, or not taking work yet": a connection exception (class
# 08), the administrator's or a crash's shutdown, still starting up, too many connections.
_AWAY_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_AWAY_TYPES = (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError)
# asyncpg's own errors for a connection lost in the middle of an operation (wrapped by
# SQLAlchemy in a plain DBAPIError or InternalError).
_ASYNCPG_LOST = frozenset({"ConnectionDoesNotExistError", "InternalClientError"})


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or lost the connection
    (nothing was committed, so the work may be tried again), not that it refused the work.

    SQLAlchemy raises a lost connection as OperationalError or InterfaceError, but also as
    a plain DBAPIError or InternalError (asyncpg: the server closed it mid-statement, or
    within a millisecond of it; measured), or with the server's shutdown SQLSTATE."""
    if isinstance(exc, _AWAY_TYPES):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state.startswith(_AWAY_STATES):
        return True
    cause = getattr(orig, "__cause__", None)
    return cause is not None and any(
        k.__name__ in _ASYNCPG_LOST and k.__module__.startswith("asyncpg")
        for k in type(cause).__mro__
    )
