"""In a real browser: the case ledger (台账) beside the admin chat — filters and a search
submitted with Enter, sorting by a column header, 下一页/上一页, a case page whose buttons
post the chat's payloads, an XLSX download checked with openpyxl, and the layout at 1280
and 390 px (screenshots for docs/officers.md)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from i18n import translator
from petitions.roles import Role
from storage.models import CaseRow
from storage.vault import aad
from tests.browser.conftest import LocalMode
from tests.helpers.seeding import seed_cases
from tests.helpers.web import add_web_officer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
WAGES = "车间拖欠工资三个月，多次向班组长反映无人处理，请求尽快补发。"
SECRET = "举报某处长收受供应商礼金。"
UNITS = ("第一车间", "第二车间", "机修分厂", "后勤服务中心")


def _expect() -> Any:
    from playwright.async_api import expect

    return expect


def t(key: str, locale: str = "zh_CN", **params: Any) -> str:
    """A catalog text, as the server renders it."""
    return translator().t(key, locale, **params)


async def _seed(local_mode: LocalMode) -> dict[str, int]:
    """An officer and 35 cases (one about wages, one for discipline inspection only)."""
    container = local_mode.server.container
    await add_web_officer(container, "李专员", "li", PASSWORD, Role.OFFICER)
    now = container.services.clock()
    day = timedelta(days=1)
    states = ("registered", "accepted", "in_progress", "responded", "closed")
    rows = [
        {
            "created_at": now - (n + 1) * day,
            "deadline_at": None if n % 5 == 4 else now + ((n * 7) % 40 - 5) * day,
            "state": states[n % 5],
            "category": ("pay", "labor", "safety", "insurance")[n % 4],
            "unit": UNITS[n % 4],
            "channel": ("telegram", "wecom", "web")[n % 3],
        }
        for n in range(34)
    ]
    rows.append({"created_at": now - 2 * day, "category": "discipline"})
    ids = await seed_cases(container, rows)
    vault = container.uow.vault
    texts = {ids[0]: WAGES, ids[-1]: SECRET}
    async with container.uow() as uow:
        for case_id, text in texts.items():
            ct = vault.encrypt_text(text, aad("cases", case_id, "description"))
            await uow.session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(description_ct=ct)
            )
            await uow.search.index(case_id, text)
        await uow.commit()
    return {"wages": ids[0], "secret": ids[-1]}


async def _signed_in(browser: Any, local_mode: LocalMode, width: int, height: int) -> Any:
    context = await browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.problems = problems
    await page.goto(f"{local_mode.base}/admin")
    await page.locator("#officer-login").fill("li")
    await page.locator("#officer-password").fill(PASSWORD)
    await page.locator("#officer-password").press("Enter")
    await _expect()(page.locator("#tab-ledger")).to_be_visible()
    return page


async def _numbers(page: Any) -> list[str]:
    return [
        text.strip()
        for text in await page.locator(".ledger-table tbody td[data-label] a").all_inner_texts()
    ]


async def test_the_ledger_filters_sorts_pages_opens_a_case_and_exports_xlsx(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    cases = await _seed(local_mode)
    page = await _signed_in(browser, local_mode, 1280, 900)
    await page.locator("#tab-ledger").click()
    ledger = page.locator("#tab-panel-ledger")
    await expect(ledger).to_be_visible()
    await expect(page.locator("[data-pane=admin]")).to_be_hidden()
    count = page.locator(".ledger-count")
    # Open cases only, by default; the discipline report is never among them for an officer.
    await expect(count).to_have_text(t("ledger.count", count=28))
    headers = await page.locator(".ledger-table thead th").all_inner_texts()
    assert [h.strip(" ▲▼") for h in headers][:3] == ["案件编号", "登记日期", "承办单位"]

    # Every state, sorted by registration date (newest first after two clicks).
    await page.locator("#ledger-state").select_option("all")
    await page.locator("#ledger-q").press("Enter")  # Enter submits the filters
    await expect(count).to_have_text(t("ledger.count", count=34))
    await page.locator("button.sort[data-sort=created]").click()
    await expect(page.locator("th[aria-sort=ascending]")).to_have_count(1)
    await expect(page.locator("button.sort[data-sort=created]")).to_be_focused()
    await page.keyboard.press("Enter")  # the sort button keeps the focus: Enter sorts again
    await expect(page.locator("th[aria-sort=descending]")).to_have_count(1)
    # The header changes before the rows arrive: wait for the newest case on top.
    newest = f"{cases['wages']:06d}"
    await expect(page.locator(".ledger-table tbody tr").first).to_contain_text(newest)
    first_page = await _numbers(page)
    assert len(first_page) == 20 and first_page[0].endswith(f"{cases['wages']:06d}")
    await page.locator("button.next").click()
    await expect(page.locator(".ledger-table tbody tr")).to_have_count(14)
    second_page = await _numbers(page)
    assert not set(first_page) & set(second_page)
    await expect(page.locator("button.next")).to_be_disabled()
    await page.locator("button.prev").click()
    await expect(page.locator(".ledger-table tbody tr")).to_have_count(20)
    assert await _numbers(page) == first_page
    await expect(page.locator("button.prev")).to_be_disabled()

    # A filter, and the XLSX of exactly that view, with Chinese headers.
    # With a unit tree the unit filter lists the officer's units (indented by level).
    await page.locator("select#ledger-unit").select_option(label="\u3000第二车间")
    await page.locator(".ledger-filters button[type=submit]").click()
    await expect(count).to_have_text(t("ledger.count", count=9))
    shown = await _numbers(page)
    async with page.expect_download() as info:
        await page.locator("a.export-xlsx").click()
    download = await info.value
    saved = await download.path()
    book = load_workbook(io.BytesIO(await asyncio.to_thread(Path(saved).read_bytes)))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert rows[0][:5] == ["案件编号", "登记日期", "承办单位", "类别", "状态"]
    assert rows[0][-1] == "满意度"
    assert [r[0] for r in rows[1:]] == shown
    assert {r[2] for r in rows[1:]} == {"第二车间"}
    IMG.mkdir(parents=True, exist_ok=True)

    # A search by the petition's words finds the case; the discipline report stays hidden.
    await page.locator("select#ledger-unit").select_option("")
    await page.locator("#ledger-q").fill("拖欠工资")
    await page.locator("#ledger-q").press("Enter")
    await expect(count).to_have_text(t("ledger.count", count=1))
    await page.locator("#ledger-q").fill("礼金")
    await page.locator("#ledger-q").press("Enter")
    await expect(page.locator(".ledger-table td.empty")).to_have_text(t("ledger.empty"))

    # Back to a full view for the picture.
    await page.locator("#ledger-q").fill("")
    await page.locator("#ledger-q").press("Enter")
    await expect(count).to_have_text(t("ledger.count", count=34))
    await page.screenshot(path=str(IMG / "ledger-1280.png"), full_page=True)

    # The case page: content, timeline, and the case card's buttons.
    await page.locator(f"a[href='#case-{cases['wages']}']").click()
    case_page = page.locator("#tab-panel-case")
    await expect(case_page.locator("#case-heading")).to_be_focused()
    await expect(case_page.locator(".case-content .text")).to_contain_text(WAGES)
    actions = case_page.locator(".case-actions .choices button")
    assert await actions.count() >= 2
    payloads = [await b.get_attribute("data-payload") for b in await actions.all()]
    assert f"o:view:{cases['wages']}" in payloads
    await case_page.locator(f"[data-payload='o:view:{cases['wages']}']").first.click()
    await expect(case_page.locator(".case-log .msg.bot")).not_to_have_count(0)
    await page.screenshot(path=str(IMG / "case-page.png"), full_page=True)
    await case_page.locator("button.back").click()
    await expect(ledger).to_be_visible()
    assert page.problems == []
    await page.context.close()


async def test_on_a_phone_the_ledger_becomes_cards(browser: Any, local_mode: LocalMode) -> None:
    expect = _expect()
    await _seed(local_mode)
    page = await _signed_in(browser, local_mode, 390, 844)
    await page.goto(f"{local_mode.base}/admin#ledger")
    first = page.locator(".ledger-table tbody tr").first
    await expect(first).to_be_visible()
    # Cards: the header row is out of sight, each cell names its column, nothing scrolls
    # sideways.
    await expect(page.locator(".ledger-table thead")).to_have_css("position", "absolute")
    label = (
        await first.locator("td").nth(1).evaluate("td => getComputedStyle(td, '::before').content")
    )
    assert "登记日期" in label
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    box = await first.bounding_box()
    assert box is not None and box["width"] <= 390
    await page.screenshot(path=str(IMG / "ledger-390.png"), full_page=False)
    assert page.problems == []
    await page.context.close()
