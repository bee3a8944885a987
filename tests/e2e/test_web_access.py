"""What each officer sees on the web admin page: exactly the cases ``/case`` lets them see,
in the feed and in live pushes, and evidence served one file at a time after the same check."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from bot.settings import load_settings
from bot.web.hub import ADMIN_TOPIC
from handlers.ports import CaseFilter
from petitions.roles import Role
from storage.models import AuditRow, CaseRow
from tests.helpers.web import PNG, WebOfficer, WebServer, WebVisitor, add_web_officer, web_server

PASSWORD = "correct horse battery"
ORDINARY = "宿舍热水器坏了两个月，多次报修无人处理，冬天洗澡很困难。"
REPORT = "车间主任虚报加班费并私分，希望纪检部门调查。"
EXCLUDING = "上次的答复没有解决问题，食堂补贴仍被克扣，请重新处理。"
BIG = 8 * 1024 * 1024
SENTINEL = -1

# role → may it see (ordinary case, 纪检 case, a case that excludes this officer)?
VISIBLE = {
    Role.OFFICER: (True, False, False),
    Role.LEADER: (True, False, False),  # a 纪检 case: 纪检 only (issue 13)
    Role.DISCIPLINE: (False, True, False),
    Role.CUSTODIAN: (False, False, False),
}


@pytest.fixture
async def web(env, keys, clock):
    """The web channel; its admin chat is one of the configured admin chats."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _file(web: WebServer, description: str, category: str = "pay", files: tuple = ()) -> int:
    """An employee files an anonymous petition on the web page; return the case id."""
    async with web.container.uow() as uow:
        before = {c.id for c in await uow.cases.list(CaseFilter())}
    async with WebVisitor(web.base) as employee:
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press(f"cat:{category}")
        await employee.say(description)
        for name, data, mime in files:
            status, _ = await employee.upload(name, data, mime)
            assert status == 200, status
        await employee.press("ev:done")
        await employee.press("anon:yes")
        await employee.press("up:push")  # progress pushed to this page
        if "sid:keep" in employee.buttons:  # the description names a phone, an ID card, ...
            await employee.press("sid:keep")
        await employee.press("rv:submit")
    async with web.container.uow() as uow:
        (case_id,) = {c.id for c in await uow.cases.list(CaseFilter())} - before
    assert case_id is not None
    return case_id


async def _exclude(web: WebServer, case_id: int, officer_id: int) -> None:
    """Keep an officer away from a case (as a reopened complaint about them does)."""
    async with web.container.engine.begin() as conn:
        await conn.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(excluded_officer_id=officer_id)
        )


def _card(feed: dict, case_id: int) -> dict:
    """The one card of a case in the feed."""
    (card,) = [r for m in feed["messages"] for r in m["replies"] if r.get("case_id") == case_id]
    return card


async def _stored(web: WebServer, attachment_id: int) -> bytes:
    """The bytes kept for an evidence file (after scrubbing)."""
    async with web.container.uow() as uow:
        found = await uow.attachments.data(attachment_id)
    assert found is not None
    return found[1]


async def _audited(web: WebServer) -> list:
    """The audit rows of evidence views."""
    async with web.container.engine.connect() as conn:
        stmt = select(AuditRow).where(AuditRow.action == "evidence.view")
        return list((await conn.execute(stmt)).all())


def _case_ids(replies: list[dict]) -> set[int]:
    return {r["case_id"] for r in replies if "case_id" in r}


@pytest.mark.parametrize("role", list(VISIBLE), ids=lambda r: r.value)
async def test_feed_and_pushes_show_an_officer_exactly_the_cases_the_case_command_allows(
    web, role
):
    ordinary = await _file(web, ORDINARY, files=(("payslip.png", PNG, "image/png"),))
    report = await _file(web, REPORT, category="discipline")
    excluding = await _file(web, EXCLUDING)
    officer_id = await add_web_officer(web.container, "李干部", "li", PASSWORD, role=role)
    await _exclude(web, excluding, officer_id)
    cases = (ordinary, report, excluding)
    expected = {c for c, seen in zip(cases, VISIBLE[role], strict=True) if seen}
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        async with officer.events("/api/officer/events") as stream:
            await web.deliver()  # the three case cards are pushed while the page is open
            web.channel.hub.publish({"row": SENTINEL, "replies": []}, ADMIN_TOPIC)
            pushed: set[int] = set()
            while (event := await stream.next())["row"] != SENTINEL:
                pushed |= _case_ids(event["replies"])
        status, feed = await officer.feed()
        assert status == 200
        in_feed = {c for m in feed["messages"] for c in _case_ids(m["replies"])}
        by_command = set()
        for case_id in cases:
            await officer.send(text=f"/case {case_id}")
            by_command |= _case_ids(officer.last) & {case_id}
    assert by_command == expected
    assert in_feed == expected
    assert pushed == expected
    text = json.dumps(feed, ensure_ascii=False)
    for case_id, description in zip(cases, (ORDINARY, REPORT, EXCLUDING), strict=True):
        if case_id not in expected:
            assert description not in text
    assert (ORDINARY in text) is (ordinary in expected)  # a 纪检 card never shows its text


