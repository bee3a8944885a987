"""The ladder (答复 → 复查 → 复核 → 终结) outside the database: who decides each step, what the
employee is offered and told in each state, the scheduler's notices for the new states, the
transfer's units, and the 复核意见书."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bot.notices.render import notice_values
from handlers.acts import find_unit, may_decide, transfer_targets
from handlers.inbound import Reply
from handlers.payloads import Pick, PickPage, Preset, encode, parse
from handlers.ports import Officer
from handlers.views import employee_status, render_employee
from i18n import translator
from petitions.case import Case
from petitions.deadlines import DeadlinePolicy, deadline_for, is_overdue
from petitions.lifecycle import REVIEW_ACTS, Action
from petitions.notices import NoticeData, NoticeKind, notice_kind_for
from petitions.roles import Role
from petitions.schedule import (
    AUTO_CLOSE,
    FOLLOW_UP,
    OVERDUE,
    SchedulePolicy,
    due_notices,
    followup_due_at,
    next_notice_at,
    reminder_times,
)
from petitions.states import CLOSED_STATES, TERMINAL_STATES, CaseState
from petitions.units import Unit, UnitTree
from tests.helpers.builders import CREATED_AT, make_case

S = CaseState
POLICY = DeadlinePolicy()
SCHEDULE = SchedulePolicy()

# 集团(1) → 甲公司(2) → 一厂(3) → 一车间(4); 乙公司(5) beside 甲公司.
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


def t(key: str, **params: Any) -> str:
    return translator().t(key, "zh_CN", **params)


def officer(unit_id: int | None, role: Role = Role.OFFICER) -> Officer:
    scope = None if unit_id in (None, 1) else TREE.subtree(unit_id)
    return Officer(id=unit_id or 99, name="某", role=role, unit_id=unit_id, scope=scope)


def ladder_case(state: CaseState, **values: Any) -> Case:
    at = CREATED_AT
    milestones: dict[str, Any] = {
        "decided_at": at + timedelta(days=1),
        "responded_at": at + timedelta(days=10),
        "review_requested_at": at + timedelta(days=12),
        "reviewed_at": at + timedelta(days=20),
        "recheck_requested_at": at + timedelta(days=22),
    }
    if state.is_terminal:
        milestones.update(rechecked_at=at + timedelta(days=30), closed_at=at + timedelta(days=30))
    case = make_case(state=state, id=7, number="XF-2026-000007", **milestones, **values)
    case.deadline_at = deadline_for(case, POLICY)
    return case


# --- who decides ---------------------------------------------------------------------------

# (handling unit, deciding unit of the step) → which officers' units may decide it.
_STEPS = [
    # 复查 of a workshop's answer: its parent, the plant.
    (4, 3, Action.START_REVIEW),
    # 复核 of it: the grandparent, the company.
    (4, 2, Action.COMPLETE_RECHECK),
    # At the top the root decides the steps above itself.
    (2, 1, Action.START_REVIEW),
    (2, 1, Action.START_RECHECK),
]


@pytest.mark.parametrize(("handling", "deciding", "action"), _STEPS)
@pytest.mark.parametrize("unit", [1, 2, 3, 4, 5])
def test_only_the_office_of_the_deciding_unit_decides_a_review_step(
    handling: int, deciding: int, action: Action, unit: int
) -> None:
    case = make_case(unit_id=handling, review_unit_id=deciding)
    for role in (Role.OFFICER, Role.LEADER):
        assert may_decide(officer(unit, role), case, action) is (unit == deciding)


def test_the_handling_unit_cannot_decide_the_review_of_its_own_answer() -> None:
    case = make_case(unit_id=3, review_unit_id=2)
    assert not any(may_decide(officer(3), case, a) for a in REVIEW_ACTS)
    assert all(may_decide(officer(2), case, a) for a in REVIEW_ACTS)


@pytest.mark.parametrize("action", [Action.ACCEPT, Action.RESPOND, Action.CLOSE])
def test_handling_acts_are_not_limited_to_the_deciding_unit(action: Action) -> None:
    case = make_case(unit_id=3, review_unit_id=2)
    assert may_decide(officer(3), case, action)


def test_without_a_unit_tree_the_one_office_decides_every_step() -> None:
    case = make_case(unit_id=None, review_unit_id=None)
    assert all(may_decide(officer(None), case, a) for a in REVIEW_ACTS)
    # A review asked before units existed: the office that sees every case, not a plant.
    legacy = make_case(unit_id=3, review_unit_id=None)
    assert may_decide(officer(1), legacy, Action.START_REVIEW)
    assert not may_decide(officer(3), legacy, Action.START_REVIEW)


def test_an_officer_without_a_unit_cannot_decide_a_step_given_to_a_unit() -> None:
    case = make_case(unit_id=3, review_unit_id=2)
    assert not may_decide(officer(None), case, Action.START_REVIEW)


# --- what the employee is offered and told -------------------------------------------------


def _status(case: Case) -> Reply:
    return employee_status(t, case, [], [])


def _labels(reply: Reply) -> dict[str, str]:
    return {b.payload: b.label for row in reply.buttons for b in row}


@pytest.mark.parametrize(
    ("state", "review_label"),
    [
        (S.RESPONDED, "button.request_review"),
        (S.REVIEW_REQUESTED, None),
        (S.REVIEWING, None),
        (S.REVIEWED, "button.request_recheck"),
        (S.RECHECK_REQUESTED, None),
        (S.RECHECKING, None),
        (S.FINALIZED, None),
        (S.CLOSED, None),
    ],
)
def test_the_employee_is_offered_only_the_next_lawful_step(
    state: CaseState, review_label: str | None
) -> None:
    buttons = _labels(_status(ladder_case(state)))
    if review_label is None:
        assert "cs:review" not in buttons
    else:
        assert buttons["cs:review"] == t(review_label)
    assert ("cs:withdraw" in buttons) is (not state.is_terminal)


def test_after_the_review_the_employee_is_never_offered_a_review_again() -> None:
    texts = _labels(_status(ladder_case(S.REVIEWED))).values()
    assert t("button.request_review") not in texts
    assert "复查" not in "".join(texts)


FINAL = (
    "本事项已经复查、复核，信访程序终结（三级终结）；如仍有异议，可依法通过劳动人事争议仲裁、"
    "人民法院诉讼或向纪检监察机关反映等途径解决。"
)


def test_a_finalized_case_says_plainly_that_the_petition_channel_has_ended() -> None:
    status = _status(ladder_case(S.FINALIZED, review_unit_name="本集团"))
    assert FINAL in status.text
    assert "状态：已终结" in status.text
    assert set(_labels(status)) == {"cs:done"}


def test_the_finalized_text_names_the_channels_in_english_too() -> None:
    english = render_employee(
        translator().t,
        "status",
        {"locale": "en", "number": "XF-2026-000007", "state": "finalized"},
    ).text
    assert "arbitration" in english and "courts" in english and "discipline" in english
    assert "final" in english


@pytest.mark.parametrize(
    ("state", "line"),
    [
        (S.REVIEW_REQUESTED, "由甲公司复查"),
        (S.REVIEWING, "由甲公司复查"),
        (S.REVIEWED, "由甲公司复查"),
        (S.RECHECK_REQUESTED, "由甲公司复核"),
        (S.RECHECKING, "由甲公司复核"),
        (S.FINALIZED, "由甲公司复核"),
    ],
)
def test_each_step_names_the_unit_deciding_it(state: CaseState, line: str) -> None:
    assert line in _status(ladder_case(state, review_unit_name="甲公司")).text
    push = render_employee(
        translator().t,
        "status",
        {"locale": "zh_CN", "number": "XF-1", "state": state.value, "review_unit": "甲公司"},
    )
    assert line in push.text


def test_the_push_after_a_review_gives_the_recheck_window() -> None:
    case = ladder_case(S.REVIEWED)
    assert case.deadline_at is not None
    payload = {
        "locale": "zh_CN",
        "number": case.number,
        "state": "reviewed",
        "deadline": case.deadline_at.isoformat(),
    }
    text = render_employee(translator().t, "status", payload).text
    assert "申请复核" in text and "申请复查" not in text


def test_the_push_of_the_final_opinion_says_the_matter_is_final() -> None:
    payload = {"locale": "zh_CN", "number": "XF-1", "state": "finalized", "review_unit": "本集团"}
    text = render_employee(translator().t, "status", payload).text
    assert FINAL in text and "由本集团复核" in text


# --- finalized is terminal everywhere -----------------------------------------------------


def test_finalized_is_terminal_and_ends_like_a_closing() -> None:
    assert S.FINALIZED in TERMINAL_STATES and S.FINALIZED in CLOSED_STATES
    assert not ladder_case(S.FINALIZED).is_open


def test_a_finalized_case_is_followed_up_like_a_closed_one() -> None:
    final = ladder_case(S.FINALIZED)
    closed = ladder_case(S.CLOSED)
    assert final.closed_at is not None
    due = followup_due_at(final, POLICY, SCHEDULE)
    assert due is not None
    assert due == followup_due_at(closed, POLICY, SCHEDULE) == final.closed_at + timedelta(30)
    assert [n.kind for n in due_notices(final, POLICY, SCHEDULE, due)] == [FOLLOW_UP]
    assert next_notice_at(final, POLICY, SCHEDULE, None) == due


def test_no_follow_up_when_the_deployment_turned_them_off() -> None:
    off = SchedulePolicy(follow_up=False)
    assert followup_due_at(ladder_case(S.FINALIZED), POLICY, off) is None


# --- deadlines, reminders and overdue of the recheck ----------------------------------------


@pytest.mark.parametrize("state", [S.RECHECK_REQUESTED, S.RECHECKING])
def test_the_recheck_is_the_offices_to_finish_with_reminders_and_an_overdue_alert(
    state: CaseState,
) -> None:
    case = ladder_case(state)
    start = CREATED_AT + timedelta(days=22)
    assert case.deadline_at == start + timedelta(days=30)
    assert [p for p, _ in reminder_times(case, POLICY, SCHEDULE)] == ["50%", "3d"]
    assert reminder_times(case, POLICY, SCHEDULE)[0][1] == start + timedelta(days=15)
    late = case.deadline_at + timedelta(seconds=1)
    assert is_overdue(case, late)
    assert [n.kind for n in due_notices(case, POLICY, SCHEDULE, late)] == [OVERDUE]


def test_an_unused_recheck_window_closes_the_case_by_itself() -> None:
    case = ladder_case(S.REVIEWED)
    assert case.deadline_at == CREATED_AT + timedelta(days=20 + 30)
    assert not is_overdue(case, case.deadline_at + timedelta(days=1))
    late = case.deadline_at + timedelta(seconds=1)
    assert [n.kind for n in due_notices(case, POLICY, SCHEDULE, late)] == [AUTO_CLOSE]


# --- transfers: which units, named how ------------------------------------------------------


def test_a_transfer_offers_the_officers_subtree_children_first_and_no_retired_unit() -> None:
    case = make_case(unit_id=3)
    names = [u.name for u in transfer_targets(TREE, officer(2), case)]
    assert names == ["一车间", "甲公司"]  # 一厂 is the case's own unit; 旧厂 is retired
    everything = [u.code for u in transfer_targets(TREE, officer(1), case)]
    assert everything == ["JIA", "YI", "JIA-1-1", "JT"]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("JIA-1-1", "JIA-1-1"),
        ("jia-1-1", "JIA-1-1"),
        ("一车间", "JIA-1-1"),
        ("甲公司/一厂/一车间", "JIA-1-1"),
        ("本集团/甲公司/一厂/一车间", "JIA-1-1"),
        (" 乙公司 ", "YI"),
        ("丙公司", None),
        ("", None),
    ],
)
def test_a_typed_destination_is_found_by_code_name_or_path(typed: str, code: str | None) -> None:
    found = find_unit(TREE, list(TREE), typed)
    assert (found.code if found else None) == code


def test_a_name_two_units_share_must_be_typed_with_its_path() -> None:
    tree = UnitTree([*TREE, Unit(7, "YI-1", "一厂", 5)])
    assert find_unit(tree, list(tree), "一厂") is None
    found = find_unit(tree, list(tree), "乙公司/一厂")
    assert found is not None and found.id == 7


def test_form_payloads_for_pages_and_presets_read_back() -> None:
    for payload in (PickPage("destination", 16), Preset("finalized"), Pick("destination", "A")):
        assert parse(encode(payload)) == payload
    assert parse("o:preset:unknown") is None
    assert parse("o:page:nonsense:8") is None


# --- the 复核意见书 ---------------------------------------------------------------------------


def test_the_recheck_opinion_issues_the_recheck_notice() -> None:
    assert notice_kind_for(Action.COMPLETE_RECHECK) is NoticeKind.RECHECK
    assert notice_kind_for(Action.COMPLETE_REVIEW) is NoticeKind.REVIEW


def test_a_review_notice_is_sealed_by_the_deciding_unit() -> None:
    data = NoticeData(
        case_number="XF-2026-000007",
        unit="甲公司/一厂",
        category=make_case().category,
        received_on=CREATED_AT.date(),
        issued_on=CREATED_AT.date(),
        outcome=None,
        review_unit="本集团",
    )
    labels = {"anonymous": "（匿名）", "real_name": "实名"}
    assert notice_values(NoticeKind.RECHECK, data, "zh_CN", labels)["review_unit"] == "本集团"
    # Without a unit tree the one office decided: its name stands in.
    flat = notice_values(NoticeKind.RECHECK, replace(data, review_unit=None), "zh_CN", labels)
    assert flat["review_unit"] == "甲公司/一厂"
