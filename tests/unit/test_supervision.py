"""督办, 交办 and 上报 outside the database: the domain rules of the acts that change no state,
who may take them, which units a case may be assigned down to, the scheduler's alerts of
their deadlines, what the employee is told, and the statistics' counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from handlers.acts import assign_targets, may_decide, may_supervise
from handlers.ports import Officer
from handlers.views import employee_status, render_employee
from i18n import translator
from petitions.case import Case
from petitions.deadlines import DeadlinePolicy, deadline_for, step_level, step_unit_id
from petitions.errors import InvalidField, InvalidTransition, MissingField, NotPermitted
from petitions.lifecycle import (
    OFFICE_ACTS,
    Action,
    Fields,
    NoReportOwed,
    allowed_actions,
    allowed_office_acts,
    apply,
)
from petitions.roles import Role
from petitions.schedule import (
    OVERDUE,
    REPORT_OVERDUE,
    SUPERVISION_OVERDUE,
    SchedulePolicy,
    due_notices,
    next_notice_at,
)
from petitions.states import CaseState, Outcome
from petitions.statistics import CaseFacts, counts_from_facts
from petitions.units import Unit, UnitTree
from tests.helpers.builders import CREATED_AT, make_case

S = CaseState
POLICY = DeadlinePolicy()
SCHEDULE = SchedulePolicy()
NOW = CREATED_AT + timedelta(days=20)  # the 15-day acceptance deadline has passed

# 集团(1) → 甲公司(2) → 一厂(3) → 一车间(4); 乙公司(5) beside 甲公司; 旧厂(6) retired.
TREE = UnitTree(
    [
        Unit(1, "JT", "本集团", None),
        Unit(2, "JIA", "甲公司", 1),
        Unit(3, "JIA-1", "一厂", 2),
        Unit(4, "JIA-1-1", "一车间", 3),
        Unit(5, "YI", "乙公司", 1),
        Unit(6, "OLD", "旧厂", 2, retired=True),
    ]
)
SUPERVISION = Fields(days=5, instruction="请于五日内受理并答复。")


def t(key: str, **params: Any) -> str:
    return translator().t(key, "zh_CN", **params)


def officer(unit_id: int | None, role: Role = Role.OFFICER) -> Officer:
    scope = None if unit_id in (None, 1) else TREE.subtree(unit_id)
    return Officer(id=unit_id or 99, name="某", role=role, unit_id=unit_id, scope=scope)


def case_at(state: CaseState = S.REGISTERED, **values: Any) -> Case:
    """A case of 一厂 (unit 3) in this state, with its deadline."""
    at = CREATED_AT
    milestones: dict[str, Any] = {"id": 7, "number": "XF-2026-000007", "unit_id": 3}
    if state is not S.REGISTERED:
        milestones["decided_at"] = at + timedelta(days=1)
    if state in (S.REVIEW_REQUESTED, S.REVIEWING):
        milestones.update(
            responded_at=at + timedelta(days=10),
            review_requested_at=at + timedelta(days=12),
            review_unit_id=2,
            outcome=Outcome.EXPLAINED,
        )
    milestones.update(values)
    case = make_case(state=state, **milestones)
    case.deadline_at = deadline_for(case, POLICY)
    return case


# --- the domain rules ----------------------------------------------------------------------


def test_a_supervision_sets_the_offices_working_deadline_and_keeps_the_statutory_one() -> None:
    case = case_at()
    statutory = case.deadline_at
    record = apply(case, Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)
    assert case.state is S.REGISTERED and record.from_state is record.to_state is S.REGISTERED
    assert case.deadline_at == statutory
    assert case.supervised_until == NOW + timedelta(days=5)
    assert case.supervision_count == 1 and case.updated_at == NOW
    apply(case, Action.SUPERVISE, Role.LEADER, replace(SUPERVISION, days=3), NOW, POLICY)
    assert case.supervision_count == 2 and case.supervised_until == NOW + timedelta(days=3)


@pytest.mark.parametrize("role", [Role.OFFICER, Role.EMPLOYEE, Role.CUSTODIAN, Role.SYSTEM])
def test_only_leaders_supervise(role: Role) -> None:
    case = case_at()
    with pytest.raises(NotPermitted):
        apply(case, Action.SUPERVISE, role, SUPERVISION, NOW, POLICY)
    assert case.supervision_count == 0 and case.supervised_until is None


@pytest.mark.parametrize("state", [S.RESPONDED, S.REVIEWED, S.NOT_ACCEPTED, S.CLOSED])
def test_a_step_that_waits_for_the_employee_or_has_ended_is_not_supervised(
    state: CaseState,
) -> None:
    with pytest.raises(InvalidTransition):
        apply(make_case(state=state), Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (Fields(days=5), MissingField),
        (Fields(instruction="督办"), MissingField),
        (Fields(days=0, instruction="督办"), InvalidField),
        (Fields(days=61, instruction="督办"), InvalidField),  # more than the handling period
        (Fields(days=5, instruction="督" * 4001), InvalidField),
    ],
)
def test_a_supervision_needs_days_within_the_handling_period_and_an_instruction(
    fields: Fields, error: type[Exception]
) -> None:
    case = case_at()
    with pytest.raises(error):
        apply(case, Action.SUPERVISE, Role.LEADER, fields, NOW, POLICY)
    assert case.supervision_count == 0


def test_a_new_step_starts_the_alert_level_and_the_working_deadline_afresh() -> None:
    case = case_at(S.REGISTERED)
    apply(case, Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)
    case.supervision_level = 2
    apply(case, Action.ACCEPT, Role.OFFICER, Fields(), NOW, POLICY)
    assert (case.supervision_level, case.supervised_until) == (0, None)
    assert case.supervision_count == 1  # the history stays


def test_starting_the_work_on_an_accepted_case_is_the_same_step_and_keeps_the_supervision() -> (
    None
):
    # ACCEPTED and IN_PROGRESS share the handling deadline: one step for the overdue alert.
    case = case_at(S.ACCEPTED)
    apply(case, Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)
    case.supervision_level = 1
    apply(case, Action.START, Role.OFFICER, Fields(), NOW, POLICY)
    assert (case.supervision_level, case.supervised_until) == (1, NOW + timedelta(days=5))


ASSIGNMENT = Fields(destination="一车间", unit_id=4, days=7, reason="请核实加班记录。")


def test_an_assignment_down_moves_the_case_and_a_report_is_then_owed() -> None:
    case = case_at(S.ACCEPTED, owner_officer_id=12)
    statutory = case.deadline_at
    apply(case, Action.ASSIGN_DOWN, Role.OFFICER, ASSIGNMENT, NOW, POLICY)
    assert case.state is S.ACCEPTED and case.deadline_at == statutory
    assert (case.unit_id, case.owner_officer_id) == (4, None)
    assert case.report_due_at == NOW + timedelta(days=7)
    apply(case, Action.REPORT, Role.OFFICER, Fields(report="已核实，差额已补发。"), NOW, POLICY)
    assert case.report_due_at is None
    with pytest.raises(NoReportOwed):
        apply(case, Action.REPORT, Role.OFFICER, Fields(report="再报一次"), NOW, POLICY)


@pytest.mark.parametrize("state", [S.REVIEWING, S.RESPONDED, S.CLOSED])
def test_only_a_case_at_a_handling_step_is_assigned_down(state: CaseState) -> None:
    with pytest.raises(InvalidTransition):
        apply(make_case(state=state), Action.ASSIGN_DOWN, Role.OFFICER, ASSIGNMENT, NOW, POLICY)


def test_a_case_that_ends_owes_no_report_any_more() -> None:
    case = case_at(S.IN_PROGRESS)
    apply(case, Action.ASSIGN_DOWN, Role.OFFICER, ASSIGNMENT, NOW, POLICY)
    apply(
        case,
        Action.RESPOND,
        Role.OFFICER,
        Fields(outcome=Outcome.SUPPORTED, text="补发"),
        NOW,
        POLICY,
    )
    assert case.report_due_at is not None  # answered, not ended: still owed
    apply(case, Action.CLOSE, Role.OFFICER, Fields(), NOW, POLICY)
    assert case.report_due_at is None


@pytest.mark.parametrize(
    ("before", "decided", "changed"),
    [(Outcome.EXPLAINED, Outcome.SUPPORTED, True), (Outcome.EXPLAINED, Outcome.EXPLAINED, False)],
)
def test_a_review_records_whether_it_changed_the_outcome_before_it(
    before: Outcome, decided: Outcome, changed: bool
) -> None:
    case = case_at(S.REVIEWING, outcome=before)
    fields = Fields(outcome=decided, text="复查意见")
    apply(case, Action.COMPLETE_REVIEW, Role.OFFICER, fields, NOW, POLICY)
    assert case.review_changed is changed and case.recheck_changed is None
    case.state, case.recheck_requested_at = S.RECHECKING, NOW
    other = Outcome.NOT_SUPPORTED
    apply(
        case,
        Action.COMPLETE_RECHECK,
        Role.OFFICER,
        Fields(outcome=other, text="复核"),
        NOW,
        POLICY,
    )
    assert case.recheck_changed is True


def test_the_office_acts_are_not_transitions_and_are_offered_apart() -> None:
    office = {rule.action for rule in OFFICE_ACTS}
    assert office == {Action.SUPERVISE, Action.ASSIGN_DOWN, Action.REPORT}
    case = case_at(S.ACCEPTED)
    assert not office & set(allowed_actions(case, Role.LEADER))
    assert allowed_office_acts(case, Role.LEADER) == [Action.SUPERVISE, Action.ASSIGN_DOWN]
    assert allowed_office_acts(case, Role.OFFICER) == [Action.ASSIGN_DOWN]
    owed = replace(case, report_due_at=NOW)
    assert Action.REPORT in allowed_office_acts(owed, Role.OFFICER)


# --- who may take them -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "may"),
    [(1, True), (2, True), (3, False), (4, False), (5, False), (None, True)],
)
def test_leaders_above_the_handling_unit_may_supervise_it(unit: int | None, may: bool) -> None:
    # 一厂's case: its company and the group above it, not the plant itself nor a workshop
    # below it nor the other company (which does not even see it).
    assert may_supervise(officer(unit, Role.LEADER), case_at()) is may


def test_at_a_review_step_only_units_above_the_deciding_unit_may_supervise() -> None:
    # 一厂's 复查 is 甲公司's to decide: 甲公司's own leaders are its office, the group is above.
    case = case_at(S.REVIEWING)
    assert step_level(case.state) == 1 and step_unit_id(case) == 2
    assert not may_supervise(officer(2, Role.LEADER), case)
    assert may_supervise(officer(1, Role.LEADER), case)


def test_a_report_comes_from_below_the_assigning_unit_and_an_assignment_from_above() -> None:
    owed = case_at(S.ACCEPTED, unit_id=4, assigned_by_unit_id=2, report_due_at=NOW)
    assert may_decide(officer(4), owed, Action.REPORT)
    assert may_decide(officer(3), owed, Action.REPORT)  # a unit between them reports too
    assert not may_decide(officer(2), owed, Action.REPORT)
    assert not may_decide(officer(1), owed, Action.REPORT)
    assert not may_decide(officer(4), owed, Action.ASSIGN_DOWN)  # nothing below a workshop
    assert may_decide(officer(3), owed, Action.ASSIGN_DOWN)
    flat = make_case(state=S.ACCEPTED)
    assert not may_decide(Officer(1, "某", Role.OFFICER), flat, Action.ASSIGN_DOWN)


def test_a_case_is_assigned_down_only_to_units_in_service_strictly_below_the_office() -> None:
    case = case_at(S.ACCEPTED, unit_id=2)
    names = [u.name for u in assign_targets(TREE, officer(2), case)]
    assert names == ["一厂", "一车间"]  # not 甲公司 itself, not the retired 旧厂
    at_plant = case_at(S.ACCEPTED, unit_id=3)
    assert [u.name for u in assign_targets(TREE, officer(2), at_plant)] == ["一车间"]
    assert [u.name for u in assign_targets(TREE, officer(1), case)] == ["乙公司", "一厂", "一车间"]


# --- the scheduler's alerts ----------------------------------------------------------------


def kinds(case: Case, at: Any) -> list[str]:
    return [n.kind for n in due_notices(case, POLICY, SCHEDULE, at)]


def test_a_missed_supervision_deadline_is_due_once_per_deadline_and_after_the_overdue_alert() -> (
    None
):
    case = case_at()
    apply(case, Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)
    until = case.supervised_until
    assert until is not None
    assert kinds(case, until) == [OVERDUE]
    later = due_notices(case, POLICY, SCHEDULE, until + timedelta(minutes=1))
    assert [(n.kind, n.key) for n in later] == [
        (OVERDUE, case.deadline_at),
        (SUPERVISION_OVERDUE, until),
    ]
    # The scheduler looks again just after the 督办 deadline.
    assert next_notice_at(case, POLICY, SCHEDULE, NOW) == until + timedelta(microseconds=1)


def test_a_supervision_deadline_of_a_case_that_moved_on_is_forgotten() -> None:
    case = case_at()
    apply(case, Action.SUPERVISE, Role.LEADER, SUPERVISION, NOW, POLICY)
    apply(case, Action.ACCEPT, Role.OFFICER, Fields(), NOW, POLICY)
    assert SUPERVISION_OVERDUE not in kinds(case, NOW + timedelta(days=6))


def test_a_late_report_is_due_once_until_the_case_ends() -> None:
    case = case_at(S.ACCEPTED)
    apply(case, Action.ASSIGN_DOWN, Role.OFFICER, ASSIGNMENT, NOW, POLICY)
    due = case.report_due_at
    assert due is not None
    assert next_notice_at(case, POLICY, SCHEDULE, NOW) == due + timedelta(microseconds=1)
    late = [n for n in due_notices(case, POLICY, SCHEDULE, due + timedelta(hours=1))]
    assert [(n.kind, n.key) for n in late] == [(REPORT_OVERDUE, due)]
    withdrawn = replace(case, state=S.WITHDRAWN)
    assert REPORT_OVERDUE not in kinds(withdrawn, due + timedelta(hours=1))


# --- what people read ------------------------------------------------------------------------


def test_the_employee_reads_that_a_unit_above_supervises_never_the_instruction() -> None:
    push = render_employee(
        translator().t, "supervised", {"locale": "zh_CN", "number": "XF-2026-000007"}
    )
    assert "上级单位已督办" in push.text and "五日" not in push.text
    assigned = render_employee(
        translator().t,
        "assigned_down",
        {"locale": "zh_CN", "number": "XF-2026-000007", "unit": "甲公司/一厂"},
    )
    assert "交由甲公司/一厂办理" in assigned.text


# --- statistics ------------------------------------------------------------------------------


def test_changed_outcomes_and_supervised_cases_are_counted_per_unit() -> None:
    base = CaseFacts(
        category="pay",
        state=S.CLOSED,
        channel="web",
        unit="一厂",
        owner="一厂",
        created_at=CREATED_AT,
        unit_id=3,
    )
    facts = [
        replace(base, supervised=True, review_changed=True),
        replace(base, supervised=True),
        replace(base, recheck_changed=True),
        replace(base, unit_id=5, unit="乙公司", owner="乙公司"),
    ]
    counts = counts_from_facts(facts, POLICY, NOW).by_unit
    assert (counts[3].supervisions, counts[3].reviews_changed, counts[3].rechecks_changed) == (
        2,
        1,
        1,
    )
    assert (counts[5].supervisions, counts[5].reviews_changed) == (0, 0)


def test_the_employees_timeline_shows_a_supervision_and_an_assignment_by_unit() -> None:
    from handlers.ports import TimelineEntry

    case = case_at(S.ACCEPTED)
    events = [
        TimelineEntry(NOW, "supervised", Role.LEADER, None, None, {"by": "甲公司", "days": 5}),
        TimelineEntry(NOW, "assigned_down", Role.OFFICER, None, None, {"unit": "甲公司/一车间"}),
        TimelineEntry(NOW, "reported", Role.OFFICER, None, None, {"by": "甲公司/一车间"}),
    ]
    text = employee_status(t, case, events, []).text
    assert t("timeline.supervised", date="2026-03-22") in text
    assert t("timeline.assigned_down", date="2026-03-22", unit="甲公司/一车间") in text
    assert "上报" not in text  # the report is the assigning unit's, not the employee's
