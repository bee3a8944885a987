"""Key rotation: re-encrypt every ciphertext column under the keyring's active keys.

Every ciphertext is bound to its table, row and field (storage.vault.aad); the table of
encrypted columns below says, for each, which key kind made it and how its associated
data is formed from the row. The same table drives the migration that moved older rows
to row-bound associated data (migration 0006).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    DisclosureRequestRow,
    FeedbackRow,
    OfficerAccountRow,
    OfficerRow,
    OutboxRow,
    ReceptionSlotRow,
    TelegramInboxRow,
)
from storage.vault import Vault, aad, reseal_fields, reseal_identity

__all__ = [
    "ALL_ENCRYPTED_COLUMNS",
    "ENCRYPTED_COLUMNS",
    "LATER_ENCRYPTED_COLUMNS",
    "EncryptedColumn",
    "reencrypt_all",
    "reseal_all_identities",
    "reseal_identities",
]


@dataclass(frozen=True)
class EncryptedColumn:
    """One ciphertext column: its model, key kind and associated data per row."""

    model: Any
    column: str
    kind: str  # content | delivery
    keys: tuple[str, ...]  # the row's columns the associated data is made of
    bind: Callable[[tuple[Any, ...]], str]
    legacy: str  # the purpose string bound before migration 0006

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.model.__tablename__}.{self.column}"


def _col(
    model: Any,
    column: str,
    kind: str,
    keys: tuple[str, ...],
    field: str,
    legacy: str,
    key: Callable[[tuple[Any, ...]], object] | None = None,
) -> EncryptedColumn:
    table = model.__tablename__
    make = key or (lambda k: k[0])
    return EncryptedColumn(model, column, kind, keys, lambda k: aad(table, make(k), field), legacy)


def _pair(k: tuple[Any, ...]) -> str:
    return f"{k[0]}.{k[1] or 0}"


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    _col(CaseRow, "description_ct", "content", ("id",), "description", "case.description"),
    _col(CaseRow, "identity_ct", "content", ("id",), "identity", ""),
    _col(CaseRow, "contact_ct", "delivery", ("id",), "contact", "contact"),
    _col(CaseEventRow, "detail_ct", "content", ("id", "case_id"), "detail", "case.event", _pair),
    _col(CaseMessageRow, "body_ct", "content", ("id", "case_id"), "body", "case.message", _pair),
    _col(AttachmentRow, "name_ct", "content", ("id",), "name", "attachment.name"),
    _col(AttachmentRow, "data_ct", "content", ("id",), "data", "attachment.data"),
    _col(ConversationRow, "draft_ct", "content", ("sender_index",), "draft", "conversation.draft"),
    _col(
        OutboxRow, "payload_ct", "content", ("id", "case_id"), "payload", "outbox.payload", _pair
    ),
    _col(AuditRow, "detail_ct", "content", ("id",), "detail", "audit.detail"),
    _col(
        OfficerAccountRow,
        "account_ct",
        "delivery",
        ("account_index",),
        "account",
        "officer.account",
    ),
    _col(FeedbackRow, "comment_ct", "content", ("id",), "comment", "feedback.comment"),
    _col(TelegramInboxRow, "payload_ct", "content", ("key_index",), "payload", "telegram.inbox"),
)

# Columns of tables made after migration 0006: that migration walks ENCRYPTED_COLUMNS on
# the schema of its time, where these tables do not exist yet.
LATER_ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    _col(DisclosureRequestRow, "reason_ct", "content", ("id",), "reason", ""),
    _col(OfficerRow, "totp_ct", "content", ("id",), "totp", ""),
    _col(ReceptionSlotRow, "place_ct", "content", ("id",), "place", ""),
)
ALL_ENCRYPTED_COLUMNS = ENCRYPTED_COLUMNS + LATER_ENCRYPTED_COLUMNS

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
    for spec in ALL_ENCRYPTED_COLUMNS:
        model = spec.model
        col = getattr(model, spec.column)
        pk = model.id
        keys = [getattr(model, k) for k in spec.keys]
        last = 0
        done = 0
        while True:
            async with sessions() as session:
                stmt = (
                    select(pk, col, *keys)
                    .where(pk > last, col.is_not(None))
                    .order_by(pk)
                    .limit(batch)
                )
                rows = (await session.execute(stmt)).all()
                if not rows:
                    break
                for row_id, blob, *key in rows:
                    new = vault.rewrap(blob, spec.bind(tuple(key)), spec.kind)
                    if new is not None:
                        await session.execute(
                            update(model).where(pk == row_id).values({spec.column: new})
                        )
                        done += 1
                    last = row_id
                await session.commit()
            if progress:
                progress(spec.name, done)
        counts[spec.name] = done
    return counts


async def reseal_identities(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    old_private: X25519PrivateKey,
    new_public: X25519PublicKey,
    new_kid: str,
) -> int:
    """Re-seal every real-name identity from the old custodian key to the new one."""
    count = 0
    async with sessions() as session:
        stmt = select(CaseRow.id, CaseRow.identity_ct).where(CaseRow.identity_ct.is_not(None))
        for case_id, blob in (await session.execute(stmt)).all():
            assert blob is not None  # the query skips cases without an identity
            bound = aad("cases", case_id, "identity")
            inner = reseal_identity(old_private, vault.decrypt(blob, bound), new_public, new_kid)
            await session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(identity_ct=vault.encrypt(inner, bound))
            )
            count += 1
        await session.commit()
    return count


async def reseal_all_identities(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    keys: Mapping[str, X25519PrivateKey],
) -> int:
    """Re-seal every real-name identity to the custodians the vault's scheme names now.

    ``keys`` (custodian private keys by key id) must open every identity: one custodian's
    key for identities sealed under 1of1, two custodians' keys for those sealed under 2of3.
    All or nothing: one identity the keys cannot open stops the run before anything is
    written, so no identity is left sealed to a key that is about to be retired.
    """
    count = 0
    async with sessions() as session:
        stmt = (
            select(CaseRow.id, CaseRow.identity_ct)
            .where(CaseRow.identity_ct.is_not(None))
            .order_by(CaseRow.id)
        )
        for case_id, blob in (await session.execute(stmt)).all():
            assert blob is not None  # the query skips cases without an identity
            bound = aad("cases", case_id, "identity")
            inner = reseal_fields(keys, vault.decrypt(blob, bound), vault)
            await session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(identity_ct=vault.encrypt(inner, bound))
            )
            count += 1
        await session.commit()
    return count
