"""Operator access to outbox rows that failed after all attempts (``xinfang outbox``).

Only the plain columns are read: payloads stay encrypted, and nothing here names a
recipient (an officer row's chat id is inside its payload, an employee's contact is in
the case's sealed contact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxRow

__all__ = ["FAILED", "FailedOutboxRow", "failed_rows", "retry_failed"]

# The status the delivery worker gives a row it gave up on (attempts exhausted, or a
# message the platform rejected); "unreachable" rows are a recipient's choice, not ours.
FAILED = "failed"


@dataclass(frozen=True)
class FailedOutboxRow:
    """What an operator may see of a failed row: no payload, no recipient."""

    id: int
    channel: str
    audience: str
    kind: str
    attempts: int
    last_error: str | None
    created_at: datetime


async def failed_rows(session: AsyncSession, *, limit: int | None = None) -> list[FailedOutboxRow]:
    """Return failed rows, oldest first (at most ``limit``)."""
    stmt = (
        select(
            OutboxRow.id,
            OutboxRow.channel,
            OutboxRow.audience,
            OutboxRow.kind,
            OutboxRow.attempts,
            OutboxRow.last_error,
            OutboxRow.created_at,
        )
        .where(OutboxRow.status == FAILED)
        .order_by(OutboxRow.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [FailedOutboxRow(*row) for row in (await session.execute(stmt)).all()]


async def retry_failed(
    session: AsyncSession, now: datetime, ids: Sequence[int] | None = None
) -> list[int]:
    """Put failed rows (these ids, or all when None) back to pending, due now, with their
    attempts reset; return the ids that were failed and are pending again."""
    where = [OutboxRow.status == FAILED]
    if ids is not None:
        if not ids:
            return []
        where.append(OutboxRow.id.in_(sorted(set(ids))))
    # One statement with RETURNING (SQLite 3.35+, PostgreSQL): no list of every failed id
    # is sent back as parameters, which PostgreSQL caps at 32,767.
    stmt = (
        update(OutboxRow)
        .where(*where)
        .values(status="pending", attempts=0, next_attempt_at=now)
        .returning(OutboxRow.id)
    )
    return sorted((await session.execute(stmt)).scalars().all())
