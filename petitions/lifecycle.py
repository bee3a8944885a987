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

from petitions.case import Case
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
    "Action",
    "Fields",
    "MAX_TEXT",
    "Rule",
    "TRANSITIONS",
    "TransitionRecord",
    "allowed_actions",
    "apply",
    "can_view",
    "rule_for",
]

# Case.conflict values: the matter concerns the chosen unit's leadership, so the case went
# to the parent unit (leadership) or to discipline inspection (discipline).
CONFLICT_LEADERSHIP = "leadership"
CONFLICT_DISCIPLINE = "discipline"

MAX_TEXT = 4000  # characters of a reason or answer; longer texts are refused, not cut


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
    CLOSE = "close"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Fields:
    """What an actor supplies with an action; which ones are required depends on the rule."""

    reason: str | None = None
    outcome: Outcome | None = None
    extension_days: int | None = None
    destination: str | None = None
    # The unit a transfer goes to, resolved from ``destination`` by the handler.
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
    Rule(Action.START_REVIEW, frozenset({_S.REVIEW_REQUESTED}), _S.REVIEWING, _LEADER),
    Rule(
        Action.COMPLETE_REVIEW,
        frozenset({_S.REVIEWING}),
        _S.REVIEWED,
        _LEADER,
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
    # Reports of violations, and petitions whose employee sent them to 纪检 because they
    # concern their unit's leaders, are handled by discipline inspection in the officers'
    # place; officers neither see nor act on them.
    if case.category.routes_to_discipline or case.conflict == CONFLICT_DISCIPLINE:
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
    elif action is Action.COMPLETE_REVIEW:
        case.reviewed_at = now
        case.outcome = fields.outcome
    elif action in (Action.CLOSE, Action.WITHDRAW):
        case.closed_at = now
        if case.push_updates:
            # The address is needed for the follow-up after closing; after withdrawal only
            # for the last status message.
            keep = policy.contact_keep_days if action is Action.CLOSE else 1
            case.contact_erase_at = now + timedelta(days=keep)
