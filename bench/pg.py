"""PostgreSQL databases made and dropped for one benchmark run or one test (wecom_load.py,
turn_cpu.py, data_scale.py and the test fixtures): the one place that issues CREATE and DROP
DATABASE."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

__all__ = ["create_database", "drop_database", "throwaway_database"]


def _admin(url: str) -> str:
    """The asyncpg DSN of the server behind ``url`` (a SQLAlchemy asyncpg URL)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on the server of ``url`` (only connected to);
    return its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    await _execute(url, f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str, name: str) -> None:
    """Drop ``name`` on the server of ``url`` if it exists, closing its sessions."""
    await _execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def throwaway_database(url: str, prefix: str) -> AsyncIterator[str]:
    """Create ``<prefix>_<random>`` on the server of ``url``, yield its URL, and drop it
    afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    made = await create_database(url, name)
    try:
        yield made
    finally:
        await drop_database(url, name)
