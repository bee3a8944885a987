"""A throwaway PostgreSQL database for one benchmark run (wecom_load.py, turn_cpu.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

__all__ = ["throwaway_database"]


@contextlib.asynccontextmanager
async def throwaway_database(url: str, prefix: str) -> AsyncIterator[str]:
    """Create ``<prefix>_<random>`` on the server of ``url`` (a SQLAlchemy asyncpg URL; only
    connected to), yield its URL, and drop it afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
