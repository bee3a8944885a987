"""A faster ``database_url`` for test modules with many PostgreSQL tests.

``tests/conftest.py`` creates and migrates a new PostgreSQL database for every test, which
costs about a second each (CREATE DATABASE checkpoints, then the migrations run). A module
that imports :func:`reused_database_url` gets the same fixture name with the same
isolation, but one database migrated once per session and emptied (TRUNCATE ... RESTART
IDENTITY) before each test. SQLite is unchanged: a new file per test.

    from tests.helpers.databases import (  # noqa: F401
        reused_database_url,
        shared_postgres_database,
    )
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.pg import create_database, drop_database
from storage.db import create_engine
from storage.migrate import upgrade

__all__ = ["reused_database_url", "shared_postgres_database"]

PG_URL = os.environ.get("XINFANG_TEST_PG_URL")


def _run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # Its own thread and event loop, so it works from any fixture, inside a test's loop or not.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, make()).result()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def shared_postgres_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; dropped at the end."""
    assert PG_URL is not None
    name = f"xf_shared_{uuid.uuid4().hex[:10]}"
    base, _, _old = PG_URL.rpartition("/")
    url = f"{base}/{name}"

    async def create() -> None:
        await create_database(PG_URL, name)
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    async def drop() -> None:
        await drop_database(PG_URL, name)

    _run(create)
    yield url
    _run(drop)


def _empty(url: str) -> None:
    import asyncpg

    async def truncate() -> None:
        conn = await asyncpg.connect(_dsn(url))
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    _run(truncate)


@pytest.fixture(name="database_url")
def reused_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty, migrated database on the chosen backend."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'xinfang.db'}"
    url: str = request.getfixturevalue("shared_postgres_database")
    _empty(url)
    return url
