"""Schema migrations with Alembic; the schema is created only through these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.vault import Vault

__all__ = ["autogenerate", "current_revision", "downgrade", "head_revision", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None, vault: Vault | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    if vault is not None:
        cfg.attributes["vault"] = vault  # for migrations that re-encrypt data
    return cfg


def head_revision() -> str:
    """Return the newest migration's revision id."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the database's revision, or None for an empty database."""

    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head", vault: Vault | None = None) -> None:
    """Bring the database schema up to a revision (default: the newest); migrations that
    re-encrypt existing data need the vault."""

    def _upgrade(conn: Connection) -> None:
        command.upgrade(_config(conn, vault), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Write a new migration from the difference between the models and the database."""

    def _revision(conn: Connection) -> None:
        command.revision(_config(conn), message=message, autogenerate=True)

    async with engine.begin() as conn:
        await conn.run_sync(_revision)


async def downgrade(engine: AsyncEngine, revision: str, vault: Vault | None = None) -> None:
    """Take the schema back to an older revision (tests, and recovery by hand)."""

    def _downgrade(conn: Connection) -> None:
        command.downgrade(_config(conn, vault), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_downgrade)
