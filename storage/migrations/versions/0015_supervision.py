"""supervision: 督办 and 交办 on the case (docs/ladder.md), whether a 复查 / 复核 changed
the outcome before it, and the index of per-unit statistics by period

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-18 10:00:00.000000

Plain columns on ``cases``, all empty or zero for the cases that exist: no case had a 督办
or a 交办 before, and whether an earlier 复查 / 复核 changed the outcome was never recorded
(it stays NULL: the statistics count it as unchanged).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_INDEX = ("ix_cases_unit_created", ["unit_id", "created_at"])


def _columns() -> list[sa.Column[Any]]:
    # Made anew each time: a Column belongs to the one table it was first added to.
    return [
        sa.Column("supervision_level", sa.Integer(), server_default="0", nullable=True),
        sa.Column("supervised_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supervision_count", sa.Integer(), server_default="0", nullable=True),
        sa.Column("review_changed", sa.Boolean(), nullable=True),
        sa.Column("recheck_changed", sa.Boolean(), nullable=True),
        sa.Column("report_due_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    # Plain ADD COLUMN / CREATE INDEX: batch mode would copy and drop the cases table, and
    # with foreign keys on, the drop cascades into every table that points at it (see 0004).
    for column in _columns():
        op.add_column("cases", column)
    if op.get_bind().dialect.name == "sqlite":
        # A plain column on SQLite, as 0013 explains: a REFERENCES clause added in place
        # could never be dropped again, and units are never deleted.
        op.execute("ALTER TABLE cases ADD COLUMN assigned_by_unit_id INTEGER")
    else:
        op.add_column("cases", sa.Column("assigned_by_unit_id", _ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_cases_assigned_by_unit_id_units"),
            "cases",
            "units",
            ["assigned_by_unit_id"],
            ["id"],
        )
    op.create_index(_INDEX[0], "cases", _INDEX[1])


def _drop_column(column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE cases DROP COLUMN {column}")
    else:
        op.drop_column("cases", column)


def downgrade() -> None:
    # The index first: SQLite drops no column an index names.
    op.drop_index(_INDEX[0], table_name="cases")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_cases_assigned_by_unit_id_units"), "cases", type_="foreignkey")
    _drop_column("assigned_by_unit_id")
    for column in reversed(_columns()):
        _drop_column(column.name)
