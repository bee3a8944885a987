"""The case lifecycle as an explicit transition table (DESIGN.md §4).

Each :class:`Rule` says which action moves a case from which states to which state,
which roles may take it and which fields it needs. :func:`apply` checks a request
against the table and the field rules, then updates the case and returns the record
that storage writes to the timeline.

Three acts of the offices change no state (:data:`OFFICE_ACTS`, each an
:class:`OfficeRule`): 督办 (a unit above sets the handling office a working deadline), 交办
(an office assigns the case down inside its subtree, with a report back due) and 上报 (that
report). :func:`apply` takes them too, so every act is checked and applied in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from petitions.case import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP, Case
from petitions.deadlines import OFFICE_DEADLINE_STATES, DeadlinePolicy, add_days, deadline_for
from petitions.errors import (
    ExtensionAlreadyUsed,
    InvalidField,
    InvalidTransition,
    MissingField,
    NotPermitted,
    ReviewWindowClosed,
)
from petitions.roles import Role
from petitions.states import WITHDRAWABLE_STATES, CaseState, Outcome, Redirect

__all__ = [
    "CONFLICT_DISCIPLINE",
    "CONFLICT_LEADERSHIP",
    "DECISIONS",
    "REVIEW_ACTS",
    "Action",
    "Fields",
    "MAX_TEXT",
    "NoReportOwed",
    "OFFICE_ACTS",
    "OfficeRule",
    "RecheckWindowClosed",
    "Rule",
    "TRANSITIONS",
    "TransitionRecord",
    "allowed_actions",
    "allowed_office_acts",
    "order_days_max",
    "apply",
    "can_view",
    "review_level",
    "rule_for",
]

MAX_TEXT = 4000  # characters of a reason or answer; longer texts are refused, not cut


class RecheckWindowClosed(ReviewWindowClosed):
    """A 复核 was requested after its window (after the 复查 opinion) had passed."""

    code = "recheck_window_closed"


class NoReportOwed(InvalidTransition):
    """上报办理情况 on a case no unit assigned down with a report due (or already reported)."""

    code = "no_report_owed"


class Action(StrEnum):
    """Something an actor does to a case."""

    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    TRANSFER = "transfer"
    START = "start"
    EXTEND = "extend"
    RESPOND = "respond"
    REQUEST_REVIEW = "request_review"
    START_REVIEW = "start_review"
    COMPLETE_REVIEW = "complete_review"
    REQUEST_RECHECK = "request_recheck"
    START_RECHECK = "start_recheck"
    COMPLETE_RECHECK = "complete_recheck"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    # The offices' acts that change no state (OFFICE_ACTS).
    SUPERVISE = "supervise"  # 督办
    ASSIGN_DOWN = "assign_down"  # 交办
    REPORT = "report"  # 上报办理情况


@dataclass(frozen=True)
class Fields:
    """What an actor supplies with an action; which ones are required depends on the rule."""

    reason: str | None = None
    outcome: Outcome | None = None
    extension_days: int | None = None
    destination: str | None = None
    # The unit a transfer goes to, resolved from ``destination`` by the handler; for a
    # request of 复查 / 复核, the unit deciding it (the parent / the parent's parent).
    unit_id: int | None = None
    redirect: Redirect | None = None
    text: str | None = None
    # 督办 / 交办: the working deadline (督办) or the report's (交办), in days from now.
    days: int | None = None
    # 督办's instruction and 上报's report: staff's texts, never pushed to the employee.
    instruction: str | None = None
    report: str | None = None


@dataclass(frozen=True)
class Rule:
    """One row of the transition table."""

    action: Action
    sources: frozenset[CaseState]
    target: CaseState
    roles: frozenset[Role]
    required: tuple[str, ...] = ()


_S = CaseState
_HANDLERS = frozenset({Role.OFFICER, Role.LEADER})
_LEADER = frozenset({Role.LEADER})
_EMPLOYEE = frozenset({Role.EMPLOYEE})

TRANSITIONS: tuple[Rule, ...] = (
    Rule(Action.ACCEPT, frozenset({_S.REGISTERED}), _S.ACCEPTED, _HANDLERS),
    Rule(
        Action.NOT_ACCEPT,
        frozenset({_S.REGISTERED}),
        _S.NOT_ACCEPTED,
        _HANDLERS,
        ("reason", "redirect"),
    ),
    Rule(
        Action.TRANSFER,
        frozenset({_S.REGISTERED, _S.ACCEPTED}),
        _S.TRANSFERRED,
        _HANDLERS,
        ("destination", "reason"),
    ),
    Rule(Action.START, frozenset({_S.ACCEPTED, _S.TRANSFERRED}), _S.IN_PROGRESS, _HANDLERS),
    Rule(
        Action.EXTEND,
        frozenset({_S.IN_PROGRESS}),
        _S.EXTENDED,
        _LEADER,
        ("extension_days", "reason"),
    ),
    Rule(
        Action.RESPOND,
        frozenset({_S.IN_PROGRESS, _S.EXTENDED}),
        _S.RESPONDED,
        _HANDLERS,
        ("outcome", "text"),
    ),
    Rule(
        Action.REQUEST_REVIEW,
        frozenset({_S.RESPONDED}),
        _S.REVIEW_REQUESTED,
        _EMPLOYEE,
        ("reason",),
    ),
    # The review steps are the deciding unit's office's (officers and leaders alike);
    # which unit that is, the handlers check (handlers.acts.may_decide).
    Rule(Action.START_REVIEW, frozenset({_S.REVIEW_REQUESTED}), _S.REVIEWING, _HANDLERS),
    Rule(
        Action.COMPLETE_REVIEW,
        frozenset({_S.REVIEWING}),
        _S.REVIEWED,
        _HANDLERS,
        ("outcome", "text"),
    ),
    Rule(
        Action.REQUEST_RECHECK,
        frozenset({_S.REVIEWED}),
        _S.RECHECK_REQUESTED,
        _EMPLOYEE,
        ("reason",),
    ),
    Rule(Action.START_RECHECK, frozenset({_S.RECHECK_REQUESTED}), _S.RECHECKING, _HANDLERS),
    Rule(
        Action.COMPLETE_RECHECK,
        frozenset({_S.RECHECKING}),
        _S.FINALIZED,
        _HANDLERS,
        ("outcome", "text"),
    ),
    Rule(
        Action.CLOSE,
        frozenset({_S.RESPONDED, _S.REVIEWED, _S.NOT_ACCEPTED}),
        _S.CLOSED,
        _HANDLERS | {Role.SYSTEM},
    ),
    Rule(Action.WITHDRAW, WITHDRAWABLE_STATES, _S.WITHDRAWN, _EMPLOYEE),
)


@dataclass(frozen=True)
class OfficeRule:
    """One of the offices' acts that change no state: in which states, by which roles,
    with which fields."""

    action: Action
    sources: frozenset[CaseState]
    roles: frozenset[Role]
    required: tuple[str, ...] = ()


# The handling steps (not the review steps, whose deciding unit follows the handling unit):
# a case may be assigned down while its handling office holds it.
_HANDLING = frozenset({_S.REGISTERED, _S.ACCEPTED, _S.TRANSFERRED, _S.IN_PROGRESS, _S.EXTENDED})

OFFICE_ACTS: tuple[OfficeRule, ...] = (
    # Which leaders (the units above the office of the step) the handlers check
    # (handlers.acts.may_decide).
    OfficeRule(Action.SUPERVISE, OFFICE_DEADLINE_STATES, _LEADER, ("days", "instruction")),
    OfficeRule(Action.ASSIGN_DOWN, _HANDLING, _HANDLERS, ("destination", "days", "reason")),
    # Owed until the case ends (its end is then on record for the assigning unit to see).
    OfficeRule(Action.REPORT, WITHDRAWABLE_STATES | {_S.NOT_ACCEPTED}, _HANDLERS, ("report",)),
)

_BY_ACTION: dict[Action, Rule | OfficeRule] = {rule.action: rule for rule in TRANSITIONS}
_BY_ACTION.update((rule.action, rule) for rule in OFFICE_ACTS)

# The acts of a review step, taken by the office of the unit deciding it (复查: the
# handling unit's parent; 复核: its grandparent), never by the unit whose answer is examined.
REVIEW_ACTS = frozenset(
    {
        Action.START_REVIEW,
        Action.COMPLETE_REVIEW,
        Action.START_RECHECK,
        Action.COMPLETE_RECHECK,
    }
)
# The acts that decide the petition in writing (答复, 复查意见, 复核意见).
DECISIONS = frozenset({Action.RESPOND, Action.COMPLETE_REVIEW, Action.COMPLETE_RECHECK})
_LEVEL = {
    Action.REQUEST_REVIEW: 1,
    Action.START_REVIEW: 1,
    Action.COMPLETE_REVIEW: 1,
    Action.REQUEST_RECHECK: 2,
    Action.START_RECHECK: 2,
    Action.COMPLETE_RECHECK: 2,
}


def review_level(action: Action) -> int:
    """How many units above the handling unit decide this act: 1 for the 复查 steps,
    2 for the 复核 steps, 0 for the handling unit's own acts."""
    return _LEVEL.get(action, 0)


