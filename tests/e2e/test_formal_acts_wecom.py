"""Formal acts on WeCom by buttons only: encrypted callbacks into the real aiohttp app, the
real handlers, storage and outbox worker, a fake WeCom API. The case is accepted, begun and
formally answered from template-card buttons and the guided forms; each preview is rendered
exactly as the employee's push then is; cancelling or editing half-way changes nothing.
Typed commands take Chinese values, and a wrong value gets the list of accepted ones."""

from __future__ import annotations

from typing import Any

from handlers.ports import CaseFilter
from petitions.states import CaseState, Outcome
from tests.e2e.test_wecom_flow import (
    CASE_NUMBER,
    EMPLOYEE,
    OFFICER,
    Harness,
    file_anonymous_petition,
    wecom,  # noqa: F401 - the fixture
)


async def the_case(h: Harness) -> Any:
    async with h.container.uow() as uow:
        [case] = await uow.cases.list(CaseFilter())
    return case


def shown(bodies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What each message shows, without its buttons: a text's content, a card's titles
    (a notice's file message, which no preview has, is left out)."""
    out = []
    for body in bodies:
        if body["msgtype"] == "file":
            continue
        if body["msgtype"] == "text":
            out.append(("text", str(body["text"]["content"])))
        else:
            card = body["template_card"]
            out.append(
                ("card", f"{card['main_title']['title']}\n{card.get('sub_title_text', '')}")
            )
    return out


def keys(body: dict[str, Any]) -> dict[str, str]:
    card = body.get("template_card") or {}
    return {b["key"]: b["text"] for b in card.get("button_list", [])}


async def step(h: Harness, *, press: str | None = None, say: str | None = None) -> list[dict]:
    """The officer presses a button or types; the messages this brought them."""
    before = len(h.sent_to(OFFICER))
    if press is not None:
        await h.press(OFFICER, press)
    else:
        assert say is not None
        await h.say(OFFICER, say)
    return h.sent_to(OFFICER)[before:]


async def employee_gets(h: Harness) -> list[dict[str, Any]]:
    """Deliver the outbox; what reached the employee."""
    before = len(h.sent_to(EMPLOYEE))
    await h.worker.run_once()
    return h.sent_to(EMPLOYEE)[before:]


async def filed(h: Harness) -> tuple[int, str]:
    await h.register_officer()
    await file_anonymous_petition(h)
    assert await h.worker.run_once() >= 1  # the case card reaches the officer
    case = await the_case(h)
    number = CASE_NUMBER.search(h.texts_to(OFFICER))
    assert number is not None
    return case.id, number.group()


async def test_a_case_is_accepted_begun_and_answered_formally_by_buttons_only(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    case_id, _number = await filed(h)
    card = h.card_with(OFFICER, f"o:accept:{case_id}")
    labels = {b["key"]: b["text"] for b in card["button_list"]}
    assert labels[f"o:message:{case_id}"] == "回复职工（非正式）"

    # 受理 and 开始办理: preview (an intro, then the employee's message), 确认发送, push.
    for act, state in (("accept", "已受理"), ("start", "办理中")):
        preview = (await step(h, press=f"o:{act}:{case_id}"))[1:]
        assert keys(preview[-1])[f"o:ok:{case_id}:1"] == "确认发送"
        assert not await employee_gets(h)  # nothing before 确认
        await step(h, press=f"o:ok:{case_id}:1")
        push = await employee_gets(h)
        assert state in shown(push)[0][1]
        # 受理 issues the 受理告知书: a file message after the text; 开始办理 issues none.
        assert [b["msgtype"] for b in push][1:] == (["file"] if act == "accept" else [])
        # The same words; a plain push is a text message, the preview a card with choices.
        assert [t for _, t in shown(push)] == [t.rstrip("\n") for _, t in shown(preview)]

    # 正式答复, cancelled half-way: nothing changes, the employee hears nothing.
    respond = f"o:respond:{case_id}"
    assert keys(h.sent_to(OFFICER)[-1])[respond] == "正式答复"
    await step(h, press=respond)
    await step(h, press="o:pick:outcome:explained")
    cancelled = await step(h, press=f"o:cancel:{case_id}")
    assert shown(cancelled) == [("text", "已取消。")]
    assert not await employee_gets(h)
    assert (await the_case(h)).state is CaseState.IN_PROGRESS

    # Again: outcome by button, text typed, 修改 the outcome at the preview, then confirm.
    await step(h, press=respond)
    await step(h, press="o:pick:outcome:explained")
    first = await step(h, say="三号车间安全阀已于本周更换，今后每月巡检。")
    assert "结论：解释说明" in "\n".join(t for _, t in shown(first))
    await step(h, press=f"o:edit:{case_id}:1")
    await step(h, press="o:fix:outcome")
    preview = (await step(h, press="o:pick:outcome:supported"))[1:]
    assert f"o:ok:{case_id}:2" in keys(preview[-1])
    assert not await employee_gets(h)
    await step(h, press=f"o:ok:{case_id}:1")  # the first preview's button: stale
    assert not await employee_gets(h)
    await step(h, press=f"o:ok:{case_id}:2")
    push = await employee_gets(h)
    # Both are cards (the push with the rating buttons): title and text are identical.
    assert shown(push) == shown(preview)
    assert all(k.startswith("fb:") for k in keys(push[-1]))
    case = await the_case(h)
    assert case.state is CaseState.RESPONDED and case.outcome is Outcome.SUPPORTED


async def test_a_typed_respond_takes_chinese_values_and_a_wrong_value_lists_the_accepted(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    _case_id, number = await filed(h)
    await h.say(OFFICER, f"/accept {number}")
    await h.say(OFFICER, f"/begin {number}")
    wrong = await step(h, say=f"/respond {number} 好的 已处理")
    assert shown(wrong) == [("text", "“答复结论”只能是以下之一：支持、解释说明、不予支持。")]
    assert (await the_case(h)).state is CaseState.IN_PROGRESS

    await h.worker.run_once()  # the pushes of 受理 and 办理中
    await h.say(OFFICER, f"/respond {number} 不予支持 安全阀符合标准，无需更换。")
    push = await employee_gets(h)
    assert "结论：不予支持" in "\n".join(t for _, t in shown(push))
    assert (await the_case(h)).outcome is Outcome.NOT_SUPPORTED
