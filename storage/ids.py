"""Row ids taken before the insert, so a ciphertext can be bound to the row it lives in.

Associated data names the row (storage.vault.aad), so the id must be known when the row
is encrypted, before it is inserted. PostgreSQL hands out ids from the column's sequence;
SQLite has one writer at a time (every transaction is BEGIN IMMEDIATE, storage/db.py), so
the next id is the table's largest plus one, counted on within the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["forget_ids", "next_id"]

_KEY = "xinfang.next_ids"


async def next_id(session: AsyncSession, table: str) -> int:
    """Reserve the id of a row about to be inserted into ``table``."""
    if session.get_bind().dialect.name == "postgresql":
        result = await session.execute(text(f"SELECT nextval('{table}_id_seq')"))  # noqa: S608
        return int(result.scalar_one())
    # The counters live as long as the transaction: the session forgets them on commit
    # and rollback (see _forget below), when another writer may take ids.
    counters: dict[str, int] = session.info.setdefault(_KEY, {})
    if table not in counters:
        result = await session.execute(text(f"SELECT max(id) FROM {table}"))  # noqa: S608
        counters[table] = int(result.scalar_one() or 0)
    counters[table] += 1
    return counters[table]


def forget_ids(session: Any) -> None:
    """Drop the SQLite counters when a transaction ends (a session event hook)."""
    session.info.pop(_KEY, None)


def _install() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    event.listen(
        Session, "after_transaction_end", lambda session, _transaction: forget_ids(session)
    )


_install()
