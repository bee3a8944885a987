"""解除紧急: a leader takes the 紧急 mark off a petition a danger sign marked by mistake (a
look-alike); the case gets the ordinary acceptance deadline and priority again, the act is
audited with the kinds it had, and only the leaders (纪检 on its own cases) may do it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.container import Container
from handlers.payloads import CaseButton, encode
from petitions.roles import Role
from tests.helpers.chat import ChatUser
from tests.helpers.flow import add_officer, admin_chat, file_petition, load_case

# A look-alike: "跳楼价" is a price, not a threat; the keyword signs still catch "跳楼".
LOOK_ALIKE = "食堂说要搞跳楼价促销，结果饭菜质量下降，职工意见很大，请核查食堂承包合同。"


def zh(container: Container, key: str, **params: object) -> str:
    return container.translator.t(key, "zh_CN", **params)


def employee(container: Container) -> ChatUser:
    return ChatUser(container.handlers, chat_id="61001", sender_id="61001")


async def test_a_leader_takes_the_urgent_mark_off_and_the_ordinary_deadline_returns(
    container: Container,
) -> None:
    filed = await file_petition(container, employee(container), description=LOOK_ALIKE)
    case = await load_case(container, filed.case_id)
    assert case.urgent == "self_harm" and case.deadline_at is not None
    short = case.deadline_at
    await add_officer(container, Role.LEADER, "9101")
    leader = admin_chat(container, "9101")
    await leader.say(f"/case {filed.number}")
    button = encode(CaseButton("noturgent", filed.case_id))
    assert button in leader.buttons
    await leader.press(button)
    case = await load_case(container, filed.case_id)
    assert case.urgent is None and case.priority == 0
    assert case.deadline_at is not None and case.deadline_at - short >= timedelta(days=7)
    assert leader.text.startswith(f"案件 {filed.number} 已解除紧急标记")
    async with container.uow() as uow:
        entries = await uow.audit.list(filed.case_id)
    audit = [e for e in entries if e["action"] == "case.urgent_cleared"]
    assert len(audit) == 1 and audit[0]["detail"]["kinds"] == ["self_harm"]
    # Again: nothing to take off.
    await leader.say(f"/noturgent {filed.number}")
    assert leader.text == zh(container, "urgent.not_marked", number=filed.number)


@pytest.mark.parametrize("role", [Role.OFFICER, Role.CUSTODIAN, Role.DISCIPLINE])
async def test_only_the_leaders_take_the_mark_off(container: Container, role: Role) -> None:
    filed = await file_petition(container, employee(container), description=LOOK_ALIKE)
    assert (await load_case(container, filed.case_id)).urgent
    await add_officer(container, role, "9102")
    person = admin_chat(container, "9102")
    await person.say(f"/noturgent {filed.number}")
    assert person.text in (
        zh(container, "error.not_permitted"),
        zh(container, "error.case_not_found"),
    )
    assert (await load_case(container, filed.case_id)).urgent is not None
