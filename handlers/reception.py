"""领导接访 (leader reception): leaders publish slots, employees book them for their case,
the day-before reminder, the outcome and 包案 (petitions.reception holds the rules).

Use cases, each applying the rule, saving, recording the event and the audit entry and
queuing the notices in one place: :func:`publish_slot`, :func:`offered_slots`,
:func:`book_slot`, :func:`cancel_booking`, :func:`record_outcome`, :func:`take_over`,
:func:`send_reminder` (the scheduler's, through :func:`send_due_reminders`).

Conversations: the leader's ``/slots`` in the admin chat (a list of their slots with the
cases booked, ``/slots 新增 WHEN MINUTES PLACE CAPACITY`` (or ``add``), or a guided
form of the same steps); the employee's booking, from a case opened by its tracking code
(``cs:rc…`` buttons, routed here by handlers/tracking.py). Before the employee confirms, they are
told that the leader will see them in person (the meeting is not anonymous) and will read
the case beforehand. A booking names the case and the slot only: nothing about the chat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.access import may_view
from handlers.acts import resolve_case
from handlers.inbound import Button, Reply
from handlers.notify import queue_employee
from handlers.payloads import CaseButton, ReceptionButton, encode
from handlers.ports import Officer, UnitOfWork
from handlers.reception_text import REMINDER, T, leader_text, place_text, slot_text, when_text
from handlers.text import clean_text
from handlers.turn import Turn
from i18n import N_
from petitions.case import Case
from petitions.errors import InvalidField, NotPermitted
from petitions.lifecycle import MAX_TEXT
from petitions.reception import (
    BOOKING_CLOSES,
    CONTINUE,
    MAX_CAPACITY,
    MAX_MINUTES,
    MAX_PLACE,
    MIN_MINUTES,
    OUTCOMES,
    RESOLVED,
    Booking,
    ReceptionRefused,
    Slot,
    SlotDraft,
    check_slot,
    offered_units,
    parse_minutes,
    parse_place,
    parse_slot_words,
    parse_when,
    reminder_due,
)
from petitions.roles import Role
from petitions.states import TERMINAL_STATES

__all__ = [
    "EMPLOYEE_BUTTON",
    "REMINDER",
    "STEP_PREFIX",
    "book_slot",
    "booking_status",
    "cancel_booking",
    "handle_booking",
    "handle_reception_button",
    "handle_reception_text",
    "handle_slots_command",
    "is_booking_input",
    "offered_slots",
    "publish_slot",
    "record_outcome",
    "send_due_reminders",
    "send_reminder",
    "take_over",
]

EMPLOYEE_BUTTON = "cs:rc"  # 预约领导接访 under a case opened by tracking code
STEP_PREFIX = "officer.rc."
_OFFERED = 8  # slots shown to an employee at a time (buttons under one message)
_LISTED = 10  # a leader's slots in /slots
# Past slots stay in /slots while a booking on them waits for its outcome.
_LOOK_BACK = timedelta(days=14)

_OUTCOME_LABEL = {
    RESOLVED: N_("reception.outcome.resolved"),
    CONTINUE: N_("reception.outcome.continue"),
}
# The outcome buttons' verbs (ReceptionButton), and back.
_OUTCOME_VERB = {RESOLVED: "reso", CONTINUE: "cont"}
_VERB_OUTCOME = {verb: outcome for outcome, verb in _OUTCOME_VERB.items()}
_REFUSED = {
    "full": N_("reception.refused.full"),
    "gone": N_("reception.refused.gone"),
    "booked": N_("reception.refused.booked"),
    "closed": N_("reception.refused.closed"),
    "none": N_("reception.refused.none"),
    "recorded": N_("reception.refused.recorded"),
    "early": N_("reception.refused.early"),
}
_INVALID = {
    "starts_at": N_("reception.invalid.starts_at"),
    "minutes": N_("reception.invalid.minutes"),
    "capacity": N_("reception.invalid.capacity"),
    "place": N_("reception.invalid.place"),
}


# --- use cases ----------------------------------------------------------------------


async def publish_slot(uow: UnitOfWork, leader: Officer, draft: SlotDraft, now: datetime) -> Slot:
    """A leader publishes a slot in their own unit; audited."""
    if leader.role is not Role.LEADER or not leader.active:
        raise NotPermitted(action="publish_slot", role=leader.role.value)
    check_slot(draft, now)
    slot = await uow.reception.add_slot(leader.id, leader.unit_id, draft, now)
    await uow.audit.add(
        now,
        leader.role,
        "reception.slot_add",
        actor_officer_id=leader.id,
        detail=_slot_detail(slot),
    )
    return slot


def _slot_detail(slot: Slot) -> dict[str, Any]:
    # The place stays out of the audit detail: it may be a meeting link.
    return {
        "slot": slot.id,
        "leader": slot.leader_officer_id,
        "starts_at": slot.starts_at.isoformat(),
        "minutes": slot.minutes,
        "capacity": slot.capacity,
        "online": slot.online,
    }


async def _receiving_leader(uow: UnitOfWork, slot: Slot, case: Case) -> bool:
    """Whether the slot's leader is an active leader who may see this case."""
    leader = await uow.officers.get(slot.leader_officer_id)
    return (
        leader is not None
        and leader.active
        and leader.role is Role.LEADER
        and may_view(leader, case)
    )


