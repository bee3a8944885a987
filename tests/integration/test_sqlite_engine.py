"""storage/db.py + storage/sqlite.py: one pooled SQLite connection on aiosqlite's worker
thread.

Behaviour under concurrency and failure: units of work queue for the connection instead of
failing with "database is locked", errors reach the caller and leave the connection usable,
uncommitted work is rolled back, SQLite never runs on the event loop's thread, and a write
lock held by another connection (thread or process) is waited out (busy_timeout) while the
loop keeps running.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.container import Container
from storage.db import create_engine, session_factory
from storage.sqlite import OneTripConnection

WINDOW = timedelta(hours=1)


@pytest.fixture
def backend() -> str:
    """Everything here is about the SQLite engine (overrides the conftest parametrisation)."""
    return "sqlite"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "engine.db"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite+aiosqlite:///{db_path}")
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


async def names(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    async with sessions() as s:
        rows = await s.execute(text("SELECT id, name FROM items ORDER BY id"))
        return [(r.id, r.name) for r in rows]


# --- the connection itself --------------------------------------------------------------


async def test_statements_run_on_the_worker_thread_never_on_the_loop_thread(db_path: Path):
    eng = create_engine(f"sqlite+aiosqlite:///{db_path}")
    drivers: list[object] = []

    @event.listens_for(eng.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        drivers.append(dbapi_connection._connection)
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)

    try:
        async with eng.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        async with eng.connect() as conn:
            threads = {(await conn.execute(text("SELECT thread_id()"))).scalar_one()}
            threads.add((await conn.execute(text("SELECT thread_id()"))).scalar_one())
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
            total = (await conn.execute(text("SELECT sum(x) FROM t"))).scalar_one()
    finally:
        await eng.dispose()

    assert len(threads) == 1 and threading.get_ident() not in threads  # one worker thread
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1}
    assert total == 3
    assert len(drivers) == 1 and isinstance(drivers[0], aiosqlite.Connection)


async def test_the_loop_keeps_running_while_a_statement_waits_for_another_writer(
    db_path: Path, sessions: async_sessionmaker[AsyncSession]
):
    loop = asyncio.get_running_loop()
    locked = asyncio.Event()
    hold = 0.4

    def other_writer() -> None:
        con = sqlite3.connect(db_path, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            loop.call_soon_threadsafe(locked.set)
            time.sleep(hold)
            con.execute("COMMIT")
        finally:
            con.close()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    thread = threading.Thread(target=other_writer, daemon=True)
    thread.start()
    beat = asyncio.create_task(ticker())
    try:
        async with asyncio.timeout(2):
            await locked.wait()
        async with sessions() as s, s.begin():  # waits in busy_timeout on the worker thread
            await s.execute(text("INSERT INTO items VALUES (1, 'after the lock')"))
    finally:
        beat.cancel()
        thread.join(timeout=2)
    # About hold / 10 ms ticks happened during the wait; on the loop's thread there were none.
    assert ticks >= 10
    assert await names(sessions) == [(1, "after the lock")]


async def test_the_engine_has_exactly_one_connection(engine: AsyncEngine):
    # Load-bearing: units of work queue in the pool (FIFO, woken at once) rather than in
    # SQLite's busy handler (sleeps in steps of up to 100 ms), and BEGIN IMMEDIATE holds.
    assert engine.pool.size() == 1
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        with pytest.raises(asyncio.TimeoutError):
            # A second checkout waits in the pool's queue (never a second connection).
            async with asyncio.timeout(0.2):
                async with engine.connect() as other:
                    await other.execute(text("SELECT 1"))
    async with asyncio.timeout(1), engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


# --- concurrency ------------------------------------------------------------------------


async def test_concurrent_read_then_write_units_of_work_all_count(container: Container):
    now = container.services.clock()
    totals: list[int] = []

    async def one_hit() -> None:
        async with container.uow() as uow:
            seen = await uow.limits.count("sender:42", WINDOW, now)
            await asyncio.sleep(0)  # let every other task try to get in between
            total = await uow.limits.hit("sender:42", WINDOW, now)
            assert total == seen + 1
            await asyncio.sleep(0)
            await uow.commit()
        totals.append(total)

    async with asyncio.timeout(5):
        await asyncio.gather(*(one_hit() for _ in range(50)))

    assert sorted(totals) == list(range(1, 51))
    async with container.uow() as uow:
        assert await uow.limits.count("sender:42", WINDOW, now) == 50


async def test_concurrent_inserts_that_read_the_next_id_never_collide(
    sessions: async_sessionmaker[AsyncSession],
):
    async def insert(i: int) -> None:
        async with sessions() as s, s.begin():
            top = (await s.execute(text("SELECT coalesce(max(id), 0) FROM items"))).scalar_one()
            await asyncio.sleep(0)
            await s.execute(
                text("INSERT INTO items (id, name) VALUES (:id, :name)"),
                {"id": top + 1, "name": f"item {i}"},
            )

    async with asyncio.timeout(5):
        await asyncio.gather(*(insert(i) for i in range(50)))

    rows = await names(sessions)
    assert [r[0] for r in rows] == list(range(1, 51))
    assert sorted(r[1] for r in rows) == sorted(f"item {i}" for i in range(50))


# --- errors and rollback ----------------------------------------------------------------


async def test_a_duplicate_primary_key_raises_and_the_connection_stays_usable(
    sessions: async_sessionmaker[AsyncSession],
):
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO items VALUES (1, 'first')"))

    with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO items VALUES (2, 'second')"))
            await s.execute(text("INSERT INTO items VALUES (1, 'duplicate')"))

    # The failed unit was rolled back as a whole, and the next one works.
    assert await names(sessions) == [(1, "first")]
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO items VALUES (3, 'third')"))
    assert await names(sessions) == [(1, "first"), (3, "third")]


async def test_a_syntax_error_raises_and_the_connection_stays_usable(
    sessions: async_sessionmaker[AsyncSession],
):
    with pytest.raises(OperationalError, match="syntax error"):
        async with sessions() as s:
            await s.execute(text("SELEC nothing FROM items"))
    with pytest.raises(OperationalError, match="no such table"):
        async with sessions() as s:
            await s.execute(text("SELECT * FROM missing"))
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO items VALUES (1, 'after errors')"))
    assert await names(sessions) == [(1, "after errors")]


async def test_an_exception_in_python_code_rolls_back_and_releases_the_connection(
    sessions: async_sessionmaker[AsyncSession],
):
    with pytest.raises(ValueError, match="boom"):
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO items VALUES (1, 'never')"))
            raise ValueError("boom")
    async with asyncio.timeout(1):
        assert await names(sessions) == []


async def test_a_unit_of_work_left_without_commit_is_rolled_back(container: Container):
    now = container.services.clock()
    async with container.uow() as uow:
        assert await uow.limits.hit("sender:7", WINDOW, now) == 1
        # no commit
    async with container.uow() as uow:
        assert await uow.limits.count("sender:7", WINDOW, now) == 0
        assert await uow.limits.hit("sender:7", WINDOW, now) == 1
        await uow.commit()
    async with container.uow() as uow:
        assert await uow.limits.count("sender:7", WINDOW, now) == 1


async def test_a_session_closed_mid_transaction_is_rolled_back(
    sessions: async_sessionmaker[AsyncSession],
):
    s = sessions()
    await s.execute(text("INSERT INTO items VALUES (1, 'uncommitted')"))
    await s.close()
    assert await names(sessions) == []


async def test_a_cancelled_unit_of_work_gives_the_connection_back(container: Container):
    now = container.services.clock()
    inside = asyncio.Event()

    async def stuck() -> None:
        async with container.uow() as uow:
            await uow.limits.hit("sender:9", WINDOW, now)
            inside.set()
            await asyncio.Event().wait()  # holds the only connection until cancelled

    task = asyncio.create_task(stuck())
    await inside.wait()
    waiting = asyncio.create_task(one_committed_hit(container, "sender:9"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # queued in the pool behind the stuck unit
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(1):
        assert await waiting == 1  # the cancelled hit was rolled back


async def one_committed_hit(container: Container, key: str) -> int:
    now = container.services.clock()
    async with container.uow() as uow:
        total = await uow.limits.hit(key, WINDOW, now)
        await uow.commit()
    return total


# --- another writer on the same file ----------------------------------------------------


async def test_a_write_lock_held_by_another_connection_is_waited_out(
    db_path: Path, sessions: async_sessionmaker[AsyncSession]
):
    loop = asyncio.get_running_loop()
    locked = asyncio.Event()
    hold = 0.3
    committed: list[float] = []

    def other_writer() -> None:
        con = sqlite3.connect(db_path, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO items VALUES (1, 'from the thread')")
            loop.call_soon_threadsafe(locked.set)
            time.sleep(hold)
            committed.append(time.monotonic())  # still holding the lock
            con.execute("COMMIT")
        finally:
            con.close()

    thread = threading.Thread(target=other_writer, daemon=True)
    thread.start()
    try:
        async with asyncio.timeout(2):
            await locked.wait()
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO items VALUES (2, 'from the engine')"))
        finished = time.monotonic()
    finally:
        thread.join(timeout=2)
    # Done only once the other writer let go: an order, not a duration, so a late wake-up
    # on a loaded machine cannot fail it.
    assert committed and finished >= committed[0]
    assert await names(sessions) == [(1, "from the thread"), (2, "from the engine")]


OTHER_PROCESS = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO items VALUES (1, 'from the process')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
releasing = time.time()  # still holding the lock
con.execute("COMMIT")
print("committed", releasing, flush=True)
con.close()
"""


