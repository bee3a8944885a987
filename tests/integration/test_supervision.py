"""督办 and 交办 through the real handlers, scheduler and storage (SQLite, and PostgreSQL when
configured), with a controllable clock: an overdue case alerts the company's leaders once,
a company leader's 督办 gives the plant a working deadline (the statutory one stays) and the
employee reads only that a unit above supervises; missed, the alert climbs to the group's
leaders once; the case moving on starts afresh. A company assigns a case down to its plant
(交办), a late report alerts the company's chats once, the plant reports back. Statistics
count 督办 and changed outcomes per unit, and the web's case page offers the same acts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.container import Container
from bot.delivery import admin_address
from bot.scheduler import Scheduler
from bot.settings import load_settings
from bot.stats import build_report
from handlers.payloads import CaseButton, Pick, encode
from handlers.views import render_admin, render_employee
from petitions.deadlines import OFFICE_ZONE, DeadlinePolicy
from petitions.roles import Role
from petitions.states import CaseState
from storage.vault import Keyring
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import file_petition, load_case, queued
from tests.helpers.seeding import seed_cases
from tests.helpers.web import WebOfficer, WebServer, add_web_officer, web_server

ROOT_CHAT, A_CHAT, B_CHAT, PLANT_CHAT = "-1001", "-1002", "-1003", "-1004"
A_LEADERS, ROOT_LEADERS = "-1008", "-1009"
INSTRUCTION = "请五日内受理并答复，逾期追究责任。"
PASSWORD = "correct horse battery"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The root's chat is TELEGRAM_ADMIN_CHAT_ID; 甲公司, its plant and 乙公司 have their own;
    the group's leaders and 甲公司's leaders have theirs."""
    return {
        **env,
        "XINFANG_UNIT_CHATS": (
            f"JT-A=telegram:{A_CHAT};JT-A-1=telegram:{PLANT_CHAT};JT-B=telegram:{B_CHAT}"
        ),
        "XINFANG_LEADERS_CHAT": f"telegram:{ROOT_LEADERS}",
        "XINFANG_UNIT_LEADERS_CHATS": f"JT-A=telegram:{A_LEADERS}",
    }


@pytest.fixture
async def group(container: Container) -> dict[str, int]:
    return await _group(container)


async def _group(container: Container) -> dict[str, int]:
    """本集团 → 甲公司 → 甲一厂, and 乙公司 beside 甲公司: ids by code."""
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        a1 = await uow.units.add("JT-A-1", "甲一厂", a.id, now)
        b = await uow.units.add("JT-B", "乙公司", root.id, now)
        await uow.commit()
    return {"JT": root.id, "JT-A": a.id, "JT-A-1": a1.id, "JT-B": b.id}


def zh(container: Container, key: str, **params: Any) -> str:
    return container.translator.t(key, "zh_CN", **params)


def employee(container: Container, n: int) -> ChatUser:
    return ChatUser(container.handlers, chat_id=str(40000 + n), sender_id=str(40000 + n))


async def staff(
    container: Container, unit_id: int, account: str, role: Role, chat: str
) -> ChatUser:
    """A member of staff of this unit, writing in this chat."""
    async with container.uow() as uow:
        await uow.officers.add(
            f"专员{account}",
            role,
            container.services.clock(),
            unit_id=unit_id,
            accounts={"telegram": account},
        )
        await uow.commit()
    return ChatUser(container.handlers, chat_id=chat, sender_id=account, in_admin_chat=True)


async def rows(container: Container, kind: str, case_id: int) -> list[dict[str, Any]]:
    """The admin and officer rows of this kind about the case, payloads decrypted."""
    async with container.uow() as uow:
        due = await uow.outbox.due(["telegram", "wecom", "web"], container.services.clock(), 500)
        return [
            {"audience": r.audience, **uow.outbox.payload(r)}
            for r in due
            if r.audience != "employee" and r.kind == kind and r.case_id == case_id
        ]


def chats(found: list[dict[str, Any]]) -> set[str | None]:
    """Where rows go: an admin chat (None: the root's) or a leaders' chat."""
    return {admin_address(r) if r["audience"] == "admin" else r["chat_id"] for r in found}


def refused(container: Container, text: str) -> bool:
    # A case outside the officer's part of the group is answered as one that does not exist
    # (or, before that rule, as not permitted): either way nothing is done.
    return text in (zh(container, "error.not_permitted"), zh(container, "error.case_not_found"))


def scheduler(container: Container, clock: FakeClock) -> Scheduler:
    return Scheduler(container.uow, container.services, clock)