async def offered_slots(uow: UnitOfWork, case: Case, now: datetime) -> list[Slot]:
    """The slots with room a case may book: of leaders of its handling unit and the units
    above it (every leader's when it has none), who may see the case, soonest first."""
    units = offered_units(await uow.units.tree(), case.unit_id)
    found: list[Slot] = []
    seen: dict[int, bool] = {}
    for slot in await uow.reception.upcoming(now + BOOKING_CLOSES, units=units, limit=50):
        if slot.leader_officer_id not in seen:
            seen[slot.leader_officer_id] = await _receiving_leader(uow, slot, case)
        if seen[slot.leader_officer_id] and slot.bookable(now):
            found.append(slot)
        if len(found) >= _OFFERED:
            break
    return found


async def book_slot(
    uow: UnitOfWork, case: Case, slot_id: int, now: datetime, stamp: datetime
) -> tuple[Booking, Slot]:
    """Book a place for a case (one active booking per case); the day-before reminder is
    owed only when the case has a push address. ``stamp`` is the time stored."""
    assert case.id is not None
    if not case.is_open:
        raise ReceptionRefused(reason="closed")
    if await uow.reception.active_for_case(case.id) is not None:
        raise ReceptionRefused(reason="booked")
    slot = await uow.reception.slot(slot_id)
    units = offered_units(await uow.units.tree(), case.unit_id)
    if (
        slot is None
        or (units is not None and slot.unit_id is not None and slot.unit_id not in units)
        or not await _receiving_leader(uow, slot, case)
    ):
        raise ReceptionRefused(reason="gone")
    if not slot.bookable(now):
        raise ReceptionRefused(reason="full" if slot.starts_at > now + BOOKING_CLOSES else "gone")
    remind_at = reminder_due(slot.starts_at, now) if case.push_updates else None
    booking = await uow.reception.book(
        slot.id,
        case.id,
        starts_after=now + BOOKING_CLOSES,
        booked_at=stamp,
        remind_at=remind_at,
    )
    if booking is None:  # another employee took the last place meanwhile
        raise ReceptionRefused(reason="full")
    await uow.audit.add(
        stamp, Role.EMPLOYEE, "reception.book", case_id=case.id, detail={"slot": slot.id}
    )
    return booking, slot


async def cancel_booking(uow: UnitOfWork, case: Case, stamp: datetime) -> Booking:
    """Cancel the case's active booking and free its place."""
    assert case.id is not None
    booking = await uow.reception.active_for_case(case.id)
    if booking is None or not await uow.reception.cancel(booking.id, stamp):
        raise ReceptionRefused(reason="none")
    await uow.audit.add(
        stamp, Role.EMPLOYEE, "reception.cancel", case_id=case.id, detail={"slot": booking.slot_id}
    )
    return booking


async def _own_booking(
    uow: UnitOfWork, officer: Officer, booking_id: int
) -> tuple[Booking, Slot, Case]:
    """A booking on one of this leader's slots, whose case they may see."""
    booking = await uow.reception.booking(booking_id)
    slot = await uow.reception.slot(booking.slot_id) if booking is not None else None
    if booking is None or slot is None or slot.leader_officer_id != officer.id:
        raise NotPermitted(action="reception", role=officer.role.value)
    case = await uow.cases.get(booking.case_id, for_update=True)
    # Slots are offered up the tree only, so the leader always covers the case; checked
    # anyway, like every other way to a case.
    if case is None or not may_view(officer, case):
        raise NotPermitted(action="view", role=officer.role.value)
    return booking, slot, case


