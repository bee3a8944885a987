"""What the web channel refuses and what it never keeps: forged CSRF tokens, oversized or
disguised uploads, script in petition text, and no IP address, user agent or cookie
value in the database or the logs."""

from __future__ import annotations

import asyncio
import logging
import re
from ipaddress import ip_network
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import inspect, select, text

from bot.settings import WebSettings, load_settings
from bot.web.pages import STATIC_DIR
from bot.web.passwords import hash_password
from bot.web.security import CSP, OFFICER_COOKIE, VISITOR_COOKIE, employee_chat_id
from handlers.ports import CaseFilter
from petitions.roles import Role
from storage.models import CaseRow
from storage.vault import aad
from tests.helpers.web import PNG, WebOfficer, WebVisitor, add_web_officer, web_server

DESCRIPTION = "食堂承包商克扣伙食补贴，已经持续半年，希望公司调查处理。"
SCRIPT = '<script>alert("x")</script><img src=x onerror="alert(1)"> ' + DESCRIPTION


@pytest.fixture
async def web(env, keys, clock):
    """The web channel with a 1 MB upload limit (small files for the size test)."""
    async with web_server(
        load_settings(env), keys[0], clock, web=WebSettings(local=True, max_upload_mb=1)
    ) as server:
        yield server


async def _conversations(web) -> int:
    async with web.container.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM conversations"))).scalar())


async def test_state_changing_requests_without_the_right_csrf_token_are_refused(web):
    async with WebVisitor(web.base) as visitor, WebVisitor(web.base) as other:
        body = {"text": "/new"}
        forged = [
            {"X-CSRF-Token": ""},
            {"X-CSRF-Token": "0" * 64},
            {"X-CSRF-Token": other.csrf},  # a valid token of another browser
            {"Sec-Fetch-Site": "cross-site"},  # right token, but sent from another site
            {"Origin": "http://evil.example"},
        ]
        for headers in forged:
            status, data = await visitor.post("/api/chat/send", body, headers=headers)
            assert status == 403, (headers, data)
        status, _ = await visitor.post(
            "/api/officer/login", {"login": "x", "password": "y"}, headers={"X-CSRF-Token": "f"}
        )
        assert status == 403
        assert await _conversations(web) == 0  # nothing happened
        status, _ = await visitor.post("/api/chat/send", body)
        assert status == 200


async def test_a_request_without_the_session_cookie_is_refused(web):
    async with WebVisitor(web.base) as visitor:
        visitor.jar.clear()
        status, _ = await visitor.post("/api/chat/send", {"text": "/new"})
    assert status == 403


async def test_oversized_uploads_and_texts_are_refused(web):
    async with WebVisitor(web.base) as visitor:
        await visitor.say("/start")
        await visitor.press("menu:new")
        await visitor.press("cat:pay")
        await visitor.say(DESCRIPTION)
        big = PNG + b"\0" * (1024 * 1024)
        status, data = await visitor.upload("big.png", big, "image/png")
        assert (status, data["error"]) == (413, "too_big")
        status, data = await visitor.post("/api/chat/send", {"text": "x" * 20_001})
        assert (status, data["error"]) == (413, "too_long")
        status, data = await visitor.post(
            "/api/chat/send", data=b"x" * (70 * 1024), headers={"Content-Type": "application/json"}
        )
        assert status == 413
        chat = employee_chat_id(web.container.vault, visitor.cookie(VISITOR_COOKIE) or "")
    async with web.container.uow() as uow:
        assert await uow.attachments.count_drafts("web", chat) == 0


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.png", b"<html><script>alert(1)</script></html>"),  # HTML named .png
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'),
        ("setup.exe", b"MZ\x90\x00\x03"),
        ("payslip.exe", b"%PDF-1.4 but named .exe"),  # content and name disagree
        ("empty.txt", b""),
    ],
)
async def test_uploads_are_checked_by_their_content_not_by_what_the_browser_claims(
    web, name, data
):
    async with WebVisitor(web.base) as visitor:
        await visitor.say("/start")
        await visitor.press("menu:new")
        await visitor.press("cat:pay")
        await visitor.say(DESCRIPTION)
        status, body = await visitor.upload(name, data, "image/png")
    assert status == 415, (name, status, body)
    assert body["error"] in ("type", "empty")