@dataclass(frozen=True)
class TransitionRecord:
    """What happened, for the case's timeline and the audit log (an office act keeps the
    state: ``from_state`` is ``to_state``)."""

    case_id: int | None
    action: Action
    from_state: CaseState
    to_state: CaseState
    role: Role
    at: datetime
    fields: Fields


def rule_for(action: Action) -> Rule | OfficeRule:
    """Return the table row of an action (a transition's or an office act's)."""
    return _BY_ACTION[action]


def order_days_max(policy: DeadlinePolicy) -> int:
    """The most days a 督办 or a 交办 may give: the whole handling period, never more."""
    return policy.handle_days


def _effective_role(role: Role, case: Case) -> Role:
    # Cases discipline inspection handles (Case.handled_by_discipline) are handled by 纪检 in
    # the officers' and leaders' place, with a leader's rights (an extension included);
    # officers and leaders neither see nor act on them.
    if case.handled_by_discipline:
        if role is Role.DISCIPLINE:
            return Role.LEADER
        if role in (Role.OFFICER, Role.LEADER):
            return Role.CUSTODIAN  # a role with no handling rights
    return role


def can_view(role: Role, case: Case) -> bool:
    """Tell whether staff of this role may see the case's content: officers and leaders
    every case but those 纪检 handles, which only 纪检 sees (issue 13: 纪检 officers of the
    unit and above; the unit part is handlers.access.in_scope)."""
    if case.handled_by_discipline:
        return role is Role.DISCIPLINE
    return role in (Role.OFFICER, Role.LEADER)


