"""The whole flow in a real browser: file a petition with an attachment in the employee
pane, answer it in the admin pane, see the answer and status in the employee pane, and
look the case up by tracking code in a fresh browser context. Screenshots must render."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LocalMode
from tests.helpers.web import CODE_RE, PNG

pytestmark = pytest.mark.browser

INJECTION = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
DESCRIPTION = f"{INJECTION} 车间三个月没有发加班费，要求按规定补发。"
ANSWER = "经核实，加班费将于下月随工资补发。"


def _expect() -> Any:
    from playwright.async_api import expect

    return expect


COLOURS_JS = """async (data) => {
    const img = new Image();
    img.src = "data:image/png;base64," + data;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return seen.size;
}"""


async def _assert_renders(browser: Any, page: Any, path: Path, *, full_page: bool = False) -> None:
    """Save a screenshot and check that it shows something (a blank page has 1–2 colours)."""
    png = await page.screenshot(path=str(path), full_page=full_page)
    name = path.name
    blank = await browser.new_page()  # about:blank: no CSP, a canvas to count colours
    try:
        colours = await blank.evaluate(COLOURS_JS, base64.b64encode(png).decode("ascii"))
    finally:
        await blank.close()
    assert colours > 50, f"{name} looks blank ({colours} colours)"


def _watch(page: Any, problems: list[str]) -> None:
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )


async def test_a_petition_goes_from_the_employee_pane_to_the_admin_pane_and_back(
    browser: Any, local_mode: LocalMode, tmp_path: Path
) -> None:
    expect = _expect()
    problems: list[str] = []
    context = await browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    _watch(page, problems)
    # The pages default to the deployment's language (Chinese), not the browser's: ask.
    await page.goto(f"{local_mode.base}/local?lang=en")
    employee = page.locator("[data-pane=employee]")
    admin = page.locator("[data-pane=admin]")

    # The employee files a petition with evidence.
    await employee.locator("[data-payload='menu:new']").last.click()
    await employee.locator("[data-payload='cat:pay']").last.click()
    await employee.get_by_label("Your message").fill(DESCRIPTION)
    await employee.locator("button.send").click()
    await expect(employee.locator("[data-payload='ev:done']")).to_have_count(1)
    await employee.locator("input[type=file]").set_input_files(
        {"name": "payslip.png", "mimeType": "image/png", "buffer": PNG}
    )
    await expect(employee.locator(".msg.bot").last).to_contain_text("File 1 received")
    await employee.locator("[data-payload='ev:done']").last.click()
    await employee.locator("[data-payload='anon:yes']").last.click()
    await employee.locator("[data-payload='up:push']").last.click()  # progress to this page
    await expect(employee.locator(".msg.bot").last).to_contain_text("Updates: pushed to this chat")
    await employee.locator("[data-payload='rv:submit']").last.click()
    with_code = employee.locator(".msg.bot").filter(has_text=CODE_RE)
    await expect(with_code).to_have_count(1)
    submitted = await with_code.inner_text()
    code = CODE_RE.search(submitted)
    assert code, submitted

    # The officer signs in with the one-time login and handles the case.
    await admin.locator("#officer-login").fill(local_mode.login)
    await admin.locator("#officer-password").fill(local_mode.password)
    await admin.locator(".login button").click()
    accept = admin.locator("[data-payload^='o:accept:']").first
    await expect(accept).to_be_visible()
    case_id = (await accept.get_attribute("data-payload") or "").rsplit(":", 1)[-1]
    await expect(admin.locator(".log")).to_contain_text("<script>")  # shown as text
    await accept.click()
    confirm = admin.locator(f"[data-payload='o:ok:{case_id}:1']")  # the preview's 确认发送
    await expect(confirm).to_be_visible()
    await confirm.click()
    await expect(employee.locator(".msg.pushed").filter(has_text="accepted")).to_have_count(1)

    await admin.locator("button.reply-to").first.click()
    await expect(admin.locator(".target")).to_contain_text(case_id)
    await admin.locator("textarea").fill(ANSWER)
    await admin.locator("button.send").click()
    await expect(employee.locator(".msg.pushed").filter(has_text=ANSWER)).to_have_count(1)

    # Staff see the evidence inline (a data: image, allowed by the CSP).
    await admin.locator("textarea").fill(f"/case {case_id}")
    await admin.locator("button.send").click()
    # (the case card may show it too, depending on when its push arrived: take the last)
    evidence = admin.locator("img.evidence").last
    await expect(evidence).to_be_visible()
    assert await evidence.evaluate("img => img.complete && img.naturalWidth") == 1

    # Script typed into the petition stayed text everywhere.
    await expect(employee.locator(".msg.me").filter(has_text="<script>")).to_have_count(1)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator('img[src="x"]').count() == 0
    assert await page.locator("script").count() == 1  # only /static/app.js
    await _assert_renders(browser, page, tmp_path / "local.png", full_page=True)
    await context.close()

    # Later, in a fresh browser: the tracking code is the way back.
    fresh = await browser.new_context(locale="en-US")
    page = await fresh.new_page()
    _watch(page, problems)
    await page.goto(f"{local_mode.base}/?lang=en")
    pane = page.locator("[data-pane=employee]")
    await expect(pane.locator("[data-payload='menu:status']")).to_have_count(1)
    await pane.get_by_label("Your message").fill(code.group(0).lower())
    await page.keyboard.press("Enter")
    status = pane.locator(".msg.bot").last
    await expect(status).to_contain_text(ANSWER)
    await expect(status).to_contain_text(re.compile("accepted", re.IGNORECASE))
    await _assert_renders(browser, page, tmp_path / "code.png", full_page=True)
    await fresh.close()
    assert problems == []


async def test_the_pages_render_in_chinese_without_policy_violations(
    browser: Any, local_mode: LocalMode, tmp_path: Path
) -> None:
    expect = _expect()
    problems: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    _watch(page, problems)
    await page.goto(f"{local_mode.base}/")
    await expect(page.locator("[data-payload='menu:new']")).to_have_count(1)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await expect(page.locator("button.send")).to_have_text("发送")
    await _assert_renders(browser, page, tmp_path / "employee.png")
    await page.goto(f"{local_mode.base}/admin")
    await expect(page.locator(".login button")).to_have_text("登录")
    await page.locator("#officer-login").fill(local_mode.login)
    await page.locator("#officer-password").fill("wrong password")
    await page.locator(".login button").click()
    await expect(page.locator(".status")).to_contain_text("不正确")
    await _assert_renders(browser, page, tmp_path / "admin.png")
    await context.close()
    # A wrong password answers 401, which Chromium logs as a failed resource.
    assert [p for p in problems if "401" not in p] == []
