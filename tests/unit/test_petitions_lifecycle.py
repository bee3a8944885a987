"""The case lifecycle: who may move a case from which state to which, and what it records.

The expected transition table below is written by hand from DESIGN.md §4, independently of
``petitions.lifecycle.TRANSITIONS``, so that a wrong row in either one fails a test.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from petitions.case import Case
from petitions.categories import Category
from petitions.deadlines import DeadlinePolicy, deadline_for
from petitions.errors import (
    CaseNotFound,
    DomainError,
    ExtensionAlreadyUsed,
    InvalidField,
    InvalidTrackingCode,
    InvalidTransition,
    MissingField,
    NotPermitted,
    ReviewWindowClosed,
    XinfangError,
)
from petitions.lifecycle import (
    MAX_TEXT,
    OFFICE_ACTS,
    REVIEW_ACTS,
    Action,
    Fields,
    RecheckWindowClosed,
    allowed_actions,
    apply,
    can_view,
    review_level,
)
from petitions.roles import Role
from petitions.states import CaseState, Outcome, Redirect
from tests.helpers.builders import CREATED_AT, make_case

S = CaseState
A = Action
POLICY = DeadlinePolicy()
# The acts that move a case; the offices' acts that change no state (督办, 交办, 上报) have
# their own tests (tests/unit/test_supervision.py).
TRANSITION_ACTIONS = [a for a in Action if a not in {r.action for r in OFFICE_ACTS}]

# --- the expected rules, by hand -----------------------------------------------------------

# (state, action) -> target. WITHDRAWN is reachable "from any open state" (DESIGN.md §4):
# every state except the terminal CLOSED, FINALIZED and WITHDRAWN and the decided
# NOT_ACCEPTED, whose answer already named the right channel (a deliberate reading of "open",
# see the README).
_ENDED = (S.CLOSED, S.FINALIZED, S.WITHDRAWN)
_OPEN_STATES = [s for s in CaseState if s not in (*_ENDED, S.NOT_ACCEPTED)]
EXPECTED_TARGETS: dict[tuple[CaseState, Action], CaseState] = {
    (S.REGISTERED, A.ACCEPT): S.ACCEPTED,
    (S.REGISTERED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
    (S.REGISTERED, A.TRANSFER): S.TRANSFERRED,
    (S.ACCEPTED, A.TRANSFER): S.TRANSFERRED,  # reassignment is a recorded transfer
    (S.ACCEPTED, A.START): S.IN_PROGRESS,
    (S.TRANSFERRED, A.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.EXTEND): S.EXTENDED,
    (S.IN_PROGRESS, A.RESPOND): S.RESPONDED,
    (S.EXTENDED, A.RESPOND): S.RESPONDED,
    (S.RESPONDED, A.REQUEST_REVIEW): S.REVIEW_REQUESTED,
    (S.REVIEW_REQUESTED, A.START_REVIEW): S.REVIEWING,
    (S.REVIEWING, A.COMPLETE_REVIEW): S.REVIEWED,
    # 复核: asked after the 复查 opinion, decided by the parent's parent; then final.
    (S.REVIEWED, A.REQUEST_RECHECK): S.RECHECK_REQUESTED,
    (S.RECHECK_REQUESTED, A.START_RECHECK): S.RECHECKING,
    (S.RECHECKING, A.COMPLETE_RECHECK): S.FINALIZED,
    (S.NOT_ACCEPTED, A.CLOSE): S.CLOSED,
    (S.RESPONDED, A.CLOSE): S.CLOSED,
    (S.REVIEWED, A.CLOSE): S.CLOSED,
    **{(state, A.WITHDRAW): S.WITHDRAWN for state in _OPEN_STATES},
}

_OFFICE = frozenset({Role.OFFICER, Role.LEADER})
_LEADER = frozenset({Role.LEADER})
_EMPLOYEE = frozenset({Role.EMPLOYEE})
EXPECTED_ROLES: dict[Action, frozenset[Role]] = {
    A.ACCEPT: _OFFICE,
    A.NOT_ACCEPT: _OFFICE,
    A.TRANSFER: _OFFICE,
    A.START: _OFFICE,
    A.EXTEND: _LEADER,  # an extension needs an approver
    A.RESPOND: _OFFICE,
    A.REQUEST_REVIEW: _EMPLOYEE,
    # The deciding unit's office, officers and leaders alike (which unit: handlers.acts).
    A.START_REVIEW: _OFFICE,
    A.COMPLETE_REVIEW: _OFFICE,
    A.REQUEST_RECHECK: _EMPLOYEE,
    A.START_RECHECK: _OFFICE,
    A.COMPLETE_RECHECK: _OFFICE,
    A.CLOSE: _OFFICE | {Role.SYSTEM},  # the scheduler closes cases whose window passed
    A.WITHDRAW: _EMPLOYEE,
}

EXPECTED_REQUIRED: dict[Action, tuple[str, ...]] = {
    A.ACCEPT: (),
    A.NOT_ACCEPT: ("reason", "redirect"),
    A.TRANSFER: ("destination", "reason"),
    A.START: (),
    A.EXTEND: ("extension_days", "reason"),
    A.RESPOND: ("outcome", "text"),
    A.REQUEST_REVIEW: ("reason",),
    A.START_REVIEW: (),
    A.COMPLETE_REVIEW: ("outcome", "text"),
    A.REQUEST_RECHECK: ("reason",),
    A.START_RECHECK: (),
    A.COMPLETE_RECHECK: ("outcome", "text"),
    A.CLOSE: (),
    A.WITHDRAW: (),
}

# Cells where petitions/ disagrees with DESIGN.md; reported, not fixed here.
KNOWN_DISAGREEMENTS: dict[tuple[CaseState, Action], str] = {}


def expected_roles(action: Action, category: Category) -> frozenset[Role]:
    """Roles that may act; on discipline reports the 纪检 role stands in for officers and
    leaders (with a leader's rights: an extension too), who may not act on them."""
    roles = EXPECTED_ROLES[action]
    if category is Category.DISCIPLINE and roles & {Role.OFFICER, Role.LEADER}:
        roles = (roles - {Role.OFFICER, Role.LEADER}) | {Role.DISCIPLINE}
    return roles


# --- case and field builders ---------------------------------------------------------------

DECIDED_AT = CREATED_AT + timedelta(days=2)
RESPONDED_AT = CREATED_AT + timedelta(days=40)
REVIEW_REQUESTED_AT = CREATED_AT + timedelta(days=45)
REVIEWED_AT = CREATED_AT + timedelta(days=60)
RECHECK_REQUESTED_AT = CREATED_AT + timedelta(days=62)
RECHECKED_AT = CREATED_AT + timedelta(days=64)
# Late enough for every milestone above and still inside the review and recheck windows.
NOW = RESPONDED_AT + timedelta(days=25)

_AFTER_DECISION = set(CaseState) - {S.REGISTERED}
_AFTER_RECHECK_REQUEST = {S.RECHECK_REQUESTED, S.RECHECKING, S.FINALIZED}
_AFTER_REVIEW = {S.REVIEWED, *_AFTER_RECHECK_REQUEST}
_AFTER_REVIEW_REQUEST = {S.REVIEW_REQUESTED, S.REVIEWING, *_AFTER_REVIEW}
_AFTER_RESPONSE = {S.RESPONDED, *_AFTER_REVIEW_REQUEST}


def case_in(state: CaseState, category: Category = Category.PAY, **overrides: object) -> Case:
    """Return a case standing in ``state`` with the milestones that state implies."""
    values: dict[str, object] = {"state": state, "category": category, "id": 42}
    if state in _AFTER_DECISION:
        values["decided_at"] = DECIDED_AT
        values["owner_officer_id"] = 7
    if state is S.EXTENDED:
        values["extension_days"] = 10
    if state in _AFTER_RESPONSE:
        values["responded_at"] = RESPONDED_AT
        values["outcome"] = Outcome.EXPLAINED
    if state in _AFTER_REVIEW_REQUEST:
        values["review_requested_at"] = REVIEW_REQUESTED_AT
    if state in _AFTER_REVIEW:
        values["reviewed_at"] = REVIEWED_AT
    if state in _AFTER_RECHECK_REQUEST:
        values["recheck_requested_at"] = RECHECK_REQUESTED_AT
    if state is S.FINALIZED:
        values["rechecked_at"] = RECHECKED_AT
    if state.is_terminal:
        values["closed_at"] = REVIEWED_AT
    values.update(overrides)
    case = make_case(**values)
    case.deadline_at = deadline_for(case, POLICY)
    return case


FULL_FIELDS = Fields(
    reason="员工多次反映未果",
    outcome=Outcome.SUPPORTED,
    extension_days=10,
    destination="人力资源部",
    redirect=Redirect.ARBITRATION,
    text="经核实，欠发工资将于本月补发。",
)


def snapshot(case: Case) -> Case:
    return copy.deepcopy(case)


def assert_unchanged(case: Case, before: Case) -> None:
    assert case == before
    assert case.updated_at == before.updated_at


# --- every state x action x role ------------------------------------------------------------


def _cross_product() -> list[object]:
    params = []
    for category, state, action, role in itertools.product(
        (Category.PAY, Category.DISCIPLINE), CaseState, TRANSITION_ACTIONS, Role
    ):
        marks = []
        if (state, action) in KNOWN_DISAGREEMENTS:
            marks.append(
                pytest.mark.xfail(reason=KNOWN_DISAGREEMENTS[(state, action)], strict=True)
            )
        params.append(
            pytest.param(
                category,
                state,
                action,
                role,
                marks=marks,
                id=f"{category}-{state}-{action}-{role}",
            )
        )
    return params


@pytest.mark.parametrize(("category", "state", "action", "role"), _cross_product())
def test_every_state_action_and_role_either_moves_to_the_expected_state_or_is_refused(
    category: Category, state: CaseState, action: Action, role: Role
) -> None:
    case = case_in(state, category)
    before = snapshot(case)
    target = EXPECTED_TARGETS.get((state, action))

    if target is None:
        with pytest.raises(InvalidTransition) as raised:
            apply(case, action, role, FULL_FIELDS, NOW, POLICY)
        assert raised.value.params == {"action": action.value, "state": state.value}
        assert_unchanged(case, before)
    elif role not in expected_roles(action, category):
        with pytest.raises(NotPermitted) as raised:
            apply(case, action, role, FULL_FIELDS, NOW, POLICY)
        assert raised.value.params == {"action": action.value, "role": role.value}
        assert_unchanged(case, before)
    else:
        record = apply(case, action, role, FULL_FIELDS, NOW, POLICY)
        assert case.state is target
        assert (record.action, record.from_state, record.to_state) == (action, state, target)
        assert (record.case_id, record.role, record.at, record.fields) == (
            42,
            role,
            NOW,
            FULL_FIELDS,
        )
        assert case.updated_at == NOW


def test_the_expected_table_names_every_state_and_action_it_uses() -> None:
    # Guards the hand-written table against typos that would silently shrink it.
    assert {s for s, _ in EXPECTED_TARGETS} | set(_ENDED) == set(CaseState)
    assert {a for _, a in EXPECTED_TARGETS} == set(TRANSITION_ACTIONS)
    assert set(EXPECTED_ROLES) == set(TRANSITION_ACTIONS) == set(EXPECTED_REQUIRED)


@pytest.mark.parametrize("state", list(_ENDED))
@pytest.mark.parametrize("role", list(Role))
def test_terminal_cases_take_no_action_from_anyone(state: CaseState, role: Role) -> None:
    for action in Action:
        with pytest.raises(InvalidTransition):
            apply(case_in(state), action, role, FULL_FIELDS, NOW, POLICY)


# --- ordering of checks -------------------------------------------------------------------


def test_the_state_is_checked_before_the_role() -> None:
    # Wrong state and wrong role at once: the state wins.
    case = case_in(S.CLOSED)
    with pytest.raises(InvalidTransition):
        apply(case, A.ACCEPT, Role.EMPLOYEE, FULL_FIELDS, NOW, POLICY)


def test_the_role_is_checked_before_the_fields() -> None:
    with pytest.raises(NotPermitted):
        apply(case_in(S.REGISTERED), A.NOT_ACCEPT, Role.EMPLOYEE, Fields(), NOW, POLICY)


def test_the_state_is_checked_before_the_fields() -> None:
    with pytest.raises(InvalidTransition):
        apply(case_in(S.CLOSED), A.NOT_ACCEPT, Role.OFFICER, Fields(), NOW, POLICY)


# --- required and invalid fields ----------------------------------------------------------

_SOURCE_OF = {
    A.ACCEPT: S.REGISTERED,
    A.NOT_ACCEPT: S.REGISTERED,
    A.TRANSFER: S.ACCEPTED,
    A.START: S.ACCEPTED,
    A.EXTEND: S.IN_PROGRESS,
    A.RESPOND: S.IN_PROGRESS,
    A.REQUEST_REVIEW: S.RESPONDED,
    A.START_REVIEW: S.REVIEW_REQUESTED,
    A.COMPLETE_REVIEW: S.REVIEWING,
    A.REQUEST_RECHECK: S.REVIEWED,
    A.START_RECHECK: S.RECHECK_REQUESTED,
    A.COMPLETE_RECHECK: S.RECHECKING,
    A.CLOSE: S.RESPONDED,
    A.WITHDRAW: S.IN_PROGRESS,
}
_ACTOR_OF = {action: sorted(EXPECTED_ROLES[action])[0] for action in TRANSITION_ACTIONS}
_REQUIRED_PAIRS = [(a, f) for a, names in EXPECTED_REQUIRED.items() for f in names]
_STRING_FIELDS = {"reason", "destination", "text"}


def act(
    action: Action,
    fields: Fields,
    *,
    case: Case | None = None,
    now: datetime = NOW,
    policy: DeadlinePolicy = POLICY,
) -> Case:
    """Apply ``action`` by an allowed role to a case in a fitting state; return the case."""
    case = case if case is not None else case_in(_SOURCE_OF[action])
    apply(case, action, _ACTOR_OF[action], fields, now, policy)
    return case


def with_field(name: str, value: object) -> Fields:
    return dataclasses.replace(FULL_FIELDS, **{name: value})


@pytest.mark.parametrize(("action", "name"), _REQUIRED_PAIRS, ids=lambda v: str(v))
def test_a_required_field_that_is_absent_raises_missing_field(action: Action, name: str) -> None:
    case = case_in(_SOURCE_OF[action])
    before = snapshot(case)
    with pytest.raises(MissingField) as raised:
        act(action, with_field(name, None), case=case)
    assert raised.value.params == {"field": name}
    assert_unchanged(case, before)


_BLANKS = ["", " ", "   ", "\t\n", "\u3000"]  # the last is the ideographic (full-width) space
_BLANK_PAIRS = [(a, f, b) for a, f in _REQUIRED_PAIRS if f in _STRING_FIELDS for b in _BLANKS]


@pytest.mark.parametrize(("action", "name", "blank"), _BLANK_PAIRS, ids=repr)
def test_a_required_text_of_only_whitespace_counts_as_missing(
    action: Action, name: str, blank: str
) -> None:
    with pytest.raises(MissingField) as raised:
        act(action, with_field(name, blank))
    assert raised.value.params == {"field": name}


@pytest.mark.parametrize("action", [a for a, names in EXPECTED_REQUIRED.items() if not names])
def test_actions_without_required_fields_succeed_with_no_fields(action: Action) -> None:
    case = act(action, Fields())
    assert case.state is EXPECTED_TARGETS[(_SOURCE_OF[action], action)]


@pytest.mark.parametrize(
    ("action", "name"),
    [(A.NOT_ACCEPT, "reason"), (A.TRANSFER, "destination"), (A.RESPOND, "text")],
)
def test_a_text_of_max_text_characters_is_accepted(action: Action, name: str) -> None:
    case = act(action, with_field(name, "字" * MAX_TEXT))
    assert case.state is EXPECTED_TARGETS[(_SOURCE_OF[action], action)]


@pytest.mark.parametrize(
    ("action", "name"),
    [
        (A.NOT_ACCEPT, "reason"),
        (A.TRANSFER, "destination"),
        (A.RESPOND, "text"),
        (A.COMPLETE_REVIEW, "text"),
        (A.REQUEST_REVIEW, "reason"),
        (A.ACCEPT, "reason"),  # optional texts are limited too
    ],
)
def test_a_text_longer_than_max_text_is_refused_not_cut(action: Action, name: str) -> None:
    case = case_in(_SOURCE_OF[action])
    before = snapshot(case)
    with pytest.raises(InvalidField) as raised:
        act(action, with_field(name, "字" * (MAX_TEXT + 1)), case=case)
    assert raised.value.params == {"field": name, "max": MAX_TEXT}
    assert_unchanged(case, before)


@pytest.mark.parametrize("days", [0, -1, 31, 365])
def test_an_extension_outside_one_to_thirty_days_is_an_invalid_field(days: int) -> None:
    case = case_in(S.IN_PROGRESS)
    before = snapshot(case)
    with pytest.raises(InvalidField) as raised:
        act(A.EXTEND, with_field("extension_days", days), case=case)
    assert raised.value.params == {"field": "extension_days", "max": 30}
    assert_unchanged(case, before)


@pytest.mark.parametrize("days", [1, 30])
def test_an_extension_of_one_to_thirty_days_is_granted(days: int) -> None:
    case = act(A.EXTEND, with_field("extension_days", days))
    assert case.state is S.EXTENDED
    assert case.extension_days == days
    assert case.deadline_at == DECIDED_AT + timedelta(days=60 + days)


def test_an_extension_longer_than_the_deployments_maximum_is_refused() -> None:
    policy = DeadlinePolicy(extension_max_days=10)
    with pytest.raises(InvalidField) as raised:
        act(A.EXTEND, with_field("extension_days", 11), policy=policy)
    assert raised.value.params == {"field": "extension_days", "max": 10}
    assert act(A.EXTEND, with_field("extension_days", 10), policy=policy).extension_days == 10


def test_a_second_extension_raises_extension_already_used() -> None:
    # EXTEND only leaves IN_PROGRESS, so an already extended case there is built by hand.
    case = case_in(S.IN_PROGRESS, extension_days=10)
    before = snapshot(case)
    with pytest.raises(ExtensionAlreadyUsed):
        act(A.EXTEND, FULL_FIELDS, case=case)
    assert_unchanged(case, before)


# --- the review window --------------------------------------------------------------------


def test_a_review_requested_exactly_at_the_window_edge_is_accepted() -> None:
    edge = RESPONDED_AT + timedelta(days=30)
    case = act(A.REQUEST_REVIEW, FULL_FIELDS, now=edge)
    assert case.state is S.REVIEW_REQUESTED
    assert case.review_requested_at == edge


def test_a_review_requested_after_the_window_raises_review_window_closed() -> None:
    case = case_in(S.RESPONDED)
    before = snapshot(case)
    late = RESPONDED_AT + timedelta(days=30, microseconds=1)
    with pytest.raises(ReviewWindowClosed):
        act(A.REQUEST_REVIEW, FULL_FIELDS, case=case, now=late)
    assert_unchanged(case, before)


def test_the_review_window_follows_the_deployments_policy() -> None:
    policy = DeadlinePolicy(review_request_days=7)
    ok = act(A.REQUEST_REVIEW, FULL_FIELDS, now=RESPONDED_AT + timedelta(days=7), policy=policy)
    assert ok.state is S.REVIEW_REQUESTED
    with pytest.raises(ReviewWindowClosed):
        act(
            A.REQUEST_REVIEW,
            FULL_FIELDS,
            now=RESPONDED_AT + timedelta(days=7, seconds=1),
            policy=policy,
        )


# --- discipline reports (纪检) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "on_discipline", "on_other"),
    [
        (Role.OFFICER, False, True),
        (Role.DISCIPLINE, True, False),
        (Role.LEADER, False, True),  # 纪检 cases: 纪检 only (issue 13)
        (Role.CUSTODIAN, False, False),
        (Role.EMPLOYEE, False, False),
        (Role.SYSTEM, False, False),
    ],
)
def test_who_may_view_a_case_depends_on_whether_it_reports_a_violation(
    role: Role, on_discipline: bool, on_other: bool
) -> None:
    assert can_view(role, case_in(S.REGISTERED, Category.DISCIPLINE)) is on_discipline
    assert can_view(role, case_in(S.REGISTERED, Category.PAY)) is on_other