async def test_requests_with_the_wrong_content_type_are_refused(web):
    async with WebVisitor(web.base) as visitor:
        status, _ = await visitor.post("/api/chat/send", data="text=/new")
        assert status == 415
        status, _ = await visitor.post(
            "/api/chat/upload", {"file": "x"}
        )  # JSON where a file is expected
        assert status == 415


async def test_script_in_petition_text_stays_data_and_the_page_never_renders_html(web):
    async with WebVisitor(web.base) as visitor:
        await visitor.say("/start")
        await visitor.press("menu:new")
        await visitor.press("cat:pay")
        await visitor.say(SCRIPT)
        await visitor.press("ev:done")
        await visitor.press("anon:yes")
        await visitor.press("up:push")
        assert "<script>" in visitor.text  # the review shows it back as text, unescaped data
        async with visitor.http.get(web.base + "/") as resp:
            assert resp.headers["Content-Security-Policy"] == CSP
    # The page puts server text into the document only as text nodes.
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>" not in html and "style=" not in html
        assert not re.search(r"\son\w+=", html)  # no inline event handlers
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP


async def test_every_answer_carries_the_security_headers_and_cookies_are_strict(web):
    await add_web_officer(web.container, "李专员", "li", "correct horse battery")
    async with WebOfficer(web.base) as officer:
        async with officer.http.get(web.base + "/static/app.js") as resp:
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Security-Policy"] == CSP
        async with officer.http.get(web.base + "/admin") as resp:
            for name in ("X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"):
                assert name in resp.headers
        async with officer.http.post(
            web.base + "/api/officer/login",
            json={"login": "li", "password": "correct horse battery"},
            headers={"X-CSRF-Token": officer.csrf},
        ) as resp:
            assert resp.status == 200
            cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{OFFICER_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie


async def test_the_visitor_cookie_is_a_strict_session_cookie(web):
    async with WebVisitor(web.base) as visitor:
        visitor.jar.clear()
        async with visitor.http.get(web.base + "/api/session") as resp:
            cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{VISITOR_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()


async def _database_text(web) -> str:
    """Every value of every table, as text (bytes decoded loosely)."""
    parts: list[str] = []
    async with web.container.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


async def test_the_web_channel_keeps_no_ip_address_user_agent_or_cookie_value(web, caplog):
    caplog.set_level(logging.DEBUG)
    agent = "Mozilla/5.0 (X11; xinfang-privacy-probe-7f3a)"
    forwarded = "203.0.113.77"
    password = "correct horse battery"
    await add_web_officer(web.container, "李专员", "li", password, role=Role.LEADER)
    headers = {"X-Forwarded-For": forwarded, "X-Real-IP": forwarded}
    async with (
        WebVisitor(web.base, user_agent=agent) as employee,
        WebOfficer(web.base, user_agent=agent) as officer,
    ):
        employee.http.headers.update(headers)
        officer.http.headers.update(headers)
        code = await employee.file_petition(DESCRIPTION)
        status, _ = await officer.login("li", password)
        assert status == 200
        await web.deliver()
        async with web.container.uow() as uow:
            case = (await uow.cases.list(CaseFilter()))[0]
        await officer.send(button=f"o:accept:{case.id}")
        await officer.send(text="请到人事科核对。", case_ref=case.id)
        await web.deliver()
        async with WebVisitor(web.base, user_agent=agent) as fresh:
            await fresh.say(code)
        secrets = {
            "visitor cookie": employee.cookie(VISITOR_COOKIE),
            "officer cookie": officer.cookie(OFFICER_COOKIE),
            "csrf token": employee.csrf,
        }
    assert all(secrets.values())
    stored = await _database_text(web)
    logged = caplog.text
    for what, needle in {
        "peer address": "127.0.0.1",
        "forwarded address": forwarded,
        "user agent": "privacy-probe",
        "password": password,
        **secrets,
    }.items():
        assert needle not in stored, f"{what} found in the database"
        assert needle not in logged, f"{what} found in the logs"
    # The contact that lets pushes reach the page is encrypted, and even decrypted it is
    # a derived id, not the cookie.
    async with web.container.engine.connect() as conn:
        case_id, contact_ct = (await conn.execute(select(CaseRow.id, CaseRow.contact_ct))).one()
    contact = web.container.vault.open_contact(contact_ct, aad("cases", case_id, "contact"))
    assert contact["chat_id"] != secrets["visitor cookie"]
    assert secrets["visitor cookie"] not in contact["chat_id"]


def test_no_third_party_assets_are_shipped():
    for path in Path(STATIC_DIR).iterdir():
        content = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org)", content), path.name


async def _cookies(base: str, headers: dict[str, str]) -> list[str]:
    """The Set-Cookie headers of a fresh visit and of an officer's sign-in."""
    # No cookie jar: a jar keeps Secure cookies away from http://, and this test's server
    # stands behind an imagined proxy that speaks HTTPS to the browser.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.get(base + "/api/session", headers=headers) as resp:
            visitor = resp.headers["Set-Cookie"]
            csrf = (await resp.json())["csrf"]
        token = resp.cookies[VISITOR_COOKIE].value
        async with http.post(
            base + "/api/officer/login",
            json={"login": "li", "password": "correct horse battery"},
            headers={"X-CSRF-Token": csrf, "Cookie": f"{VISITOR_COOKIE}={token}", **headers},
        ) as resp:
            assert resp.status == 200
            officer = resp.headers["Set-Cookie"]
    return [visitor, officer]


def _secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_cookies_are_secure_when_a_trusted_proxy_says_the_browser_used_https(
    env, keys, clock
):
    proxy = WebSettings(local=True, trusted_proxies=(ip_network("127.0.0.0/8"),))
    async with web_server(load_settings(env), keys[0], clock, web=proxy) as server:
        await add_web_officer(server.container, "李专员", "li", "correct horse battery")
        over_https = await _cookies(server.base, {"X-Forwarded-Proto": "https"})
        over_http = await _cookies(server.base, {"X-Forwarded-Proto": "http"})
        spoofed = await _cookies(server.base, {"X-Forwarded-Proto": "https, http"})
    assert all(_secure(c) for c in over_https)
    assert not any(_secure(c) for c in over_http + spoofed)


async def test_a_forwarded_proto_header_from_an_untrusted_peer_changes_nothing(web):
    await add_web_officer(web.container, "李专员", "li", "correct horse battery")
    forged = await _cookies(web.base, {"X-Forwarded-Proto": "https"})
    assert not any(_secure(c) for c in forged)


async def test_the_secure_cookies_setting_still_marks_every_cookie_secure(env, keys, clock):
    always = WebSettings(local=True, secure_cookies=True)
    async with web_server(load_settings(env), keys[0], clock, web=always) as server:
        await add_web_officer(server.container, "李专员", "li", "correct horse battery")
        cookies = await _cookies(server.base, {})
    assert all(_secure(c) for c in cookies)


async def test_a_password_reset_signs_the_officer_out_everywhere_else(web):
    officer_id = await add_web_officer(web.container, "李专员", "li", "correct horse battery")
    await add_web_officer(web.container, "王专员", "wang", "another good password")
    async with WebOfficer(web.base) as li, WebOfficer(web.base) as wang:
        assert (await li.login("li", "correct horse battery"))[0] == 200
        assert (await wang.login("wang", "another good password"))[0] == 200
        assert (await li.send(text="/cases"))[0] == 200
        hashed = await asyncio.to_thread(hash_password, "a brand new password")
        async with web.container.uow() as uow:  # what `xinfang officers web ID` does
            await uow.web.set_login(officer_id, "li", hashed, web.container.services.clock())
            await uow.commit()
        assert (await li.send(text="/cases"))[0] == 401  # the old cookie is refused
        async with li.http.get(web.base + "/api/officer/events") as resp:
            assert resp.status == 401
        assert (await wang.send(text="/cases"))[0] == 200  # other officers stay signed in
        assert (await li.login("li", "correct horse battery"))[0] == 401
        assert (await li.login("li", "a brand new password"))[0] == 200


async def test_no_answer_names_the_server_software(web):
    async with WebOfficer(web.base) as browser:
        answers = []
        for path in ("/", "/admin", "/static/app.js", "/api/session", "/api/officer/feed"):
            async with browser.http.get(web.base + path) as resp:
                answers.append((path, resp.status, resp.headers))
        for path in ("/healthz", "/no/such/page", "/api/officer/evidence/1"):
            async with browser.http.get(web.base + path) as resp:
                answers.append((path, resp.status, resp.headers))
        async with browser.http.post(web.base + "/api/chat/send", json={}) as resp:
            answers.append(("forged post", resp.status, resp.headers))
    assert {status for _, status, _ in answers} >= {200, 401, 403, 404}
    assert [path for path, _, headers in answers if "Server" in headers] == []
