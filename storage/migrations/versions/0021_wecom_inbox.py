"""wecom inbox: callbacks kept (encrypted, in group commits) before the answer, until handled

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 23:30:00.000000

WeCom never resends a callback answered 200. The answer used to wait until the message was
handled and committed (~4 ms of CPU each), so a burst took longer than WeCom's 5 s and was
resent. The callback is now kept here, many in one transaction, answered, and handled from
this table (bench/README.md, wecom_load.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wecom_inbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key_index", sa.String(length=64), nullable=False),
        sa.Column("payload_ct", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_inbox")),
        sa.UniqueConstraint("key_index", name=op.f("uq_wecom_inbox_key_index")),
    )
    with op.batch_alter_table("wecom_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wecom_inbox_at"), ["at"])


def downgrade() -> None:
    op.drop_table("wecom_inbox")
