"""集体诉求: petitions linked as one collective matter (issue 16, item 2)

Revision ID: 0019
Revises: 0018
Create Date: 2027-01-29 10:00:00.000000

One plain column on ``cases``: the id of the lead petition of the collective matter the
case belongs to (the lead's own id for the lead), NULL for a case handled alone (every
case that exists). Indexed: a matter's members are read by it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: batch mode would copy and drop the cases table, and with foreign
    # keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column("cases", sa.Column("matter_id", sa.Integer(), nullable=True))
    op.create_index("ix_cases_matter_id", "cases", ["matter_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_matter_id", table_name="cases")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cases DROP COLUMN matter_id")
    else:
        op.drop_column("cases", "matter_id")
