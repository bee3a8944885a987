"""The rough edges a new user meets on the web pages: closed tabs, reloads, the tracking
code, refused uploads, card titles and the language switch (a real aiohttp server on
127.0.0.1, HTTP clients that behave like the page)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web as aiohttp_web

from bot.runner import build_web_app
from bot.settings import WebSettings, load_settings
from bot.web import context as web_context
from bot.web.security import VISITOR_COOKIE, employee_chat_id
from handlers.ports import CaseFilter
from tests.helpers.web import (
    CODE_RE,
    WebOfficer,
    WebServer,
    WebVisitor,
    add_web_officer,
    web_server,
)

DESCRIPTION = "食堂饭菜价格上涨了一倍，质量却越来越差，希望公司核查承包合同。"
PASSWORD = "correct horse battery"


@pytest.fixture
async def web(env, keys, clock):
    """The web channel (local mode's settings) next to a recorded Telegram admin chat."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _case_id(web: WebServer) -> int:
    async with web.container.uow() as uow:
        cases = await uow.cases.list(CaseFilter())
    assert len(cases) == 1 and cases[0].id is not None
    return cases[0].id


async def _history(visitor: WebVisitor, locale: str | None = None) -> list[dict]:
    query = f"?locale={locale}" if locale else ""
    async with visitor.http.get(f"{visitor.base}/api/chat/history{query}") as resp:
        assert resp.status == 200
        return (await resp.json())["replies"]


async def _ui(visitor: WebVisitor, query: str = "", **headers: str) -> dict:
    async with visitor.http.get(f"{visitor.base}/api/ui{query}", headers=headers) as resp:
        assert resp.status == 200
        return await resp.json()


# -- a closed browser tab -----------------------------------------------------------------


@asynccontextmanager
async def served_as_in_production(web: WebServer) -> AsyncIterator[str]:
    """The channel behind aiohttp's AppRunner as run_service starts it: unlike the test
    server, a handler is not cancelled when its client goes away (it finds out by writing)."""
    runner = aiohttp_web.AppRunner(build_web_app([web.channel]), access_log=None)
    await runner.setup()
    site = aiohttp_web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        web.channel.hub.close()
        await runner.cleanup()


def _closed_lines(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "event stream closed by the page" for r in caplog.records)


async def test_a_closed_tab_ends_its_event_stream_with_a_debug_line_not_a_traceback(
    web, monkeypatch, caplog
):
    monkeypatch.setattr(web_context, "HEARTBEAT", 0.05)  # the next ping finds the tab gone
    caplog.set_level(logging.DEBUG, logger="bot.web.context")
    await add_web_officer(web.container, "周专员", "zhou", PASSWORD)
    async with served_as_in_production(web) as base:
        for streams, path in enumerate(("/api/chat/events", "/api/officer/events"), start=1):
            async with WebOfficer(base) as page:
                if path.startswith("/api/officer"):
                    assert (await page.login("zhou", PASSWORD))[0] == 200
                async with page.events(path):
                    pass  # the tab is closed
            # The next ping finds it gone: wait (up to 5 s) for the line, then a little more
            # for anything worse that the same closing might log.
            for _ in range(100):
                if _closed_lines(caplog) >= streams:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]
    assert not any(r.exc_info for r in caplog.records)
    closed = [r for r in caplog.records if r.getMessage() == "event stream closed by the page"]
    assert len(closed) == 2 and all(r.levelno == logging.DEBUG for r in closed)


# -- the chat after a reload --------------------------------------------------------------


async def test_a_reloaded_page_shows_the_question_the_petition_is_at(web):
    async with WebVisitor(web.base, locale="zh_CN") as employee:
        assert await _history(employee) == []  # a new visitor: the page shows the menu
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press("cat:pay")
        asked = employee.last[-1]
        await employee.open()  # reload: same cookie
        replies = await _history(employee)
    t = web.container.translator.t
    assert replies[0]["text"] == t("intake.resuming", "zh_CN")
    assert (replies[-1]["text"], replies[-1]["buttons"]) == (asked["text"], asked["buttons"])
    # Another browser (another cookie) sees nothing of it.
    async with WebVisitor(web.base) as stranger:
        assert await _history(stranger) == []


