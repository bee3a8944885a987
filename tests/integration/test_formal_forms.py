"""Formal acts by guided forms (handlers/forms.py), through the real handlers and storage:
the role and state are checked before a form asks anything, each form's preview is exactly
the push the employee then gets, only 确认发送 applies, cancel and edit change nothing, and
typed commands take Chinese and English values and list the accepted ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.container import Container
from handlers.forms import ACT_NAME, FORMS
from handlers.payloads import CaseButton, Confirm, Edit, Fix, FormCancel, Pick, encode, parse
from handlers.views import render_employee
from petitions.lifecycle import Action
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer, load_case, queued
from tests.helpers.seeding import seed_cases

# The state in which each act is lawful, and the state it leads to.
LAWFUL: dict[Action, tuple[CaseState, CaseState]] = {
    Action.ACCEPT: (CaseState.REGISTERED, CaseState.ACCEPTED),
    Action.NOT_ACCEPT: (CaseState.REGISTERED, CaseState.NOT_ACCEPTED),
    Action.TRANSFER: (CaseState.REGISTERED, CaseState.TRANSFERRED),
    Action.START: (CaseState.ACCEPTED, CaseState.IN_PROGRESS),
    Action.EXTEND: (CaseState.IN_PROGRESS, CaseState.EXTENDED),
    Action.RESPOND: (CaseState.IN_PROGRESS, CaseState.RESPONDED),
    Action.START_REVIEW: (CaseState.REVIEW_REQUESTED, CaseState.REVIEWING),
    Action.COMPLETE_REVIEW: (CaseState.REVIEWING, CaseState.REVIEWED),
    Action.START_RECHECK: (CaseState.RECHECK_REQUESTED, CaseState.RECHECKING),
    Action.COMPLETE_RECHECK: (CaseState.RECHECKING, CaseState.FINALIZED),
    Action.CLOSE: (CaseState.RESPONDED, CaseState.CLOSED),
}
# Who may take which act on an ordinary (not a discipline) case: written out, not derived
# from the transition table, so a change to the table shows up here.
MAY_ACT: dict[Role, frozenset[Action]] = {
    Role.OFFICER: frozenset(
        {
            Action.ACCEPT,
            Action.NOT_ACCEPT,
            Action.TRANSFER,
            Action.START,
            Action.RESPOND,
            # The review steps are the deciding office's, officers and leaders alike
            # (without a unit tree: the one office).
            Action.START_REVIEW,
            Action.COMPLETE_REVIEW,
            Action.START_RECHECK,
            Action.COMPLETE_RECHECK,
            Action.CLOSE,
        }
    ),
    Role.LEADER: frozenset(LAWFUL),
    Role.DISCIPLINE: frozenset(),  # they do not even see ordinary cases
    Role.CUSTODIAN: frozenset(),
}
# Who sees an ordinary case (others are answered as if it did not exist).
SEES_ORDINARY = frozenset({Role.OFFICER, Role.LEADER})
# The first question of each form (None: no field, straight to the preview).
FIRST_QUESTION = {
    Action.ACCEPT: None,
    Action.NOT_ACCEPT: "officer.ask_redirect",
    Action.TRANSFER: "officer.ask_destination",
    Action.START: None,
    Action.EXTEND: "officer.ask_days",
    Action.RESPOND: "officer.ask_outcome",
    Action.START_REVIEW: None,
    Action.COMPLETE_REVIEW: "officer.ask_outcome",
    Action.START_RECHECK: None,
    Action.COMPLETE_RECHECK: "officer.ask_outcome",
    Action.CLOSE: None,
}
ACCOUNTS = {Role.OFFICER: "701", Role.LEADER: "702", Role.DISCIPLINE: "703", Role.CUSTODIAN: "704"}


def zh(container: Container, key: str, **params: Any) -> str:
    return container.translator.t(key, "zh_CN", **params)


async def seed(container: Container, state: CaseState, **columns: Any) -> tuple[int, str]:
    """One case in ``state`` with the milestones its deadline needs; (id, number)."""
    now = container.services.clock()
    [case_id] = await seed_cases(
        container,
        [
            {
                "state": state.value,
                "decided_at": now,
                "responded_at": now,
                "review_requested_at": now,
                "reviewed_at": now,
                "recheck_requested_at": now,
                "deadline_at": now + timedelta(days=20),
                **columns,
            }
        ],
    )
    case = await load_case(container, case_id)
    assert case.number is not None
    return case_id, case.number


async def staff(container: Container, role: Role) -> ChatUser:
    return await add_officer(container, role, account=ACCOUNTS[role], name=f"{role.value}甲")


def card(case_id: int, action: Action) -> str:
    return encode(CaseButton(action.value, case_id))


# -- the role and state come first ------------------------------------------------------


@pytest.mark.parametrize("role", list(MAY_ACT), ids=lambda r: r.value)
async def test_each_form_checks_the_role_and_state_before_it_asks_anything(
    container: Container, role: Role
):
    person = await staff(container, role)
    for action, (source, _target) in LAWFUL.items():
        case_id, number = await seed(container, source)
        await person.press(card(case_id, action))
        if action in MAY_ACT[role]:
            first = FIRST_QUESTION[action]
            if first is None:
                act = zh(container, ACT_NAME[action])
                intro = zh(container, "form.preview", act=act, number=number)
                assert person.last[0].text == intro, (role, action)
                assert encode(Confirm(case_id, 1)) in person.buttons, (role, action)
            else:
                # The question first (a transfer adds how to name a unit under it).
                question = person.text.splitlines()[0]
                assert question == zh(container, first, number=number), (role, action)
            await person.press(encode(FormCancel(case_id)))
        else:
            # A case the role may not see is answered as not found (it learns nothing).
            refused = "error.not_permitted" if role in SEES_ORDINARY else "error.case_not_found"
            assert person.text == zh(container, refused), (role, action)
            assert person.buttons == {}
            # No question was left pending: the next words are the staff's own talk.
            assert await person.say("10") == [], (role, action)
        # Nothing changed and nobody was told, whatever was pressed.
        assert (await load_case(container, case_id)).state is source
        assert await queued(container, case_id) == []


@pytest.mark.parametrize("role", list(MAY_ACT), ids=lambda r: r.value)
async def test_a_form_for_an_act_the_case_is_not_ready_for_is_refused_at_once(
    container: Container, role: Role
):
    person = await staff(container, role)
    case_id, _ = await seed(container, CaseState.CLOSED)
    for action in LAWFUL:
        await person.press(card(case_id, action))
        # Staff who may see the case hear that its state does not allow it; others that
        # they may not (they learn nothing about the case).
        sees = role in SEES_ORDINARY
        expected = "error.invalid_transition" if sees else "error.case_not_found"
        assert person.text == zh(container, expected), (role, action)
        assert await person.say("理由") == []


async def test_on_a_discipline_report_the_inspector_fills_the_forms_and_the_officer_cannot(
    container: Container,
):
    officer = await staff(container, Role.OFFICER)
    inspector = await staff(container, Role.DISCIPLINE)
    case_id, number = await seed(container, CaseState.REGISTERED, category="discipline")
    await officer.press(card(case_id, Action.NOT_ACCEPT))
    assert officer.text == zh(container, "error.case_not_found")
    await inspector.press(card(case_id, Action.NOT_ACCEPT))
    assert inspector.text == zh(container, "officer.ask_redirect", number=number)


@pytest.mark.parametrize("role", list(MAY_ACT), ids=lambda r: r.value)
async def test_the_informal_message_is_offered_only_to_staff_who_handle_the_case(
    container: Container, role: Role
):
    person = await staff(container, role)
    case_id, number = await seed(container, CaseState.IN_PROGRESS)
    await person.press(encode(CaseButton("message", case_id)))
    if role in (Role.OFFICER, Role.LEADER):
        assert person.text == zh(container, "form.ask_message", number=number)
        await person.say("请补充近三个月的工资条。")
        assert person.text == zh(container, "officer.answer_sent", number=number)
        assert "不是正式答复" in person.text and "案件状态不变" in person.text
        [push] = await queued(container, case_id, audience="employee")
        assert (push.kind, push.payload["text"]) == ("answer", "请补充近三个月的工资条。")
    else:
        refused = "error.not_permitted" if role in SEES_ORDINARY else "error.case_not_found"
        assert person.text == zh(container, refused)
        assert await queued(container, case_id) == []
    assert (await load_case(container, case_id)).state is CaseState.IN_PROGRESS


# -- every form, by buttons: the preview is the push ------------------------------------

# What to give each field: a button (Pick) or a typed text.
ANSWERS: dict[str, str | Pick] = {
    "redirect": Pick("redirect", "court"),
    "reason": "属于人民法院受理范围。",
    # seed_cases makes the root unit (本集团, code JT): the one unit a case can go to here.
    "destination": Pick("destination", "JT"),
    "extension_days": Pick("extension_days", "15"),
    "outcome": Pick("outcome", "not_supported"),
    "text": "经核实，加班已按调休处理，不再另发加班费。",
}


@pytest.mark.parametrize("action", list(LAWFUL), ids=lambda a: a.value)
async def test_each_form_previews_exactly_what_the_employee_then_receives(
    container: Container, action: Action
):
    leader = await staff(container, Role.LEADER)  # the one role that may take every act
    source, target = LAWFUL[action]
    case_id, number = await seed(container, source)
    await leader.press(card(case_id, action))
    for field in FORMS[action]:
        answer = ANSWERS[field]
        if isinstance(answer, Pick):
            assert encode(answer) in leader.buttons, (action, field)
            await leader.press(encode(answer))
        else:
            await leader.say(answer)
    # The preview: an intro naming the act, then the employee's message with the choices.
    intro, preview = leader.last
    assert number in intro.text and "预览" in intro.text
    labels = [b.label for row in preview.buttons for b in row]
    assert labels[0] == "确认发送" and labels[-1] == "取消"
    assert ("修改" in labels) == bool(FORMS[action])
    assert await queued(container, case_id) == []  # nothing before 确认
    assert (await load_case(container, case_id)).state is source

    await leader.press(encode(Confirm(case_id, 1)))
    assert (await load_case(container, case_id)).state is target
    [push] = await queued(container, case_id, audience="employee")
    sent = render_employee(container.translator.t, push.kind, push.payload)
    assert sent.text == preview.text
    # A second tap on the same 确认 applies nothing twice.
    await leader.press(encode(Confirm(case_id, 1)))
    assert leader.text == zh(container, "error.stale")
    assert len(await queued(container, case_id, audience="employee")) == 1


async def test_the_preview_is_in_the_employees_language_not_the_officers(container: Container):
    officer = await staff(container, Role.OFFICER)
    officer.locale = "en"
    case_id, _ = await seed(container, CaseState.REGISTERED, locale="zh_CN")
    await officer.press(card(case_id, Action.ACCEPT))
    intro, preview = officer.last
    assert "Preview" in intro.text
    assert "已受理" in preview.text
    assert [b.label for row in preview.buttons for b in row] == ["Confirm and send", "Cancel"]


async def test_cancel_and_edit_in_the_middle_change_nothing_and_only_the_newest_preview_applies(
    container: Container,
):
    officer = await staff(container, Role.OFFICER)
    case_id, number = await seed(container, CaseState.IN_PROGRESS)

    # Cancelled half-way: nothing changes, nobody is told, the chat is free again.
    await officer.press(card(case_id, Action.RESPOND))
    await officer.press(encode(Pick("outcome", "supported")))
    await officer.press(encode(FormCancel(case_id)))
    assert officer.text == zh(container, "officer.cancelled")
    assert await officer.say("下午再说") == []
    # Cancelled at the preview.
    await officer.press(card(case_id, Action.RESPOND))
    await officer.press(encode(Pick("outcome", "supported")))
    await officer.say("同意补发。")
    await officer.press(encode(FormCancel(case_id)))
    assert (await load_case(container, case_id)).state is CaseState.IN_PROGRESS
    assert await queued(container, case_id) == []

    # Edited at the preview: the outcome changes, the text stays; the first preview is stale.
    await officer.press(card(case_id, Action.RESPOND))
    await officer.press(encode(Pick("outcome", "supported")))
    await officer.say("已安排补发。")
    first = officer.last[1].text
    assert "结论：支持" in first
    await officer.press(encode(Edit(case_id, 1)))
    assert officer.text == zh(container, "form.ask_fix", number=number)
    assert {encode(Fix("outcome")), encode(Fix("text"))} <= set(officer.buttons)
    await officer.press(encode(Fix("outcome")))
    assert officer.text == zh(container, "officer.ask_outcome", number=number)
    await officer.press(encode(Pick("outcome", "explained")))
    second = officer.last[1].text
    assert "结论：解释说明" in second and "已安排补发。" in second
    assert await queued(container, case_id) == []
    await officer.press(encode(Confirm(case_id, 1)))  # the first preview's button
    assert officer.text == zh(container, "error.stale")
    assert (await load_case(container, case_id)).state is CaseState.IN_PROGRESS
    # Text typed at the preview is a reminder, never an answer.
    await officer.say("好的")
    assert officer.text == zh(container, "form.use_buttons")
    await officer.press(encode(Confirm(case_id, 2)))
    case = await load_case(container, case_id)
    assert case.state is CaseState.RESPONDED and case.outcome is not None
    assert case.outcome.value == "explained"
    [push] = await queued(container, case_id, audience="employee")
    assert render_employee(container.translator.t, push.kind, push.payload).text == second


async def test_a_confirm_for_another_case_is_refused(container: Container):
    officer = await staff(container, Role.OFFICER)
    first, _ = await seed(container, CaseState.REGISTERED)
    second, _ = await seed(container, CaseState.REGISTERED)
    await officer.press(card(first, Action.ACCEPT))
    await officer.press(card(second, Action.ACCEPT))  # a new form replaces the first
    await officer.press(encode(Confirm(first, 1)))
    assert officer.text == zh(container, "error.stale")
    assert (await load_case(container, first)).state is CaseState.REGISTERED
    await officer.press(encode(Confirm(second, 1)))
    assert (await load_case(container, second)).state is CaseState.ACCEPTED


async def test_days_are_chosen_by_button_or_typed_and_a_wrong_number_says_what_fits(
    container: Container,
):
    leader = await staff(container, Role.LEADER)
    case_id, number = await seed(container, CaseState.IN_PROGRESS)
    await leader.press(card(case_id, Action.EXTEND))
    assert [leader.buttons[encode(Pick("extension_days", d))] for d in ("10", "15", "30")] == [
        "10 天",
        "15 天",
        "30 天",
    ]
    await leader.say("45")
    assert leader.last[0].text == zh(container, "form.wrong_days", max=30)
    assert leader.last[1].text == zh(container, "officer.ask_days", number=number)
    await leader.say("２０天")  # full-width digits and a unit, as an IME types them
    assert leader.text == zh(container, "officer.ask_reason", number=number)
    await leader.say("需要调取外单位材料")
    assert "延期 20 天" in leader.last[1].text


async def test_a_typed_value_in_a_form_may_be_chinese_or_english_and_a_wrong_one_is_listed(
    container: Container,
):
    officer = await staff(container, Role.OFFICER)
    case_id, number = await seed(container, CaseState.REGISTERED)
    await officer.press(card(case_id, Action.NOT_ACCEPT))
    await officer.say("上访")
    assert officer.last[0].text == zh(
        container,
        "form.wrong_choice",
        field="应当的途径",
        choices="仲裁、法院、纪检、行政复议、其他",
    )
    await officer.say("Arbitration")
    assert officer.text == zh(container, "officer.ask_reason", number=number)


# -- typed commands ---------------------------------------------------------------------


async def test_typed_commands_take_chinese_values_and_apply_at_once(container: Container):
    officer = await staff(container, Role.OFFICER)
    leader = await staff(container, Role.LEADER)
    answered, a = await seed(container, CaseState.IN_PROGRESS)
    refused, r = await seed(container, CaseState.REGISTERED)
    extended, e = await seed(container, CaseState.IN_PROGRESS)

    await officer.say(f"/respond {a} 不予支持 经核实，加班已调休。")
    case = await load_case(container, answered)
    assert case.state is CaseState.RESPONDED and case.outcome is not None
    assert case.outcome.value == "not_supported"
    [push] = await queued(container, answered, audience="employee")
    assert push.payload["outcome"] == "not_supported"
    assert "结论：不予支持" in render_employee(container.translator.t, "status", push.payload).text

    await officer.say(f"/reject {r} 仲裁 属于劳动争议")
    assert (await load_case(container, refused)).state is CaseState.NOT_ACCEPTED
    [push] = await queued(container, refused, audience="employee")
    assert push.payload["redirect"] == "arbitration"

    await leader.say(f"/extend {e} 15天 需要外调材料")
    case = await load_case(container, extended)
    assert case.state is CaseState.EXTENDED and case.extension_days == 15


async def test_a_wrong_typed_value_lists_the_accepted_ones_in_the_officers_language(
    container: Container,
):
    officer = await staff(container, Role.OFFICER)
    case_id, number = await seed(container, CaseState.IN_PROGRESS)
    await officer.say(f"/respond {number} 很好 已处理")
    assert officer.text == "“答复结论”只能是以下之一：支持、解释说明、不予支持。"
    officer.locale = "en"
    await officer.say(f"/respond {number} great done")
    assert officer.text == ("The outcome must be one of: supported, explained, not_supported.")
    assert (await load_case(container, case_id)).state is CaseState.IN_PROGRESS
    assert await queued(container, case_id) == []
    # English values still work for a Chinese-speaking officer, and the other way round.
    await officer.say(f"/respond {number} 支持 已补发。")
    assert (await load_case(container, case_id)).state is CaseState.RESPONDED


async def test_a_typed_command_missing_fields_continues_as_the_form_with_a_preview(
    container: Container,
):
    officer = await staff(container, Role.OFFICER)
    case_id, number = await seed(container, CaseState.REGISTERED)
    await officer.say(f"/reject {number} 法院")
    assert officer.text == zh(container, "officer.ask_reason", number=number)
    await officer.say("应向人民法院起诉")
    assert "建议途径：人民法院诉讼" in officer.last[1].text
    await officer.press(encode(Confirm(case_id, 1)))
    assert (await load_case(container, case_id)).state is CaseState.NOT_ACCEPTED


@pytest.mark.parametrize(
    ("word", "shown"), [("我的", 0), ("未分配", 1), ("超期", 0), ("全部", 1), ("mine", 0)]
)
async def test_case_lists_are_named_in_chinese_or_english(
    container: Container, clock: FakeClock, word: str, shown: int
):
    officer = await staff(container, Role.OFFICER)
    _, number = await seed(container, CaseState.REGISTERED)
    await officer.say(f"/cases {word}")
    assert officer.text.count(number) == shown, officer.text


async def test_an_unknown_case_list_shows_the_chinese_usage(container: Container):
    officer = await staff(container, Role.OFFICER)
    await officer.say("/cases everything")
    assert officer.text == "用法：/cases [在办|我的|未分配|超期|全部]"


# -- the card ---------------------------------------------------------------------------


async def test_the_card_tells_the_informal_message_from_the_formal_answer(container: Container):
    officer = await staff(container, Role.OFFICER)
    case_id, number = await seed(container, CaseState.IN_PROGRESS)
    await officer.say(f"/case {number}")
    buttons = officer.last[0].buttons
    labels = {b.payload: b.label for row in buttons for b in row}
    assert labels[card(case_id, Action.RESPOND)] == "正式答复"
    assert labels[encode(CaseButton("message", case_id))] == "回复职工（非正式）"
    # The informal message sits on the last row, apart from the formal acts.
    assert encode(CaseButton("message", case_id)) in {b.payload for b in buttons[-1]}
    assert card(case_id, Action.RESPOND) not in {b.payload for b in buttons[-1]}


def test_every_officer_payload_reads_back_as_what_was_encoded():
    payloads = [
        CaseButton("not_accept", 123456789012),
        Pick("redirect", "administrative"),
        Pick("extension_days", "30"),
        Confirm(123456789012, 99),
        Edit(7, 2),
        Fix("text"),
        FormCancel(7),
    ]
    for payload in payloads:
        text = encode(payload)
        assert len(text.encode()) <= 64 and text.startswith("o:")
        assert parse(text) == payload
    assert parse("oo:supported") == Pick("outcome", "supported")
    assert parse("or:court") == Pick("redirect", "court")
    for junk in ("o:ok:1", "o:ok:x:1", "o:pick:owner:1", "o:fix:owner", "o:accept:", "x:1", "o"):
        assert parse(junk) is None, junk
