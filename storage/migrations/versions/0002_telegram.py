"""telegram: admin-chat messages and forum topics per case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telegram_refs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chat_index", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_telegram_refs_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_refs")),
        sa.UniqueConstraint("chat_index", "kind", "ref_id", name=op.f("uq_telegram_refs_chat_index")),
    )
    with op.batch_alter_table("telegram_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telegram_refs_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("telegram_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_refs_case_id"))

    op.drop_table("telegram_refs")
