"""How 领导接访 reads: a slot's time, place and leader, and the day-before reminder as the
employee receives it (the outbox renderer, handlers/views.py, calls
:func:`render_reminder`). Kept apart from handlers/reception.py, whose use cases import
the acts that import the views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from handlers.inbound import Reply
from i18n import N_
from petitions.deadlines import OFFICE_ZONE
from petitions.reception import Slot

__all__ = [
    "REMINDER",
    "T",
    "leader_text",
    "place_text",
    "render_reminder",
    "slot_text",
    "when_text",
]

REMINDER = "reception_reminder"  # the outbox kind and the notices kind of the reminder
T = Callable[..., str]

_WEEKDAY = (
    N_("reception.weekday.0"),
    N_("reception.weekday.1"),
    N_("reception.weekday.2"),
    N_("reception.weekday.3"),
    N_("reception.weekday.4"),
    N_("reception.weekday.5"),
    N_("reception.weekday.6"),
)


def when_text(t: T, at: datetime) -> str:
    """A moment in the office's time zone, with its weekday (1月15日（星期五）09:00)."""
    local = at.astimezone(OFFICE_ZONE)
    return str(
        t(
            "reception.when",
            year=local.year,
            month=local.month,
            day=local.day,
            weekday=t(_WEEKDAY[local.weekday()]),
            time=local.strftime("%H:%M"),
        )
    )


def place_text(t: T, slot: Slot | dict[str, Any]) -> str:
    """Where: the room, or 线上 with the link or way to join the leader gave."""
    online = slot.online if isinstance(slot, Slot) else bool(slot.get("online"))
    place = slot.place if isinstance(slot, Slot) else str(slot.get("place") or "")
    return str(t("reception.online", link=place)) if online else place


def slot_text(t: T, slot: Slot) -> str:
    """A slot in one line: when, how long, where."""
    return str(
        t(
            "reception.slot_line",
            when=when_text(t, slot.starts_at),
            minutes=slot.minutes,
            place=place_text(t, slot),
        )
    )


def leader_text(t: T, name: str | None, unit: str | None) -> str:
    """Who receives: the leader's name and unit (staff data, shown to the employee)."""
    if unit:
        return str(t("reception.leader_unit", name=name or "", unit=unit))
    return name or ""


def render_reminder(t: T, payload: dict[str, Any]) -> Reply:
    """The day-before reminder as the employee reads it (``t`` in their language)."""
    return Reply(
        t(
            "reception.reminder",
            number=payload.get("number") or "—",
            when=when_text(t, datetime.fromisoformat(str(payload["at"]))),
            minutes=payload.get("minutes"),
            place=place_text(t, payload),
            leader=leader_text(t, payload.get("leader"), payload.get("unit")),
        )
    )
