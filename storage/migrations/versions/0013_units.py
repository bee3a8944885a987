"""units: the enterprise group as a tree of units; officers belong to one, cases are
handled by one (承办单位), and the review ladder names the unit deciding each step
(docs/ladder.md)

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-11 10:00:00.000000

The free-text units of officers and cases become rows under one root unit (code ROOT,
named 本集团; ``xinfang units rename`` or an import renames it), one row per distinct text
(codes U001, U002, … in the texts' order). Officers and cases without a unit keep none:
such officers see every case, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CASE_UNITS = ("unit_id", "origin_unit_id", "review_unit_id")
_ROOT_CODE, _ROOT_NAME = "ROOT", "本集团"


def _add_reference(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode would copy and drop the table, and with foreign keys on, the drop
        # cascades into every table that points at it (see 0004). A REFERENCES clause
        # added in place could never be dropped again (SQLite refuses to drop a column a
        # foreign key names), so on SQLite these are plain columns: units are never
        # deleted, so nothing can dangle.
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
    else:
        op.add_column(table, sa.Column(column, _ID, nullable=True))
        op.create_foreign_key(op.f(f"fk_{table}_{column}_units"), table, "units", [column], ["id"])


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", _ID, nullable=True),
        sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    _add_reference("officers", "unit_id")
    for column in _CASE_UNITS:
        _add_reference("cases", column)
    op.add_column("cases", sa.Column("conflict", sa.String(length=12), nullable=True))
    for column in ("recheck_requested_at", "rechecked_at"):
        op.add_column("cases", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    _migrate_free_text()
    _drop_column("officers", "unit")
    _drop_column("cases", "owner_unit")
    op.create_index("ix_cases_unit_state", "cases", ["unit_id", "state", "deadline_at"])


def _migrate_free_text() -> None:
    bind = op.get_bind()
    texts: list[str] = []
    for query in (
        "SELECT DISTINCT TRIM(unit) FROM officers WHERE TRIM(unit) <> ''",
        "SELECT DISTINCT TRIM(owner_unit) FROM cases WHERE TRIM(owner_unit) <> ''",
    ):
        texts.extend(str(r[0]) for r in bind.execute(sa.text(query)))
    names = sorted(set(texts))
    if not names:
        return
    now = datetime.now(UTC)
    units = sa.table(
        "units",
        sa.column("id", _ID),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("parent_id", _ID),
        sa.column("retired", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    bind.execute(
        units.insert().values(
            code=_ROOT_CODE, name=_ROOT_NAME, parent_id=None, retired=False, created_at=now
        )
    )
    root = bind.execute(sa.text("SELECT id FROM units WHERE code = :c"), {"c": _ROOT_CODE})
    root_id = root.scalar_one()
    for n, name in enumerate(names, start=1):
        code = f"U{n:03d}"
        bind.execute(
            units.insert().values(
                code=code, name=name[:100], parent_id=root_id, retired=False, created_at=now
            )
        )
        unit_id = bind.execute(
            sa.text("SELECT id FROM units WHERE code = :c"), {"c": code}
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE officers SET unit_id = :u WHERE TRIM(unit) = :n"),
            {"u": unit_id, "n": name},
        )
        bind.execute(
            sa.text(
                "UPDATE cases SET unit_id = :u, origin_unit_id = :u WHERE TRIM(owner_unit) = :n"
            ),
            {"u": unit_id, "n": name},
        )


def downgrade() -> None:
    op.drop_index("ix_cases_unit_state", table_name="cases")
    op.add_column("officers", sa.Column("unit", sa.String(length=100), nullable=True))
    op.add_column("cases", sa.Column("owner_unit", sa.String(length=100), nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE officers SET unit = (SELECT name FROM units WHERE units.id = officers.unit_id)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE cases SET owner_unit = (SELECT name FROM units WHERE units.id = cases.unit_id)"
        )
    )
    for column in ("rechecked_at", "recheck_requested_at", "conflict"):
        _drop_column("cases", column)
    for column in reversed(_CASE_UNITS):
        if bind.dialect.name != "sqlite":
            op.drop_constraint(op.f(f"fk_cases_{column}_units"), "cases", type_="foreignkey")
        _drop_column("cases", column)
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_officers_unit_id_units"), "officers", type_="foreignkey")
    _drop_column("officers", "unit_id")
    op.drop_table("units")
