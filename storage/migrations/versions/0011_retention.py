"""retention: when a case's content was destroyed (cases.purged_at), the index the purge
pass reads, and an index on the outbox rows of a case (docs/retention.md)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: batch mode would copy and drop the cases table, and
    # with foreign keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column("cases", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_retention", "cases", ["purged_at", "closed_at"])
    op.create_index("ix_outbox_case", "outbox", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_case", table_name="outbox")
    op.drop_index("ix_cases_retention", table_name="cases")
    if op.get_bind().dialect.name == "sqlite":
        # DROP COLUMN works in place on SQLite for a column without constraints or indexes.
        op.execute("ALTER TABLE cases DROP COLUMN purged_at")
    else:
        op.drop_column("cases", "purged_at")
