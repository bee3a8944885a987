"""similar cases: links between petitions about the same matter, and the early-warning
alerts already given (issue 16, docs/early-warning.md)

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-20 10:00:00.000000

Two new tables, both empty. Neither holds petition text, n-grams or anything that names a
person: ``similar_cases`` holds pairs of case ids and a score (one row each way), and
``warning_alerts`` the case ids, unit and figures of each cluster or spike alerted, so that
a later scan does not alert the same matter again. The similarity index itself lives only
in the memory of the running service (bot/warnings.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain CREATE TABLE: nothing existing changes (batch mode would copy tables; see 0004).
    op.create_table(
        "similar_cases",
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("similar_id", _ID, nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_similar_cases_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["similar_id"],
            ["cases.id"],
            name=op.f("fk_similar_cases_similar_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "similar_id", name=op.f("pk_similar_cases")),
    )
    op.create_index("ix_similar_cases_similar_id", "similar_cases", ["similar_id"])
    op.create_table(
        "warning_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("alert_key", sa.String(length=80), nullable=False),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("central_id", _ID, nullable=True),
        sa.Column("case_ids", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_warning_alerts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_alerts")),
        sa.UniqueConstraint("kind", "alert_key", name=op.f("uq_warning_alerts_kind")),
    )
    op.create_index("ix_warning_alerts_kind_updated", "warning_alerts", ["kind", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_warning_alerts_kind_updated", table_name="warning_alerts")
    op.drop_table("warning_alerts")
    op.drop_index("ix_similar_cases_similar_id", table_name="similar_cases")
    op.drop_table("similar_cases")