def allowed_actions(case: Case, role: Role) -> list[Action]:
    """Return the actions this role may take on the case now, in table order."""
    effective = _effective_role(role, case)
    return [
        rule.action
        for rule in TRANSITIONS
        if case.state in rule.sources
        and effective in rule.roles
        and not (rule.action is Action.EXTEND and case.extension_days is not None)
    ]


def allowed_office_acts(case: Case, role: Role) -> list[Action]:
    """Return the office acts (督办, 交办, 上报) this role may take on the case now; which
    unit may take them the handlers decide."""
    effective = _effective_role(role, case)
    return [
        rule.action
        for rule in OFFICE_ACTS
        if case.state in rule.sources
        and effective in rule.roles
        and not (rule.action is Action.REPORT and case.report_due_at is None)
    ]


def _check_text(name: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_TEXT:
        raise InvalidField(field=name, max=MAX_TEXT)


def _check_fields(rule: Rule | OfficeRule, fields: Fields, policy: DeadlinePolicy) -> None:
    for name in rule.required:
        value = getattr(fields, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MissingField(field=name)
    for name in ("reason", "text", "destination", "instruction", "report"):
        _check_text(name, getattr(fields, name))
    if rule.action is Action.EXTEND:
        days = fields.extension_days
        if days is None or not 1 <= days <= policy.extension_max_days:
            raise InvalidField(field="extension_days", max=policy.extension_max_days)
    if rule.action in (Action.SUPERVISE, Action.ASSIGN_DOWN):
        most = order_days_max(policy)
        if fields.days is None or not 1 <= fields.days <= most:
            raise InvalidField(field="days", max=most)


def apply(
    case: Case,
    action: Action,
    role: Role,
    fields: Fields,
    now: datetime,
    policy: DeadlinePolicy,
) -> TransitionRecord:
    """Take an action on the case, updating it in place, or raise a DomainError."""
    rule = _BY_ACTION[action]
    if case.state not in rule.sources:
        raise InvalidTransition(action=action.value, state=case.state.value)
    if _effective_role(role, case) not in rule.roles:
        raise NotPermitted(action=action.value, role=role.value)
    if action is Action.EXTEND and case.extension_days is not None:
        raise ExtensionAlreadyUsed()
    if action is Action.REPORT and case.report_due_at is None:
        raise NoReportOwed()
    _check_fields(rule, fields, policy)
    if isinstance(rule, OfficeRule):
        _office_act(case, action, fields, now, policy)
        case.updated_at = now
        return TransitionRecord(case.id, action, case.state, case.state, role, now, fields)
    if action is Action.REQUEST_REVIEW:
        window_end = add_days(case.responded_at or now, policy.review_request_days, policy)
        if now > window_end:
            raise ReviewWindowClosed()
    if action is Action.REQUEST_RECHECK:
        # 复核 is asked within the same number of days after the 复查 opinion (art. 35).
        window_end = add_days(case.reviewed_at or now, policy.review_request_days, policy)
        if now > window_end:
            raise RecheckWindowClosed()

    from_state, step_deadline = case.state, case.deadline_at
    _update_milestones(case, action, fields, now, policy)
    case.state = rule.target
    case.deadline_at = deadline_for(case, policy)
    if case.deadline_at != step_deadline:
        # A new step: its overdue alert starts at the parent again, and a 督办's working
        # deadline was the last step's.
        case.supervision_level = 0
        case.supervised_until = None
    case.updated_at = now
    return TransitionRecord(case.id, action, from_state, rule.target, role, now, fields)


def _update_milestones(
    case: Case, action: Action, fields: Fields, now: datetime, policy: DeadlinePolicy
) -> None:
    if action in (Action.ACCEPT, Action.NOT_ACCEPT, Action.TRANSFER) and case.decided_at is None:
        case.decided_at = now
    if action is Action.TRANSFER:
        if fields.unit_id is not None:
            case.unit_id = fields.unit_id
        case.owner_officer_id = None
    elif action is Action.EXTEND:
        case.extension_days = fields.extension_days
    elif action is Action.RESPOND:
        case.responded_at = now
        case.outcome = fields.outcome
    elif action is Action.REQUEST_REVIEW:
        case.review_requested_at = now
        case.review_unit_id = fields.unit_id
    elif action is Action.COMPLETE_REVIEW:
        case.reviewed_at = now
        case.review_changed = fields.outcome != case.outcome
        case.outcome = fields.outcome
    elif action is Action.REQUEST_RECHECK:
        case.recheck_requested_at = now
        case.review_unit_id = fields.unit_id
    elif action is Action.COMPLETE_RECHECK:
        case.rechecked_at = now
        case.recheck_changed = fields.outcome != case.outcome
        case.outcome = fields.outcome
    if action in (Action.CLOSE, Action.COMPLETE_RECHECK, Action.WITHDRAW):
        case.closed_at = now
        # A report owed after a 交办 ends with the case: how it ended is on record.
        case.report_due_at = None
        if case.push_updates:
            # The address is needed for the follow-up after closing (or after the matter
            # became final); after withdrawal only for the last status message.
            keep = 1 if action is Action.WITHDRAW else policy.contact_keep_days
            case.contact_erase_at = now + timedelta(days=keep)


def _office_act(
    case: Case, action: Action, fields: Fields, now: datetime, policy: DeadlinePolicy
) -> None:
    if action is Action.SUPERVISE:
        # The office's working deadline; the statutory deadline (deadline_at) stays.
        assert fields.days is not None
        case.supervision_count += 1
        case.supervised_until = add_days(now, fields.days, policy)
    elif action is Action.ASSIGN_DOWN:
        assert fields.days is not None
        if fields.unit_id is not None:
            case.unit_id = fields.unit_id
        case.owner_officer_id = None  # the lower office chooses its own owner
        case.report_due_at = add_days(now, fields.days, policy)
    elif action is Action.REPORT:
        case.report_due_at = None
