"""The deadline calendar: which milestone each state counts from, and when a case is overdue."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from petitions.case import Case
from petitions.deadlines import DeadlinePolicy, deadline_for, is_overdue
from petitions.states import CaseState
from tests.helpers.builders import CREATED_AT, make_case

S = CaseState

# Every milestone on a different day, so counting from the wrong one shows.
DECIDED_AT = CREATED_AT + timedelta(days=2)
RESPONDED_AT = CREATED_AT + timedelta(days=41)
REVIEW_REQUESTED_AT = CREATED_AT + timedelta(days=47)
REVIEWED_AT = CREATED_AT + timedelta(days=66)
RECHECK_REQUESTED_AT = CREATED_AT + timedelta(days=71)
EXTENSION_DAYS = 8

# States whose deadline the office must meet; the others are the employee's windows.
OFFICE_STATES = {
    S.REGISTERED,
    S.ACCEPTED,
    S.TRANSFERRED,
    S.IN_PROGRESS,
    S.EXTENDED,
    S.REVIEW_REQUESTED,
    S.REVIEWING,
    S.RECHECK_REQUESTED,
    S.RECHECKING,
}
TERMINAL_STATES = [S.CLOSED, S.FINALIZED, S.WITHDRAWN]


def case_with_every_milestone(state: CaseState) -> Case:
    return make_case(
        state=state,
        decided_at=DECIDED_AT,
        responded_at=RESPONDED_AT,
        review_requested_at=REVIEW_REQUESTED_AT,
        reviewed_at=REVIEWED_AT,
        recheck_requested_at=RECHECK_REQUESTED_AT,
        extension_days=EXTENSION_DAYS,
        closed_at=REVIEWED_AT + timedelta(days=1),
    )


def days(n: int) -> timedelta:
    return timedelta(days=n)


# Written by hand: the regulation's calendar days, counted from the stage's milestone.
DEFAULT_DEADLINES = {
    S.REGISTERED: CREATED_AT + days(15),
    S.ACCEPTED: DECIDED_AT + days(60),
    S.TRANSFERRED: DECIDED_AT + days(60),
    S.IN_PROGRESS: DECIDED_AT + days(60),
    S.EXTENDED: DECIDED_AT + days(60 + EXTENSION_DAYS),
    S.NOT_ACCEPTED: DECIDED_AT + days(30),
    S.RESPONDED: RESPONDED_AT + days(30),
    S.REVIEW_REQUESTED: REVIEW_REQUESTED_AT + days(30),
    S.REVIEWING: REVIEW_REQUESTED_AT + days(30),
    S.REVIEWED: REVIEWED_AT + days(30),
    S.RECHECK_REQUESTED: RECHECK_REQUESTED_AT + days(30),
    S.RECHECKING: RECHECK_REQUESTED_AT + days(30),
    S.FINALIZED: None,
    S.CLOSED: None,
    S.WITHDRAWN: None,
}

# All values distinct, so that using one policy field in place of another shows.
CUSTOM = DeadlinePolicy(
    accept_days=5, handle_days=20, extension_max_days=10, review_request_days=7, review_days=14
)
CUSTOM_DEADLINES = {
    S.REGISTERED: CREATED_AT + days(5),
    S.ACCEPTED: DECIDED_AT + days(20),
    S.TRANSFERRED: DECIDED_AT + days(20),
    S.IN_PROGRESS: DECIDED_AT + days(20),
    S.EXTENDED: DECIDED_AT + days(20 + EXTENSION_DAYS),
    S.NOT_ACCEPTED: DECIDED_AT + days(7),
    S.RESPONDED: RESPONDED_AT + days(7),
    S.REVIEW_REQUESTED: REVIEW_REQUESTED_AT + days(14),
    S.REVIEWING: REVIEW_REQUESTED_AT + days(14),
    S.REVIEWED: REVIEWED_AT + days(7),
    S.RECHECK_REQUESTED: RECHECK_REQUESTED_AT + days(14),
    S.RECHECKING: RECHECK_REQUESTED_AT + days(14),
    S.FINALIZED: None,
    S.CLOSED: None,
    S.WITHDRAWN: None,
}


def test_the_default_policy_is_the_regulations_calendar() -> None:
    policy = DeadlinePolicy()
    assert (
        policy.accept_days,
        policy.handle_days,
        policy.extension_max_days,
        policy.review_request_days,
        policy.review_days,
    ) == (15, 60, 30, 30, 30)


def test_the_expected_tables_cover_every_state() -> None:
    assert set(DEFAULT_DEADLINES) == set(CUSTOM_DEADLINES) == set(CaseState)


@pytest.mark.parametrize("state", list(CaseState))
def test_each_state_counts_default_days_from_its_own_milestone(state: CaseState) -> None:
    assert (
        deadline_for(case_with_every_milestone(state), DeadlinePolicy())
        == (DEFAULT_DEADLINES[state])
    )


@pytest.mark.parametrize("state", list(CaseState))
def test_a_deployments_own_policy_is_respected_in_every_state(state: CaseState) -> None:
    assert deadline_for(case_with_every_milestone(state), CUSTOM) == CUSTOM_DEADLINES[state]


@pytest.mark.parametrize("state", TERMINAL_STATES)
def test_terminal_states_have_no_deadline(state: CaseState) -> None:
    assert deadline_for(case_with_every_milestone(state), DeadlinePolicy()) is None


def test_an_unextended_case_in_the_extended_state_gets_the_plain_handling_deadline() -> None:
    case = make_case(state=S.EXTENDED, decided_at=DECIDED_AT, extension_days=None)
    assert deadline_for(case, DeadlinePolicy()) == DECIDED_AT + days(60)


@pytest.mark.parametrize(
    "state", [S.ACCEPTED, S.IN_PROGRESS, S.RESPONDED, S.REVIEWING, S.REVIEWED]
)
def test_a_stage_whose_milestone_is_unknown_has_no_deadline(state: CaseState) -> None:
    assert deadline_for(make_case(state=state), DeadlinePolicy()) is None


def test_deadlines_are_calendar_days_keeping_the_time_of_day_across_month_ends() -> None:
    # A Friday afternoon in a leap year: weekends and 29 February count like any other day.
    created = datetime(2028, 2, 18, 16, 45, tzinfo=UTC)
    case = make_case(created_at=created)
    assert deadline_for(case, DeadlinePolicy()) == datetime(2028, 3, 4, 16, 45, tzinfo=UTC)


def test_deadlines_stay_timezone_aware() -> None:
    deadline = deadline_for(make_case(), DeadlinePolicy())
    assert deadline is not None
    assert deadline.tzinfo is UTC


_POLICY_FIELDS = [f.name for f in dataclasses.fields(DeadlinePolicy)]


@pytest.mark.parametrize("value", [0, -1, -30])
@pytest.mark.parametrize("name", _POLICY_FIELDS)
def test_a_policy_with_a_non_positive_number_of_days_is_refused(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        DeadlinePolicy(**{name: value})


@pytest.mark.parametrize("name", _POLICY_FIELDS)
def test_a_policy_of_one_day_is_allowed(name: str) -> None:
    assert getattr(DeadlinePolicy(**{name: 1}), name) == 1


def test_a_policy_cannot_be_changed_after_it_is_made() -> None:
    policy = DeadlinePolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.handle_days = 1  # type: ignore[misc]


# --- is_overdue -----------------------------------------------------------------------------

DEADLINE = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


def case_due(state: CaseState, deadline: datetime | None = DEADLINE) -> Case:
    return make_case(state=state, deadline_at=deadline)


@pytest.mark.parametrize("state", list(CaseState))
def test_a_case_is_overdue_only_in_office_states_after_the_deadline(state: CaseState) -> None:
    just_after = DEADLINE + timedelta(microseconds=1)
    assert is_overdue(case_due(state), just_after) is (state in OFFICE_STATES)
    assert is_overdue(case_due(state), DEADLINE + days(400)) is (state in OFFICE_STATES)


@pytest.mark.parametrize("state", sorted(OFFICE_STATES))
def test_a_case_is_not_overdue_exactly_at_its_deadline(state: CaseState) -> None:
    assert not is_overdue(case_due(state), DEADLINE)
    assert not is_overdue(case_due(state), DEADLINE - timedelta(microseconds=1))


@pytest.mark.parametrize("state", sorted(OFFICE_STATES))
def test_a_case_without_a_deadline_is_never_overdue(state: CaseState) -> None:
    assert not is_overdue(case_due(state, None), DEADLINE + days(1000))


@pytest.mark.parametrize("state", [S.RESPONDED, S.REVIEWED, S.NOT_ACCEPTED])
def test_a_passed_employee_window_is_not_the_office_being_late(state: CaseState) -> None:
    assert not is_overdue(case_due(state), DEADLINE + days(1))


@pytest.mark.parametrize("state", TERMINAL_STATES)
def test_a_finished_case_is_never_overdue_even_with_a_stale_deadline(state: CaseState) -> None:
    assert not is_overdue(case_due(state), DEADLINE + days(1))


def test_a_case_at_its_computed_default_deadline_turns_overdue_a_moment_later() -> None:
    case = make_case()
    case.deadline_at = deadline_for(case, DeadlinePolicy())
    assert case.deadline_at == CREATED_AT + days(15)
    assert not is_overdue(case, CREATED_AT + days(15))
    assert is_overdue(case, CREATED_AT + days(15) + timedelta(seconds=1))
