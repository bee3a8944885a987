"""The audit trail on the web admin page: custodians and discipline inspection read who did
what when to which case (never details); other officers cannot; reading is audited too."""

from __future__ import annotations

import pyotp
import pytest

from bot.settings import load_settings
from petitions.roles import Role
from tests.helpers.web import WebOfficer, add_web_officer, web_server

PASSWORD = "correct horse battery"


@pytest.fixture
async def web(env, keys, clock):
    """The web channel on a fresh database."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _signed_in(web, clock, name: str, login: str, role: Role) -> WebOfficer:
    officer_id = await add_web_officer(web.container, name, login, PASSWORD, role)
    body = {"login": login, "password": PASSWORD}
    if role is Role.CUSTODIAN:
        secret = pyotp.random_base32()
        async with web.container.uow() as uow:
            await uow.web.set_totp(officer_id, secret)
            await uow.commit()
        body["code"] = pyotp.TOTP(secret).at(clock())
    browser = WebOfficer(web.base)
    await browser.open()
    status, data = await browser.post("/api/officer/login", body)
    assert status == 200, data
    return browser


async def _audit(browser: WebOfficer, query: str = "") -> tuple[int, dict]:
    async with browser.http.get(f"{browser.base}/api/officer/audit{query}") as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("role", [Role.CUSTODIAN, Role.DISCIPLINE])
async def test_custodians_and_discipline_read_the_trail_without_details(web, clock, role):
    async with web.container.uow() as uow:
        await uow.audit.add(clock(), Role.SYSTEM, "test.secret", detail={"reason": "机密理由"})
        await uow.commit()
    browser = await _signed_in(web, clock, "赵审计", "zhao", role)
    try:
        status, data = await _audit(browser)
        assert status == 200
        actions = [e["action"] for e in data["entries"]]
        assert "test.secret" in actions and "officer.web_login" in actions
        assert "机密理由" not in str(data)
        assert data["head"] and ":" in data["head"]
        login = next(e for e in data["entries"] if e["action"] == "officer.web_login")
        assert "赵审计" in login["officer"]
        status, mine = await _audit(browser, "?officer=999")
        assert (status, mine["entries"]) == (200, [])
    finally:
        await browser.http.close()
    async with web.container.uow() as uow:
        assert "audit.view" in [e["action"] for e in await uow.audit.list()]


async def test_other_officers_cannot_read_the_trail(web, clock):
    browser = await _signed_in(web, clock, "李专员", "li", Role.OFFICER)
    try:
        status, data = await _audit(browser)
        assert status == 404
        async with browser.http.get(f"{browser.base}/api/officer/me") as resp:
            assert (await resp.json())["officer"]["audit"] is False
    finally:
        await browser.http.close()
