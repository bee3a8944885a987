"""Deadline calendar (信访工作条例 2022), configurable per deployment.

Days are calendar days by default. With :class:`WorkingDaysPolicy` a deadline counts
working days only (in the office's time zone, UTC+8) and keeps the time of day. Which
dates are working days is a predicate handed in by the settings: Monday to Friday by
default, or the official calendar (public holidays off, the weekend days swapped for them,
调休, on) when the deployment opts in. The domain stays pure: it never looks a calendar up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone

from petitions.case import Case
from petitions.states import RECHECK_STATES, REVIEW_STATES, CaseState

__all__ = [
    "OFFICE_DEADLINE_STATES",
    "OFFICE_ZONE",
    "WINDOW_STATES",
    "DeadlinePolicy",
    "WorkingDaysPolicy",
    "accept_days",
    "add_days",
    "deadline_for",
    "monday_to_friday",
    "handle_deadline",
    "is_overdue",
    "step_level",
    "step_unit_id",
]

# The office's time zone (China has one zone and no daylight saving time).
OFFICE_ZONE = timezone(timedelta(hours=8))

# A calendar that has no working day in this many days in a row is broken (the longest
# official break, the Spring Festival, is nine days); stop instead of looping for ever.
_LONGEST_BREAK_DAYS = 31


def monday_to_friday(day: date) -> bool:
    """The default working-day calendar: Monday to Friday, no holidays."""
    return day.weekday() < 5


@dataclass(frozen=True)
class DeadlinePolicy:
    """Days allowed per stage; defaults are the regulation's calendar days.

    Every field is a number of days and must be positive.
    """

    accept_days: int = 15
    handle_days: int = 60
    extension_max_days: int = 30
    review_request_days: int = 30
    review_days: int = 30
    followup_days: int = 30  # 回头望: how long after closing the employee is asked
    digest_window_days: int = 3  # the daily digest lists cases due within this many days
    # How long after closing the push address is kept: through the follow-up (回头望) and
    # two weeks to answer it; then it is erased (petitions.lifecycle sets the time).
    contact_keep_days: int = 44
    # An urgent petition (Case.urgent: a danger sign at submission) must be accepted within
    # this many days (never more than ``accept_days``).
    urgent_accept_days: int = 3

    def __post_init__(self) -> None:
        # Only the day counts; a subclass may add fields of other kinds (a calendar).
        for item in fields(DeadlinePolicy):
            if getattr(self, item.name) <= 0:
                raise ValueError(f"{item.name} must be positive")

    @property
    def working_days(self) -> bool:
        """Whether days are counted Monday to Friday only."""
        return False

    def add_days(self, start: datetime, days: int) -> datetime:
        """Return ``start`` plus ``days`` calendar days."""
        return start + timedelta(days=days)


@dataclass(frozen=True)
class WorkingDaysPolicy(DeadlinePolicy):
    """The same periods counted in working days in the office's time zone, keeping the
    time of day; ``is_working_day`` says which local dates count (Monday to Friday unless
    the settings pass the official holiday calendar)."""

    is_working_day: Callable[[date], bool] = field(default=monday_to_friday, repr=False)

    @property
    def working_days(self) -> bool:
        """Whether days are counted as working days only."""
        return True

    def add_days(self, start: datetime, days: int) -> datetime:
        """Return ``start`` plus ``days`` working days (days off skipped)."""
        local = start.astimezone(OFFICE_ZONE)
        left = days
        off = 0
        while left > 0:
            local += timedelta(days=1)
            if self.is_working_day(local.date()):
                left -= 1
                off = 0
            else:
                off += 1
                if off > _LONGEST_BREAK_DAYS:
                    raise ValueError(f"the working-day calendar has no working day in {off} days")
        return local.astimezone(start.tzinfo)


def add_days(start: datetime, days: int, policy: DeadlinePolicy) -> datetime:
    """Return ``start`` plus ``days`` days as the policy counts them."""
    return policy.add_days(start, days)


def _plus(start: datetime | None, days: int, policy: DeadlinePolicy) -> datetime | None:
    return None if start is None else add_days(start, days, policy)


def handle_deadline(case: Case, policy: DeadlinePolicy) -> datetime | None:
    """Return the handling deadline of an accepted case, the one extension included."""
    base = _plus(case.decided_at, policy.handle_days, policy)
    if base is None or not case.extension_days:
        return base
    return add_days(base, case.extension_days, policy)


def accept_days(case: Case, policy: DeadlinePolicy) -> int:
    """The days allowed to accept the case: fewer for an urgent petition."""
    if case.urgent:
        return min(policy.urgent_accept_days, policy.accept_days)
    return policy.accept_days


def deadline_for(case: Case, policy: DeadlinePolicy) -> datetime | None:
    """Return the date by which the case's current stage must be finished, or None."""
    state = case.state
    if state is CaseState.REGISTERED:
        return _plus(case.created_at, accept_days(case, policy), policy)
    if state in (CaseState.ACCEPTED, CaseState.TRANSFERRED, CaseState.IN_PROGRESS):
        return _plus(case.decided_at, policy.handle_days, policy)
    if state is CaseState.EXTENDED:
        return handle_deadline(case, policy)
    if state is CaseState.RESPONDED:
        # The employee's window to ask for a review; the case closes by itself after it.
        return _plus(case.responded_at, policy.review_request_days, policy)
    if state in (CaseState.REVIEW_REQUESTED, CaseState.REVIEWING):
        return _plus(case.review_requested_at, policy.review_days, policy)
    if state is CaseState.REVIEWED:
        # The employee's window to ask for 复核; the case closes by itself after it.
        return _plus(case.reviewed_at, policy.review_request_days, policy)
    if state in (CaseState.RECHECK_REQUESTED, CaseState.RECHECKING):
        return _plus(case.recheck_requested_at, policy.review_days, policy)
    if state is CaseState.NOT_ACCEPTED:
        return _plus(case.decided_at, policy.review_request_days, policy)
    return None


# States whose deadline is the office's to meet (the others are the employee's windows).
OFFICE_DEADLINE_STATES = frozenset(
    {
        CaseState.REGISTERED,
        CaseState.ACCEPTED,
        CaseState.TRANSFERRED,
        CaseState.IN_PROGRESS,
        CaseState.EXTENDED,
        CaseState.REVIEW_REQUESTED,
        CaseState.REVIEWING,
        CaseState.RECHECK_REQUESTED,
        CaseState.RECHECKING,
    }
)
# States that wait for the employee; the case closes by itself when the window passes.
WINDOW_STATES = frozenset({CaseState.RESPONDED, CaseState.REVIEWED, CaseState.NOT_ACCEPTED})


def is_overdue(case: Case, now: datetime) -> bool:
    """Tell whether the office missed the current stage's deadline (超期)."""
    return (
        case.state in OFFICE_DEADLINE_STATES
        and case.deadline_at is not None
        and now > case.deadline_at
    )


def step_level(state: CaseState) -> int:
    """How many units above the handling unit the office of this step sits: 0 for the
    handling steps, 1 for the 复查 (the parent decides), 2 for the 复核 (its parent)."""
    if state in REVIEW_STATES:
        return 1
    if state in RECHECK_STATES:
        return 2
    return 0


def step_unit_id(case: Case) -> int | None:
    """The unit whose office must meet the current step's deadline: the unit deciding a
    复查 / 复核, else the handling unit (None without a unit tree)."""
    if step_level(case.state) and case.review_unit_id is not None:
        return case.review_unit_id
    return case.unit_id
