"""领导接访 (leader reception): leaders publish time slots, an employee holding a tracking
code books one for their case, is reminded the day before, and meets the leader in person.

Pure rules only: what a slot and a booking are, which slots a case is offered, the limits
of a slot, when the reminder falls due, and how a leader's typed time is read
(``2027-01-15 09:00``, ``1月15日 9:00``, ``明天 下午3点``). Times are stored in UTC and
read and shown in the office's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from petitions.deadlines import OFFICE_ZONE
from petitions.errors import DomainError, InvalidField
from petitions.units import UnitTree

__all__ = [
    "BOOKED",
    "BOOKING_CLOSES",
    "CANCELLED",
    "CONTINUE",
    "HELD",
    "MAX_CAPACITY",
    "MAX_MINUTES",
    "MAX_PLACE",
    "MIN_MINUTES",
    "ONLINE_WORDS",
    "OUTCOMES",
    "REMIND_HOUR",
    "RESOLVED",
    "Booking",
    "ReceptionRefused",
    "Slot",
    "SlotDraft",
    "check_slot",
    "offered_units",
    "parse_minutes",
    "parse_place",
    "parse_slot_words",
    "parse_when",
    "reminder_due",
]

BOOKED, CANCELLED, HELD = "booked", "cancelled", "held"
RESOLVED, CONTINUE = "resolved", "continue"  # 已解决 / 继续办理
OUTCOMES = (RESOLVED, CONTINUE)
MIN_MINUTES, MAX_MINUTES = 10, 480
MAX_CAPACITY = 50
MAX_PLACE = 200
# How far ahead a slot may be published: a year.
MAX_AHEAD = timedelta(days=366)
# Booking closes this long before a reception: the leader reads the case beforehand.
BOOKING_CLOSES = timedelta(hours=2)
# The reminder goes out at this hour (office time) of the day before the reception.
REMIND_HOUR = 9
# What a leader types (or the button sends) for a reception held online.
ONLINE_WORDS = ("线上", "网上", "视频", "online")


class ReceptionRefused(DomainError):
    """A booking cannot be made or changed; ``reason`` says why (full, gone, booked, none)."""

    code = "reception_refused"


@dataclass(frozen=True)
class Slot:
    """A time a leader receives employees: in a room, or online (``place`` is then the
    link or the way to join that the leader gave)."""

    id: int
    leader_officer_id: int
    unit_id: int | None  # the leader's unit when published
    starts_at: datetime
    minutes: int
    place: str
    online: bool
    capacity: int
    booked: int = 0  # active bookings
    leader_name: str | None = None  # staff data, filled by storage
    unit_name: str | None = None

    @property
    def ends_at(self) -> datetime:
        """When the reception ends."""
        return self.starts_at + timedelta(minutes=self.minutes)

    @property
    def left(self) -> int:
        """Places still free."""
        return max(self.capacity - self.booked, 0)

    def bookable(self, now: datetime) -> bool:
        """Whether an employee may still book it: booking has not closed and it has room."""
        return self.starts_at > now + BOOKING_CLOSES and self.left > 0


@dataclass(frozen=True)
class Booking:
    """A case's place in a slot. It names the case and the slot only: no chat, no name
    (the employee comes in person; pushes go to the address kept on the case)."""

    id: int
    slot_id: int
    case_id: int
    status: str  # booked | cancelled | held
    booked_at: datetime
    remind_at: datetime | None = None  # NULL once reminded, or when no reminder is owed
    cancelled_at: datetime | None = None
    held_at: datetime | None = None
    outcome: str | None = None  # resolved | continue, once held

    @property
    def active(self) -> bool:
        """Booked and neither cancelled nor held yet."""
        return self.status == BOOKED


@dataclass(frozen=True)
class SlotDraft:
    """A slot as a leader described it, before it is published."""

    starts_at: datetime
    minutes: int
    place: str
    online: bool
    capacity: int


def offered_units(tree: UnitTree, case_unit_id: int | None) -> frozenset[int] | None:
    """The units whose leaders' slots a case is offered: its handling unit and every unit
    above it; None (every leader) when the case has no unit."""
    if case_unit_id is None:
        return None
    return frozenset(u.id for u in tree.ancestors(case_unit_id))


def reminder_due(starts_at: datetime, booked_at: datetime) -> datetime | None:
    """When the day-before reminder falls due: at :data:`REMIND_HOUR` office time the day
    before; None when that moment had passed at booking (the confirmation was just sent)."""
    local = starts_at.astimezone(OFFICE_ZONE)
    day_before = local.date() - timedelta(days=1)
    due = datetime.combine(day_before, time(REMIND_HOUR), tzinfo=OFFICE_ZONE)
    return due if due > booked_at else None


def check_slot(draft: SlotDraft, now: datetime) -> None:
    """Raise InvalidField when a slot breaks its limits."""
    if not now < draft.starts_at <= now + MAX_AHEAD:
        raise InvalidField(field="starts_at")
    if not MIN_MINUTES <= draft.minutes <= MAX_MINUTES:
        raise InvalidField(field="minutes", min=MIN_MINUTES, max=MAX_MINUTES)
    if not 1 <= draft.capacity <= MAX_CAPACITY:
        raise InvalidField(field="capacity", max=MAX_CAPACITY)
    if not draft.place or len(draft.place) > MAX_PLACE:
        raise InvalidField(field="place", max=MAX_PLACE)


_FULLWIDTH = str.maketrans("０１２３４５６７８９：／－．", "0123456789:/-.")
_DAY_WORDS = {"今天": 0, "明天": 1, "后天": 2}
_DATE = re.compile(
    r"^(?:(?P<y>\d{4})[-/.年])?(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?"
    r"|^(?P<word>今天|明天|后天)"
)
_TIME = re.compile(
    r"^(?P<half>上午|早上|中午|下午|晚上)?\s*(?P<h>\d{1,2})"
    r"(?:(?::|点|时)(?P<mi>\d{1,2})?(?:分)?|(?P<half_hour>点半))$"
)


def _local_date(m: re.Match[str], today: date) -> date | None:
    if m.group("word"):
        return today + timedelta(days=_DAY_WORDS[m.group("word")])
    month, day = int(m.group("m")), int(m.group("d"))
    year = int(m.group("y")) if m.group("y") else today.year
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    if not m.group("y") and found < today:
        # "1月15日" typed in December is next January.
        try:
            found = date(year + 1, month, day)
        except ValueError:
            return None
    return found


def _local_time(text: str) -> time | None:
    m = _TIME.match(text)
    if m is None:
        return None
    hour = int(m.group("h"))
    minute = 30 if m.group("half_hour") else int(m.group("mi") or 0)
    half = m.group("half")
    if half in ("下午", "晚上") and hour < 12:
        hour += 12
    if half == "中午" and hour < 6:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def parse_when(text: str, now: datetime) -> datetime | None:
    """A leader's date and time, office time, as UTC; None when it cannot be read.

    Takes ``2027-01-15 09:00``, ``2027/1/15 9:00``, ``2027年1月15日 9点30``,
    ``1月15日 下午3点`` (the next such day), ``明天 9:00``; full-width digits too.
    """
    cleaned = text.strip().translate(_FULLWIDTH)
    m = _DATE.match(cleaned)
    if m is None:
        return None
    day = _local_date(m, now.astimezone(OFFICE_ZONE).date())
    at = _local_time(cleaned[m.end() :].strip())
    if day is None or at is None:
        return None
    return datetime.combine(day, at, tzinfo=OFFICE_ZONE).astimezone(now.tzinfo)


def parse_minutes(text: str) -> int | None:
    """A duration typed as ``60``, ``60分钟`` or ``1小时``; None otherwise."""
    cleaned = text.strip().translate(_FULLWIDTH).removesuffix("分钟").removesuffix("分")
    hours = cleaned.endswith(("小时", "个小时"))
    cleaned = cleaned.removesuffix("小时").removesuffix("个").strip()
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 3:
        return None
    return int(cleaned) * 60 if hours else int(cleaned)


def parse_place(text: str) -> tuple[str, bool]:
    """The place, and whether the reception is online: ``线上 会议链接…`` keeps the link."""
    cleaned = " ".join(text.split())
    for word in ONLINE_WORDS:
        if cleaned.lower().startswith(word):
            rest = cleaned[len(word) :].strip(" :：,，")
            return rest, True
    return cleaned, False


_COMMAND = re.compile(
    r"^(?P<when>.+?)\s+(?P<minutes>\d{1,3})(?:分钟)?\s+(?P<place>.+?)\s+(?P<cap>\d{1,2})人?$"
)


def parse_slot_words(text: str, now: datetime) -> SlotDraft | None:
    """``WHEN MINUTES PLACE CAPACITY`` of ``/slots add`` (``2027-01-15 09:00 60 三楼会议室
    3``); None when it cannot be read. An online place keeps its link: ``线上 链接``."""
    m = _COMMAND.match(" ".join(text.translate(_FULLWIDTH).split()))
    if m is None:
        return None
    starts_at = parse_when(m.group("when"), now)
    if starts_at is None:
        return None
    place, online = parse_place(m.group("place"))
    return SlotDraft(starts_at, int(m.group("minutes")), place, online, int(m.group("cap")))
