"""ledger: the blind-indexed tokens of petition text the ledger's search reads, and the
indexes of its sorts by registration date and by number (docs/officers.md)

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-04 10:00:00.000000

The token table starts empty: ``xinfang search reindex`` fills it for the cases that
existed before (new petitions and added information are indexed as they are stored).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_cases_state_created", ["state", "created_at", "id"]),
    ("ix_cases_state_id", ["state", "id"]),
)


def upgrade() -> None:
    # Plain CREATE INDEX: batch mode would copy and drop the cases table, and with foreign
    # keys on, the drop cascades into every table that points at it (see 0004).
    for name, columns in _INDEXES:
        op.create_index(name, "cases", columns)
    op.create_table(
        "search_tokens",
        sa.Column("token", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("case_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_search_tokens_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", "case_id", name=op.f("pk_search_tokens")),
    )
    op.create_index("ix_search_tokens_case", "search_tokens", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_search_tokens_case", table_name="search_tokens")
    op.drop_table("search_tokens")
    for name, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name="cases")