async def test_the_feed_carries_references_to_evidence_not_the_files_themselves(web):
    text = b"x" * BIG
    case_id = await _file(
        web, ORDINARY, files=(("a.txt", text, "text/plain"), ("b.txt", text, "text/plain"))
    )
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        async with officer.events("/api/officer/events") as stream:
            await web.deliver()
            event = await stream.next()
        async with officer.http.get(f"{web.base}/api/officer/feed") as resp:
            raw = await resp.read()
    assert len(raw) < 100 * 1024
    assert len(json.dumps(event)) < 100 * 1024
    feed = json.loads(raw)
    card = _card(feed, case_id)
    assert [set(f) for f in card["files"]] == [{"id", "name", "mime", "size", "inline"}] * 2
    assert [f["size"] for f in card["files"]] == [BIG, BIG]
    assert not any(f["inline"] for f in card["files"])
    assert event["replies"][0]["files"] == card["files"]
    # The Telegram admin chat still gets the files themselves.
    (delivery,) = [d for d in web.others["telegram"].sent if d.kind == "case_card"]
    assert [len(f.data) for f in delivery.replies[0].files] == [BIG, BIG]


async def _evidence(officer: WebOfficer, file_id: int):
    async with officer.http.get(f"{officer.base}/api/officer/evidence/{file_id}") as resp:
        return resp.status, resp.headers, await resp.read()


async def test_evidence_is_served_per_file_to_officers_who_may_see_the_case(web):
    document = "录音整理：主任说“这个月的补贴就不发了”。\n".encode() * 100
    case_id = await _file(
        web,
        ORDINARY,
        files=(("payslip.png", PNG, "image/png"), ("记录 1.txt", document, "text/plain")),
    )
    await web.deliver()
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        _, feed = await officer.feed()
        image, doc = _card(feed, case_id)["files"]
        status, headers, body = await _evidence(officer, image["id"])
        assert (status, body) == (200, await _stored(web, image["id"]))
        assert body.startswith(PNG[:8])  # the scrubbed image the employee sent
        assert headers["Content-Type"] == "image/png" and image["inline"]
        assert headers["Content-Disposition"].startswith("inline")
        assert headers["Cache-Control"] == "no-store"
        status, headers, body = await _evidence(officer, doc["id"])
        assert (status, body) == (200, await _stored(web, doc["id"]))
        assert body == document
        assert headers["Content-Type"] == "application/octet-stream" and not doc["inline"]
        disposition = headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote(doc['name'], safe='')}" in disposition
        assert headers["Cache-Control"] == "no-store"
    audit = await _audited(web)
    assert [(a.case_id, a.actor_role) for a in audit] == [(case_id, "officer")] * 2


@pytest.mark.parametrize("role", [Role.CUSTODIAN, Role.DISCIPLINE], ids=lambda r: r.value)
async def test_evidence_of_a_case_an_officer_may_not_see_is_not_found_like_an_unknown_id(
    web, role
):
    case_id = await _file(web, ORDINARY, files=(("payslip.png", PNG, "image/png"),))
    await web.deliver()
    async with web.container.uow() as uow:
        (info,) = await uow.attachments.list(case_id)
    await add_web_officer(web.container, "赵干部", "zhao", PASSWORD, role=role)
    async with WebOfficer(web.base) as officer:
        status, _, _ = await _evidence(officer, info.id)
        assert status == 401  # not signed in
        await officer.login("zhao", PASSWORD)
        refused = await _evidence(officer, info.id)
        unknown = await _evidence(officer, info.id + 1000)
    assert refused[0] == unknown[0] == 404
    assert refused[2] == unknown[2] and PNG not in refused[2]
    audit = await _audited(web)
    assert audit == []