async def record_outcome(
    uow: UnitOfWork,
    officer: Officer,
    booking_id: int,
    outcome: str,
    note: str,
    now: datetime,
) -> Case:
    """The leader records that the reception took place: 已解决 or 继续办理, and a note for
    staff. The employee's timeline shows that it took place, never the note."""
    if outcome not in OUTCOMES:
        raise InvalidField(field="outcome")
    booking, slot, case = await _own_booking(uow, officer, booking_id)
    assert case.id is not None
    if not booking.active:
        raise ReceptionRefused(reason="recorded")
    if now < slot.starts_at:
        raise ReceptionRefused(reason="early")
    await uow.reception.record_held(booking.id, outcome, now)
    await uow.cases.add_event(
        case.id,
        "leader_reception",
        now,
        officer.role,
        actor_officer_id=officer.id,
        detail={"outcome": outcome},
    )
    await uow.cases.add_message(case.id, "note", note, now, officer.id)
    await uow.audit.add(
        now,
        officer.role,
        "reception.held",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"slot": slot.id, "booking": booking.id, "outcome": outcome},
    )
    return case


async def take_over(
    uow: UnitOfWork, officer: Officer, case: Case, reason: str, now: datetime
) -> None:
    """包案: a leader takes the case over and becomes its owner; recorded and audited."""
    assert case.id is not None
    if officer.role is not Role.LEADER or not may_view(officer, case):
        raise NotPermitted(action="take_over", role=officer.role.value)
    if case.state in TERMINAL_STATES:
        raise NotPermitted(action="take_over", role=officer.role.value)
    previous = case.owner_officer_id
    case.owner_officer_id = officer.id
    case.updated_at = now
    await uow.cases.save(case)
    await uow.cases.add_event(
        case.id,
        "assigned",
        now,
        officer.role,
        actor_officer_id=officer.id,
        detail={"owner": officer.id, "previous_owner": previous, "reason": reason},
    )
    await uow.audit.add(
        now,
        officer.role,
        "case.take_over",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"previous_owner": previous},
    )


async def send_reminder(uow: UnitOfWork, booking_id: int, now: datetime) -> bool:
    """Queue the day-before reminder of one booking, exactly once (claimed in the notices
    table, like the scheduler's other notices); True if it was queued now."""
    booking = await uow.reception.booking(booking_id)
    if booking is None or booking.remind_at is None or booking.remind_at > now:
        return False
    await uow.reception.reminded(booking.id)
    case = await uow.cases.get(booking.case_id, for_update=True)
    slot = await uow.reception.slot(booking.slot_id)
    if not booking.active or case is None or slot is None or not case.push_updates:
        return False
    scope = f"case:{booking.case_id}"
    if not await uow.notices.claim(scope, REMINDER, str(booking.id), now, booking.case_id):
        return False
    payload = {
        "number": case.number,
        "at": slot.starts_at.isoformat(),
        "minutes": slot.minutes,
        "place": slot.place,
        "online": slot.online,
        "leader": slot.leader_name,
        "unit": slot.unit_name,
    }
    await queue_employee(uow, case, REMINDER, payload, now)
    return True


async def send_due_reminders(
    uow: Callable[[], UnitOfWork], now: datetime, *, batch: int = 200
) -> int:
    """Queue every day-before reminder that is due, each booking in its own transaction;
    return how many were queued."""
    sent = 0
    while True:
        async with uow() as work:
            due = await work.reception.due_reminders(now, batch)
        for booking in due:
            async with uow() as work:
                sent += await send_reminder(work, booking.id, now)
                await work.commit()
        if len(due) < batch:
            return sent


# --- the employee's booking (a case opened by tracking code) -----------------------


@dataclass(frozen=True)
class _EmployeeButton:
    verb: str  # list | pick | confirm | cancel | cancel_yes
    slot_id: int = 0


_EMPLOYEE_VERBS = {"cs:rc": "list", "cs:rcx": "cancel", "cs:rcxy": "cancel_yes"}


def _employee_button(payload: str | None) -> _EmployeeButton | None:
    if payload is None:
        return None
    if payload in _EMPLOYEE_VERBS:
        return _EmployeeButton(_EMPLOYEE_VERBS[payload])
    head, _, ref = payload.rpartition(":")
    if head in ("cs:rc", "cs:rcok") and ref.isascii() and ref.isdigit() and len(ref) <= 18:
        return _EmployeeButton("pick" if head == "cs:rc" else "confirm", int(ref))
    return None