async def test_the_history_is_read_only_and_stores_nothing(web):
    async with WebVisitor(web.base) as employee:
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press("cat:pay")
        async with web.container.uow() as uow:
            chat = employee_chat_id(web.container.vault, employee.cookie(VISITOR_COOKIE) or "")
            before = await uow.conversations.get("web", chat)
        for _ in range(3):
            await _history(employee)
        async with web.container.uow() as uow:
            after = await uow.conversations.get("web", chat)
    assert before is not None and after is not None
    assert (after.step, after.draft, after.expires_at) == (
        before.step,
        before.draft,
        before.expires_at,
    )


async def test_a_case_opened_by_its_code_is_shown_again_after_a_reload_and_its_pushes_follow(
    web,
):
    async with WebVisitor(web.base) as employee:
        code = await employee.file_petition(DESCRIPTION, evidence=False, updates="code")
        # The receipt is shown once: after a reload the code is not on the page again.
        assert not any(CODE_RE.search(r["text"]) for r in await _history(employee))
    case_id = await _case_id(web)
    async with web.container.uow() as uow:
        case = await uow.cases.get(case_id)
    assert case is not None and case.number
    async with WebVisitor(web.base) as holder:
        await holder.say(code)
        assert case.number in holder.text
        await holder.open()  # reload
        replies = await _history(holder)
        assert len(replies) == 1 and case.number in replies[0]["text"]
        assert code not in replies[0]["text"]  # the code is never re-rendered
        assert "cs:add" in [b["payload"] for row in replies[0]["buttons"] for b in row]
        holder.last = replies  # the buttons of the re-rendered status
        await holder.press("cs:add")
        replies = await _history(holder)
        # In the middle of adding information: the status, then the question again.
        assert case.number in replies[0]["text"] and replies[0]["buttons"] == []
        assert [b["payload"] for b in replies[1]["buttons"][0]] == ["cs:back"]


# -- uploads ------------------------------------------------------------------------------


async def test_the_page_learns_the_largest_upload_and_the_refusal_texts(web):
    async with WebVisitor(web.base) as page:
        ui = await _ui(page)
    settings = web.channel.context.settings
    assert ui["max_upload"] == settings.max_upload_mb * 1024 * 1024
    assert ui["max_upload_mb"] == settings.max_upload_mb
    assert ui["labels"]["upload_rejected"] == "未上传：{reason}"
    assert "{size}" in ui["labels"]["error_too_big_max"]
    assert ui["labels"]["error_type"] != "error_type"


async def test_an_oversized_upload_is_refused_by_its_length_before_the_body_is_sent(web):
    async with WebVisitor(web.base) as page:
        cookie = "; ".join(f"{m.key}={m.value}" for m in page.jar)
        csrf = page.csrf
    host, port = web.server.host, web.server.port
    too_big = web.channel.context.max_upload + 1024 * 1024
    head = (
        "POST /api/chat/upload HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Cookie: {cookie}\r\n"
        f"X-CSRF-Token: {csrf}\r\n"
        "Content-Type: multipart/form-data; boundary=xx\r\n"
        f"Content-Length: {too_big}\r\n"
    )
    for expect in ("Expect: 100-continue\r\n", ""):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write((head + expect + "\r\n").encode())
            await writer.drain()
            # Not one byte of the body is sent: the answer comes from the header alone.
            status = await asyncio.wait_for(reader.readline(), 5)
        finally:
            writer.close()
        assert status.startswith(b"HTTP/1.1 413"), (expect, status)


async def test_a_refused_file_type_gets_its_translated_reason_code(web):
    async with WebVisitor(web.base, locale="zh_CN") as employee:
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press("cat:pay")
        await employee.say(DESCRIPTION)
        status, body = await employee.upload("script.png", b"<html>not an image</html>")
        ui = await _ui(employee)
    assert (status, body) == (415, {"error": "type"})
    assert ui["labels"]["error_type"].startswith("不支持该文件类型")


# -- the tracking code's receipt ----------------------------------------------------------


async def test_the_receipt_gives_the_code_on_its_own_and_the_page_the_copy_and_saved_texts(
    web,
):
    async with WebVisitor(web.base, locale="zh_CN") as employee:
        code = await employee.file_petition(DESCRIPTION, evidence=False)
        ui = await _ui(employee)
        async with employee.http.get(f"{web.base}/static/app.js") as resp:
            script = await resp.text()
    assert CODE_RE.search(employee.text).group(0) == code
    labels = ui["labels"]
    assert labels["code_copy"] == "复制查询码" and labels["code_saved"] == "我已保存查询码"
    assert "不会再次显示" in labels["code_save_now"]
    # The page copies with the Clipboard API and holds the chat until the code is saved.
    assert "navigator.clipboard.writeText" in script and "code_confirm_first" in script


