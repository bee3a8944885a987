"""What people do on the web pages, in a real browser, by clicks and typing only: an
employee files a petition in the chat pane, staff sign in and open a case page from the
ledger, and take a formal act through its form (预览, then 确认)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from i18n import translator
from petitions.roles import Role
from tests.browser.conftest import LocalMode
from tests.helpers.web import add_web_officer

__all__ = [
    "NUMBER_RE",
    "PASSWORD",
    "EmployeePane",
    "act",
    "employee_files",
    "expect",
    "fact",
    "open_case",
    "playground",
    "sign_in",
    "staff_page",
    "t",
    "unit_ids",
    "watch",
]

PASSWORD = "correct horse battery"
NUMBER_RE = re.compile(r"XF-\d{4}-\d{6,18}")


def expect(target: Any) -> Any:
    """Playwright's ``expect`` (imported late: the browser tests skip without Playwright)."""
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(target)


def t(key: str, locale: str = "zh_CN", **params: Any) -> str:
    """A catalog text, as the server renders it."""
    return translator().t(key, locale, **params)


def watch(page: Any) -> list[str]:
    """Collect the page's dialogs, script errors and console errors."""
    problems: list[str] = []
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


@dataclass
class EmployeePane:
    """The employee's browser: the chat pane that filed the petition and gets its pushes."""

    page: Any
    pane: Any
    number: str
    code: str
    problems: list[str]

    def pushed(self, state: str) -> Any:
        """The pushed message that announces this state (a ``state.*`` message id)."""
        text = t("push.status", number=self.number, state=t(state))
        return self.pane.locator(".msg.pushed").filter(has_text=text)


async def employee_files(
    browser: Any,
    local_mode: LocalMode,
    description: str,
    *,
    updates: str = "push",
    seen: list[str] | None = None,
    look: Any = None,
    unit_path: Sequence[int] = (),
) -> EmployeePane:
    """An employee files an anonymous petition in the web chat of a fresh zh-CN browser
    (updates ``push``-ed to this page, or ``code`` only) and keeps the page open.
    ``look`` (an async callable taking the page) is called at every step of the way.
    With a unit tree, ``unit_path`` is the ids of the units the employee opens level by
    level from the top, the last one the unit the matter concerns (no conflict of
    interest)."""

    async def step() -> None:
        if look is not None:
            await look(page)

    context = await browser.new_context(locale="zh-CN", accept_downloads=True)
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{local_mode.base}/")
    pane = page.locator("[data-pane=employee]")
    await expect(pane.locator("[data-payload='menu:new']")).to_have_count(1)
    await step()
    await pane.locator("[data-payload='menu:new']").last.click()
    await expect(pane.locator("[data-payload='cat:pay']")).to_have_count(1)
    await step()
    await pane.locator("[data-payload='cat:pay']").last.click()
    if unit_path:
        await _choose_unit(pane, unit_path)
        await step()
    await pane.locator("#employee-text").fill(description)
    await pane.locator("button.send").click()
    await expect(pane.locator("[data-payload='ev:done']")).to_have_count(1)
    await step()
    for payload in ("ev:done", "anon:yes", f"up:{updates}"):
        await pane.locator(f"[data-payload='{payload}']").last.click()
        await step()
    await pane.locator("[data-payload='rv:submit']").last.click()
    receipt = pane.locator(".msg.bot").filter(has=page.locator(".code-box"))
    await expect(receipt).to_have_count(1)
    await step()
    number = NUMBER_RE.search(await receipt.inner_text())
    assert number, await receipt.inner_text()
    code = (await receipt.locator(".code").inner_text()).strip()
    await receipt.locator("button.code-saved").click()
    await expect(pane.locator("#employee-text")).to_be_enabled()
    return EmployeePane(page, pane, number.group(0), code, problems)


async def _choose_unit(pane: Any, unit_path: Sequence[int]) -> None:
    # Each unit's button opens its level (or chooses a unit with none below it); the
    # payloads carry the unit id, so the level that answered is the one waited for.
    for unit_id in unit_path:
        button = pane.locator(f"[data-payload='un:o:{unit_id}']")
        await expect(button).to_have_count(1)
        await button.click()
        last = unit_id
    conflict = pane.locator("[data-payload='cf:no']")
    this = pane.locator(f"[data-payload='un:ok:{last}']")
    await expect(conflict.or_(this).first).to_be_visible()
    if not await conflict.count():
        await this.click()  # 就是这个单位: a unit with units below it
    await expect(conflict).to_have_count(1)
    await conflict.click()
    await expect(pane.locator("#employee-text")).to_be_enabled()