def is_booking_input(turn: Turn) -> bool:
    """Whether this input belongs to the booking conversation."""
    return _employee_button(turn.inbound.button) is not None or turn.step == "track.rc"


async def booking_status(
    turn: Turn, case: Case, booked_slot_id: int | None
) -> tuple[str | None, tuple[Button, ...]]:
    """What the case's status adds about 领导接访, given the slot of its active booking
    (``CaseRepository.history``; None: none): a line about the booking (or None), and the
    button to book or to cancel (none once the case is no longer open)."""
    t = turn.t
    if booked_slot_id is not None:
        slot = await turn.uow.reception.slot(booked_slot_id)
        line = t("reception.booked_line", slot=slot_text(t, slot)) if slot else None
        return line, (Button(t("button.reception_cancel"), "cs:rcx"),)
    if not case.is_open:
        return None, ()
    return None, (Button(t("button.reception_book"), EMPLOYEE_BUTTON),)


async def handle_booking(turn: Turn, case: Case) -> list[Reply]:
    """The employee's booking conversation, for the case open in this chat."""
    pressed = _employee_button(turn.inbound.button) or _EmployeeButton("list")
    back = (Button(turn.t("button.back"), "cs:back"),)
    try:
        if pressed.verb == "list":
            return [await _offer(turn, case, back)]
        if pressed.verb == "pick":
            return [await _ask_consent(turn, case, pressed.slot_id, back)]
        if pressed.verb == "confirm":
            return [await _confirm(turn, case, pressed.slot_id, back)]
        if pressed.verb == "cancel":
            await turn.goto("track.rc")
            yes = (Button(turn.t("button.reception_cancel_yes"), "cs:rcxy"),)
            return [Reply(turn.t("reception.cancel_ask"), (yes, back))]
        await cancel_booking(turn.uow, case, turn.stamp)
    except ReceptionRefused as refused:
        await turn.goto("track.case")
        return [Reply(turn.t(_REFUSED[str(refused.params.get("reason"))]), (back,))]
    await turn.goto("track.case")
    return [Reply(turn.t("reception.cancelled"), (back,))]


async def _offer(turn: Turn, case: Case, back: tuple[Button, ...]) -> Reply:
    t = turn.t
    if not case.is_open:
        raise ReceptionRefused(reason="closed")
    assert case.id is not None
    if await turn.uow.reception.active_for_case(case.id) is not None:
        raise ReceptionRefused(reason="booked")
    slots = await offered_slots(turn.uow, case, turn.now)
    await turn.goto("track.rc")
    if not slots:
        return Reply(t("reception.no_slots"), (back,))
    rows = [
        (
            Button(
                t(
                    "reception.slot_button",
                    when=when_text(t, s.starts_at),
                    leader=leader_text(t, s.leader_name, s.unit_name),
                    left=s.left,
                ),
                f"cs:rc:{s.id}",
            ),
        )
        for s in slots
    ]
    return Reply(t("reception.choose"), (*rows, back))


async def _ask_consent(turn: Turn, case: Case, slot_id: int, back: tuple[Button, ...]) -> Reply:
    """Before confirming, plainly: the leader sees the employee in person (the meeting is
    not anonymous) and reads the case beforehand; and whether a reminder will come."""
    t = turn.t
    slot = await turn.uow.reception.slot(slot_id)
    if slot is None or slot.id not in {
        s.id for s in await offered_slots(turn.uow, case, turn.now)
    }:
        raise ReceptionRefused(reason="gone")
    await turn.goto("track.rc")
    lines = [
        t(
            "reception.consent_slot",
            slot=slot_text(t, slot),
            leader=leader_text(t, slot.leader_name, slot.unit_name),
        ),
        "",
        t("reception.consent_in_person"),
        t("reception.consent_summary"),
    ]
    if case.anonymous:
        lines.append(t("reception.consent_anonymous"))
    lines.append(
        t("reception.consent_reminder") if case.push_updates else t("reception.consent_no_push")
    )
    confirm = (Button(t("button.reception_confirm"), f"cs:rcok:{slot.id}"),)
    return Reply("\n".join(lines), (confirm, back))


