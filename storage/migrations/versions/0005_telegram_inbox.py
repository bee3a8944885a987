"""telegram inbox: polled updates kept (encrypted) until handled

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_inbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key_index", sa.String(length=64), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("payload_ct", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_inbox")),
        sa.UniqueConstraint("key_index", name=op.f("uq_telegram_inbox_key_index")),
    )
    with op.batch_alter_table("telegram_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_inbox_update_id"), ["update_id"])
        batch_op.create_index(batch_op.f("ix_telegram_inbox_at"), ["at"])


def downgrade() -> None:
    op.drop_table("telegram_inbox")
