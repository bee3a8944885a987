"""Deadline calendar (信访工作条例 2022), configurable per deployment.

Days are calendar days by default. With :class:`WorkingDaysPolicy` a deadline counts
Monday to Friday only (in the office's time zone, UTC+8) and keeps the time of day;
there is no holiday calendar: public holidays and the weekend days swapped for them
(调休) are not known to the bot, so a deployment that needs them should use calendar
days or promise shorter periods.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

from petitions.case import Case
from petitions.states import CaseState

__all__ = [
    "OFFICE_DEADLINE_STATES",
    "OFFICE_ZONE",
    "WINDOW_STATES",
    "DeadlinePolicy",
    "WorkingDaysPolicy",
    "add_days",
    "deadline_for",
    "handle_deadline",
    "is_overdue",
]

# The office's time zone (China has one zone and no daylight saving time).
OFFICE_ZONE = timezone(timedelta(hours=8))


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

    def __post_init__(self) -> None:
        for item in fields(self):
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
    """The same periods counted in working days: Monday to Friday in the office's time
    zone, keeping the time of day; no holiday calendar (see the module docstring)."""

    @property
    def working_days(self) -> bool:
        """Whether days are counted Monday to Friday only."""
        return True

    def add_days(self, start: datetime, days: int) -> datetime:
        """Return ``start`` plus ``days`` working days (Saturdays and Sundays skipped)."""
        local = start.astimezone(OFFICE_ZONE)
        left = days
        while left > 0:
            local += timedelta(days=1)
            if local.weekday() < 5:
                left -= 1
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


def deadline_for(case: Case, policy: DeadlinePolicy) -> datetime | None:
    """Return the date by which the case's current stage must be finished, or None."""
    state = case.state
    if state is CaseState.REGISTERED:
        return _plus(case.created_at, policy.accept_days, policy)
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
        return _plus(case.reviewed_at, policy.review_request_days, policy)
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