async def _confirm(turn: Turn, case: Case, slot_id: int, back: tuple[Button, ...]) -> Reply:
    t = turn.t
    booking, slot = await book_slot(turn.uow, case, slot_id, turn.now, turn.stamp)
    await turn.goto("track.case")
    lines = [
        t("reception.confirmed", number=case.number or "—"),
        t("reception.confirmed_when", when=when_text(t, slot.starts_at), minutes=slot.minutes),
        t("reception.confirmed_place", place=place_text(t, slot)),
        t("reception.confirmed_leader", leader=leader_text(t, slot.leader_name, slot.unit_name)),
    ]
    if booking.remind_at is not None:
        lines.append(t("reception.confirmed_reminder"))
    elif case.push_updates:
        lines.append(t("reception.confirmed_soon"))
    else:
        lines.append(t("reception.confirmed_no_reminder"))
    lines.append(t("reception.confirmed_cancel_hint"))
    return Reply("\n".join(lines), (back,))


# --- the leader's /slots ------------------------------------------------------------


def _leader_only(officer: Officer) -> None:
    if officer.role is not Role.LEADER:
        raise NotPermitted(action="slots", role=officer.role.value)


async def handle_slots_command(turn: Turn, officer: Officer, words: list[str]) -> list[Reply]:
    """``/slots`` (the leader's slots and bookings), ``/slots add …`` (publish one, or
    the guided form when nothing follows)."""
    _leader_only(officer)
    if not words:
        return [await _leader_list(turn, officer)]
    if words[0].lower() not in ("add", "新增", "发布"):
        return [Reply(turn.t("reception.usage"))]
    if len(words) == 1:
        return await _ask(turn, "when", {})
    draft = parse_slot_words(" ".join(words[1:]), turn.now)
    if draft is None:
        return [Reply(turn.t("reception.usage"))]
    return await _publish(turn, officer, draft)


async def _publish(turn: Turn, officer: Officer, draft: SlotDraft) -> list[Reply]:
    try:
        slot = await publish_slot(turn.uow, officer, draft, turn.now)
    except InvalidField as wrong:
        return [Reply(_invalid_text(turn, wrong))]
    if turn.step.startswith(STEP_PREFIX):
        await turn.end()
    text = turn.t("reception.published", slot=slot_text(turn.t, slot), capacity=slot.capacity)
    listing = Button(turn.t("button.reception_list"), encode(ReceptionButton("list", 0)))
    return [Reply(text, ((listing,),))]


def _invalid_text(turn: Turn, wrong: InvalidField) -> str:
    key = _INVALID.get(str(wrong.params.get("field")), "reception.usage")
    return turn.t(key, min=MIN_MINUTES, max=MAX_MINUTES, capacity=MAX_CAPACITY, place=MAX_PLACE)


async def _leader_list(turn: Turn, officer: Officer) -> Reply:
    t, uow = turn.t, turn.uow
    slots = await uow.reception.of_leader(officer.id, turn.now - _LOOK_BACK)
    bookings = await uow.reception.bookings_of([s.id for s in slots])
    by_slot: dict[int, list[Booking]] = {}
    for booking in bookings:
        by_slot.setdefault(booking.slot_id, []).append(booking)
    # Past slots only while a booking on them still waits for its outcome.
    shown = [
        s for s in slots if s.starts_at >= turn.now or any(b.active for b in by_slot.get(s.id, []))
    ][:_LISTED]
    new = (Button(t("button.reception_new"), encode(ReceptionButton("new", 0))),)
    if not shown:
        return Reply(t("reception.list_empty"), (new,))
    lines = [t("reception.list_header")]
    rows: list[tuple[Button, ...]] = []
    for n, slot in enumerate(shown, start=1):
        lines.append(
            t(
                "reception.list_slot",
                n=n,
                slot=slot_text(t, slot),
                booked=slot.booked,
                capacity=slot.capacity,
            )
        )
        for booking in by_slot.get(slot.id, []):
            case = await uow.cases.get(booking.case_id)
            if case is None or not may_view(officer, case):
                lines.append(t("reception.list_hidden"))
                continue
            state = (
                t(_OUTCOME_LABEL[booking.outcome]) if booking.outcome else t("reception.waiting")
            )
            lines.append(t("reception.list_booking", number=case.number, state=state))
            row = [
                Button(
                    t("button.reception_view", number=case.number),
                    encode(CaseButton("view", booking.case_id)),
                )
            ]
            if booking.active:
                row.append(
                    Button(t("button.reception_held"), encode(ReceptionButton("held", booking.id)))
                )
            rows.append(tuple(row))
    return Reply("\n".join(lines), (*rows, new))


