"""Pure scheduling decisions: which notices a case is owed at a moment, working days,
the digest's day, reminder points, and the statistics' merging of small numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from petitions.deadlines import DeadlinePolicy, WorkingDaysPolicy, add_days, deadline_for
from petitions.schedule import (
    SchedulePolicy,
    digest_key,
    due_notices,
    parse_reminder,
    reminder_times,
    stage_start,
)
from petitions.states import CaseState
from petitions.statistics import MERGED, CaseFacts, compute_report, merge_small
from tests.helpers.builders import CREATED_AT, make_case

POLICY = DeadlinePolicy()
SCHEDULE = SchedulePolicy()
DECIDED = CREATED_AT + timedelta(days=2)


def accepted(**overrides: object) -> object:
    case = make_case(state=CaseState.ACCEPTED, decided_at=DECIDED, **overrides)
    case.deadline_at = deadline_for(case, POLICY)
    return case


def kinds(case: object, at: datetime) -> list[str]:
    return [n.kind for n in due_notices(case, POLICY, SCHEDULE, at)]  # type: ignore[arg-type]


def test_reminders_fall_at_half_time_and_three_days_before_the_deadline() -> None:
    case = accepted()
    assert reminder_times(case, POLICY, SCHEDULE) == [  # type: ignore[arg-type]
        ("50%", DECIDED + timedelta(days=30)),
        ("3d", DECIDED + timedelta(days=57)),
    ]


def test_due_notices_grow_with_time_and_overdue_replaces_unsent_reminders() -> None:
    case = accepted()
    assert kinds(case, DECIDED + timedelta(days=29)) == []
    assert kinds(case, DECIDED + timedelta(days=30)) == ["remind:50%"]
    assert kinds(case, DECIDED + timedelta(days=58)) == ["remind:50%", "remind:3d"]
    assert kinds(case, DECIDED + timedelta(days=60)) == ["remind:50%", "remind:3d"]
    assert kinds(case, DECIDED + timedelta(days=60, seconds=1)) == ["overdue"]


def test_notices_are_keyed_by_the_deadline_so_an_extension_starts_new_ones() -> None:
    case = accepted(extension_days=20)
    case.state = CaseState.EXTENDED  # type: ignore[attr-defined]
    case.deadline_at = deadline_for(case, POLICY)  # type: ignore[attr-defined, arg-type]
    assert stage_start(case, POLICY) == DECIDED + timedelta(days=60)  # type: ignore[arg-type]
    [notice] = due_notices(case, POLICY, SCHEDULE, DECIDED + timedelta(days=71))  # type: ignore[arg-type]
    assert notice.kind == "remind:50%" and notice.due_at == DECIDED + timedelta(days=70)
    assert notice.key == DECIDED + timedelta(days=80)


def test_a_point_outside_a_short_stage_is_skipped() -> None:
    policy = DeadlinePolicy(accept_days=2)
    case = make_case()
    case.deadline_at = deadline_for(case, policy)
    assert [p for p, _ in reminder_times(case, policy, SCHEDULE)] == ["50%"]


def test_an_answered_case_is_closed_after_its_window_and_followed_up_after_closing() -> None:
    responded = DECIDED + timedelta(days=10)
    case = make_case(state=CaseState.RESPONDED, decided_at=DECIDED, responded_at=responded)
    case.deadline_at = deadline_for(case, POLICY)
    assert kinds(case, responded + timedelta(days=30)) == []
    assert kinds(case, responded + timedelta(days=30, seconds=1)) == ["auto_close"]
    closed = make_case(state=CaseState.CLOSED, closed_at=responded)
    assert kinds(closed, responded + timedelta(days=29)) == []
    [notice] = due_notices(closed, POLICY, SCHEDULE, responded + timedelta(days=30))
    assert (notice.kind, notice.key) == ("follow_up", responded)
    assert kinds(closed, responded + timedelta(days=90)) == ["follow_up"]
    off = SchedulePolicy(follow_up=False)
    assert due_notices(closed, POLICY, off, responded + timedelta(days=90)) == []


def test_withdrawn_and_reviewing_cases() -> None:
    assert kinds(make_case(state=CaseState.WITHDRAWN), CREATED_AT + timedelta(days=400)) == []
    asked = DECIDED + timedelta(days=40)
    review = make_case(state=CaseState.REVIEWING, review_requested_at=asked)
    review.deadline_at = deadline_for(review, POLICY)
    assert kinds(review, asked + timedelta(days=15)) == ["remind:50%"]


def test_working_days_skip_weekends_and_keep_the_time_of_day() -> None:
    policy = WorkingDaysPolicy()
    friday = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)  # 10:00 Friday in Beijing
    assert add_days(friday, 1, policy) == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
    assert add_days(friday, 5, policy) == datetime(2026, 3, 13, 2, 0, tzinfo=UTC)
    # 15 working days from Monday 2 March: three weeks, Monday 23 March.
    case = make_case(created_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert deadline_for(case, policy) == datetime(2026, 3, 23, 1, 0, tzinfo=UTC)
    # Saturday 23:30 in Beijing is Saturday 15:30 UTC: the count starts on Monday.
    saturday_night = datetime(2026, 3, 7, 15, 30, tzinfo=UTC)
    assert add_days(saturday_night, 1, policy) == datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    assert policy.working_days and not POLICY.working_days


def test_the_digest_is_owed_once_per_local_day_from_its_hour() -> None:
    assert digest_key(datetime(2026, 3, 2, 0, 59, tzinfo=UTC), SCHEDULE) is None  # 08:59
    day = digest_key(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), SCHEDULE)
    assert day is not None and day.isoformat() == "2026-03-02"
    late = digest_key(datetime(2026, 3, 2, 17, 0, tzinfo=UTC), SCHEDULE)  # 01:00 next day
    assert late is None


@pytest.mark.parametrize(
    ("spec", "parsed"), [("50%", ("fraction", 0.5)), ("3d", ("days", 3)), (" 10D ", ("days", 10))]
)
def test_reminder_points_are_read(spec: str, parsed: tuple[str, float]) -> None:
    assert parse_reminder(spec) == parsed


@pytest.mark.parametrize("spec", ["0%", "100%", "0d", "half", "3 days", ""])
def test_bad_reminder_points_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        SchedulePolicy(reminders=(spec,))


def test_small_cells_merge_until_none_is_smaller_than_three() -> None:
    assert merge_small({"a": 5, "b": 1, "c": 2}) == {"a": 5, MERGED: 3}
    assert merge_small({"a": 5, "b": 1, "c": 4}) == {"a": 5, MERGED: 5}  # 1 took in c
    assert merge_small({"a": 1}) == {MERGED: 1}  # the whole group is small
    assert merge_small({"a": 3, "b": 3}) == {"a": 3, "b": 3}


def _facts(**overrides: object) -> CaseFacts:
    values: dict[str, object] = {
        "category": "pay",
        "state": CaseState.CLOSED,
        "channel": "telegram",
        "unit": "u",
        "owner": "o",
        "created_at": CREATED_AT,
    }
    values.update(overrides)
    return CaseFacts(**values)  # type: ignore[arg-type]


def test_rates_count_only_what_was_due_or_done() -> None:
    late = CREATED_AT + timedelta(days=16)
    facts = [
        _facts(decided_at=DECIDED, responded_at=DECIDED + timedelta(days=60)),  # on time
        _facts(decided_at=late, responded_at=late + timedelta(days=61)),  # late both
        _facts(state=CaseState.REGISTERED),  # not yet due at as_of
        _facts(state=CaseState.WITHDRAWN),  # left out
    ]
    as_of = CREATED_AT + timedelta(days=10)
    r = compute_report(facts, POLICY, start=CREATED_AT, end=as_of, as_of=as_of)
    assert (r.on_time_acceptance.hits, r.on_time_acceptance.total) == (1, 2)
    assert (r.on_time_completion.hits, r.on_time_completion.total) == (1, 2)
    assert r.satisfaction.value is None
    assert r.median_handling_days == 69.5  # 62 and 77 days


def test_the_schedule_and_the_leaders_chat_are_configured_from_the_environment() -> None:
    from bot.settings import SettingsError, load_settings

    base = {"XINFANG_DATA_DIR": "/tmp/xf-settings-test"}
    settings = load_settings(
        base
        | {
            "XINFANG_WORKING_DAYS": "true",
            "XINFANG_REMINDERS": "25%, 75%, 2d",
            "XINFANG_FOLLOWUP_DAYS": "0",
            "XINFANG_DIGEST_HOUR": "8",
            "XINFANG_LEADERS_CHAT": "telegram:-1002222,wecom:leader1|leader2",
        }
    )
    assert isinstance(settings.policy, WorkingDaysPolicy)
    assert settings.schedule == SchedulePolicy(
        reminders=("25%", "75%", "2d"), digest_hour=8, follow_up=False
    )
    assert settings.leaders_chats == (("telegram", "-1002222"), ("wecom", "leader1|leader2"))
    defaults = load_settings(base)
    assert type(defaults.policy) is DeadlinePolicy and defaults.schedule == SchedulePolicy()
    for bad in ({"XINFANG_LEADERS_CHAT": "-1002222"}, {"XINFANG_REMINDERS": "soon"}):
        with pytest.raises(SettingsError):
            load_settings(base | bad)
