"""The web employee chat end to end: a real aiohttp server on 127.0.0.1, HTTP clients
that behave like the page, the real handlers, storage and delivery worker."""

from __future__ import annotations

import pytest

from bot.settings import load_settings
from handlers.inbound import Inbound
from handlers.ports import CaseFilter
from petitions.roles import Role
from tests.helpers.web import PNG, WebServer, WebVisitor, web_server

DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，我们要求按规定补发。"


@pytest.fixture
async def web(env, keys, clock):
    """The web channel next to a configured Telegram admin chat (recorded, not sent)."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _telegram_officer(web: WebServer, role: Role = Role.OFFICER) -> None:
    async with web.container.uow() as uow:
        await uow.officers.add(
            "王专员", role, web.container.services.clock(), accounts={"telegram": "42"}
        )
        await uow.commit()


async def _in_telegram_admin_chat(web: WebServer, text: str, case_ref: int | None = None):
    inbound = Inbound("telegram", "-1001", "42", text=text, in_admin_chat=True, case_ref=case_ref)
    return await web.container.handlers.handle(inbound)


async def _case_id(web: WebServer) -> int:
    async with web.container.uow() as uow:
        cases = await uow.cases.list(CaseFilter())
    assert len(cases) == 1
    assert cases[0].id is not None
    return cases[0].id


async def test_the_page_and_its_assets_are_served_from_the_server_itself(web):
    async with WebVisitor(web.base) as visitor:
        for path in ("/", "/admin", "/local", "/static/app.js", "/static/app.css"):
            async with visitor.http.get(web.base + path) as resp:
                assert resp.status == 200, path
        async with visitor.http.get(web.base + "/") as resp:
            page = await resp.text()
    # No third-party assets: everything the page loads comes from this server.
    assert "/static/app.js" in page and "http://" not in page and "https://" not in page


async def test_an_employee_files_a_petition_with_evidence_and_gets_a_tracking_code(web):
    async with WebVisitor(web.base) as employee:
        await employee.say("/start")
        assert "menu:new" in employee.buttons
        code = await employee.file_petition(DESCRIPTION)
    case_id = await _case_id(web)
    async with web.container.uow() as uow:
        case = await uow.cases.get(case_id)
        files = await uow.attachments.list(case_id)
        contact = await uow.cases.contact(case_id)
    assert case is not None and case.channel == "web" and case.description == DESCRIPTION
    # Stored cleaned under a neutral name, never the name the browser sent.
    assert [(f.name, f.mime, f.kind) for f in files] == [("证据1.png", "image/png", "photo")]
    assert contact is not None and contact.channel == "web"
    assert code not in str(contact)


async def test_a_half_finished_petition_resumes_in_the_same_browser_session(web):
    async with WebVisitor(web.base) as employee:
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press("cat:labor")
        await employee.open()  # the page is reloaded: same cookie, same conversation
        await employee.say("/new")
        assert "ev:done" not in employee.buttons
        await employee.say(DESCRIPTION)
        assert "ev:done" in employee.buttons
    async with WebVisitor(web.base) as stranger:  # another browser starts from scratch
        await stranger.say(DESCRIPTION)
        assert "menu:new" in stranger.buttons


async def test_a_web_case_is_answered_in_the_telegram_admin_chat_and_pushed_live(web):
    await _telegram_officer(web)
    async with WebVisitor(web.base) as employee, employee.events() as stream:
        await employee.file_petition(DESCRIPTION)
        case_id = await _case_id(web)
        await web.deliver()
        cards = [d for d in web.others["telegram"].sent if d.kind == "case_card"]
        assert [d.case_id for d in cards] == [case_id]  # the card reached Telegram too

        await _in_telegram_admin_chat(web, f"/accept {case_id}")
        replies = await _in_telegram_admin_chat(web, "请带工资条到人事科核对。", case_ref=case_id)
        assert replies, "an explicit answer is confirmed to the officer"
        await web.deliver()
        pushed = [await stream.next(), await stream.next()]
    texts = "\n".join(r["text"] for event in pushed for r in event["replies"])
    assert "accepted" in texts
    assert "请带工资条到人事科核对。" in texts


async def test_the_answer_shows_in_a_fresh_browser_by_tracking_code(web):
    await _telegram_officer(web)
    async with WebVisitor(web.base) as employee:
        code = await employee.file_petition(DESCRIPTION, evidence=False)
    case_id = await _case_id(web)
    await _in_telegram_admin_chat(web, f"/accept {case_id}")
    await _in_telegram_admin_chat(web, "已转人事科办理。", case_ref=case_id)
    assert await web.deliver() >= 2  # no page open: delivered by code
    async with web.container.uow() as uow:
        rows = [r for r in await uow.outbox.for_case(case_id) if r.channel == "web"]
    assert rows and {r.status for r in rows} == {"sent"}

    async with WebVisitor(web.base) as fresh:
        await fresh.say(code.lower().replace("-", " "))
        assert "已转人事科办理。" in fresh.text
        assert "accepted" in fresh.text
        assert "cs:add" in fresh.buttons


async def test_a_page_that_opened_a_case_by_code_sees_its_updates_live(web):
    await _telegram_officer(web)
    async with WebVisitor(web.base) as employee:
        code = await employee.file_petition(DESCRIPTION, evidence=False)
    case_id = await _case_id(web)
    async with WebVisitor(web.base) as later, later.events() as stream:
        await later.say(code)
        await _in_telegram_admin_chat(web, f"/accept {case_id}")
        await web.deliver()
        event = await stream.next()
    assert "accepted" in event["replies"][0]["text"]


async def test_an_employee_adds_a_file_to_a_submitted_case_by_code(web):
    async with WebVisitor(web.base) as employee:
        code = await employee.file_petition(DESCRIPTION, evidence=False)
    async with WebVisitor(web.base) as later:
        await later.say(code)
        await later.press("cs:add")
        status, _ = await later.upload("more.png", PNG, "image/png")
        assert status == 200
        assert "cs:back" in later.buttons
    async with web.container.uow() as uow:
        files = await uow.attachments.list(await _case_id(web))
    assert [f.name for f in files] == ["证据1.png"]  # neutral: the case's first file


async def test_the_page_chrome_comes_from_the_catalogs_in_the_visitors_language(web):
    async with WebVisitor(web.base) as visitor:
        async with visitor.http.get(web.base + "/api/ui?locale=en-US") as resp:
            en = await resp.json()
        async with visitor.http.get(web.base + "/api/ui?locale=zh-hans") as resp:
            zh = await resp.json()
    assert en["locale"] == "en" and en["labels"]["send"] == "Send"
    assert zh["locale"] == "zh_CN" and zh["labels"]["send"] == "发送"
    assert set(en["labels"]) == set(zh["labels"])