# -- case cards ---------------------------------------------------------------------------


async def test_a_case_card_in_the_admin_feed_is_titled_by_its_current_state(web):
    async with WebVisitor(web.base) as employee:
        await employee.file_petition(DESCRIPTION, evidence=False)
    case_id = await _case_id(web)
    await web.deliver()
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        _, feed = await officer.feed()
        first = [r for m in feed["messages"] for r in m["replies"] if r.get("case_id") == case_id]
        assert first[0]["text"].startswith("📋 新案件 ")
        status, _ = await officer.send(button=f"o:accept:{case_id}")
        assert status == 200
        await officer.send(button=f"o:ok:{case_id}:1")  # the preview's 确认发送
        _, feed = await officer.feed()
    cards = [r for m in feed["messages"] for r in m["replies"] if r.get("case_id") == case_id]
    assert cards[0]["text"].splitlines()[0].endswith("（已受理）")
    assert "新案件" not in cards[0]["text"]


# -- the language switch ------------------------------------------------------------------


async def test_the_page_language_follows_the_deployment_not_the_browser(web):
    async with WebVisitor(web.base) as page:
        ui = await _ui(page, **{"Accept-Language": "en-US,en;q=0.9"})
        assert ui["locale"] == "zh_CN" and ui["lang"] == "zh-CN"
        assert [(c["locale"], c["name"]) for c in ui["locales"]] == [
            ("zh_CN", "中文"),
            ("en", "English"),
        ]
        # The switch's choice is a cookie holding the locale and nothing else.
        page.jar.update_cookies({"xf_lang": "en"})
        chosen = await _ui(page)
        assert chosen["locale"] == "en" and chosen["labels"]["send"] == "Send"
        assert (await _ui(page, "?locale=zh_CN"))["locale"] == "zh_CN"  # ?lang= still wins
        page.jar.update_cookies({"xf_lang": "<script>"})
        assert (await _ui(page))["locale"] == "zh_CN"


async def test_an_english_deployment_defaults_its_pages_to_english(env, keys, clock):
    settings = load_settings({**env, "XINFANG_DEFAULT_LOCALE": "en"})
    async with web_server(settings, keys[0], clock, web=WebSettings(local=True)) as server:
        async with WebVisitor(server.base) as page:
            assert (await _ui(page))["locale"] == "en"


async def test_switching_language_changes_the_bots_texts_in_that_chat(web):
    t = web.container.translator.t
    async with WebVisitor(web.base, locale="zh_CN") as employee:
        await employee.say("/start")
        await employee.press("menu:new")
        await employee.press("cat:pay")
        # What the page does when English is chosen: the bot's language, then a reload.
        employee.jar.update_cookies({"xf_lang": "en"})
        await employee._chat({"button": "lang:en"})
        assert employee.last[0]["text"] == t("menu.language_set", "en")
        replies = await _history(employee, "en")
    assert replies[0]["text"] == t("intake.resuming", "en")


async def test_the_officers_page_follows_the_language_switch(web):
    async with WebVisitor(web.base) as employee:
        await employee.file_petition(DESCRIPTION, evidence=False)
    case_id = await _case_id(web)
    await web.deliver()
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebOfficer(web.base) as officer:
        await officer.login("li", PASSWORD)
        _, feed = await officer.feed()
        texts = [r["text"] for m in feed["messages"] for r in m["replies"]]
        assert any(text.startswith("📋 新案件") for text in texts)
        officer.jar.update_cookies({"xf_lang": "en"})
        _, feed = await officer.feed()
        status, _ = await officer.send(text=f"/case {case_id}")
        async with officer.http.get(f"{web.base}/api/officer/me") as resp:
            me = await resp.json()
    cards = [r for m in feed["messages"] for r in m["replies"] if r.get("case_id") == case_id]
    assert cards[0]["text"].startswith("📋 Case ")
    assert status == 200 and officer.last[0]["text"].startswith("📋 Case ")
    assert me["officer"]["role"] == web.container.translator.t("role.officer", "en")
