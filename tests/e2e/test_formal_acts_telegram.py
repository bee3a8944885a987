"""Formal acts on Telegram by buttons only: real PTB against the fake Bot API, the real
handlers, storage and outbox worker. The case is accepted, begun and formally answered from
the case card's buttons and the guided forms; each preview is exactly the message the
employee then receives; cancelling or editing half-way changes nothing. Typed commands take
Chinese values, and a wrong value gets the list of accepted ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.container import Container
from handlers.ports import CaseFilter
from petitions.states import CaseState, Outcome
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, OFFICER, Harness, running
from tests.helpers.clock import FakeClock


@pytest.fixture
async def tg(container: Container, clock: FakeClock) -> AsyncIterator[Harness]:
    """A running Telegram bot on the test database."""
    async with running(container, clock) as h:
        yield h


async def the_case(tg: Harness) -> Any:
    async with tg.container.uow() as uow:
        [case] = await uow.cases.list(CaseFilter())
    return case


def labels(tg: Harness, message: dict[str, Any]) -> dict[str, str]:
    return labels_of(message)


async def filed_case(tg: Harness) -> tuple[int, str, dict[str, Any]]:
    """An anonymous petition filed on Telegram; (case id, number, its card in the admin chat)."""
    await tg.file_petition()
    await tg.add_officer()
    # The card, then the evidence photo in a call of its own: wait for both, or the photo can
    # arrive later and be read as the answer to the next command typed in the admin chat.
    arrived = await tg.until(
        tg.admin,
        0,
        lambda ms: any(labels(tg, m) for m in ms) and any("photo" in m for m in ms),
    )
    card = next(m for m in arrived if labels(tg, m))
    match = NUMBER.search(card["text"])
    assert match is not None
    return (await the_case(tg)).id, match.group(0), card


async def act_by_buttons(tg: Harness, press: str, confirm: str) -> str:
    """Press a card's act button, then 确认发送 under its preview; return the preview."""
    preview = with_key(await tg.press(tg.admin, OFFICER, press, expect=confirm), confirm)
    assert labels(tg, preview)[confirm] == "确认发送"
    await tg.press(tg.admin, OFFICER, confirm)
    return str(preview["text"])


def with_key(messages: list[dict[str, Any]], payload: str) -> dict[str, Any]:
    """The message among ``messages`` that offers the button ``payload``."""
    return next(m for m in messages if payload in labels_of(m))


