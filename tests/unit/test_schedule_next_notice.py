"""petitions.schedule.next_notice_at against due_notices: the scheduler looks at a case only
when its stored next-notice time has come, so that time must never be later than the first
moment due_notices has something new (nothing is missed) and never earlier than needed
(a pass with nothing new to send does not keep finding the case due).

Property-style: a few thousand seeded random cases, policies and moments, each checked at
every moment where the answer can change (reminder points, the deadline and just after it,
the follow-up's day) and at random ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from petitions.case import Case
from petitions.deadlines import DeadlinePolicy, WorkingDaysPolicy, deadline_for
from petitions.schedule import (
    SchedulePolicy,
    check_after_change,
    due_notices,
    followup_due_at,
    next_notice_at,
    reminder_times,
)
from petitions.states import CaseState
from tests.helpers.builders import CREATED_AT, make_case

TICK = timedelta(microseconds=1)
POLICIES = (DeadlinePolicy(), WorkingDaysPolicy(), DeadlinePolicy(accept_days=2, handle_days=3))
SCHEDULES = (
    SchedulePolicy(),
    SchedulePolicy(reminders=("10%",), follow_up=False),
    SchedulePolicy(reminders=("1d", "90%", "30d")),
    SchedulePolicy(reminders=()),
)


def random_case(rnd: random.Random, policy: DeadlinePolicy) -> Case:
    """A case in any state with the times that state would have (or some missing)."""

    def later(start: datetime) -> datetime:
        return start + timedelta(seconds=rnd.randrange(0, 90 * 86400))

    created = CREATED_AT + timedelta(seconds=rnd.randrange(0, 400 * 86400))
    decided = later(created)
    responded = later(decided)
    review = later(responded)
    case = make_case(
        state=rnd.choice(list(CaseState)),
        created_at=created,
        decided_at=decided if rnd.random() < 0.9 else None,
        responded_at=responded,
        review_requested_at=review,
        reviewed_at=later(review),
        closed_at=later(responded) if rnd.random() < 0.9 else None,
        extension_days=rnd.choice((None, 10, 30)),
    )
    case.deadline_at = deadline_for(case, policy) if rnd.random() < 0.95 else None
    return case


def critical_moments(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy
) -> Iterator[datetime]:
    """Every moment where due_notices can change, and its neighbours."""
    points = [at for _, at in reminder_times(case, policy, schedule)]
    if case.deadline_at is not None:
        points.append(case.deadline_at)
    due = followup_due_at(case, policy, schedule)
    if due is not None:
        points.append(due)
    for at in points:
        yield from (at - TICK, at, at + TICK)


def new_at(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy, now: datetime | None, t: datetime
) -> set[object]:
    """Notices due at t that were not due at now (all of them for now=None)."""
    before = set() if now is None else set(due_notices(case, policy, schedule, now))
    return set(due_notices(case, policy, schedule, t)) - before


def examples(count: int, seed: int) -> Iterator[tuple[Case, DeadlinePolicy, SchedulePolicy]]:
    rnd = random.Random(seed)
    for _ in range(count):
        policy = rnd.choice(POLICIES)
        yield random_case(rnd, policy), policy, rnd.choice(SCHEDULES)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_next_notice_time_is_the_first_moment_something_new_falls_due(seed: int) -> None:
    rnd = random.Random(seed * 7919)
    for case, policy, schedule in examples(700, seed):
        moments = sorted(set(critical_moments(case, policy, schedule)))
        randoms = [case.created_at + timedelta(seconds=rnd.randrange(0, 500 * 86400))]
        for now in [*moments, *randoms]:
            nxt = next_notice_at(case, policy, schedule, now)
            probes = [t for t in [*moments, *randoms] if t >= now]
            for t in probes:
                if new_at(case, policy, schedule, now, t):
                    # Nothing is missed: the case is looked at by the time something is new.
                    assert nxt is not None and nxt <= t, (case, schedule, now, t)
            if nxt is not None:
                # Never early: at that time there is something new, and it is after now.
                assert nxt > now
                assert new_at(case, policy, schedule, now, nxt), (case, schedule, now)


@pytest.mark.parametrize("seed", [4, 5])
def test_without_a_known_pass_the_next_time_is_the_stages_first_notice(seed: int) -> None:
    for case, policy, schedule in examples(700, seed):
        first = next_notice_at(case, policy, schedule, None)
        due_somewhere = [
            t
            for t in critical_moments(case, policy, schedule)
            if due_notices(case, policy, schedule, t)
        ]
        if due_somewhere:
            assert first is not None and first <= min(due_somewhere)
        if first is not None:
            assert due_notices(case, policy, schedule, first)


ACCEPTED = CREATED_AT + timedelta(days=2)


def accepted() -> Case:
    case = make_case(state=CaseState.ACCEPTED, decided_at=ACCEPTED)
    case.deadline_at = deadline_for(case, DeadlinePolicy())
    return case


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (None, ACCEPTED + timedelta(days=30)),  # the 50% reminder
        (ACCEPTED, ACCEPTED + timedelta(days=30)),
        (ACCEPTED + timedelta(days=30), ACCEPTED + timedelta(days=57)),  # then "3d"
        (ACCEPTED + timedelta(days=57), ACCEPTED + timedelta(days=60) + TICK),  # overdue
        (ACCEPTED + timedelta(days=60), ACCEPTED + timedelta(days=60) + TICK),
        (ACCEPTED + timedelta(days=60) + TICK, None),  # overdue sent: nothing more
    ],
)
def test_an_accepted_case_is_looked_at_at_each_reminder_then_just_after_its_deadline(
    now: datetime | None, expected: datetime | None
) -> None:
    assert next_notice_at(accepted(), DeadlinePolicy(), SchedulePolicy(), now) == expected


def test_a_closed_case_is_looked_at_on_its_follow_up_day_and_never_without_follow_ups() -> None:
    closed_at = datetime(2026, 6, 1, 8, tzinfo=UTC)
    case = make_case(state=CaseState.CLOSED, closed_at=closed_at)
    policy = DeadlinePolicy()
    due = closed_at + timedelta(days=policy.followup_days)
    assert next_notice_at(case, policy, SchedulePolicy(), closed_at) == due
    assert next_notice_at(case, policy, SchedulePolicy(), due) is None
    assert next_notice_at(case, policy, SchedulePolicy(follow_up=False), None) is None


def test_a_changed_case_is_looked_at_at_once_unless_withdrawn() -> None:
    case = accepted()
    case.updated_at = ACCEPTED + timedelta(days=3)
    assert check_after_change(case) == case.updated_at
    case.state = CaseState.WITHDRAWN
    assert check_after_change(case) is None