async def test_an_overdue_case_alerts_the_companys_leaders_once_and_a_supervision_climbs(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    user = employee(container, 1)
    filed = await file_petition(container, user, unit="甲一厂")
    n, case_id = filed.number, filed.case_id
    statutory = (await load_case(container, case_id)).deadline_at
    assert statutory is not None

    # Past the 15 days of acceptance: one alert, to 甲公司's leaders (the plant's parent).
    clock.now = statutory + timedelta(minutes=1)
    assert (await scheduler(container, clock).run_once(clock())).sent["overdue"] == 1
    await scheduler(container, clock).run_once(clock.advance(hours=1))
    overdue = await rows(container, "overdue", case_id)
    assert [(r["audience"], r["chat_id"], r["level"]) for r in overdue] == [
        ("officer", A_LEADERS, 1)
    ]
    assert (await load_case(container, case_id)).supervision_level == 1
    async with container.uow() as uow:
        alert = await render_admin(
            uow, container.translator.t, "zh_CN", "overdue", overdue[0], clock()
        )
    supervise = encode(CaseButton("supervise", case_id))
    assert supervise in [b.payload for row in alert[0].buttons for b in row]

    # Neither the plant itself (its leader nor its officer) nor another company supervises.
    plant_leader = await staff(container, group["JT-A-1"], "801", Role.LEADER, PLANT_CHAT)
    plant_officer = await staff(container, group["JT-A-1"], "802", Role.OFFICER, PLANT_CHAT)
    b_leader = await staff(container, group["JT-B"], "803", Role.LEADER, "-1010")
    for person in (plant_leader, plant_officer, b_leader):
        await person.say(f"/supervise {n} 5 {INSTRUCTION}")
        assert refused(container, person.text), person.text
    assert (await load_case(container, case_id)).supervision_count == 0

    # 甲公司's leader supervises: the plant's office gets five days, the law's deadline stays.
    a_leader = await staff(container, group["JT-A"], "804", Role.LEADER, A_LEADERS)
    await a_leader.press(supervise)  # the alert's button opens the form
    assert encode(Pick("days", "5")) in a_leader.buttons
    await a_leader.press(encode(Pick("days", "5")))
    await a_leader.say(INSTRUCTION)
    assert "督办期限" in a_leader.last[0].text and INSTRUCTION in a_leader.last[0].text
    assert "上级单位已督办" in a_leader.last[1].text and INSTRUCTION not in a_leader.last[1].text
    confirm = next(p for p in a_leader.buttons if p.startswith("o:ok:"))
    await a_leader.press(confirm)
    supervised_at = clock()
    case = await load_case(container, case_id)
    assert case.state is CaseState.REGISTERED and case.deadline_at == statutory
    assert case.supervised_until == supervised_at + timedelta(days=5)
    assert case.supervision_count == 1
    until = (supervised_at + timedelta(days=5)).astimezone(OFFICE_ZONE).strftime("%Y-%m-%d")
    assert a_leader.text == zh(container, "officer.supervised", number=n, date=until)

    # The plant's chats (and those above) get the instruction; the employee only the fact.
    sent = await rows(container, "supervised", case_id)
    assert chats(sent) == {None, A_CHAT, PLANT_CHAT}
    assert {r["text"] for r in sent} == {INSTRUCTION} and {r["by"] for r in sent} == {"甲公司"}
    push = (await queued(container, case_id, audience="employee"))[-1]
    assert push.kind == "supervised" and INSTRUCTION not in str(push.payload)
    assert (
        "上级单位已督办" in render_employee(container.translator.t, push.kind, push.payload).text
    )
    await user.say(filed.code)
    assert "上级单位已督办" in user.text and INSTRUCTION not in user.text
    async with container.uow() as uow:
        audit = [e for e in await uow.audit.list(case_id) if e["action"] == "case.supervise"]
    assert len(audit) == 1 and INSTRUCTION not in str(audit[0]["detail"])
    assert audit[0]["detail"]["days"] == 5

    # Still not accepted when the five days are up: the alert climbs to the group, once.
    clock.now = supervised_at + timedelta(days=5, minutes=1)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"supervision_overdue": 1}
    assert (await scheduler(container, clock).run_once(clock.advance(hours=2))).sent == {}
    climbed = await rows(container, "supervision_overdue", case_id)
    assert [(r["chat_id"], r["level"]) for r in climbed] == [(ROOT_LEADERS, 2)]
    assert (await load_case(container, case_id)).supervision_level == 2

    # The case moves on: a new step, the level and the working deadline start afresh.
    await plant_officer.say(f"/accept {n}")
    case = await load_case(container, case_id)
    assert case.state is CaseState.ACCEPTED
    assert (case.supervision_level, case.supervised_until, case.supervision_count) == (0, None, 1)


