"""Leaders on the officers' web page, for the early-warning tests on the web
(tests/e2e/test_warnings_web.py, tests/e2e/test_urgent_web.py): a web-only deployment and
one signed-in page per unit's leader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from petitions.roles import Role
from tests.helpers.web import WebOfficer, WebServer, add_web_officer

__all__ = ["PASSWORD", "login_of", "sign_in_again", "signed_in_leaders", "web_only"]

PASSWORD = "correct horse battery"


def web_only(env: Mapping[str, str]) -> dict[str, str]:
    """The deployment's environment without Telegram: the web page is the only admin chat."""
    return {k: v for k, v in env.items() if not k.startswith("TELEGRAM_")}


def login_of(code: str) -> str:
    """The web login of the leader of the unit ``code``."""
    return f"leader-{code.lower()}"


@asynccontextmanager
async def signed_in_leaders(
    web: WebServer, units: Mapping[str, int], names: Mapping[str, str], role: Role = Role.LEADER
) -> AsyncIterator[dict[str, WebOfficer]]:
    """A leader (``names``: unit code → name) of each unit with a web login, each signed in
    on their own browser; the pages by unit code."""
    pages: dict[str, WebOfficer] = {}
    try:
        for code, name in names.items():
            await add_web_officer(
                web.container, name, login_of(code), PASSWORD, role, unit_id=units[code]
            )
            page = pages[code] = WebOfficer(web.base, locale="zh_CN")
            await page.open()
            status, body = await page.login(login_of(code), PASSWORD)
            assert status == 200, body
        yield pages
    finally:
        for page in pages.values():
            await page.http.close()


async def sign_in_again(pages: Mapping[str, WebOfficer]) -> None:
    """Every leader signs in afresh (a session ends after hours idle; tests move the clock)."""
    for code, page in pages.items():
        await page.open()
        status, body = await page.login(login_of(code), PASSWORD)
        assert status == 200, body