def test_an_officer_may_not_act_on_a_discipline_report() -> None:
    case = case_in(S.REGISTERED, Category.DISCIPLINE)
    with pytest.raises(NotPermitted) as raised:
        apply(case, A.ACCEPT, Role.OFFICER, FULL_FIELDS, NOW, POLICY)
    # The error names the actor's real role, not the one it was mapped to.
    assert raised.value.params == {"action": "accept", "role": "officer"}


@pytest.mark.parametrize("state", list(CaseState))
def test_an_officer_has_no_actions_on_a_discipline_report_in_any_state(state: CaseState) -> None:
    assert allowed_actions(case_in(state, Category.DISCIPLINE), Role.OFFICER) == []


def test_the_discipline_role_handles_a_discipline_report_in_the_officers_place() -> None:
    case = case_in(S.REGISTERED, Category.DISCIPLINE)
    record = apply(case, A.ACCEPT, Role.DISCIPLINE, FULL_FIELDS, NOW, POLICY)
    assert case.state is S.ACCEPTED
    assert record.role is Role.DISCIPLINE
    for action, fields in [(A.START, Fields()), (A.RESPOND, FULL_FIELDS)]:
        apply(case, action, Role.DISCIPLINE, fields, NOW, POLICY)
    assert case.state is S.RESPONDED


