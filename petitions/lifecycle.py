"""The case lifecycle as an explicit transition table (DESIGN.md §4).

Each :class:`Rule` says which action moves a case from which states to which state,
which roles may take it and which fields it needs. :func:`apply` checks a request
against the table and the field rules, then updates the case and returns the record
that storage writes to the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from petitions.case import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP, Case
from petitions.deadlines import DeadlinePolicy, add_days, deadline_for
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
    "RecheckWindowClosed",
    "Rule",
    "TRANSITIONS",
    "TransitionRecord",
    "allowed_actions",
    "apply",
    "can_view",
    "review_level",
    "rule_for",
]

MAX_TEXT = 4000  # characters of a reason or answer; longer texts are refused, not cut


class RecheckWindowClosed(ReviewWindowClosed):
    """A 复核 was requested after its window (after the 复查 opinion) had passed."""

    code = "recheck_window_closed"


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

_BY_ACTION = {rule.action: rule for rule in TRANSITIONS}

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
    """What happened, for the case's timeline and the audit log."""

    case_id: int | None
    action: Action
    from_state: CaseState
    to_state: CaseState
    role: Role
    at: datetime
    fields: Fields


def rule_for(action: Action) -> Rule:
    """Return the table row of an action."""
    return _BY_ACTION[action]


def _effective_role(role: Role, case: Case) -> Role:
    # Cases discipline inspection handles (Case.handled_by_discipline) are handled by 纪检 in
    # the officers' place; officers neither see nor act on them.
    if case.handled_by_discipline:
        if role is Role.DISCIPLINE:
            return Role.OFFICER
        if role is Role.OFFICER:
            return Role.CUSTODIAN  # a role with no handling rights
    return role


def can_view(role: Role, case: Case) -> bool:
    """Tell whether staff of this role may see the case's content."""
    if role is Role.LEADER:
        return True
    return _effective_role(role, case) is Role.OFFICER


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


def _check_text(name: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_TEXT:
        raise InvalidField(field=name, max=MAX_TEXT)


def _check_fields(rule: Rule, fields: Fields, policy: DeadlinePolicy) -> None:
    for name in rule.required:
        value = getattr(fields, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MissingField(field=name)
    for name in ("reason", "text", "destination"):
        _check_text(name, getattr(fields, name))
    if rule.action is Action.EXTEND:
        days = fields.extension_days
        if days is None or not 1 <= days <= policy.extension_max_days:
            raise InvalidField(field="extension_days", max=policy.extension_max_days)


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
    _check_fields(rule, fields, policy)
    if action is Action.REQUEST_REVIEW:
        window_end = add_days(case.responded_at or now, policy.review_request_days, policy)
        if now > window_end:
            raise ReviewWindowClosed()
    if action is Action.REQUEST_RECHECK:
        # 复核 is asked within the same number of days after the 复查 opinion (art. 35).
        window_end = add_days(case.reviewed_at or now, policy.review_request_days, policy)
        if now > window_end:
            raise RecheckWindowClosed()

    from_state = case.state
    _update_milestones(case, action, fields, now, policy)
    case.state = rule.target
    case.deadline_at = deadline_for(case, policy)
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
        case.outcome = fields.outcome
    elif action is Action.REQUEST_RECHECK:
        case.recheck_requested_at = now
        case.review_unit_id = fields.unit_id
    elif action is Action.COMPLETE_RECHECK:
        case.rechecked_at = now
        case.outcome = fields.outcome
    if action in (Action.CLOSE, Action.COMPLETE_RECHECK, Action.WITHDRAW):
        case.closed_at = now
        if case.push_updates:
            # The address is needed for the follow-up after closing (or after the matter
            # became final); after withdrawal only for the last status message.
            keep = 1 if action is Action.WITHDRAW else policy.contact_keep_days
            case.contact_erase_at = now + timedelta(days=keep)
