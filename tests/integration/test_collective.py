"""集体诉求 through the real handlers and storage (SQLite, and PostgreSQL when configured):
an officer links petitions of one plant as one collective matter (others are refused with
the reason); each employee is told, without a word about the others; 受理, 开始办理 and one
答复 on any member apply to every member, each employee getting the answer with their own
rating buttons; what follows the answer stays each petition's own; a member taken out is
handled alone again, and the matter dissolves below two. The cluster alert's and the case
card's 合并为集体诉求 buttons link the same way. Only offices handling petitions link."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.container import Container
from bot.stats import build_report
from handlers.payloads import CaseButton, MatterButton, encode
from handlers.views import render_employee
from petitions.deadlines import DeadlinePolicy
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.chat import ChatUser
from tests.helpers.flow import file_petition, load_case, queued
from tests.integration.test_supervision import _group, staff, zh

PLANT_CHAT, B_CHAT = "-1004", "-1003"
ANSWER = "经核实，十月份加班费将于本月二十日前全部补发到位。"
NAME, PHONE = "王小明", "13912345678"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The plant and 乙公司 have their own chats."""
    return {**env, "XINFANG_UNIT_CHATS": f"JT-A-1=telegram:{PLANT_CHAT};JT-B=telegram:{B_CHAT}"}


@pytest.fixture
async def units(container: Container) -> dict[str, int]:
    """本集团 → 甲公司 → 甲一厂, and 乙公司 beside 甲公司: ids by code."""
    return await _group(container)


def employee(container: Container, n: int) -> ChatUser:
    return ChatUser(container.handlers, chat_id=str(50000 + n), sender_id=str(50000 + n))


def pushes(rows: list[Any], kind: str) -> list[Any]:
    return [r for r in rows if r.kind == kind]


async def test_one_answer_reaches_every_member_and_what_follows_stays_each_ones_own(
    container: Container, units: dict[str, int]
) -> None:
    people = [employee(container, i) for i in range(4)]
    filed = [
        await file_petition(
            container, p, unit="甲一厂", description=f"一车间加班费拖欠三个月了，第{i}次反映。"
        )
        for i, p in enumerate(people[:3])
    ]
    other_unit = await file_petition(container, people[3], unit="乙公司")
    officer = await staff(container, units["JT-A-1"], "701", Role.OFFICER, PLANT_CHAT)
    numbers = [f.number for f in filed]

    # Linked by command: the three of the plant; 乙公司's petition is not the plant's to see.
    await officer.say(f"/collective {numbers[1]} {numbers[0]} {numbers[2]}")
    text = officer.text
    assert zh(container, "collective.owner", owner="专员701") in text
    assert f"牵头案件 {numbers[0]}" in text and "共 3 件" in text
    for f in filed:
        case = await load_case(container, f.case_id)
        assert case.matter_id == filed[0].case_id
        assert case.owner_officer_id is not None
    await officer.say(f"/collective {numbers[0]} {other_unit.number}")
    assert officer.text == zh(container, "error.case_not_found")
    assert (await load_case(container, other_unit.case_id)).matter_id is None

    # Each employee is told, in their own words, nothing about the others.
    for f in filed:
        [told] = pushes(await queued(container, f.case_id, audience="employee"), "collective")
        shown = render_employee(container.translator.t, told.kind, told.payload).text
        assert f.number in shown and "集体诉求" in shown
        assert not any(n in shown for n in numbers if n != f.number)

    # The statistics count the petitions individually and the matter once.
    now = container.services.clock()
    async with container.uow() as uow:
        report = await build_report(
            uow, now - timedelta(days=1), now + timedelta(days=1), now, DeadlinePolicy()
        )
    assert (report.total, report.in_matters, report.matters) == (4, 3, 1)
    assert report.distinct_matters == 2

    # The card names the matter and offers to take a member out.
    await officer.say(f"/case {numbers[1]}")
    card = officer.last[0]
    assert zh(container, "collective.card_line", count=3, lead=numbers[0],
              numbers=f"{numbers[1]}、{numbers[2]}") in card.text  # fmt: skip
    assert encode(CaseButton("unlink", filed[1].case_id)) in officer.buttons

    # 受理 on one member accepts all three; then 开始办理 and one 答复.
    await officer.say(f"/accept {numbers[2]}")
    assert zh(container, "collective.applied", count=2, numbers=f"{numbers[0]}、{numbers[1]}") \
        in officer.text  # fmt: skip
    await officer.say(f"/begin {numbers[0]}")
    await officer.say(f"/respond {numbers[0]} 支持 {ANSWER}")
    tokens = set()
    for f in filed:
        case = await load_case(container, f.case_id)
        assert case.state is CaseState.RESPONDED
        [status] = [
            r
            for r in await queued(container, f.case_id, audience="employee")
            if r.kind == "status" and r.payload.get("text") == ANSWER
        ]
        assert status.payload["number"] == f.number and status.payload["survey"]
        tokens.add(status.payload["survey"])
    assert len(tokens) == 3  # each rates on their own

    # A member taken out is handled alone; below two the matter dissolves.
    await officer.press(encode(CaseButton("unlink", filed[2].case_id)))
    assert officer.text == zh(
        container, "collective.unlinked", number=numbers[2], lead=numbers[0], count=2
    )
    assert (await load_case(container, filed[2].case_id)).matter_id is None
    assert pushes(await queued(container, filed[2].case_id, audience="employee"),
                  "collective_left")  # fmt: skip
    await officer.say(f"/separate {numbers[0]}")
    assert officer.text == zh(container, "collective.dissolved", number=numbers[0])
    for f in filed:
        assert (await load_case(container, f.case_id)).matter_id is None


