"""PostgreSQL connections in the pool (storage/db.py): checked before use only after sitting
idle, and replaced when the server closed them.

The server side is real: ``pg_terminate_backend`` closes a pooled connection's backend, as a
restart, failover or idle timeout would. Nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.db
from storage.db import create_engine

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("XINFANG_TEST_PG_URL")


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    if not PG_URL:
        if os.environ.get("XINFANG_REQUIRE_PG") == "1":
            pytest.fail("XINFANG_REQUIRE_PG=1 but XINFANG_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured (set XINFANG_TEST_PG_URL)")
    made = create_engine(PG_URL)
    yield made
    await made.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    """The server process behind the connection the pool hands out next."""
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(pid: int) -> None:
    """Close one backend from another connection, as the server's restart would."""
    assert PG_URL is not None
    other = create_engine(PG_URL)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


def statements(engine: AsyncEngine) -> list[str]:
    """Every statement sent through the engine's cursors from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_a_connection_in_steady_use_is_not_pinged_before_each_transaction(
    engine: AsyncEngine,
) -> None:
    first = await backend_pid(engine)
    # The ping is asyncpg's own round trips, invisible to cursor events: count the server's
    # transactions instead (pg_stat_database counts commits and rollbacks per database).
    async with engine.connect() as conn:
        query = text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        before = int((await conn.execute(query)).scalar_one())
    for _ in range(20):
        assert await backend_pid(engine) == first  # the same pooled connection each time
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    async with engine.connect() as conn:
        after = int((await conn.execute(query)).scalar_one())
    # 20 transactions of ours, plus the two reading the counter; a ping per checkout would
    # have added a rolled-back transaction each time (about 20 more).
    assert after - before <= 24


async def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_pid(engine)
    await terminate(first)
    monkeypatch.setattr(storage.db, "PING_AFTER_IDLE", 0.0)  # "idle long enough" at once
    # The checkout's ping finds it dead; the pool connects again and the work succeeds.
    assert await backend_pid(engine) != first


async def test_a_busy_connection_the_server_closed_fails_one_statement_then_the_pool_recovers(
    engine: AsyncEngine,
) -> None:
    first = await backend_pid(engine)
    await terminate(first)
    # Not idle long enough to be pinged: the statement finds the connection dead. The caller
    # sees a storage error (WeCom, the scheduler and the outbox retry those) ...
    with pytest.raises(DBAPIError):
        await backend_pid(engine)
    # ... and the next unit of work gets a fresh connection.
    assert await backend_pid(engine) != first
