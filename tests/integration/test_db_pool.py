"""PostgreSQL connections in the pool (storage/db.py) are checked before every use, so a
connection the server closed (a restart, a failover) never fails a unit of work.

Not every caller can try again: a Telegram webhook update is answered 200 before it is
handled, so a failed first statement would lose it (an adversarial review of a version
that checked only connections idle 5 s or more found exactly that). The server side is
real: ``pg_terminate_backend`` closes the pooled connection's backend. Nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def test_a_connection_the_server_closed_a_moment_ago_is_replaced_before_use(
    engine: AsyncEngine,
) -> None:
    first = await backend_pid(engine)
    await terminate(first)
    # At once, as a busy service would: the work succeeds on a fresh connection.
    assert await backend_pid(engine) != first


async def test_every_pooled_connection_closed_by_a_restart_is_replaced(
    engine: AsyncEngine,
) -> None:
    async def hold() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    # Two connections in the pool, both closed by the server.
    async with engine.connect() as a, engine.connect() as b:
        pids = {
            int((await a.execute(text("SELECT pg_backend_pid()"))).scalar_one()),
            int((await b.execute(text("SELECT pg_backend_pid()"))).scalar_one()),
        }
    for pid in pids:
        await terminate(pid)
    for _ in range(4):
        assert await hold() not in pids


async def test_a_connection_closed_mid_statement_reads_as_the_database_being_away(
    engine: AsyncEngine,
) -> None:
    import asyncio

    from storage.db import unreachable

    async with engine.connect() as conn:
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

        async def close_soon() -> None:
            await asyncio.sleep(0.2)
            await terminate(pid)

        closing = asyncio.create_task(close_soon())
        with pytest.raises(Exception) as caught:
            await conn.execute(text("SELECT pg_sleep(5)"))
        await closing
    assert unreachable(caught.value)


async def test_errors_in_the_work_itself_do_not_read_as_the_database_being_away(
    engine: AsyncEngine,
) -> None:
    from storage.db import unreachable

    for statement in ("SELEC 1", "SELECT 1/0", "SELECT * FROM no_such_table"):
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(text(statement))
        assert not unreachable(caught.value), statement
    assert unreachable(ConnectionRefusedError()) and unreachable(TimeoutError())
    assert not unreachable(ValueError("a bug"))
