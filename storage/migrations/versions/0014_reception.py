"""reception: leaders' reception slots (领导接访) and the cases booked into them
(petitions/reception.py)

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-14 10:00:00.000000

Two new tables, both empty. A slot's place is encrypted with the content key, bound to
its row (storage.vault.aad("reception_slots", id, "place")); a booking holds no
ciphertext and nothing that names a person: the case and the slot.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = sa.text("status = 'booked'")


def upgrade() -> None:
    # Plain CREATE TABLE: nothing existing changes (batch mode would copy tables; see 0004).
    op.create_table(
        "reception_slots",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("leader_officer_id", _ID, nullable=False),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("place_ct", sa.LargeBinary(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["leader_officer_id"],
            ["officers.id"],
            name=op.f("fk_reception_slots_leader_officer_id_officers"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_reception_slots_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_slots")),
    )
    op.create_index(
        "ix_reception_slots_leader", "reception_slots", ["leader_officer_id", "starts_at"]
    )
    op.create_index("ix_reception_slots_starts", "reception_slots", ["starts_at"])
    op.create_table(
        "reception_bookings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("slot_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["reception_slots.id"],
            name=op.f("fk_reception_bookings_slot_id_reception_slots"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_reception_bookings_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_bookings")),
    )
    op.create_index("ix_reception_bookings_slot", "reception_bookings", ["slot_id"])
    op.create_index("ix_reception_bookings_remind", "reception_bookings", ["remind_at"])
    # One active booking per case (a partial unique index, on both databases).
    op.create_index(
        "uq_reception_bookings_active",
        "reception_bookings",
        ["case_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_reception_bookings_active", table_name="reception_bookings")
    op.drop_index("ix_reception_bookings_remind", table_name="reception_bookings")
    op.drop_index("ix_reception_bookings_slot", table_name="reception_bookings")
    op.drop_table("reception_bookings")
    op.drop_index("ix_reception_slots_starts", table_name="reception_slots")
    op.drop_index("ix_reception_slots_leader", table_name="reception_slots")
    op.drop_table("reception_slots")
