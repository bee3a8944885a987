"""The officers' web sign-in against guessing, over real HTTP: attempts are counted before
the password is checked (parallel wrong passwords cannot outrun the limit), a name is
delayed rather than locked, addresses and the whole server have limits of their own,
Argon2id checks are bounded, and custodians need a TOTP code."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

import bot.web.officer as officer_module
from bot.settings import load_settings
from bot.web.officer import (
    ADDRESS_ATTEMPTS,
    CHECKS_AT_ONCE,
    DELAY_FIRST,
    LOGIN_FAILURES,
    PasswordChecks,
)
from bot.web.passwords import verify_password
from petitions.roles import Role
from storage.models import RateLimitRow
from tests.helpers.web import WebOfficer, add_web_officer, web_server

PASSWORD = "correct horse battery"


class CountingChecks:
    """Wraps verify_password: how many Argon2id checks ran, and how many at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.inside = 0
        self.most = 0
        self.pause = pause
        self._lock = threading.Lock()

    def __call__(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self.calls += 1
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            if self.pause:
                time.sleep(self.pause)
            return verify_password(password_hash, password)
        finally:
            with self._lock:
                self.inside -= 1


@pytest.fixture
async def web(env, keys, clock):
    """The web channel on a fresh database."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> CountingChecks:
    """Every password check of the sign-in goes through a counter."""
    counter = CountingChecks()
    monkeypatch.setattr(officer_module, "verify_password", counter)
    return counter


async def _login(base: str, login: str, password: str, **extra: Any) -> tuple[int, dict]:
    async with WebOfficer(base) as browser:
        body = {"login": login, "password": password, **extra}
        return await browser.post("/api/officer/login", body)


async def test_twenty_parallel_wrong_passwords_check_at_most_the_limit(web, checks):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    results = await asyncio.gather(*(_login(web.base, "li", f"guess {i}") for i in range(20)))
    statuses = sorted(status for status, _ in results)
    assert checks.calls <= LOGIN_FAILURES
    assert statuses.count(401) == checks.calls
    assert statuses.count(429) == 20 - checks.calls
    assert all(data["error"] in ("login_failed", "throttled") for _, data in results)


async def test_a_delayed_officer_signs_in_after_the_delay(web, clock, checks):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    for _ in range(LOGIN_FAILURES):
        assert (await _login(web.base, "li", "wrong"))[0] == 401
    status, data = await _login(web.base, "li", PASSWORD)
    assert (status, data["error"]) == (429, "throttled")  # not even checked
    assert checks.calls == LOGIN_FAILURES
    clock.advance(seconds=DELAY_FIRST.total_seconds())
    status, data = await _login(web.base, "li", PASSWORD)
    assert status == 200, data
    assert data["officer"]["name"] == "李专员"


async def test_each_further_wrong_password_doubles_the_wait(web, clock, checks):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    for _ in range(LOGIN_FAILURES):
        await _login(web.base, "li", "wrong")
    first = DELAY_FIRST.total_seconds()
    clock.advance(seconds=first)
    assert (await _login(web.base, "li", "wrong again"))[0] == 401
    clock.advance(seconds=first)  # the wait is now twice as long
    assert (await _login(web.base, "li", PASSWORD))[0] == 429
    clock.advance(seconds=first)
    assert (await _login(web.base, "li", PASSWORD))[0] == 200


async def test_another_name_is_not_delayed_by_guesses_at_one_name(web, checks):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    await add_web_officer(web.container, "王专员", "wang", PASSWORD)
    for _ in range(LOGIN_FAILURES + 2):
        await _login(web.base, "li", "wrong")
    assert (await _login(web.base, "wang", PASSWORD))[0] == 200


async def test_one_address_guessing_many_names_is_stopped(web, checks):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    for i in range(ADDRESS_ATTEMPTS):
        assert (await _login(web.base, f"name{i}", "wrong"))[0] == 401
    status, data = await _login(web.base, "li", PASSWORD)
    assert (status, data["error"]) == (429, "throttled")
    assert checks.calls == ADDRESS_ATTEMPTS


async def test_random_names_cannot_run_more_than_a_few_checks_at_once(web, monkeypatch):
    slow = CountingChecks(pause=0.3)
    monkeypatch.setattr(officer_module, "verify_password", slow)
    n = 25
    results = await asyncio.gather(*(_login(web.base, f"random{i}", "x") for i in range(n)))
    statuses = [status for status, _ in results]
    assert slow.most <= CHECKS_AT_ONCE
    busy = [data for status, data in results if status == 429]
    assert busy and all(data["error"] == "busy" for data in busy)
    assert slow.calls == statuses.count(401) < n


async def test_a_full_queue_refuses_at_once(monkeypatch):
    release = threading.Event()

    def held(*_: Any) -> bool:
        release.wait(5)
        return False

    monkeypatch.setattr(officer_module, "verify_password", held)
    checks = PasswordChecks(at_once=1, waiting=1)
    running = [asyncio.create_task(checks.check(None, p)) for p in ("a", "b")]
    await asyncio.sleep(0.05)
    assert await checks.check(None, "c") is None  # a third would wait beyond the queue
    release.set()
    assert await asyncio.gather(*running) == [False, False]


async def test_addresses_are_kept_only_as_blind_indexes(web, checks):
    await _login(web.base, "li", "wrong")
    async with web.container.uow() as uow:
        keys = (await uow.session.execute(select(RateLimitRow.key_index))).scalars().all()
    assert len(keys) == 3  # overall, address, name
    assert all("127.0.0.1" not in k and "li" != k and len(k) == 64 for k in keys)


async def test_an_officer_with_totp_needs_the_code(web, clock, checks):
    officer_id = await add_web_officer(web.container, "李专员", "li", PASSWORD)
    secret = pyotp.random_base32()
    async with web.container.uow() as uow:
        await uow.web.set_totp(officer_id, secret)
        await uow.commit()
    status, data = await _login(web.base, "li", PASSWORD)
    assert (status, data["error"]) == (401, "totp_required")
    status, data = await _login(web.base, "li", PASSWORD, code="000000")
    if pyotp.TOTP(secret).at(clock()) != "000000":
        assert (status, data["error"]) == (401, "login_failed")
    code = pyotp.TOTP(secret).at(clock())
    assert (await _login(web.base, "li", PASSWORD, code=code))[0] == 200


async def test_a_custodian_without_totp_cannot_sign_in_on_the_web(web, clock, checks):
    officer_id = await add_web_officer(
        web.container, "赵保管", "zhao", PASSWORD, Role.CUSTODIAN, totp=False
    )
    status, data = await _login(web.base, "zhao", PASSWORD)
    assert (status, data["error"]) == (403, "totp_enrol")
    secret = pyotp.random_base32()
    async with web.container.uow() as uow:
        await uow.web.set_totp(officer_id, secret)
        await uow.commit()
    code = pyotp.TOTP(secret).at(clock())
    assert (await _login(web.base, "zhao", PASSWORD, code=code))[0] == 200
