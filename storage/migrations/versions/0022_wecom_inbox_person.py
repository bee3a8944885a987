"""wecom inbox: the sender's blind index, so several webhook workers keep a person's order

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 02:00:00.000000

With several ``xinfang run`` processes behind a load balancer (PostgreSQL), WeCom's
callbacks of one person reach different workers. A worker handles a person's callback only
once that person's earlier kept callbacks are handled (by whichever worker), and under a
lock per person (bot/wecom/order.py): both need the person on the row. A blind index of
its own purpose, never the userid. Rows kept before this migration have none and are
handled as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wecom_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_wecom_inbox_person_id", ["person", "id"])


def downgrade() -> None:
    with op.batch_alter_table("wecom_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_wecom_inbox_person_id")
        batch_op.drop_column("person")
