"""Working-day deadlines with the official holiday calendar (XINFANG_HOLIDAY_CALENDAR=cn).

The dates come from the chinese-calendar package itself (its published holidays and
调休 working weekends), so these tests follow the package rather than a copied table.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from bot.settings import SettingsError, holiday_calendar, load_settings
from petitions.deadlines import (
    OFFICE_ZONE,
    WorkingDaysPolicy,
    add_days,
    monday_to_friday,
)

KNOWN = date(2026, 6, 1)  # a day in a year the package knows
CN = {"XINFANG_WORKING_DAYS": "true", "XINFANG_HOLIDAY_CALENDAR": "cn"}


def _holidays(year: int, name: str) -> list[date]:
    """The package's days off for one festival in one year, in order."""
    found = chinese_calendar.get_holidays(date(year, 1, 1), date(year, 12, 31))
    return sorted(d for d in found if (chinese_calendar.get_holiday_detail(d)[1] or "") == name)


def _swapped_weekends(year: int, name: str) -> list[date]:
    """The Saturdays and Sundays worked in exchange (调休) for one festival."""
    days = chinese_calendar.get_workdays(date(year, 1, 1), date(year, 12, 31))
    return sorted(
        d
        for d in days
        if d.weekday() >= 5 and (chinese_calendar.get_holiday_detail(d)[1] or "") == name
    )


def _at_ten(day: date) -> datetime:
    """10:00 in Beijing on that day, as a UTC datetime (how deadlines are stored)."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=OFFICE_ZONE).astimezone(UTC)


def _policy(**env: str) -> WorkingDaysPolicy:
    settings = load_settings({**CN, **env}, today=KNOWN)
    assert isinstance(settings.policy, WorkingDaysPolicy)
    return settings.policy


def test_the_spring_festival_holiday_is_skipped_and_its_working_saturdays_count() -> None:
    policy = _policy()
    festival = _holidays(2026, "Spring Festival")
    swapped = _swapped_weekends(2026, "Spring Festival")
    assert len(festival) >= 7 and swapped  # the package knows the 2026 schedule
    eve = festival[0] - timedelta(days=1)
    # Counting from the working day before the break, the first working day after it
    # comes next: the whole break is skipped.
    after = festival[-1] + timedelta(days=1)
    while not chinese_calendar.is_workday(after):
        after += timedelta(days=1)
    assert add_days(_at_ten(eve), 1, policy) == _at_ten(after)
    assert add_days(_at_ten(eve), 1, WorkingDaysPolicy()) != _at_ten(after)
    # A 调休 Saturday is a working day, so one day from the Friday before it lands on it.
    for saturday in swapped:
        before = saturday - timedelta(days=1)
        while not chinese_calendar.is_workday(before):
            before -= timedelta(days=1)
        assert add_days(_at_ten(before), 1, policy) == _at_ten(saturday)
        assert policy.is_working_day(saturday) and not monday_to_friday(saturday)


def test_the_national_day_week_counts_no_day_and_the_swapped_weekends_count() -> None:
    policy = _policy()
    national = _holidays(2026, "National Day")
    swapped = _swapped_weekends(2026, "National Day")
    assert national and swapped
    monday = date(2026, 9, 14)
    day, left = monday, 20
    while left:  # 20 working days by the package's own answers
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            left -= 1
    assert add_days(_at_ten(monday), 20, policy) == _at_ten(day)
    # Monday to Friday would count the National Day week and end elsewhere.
    assert add_days(_at_ten(monday), 20, WorkingDaysPolicy()) != _at_ten(day)
    assert not any(policy.is_working_day(d) for d in national)
    assert all(policy.is_working_day(d) for d in swapped)


def test_without_the_calendar_working_days_stay_monday_to_friday() -> None:
    settings = load_settings({"XINFANG_WORKING_DAYS": "true"}, today=KNOWN)
    assert isinstance(settings.policy, WorkingDaysPolicy)
    assert settings.policy.is_working_day is monday_to_friday
    assert holiday_calendar("none", KNOWN) is monday_to_friday


def test_a_calendar_without_working_days_or_with_an_unknown_name_is_refused() -> None:
    with pytest.raises(SettingsError, match="XINFANG_WORKING_DAYS=true"):
        load_settings({"XINFANG_HOLIDAY_CALENDAR": "cn"}, today=KNOWN)
    with pytest.raises(SettingsError, match="must be cn or none"):
        load_settings({**CN, "XINFANG_HOLIDAY_CALENDAR": "jp"}, today=KNOWN)


def _first_unknown_year() -> int:
    year = KNOWN.year
    while True:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return year
        year += 1


def test_a_current_year_the_package_does_not_know_still_starts_counting_monday_to_friday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unknown = _first_unknown_year()
    settings = load_settings(CN, today=date(unknown, 3, 1))
    start = _at_ten(date(unknown, 3, 2))
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        assert add_days(start, 10, settings.policy) == add_days(start, 10, WorkingDaysPolicy())
    assert any("upgraded" in r.getMessage() for r in caplog.records)


def test_a_later_year_the_package_does_not_know_counts_monday_to_friday_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unknown = _first_unknown_year()
    policy = _policy()
    # Mid-January of the unknown year: whatever its holidays will be, the fallback counts
    # Monday to Friday, exactly as the policy without a calendar does.
    start = _at_ten(date(unknown, 1, 12))
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        assert add_days(start, 10, policy) == add_days(start, 10, WorkingDaysPolicy())
        add_days(start, 5, policy)
    warnings = [r for r in caplog.records if str(unknown) in r.getMessage()]
    assert len(warnings) == 1
    assert "Monday to Friday" in warnings[0].getMessage()


def test_a_calendar_that_never_works_stops_instead_of_looping() -> None:
    policy = WorkingDaysPolicy(is_working_day=lambda _day: False)
    with pytest.raises(ValueError, match="no working day"):
        add_days(_at_ten(KNOWN), 1, policy)
