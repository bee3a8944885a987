"""audit chain: every audit entry carries the hash of the one before it (a hash chain over
a canonical encoding, storage/audit_chain.py), the officer it concerned, the channel, and
a digest of its encrypted detail; a one-row audit_head table serializes appending; an
officer's optional TOTP secret for the web sign-in

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-20 10:00:00.000000

Existing entries are chained in id order here. No keys are needed: the chain covers the
detail as a digest of its ciphertext.
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("officers", sa.Column("totp_ct", sa.LargeBinary(), nullable=True))
    op.add_column("audit_log", sa.Column("subject_officer_id", sa.BigInteger(), nullable=True))
    op.add_column("audit_log", sa.Column("channel", sa.String(length=20), nullable=True))
    op.add_column("audit_log", sa.Column("detail_digest", sa.String(length=100), nullable=True))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_log_subject_officer_id"), "audit_log", ["subject_officer_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    last_id, last_hash = _chain(op.get_bind())
    op.execute(
        sa.table(
            "audit_head",
            sa.column("id", sa.Integer()),
            sa.column("last_id", sa.BigInteger()),
            sa.column("hash", sa.String()),
        )
        .insert()
        .values(id=1, last_id=last_id, hash=last_hash)
    )
    # audit_log is referenced by no table, so SQLite's copy-and-rename is harmless here.
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)


def _chain(bind: sa.engine.Connection) -> tuple[int | None, str]:
    from storage.audit_chain import GENESIS, detail_digest, entry_hash

    log = sa.table(
        "audit_log",
        sa.column("id", _ID),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor_role", sa.String()),
        sa.column("actor_officer_id", _ID),
        sa.column("action", sa.String()),
        sa.column("case_id", _ID),
        sa.column("detail_ct", sa.LargeBinary()),
        sa.column("detail_digest", sa.String()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    prev, last = GENESIS, None
    while True:
        stmt = sa.select(
            log.c.id,
            log.c.at,
            log.c.actor_role,
            log.c.actor_officer_id,
            log.c.action,
            log.c.case_id,
            log.c.detail_ct,
        ).order_by(log.c.id)
        if last is not None:
            stmt = stmt.where(log.c.id > last)
        rows = bind.execute(stmt.limit(500)).all()
        if not rows:
            return last, prev
        for row_id, at, role, actor, action, case_id, blob in rows:
            if isinstance(at, str):  # SQLite without the model's type
                from datetime import datetime

                at = datetime.fromisoformat(at)
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            digest = detail_digest(bytes(blob) if blob is not None else None)
            value = entry_hash(
                id=row_id,
                at=at,
                actor_officer_id=actor,
                subject_officer_id=None,
                role=role,
                action=action,
                case_id=case_id,
                channel=None,
                detail_digest=digest,
                prev_hash=prev,
            )
            bind.execute(
                log.update()
                .where(log.c.id == row_id)
                .values(detail_digest=digest, prev_hash=prev, hash=value)
            )
            prev, last = value, row_id


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop officers, and with
    # foreign keys on, the drop cascades into every table that points at it (see 0006).
    op.drop_column("officers", "totp_ct")
    op.drop_table("audit_head")
    op.drop_index(op.f("ix_audit_log_subject_officer_id"), table_name="audit_log")
    for column in ("hash", "prev_hash", "detail_digest", "channel", "subject_officer_id"):
        op.drop_column("audit_log", column)
