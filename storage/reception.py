"""Leaders' reception slots and the cases booked into them (petitions.reception).

Capacity holds under concurrency without a lock held across the conversation: a booking
is one conditional ``UPDATE reception_slots SET booked = booked + 1 WHERE booked <
capacity`` (PostgreSQL re-checks the condition on the row it locks; SQLite has one writer),
and only when it changed a row is the booking inserted, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petitions.reception import BOOKED, CANCELLED, HELD, Booking, Slot, SlotDraft
from storage.ids import next_id
from storage.models import OfficerRow, ReceptionBookingRow, ReceptionSlotRow
from storage.units import SqlUnits
from storage.vault import Vault, aad

__all__ = ["SqlReception"]

_SLOTS = select(ReceptionSlotRow, OfficerRow.name).join(
    OfficerRow, OfficerRow.id == ReceptionSlotRow.leader_officer_id
)


class SqlReception:
    """Slots and bookings; a slot's place is encrypted, bound to its row."""

    def __init__(self, session: AsyncSession, vault: Vault, units: SqlUnits) -> None:
        self._s = session
        self._v = vault
        self._units = units

    async def _slot(self, row: ReceptionSlotRow, leader_name: str | None) -> Slot:
        tree = await self._units.tree()
        return Slot(
            id=row.id,
            leader_officer_id=row.leader_officer_id,
            unit_id=row.unit_id,
            starts_at=row.starts_at,
            minutes=row.minutes,
            place=self._v.decrypt_text(row.place_ct, aad("reception_slots", row.id, "place")),
            online=row.online,
            capacity=row.capacity,
            booked=row.booked,
            leader_name=leader_name,
            unit_name=tree.path_name(row.unit_id) or None,
        )

    @staticmethod
    def _booking(row: ReceptionBookingRow) -> Booking:
        return Booking(
            id=row.id,
            slot_id=row.slot_id,
            case_id=row.case_id,
            status=row.status,
            booked_at=row.booked_at,
            remind_at=row.remind_at,
            cancelled_at=row.cancelled_at,
            held_at=row.held_at,
            outcome=row.outcome,
        )

    async def add_slot(
        self, leader_officer_id: int, unit_id: int | None, draft: SlotDraft, at: datetime
    ) -> Slot:
        """Publish a slot."""
        slot_id = await next_id(self._s, "reception_slots")
        row = ReceptionSlotRow(
            id=slot_id,
            leader_officer_id=leader_officer_id,
            unit_id=unit_id,
            starts_at=draft.starts_at,
            minutes=draft.minutes,
            online=draft.online,
            place_ct=self._v.encrypt_text(draft.place, aad("reception_slots", slot_id, "place")),
            capacity=draft.capacity,
            booked=0,
            created_at=at,
        )
        self._s.add(row)
        await self._s.flush()
        leader = await self._s.get(OfficerRow, leader_officer_id)
        return await self._slot(row, leader.name if leader is not None else None)

    async def slot(self, slot_id: int) -> Slot | None:
        """A slot by id."""
        found = (await self._s.execute(_SLOTS.where(ReceptionSlotRow.id == slot_id))).first()
        return await self._slot(found[0], found[1]) if found is not None else None

    async def upcoming(
        self, after: datetime, *, units: frozenset[int] | None = None, limit: int = 20
    ) -> Sequence[Slot]:
        """Slots starting after ``after`` with a free place, soonest first: of leaders of
        ``units`` and of leaders without a unit (who serve the whole group), or of every
        leader when ``units`` is None."""
        stmt = _SLOTS.where(
            ReceptionSlotRow.starts_at > after,
            ReceptionSlotRow.booked < ReceptionSlotRow.capacity,
            OfficerRow.active.is_(True),
        )
        if units is not None:
            stmt = stmt.where(
                or_(
                    ReceptionSlotRow.unit_id.in_(sorted(units)), ReceptionSlotRow.unit_id.is_(None)
                )
            )
        stmt = stmt.order_by(ReceptionSlotRow.starts_at, ReceptionSlotRow.id).limit(limit)
        return [await self._slot(row, name) for row, name in (await self._s.execute(stmt)).all()]

    async def of_leader(self, leader_officer_id: int, since: datetime) -> Sequence[Slot]:
        """A leader's slots starting at or after ``since``, soonest first."""
        stmt = _SLOTS.where(
            ReceptionSlotRow.leader_officer_id == leader_officer_id,
            ReceptionSlotRow.starts_at >= since,
        ).order_by(ReceptionSlotRow.starts_at, ReceptionSlotRow.id)
        return [await self._slot(row, name) for row, name in (await self._s.execute(stmt)).all()]

    async def all_slots(self, since: datetime) -> Sequence[Slot]:
        """Every slot starting at or after ``since`` (``xinfang reception list``)."""
        stmt = _SLOTS.where(ReceptionSlotRow.starts_at >= since).order_by(
            ReceptionSlotRow.starts_at, ReceptionSlotRow.id
        )
        return [await self._slot(row, name) for row, name in (await self._s.execute(stmt)).all()]

    async def book(
        self,
        slot_id: int,
        case_id: int,
        *,
        starts_after: datetime,
        booked_at: datetime,
        remind_at: datetime | None,
    ) -> Booking | None:
        """Take a place in a slot starting after ``starts_after``; None when it is full,
        gone or too soon (nothing is changed then). ``booked_at`` is the time to store (the
        employee's acts are kept to the hour)."""
        taken = await self._s.execute(
            update(ReceptionSlotRow)
            .where(
                ReceptionSlotRow.id == slot_id,
                ReceptionSlotRow.booked < ReceptionSlotRow.capacity,
                ReceptionSlotRow.starts_at > starts_after,
            )
            .values(booked=ReceptionSlotRow.booked + 1)
        )
        if int(taken.rowcount) != 1:  # type: ignore[attr-defined]
            return None
        row = ReceptionBookingRow(
            slot_id=slot_id,
            case_id=case_id,
            status=BOOKED,
            booked_at=booked_at,
            remind_at=remind_at,
        )
        self._s.add(row)
        await self._s.flush()
        return self._booking(row)

    async def active_for_case(self, case_id: int) -> Booking | None:
        """The case's booking that is neither cancelled nor held, if any."""
        stmt = select(ReceptionBookingRow).where(
            ReceptionBookingRow.case_id == case_id, ReceptionBookingRow.status == BOOKED
        )
        row = (await self._s.execute(stmt)).scalar_one_or_none()
        return self._booking(row) if row is not None else None

    async def booking(self, booking_id: int) -> Booking | None:
        """A booking by id."""
        row = await self._s.get(ReceptionBookingRow, booking_id)
        return self._booking(row) if row is not None else None

    async def bookings_of(self, slot_ids: Sequence[int]) -> Sequence[Booking]:
        """The bookings of these slots that were not cancelled, in booking order."""
        if not slot_ids:
            return []
        stmt = (
            select(ReceptionBookingRow)
            .where(
                ReceptionBookingRow.slot_id.in_(sorted(set(slot_ids))),
                ReceptionBookingRow.status != CANCELLED,
            )
            .order_by(ReceptionBookingRow.id)
        )
        return [self._booking(r) for r in (await self._s.execute(stmt)).scalars()]

    async def cancel(self, booking_id: int, at: datetime) -> bool:
        """Cancel an active booking and free its place; False if it was not active."""
        done = await self._s.execute(
            update(ReceptionBookingRow)
            .where(ReceptionBookingRow.id == booking_id, ReceptionBookingRow.status == BOOKED)
            .values(status=CANCELLED, cancelled_at=at, remind_at=None)
            .returning(ReceptionBookingRow.slot_id)
        )
        slot_id = done.scalar_one_or_none()
        if slot_id is None:
            return False
        await self._s.execute(
            update(ReceptionSlotRow)
            .where(ReceptionSlotRow.id == slot_id, ReceptionSlotRow.booked > 0)
            .values(booked=ReceptionSlotRow.booked - 1)
        )
        return True

    async def record_held(self, booking_id: int, outcome: str, at: datetime) -> bool:
        """Mark an active booking as held with its outcome; False if it was not active."""
        done = await self._s.execute(
            update(ReceptionBookingRow)
            .where(ReceptionBookingRow.id == booking_id, ReceptionBookingRow.status == BOOKED)
            .values(status=HELD, held_at=at, outcome=outcome, remind_at=None)
        )
        return int(done.rowcount) == 1  # type: ignore[attr-defined]

    async def due_reminders(self, now: datetime, limit: int = 200) -> Sequence[Booking]:
        """Active bookings whose day-before reminder is due, by the reminder index."""
        stmt = (
            select(ReceptionBookingRow)
            .where(
                and_(
                    ReceptionBookingRow.remind_at.is_not(None),
                    ReceptionBookingRow.remind_at <= now,
                    ReceptionBookingRow.status == BOOKED,
                )
            )
            .order_by(ReceptionBookingRow.remind_at, ReceptionBookingRow.id)
            .limit(limit)
        )
        return [self._booking(r) for r in (await self._s.execute(stmt)).scalars()]

    async def reminded(self, booking_id: int) -> None:
        """Take a booking off the reminder index (sent, or no longer owed)."""
        await self._s.execute(
            update(ReceptionBookingRow)
            .where(ReceptionBookingRow.id == booking_id)
            .values(remind_at=None)
        )