def test_the_discipline_role_may_not_act_on_ordinary_petitions() -> None:
    with pytest.raises(NotPermitted):
        apply(case_in(S.REGISTERED), A.ACCEPT, Role.DISCIPLINE, FULL_FIELDS, NOW, POLICY)


def test_discipline_inspection_extends_its_own_reports_and_a_leader_may_not() -> None:
    case = case_in(S.IN_PROGRESS, Category.DISCIPLINE)
    with pytest.raises(NotPermitted):
        apply(case, A.EXTEND, Role.LEADER, FULL_FIELDS, NOW, POLICY)
    apply(case, A.EXTEND, Role.DISCIPLINE, FULL_FIELDS, NOW, POLICY)
    assert case.state is S.EXTENDED


# --- milestones and deadlines -------------------------------------------------------------


@pytest.mark.parametrize("action", [A.ACCEPT, A.NOT_ACCEPT, A.TRANSFER])
def test_deciding_on_a_registered_case_records_when_it_was_decided(action: Action) -> None:
    case = act(action, FULL_FIELDS, case=case_in(S.REGISTERED))
    assert case.decided_at == NOW


def test_a_transfer_after_acceptance_keeps_the_original_decision_time() -> None:
    case = case_in(S.ACCEPTED)
    act(A.TRANSFER, FULL_FIELDS, case=case)
    assert case.decided_at == DECIDED_AT