async def test_an_overdue_review_alerts_the_leaders_above_the_unit_deciding_it(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    # 甲一厂's 复查 is 甲公司's to decide: late, it is the group's leaders who hear of it.
    now = clock()
    (case_id,) = await seed_cases(
        container,
        [
            {
                "state": "reviewing",
                "unit_id": group["JT-A-1"],
                "review_unit_id": group["JT-A"],
                "created_at": now - timedelta(days=60),
                "decided_at": now - timedelta(days=59),
                "responded_at": now - timedelta(days=40),
                "review_requested_at": now - timedelta(days=31),
                "outcome": "explained",
                "deadline_at": now - timedelta(days=1),
                "next_notice_at": now,
            }
        ],
    )
    assert (await scheduler(container, clock).run_once(clock())).sent["overdue"] == 1
    assert chats(await rows(container, "overdue", case_id)) == {ROOT_LEADERS}


async def test_a_company_assigns_a_case_down_and_its_plant_reports_back(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    user = employee(container, 2)
    filed = await file_petition(container, user, unit="甲公司")
    n, case_id = filed.number, filed.case_id
    company = await staff(container, group["JT-A"], "811", Role.OFFICER, A_CHAT)
    plant = await staff(container, group["JT-A-1"], "812", Role.OFFICER, PLANT_CHAT)
    await company.say(f"/accept {n}")

    # 交办 by buttons: only the units below 甲公司 are offered.
    await company.press(encode(CaseButton("assign_down", case_id)))
    units = {p: label for p, label in company.buttons.items() if p.startswith("o:pick:")}
    assert units == {encode(Pick("destination", "JT-A-1")): "甲公司/甲一厂"}
    await company.press(encode(Pick("destination", "JT-A-1")))
    await company.press(encode(Pick("days", "5")))
    await company.say("请核实加班记录，五日内报告。")
    assert "交由甲公司/甲一厂办理" in company.last[1].text
    await company.press(next(p for p in company.buttons if p.startswith("o:ok:")))
    assigned_at = clock()
    case = await load_case(container, case_id)
    assert (case.unit_id, case.assigned_by_unit_id) == (group["JT-A-1"], group["JT-A"])
    assert case.report_due_at == assigned_at + timedelta(days=5)
    assert case.state is CaseState.ACCEPTED and case.owner_officer_id is None

    # The plant's chat learns of it with the requirements and the card to act from.
    assert PLANT_CHAT in chats(await rows(container, "assigned_down", case_id))
    assert PLANT_CHAT in chats(await rows(container, "case_card", case_id))
    # The employee reads which unit handles the case, never an officer nor the requirements.
    push = (await queued(container, case_id, audience="employee"))[-1]
    assert (push.kind, push.payload["unit"]) == ("assigned_down", "甲公司/甲一厂")
    await user.say(filed.code)
    assert "交由甲公司/甲一厂办理" in user.text and "核实加班记录" not in user.text
    assert "专员" not in user.text

    # The company still sees the case; it does not report to itself; the plant has no unit
    # below it to assign to, and nobody assigns down outside their own part of the group.
    await company.say(f"/case {n}")
    assert "交办要求：请核实加班记录" in company.text
    await company.say(f"/report {n} 已办结")
    assert company.text == zh(container, "error.not_permitted")
    await plant.say(f"/assigndown {n} JT-A-1 5 再交办")
    assert plant.text == zh(container, "error.not_permitted")
    await company.say(f"/assigndown {n} JT-B 5 交给乙公司")
    assert company.text == zh(container, "error.unknown_unit")

    # The report is late: the company's chats (not the plant's) hear of it once.
    clock.now = assigned_at + timedelta(days=5, minutes=1)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"report_overdue": 1}
    assert (await scheduler(container, clock).run_once(clock.advance(hours=1))).sent == {}
    assert chats(await rows(container, "report_overdue", case_id)) == {None, A_CHAT}

    # The plant reports back: the company's chats get it, nothing more is owed.
    await plant.say(f"/report {n} 已核实，差额已于本月补发。")
    assert zh(container, "officer.reported", number=n, unit="甲公司") in plant.text
    reported = await rows(container, "reported", case_id)
    assert A_CHAT in chats(reported)
    assert {r["text"] for r in reported} == {"已核实，差额已于本月补发。"}
    assert (await load_case(container, case_id)).report_due_at is None
    await plant.say(f"/report {n} 再报一次")
    assert plant.text == zh(container, "error.no_report_owed")
    await user.say(filed.code)
    assert "差额已于本月补发" not in user.text


async def test_statistics_count_supervised_cases_and_changed_outcomes_per_unit(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    now = clock()
    plant, other = group["JT-A-1"], group["JT-B"]
    base = {"created_at": now - timedelta(days=3), "state": "accepted"}
    await seed_cases(
        container,
        [
            {**base, "unit_id": plant, "supervision_count": 2},
            {**base, "unit_id": plant, "supervision_count": 1, "review_changed": True},
            {**base, "unit_id": plant, "recheck_changed": True, "review_changed": False},
            {**base, "unit_id": other},
        ],
    )
    # One 复查 decided through the handlers: the outcome it changed is recorded.
    (reviewing,) = await seed_cases(
        container,
        [
            {
                **base,
                "unit_id": plant,
                "state": "reviewing",
                "review_unit_id": group["JT-A"],
                "outcome": "explained",
                "decided_at": now - timedelta(days=2),
                "responded_at": now - timedelta(days=2),
                "review_requested_at": now - timedelta(days=1),
            }
        ],
    )
    company = await staff(container, group["JT-A"], "821", Role.OFFICER, A_CHAT)
    await company.say(f"/reviewdone {reviewing} 支持 经复查，应予补发。")
    assert (await load_case(container, reviewing)).review_changed is True

    async with container.uow() as uow:
        report = await build_report(
            uow, now - timedelta(days=30), now + timedelta(days=1), now, DeadlinePolicy()
        )
    at_plant, at_other = report.by_unit[plant], report.by_unit[other]
    assert (at_plant.supervisions, at_plant.reviews_changed, at_plant.rechecks_changed) == (
        2,
        2,
        1,
    )
    assert (at_other.supervisions, at_other.reviews_changed) == (0, 0)


# -- the web's case page ----------------------------------------------------------------------


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Any], clock: FakeClock
) -> AsyncIterator[WebServer]:
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _signed_in(web: WebServer, login: str, role: Role, unit_id: int) -> WebOfficer:
    await add_web_officer(web.container, f"{login}专员", login, PASSWORD, role, unit_id=unit_id)
    officer = WebOfficer(web.base, locale="zh_CN")
    await officer.open()
    assert (await officer.login(login, PASSWORD))[0] == 200
    return officer


