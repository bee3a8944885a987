"""In a real browser, from the ledger's case page and by its forms only: 受理, 开始办理 and a
formal answer (不予支持 with a text). The preview is exactly the push the employee gets;
the 答复意见书 is downloaded from the case page and read with pypdf; the employee's push
carries a link to the same notice. Screenshots go to docs/img for docs/officers.md."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from i18n import translator
from petitions.roles import Role
from tests.browser.conftest import LocalMode
from tests.helpers.flow import load_case
from tests.helpers.web import WebVisitor, add_web_officer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
WAGES = "车间拖欠工资三个月，多次向班组长反映无人处理，请求尽快补发。"
ANSWER = "经核查，车间工资已于本月十日足额发放，未发现拖欠情形。"


def _expect() -> Any:
    from playwright.async_api import expect

    return expect


def t(key: str, **params: Any) -> str:
    """A zh_CN catalog text, as the server renders it."""
    return translator().t(key, "zh_CN", **params)


async def _officer_page(browser: Any, local_mode: LocalMode) -> Any:
    await add_web_officer(local_mode.server.container, "李专员", "li", PASSWORD, Role.OFFICER)
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
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


async def test_an_officer_accepts_starts_and_answers_by_forms_and_the_notice_is_a_pdf(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    container = local_mode.server.container
    employee = WebVisitor(local_mode.base, locale="zh_CN")
    await employee.open()
    await employee.file_petition(WAGES, evidence=False, updates="push")
    page = await _officer_page(browser, local_mode)
    await page.goto(f"{local_mode.base}/admin#ledger")
    link = page.locator(".ledger-table tbody td[data-label] a").first
    await expect(link).to_be_visible()
    number = (await link.inner_text()).strip()
    await link.click()
    case_page = page.locator("#tab-panel-case")
    await expect(case_page.locator("#case-heading")).to_be_focused()
    case_id = int(page.url.rsplit("-", 1)[1])

    async with employee.events() as stream:
        # 受理: a form without fields, previewed then confirmed, by keyboard.
        accept = case_page.locator("form.act-form[data-action=accept]")
        await accept.locator("button.preview").focus()
        await page.keyboard.press("Enter")
        await expect(accept.locator(".act-preview h4")).to_be_focused()
        await accept.locator("button.confirm").click()
        await expect(case_page.locator(".act-done")).to_be_visible()
        pushed = await stream.next()
        assert pushed["notices"][0]["name"] == f"{number}-受理.pdf"

        # 开始办理.
        start = case_page.locator("form.act-form[data-action=start]")
        await start.locator("button.preview").click()
        await start.locator("button.confirm").click()
        await expect(case_page.locator("form.act-form[data-action=respond]")).to_be_visible()
        await stream.next()

        # 正式答复: a missing text is refused in Chinese, then 不予支持 with the text.
        respond = case_page.locator("form.act-form[data-action=respond]")
        await respond.locator("select[name=outcome]").select_option("not_supported")
        await respond.locator("button.preview").click()
        await expect(respond.locator(".form-error")).to_have_text(
            t("error.missing_field", field=t("field.text"))
        )
        await respond.locator("textarea[name=text]").fill(ANSWER)
        await respond.locator("button.preview").click()
        preview = respond.locator(".act-preview .preview-text")
        await expect(preview).to_contain_text(ANSWER)
        previewed = await preview.inner_text()
        await page.screenshot(path=str(IMG / "case-forms.png"), full_page=True)
        await respond.locator("button.confirm").click()
        await expect(case_page.locator(".act-done")).to_be_visible()
        answer = await stream.next()
    # What the preview showed is exactly what the employee received.
    assert previewed.strip() == answer["replies"][0]["text"].strip()
    assert answer["notices"][0]["name"] == f"{number}-答复.pdf"
    assert (await load_case(container, case_id)).state.value == "responded"

    # The notices section lists both; the 答复意见书 downloads as a PDF with the case
    # number, the issuing unit and the outcome in Chinese.
    notices = case_page.locator(".case-notices a")
    await expect(notices).to_have_count(2)
    async with page.expect_download() as info:
        await case_page.locator(".case-notices a[data-kind=answer]").click()
    download = await info.value
    assert download.suggested_filename == f"{number}-答复.pdf"
    data = await asyncio.to_thread(Path(await download.path()).read_bytes)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert number in text and "信访办公室" in text and "不予支持" in text
    await page.screenshot(path=str(IMG / "case-notices.png"), full_page=True)

    # The employee's browser fetches the same notice through its own link.
    async with employee.http.get(f"{local_mode.base}{answer['notices'][0]['url']}") as resp:
        assert resp.status == 200
        assert await resp.read() == data
    # Another browser does not.
    stranger = WebVisitor(local_mode.base)
    await stranger.open()
    async with stranger.http.get(f"{local_mode.base}{answer['notices'][0]['url']}") as resp:
        assert resp.status == 404
    await stranger.http.close()
    await employee.http.close()
    # The one failed request is the refused preview without a text (its 400 is logged
    # by the browser); nothing else went wrong.
    assert [p for p in page.problems if "status of 400" not in p] == []
    assert len(page.problems) == 1
    await page.context.close()
