"""Deadline calendar (信访工作条例 2022), configurable per deployment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from petitions.case import Case
from petitions.states import CaseState

__all__ = ["DeadlinePolicy", "deadline_for", "is_overdue"]


@dataclass(frozen=True)
class DeadlinePolicy:
    """Days allowed per stage; defaults are the regulation's calendar days."""

    accept_days: int = 15
    handle_days: int = 60
    extension_max_days: int = 30
    review_request_days: int = 30
    review_days: int = 30

    def __post_init__(self) -> None:
        for name in (
            "accept_days",
            "handle_days",
            "extension_max_days",
            "review_request_days",
            "review_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def _plus(start: datetime | None, days: int) -> datetime | None:
    return None if start is None else start + timedelta(days=days)


def deadline_for(case: Case, policy: DeadlinePolicy) -> datetime | None:
    """Return the date by which the case's current stage must be finished, or None."""
    state = case.state
    if state is CaseState.REGISTERED:
        return _plus(case.created_at, policy.accept_days)
    if state in (CaseState.ACCEPTED, CaseState.TRANSFERRED, CaseState.IN_PROGRESS):
        return _plus(case.decided_at, policy.handle_days)
    if state is CaseState.EXTENDED:
        return _plus(case.decided_at, policy.handle_days + (case.extension_days or 0))
    if state is CaseState.RESPONDED:
        # The employee's window to ask for a review; the case closes by itself after it.
        return _plus(case.responded_at, policy.review_request_days)
    if state in (CaseState.REVIEW_REQUESTED, CaseState.REVIEWING):
        return _plus(case.review_requested_at, policy.review_days)
    if state is CaseState.REVIEWED:
        return _plus(case.reviewed_at, policy.review_request_days)
    if state is CaseState.NOT_ACCEPTED:
        return _plus(case.decided_at, policy.review_request_days)
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


def is_overdue(case: Case, now: datetime) -> bool:
    """Tell whether the office missed the current stage's deadline (超期)."""
    return (
        case.state in OFFICE_DEADLINE_STATES
        and case.deadline_at is not None
        and now > case.deadline_at
    )