def test_a_transfer_hands_the_case_to_the_destination_unit_and_clears_the_officer() -> None:
    case = case_in(S.ACCEPTED, owner_officer_id=7, unit_id=3)
    act(A.TRANSFER, replace(with_field("destination", "人力资源部"), unit_id=5), case=case)
    assert case.unit_id == 5
    assert case.owner_officer_id is None


def test_a_response_records_when_and_with_which_outcome() -> None:
    case = act(A.RESPOND, with_field("outcome", Outcome.NOT_SUPPORTED))
    assert case.responded_at == NOW
    assert case.outcome is Outcome.NOT_SUPPORTED


def test_a_review_request_records_when_it_was_asked() -> None:
    case = act(A.REQUEST_REVIEW, FULL_FIELDS)
    assert case.review_requested_at == NOW


def test_a_completed_review_records_when_and_replaces_the_outcome() -> None:
    case = act(A.COMPLETE_REVIEW, with_field("outcome", Outcome.SUPPORTED))
    assert case.reviewed_at == NOW
    assert case.outcome is Outcome.SUPPORTED


@pytest.mark.parametrize(
    ("state", "action"), [(S.RESPONDED, A.CLOSE), (S.IN_PROGRESS, A.WITHDRAW)]
)
def test_closing_or_withdrawing_records_when_the_case_ended(
    state: CaseState, action: Action
) -> None:
    case = act(action, Fields(), case=case_in(state))
    assert case.closed_at == NOW
    assert case.deadline_at is None
    assert not case.is_open