# The leader's guided steps: publishing a slot, and the note of a reception's outcome.
_SLOT_STEPS = ("when", "minutes", "place", "link", "capacity", "preview")


def _choices(verb: str, values: Sequence[int], label: str, t: T) -> tuple[Button, ...]:
    return tuple(Button(t(label, value=v), encode(ReceptionButton(verb, v))) for v in values)


async def _ask(turn: Turn, step: str, draft: dict[str, Any]) -> list[Reply]:
    """Move the form to a step and ask its question."""
    t = turn.t
    await turn.goto(STEP_PREFIX + step, draft)
    quit_row = (Button(t("button.reception_quit"), encode(ReceptionButton("quit", 0))),)
    if step == "when":
        return [Reply(t("reception.ask_when"), (quit_row,))]
    if step == "minutes":
        row = _choices("min", (30, 60, 90, 120), N_("reception.minutes_button"), t)
        return [Reply(t("reception.ask_minutes"), (row, quit_row))]
    if step == "place":
        online = (Button(t("button.reception_online"), encode(ReceptionButton("online", 0))),)
        return [Reply(t("reception.ask_place"), (online, quit_row))]
    if step == "link":
        return [Reply(t("reception.ask_link"), (quit_row,))]
    if step == "capacity":
        row = _choices("cap", (1, 2, 3, 5), N_("reception.capacity_button"), t)
        return [Reply(t("reception.ask_capacity"), (row, quit_row))]
    if step == "note":
        return [Reply(t("reception.ask_note"), (quit_row,))]
    slot = _draft_slot(draft)
    text = "\n".join(
        (
            t("reception.preview"),
            t("reception.confirmed_when", when=when_text(t, slot.starts_at), minutes=slot.minutes),
            t(
                "reception.confirmed_place",
                place=place_text(t, {"place": slot.place, "online": slot.online}),
            ),
            t("reception.preview_capacity", capacity=slot.capacity),
        )
    )
    publish = (Button(t("button.reception_publish"), encode(ReceptionButton("publish", 0))),)
    return [Reply(text, (publish, quit_row))]


def _draft_slot(draft: dict[str, Any]) -> SlotDraft:
    return SlotDraft(
        starts_at=datetime.fromisoformat(str(draft["starts_at"])),
        minutes=int(draft["minutes"]),
        place=str(draft.get("place") or ""),
        online=bool(draft.get("online")),
        capacity=int(draft["capacity"]),
    )


Reader = Callable[[Turn, str, dict[str, Any]], Awaitable[list[Reply]]]


async def _read_when(turn: Turn, text: str, draft: dict[str, Any]) -> list[Reply]:
    at = parse_when(text, turn.now)
    if at is None:
        return [Reply(turn.t("reception.invalid.when"))]
    if at <= turn.now:
        return [Reply(turn.t("reception.invalid.starts_at"))]
    return await _ask(turn, "minutes", {**draft, "starts_at": at.isoformat()})


async def _read_minutes(turn: Turn, text: str, draft: dict[str, Any]) -> list[Reply]:
    minutes = parse_minutes(text)
    if minutes is None or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        return [Reply(turn.t("reception.invalid.minutes", min=MIN_MINUTES, max=MAX_MINUTES))]
    return await _ask(turn, "place", {**draft, "minutes": minutes})


async def _read_place(turn: Turn, text: str, draft: dict[str, Any]) -> list[Reply]:
    place, online = parse_place(text)
    if online and not place:
        return await _ask(turn, "link", {**draft, "online": True})
    if not place or len(place) > MAX_PLACE:
        return [Reply(turn.t("reception.invalid.place", place=MAX_PLACE))]
    return await _ask(turn, "capacity", {**draft, "place": place, "online": online})


async def _read_link(turn: Turn, text: str, draft: dict[str, Any]) -> list[Reply]:
    link = " ".join(text.split())
    if not link or len(link) > MAX_PLACE:
        return [Reply(turn.t("reception.invalid.place", place=MAX_PLACE))]
    return await _ask(turn, "capacity", {**draft, "place": link, "online": True})


async def _read_capacity(turn: Turn, text: str, draft: dict[str, Any]) -> list[Reply]:
    cleaned = text.strip().removesuffix("人").removesuffix("位")
    if not (cleaned.isascii() and cleaned.isdigit()) or not 1 <= int(cleaned) <= MAX_CAPACITY:
        return [Reply(turn.t("reception.invalid.capacity", capacity=MAX_CAPACITY))]
    return await _ask(turn, "preview", {**draft, "capacity": int(cleaned)})


