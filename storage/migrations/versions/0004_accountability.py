"""accountability: scheduler notices, satisfaction and follow-up answers, excluded owner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode would copy and drop the cases table, and with foreign keys on, the
        # drop cascades into every table that points at it. SQLite adds a nullable
        # column with a REFERENCES clause in place.
        op.execute(
            "ALTER TABLE cases ADD COLUMN excluded_officer_id INTEGER REFERENCES officers (id)"
        )
    else:
        op.add_column("cases", sa.Column("excluded_officer_id", _ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_cases_excluded_officer_id_officers"),
            "cases",
            "officers",
            ["excluded_officer_id"],
            ["id"],
        )

    op.create_table(
        "notices",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("scope", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("due_key", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_notices_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("scope", "kind", "due_key", name=op.f("uq_notices_scope")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_case_id"), ["case_id"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("token_index", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("comment_ct", sa.LargeBinary(), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("retaliation", sa.Boolean(), nullable=True),
        sa.Column("linked_case_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_feedback_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["linked_case_id"],
            ["cases.id"],
            name=op.f("fk_feedback_linked_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("token_index", name=op.f("uq_feedback_token_index")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_case_id"))
    op.drop_table("feedback")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_case_id"))
    op.drop_table("notices")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column with a REFERENCES clause in place, and copying the
        # table would cascade (see upgrade); the unused nullable column stays.
        return
    op.drop_constraint(op.f("fk_cases_excluded_officer_id_officers"), "cases", type_="foreignkey")
    op.drop_column("cases", "excluded_officer_id")