@pytest.mark.parametrize("action", [A.ACCEPT, A.START, A.START_REVIEW])
def test_actions_without_milestones_leave_the_milestones_alone(action: Action) -> None:
    case = case_in(_SOURCE_OF[action])
    before = snapshot(case)
    act(action, Fields(), case=case)
    for name in ("responded_at", "review_requested_at", "reviewed_at", "closed_at", "outcome"):
        assert getattr(case, name) == getattr(before, name)


def test_the_deadline_is_recomputed_after_every_step_of_a_full_journey() -> None:
    def day(n: int) -> datetime:
        return CREATED_AT + timedelta(days=n)

    case = make_case()
    steps = [
        # action, role, fields, at, expected deadline afterwards
        (A.ACCEPT, Role.OFFICER, Fields(), day(3), day(3 + 60)),
        (A.START, Role.OFFICER, Fields(), day(4), day(3 + 60)),
        (A.EXTEND, Role.LEADER, with_field("extension_days", 20), day(50), day(3 + 60 + 20)),
        (A.RESPOND, Role.OFFICER, FULL_FIELDS, day(70), day(70 + 30)),
        (A.REQUEST_REVIEW, Role.EMPLOYEE, FULL_FIELDS, day(80), day(80 + 30)),
        (A.START_REVIEW, Role.LEADER, Fields(), day(85), day(80 + 30)),
        (A.COMPLETE_REVIEW, Role.LEADER, FULL_FIELDS, day(100), day(100 + 30)),
        (A.CLOSE, Role.SYSTEM, Fields(), day(131), None),
    ]
    states = []
    for action, role, fields, at, expected_deadline in steps:
        apply(case, action, role, fields, at, POLICY)
        states.append(case.state)
        assert case.deadline_at == expected_deadline, action
        assert case.updated_at == at
    assert states == [
        S.ACCEPTED,
        S.IN_PROGRESS,
        S.EXTENDED,
        S.RESPONDED,
        S.REVIEW_REQUESTED,
        S.REVIEWING,
        S.REVIEWED,
        S.CLOSED,
    ]
    assert (case.decided_at, case.responded_at, case.closed_at) == (day(3), day(70), day(131))


