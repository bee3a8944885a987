"""The rules of 领导接访 (petitions/reception.py): how a leader's time is read, a slot's
limits, which slots a case is offered, when booking closes and when the reminder is due;
and the buttons' payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.payloads import ReceptionButton, encode, parse
from petitions.errors import InvalidField
from petitions.reception import (
    BOOKING_CLOSES,
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
from petitions.units import Unit, UnitTree

# Monday 2026-03-02 09:00 in Beijing.
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def beijing(*args: int) -> datetime:
    """A Beijing wall-clock time as UTC."""
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-15 09:00", beijing(2027, 1, 15, 9, 0)),
        ("2027/1/15 9:05", beijing(2027, 1, 15, 9, 5)),
        ("2027年1月15日 9点30", beijing(2027, 1, 15, 9, 30)),
        ("2027年1月15日9点半", beijing(2027, 1, 15, 9, 30)),
        ("3月5日 9:00", beijing(2026, 3, 5, 9, 0)),
        ("3月5号 下午3点", beijing(2026, 3, 5, 15, 0)),
        ("３月５日　１４：３０", beijing(2026, 3, 5, 14, 30)),
        ("明天 上午10点", beijing(2026, 3, 3, 10, 0)),
        ("后天 晚上7:15", beijing(2026, 3, 4, 19, 15)),
        # A day of the year already past is next year's.
        ("1月15日 9:00", beijing(2027, 1, 15, 9, 0)),
    ],
)
def test_a_leaders_time_is_read_in_office_time_from_common_chinese_forms(
    text: str, expected: datetime
) -> None:
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "明天", "3月5日", "3月5日 9", "2027-02-30 09:00", "3月5日 25:00", "下周一 9点"]
)
def test_a_time_that_cannot_be_read_is_none(text: str) -> None:
    assert parse_when(text, NOW) is None


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("60", 60), ("45分钟", 45), ("1小时", 60), ("2个小时", 120), ("abc", None), ("1000", None)],
)
def test_durations_are_read_in_minutes_or_hours(text: str, minutes: int | None) -> None:
    assert parse_minutes(text) == minutes


def test_an_online_place_keeps_its_link_and_a_room_is_a_room() -> None:
    assert parse_place("线上 腾讯会议 123-456") == ("腾讯会议 123-456", True)
    assert parse_place("线上：https://m.example/j/1") == ("https://m.example/j/1", True)
    assert parse_place("线上") == ("", True)
    assert parse_place(" 三楼  会议室 ") == ("三楼 会议室", False)


def test_a_whole_slot_command_is_read_with_a_place_of_several_words() -> None:
    draft = parse_slot_words("2027-01-15 09:00 60 三楼 301室 3", NOW)
    assert draft == SlotDraft(beijing(2027, 1, 15, 9, 0), 60, "三楼 301室", False, 3)
    online = parse_slot_words("3月5日 9:00 30分钟 线上 会议号 123 5人", NOW)
    assert online == SlotDraft(beijing(2026, 3, 5, 9, 0), 30, "会议号 123", True, 5)
    assert parse_slot_words("2027-01-15 60 三楼 3", NOW) is None
    assert parse_slot_words("明天 9:00 三楼", NOW) is None


def draft(**changes: object) -> SlotDraft:
    values: dict[str, object] = {
        "starts_at": NOW + timedelta(days=3),
        "minutes": 60,
        "place": "三楼会议室",
        "online": False,
        "capacity": 3,
    }
    values.update(changes)
    return SlotDraft(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_at": NOW}, "starts_at"),
        ({"starts_at": NOW + timedelta(days=400)}, "starts_at"),
        ({"minutes": 5}, "minutes"),
        ({"minutes": 481}, "minutes"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 51}, "capacity"),
        ({"place": ""}, "place"),
        ({"place": "很" * 201}, "place"),
    ],
)
def test_a_slot_outside_its_limits_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        check_slot(draft(**changes), NOW)
    assert refused.value.params["field"] == field


def test_a_slot_within_its_limits_passes() -> None:
    check_slot(draft(minutes=10, capacity=50, place="很" * 200), NOW)
    check_slot(draft(starts_at=NOW + timedelta(days=366)), NOW)


def slot(starts_at: datetime, capacity: int = 2, booked: int = 0) -> Slot:
    return Slot(1, 7, None, starts_at, 60, "三楼", False, capacity, booked)


def test_booking_closes_before_the_reception_and_when_it_is_full() -> None:
    start = NOW + timedelta(days=1)
    assert slot(start).bookable(NOW)
    assert not slot(start, booked=2).bookable(NOW)
    assert slot(start, capacity=2, booked=1).left == 1
    assert slot(start).bookable(start - BOOKING_CLOSES - timedelta(minutes=1))
    assert not slot(start).bookable(start - BOOKING_CLOSES)
    assert not slot(start).bookable(start + timedelta(minutes=1))


def test_the_reminder_is_due_at_nine_the_day_before_unless_booked_after_that() -> None:
    start = beijing(2026, 3, 5, 15, 0)
    assert reminder_due(start, NOW) == beijing(2026, 3, 4, 9, 0)
    # A reception just after midnight is reminded at nine the morning before.
    assert reminder_due(beijing(2026, 3, 5, 0, 30), NOW) == beijing(2026, 3, 4, 9, 0)
    # Booked the evening before: the confirmation was the reminder.
    assert reminder_due(start, beijing(2026, 3, 4, 20, 0)) is None
    assert reminder_due(start, beijing(2026, 3, 4, 9, 0)) is None


def test_a_case_is_offered_the_leaders_of_its_unit_and_every_unit_above_it() -> None:
    tree = UnitTree(
        [
            Unit(1, "JT", "集团", None),
            Unit(2, "JY", "甲公司", 1),
            Unit(3, "JY-1", "一厂", 2),
            Unit(4, "YY", "乙公司", 1),
        ]
    )
    assert offered_units(tree, 3) == frozenset({1, 2, 3})
    assert offered_units(tree, 4) == frozenset({1, 4})
    assert offered_units(tree, None) is None


def test_reception_buttons_round_trip_and_unknown_ones_are_not_read() -> None:
    for verb in ("held", "reso", "cont", "take", "min", "publish"):
        pressed = ReceptionButton(verb, 123456789012)
        data = encode(pressed)
        assert len(data.encode()) <= 64
        assert parse(data) == pressed
    assert parse("o:rc:drop:1") is None
    assert parse("o:rc:held:x") is None
    assert parse("o:rc:held") is None