def labels_of(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {
        b["callback_data"]: b["text"] for row in markup.get("inline_keyboard", []) for b in row
    }


async def pushed(tg: Harness, since: int, needle: str) -> dict[str, Any]:
    """The employee's next message containing ``needle``."""
    found = await tg.until(
        EMPLOYEE, since, lambda ms: any(needle in m.get("text", "") for m in ms)
    )
    return next(m for m in found if needle in m.get("text", ""))


async def test_a_case_is_accepted_begun_and_answered_formally_by_buttons_only(
    tg: Harness,
) -> None:
    case_id, number, card = await filed_case(tg)
    shown = labels(tg, card)
    assert shown[f"o:accept:{case_id}"] == "受理"
    assert shown[f"o:message:{case_id}"] == "回复职工（非正式）"

    # 受理: the preview, then what the employee gets, word for word.
    before = len(tg.fake.sent_to(EMPLOYEE))
    preview = await act_by_buttons(tg, f"o:accept:{case_id}", f"o:ok:{case_id}:1")
    push = await pushed(tg, before, "已受理")
    assert push["text"] == preview

    # 开始办理, from the buttons of the confirmation (the case's next lawful acts).
    before = len(tg.fake.sent_to(EMPLOYEE))
    preview = await act_by_buttons(tg, f"o:start:{case_id}", f"o:ok:{case_id}:1")
    assert (await pushed(tg, before, "办理中"))["text"] == preview

    # 正式答复 — cancelled half-way first: nothing changes and the employee hears nothing.
    respond = f"o:respond:{case_id}"
    done = tg.with_button(tg.admin, respond)
    assert labels(tg, done)[respond] == "正式答复"
    assert labels(tg, done)[f"o:message:{case_id}"] == "回复职工（非正式）"
    before = len(tg.fake.sent_to(EMPLOYEE))
    await tg.press(tg.admin, OFFICER, respond, expect="o:pick:outcome:supported")
    await tg.press(tg.admin, OFFICER, "o:pick:outcome:supported")
    # A short notice to the presser is shown as the button's alert, not posted to the room.
    message = tg.with_button(tg.admin, f"o:cancel:{case_id}")
    tg.fake.callback_query(tg.admin, OFFICER, f"o:cancel:{case_id}", message["message_id"])
    await tg.fake.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params.get("text") == "已取消。"
    )
    assert (await the_case(tg)).state is CaseState.IN_PROGRESS

    # Again: outcome by button, the text typed, then 修改 the outcome at the preview.
    await tg.press(tg.admin, OFFICER, respond, expect="o:pick:outcome:supported")
    await tg.press(tg.admin, OFFICER, "o:pick:outcome:supported")
    answer = "经核实，加班已按调休处理，不再另发加班费。"
    sent = await tg.say(
        tg.admin, OFFICER, answer, expect=f"o:ok:{case_id}:1", chat_type="supergroup"
    )
    first = with_key(sent, f"o:ok:{case_id}:1")
    assert "结论：支持" in first["text"]
    await tg.press(tg.admin, OFFICER, f"o:edit:{case_id}:1", expect="o:fix:outcome")
    await tg.press(tg.admin, OFFICER, "o:fix:outcome", expect="o:pick:outcome:not_supported")
    sent = await tg.press(
        tg.admin, OFFICER, "o:pick:outcome:not_supported", expect=f"o:ok:{case_id}:2"
    )
    second = with_key(sent, f"o:ok:{case_id}:2")
    assert "结论：不予支持" in second["text"] and answer in second["text"]
    assert (await the_case(tg)).state is CaseState.IN_PROGRESS
    assert not any("已答复" in t for t in tg.fake.texts_to(EMPLOYEE)[before:])

    await tg.press(tg.admin, OFFICER, f"o:ok:{case_id}:2")
    push = await pushed(tg, before, "已答复")
    assert push["text"] == second["text"]
    # The employee's copy carries the rating buttons instead of the officer's choices.
    assert tg.buttons(push) and all(p.startswith("fb:") for p in tg.buttons(push))
    case = await the_case(tg)
    assert case.state is CaseState.RESPONDED and case.outcome is Outcome.NOT_SUPPORTED
    assert number in tg.texts(tg.admin)
    assert tg.fake.flood_violations == 0


async def test_a_typed_respond_takes_chinese_values_and_a_wrong_value_lists_the_accepted(
    tg: Harness,
) -> None:
    case_id, number, _card = await filed_case(tg)
    await tg.say(tg.admin, OFFICER, f"/accept {number}", chat_type="supergroup")
    await tg.say(tg.admin, OFFICER, f"/begin {number}", chat_type="supergroup")

    [wrong, *_] = await tg.say(
        tg.admin, OFFICER, f"/respond {number} 好的 已处理", chat_type="supergroup"
    )
    assert wrong["text"] == "“答复结论”只能是以下之一：支持、解释说明、不予支持。"
    assert (await the_case(tg)).state is CaseState.IN_PROGRESS

    before = len(tg.fake.sent_to(EMPLOYEE))
    await tg.say(
        tg.admin,
        OFFICER,
        f"/respond {number} 不予支持 加班已调休，不再另发。",
        chat_type="supergroup",
    )
    push = await pushed(tg, before, "已答复")
    assert "结论：不予支持" in push["text"] and "加班已调休，不再另发。" in push["text"]
    case = await the_case(tg)
    assert case.id == case_id and case.outcome is Outcome.NOT_SUPPORTED
    assert tg.fake.flood_violations == 0
