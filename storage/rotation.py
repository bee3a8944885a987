"""Key rotation: re-encrypt every ciphertext column under the keyring's active keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AttachmentRow,
    AuditRow,
    CaseEventRow,
    CaseMessageRow,
    CaseRow,
    ConversationRow,
    FeedbackRow,
    OfficerAccountRow,
    OutboxRow,
    TelegramInboxRow,
)
from storage.vault import Vault, reseal_identity

__all__ = ["ENCRYPTED_COLUMNS", "reencrypt_all", "reseal_identities"]

# (model, column, purpose bound as associated data, key kind)
ENCRYPTED_COLUMNS: tuple[tuple[Any, str, str, str], ...] = (
    (CaseRow, "description_ct", "case.description", "content"),
    (CaseRow, "contact_ct", "contact", "delivery"),
    (CaseEventRow, "detail_ct", "case.event", "content"),
    (CaseMessageRow, "body_ct", "case.message", "content"),
    (AttachmentRow, "name_ct", "attachment.name", "content"),
    (AttachmentRow, "data_ct", "attachment.data", "content"),
    (ConversationRow, "draft_ct", "conversation.draft", "content"),
    (OutboxRow, "payload_ct", "outbox.payload", "content"),
    (AuditRow, "detail_ct", "audit.detail", "content"),
    (OfficerAccountRow, "account_ct", "officer.account", "delivery"),
    (FeedbackRow, "comment_ct", "feedback.comment", "content"),
    (TelegramInboxRow, "payload_ct", "telegram.inbox", "content"),
)

Progress = Callable[[str, int], None]


async def reencrypt_all(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    progress: Progress | None = None,
    *,
    batch: int = 200,
) -> dict[str, int]:
    """Rewrap every ciphertext not under an active key; commit per batch; return counts."""
    counts: dict[str, int] = {}
    for model, column, purpose, kind in ENCRYPTED_COLUMNS:
        name = f"{model.__tablename__}.{column}"
        col = getattr(model, column)
        pk = model.id
        last = 0
        done = 0
        while True:
            async with sessions() as session:
                stmt = (
                    select(pk, col)
                    .where(pk > last, col.is_not(None))
                    .order_by(pk)
                    .limit(batch)
                )
                rows = (await session.execute(stmt)).all()
                if not rows:
                    break
                for row_id, blob in rows:
                    new = vault.rewrap(blob, purpose, kind)
                    if new is not None:
                        await session.execute(
                            update(model).where(pk == row_id).values({column: new})
                        )
                        done += 1
                    last = row_id
                await session.commit()
            if progress:
                progress(name, done)
        counts[name] = done
    return counts


async def reseal_identities(
    sessions: async_sessionmaker[AsyncSession],
    old_private: X25519PrivateKey,
    new_public: X25519PublicKey,
    new_kid: str,
) -> int:
    """Re-seal every real-name identity from the old custodian key to the new one."""
    count = 0
    async with sessions() as session:
        stmt = select(CaseRow.id, CaseRow.identity_ct).where(CaseRow.identity_ct.is_not(None))
        for case_id, blob in (await session.execute(stmt)).all():
            new = reseal_identity(old_private, blob, new_public, new_kid)
            await session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(identity_ct=new)
            )
            count += 1
        await session.commit()
    return count