def test_a_not_accepted_case_gets_the_employees_window_as_its_deadline() -> None:
    case = act(A.NOT_ACCEPT, FULL_FIELDS, case=case_in(S.REGISTERED))
    assert case.deadline_at == NOW + timedelta(days=30)


def test_a_transferred_case_keeps_the_handling_deadline_of_the_first_decision() -> None:
    case = act(A.TRANSFER, FULL_FIELDS, case=case_in(S.ACCEPTED))
    assert case.deadline_at == DECIDED_AT + timedelta(days=60)


def test_a_custom_policy_sets_the_deadline_after_a_transition() -> None:
    policy = DeadlinePolicy(handle_days=20)
    case = act(A.ACCEPT, Fields(), case=case_in(S.REGISTERED), policy=policy)
    assert case.deadline_at == NOW + timedelta(days=20)


# --- allowed_actions ----------------------------------------------------------------------


def _permitted_by_apply(case: Case, role: Role) -> list[Action]:
    permitted = []
    for action in TRANSITION_ACTIONS:
        try:
            apply(snapshot(case), action, role, FULL_FIELDS, NOW, POLICY)
        except DomainError:
            continue
        permitted.append(action)
    return permitted


@pytest.mark.parametrize("category", [Category.PAY, Category.DISCIPLINE])
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    "state", [S.REGISTERED, S.ACCEPTED, S.IN_PROGRESS, S.RESPONDED, S.REVIEWING, S.CLOSED]
)
def test_allowed_actions_are_exactly_what_apply_permits(
    state: CaseState, role: Role, category: Category
) -> None:
    case = case_in(state, category)
    allowed = allowed_actions(case, role)
    assert allowed == _permitted_by_apply(case, role)
    expected = [
        action
        for action in Action
        if (state, action) in EXPECTED_TARGETS and role in expected_roles(action, category)
    ]
    assert sorted(allowed) == sorted(expected)


def test_allowed_actions_hide_extend_once_the_case_was_extended() -> None:
    fresh = case_in(S.IN_PROGRESS)
    extended = case_in(S.IN_PROGRESS, extension_days=10)
    assert A.EXTEND in allowed_actions(fresh, Role.LEADER)
    assert A.EXTEND not in allowed_actions(extended, Role.LEADER)
    assert A.RESPOND in allowed_actions(extended, Role.LEADER)


def test_allowed_actions_do_not_change_the_case() -> None:
    case = case_in(S.IN_PROGRESS)
    before = snapshot(case)
    allowed_actions(case, Role.LEADER)
    assert_unchanged(case, before)


# --- error objects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "code"),
    [
        (XinfangError, "internal"),
        (DomainError, "domain"),
        (InvalidTransition, "invalid_transition"),
        (NotPermitted, "not_permitted"),
        (MissingField, "missing_field"),
        (InvalidField, "invalid_field"),
        (ExtensionAlreadyUsed, "extension_used"),
        (ReviewWindowClosed, "review_window_closed"),
        (InvalidTrackingCode, "invalid_tracking_code"),
        (CaseNotFound, "case_not_found"),
    ],
)
def test_every_error_has_a_stable_code(error_type: type[XinfangError], code: str) -> None:
    assert error_type.code == code
    assert error_type().code == code
    assert issubclass(error_type, XinfangError)
    if error_type is not XinfangError:
        assert issubclass(error_type, DomainError)