async def test_a_write_lock_held_by_another_process_is_waited_out(
    db_path: Path, sessions: async_sessionmaker[AsyncSession]
):
    hold = 0.3
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OTHER_PROCESS,
        str(db_path),
        str(hold),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(5):
            assert await proc.stdout.readline() == b"locked\n"
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO items VALUES (2, 'from the engine')"))
        finished = time.time()
        async with asyncio.timeout(5):
            word, committed = (await proc.stdout.readline()).split()
            assert word == b"committed"
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert finished >= float(committed)  # done only once the other process let go
    assert await names(sessions) == [(1, "from the process"), (2, "from the engine")]


async def test_a_statement_takes_one_round_trip_to_the_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    trips: list[str] = []
    real = OneTripConnection.run

    async def counting(self: OneTripConnection, function: Any, *args: Any) -> Any:
        trips.append(args[1] if len(args) > 1 else function.__name__)
        return await real(self, function, *args)

    monkeypatch.setattr(OneTripConnection, "run", counting)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO items VALUES (1, 'one'), (2, 'two')"))
        trips.clear()
        rows = (await conn.execute(text("SELECT id, name FROM items ORDER BY id"))).all()
        changed = await conn.execute(text("UPDATE items SET name = 'uno' WHERE id = 1"))
    assert rows == [(1, "one"), (2, "two")] and changed.rowcount == 1
    assert trips == [
        "SELECT id, name FROM items ORDER BY id",
        "UPDATE items SET name = 'uno' WHERE id = 1",
    ]