async def _acts(officer: WebOfficer, case_id: int) -> dict[str, dict[str, Any]]:
    async with officer.http.get(f"{officer.base}/api/officer/cases/{case_id}") as resp:
        assert resp.status == 200
        page = await resp.json()
    return {act["action"]: act for act in page["acts"]}


async def test_the_web_case_page_offers_and_applies_supervision_assignment_and_report(
    web: WebServer, clock: FakeClock
) -> None:
    units = await _group(web.container)
    now = clock()
    late, held = await seed_cases(
        web.container,
        [
            {
                "unit_id": units["JT-A-1"],
                "created_at": now - timedelta(days=20),
                "deadline_at": now - timedelta(days=5),
            },
            {"unit_id": units["JT-A"], "created_at": now - timedelta(days=1)},
        ],
    )
    leader = await _signed_in(web, "lead", Role.LEADER, units["JT-A"])
    officer = await _signed_in(web, "off", Role.OFFICER, units["JT-A"])
    plant = await _signed_in(web, "plant", Role.OFFICER, units["JT-A-1"])
    try:
        acts = await _acts(leader, late)
        assert [f["name"] for f in acts["supervise"]["fields"]] == ["days", "instruction"]
        assert acts["supervise"]["label"] == "督办"
        assert "supervise" not in await _acts(plant, late)
        body = {
            "action": "supervise",
            "fields": {"days": "5", "instruction": INSTRUCTION},
            "state": "registered",
        }
        path = f"/api/officer/cases/{late}"
        status, preview = await leader.post(f"{path}/preview", body)
        assert status == 200 and "上级单位已督办" in preview["text"]
        assert (await load_case(web.container, late)).supervision_count == 0
        status, done = await leader.post(f"{path}/act", body)
        assert (status, done["state"]) == (200, "registered")
        assert (await load_case(web.container, late)).supervised_until == now + timedelta(days=5)
        assert (await plant.post(f"{path}/act", body))[0] == 403

        acts = await _acts(officer, held)
        destination = acts["assign_down"]["fields"][0]
        assert destination["choices"] == [["JT-A-1", "甲公司/甲一厂"]]
        body = {
            "action": "assign_down",
            "fields": {"destination": "JT-A-1", "days": "3", "reason": "请核实"},
            "state": "registered",
        }
        status, done = await officer.post(f"/api/officer/cases/{held}/act", body)
        assert status == 200, done
        assert (await load_case(web.container, held)).unit_id == units["JT-A-1"]

        assert "report" in await _acts(plant, held)
        body = {"action": "report", "fields": {"report": "已核实"}, "state": "registered"}
        status, preview = await plant.post(f"/api/officer/cases/{held}/preview", body)
        assert status == 200 and preview["text"] == zh(web.container, "form.no_employee_push")
        assert (await plant.post(f"/api/officer/cases/{held}/act", body))[0] == 200
        assert (await load_case(web.container, held)).report_due_at is None
    finally:
        for person in (leader, officer, plant):
            await person.http.close()
