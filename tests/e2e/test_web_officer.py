"""The officers' admin chat in the browser: Argon2id sign-in, throttling, expiring
sessions, case cards with buttons, explicit answers, internal notes and roles."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from bot.settings import load_settings
from bot.web.officer import LOGIN_FAILURES
from handlers.ports import CaseFilter
from petitions.roles import Role
from storage.models import Base, WebCredentialRow
from tests.helpers.web import WebOfficer, WebServer, WebVisitor, add_web_officer, web_server

DESCRIPTION = "宿舍热水器坏了两个月，多次报修无人处理，冬天洗澡很困难。"
PASSWORD = "correct horse battery"


@pytest.fixture
async def web(env, keys, clock):
    """The web channel; its admin chat is one of the configured admin chats."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _filed(web: WebServer) -> tuple[int, WebVisitor]:
    employee = WebVisitor(web.base)
    await employee.open()
    await employee.file_petition(DESCRIPTION, evidence=True)
    async with web.container.uow() as uow:
        case = (await uow.cases.list(CaseFilter()))[0]
    assert case.id is not None
    return case.id, employee


async def test_the_web_tables_come_from_the_migration_and_match_the_models(container):
    def diff(sync_conn):
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        return [d for d in found if "web_" in repr(d)]

    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_passwords_are_stored_as_argon2id_hashes_only(web):
    officer_id = await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with web.container.engine.connect() as conn:
        row = (await conn.execute(select(WebCredentialRow))).one()
    assert row.officer_id == officer_id
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash and "li" != row.login_index


async def test_an_officer_signs_in_and_sees_the_case_cards_of_the_admin_chat(web):
    case_id, employee = await _filed(web)
    await web.deliver()
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        status, _ = await officer.feed()
        assert status == 401  # not signed in
        status, who = await officer.login("LI ", PASSWORD)  # login names ignore case/space
        assert status == 200 and who["officer"]["name"] == "李专员"
        status, feed = await officer.feed()
    await employee.http.close()
    assert status == 200
    cards = [r for m in feed["messages"] for r in m["replies"] if r.get("case_id") == case_id]
    assert cards, feed
    payloads = [b["payload"] for row in cards[0]["buttons"] for b in row]
    assert f"o:accept:{case_id}" in payloads and f"o:view:{case_id}" in payloads


async def test_an_officer_accepts_answers_and_notes_and_only_the_answer_reaches_the_employee(
    web,
):
    case_id, employee = await _filed(web)
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        async with officer.events("/api/officer/events") as admin, employee.events() as stream:
            await web.deliver()
            card = await admin.next()  # the new case's card arrives while the page is open
            assert card["replies"][0]["case_id"] == case_id
            status, _ = await officer.send(button=f"o:accept:{case_id}")
            assert status == 200
            await officer.send(button=f"o:ok:{case_id}:1")  # the preview's 确认发送
            await officer.send(text=f"/note {case_id} 已联系后勤，周三上门维修。")
            await officer.send(text="这是我们内部的讨论。")  # plain chatter stays internal
            status, _ = await officer.send(text="周三会有师傅上门维修。", case_ref=case_id)
            assert status == 200 and officer.last  # the answer is confirmed
            await web.deliver()
            pushed = [await stream.next(), await stream.next()]
        status, detail = await officer.send(text=f"/case {case_id}")
    await employee.http.close()
    texts = "\n".join(r["text"] for e in pushed for r in e["replies"])
    assert "accepted" in texts and "周三会有师傅上门维修。" in texts
    assert "已联系后勤" not in texts and "内部的讨论" not in texts
    everything = "\n".join(r["text"] for r in detail["replies"])
    assert "已联系后勤" in everything  # the note is in the case's timeline for staff
    files = [f for r in detail["replies"] for f in r.get("files", [])]
    assert files and files[0]["inline"] and files[0]["name"] == "证据1.png"  # neutral name


async def test_roles_are_checked_in_the_web_admin_chat(web):
    case_id, employee = await _filed(web)
    await employee.http.close()
    await add_web_officer(web.container, "李专员", "li", PASSWORD, role=Role.OFFICER)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        await officer.send(button=f"o:accept:{case_id}")
        await officer.send(button=f"o:start:{case_id}")
        status, data = await officer.send(text=f"/extend {case_id} 10 需要调查取证")
    assert status == 200
    async with web.container.uow() as uow:
        case = await uow.cases.get(case_id)
    assert case is not None and case.extension_days is None  # only leaders extend
    assert data["replies"]


async def test_a_visitor_who_is_no_officer_cannot_use_the_admin_chat(web):
    async with WebOfficer(web.base) as stranger:
        status, _ = await stranger.send(text="/cases")
        assert status == 401
        async with stranger.http.get(web.base + "/api/officer/events") as resp:
            assert resp.status == 401


async def test_wrong_passwords_pause_sign_in_for_that_login(web, clock):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        for _ in range(LOGIN_FAILURES):
            status, data = await officer.login("li", "wrong password")
            assert (status, data["error"]) == (401, "login_failed")
        status, data = await officer.login("li", PASSWORD)
        assert (status, data["error"]) == (429, "throttled")
        status, _ = await officer.login("nobody", "wrong password")
        assert status == 401  # another login name is not paused
        clock.advance(minutes=16)
        status, _ = await officer.login("li", PASSWORD)
        assert status == 200


async def test_sessions_expire_when_idle_and_end_at_sign_out(web, clock):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        assert (await officer.send(text="/cases"))[0] == 200
        clock.advance(hours=3)  # idle longer than 120 minutes
        assert (await officer.send(text="/cases"))[0] == 401
        await officer.login("li", PASSWORD)
        old = officer.cookie("xf_o")
        status, _ = await officer.post("/api/officer/logout", {})
        assert status == 200 and officer.cookie("xf_o") in (None, "")
        officer.jar.update_cookies({"xf_o": old or ""})  # a copied cookie is worthless now
        assert (await officer.send(text="/cases"))[0] == 401


async def test_sessions_end_after_their_lifetime_even_when_active(web, clock):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        for _ in range(13):
            clock.advance(minutes=59)
            await officer.send(text="/cases")
        assert (await officer.send(text="/cases"))[0] == 401


async def test_a_removed_officer_loses_the_web_session(web):
    officer_id = await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        async with web.container.uow() as uow:
            await uow.officers.deactivate(officer_id)
            await uow.commit()
        assert (await officer.send(text="/cases"))[0] == 401
        status, _ = await officer.login("li", PASSWORD)
        assert status == 401
