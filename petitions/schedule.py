"""What the scheduler owes a case at a moment: pure decisions, no I/O.

Every notice is identified by ``(case, kind, key)``, where the key is the deadline (or
the closing time for the follow-up) it is about. Storage keeps the notices already
sent under that identity, so a pass that runs late sends what fell due while the
service was down exactly once, and a moved deadline (an extension) starts new notices.

督办 (docs/ladder.md): the overdue alert of a step is keyed by the step's deadline and goes
to the leaders one level above the office of the step; when the working deadline a 督办 set
(``supervised_until``) passes with the case still at that step, the alert climbs one level
more, once per 督办 deadline (the key), so each level hears of it once. A report owed after
a 交办 (``report_due_at``) that is late is an alert of its own, once per report deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from petitions.case import Case
from petitions.deadlines import (
    OFFICE_DEADLINE_STATES,
    OFFICE_ZONE,
    WINDOW_STATES,
    DeadlinePolicy,
    add_days,
)
from petitions.states import CLOSED_STATES, CaseState

__all__ = [
    "AUTO_CLOSE",
    "FOLLOW_UP",
    "OVERDUE",
    "REMINDER_PREFIX",
    "REPORT_OVERDUE",
    "SUPERVISION_OVERDUE",
    "Notice",
    "SchedulePolicy",
    "check_after_change",
    "digest_key",
    "due_notices",
    "followup_due_at",
    "next_notice_at",
    "parse_reminder",
    "reminder_times",
    "stage_start",
]

REMINDER_PREFIX = "remind:"
_REMINDER = re.compile(r"^(?:(\d{1,2})%|(\d{1,3})d)$")
OVERDUE = "overdue"
AUTO_CLOSE = "auto_close"
FOLLOW_UP = "follow_up"
SUPERVISION_OVERDUE = "supervision_overdue"  # the 督办 deadline passed: the alert climbs
REPORT_OVERDUE = "report_overdue"  # the report back of a 交办 is late


def parse_reminder(spec: str) -> tuple[str, float | int]:
    """Read a reminder point: ``50%`` of the stage elapsed, or ``3d`` before the deadline."""
    match = _REMINDER.match(spec.strip().lower())
    if match is None:
        raise ValueError(f"reminder point {spec!r} is neither like '50%' nor like '3d'")
    if match.group(1) is not None:
        percent = int(match.group(1))
        if not 0 < percent < 100:
            raise ValueError(f"reminder point {spec!r} must be between 1% and 99%")
        return "fraction", percent / 100
    days = int(match.group(2))
    if days <= 0:
        raise ValueError(f"reminder point {spec!r} must be at least 1d")
    return "days", days


@dataclass(frozen=True)
class SchedulePolicy:
    """When the scheduler reminds, sends its digest, and whether it follows up."""

    reminders: tuple[str, ...] = field(default=("50%", "3d"))
    digest_hour: int = 9  # local hour (UTC+8) from which the day's digest is sent
    follow_up: bool = True  # 回头望 after closing (after DeadlinePolicy.followup_days)

    def __post_init__(self) -> None:
        for spec in self.reminders:
            parse_reminder(spec)
        if not 0 <= self.digest_hour <= 23:
            raise ValueError("digest_hour must be between 0 and 23")


@dataclass(frozen=True)
class Notice:
    """Something the scheduler must do for a case once: remind, alert, close or ask."""

    kind: str  # remind:<point> | overdue | supervision_overdue | report_overdue | auto_close
    # | follow_up
    due_at: datetime
    key: datetime  # the deadline (or closing time) the notice is about

    @property
    def key_text(self) -> str:
        """The key as stored: an ISO timestamp in UTC."""
        return self.key.isoformat()

    @property
    def point(self) -> str | None:
        """The reminder point (``50%``, ``3d``) of a reminder, else None."""
        return self.kind.removeprefix(REMINDER_PREFIX) if self.is_reminder else None

    @property
    def is_reminder(self) -> bool:
        """Whether this is a reminder to the owner."""
        return self.kind.startswith(REMINDER_PREFIX)


def stage_start(case: Case, policy: DeadlinePolicy) -> datetime | None:
    """Return when the stage whose deadline the office must meet began."""
    state = case.state
    if state is CaseState.REGISTERED:
        return case.created_at
    if state in (CaseState.ACCEPTED, CaseState.TRANSFERRED, CaseState.IN_PROGRESS):
        return case.decided_at
    if state is CaseState.EXTENDED:
        # The extension is its own stage: it runs from the original handling deadline.
        if case.decided_at is None:
            return None
        return add_days(case.decided_at, policy.handle_days, policy)
    if state in (CaseState.REVIEW_REQUESTED, CaseState.REVIEWING):
        return case.review_requested_at
    if state in (CaseState.RECHECK_REQUESTED, CaseState.RECHECKING):
        return case.recheck_requested_at
    return None


def reminder_times(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy
) -> list[tuple[str, datetime]]:
    """Return (point, time) of each reminder of the current stage, in time order.

    A point that falls before the stage began (``3d`` of a two-day stage) or at the
    deadline is skipped.
    """
    start = stage_start(case, policy)
    deadline = case.deadline_at
    if case.state not in OFFICE_DEADLINE_STATES or start is None or deadline is None:
        return []
    times: list[tuple[str, datetime]] = []
    for spec in schedule.reminders:
        how, value = parse_reminder(spec)
        if how == "fraction":
            at = start + (deadline - start) * float(value)
        else:
            at = deadline - timedelta(days=int(value))
        if start <= at < deadline:
            times.append((spec, at))
    return sorted(times, key=lambda item: item[1])


def followup_due_at(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy
) -> datetime | None:
    """Return when the follow-up (回头望) of a closed (or finalized) case falls due, or None."""
    if case.state not in CLOSED_STATES or case.closed_at is None:
        return None
    if not schedule.follow_up:
        return None
    return add_days(case.closed_at, policy.followup_days, policy)


def due_notices(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy, now: datetime
) -> list[Notice]:
    """Return every notice due for the case at ``now``, sent or not (storage filters).

    Reminders are due from their time until the deadline; once the deadline has passed
    the overdue alert replaces the reminders that were never sent (a reminder that says
    "three days left" is wrong by then).
    """
    deadline = case.deadline_at
    notices: list[Notice] = []
    if case.state in OFFICE_DEADLINE_STATES and deadline is not None:
        if now > deadline:
            notices.append(Notice(OVERDUE, deadline, deadline))
        else:
            for point, at in reminder_times(case, policy, schedule):
                if at <= now:
                    notices.append(Notice(REMINDER_PREFIX + point, at, deadline))
    elif case.state in WINDOW_STATES and deadline is not None and now > deadline:
        notices.append(Notice(AUTO_CLOSE, deadline, deadline))
    else:
        due = followup_due_at(case, policy, schedule)
        if due is not None and case.closed_at is not None and due <= now:
            notices.append(Notice(FOLLOW_UP, due, case.closed_at))
    return notices + _order_notices(case, now)


def _order_notices(case: Case, now: datetime) -> list[Notice]:
    """The alerts of a 督办's and a 交办's deadlines that have passed (see the module)."""
    notices: list[Notice] = []
    until = case.supervised_until
    if case.state in OFFICE_DEADLINE_STATES and until is not None and now > until:
        notices.append(Notice(SUPERVISION_OVERDUE, until, until))
    report = case.report_due_at
    if report is not None and not case.state.is_terminal and now > report:
        notices.append(Notice(REPORT_OVERDUE, report, report))
    return notices


def _order_times(case: Case, now: datetime | None) -> list[datetime]:
    """When the alerts of :func:`_order_notices` fall due, of those not due at ``now``."""
    times: list[datetime] = []
    until = case.supervised_until
    if case.state in OFFICE_DEADLINE_STATES and until is not None:
        if now is None or now <= until:
            times.append(until + _JUST_AFTER)
    report = case.report_due_at
    if report is not None and not case.state.is_terminal:
        if now is None or now <= report:
            times.append(report + _JUST_AFTER)
    return times


# An overdue alert or automatic close is due once the deadline has *passed* (now > deadline):
# the first instant that is so, at the databases' (and datetime's) resolution.
_JUST_AFTER = timedelta(microseconds=1)


def next_notice_at(
    case: Case, policy: DeadlinePolicy, schedule: SchedulePolicy, now: datetime | None
) -> datetime | None:
    """Return the earliest time a notice not yet due at ``now`` falls due for the case.

    None when no further notice can come in the case's current state (only a change to
    the case can bring one). ``now=None`` means nothing is known to be handled: the
    earliest time any notice of the current stage falls due, past or not. This is what
    :func:`due_notices` would first return that it did not return at ``now``, so a
    scheduler that looks at the case at that time (and after every change) misses nothing.
    """
    deadline = case.deadline_at
    times: list[datetime] = []
    if case.state in OFFICE_DEADLINE_STATES and deadline is not None:
        if now is None or now <= deadline:
            times.extend(
                at for _, at in reminder_times(case, policy, schedule) if now is None or at > now
            )
            times.append(deadline + _JUST_AFTER)  # the overdue alert
    elif case.state in WINDOW_STATES and deadline is not None:
        if now is None or now <= deadline:
            times.append(deadline + _JUST_AFTER)  # the automatic close
    else:
        due = followup_due_at(case, policy, schedule)
        if due is not None and case.closed_at is not None and (now is None or due > now):
            times.append(due)
    times.extend(_order_times(case, now))
    return min(times, default=None)


def check_after_change(case: Case) -> datetime | None:
    """Return when the scheduler must look at a case that has just changed.

    For storage, which writes every change but does not know the configuration (the
    reminder points, whether follow-ups are on): at the change itself, so the next pass
    looks at the case and stores the exact :func:`next_notice_at`; never, for a state that
    owes no notice under any configuration.
    """
    if case.state is CaseState.WITHDRAWN:
        return None
    return case.updated_at or case.created_at


def digest_key(now: datetime, schedule: SchedulePolicy) -> date | None:
    """Return the local date whose daily digest is due at ``now``, or None before the hour.

    Only today's digest is owed: after downtime of several days one digest is sent, not
    one per missed day (they would list the same cases).
    """
    local = now.astimezone(OFFICE_ZONE)
    if local.hour < schedule.digest_hour:
        return None
    return local.date()
