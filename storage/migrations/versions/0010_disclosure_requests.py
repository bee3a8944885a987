"""disclosure requests: a custodian asks to open a case's sealed identity, a second
custodian approves (under 2of3), and the opening is recorded (docs/custody.md)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-21 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "disclosure_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("scheme", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requester_officer_id", _ID, nullable=False),
        sa.Column("approver_officer_id", _ID, nullable=True),
        sa.Column("reason_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_disclosure_requests_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_officer_id"],
            ["officers.id"],
            name=op.f("fk_disclosure_requests_requester_officer_id_officers"),
        ),
        sa.ForeignKeyConstraint(
            ["approver_officer_id"],
            ["officers.id"],
            name=op.f("fk_disclosure_requests_approver_officer_id_officers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_requests")),
    )
    op.create_index(
        op.f("ix_disclosure_requests_case_id"), "disclosure_requests", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_disclosure_requests_case_id"), table_name="disclosure_requests")
    op.drop_table("disclosure_requests")
