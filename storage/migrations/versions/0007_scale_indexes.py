"""scale: the scheduler's next-notice time per case (and the configuration it was computed
with), and the indexes lists, the scheduler and statistics need at any size

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00.000000

``cases.next_notice_at`` is backfilled conservatively: every case that may still owe a
notice (a stage with a deadline, or closed and not yet followed up) is due at once, so the
first pass looks at each one and stores its exact next time. The configuration (reminder
points, follow-ups on or off) is not known here; the scheduler knows it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_cases_next_notice", ["next_notice_at", "id"]),
    ("ix_cases_owner_state", ["owner_officer_id", "state", "deadline_at"]),
    ("ix_cases_state_deadline", ["state", "deadline_at"]),
    ("ix_cases_created_at", ["created_at"]),
)


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: batch mode would copy and drop the cases table, and
    # with foreign keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column("cases", sa.Column("next_notice_at", sa.DateTime(timezone=True)))
    cases = sa.table(
        "cases",
        sa.column("id"),
        sa.column("state"),
        sa.column("deadline_at"),
        sa.column("closed_at"),
        sa.column("updated_at"),
        sa.column("next_notice_at"),
    )
    notices = sa.table("notices", sa.column("case_id"), sa.column("kind"))
    followed_up = (
        sa.select(notices.c.case_id)
        .where(notices.c.case_id == cases.c.id, notices.c.kind == "follow_up")
        .exists()
    )
    may_owe = sa.or_(
        sa.and_(cases.c.state.not_in(["closed", "withdrawn"]), cases.c.deadline_at.is_not(None)),
        sa.and_(cases.c.state == "closed", cases.c.closed_at.is_not(None), ~followed_up),
    )
    # updated_at is in the past and stored in the column type's own format on both databases.
    op.execute(cases.update().where(may_owe).values(next_notice_at=cases.c.updated_at))
    for name, columns in _INDEXES:
        op.create_index(name, "cases", columns)
    op.create_table(
        "scheduler_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_state")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_state")
    for name, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name="cases")
    if op.get_bind().dialect.name == "sqlite":
        # DROP COLUMN works in place on SQLite for a column without constraints or indexes.
        op.execute("ALTER TABLE cases DROP COLUMN next_notice_at")
    else:
        op.drop_column("cases", "next_notice_at")