_READERS: dict[str, Reader] = {
    "when": _read_when,
    "minutes": _read_minutes,
    "place": _read_place,
    "link": _read_link,
    "capacity": _read_capacity,
}


async def handle_reception_text(turn: Turn, officer: Officer) -> list[Reply]:
    """A leader's typed answer to a step of the slot form or the outcome note."""
    _leader_only(officer)
    step = turn.step.removeprefix(STEP_PREFIX)
    text = clean_text(turn.inbound.text or "")
    draft = dict(turn.draft)
    if step == "note":
        return await _note(turn, officer, text, draft)
    reader = _READERS.get(step)
    if reader is None:  # the preview waits for its button
        return await _ask(turn, step, draft)
    return await reader(turn, text, draft)


async def _note(turn: Turn, officer: Officer, text: str, draft: dict[str, Any]) -> list[Reply]:
    t = turn.t
    if not text:
        return [Reply(t("reception.ask_note"))]
    if len(text) > MAX_TEXT:
        return [Reply(t("reception.invalid.note", max=MAX_TEXT))]
    outcome = str(draft.get("outcome"))
    note = t(
        "reception.note",
        outcome=t(_OUTCOME_LABEL.get(outcome, "reception.outcome.continue")),
        text=text,
    )
    try:
        case = await record_outcome(
            turn.uow, officer, int(draft["booking"]), outcome, note, turn.now
        )
    except ReceptionRefused as refused:
        await turn.end()
        return [Reply(t(_REFUSED[str(refused.params.get("reason"))]))]
    await turn.end()
    assert case.id is not None
    buttons = (
        (Button(t("button.reception_take"), encode(ReceptionButton("take", case.id))),),
        (
            Button(
                t("button.reception_view", number=case.number), encode(CaseButton("view", case.id))
            ),
        ),
    )
    return [Reply(t("reception.recorded", number=case.number), buttons, case_id=case.id)]


async def handle_reception_button(
    turn: Turn, officer: Officer, pressed: ReceptionButton
) -> list[Reply]:
    """A leader's button: the list, the form's choices, the outcome, 包案."""
    _leader_only(officer)
    t, verb, draft = turn.t, pressed.verb, dict(turn.draft)
    in_form = turn.step.startswith(STEP_PREFIX)
    if verb == "list":
        return [await _leader_list(turn, officer)]
    if verb == "new":
        return await _ask(turn, "when", {})
    if verb == "quit":
        if in_form:
            await turn.end()
        return [Reply(t("officer.cancelled"))]
    if verb == "held":
        booking, _slot, case = await _own_booking(turn.uow, officer, pressed.ref)
        if not booking.active:
            return [Reply(t(_REFUSED["recorded"]))]
        rows = tuple(
            (Button(t(_OUTCOME_LABEL[o]), encode(ReceptionButton(_OUTCOME_VERB[o], booking.id))),)
            for o in OUTCOMES
        )
        return [Reply(t("reception.ask_outcome", number=case.number), rows, case_id=case.id)]
    if verb in _VERB_OUTCOME:
        booking, _slot, _case = await _own_booking(turn.uow, officer, pressed.ref)
        if not booking.active:
            return [Reply(t(_REFUSED["recorded"]))]
        return await _ask(turn, "note", {"booking": booking.id, "outcome": _VERB_OUTCOME[verb]})
    if verb == "take":
        case = await resolve_case(turn, officer, str(pressed.ref))
        await take_over(turn.uow, officer, case, t("reception.takeover_reason"), turn.now)
        return [Reply(t("reception.taken_over", number=case.number), case_id=case.id)]
    step = turn.step.removeprefix(STEP_PREFIX)
    # The form's own choices answer its current step only.
    if verb == "min" and in_form and step == "minutes":
        return await _read_minutes(turn, str(pressed.ref), draft)
    if verb == "online" and in_form and step == "place":
        return await _ask(turn, "link", {**draft, "online": True})
    if verb == "cap" and in_form and step == "capacity":
        return await _read_capacity(turn, str(pressed.ref), draft)
    if verb == "publish" and in_form and step == "preview":
        return await _publish(turn, officer, _draft_slot(draft))
    return [Reply(t("error.stale"))]