def test_error_params_are_kept_for_the_translated_message() -> None:
    error = InvalidField(field="extension_days", max=30)
    assert error.params == {"field": "extension_days", "max": 30}
    assert "invalid_field" in str(error)
    assert ExtensionAlreadyUsed().params == {}


SECRET = "张三 工号 A1234 电话 13800138000"


def _raised_by(case: Case, action: Action, role: Role, fields: Fields, now: datetime) -> Exception:
    with pytest.raises(DomainError) as raised:
        apply(case, action, role, fields, now, POLICY)
    return raised.value


@pytest.mark.parametrize(
    "scenario",
    ["invalid_transition", "not_permitted", "missing_field", "too_long", "extension", "late"],
)
def test_errors_never_carry_the_petitions_text(scenario: str) -> None:
    secret_fields = dataclasses.replace(FULL_FIELDS, reason=SECRET, text=SECRET)
    late = RESPONDED_AT + timedelta(days=31)
    cases = {
        "invalid_transition": (S.CLOSED, A.ACCEPT, Role.OFFICER, secret_fields, NOW),
        "not_permitted": (S.REGISTERED, A.ACCEPT, Role.EMPLOYEE, secret_fields, NOW),
        "missing_field": (
            S.REGISTERED,
            A.NOT_ACCEPT,
            Role.OFFICER,
            dataclasses.replace(secret_fields, redirect=None),
            NOW,
        ),
        "too_long": (
            S.IN_PROGRESS,
            A.RESPOND,
            Role.OFFICER,
            dataclasses.replace(secret_fields, text=SECRET * 1000),
            NOW,
        ),
        "extension": (
            S.IN_PROGRESS,
            A.EXTEND,
            Role.LEADER,
            dataclasses.replace(secret_fields, extension_days=99),
            NOW,
        ),
        "late": (S.RESPONDED, A.REQUEST_REVIEW, Role.EMPLOYEE, secret_fields, late),
    }
    state, action, role, fields, now = cases[scenario]
    case = case_in(state, description=SECRET)
    error = _raised_by(case, action, role, fields, now)
    for rendered in (str(error), repr(error), *map(str, error.args), *map(str, error.params)):
        assert "张三" not in rendered
        assert "13800138000" not in rendered
    assert all(SECRET not in str(value) for value in error.params.values())


def test_errors_from_apply_are_domain_errors_with_their_codes() -> None:
    error = _raised_by(case_in(S.CLOSED), A.ACCEPT, Role.OFFICER, FULL_FIELDS, NOW)
    assert isinstance(error, InvalidTransition)
    assert error.code == "invalid_transition"
    assert str(error).count("invalid_transition") == 1


def test_timestamps_written_by_apply_are_the_aware_time_given() -> None:
    now = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    case = act(A.ACCEPT, Fields(), case=case_in(S.REGISTERED), now=now)
    assert case.decided_at is not None
    assert case.decided_at.tzinfo is UTC
    assert case.deadline_at == now + timedelta(days=60)


# --- the ladder: 复查 → 复核 → 终结 ------------------------------------------------------


def test_a_recheck_requested_exactly_at_the_window_edge_is_accepted() -> None:
    edge = REVIEWED_AT + timedelta(days=30)
    case = act(A.REQUEST_RECHECK, FULL_FIELDS, now=edge)
    assert case.state is S.RECHECK_REQUESTED
    assert case.recheck_requested_at == edge


def test_a_recheck_requested_after_its_window_is_refused_as_a_recheck() -> None:
    case = case_in(S.REVIEWED)
    before = snapshot(case)
    late = REVIEWED_AT + timedelta(days=30, microseconds=1)
    with pytest.raises(RecheckWindowClosed) as raised:
        act(A.REQUEST_RECHECK, FULL_FIELDS, case=case, now=late)
    # A review-window error to whoever catches those, with its own message.
    assert isinstance(raised.value, ReviewWindowClosed)
    assert raised.value.code == "recheck_window_closed"
    assert_unchanged(case, before)


def test_the_recheck_window_runs_from_the_review_opinion_not_from_the_answer() -> None:
    # Long after the answer's window, still inside the review opinion's.
    case = case_in(S.REVIEWED, reviewed_at=RESPONDED_AT + timedelta(days=50))
    act(A.REQUEST_RECHECK, FULL_FIELDS, case=case, now=RESPONDED_AT + timedelta(days=70))
    assert case.state is S.RECHECK_REQUESTED


def test_the_recheck_window_follows_the_deployments_policy() -> None:
    policy = DeadlinePolicy(review_request_days=7)
    edge = REVIEWED_AT + timedelta(days=7)
    assert act(A.REQUEST_RECHECK, FULL_FIELDS, now=edge, policy=policy).recheck_requested_at
    with pytest.raises(RecheckWindowClosed):
        act(A.REQUEST_RECHECK, FULL_FIELDS, now=edge + timedelta(seconds=1), policy=policy)