async def unit_ids(local_mode: LocalMode) -> dict[str, int]:
    """The ids of the group's units by code."""
    async with local_mode.server.container.uow() as uow:
        tree = await uow.units.tree()
    return {u.code: u.id for u in tree.walk()}


async def playground(local_mode: LocalMode) -> dict[str, str]:
    """Seed what ``xinfang playground`` starts with (the example group and the ladder's
    officers: ``plant``, ``company``, ``group``); return each login's password."""
    from bot.cli.service import seed_playground

    logins = await seed_playground(local_mode.server.container)
    return {login.login: login.password for login in logins}


async def sign_in(browser: Any, local_mode: LocalMode, login: str, password: str) -> Any:
    """Sign a member of staff already registered in on the officers' page (a fresh zh-CN
    browser); ``page.problems`` collects its errors."""
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    page.problems = watch(page)
    await page.goto(f"{local_mode.base}/admin")
    await page.locator("#officer-login").fill(login)
    await page.locator("#officer-password").fill(password)
    await page.locator("#officer-password").press("Enter")
    try:
        await expect(page.locator("#tab-ledger")).to_be_visible()
    except AssertionError as missing:
        # The page's own errors say why the ledger never appeared.
        raise AssertionError(f"no ledger tab; page errors: {page.problems}") from missing
    return page


async def staff_page(
    browser: Any,
    local_mode: LocalMode,
    name: str,
    login: str,
    role: Role = Role.OFFICER,
    *,
    unit_id: int | None = None,
) -> Any:
    """Register a member of staff (of a unit, when given) and sign them in on the officers'
    page (a fresh zh-CN browser); ``page.problems`` collects its errors."""
    container = local_mode.server.container
    await add_web_officer(container, name, login, PASSWORD, role, unit_id=unit_id)
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    page.problems = watch(page)
    await page.goto(f"{local_mode.base}/admin")
    await page.locator("#officer-login").fill(login)
    await page.locator("#officer-password").fill(PASSWORD)
    await page.locator("#officer-password").press("Enter")
    await expect(page.locator("#tab-ledger")).to_be_visible()
    return page


async def open_case(page: Any, number: str) -> Any:
    """From the ledger tab to the case page, by the link of its number."""
    await page.locator("#tab-ledger").click()
    link = page.locator(".ledger-table").get_by_role("link", name=number, exact=True)
    await expect(link).to_be_visible()
    await link.click()
    case_page = page.locator("#tab-panel-case")
    await expect(case_page.locator("#case-heading")).to_be_focused()
    return case_page


async def act(
    case_page: Any,
    action: str,
    *,
    choose: dict[str, str] | None = None,
    write: dict[str, str] | None = None,
    moves: bool = True,
) -> str:
    """Fill an act's form (choices picked by their visible label, texts typed), preview it,
    confirm it, and wait for the page to show the case moved on (or, for an act that
    changes no state, ``moves=False``, the page read again); return the preview."""
    form = case_page.locator(f"form.act-form[data-action={action}]")
    for name, label in (choose or {}).items():
        await form.locator(f"select[name={name}]").select_option(label=label)
    for name, text in (write or {}).items():
        await form.locator(f"textarea[name={name}]").fill(text)
    await form.locator("button.preview").click()
    preview = form.locator(".act-preview .preview-text")
    await expect(preview).to_be_visible()
    previewed: str = await preview.inner_text()
    await form.locator("button.confirm").click()
    if moves:
        # Every act moves the case out of the states it may be taken in: its form goes.
        await expect(form).to_have_count(0)
    await expect(case_page.locator(".act-done")).to_be_visible()
    return previewed


def fact(case_page: Any, column: str) -> Any:
    """The value of one of the case page's facts, by its label's message id."""
    return case_page.locator(f"dl.case-facts dt:text-is('{t(column)}') + dd")
