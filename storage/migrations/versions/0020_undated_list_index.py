"""Lists: an index of the cases without a deadline, by state and id (issue 12)

Revision ID: 0020
Revises: 0019
Create Date: 2027-01-30 10:00:00.000000

``SqlCases.list`` and ``SqlCases.ledger`` read one range per state for the cases with a
deadline and one for those without, by id. Open states have no case without a deadline,
but PostgreSQL read that range through ``ix_cases_state_id`` and filtered every case of
the state away (~35,000 rows per state at 1,000,000 cases, 190 ms a page). A partial
index of the undated cases makes each such range empty or exact (bench/README.md,
data_scale.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_UNDATED = sa.text("deadline_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_cases_state_undated",
        "cases",
        ["state", "id"],
        sqlite_where=_UNDATED,
        postgresql_where=_UNDATED,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_state_undated", table_name="cases")