@pytest.mark.parametrize(
    ("action", "state"), [(A.REQUEST_REVIEW, S.RESPONDED), (A.REQUEST_RECHECK, S.REVIEWED)]
)
def test_a_request_up_the_ladder_names_the_unit_deciding_it(
    action: Action, state: CaseState
) -> None:
    case = case_in(state, unit_id=3, review_unit_id=4)
    act(action, replace(FULL_FIELDS, unit_id=9), case=case)
    assert case.review_unit_id == 9
    assert case.unit_id == 3  # the handling unit stays; only the deciding one moves up


def test_a_request_without_a_unit_tree_has_no_deciding_unit() -> None:
    case = act(A.REQUEST_REVIEW, FULL_FIELDS, case=case_in(S.RESPONDED, review_unit_id=None))
    assert case.review_unit_id is None


def test_the_recheck_has_its_own_deadline_from_its_request() -> None:
    case = act(A.REQUEST_RECHECK, FULL_FIELDS)
    assert case.deadline_at == NOW + timedelta(days=30)
    act(A.START_RECHECK, Fields(), case=case, now=NOW + timedelta(days=3))
    assert case.deadline_at == NOW + timedelta(days=30)  # starting does not move it


def test_the_recheck_opinion_makes_the_case_final_like_a_closing() -> None:
    case = act(A.COMPLETE_RECHECK, with_field("outcome", Outcome.NOT_SUPPORTED))
    assert case.state is S.FINALIZED
    assert case.state.is_terminal and not case.is_open
    assert (case.rechecked_at, case.closed_at) == (NOW, NOW)
    assert case.outcome is Outcome.NOT_SUPPORTED
    assert case.deadline_at is None
    # The push address is kept for the follow-up (回头望), exactly as after CLOSE.
    closed = act(A.CLOSE, Fields(), case=case_in(S.RESPONDED))
    assert case.contact_erase_at == closed.contact_erase_at == NOW + timedelta(days=44)


def test_a_code_only_case_keeps_no_address_after_the_recheck() -> None:
    case = act(A.COMPLETE_RECHECK, FULL_FIELDS, case=case_in(S.RECHECKING, push_updates=False))
    assert case.contact_erase_at is None


@pytest.mark.parametrize("state", [S.RECHECK_REQUESTED, S.RECHECKING])
def test_a_case_under_recheck_may_still_be_withdrawn(state: CaseState) -> None:
    case = act(A.WITHDRAW, Fields(), case=case_in(state))
    assert case.state is S.WITHDRAWN


def test_a_finalized_case_can_neither_be_reviewed_again_nor_closed() -> None:
    for action, role in [
        (A.REQUEST_REVIEW, Role.EMPLOYEE),
        (A.REQUEST_RECHECK, Role.EMPLOYEE),
        (A.CLOSE, Role.SYSTEM),
        (A.WITHDRAW, Role.EMPLOYEE),
    ]:
        with pytest.raises(InvalidTransition):
            apply(case_in(S.FINALIZED), action, role, FULL_FIELDS, NOW, POLICY)


def test_review_levels_tell_the_parents_steps_from_the_grandparents() -> None:
    assert {a: review_level(a) for a in Action if review_level(a)} == {
        A.REQUEST_REVIEW: 1,
        A.START_REVIEW: 1,
        A.COMPLETE_REVIEW: 1,
        A.REQUEST_RECHECK: 2,
        A.START_RECHECK: 2,
        A.COMPLETE_RECHECK: 2,
    }
    assert REVIEW_ACTS == {A.START_REVIEW, A.COMPLETE_REVIEW, A.START_RECHECK, A.COMPLETE_RECHECK}


def test_the_whole_ladder_moves_deadlines_and_ends_final() -> None:
    def day(n: int) -> datetime:
        return CREATED_AT + timedelta(days=n)

    case = make_case()
    steps = [
        (A.ACCEPT, Role.OFFICER, Fields(), day(3), day(3 + 60)),
        (A.START, Role.OFFICER, Fields(), day(4), day(3 + 60)),
        (A.RESPOND, Role.OFFICER, FULL_FIELDS, day(20), day(20 + 30)),
        (A.REQUEST_REVIEW, Role.EMPLOYEE, FULL_FIELDS, day(25), day(25 + 30)),
        (A.START_REVIEW, Role.OFFICER, Fields(), day(26), day(25 + 30)),
        (A.COMPLETE_REVIEW, Role.OFFICER, FULL_FIELDS, day(40), day(40 + 30)),
        (A.REQUEST_RECHECK, Role.EMPLOYEE, FULL_FIELDS, day(60), day(60 + 30)),
        (A.START_RECHECK, Role.LEADER, Fields(), day(61), day(60 + 30)),
        (A.COMPLETE_RECHECK, Role.OFFICER, FULL_FIELDS, day(80), None),
    ]
    for action, role, fields, at, expected_deadline in steps:
        apply(case, action, role, fields, at, POLICY)
        assert case.deadline_at == expected_deadline, action
    assert case.state is S.FINALIZED
    assert (case.reviewed_at, case.recheck_requested_at, case.rechecked_at) == (
        day(40),
        day(60),
        day(80),
    )