async def test_a_matter_takes_no_newcomer_after_its_answer_and_names_who_was_left_out(
    container: Container, units: dict[str, int]
) -> None:
    people = [employee(container, 10 + i) for i in range(4)]
    filed = [await file_petition(container, p, unit="甲一厂") for p in people[:2]]
    officer = await staff(container, units["JT-A-1"], "702", Role.OFFICER, PLANT_CHAT)
    await officer.say(f"/collective {filed[0].number} {filed[1].number}")
    for step in ("accept", "begin"):
        await officer.say(f"/{step} {filed[0].number}")
    await officer.say(f"/respond {filed[0].number} 解释说明 {ANSWER}")
    late = await file_petition(container, people[2], unit="甲一厂")
    await officer.say(f"/collective {filed[0].number} {late.number}")
    assert officer.text.splitlines() == [
        zh(container, "error.nothing_to_link"),
        zh(container, "collective.refused_answered", number=late.number),
    ]
    assert (await load_case(container, late.case_id)).matter_id is None

    # A petition 纪检 handles is not the office's to name: nothing is linked.
    secret = await file_petition(container, people[3], unit="甲一厂", conflict="discipline")
    third = await file_petition(container, employee(container, 20), unit="甲一厂")
    root = await staff(container, units["JT"], "703", Role.OFFICER, "-1001")
    await root.say(f"/collective {late.number} {third.number} {secret.number}")
    assert root.text == zh(container, "error.case_not_found")
    assert (await load_case(container, third.case_id)).matter_id is None
    await root.say(f"/collective {late.number} {third.number}")
    assert (await load_case(container, third.case_id)).matter_id == late.case_id


@pytest.mark.parametrize(
    "role, allowed",
    [
        (Role.OFFICER, True),
        (Role.LEADER, True),
        (Role.DISCIPLINE, False),
        (Role.CUSTODIAN, False),
    ],
)
async def test_only_the_offices_handling_petitions_link_them(
    container: Container, units: dict[str, int], role: Role, allowed: bool
) -> None:
    filed = [await file_petition(container, employee(container, 30 + i)) for i in range(2)]
    person = await staff(container, units["JT"], "704", role, "-1001")
    await person.say(f"/collective {filed[0].number} {filed[1].number}")
    linked = (await load_case(container, filed[1].case_id)).matter_id == filed[0].case_id
    assert linked is allowed, person.text
    if not allowed:
        assert person.text in (
            zh(container, "error.not_permitted"),
            zh(container, "error.case_not_found"),
        )


async def test_the_cluster_alerts_and_the_cards_buttons_link_the_petitions(
    container: Container, units: dict[str, int]
) -> None:
    filed = [
        await file_petition(container, employee(container, 40 + i), unit="甲一厂")
        for i in range(4)
    ]
    ids = [f.case_id for f in filed]
    now = container.services.clock()
    async with container.uow() as uow:
        alert_id = await uow.warnings.add_alert(
            "cluster", "k", units["JT-A-1"], ids[0], ids[:3], {"trend": [3]}, now
        )
        await uow.warnings.add_links(ids[3], [(ids[0], 0.9)], now)
        await uow.commit()
    assert alert_id is not None
    leader = await staff(container, units["JT-A"], "705", Role.LEADER, "-1002")
    await leader.press(encode(MatterButton(alert_id)))
    assert "共 3 件" in leader.text, leader.text
    assert [(await load_case(container, i)).matter_id for i in ids] == [ids[0]] * 3 + [None]

    # The fourth petition's card: similar to a member, it joins that member's matter.
    await leader.say(f"/case {filed[3].number}")
    link = encode(CaseButton("link", ids[3]))
    assert link in leader.buttons
    await leader.press(link)
    assert (await load_case(container, ids[3])).matter_id == ids[0]
    assert "共 4 件" in leader.text and "本次新增 1 件" in leader.text

    # A stale or forged alert id changes nothing.
    await leader.press(encode(MatterButton(alert_id + 99)))
    assert leader.text == zh(container, "error.stale")


