"""urgent petitions: the danger signs a petition showed at submission (issue 16, item 4)

Revision ID: 0017
Revises: 0016
Create Date: 2027-01-22 10:00:00.000000

One plain column on ``cases``: the kinds of danger sign found (``life_safety``,
``group_action``, ``self_harm``, sorted and joined by commas), NULL for the cases that
exist (none was checked before) and for every petition without a sign. Never the text
that matched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: batch mode would copy and drop the cases table, and with foreign
    # keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column("cases", sa.Column("urgent", sa.String(length=40), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cases DROP COLUMN urgent")
    else:
        op.drop_column("cases", "urgent")
