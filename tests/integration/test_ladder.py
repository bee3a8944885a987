"""The ladder through the real handlers and storage (SQLite, and PostgreSQL when configured):
a petition at a plant is answered by the plant, 复查 is decided by the company above it,
复核 by the group, and then the matter is final (三级终结); the employee's buttons and texts
follow each step, and each step names the unit deciding it, never an officer."""

from __future__ import annotations

from typing import Any

from bot.container import Container
from handlers.payloads import Pick, PickPage, Preset, encode
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import Filed, admin_chat, file_petition, load_case, queued

ROOT, COMPANY, PLANT, OTHER_COMPANY = "JT", "JY", "JY-1", "YY"


def zh(container: Container, key: str, **params: Any) -> str:
    return container.translator.t(key, "zh_CN", **params)


async def group(container: Container) -> dict[str, int]:
    """集团 → 甲能源公司 → 一厂, and 乙运输公司 beside it: their ids by code."""
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add(ROOT, "本集团", None, now)
        company = await uow.units.add(COMPANY, "甲能源公司", root.id, now)
        plant = await uow.units.add(PLANT, "一厂", company.id, now)
        other = await uow.units.add(OTHER_COMPANY, "乙运输公司", root.id, now)
        await uow.commit()
    return {ROOT: root.id, COMPANY: company.id, PLANT: plant.id, OTHER_COMPANY: other.id}


async def staff(container: Container, unit_id: int, account: str, role: Role) -> ChatUser:
    async with container.uow() as uow:
        await uow.officers.add(
            f"专员{account}",
            role,
            container.services.clock(),
            unit_id=unit_id,
            accounts={"telegram": account},
        )
        await uow.commit()
    return admin_chat(container, account)


async def filed_at(container: Container, user: ChatUser, unit_id: int) -> Filed:
    """A petition handled by this unit (set after submission: the unit picker is intake's)."""
    filed = await file_petition(container, user)
    async with container.uow() as uow:
        case = await uow.cases.get(filed.case_id, for_update=True)
        assert case is not None
        case.unit_id = case.origin_unit_id = unit_id
        await uow.cases.save(case)
        await uow.commit()
    return filed


async def answered(container: Container, officer: ChatUser, filed: Filed) -> None:
    await officer.say(f"/accept {filed.number}")
    await officer.say(f"/begin {filed.number}")
    await officer.say(f"/respond {filed.number} 解释说明 加班费已按制度核算，差额已说明。")
    assert (await load_case(container, filed.case_id)).state is CaseState.RESPONDED


async def last_push(container: Container, case_id: int) -> dict[str, Any]:
    rows = await queued(container, case_id, audience="employee")
    return rows[-1].payload


