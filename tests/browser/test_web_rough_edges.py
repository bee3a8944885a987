"""In a real browser: the tracking code's copy button and "saved" step, a refused upload,
the chat after a reload, and the language switch on every page (remembered, changing
the page and the bot together, Chinese by default whatever the browser's language)."""

from __future__ import annotations

from typing import Any

import pytest

from i18n import translator
from tests.browser.conftest import LocalMode
from tests.helpers.web import CODE_RE

pytestmark = pytest.mark.browser

DESCRIPTION = "食堂饭菜价格上涨了一倍，质量却越来越差，希望公司核查承包合同。"


def _expect() -> Any:
    from playwright.async_api import expect

    return expect


def t(key: str, locale: str = "zh_CN", **params: Any) -> str:
    """A catalog text, as the server renders it."""
    return translator().t(key, locale, **params)


def _watch(page: Any, problems: list[str]) -> None:
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )


async def test_the_tracking_code_is_copied_and_saved_before_the_chat_goes_on(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    problems: list[str] = []
    # An English browser: the page still opens in the deployment's language, Chinese.
    context = await browser.new_context(locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=local_mode.base)
    page = await context.new_page()
    _watch(page, problems)
    await page.goto(f"{local_mode.base}/")
    pane = page.locator("[data-pane=employee]")
    await expect(pane.locator("button.send")).to_have_text(t("web.send"))
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"

    await pane.locator("[data-payload='menu:new']").last.click()
    await pane.locator("[data-payload='cat:pay']").last.click()
    await pane.locator("#employee-text").fill(DESCRIPTION)
    await pane.locator("button.send").click()
    await expect(pane.locator("[data-payload='ev:done']")).to_have_count(1)

    # A file that is not what its name says is refused, and the page says so in Chinese.
    await pane.locator("input[type=file]").set_input_files(
        {"name": "payslip.png", "mimeType": "image/png", "buffer": b"<html>no image</html>"}
    )
    refused = pane.locator(".msg.me.rejected .rejected-reason")
    await expect(refused).to_have_text(
        t("web.upload_rejected", reason=t("web.error_type")), timeout=10_000
    )

    await pane.locator("[data-payload='ev:done']").last.click()
    await pane.locator("[data-payload='anon:yes']").last.click()
    await pane.locator("[data-payload='up:push']").last.click()
    await pane.locator("[data-payload='rv:submit']").last.click()

    box = pane.locator(".code-box")
    await expect(box).to_have_count(1)
    code = (await box.locator(".code").inner_text()).strip()
    assert CODE_RE.fullmatch(code), code
    await expect(box).to_contain_text(t("web.code_save_now"))
    # Until the employee confirms, the chat does not go on.
    await expect(pane.locator("#employee-text")).to_be_disabled()
    await pane.locator("[data-payload='menu:new']").first.click()
    await expect(pane.locator(".status")).to_have_text(t("web.code_confirm_first"))

    await box.locator("button.code-copy").click()
    await expect(box.locator(".code-copied")).to_have_text(t("web.code_copied"))
    assert await page.evaluate("navigator.clipboard.readText()") == code

    await box.locator("button.code-saved").click()
    await expect(pane.locator("#employee-text")).to_be_enabled()
    await expect(box.locator("button.code-saved")).to_be_disabled()
    await context.close()
    # The refused upload answered 415, which Chromium logs as a failed resource.
    assert [p for p in problems if "415" not in p] == []


async def test_the_language_switch_changes_the_page_and_the_bot_and_is_remembered(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    problems: list[str] = []
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    _watch(page, problems)
    await page.goto(f"{local_mode.base}/")
    pane = page.locator("[data-pane=employee]")
    switch = page.locator("nav.lang-switch")
    await expect(switch.locator("button[aria-pressed=true]")).to_have_text("中文")
    await pane.locator("[data-payload='menu:new']").last.click()
    await expect(pane.locator("[data-payload='cat:pay']")).to_have_count(1)

    # English: the page's texts and the bot's question, after the page reloads itself.
    await switch.locator("button[data-locale=en]").click()
    await expect(pane.locator("button.send")).to_have_text(t("web.send", "en"))
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(pane.locator(".msg.bot").first).to_have_text(t("intake.resuming", "en"))
    await expect(pane.locator("[data-payload='cat:pay']")).to_have_count(1)
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    assert cookies["xf_lang"] == "en"

    # Remembered on the other pages, which have the switch too.
    for path in ("/admin", "/local"):
        await page.goto(f"{local_mode.base}{path}")
        await expect(page.locator("nav.lang-switch")).to_have_count(1)
        await expect(page.locator(".login button")).to_have_text(t("web.login", "en"))

    # And back to Chinese from the officers' page.
    await page.goto(f"{local_mode.base}/admin")
    await page.locator("nav.lang-switch button[data-locale=zh_CN]").click()
    await expect(page.locator(".login button")).to_have_text(t("web.login"))
    await context.close()
    assert problems == []