async def test_a_member_its_employee_withdrew_is_left_out_quietly(
    container: Container, units: dict[str, int]
) -> None:
    people = [employee(container, 60 + i) for i in range(3)]
    filed = [await file_petition(container, p, unit="甲一厂") for p in people]
    officer = await staff(container, units["JT-A-1"], "706", Role.OFFICER, PLANT_CHAT)
    await officer.say("/collective " + " ".join(f.number for f in filed))
    await people[2].say(filed[2].code)
    await people[2].press("cs:withdraw")
    await people[2].press("cs:withdraw_yes")
    assert (await load_case(container, filed[2].case_id)).state is CaseState.WITHDRAWN

    await officer.say(f"/accept {filed[0].number}")
    assert officer.text.endswith(
        zh(container, "collective.applied", count=1, numbers=filed[1].number)
    ), officer.text
    assert (await load_case(container, filed[1].case_id)).state is CaseState.ACCEPTED
    assert (await load_case(container, filed[2].case_id)).state is CaseState.WITHDRAWN


async def test_a_matter_moves_as_one_and_is_never_split_between_offices(
    container: Container, units: dict[str, int]
) -> None:
    filed = [
        await file_petition(container, employee(container, 70 + i), unit="甲公司")
        for i in range(3)
    ]
    company = await staff(container, units["JT-A"], "707", Role.OFFICER, "-1002")
    numbers = [f.number for f in filed]
    await company.say(f"/collective {numbers[0]} {numbers[1]}")
    # 交办 of one member would leave the matter with two offices: refused, nothing moves.
    await company.say(f"/assigndown {numbers[1]} JT-A-1 5 请核实")
    assert company.text == zh(container, "error.matter_member", number=numbers[1])
    assert (await load_case(container, filed[1].case_id)).unit_id == units["JT-A"]
    # The preview of an answer says it goes to every petitioner of the matter.
    await company.press(encode(CaseButton("accept", filed[0].case_id)))
    assert zh(container, "collective.preview_note", count=1) in company.history[-2].text
    await company.say("/cancel")
    # 转办 moves the whole matter; the third petition, transferred alone, may then join it.
    root = await staff(container, units["JT"], "708", Role.OFFICER, "-1001")
    await root.say(f"/transfer {numbers[0]} JT-B 属乙公司管辖")
    moved = [await load_case(container, f.case_id) for f in filed[:2]]
    assert [c.unit_id for c in moved] == [units["JT-B"]] * 2
    assert all(c.state is CaseState.TRANSFERRED for c in moved)
    await root.say(f"/transfer {numbers[2]} JT-B 属乙公司管辖")
    await root.say(f"/collective {numbers[2]} {numbers[0]}")
    assert (await load_case(container, filed[2].case_id)).matter_id == filed[0].case_id


async def test_refusals_are_named_and_an_ended_member_stays_as_it_was(
    container: Container, units: dict[str, int]
) -> None:
    filed = [
        await file_petition(container, employee(container, 80 + i), unit="甲一厂")
        for i in range(2)
    ]
    other = await file_petition(container, employee(container, 82), unit="甲公司")
    root = await staff(container, units["JT"], "709", Role.OFFICER, "-1001")
    await root.say(f"/collective {filed[0].number} {other.number}")
    assert zh(container, "error.nothing_to_link") in root.text
    assert zh(container, "collective.refused_unit", number=other.number) in root.text
    await root.say(f"/separate {filed[0].number}")
    assert root.text == zh(container, "error.not_in_matter")
    await root.say(f"/collective {filed[0].number} {filed[1].number}")
    user = employee(container, 81)
    await user.say(filed[1].code)
    await user.press("cs:withdraw")
    await user.press("cs:withdraw_yes")
    await root.say(f"/separate {filed[1].number}")
    assert root.text == zh(container, "error.not_in_matter")
    assert (await load_case(container, filed[1].case_id)).matter_id == filed[0].case_id


async def test_two_officers_acting_on_two_members_at_once_both_get_an_answer(
    container: Container, units: dict[str, int]
) -> None:
    """On PostgreSQL the two acts lock the members in different orders; the database
    undoes one of them (a deadlock) and it is handled again, never lost."""
    filed = [
        await file_petition(container, employee(container, 90 + i), unit="甲一厂")
        for i in range(3)
    ]
    first = await staff(container, units["JT-A-1"], "710", Role.OFFICER, PLANT_CHAT)
    second = await staff(container, units["JT-A-1"], "711", Role.OFFICER, PLANT_CHAT)
    await first.say("/collective " + " ".join(f.number for f in filed))
    await asyncio.gather(
        first.say(f"/accept {filed[2].number}"), second.say(f"/accept {filed[1].number}")
    )
    answers = {first.text.splitlines()[0], second.text.splitlines()[0]}
    assert zh(container, "error.invalid_transition") in answers, answers
    assert any(a.startswith("✅") for a in answers), answers
    for f in filed:
        assert (await load_case(container, f.case_id)).state is CaseState.ACCEPTED