async def test_a_plant_answers_the_company_reviews_the_group_rechecks_and_it_is_final(
    container: Container, clock: FakeClock
) -> None:
    units = await group(container)
    plant = await staff(container, units[PLANT], "801", Role.OFFICER)
    company = await staff(container, units[COMPANY], "802", Role.OFFICER)
    company_leader = await staff(container, units[COMPANY], "803", Role.LEADER)
    top = await staff(container, units[ROOT], "804", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30001", sender_id="30001")
    filed = await filed_at(container, user, units[PLANT])
    n = filed.number

    # 答复 by the plant; the employee's next step is 复查, named so.
    await answered(container, plant, filed)
    await user.say(filed.code)
    assert user.buttons.get("cs:review") == zh(container, "button.request_review")
    assert "承办单位：甲能源公司/一厂" in user.text

    # 复查: asked by the employee, decided by the company (the plant's parent).
    await user.press("cs:review")
    assert user.text == zh(container, "track.ask_review_reason")
    await user.say("加班记录漏了两周。")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.REVIEW_REQUESTED
    assert case.review_unit_id == units[COMPANY]
    assert case.unit_id == units[PLANT]
    assert zh(container, "view.review_unit", unit="甲能源公司") in user.text
    admin = [q for q in await queued(container, filed.case_id, audience="admin")]
    assert admin[-1].kind == "review_requested"
    assert admin[-1].payload["review_unit"] == "甲能源公司"

    # The plant cannot decide the review of its own answer, nor can the group skip ahead.
    for person in (plant, top):
        await person.say(f"/reviewstart {n}")
        assert person.text == zh(container, "error.not_permitted")
    assert (await load_case(container, filed.case_id)).state is CaseState.REVIEW_REQUESTED
    # The company's office decides it: an officer, not only a leader.
    await company.say(f"/reviewstart {n}")
    push = await last_push(container, filed.case_id)
    assert push["state"] == "reviewing" and push["review_unit"] == "甲能源公司"
    await company_leader.say(f"/reviewdone {n} 不予支持 经复查，原答复正确。")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.REVIEWED
    push = await last_push(container, filed.case_id)
    assert push["notice"]["kind"] == "review"
    assert "专员" not in str(push)  # the push names units, never an officer

    # After the 复查 the employee may ask for 复核, never for 复查 again.
    await user.say(filed.code)
    assert user.buttons.get("cs:review") == zh(container, "button.request_recheck")
    assert zh(container, "button.request_review") not in user.buttons.values()
    assert "由甲能源公司复查" in user.text
    await user.press("cs:review")
    assert user.text == zh(container, "track.ask_recheck_reason")
    await user.say("复查没有核对考勤原始记录。")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.RECHECK_REQUESTED
    assert case.review_unit_id == units[ROOT]
    assert zh(container, "view.recheck_unit", unit="本集团") in user.text

    # 复核 by the group (the plant's grandparent); the company is now the examined one.
    await company.say(f"/recheckstart {n}")
    assert company.text == zh(container, "error.not_permitted")
    await top.say(f"/recheckstart {n}")
    assert (await load_case(container, filed.case_id)).state is CaseState.RECHECKING
    await top.say(f"/recheckdone {n} 不予支持 经复核，维持复查意见。")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.FINALIZED
    assert case.closed_at == clock() and case.contact_erase_at is not None

    # The push and the status say plainly that the petition channel has ended.
    push = await last_push(container, filed.case_id)
    assert push["state"] == "finalized" and push["review_unit"] == "本集团"
    assert push["notice"]["kind"] == "recheck"
    final = (
        "本事项已经复查、复核，信访程序终结（三级终结）；如仍有异议，可依法通过"
        "劳动人事争议仲裁、人民法院诉讼或向纪检监察机关反映等途径解决。"
    )
    await user.say(filed.code)
    assert final in user.text
    assert "cs:review" not in user.buttons and "cs:withdraw" not in user.buttons
    assert "cs:add" not in user.buttons
    # Nothing more can be asked, by button or otherwise.
    await user.press("cs:review")
    await user.say("还是不服。")
    assert (await load_case(container, filed.case_id)).state is CaseState.FINALIZED


async def test_at_the_root_the_root_office_decides_the_steps_above_it(
    container: Container,
) -> None:
    units = await group(container)
    company = await staff(container, units[COMPANY], "811", Role.OFFICER)
    top = await staff(container, units[ROOT], "812", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30002", sender_id="30002")
    filed = await filed_at(container, user, units[COMPANY])
    await answered(container, company, filed)
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("理由一。")
    # 复查 of a company's answer: the group; 复核 above the group: the group again.
    assert (await load_case(container, filed.case_id)).review_unit_id == units[ROOT]
    await top.say(f"/reviewstart {filed.number}")
    await top.say(f"/reviewdone {filed.number} 支持 复查认为应补发。")
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("补发数额不对。")
    assert (await load_case(container, filed.case_id)).review_unit_id == units[ROOT]
    await top.press(f"o:start_recheck:{filed.case_id}")
    await top.press(f"o:ok:{filed.case_id}:1")
    await top.press(f"o:complete_recheck:{filed.case_id}")
    assert top.text == zh(container, "officer.ask_outcome", number=filed.number)
    await top.press(encode(Pick("outcome", "supported")))
    await top.say("经复核，按复查意见补发。")
    await top.press(f"o:ok:{filed.case_id}:1")
    assert (await load_case(container, filed.case_id)).state is CaseState.FINALIZED


async def test_the_recheck_window_closes_thirty_days_after_the_review_opinion(
    container: Container, clock: FakeClock
) -> None:
    units = await group(container)
    plant = await staff(container, units[PLANT], "821", Role.OFFICER)
    company = await staff(container, units[COMPANY], "822", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30003", sender_id="30003")
    filed = await filed_at(container, user, units[PLANT])
    await answered(container, plant, filed)
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("理由。")
    await company.say(f"/reviewstart {filed.number}")
    await company.say(f"/reviewdone {filed.number} 解释说明 复查意见。")
    clock.advance(days=31)
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("太晚的理由。")
    assert user.text == zh(container, "error.recheck_window_closed")
    assert (await load_case(container, filed.case_id)).state is CaseState.REVIEWED


async def test_a_transfer_offers_the_units_of_the_officers_subtree_and_shows_their_names(
    container: Container,
) -> None:
    units = await group(container)
    top = await staff(container, units[ROOT], "831", Role.OFFICER)
    company = await staff(container, units[COMPANY], "832", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30004", sender_id="30004")
    filed = await filed_at(container, user, units[COMPANY])

    # A company office may send it only down its own subtree: the plant, not the other company.
    await company.press(f"o:transfer:{filed.case_id}")
    offered = set(company.buttons)
    assert encode(Pick("destination", PLANT)) in offered
    assert encode(Pick("destination", OTHER_COMPANY)) not in offered
    assert encode(Pick("destination", COMPANY)) not in offered  # the case's own unit
    await company.say("乙运输公司")
    assert zh(container, "error.unknown_unit") in company.text
    await company.press(encode(Pick("destination", PLANT)))
    assert company.text == zh(container, "officer.ask_reason", number=filed.number)
    await company.say("属一厂职责")
    assert "承办单位：甲能源公司/一厂" in company.text  # the preview names, never codes
    assert PLANT not in company.last[-1].text
    await company.press(f"o:ok:{filed.case_id}:1")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.TRANSFERRED and case.unit_id == units[PLANT]
    push = await last_push(container, filed.case_id)
    assert push["unit"] == "甲能源公司/一厂"

    # Typed: by code or by path name, from the group's office (which covers everything).
    other = await filed_at(container, ChatUser(container.handlers, chat_id="30005"), units[PLANT])
    await top.say(f"/transfer {other.number} YY 属运输公司")
    assert (await load_case(container, other.case_id)).unit_id == units[OTHER_COMPANY]
    await top.say(f"/transfer {other.number} 甲能源公司 退回公司")
    assert zh(container, "error.invalid_transition") in top.text  # transferred: not again


async def test_a_transfer_form_pages_through_many_units(container: Container) -> None:
    units = await group(container)
    now = container.services.clock()
    async with container.uow() as uow:
        for i in range(12):
            await uow.units.add(f"P{i:02d}", f"车间{i:02d}", units[PLANT], now)
        await uow.commit()
    top = await staff(container, units[ROOT], "841", Role.OFFICER)
    filed = await filed_at(container, ChatUser(container.handlers, chat_id="30006"), units[PLANT])
    await top.press(f"o:transfer:{filed.case_id}")
    first = [p for p in top.buttons if p.startswith("o:pick:destination:")]
    assert len(first) == 8
    # Children first: the group's own companies before anything deeper.
    assert first[:2] == [encode(Pick("destination", c)) for c in (COMPANY, OTHER_COMPANY)]
    await top.press(encode(PickPage("destination", 8)))
    second = [p for p in top.buttons if p.startswith("o:pick:destination:")]
    assert len(second) == 7  # 2 companies + 12 workshops + the group itself, less the plant
    assert not set(first) & set(second)
    assert second[-1] == encode(Pick("destination", ROOT))  # the officer's own unit last
    assert encode(PickPage("destination", 0)) in top.buttons


async def test_a_new_petition_on_a_finalized_matter_is_not_accepted_in_one_action(
    container: Container,
) -> None:
    units = await group(container)
    plant = await staff(container, units[PLANT], "851", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30007", sender_id="30007")
    filed = await filed_at(container, user, units[PLANT])
    await plant.press(f"o:not_accept:{filed.case_id}")
    preset = encode(Preset("finalized"))
    assert plant.buttons[preset] == zh(container, "button.o.preset_finalized")
    await plant.press(preset)
    assert "预览" in plant.last[0].text  # straight to the preview: nothing else to ask
    await plant.press(f"o:ok:{filed.case_id}:1")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.NOT_ACCEPTED
    push = await last_push(container, filed.case_id)
    assert push["redirect"] == "other"
    assert "三级终结" in push["reason"] and "人民法院诉讼" in push["reason"]


async def test_unsatisfied_with_the_review_the_rating_buttons_lead_to_the_recheck(
    container: Container,
) -> None:
    units = await group(container)
    plant = await staff(container, units[PLANT], "861", Role.OFFICER)
    company = await staff(container, units[COMPANY], "862", Role.OFFICER)
    user = ChatUser(container.handlers, chat_id="30008", sender_id="30008")
    filed = await filed_at(container, user, units[PLANT])
    await answered(container, plant, filed)
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("理由。")
    await company.say(f"/reviewstart {filed.number}")
    await company.say(f"/reviewdone {filed.number} 解释说明 复查意见。")
    token = (await last_push(container, filed.case_id))["survey"]

    await user.press(f"fb:{token}:u")
    assert user.buttons[f"fb:{token}:r"] == zh(container, "button.request_recheck")
    await user.press(f"fb:{token}:r")
    assert user.text == zh(container, "track.ask_recheck_reason")
    await user.say("复查没有听取我的意见。")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.RECHECK_REQUESTED and case.review_unit_id == units[ROOT]
    assert "由本集团复核" in user.text

    # After the 复核 an unsatisfied rating offers nothing more: it says the matter is final.
    top = await staff(container, units[ROOT], "863", Role.LEADER)
    await top.say(f"/recheckstart {filed.number}")
    await top.say(f"/recheckdone {filed.number} 解释说明 复核意见。")
    token = (await last_push(container, filed.case_id))["survey"]
    await user.press(f"fb:{token}:u")
    assert "三级终结" in user.text
    assert f"fb:{token}:r" not in user.buttons
    await user.press(f"fb:{token}:r")
    assert user.text == zh(container, "error.invalid_transition")
