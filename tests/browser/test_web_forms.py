"""In a real browser, from the ledger's case page and by its forms only: 受理, 开始办理 and a
formal answer (不予支持 with a text). The preview is exactly the push the employee gets;
the 答复意见书 is downloaded from the case page and read with pypdf; the employee's push
carries a link to the same notice. Screenshots go to docs/img for docs/officers.md.

Then 不予受理 (the right channel picked in the form), 延期 by a leader and 办结 after an
answer, each checked on the officer's case page (state, timeline, notices) and in the
chat pane of the employee's own browser, which filed the petition by clicks."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from i18n import translator
from petitions.deadlines import OFFICE_ZONE
from petitions.roles import Role
from tests.browser.conftest import LocalMode
from tests.browser.pages import act, employee_files, fact, open_case, staff_page
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


# -- 不予受理, 延期 and 办结, each seen by the officer and in the employee's chat pane ------

CANTEEN = "食堂承包商克扣工人餐费补贴，要求公司核查承包合同并退还差额。"
REDIRECT_REASON = "本事项属于劳动报酬争议，依法应当申请劳动人事争议仲裁。"
EXTEND_REASON = "需要向外单位调取考勤和工资发放记录。"
SUPPORTED = "经核查情况属实，差额已于本月补发到位。"
# A timeline line of the case page: "2026-06-01 不予受理 (信访专员)".
DAY = r"\d{4}-\d{2}-\d{2}"


async def _timeline_entry(case_page: Any, state: str) -> list[str]:
    """The lines of the case page's timeline entry for a state: the dated state line, its
    details, and the acting role in brackets at the end of the entry's last line."""
    lines = case_page.locator("ol.timeline li")
    head = re.compile(rf"^{DAY} {re.escape(t(state))}( \(.+\))?$")
    await _expect()(lines.filter(has_text=head)).to_have_count(1)
    texts = [text.strip() for text in await lines.all_inner_texts()]
    start = next(i for i, text in enumerate(texts) if head.match(text))
    entry: list[str] = []
    for text in texts[start:]:
        entry.append(text)
        if re.search(r" \([^()]+\)$", text):
            break
    return entry


async def _pdf_text(download: Any) -> str:
    data = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert data.startswith(b"%PDF")
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


async def _close(*pages: Any) -> None:
    for page in pages:
        await page.context.close()


async def test_an_officer_refuses_a_case_naming_the_arbitration_channel_by_the_form(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    employee = await employee_files(browser, local_mode, CANTEEN)
    number = employee.number
    officer = await staff_page(browser, local_mode, "李专员", "li", Role.OFFICER)
    case_page = await open_case(officer, number)

    # The channel is chosen in the form's list, by the word the officer reads.
    arbitration = t("word.redirect.arbitration")
    previewed = await act(
        case_page,
        "not_accept",
        choose={"redirect": arbitration},
        write={"reason": REDIRECT_REASON},
    )
    assert t("view.redirect", channel=t("redirect.arbitration")) in previewed

    # The officer sees the new state, the timeline entry with the channel and the reason,
    # no further act but 办结, and the notice among the case's notices.
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.not_accepted"))
    entry = await _timeline_entry(case_page, "state.not_accepted")
    assert entry[1:] == [
        t("view.redirect", channel=t("redirect.arbitration")),
        f"{t('view.reason', reason=REDIRECT_REASON)} ({t('role.officer')})",
    ]
    await expect(case_page.locator("form.act-form")).to_have_count(1)
    await expect(case_page.locator("form.act-form[data-action=close]")).to_have_count(1)
    async with officer.expect_download() as info:
        await case_page.locator(".case-notices a[data-kind=non_acceptance]").click()
    download = await info.value
    assert download.suggested_filename == f"{number}-不予受理.pdf"
    text = await _pdf_text(download)
    flat = text.replace("\n", "")  # the PDF wraps its lines
    assert f"{number}-不予受理" in flat and "不予受理" in flat
    assert t("redirect.arbitration") in flat and REDIRECT_REASON in flat

    # The employee's pane got the same text as the preview, with the notice to download.
    pushed = employee.pushed("state.not_accepted")
    await expect(pushed).to_have_count(1)
    assert (await pushed.locator("p.text").inner_text()).strip() == previewed.strip()
    link = pushed.locator("a.notice")
    await expect(link).to_have_text(f"{t('web.download')}: {number}-不予受理.pdf")
    async with employee.page.expect_download() as info:
        await link.click()
    mine = await info.value
    assert mine.suggested_filename == f"{number}-不予受理.pdf"
    assert await _pdf_text(mine) == text

    assert employee.problems == [] and officer.problems == []
    await _close(employee.page, officer)


async def test_a_leader_extends_a_case_by_the_form_and_the_new_deadline_shows(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    container = local_mode.server.container
    employee = await employee_files(browser, local_mode, CANTEEN)
    number = employee.number
    officer = await staff_page(browser, local_mode, "李专员", "li", Role.OFFICER)
    case_page = await open_case(officer, number)
    await act(case_page, "accept")
    await act(case_page, "start")
    # An officer may not extend: only a leader's page offers the form.
    await expect(case_page.locator("form.act-form[data-action=respond]")).to_have_count(1)
    await expect(case_page.locator("form.act-form[data-action=extend]")).to_have_count(0)
    await expect(employee.pushed("state.in_progress")).to_have_count(1)

    leader = await staff_page(browser, local_mode, "赵领导", "zhao", Role.LEADER)
    case_page = await open_case(leader, number)
    deadline = fact(case_page, "ledger.col.deadline")
    before = (await deadline.inner_text()).strip()
    assert re.fullmatch(DAY, before), before
    await act(
        case_page,
        "extend",
        choose={"extension_days": f"30 {t('ledger.form_days')}"},
        write={"reason": EXTEND_REASON},
    )

    # The page shows the state, the later deadline and the leader's timeline entry.
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.extended"))
    case_id = int(leader.url.rsplit("-", 1)[1])
    case = await load_case(container, case_id)
    assert case.deadline_at is not None and case.extension_days == 30
    after = case.deadline_at.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d")
    assert after > before
    await expect(deadline).to_have_text(after)
    entry = await _timeline_entry(case_page, "state.extended")
    assert entry[1:] == [
        t("view.extended_days", days=30),
        f"{t('view.reason', reason=EXTEND_REASON)} ({t('role.leader')})",
    ]
    # Extended once: the form is gone; answering is still offered.
    await expect(case_page.locator("form.act-form[data-action=extend]")).to_have_count(0)
    await expect(case_page.locator("form.act-form[data-action=respond]")).to_have_count(1)
    await expect(case_page.locator(".case-notices a[data-kind=extension]")).to_have_count(1)

    # The employee's pane: the extension, its reason, the new deadline and the notice.
    pushed = employee.pushed("state.extended")
    await expect(pushed).to_have_count(1)
    await expect(pushed).to_contain_text(t("view.extended_days", days=30))
    await expect(pushed).to_contain_text(t("view.reason", reason=EXTEND_REASON))
    await expect(pushed).to_contain_text(t("view.deadline_office", date=after))
    await expect(pushed.locator("a.notice")).to_have_text(
        f"{t('web.download')}: {number}-延期.pdf"
    )

    assert employee.problems == [] and officer.problems == [] and leader.problems == []
    await _close(employee.page, officer, leader)


async def test_an_officer_closes_an_answered_case_by_the_form(
    browser: Any, local_mode: LocalMode
) -> None:
    expect = _expect()
    employee = await employee_files(browser, local_mode, CANTEEN)
    number = employee.number
    officer = await staff_page(browser, local_mode, "李专员", "li", Role.OFFICER)
    case_page = await open_case(officer, number)
    await act(case_page, "accept")
    await act(case_page, "start")
    await act(
        case_page,
        "respond",
        choose={"outcome": t("word.outcome.supported")},
        write={"text": SUPPORTED},
    )
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.responded"))
    answered = employee.pushed("state.responded")
    await expect(answered).to_contain_text(SUPPORTED)

    # 办结 has no fields: 预览 shows the closing message, 确认 closes the case.
    previewed = await act(case_page, "close")
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.closed"))
    officer_did = f"({t('role.officer')})"
    assert (await _timeline_entry(case_page, "state.responded"))[-1].endswith(officer_did)
    closing = await _timeline_entry(case_page, "state.closed")
    assert len(closing) == 1 and closing[0].endswith(officer_did)
    # A closed case offers no formal act any more; its notices stay.
    await expect(case_page.locator("form.act-form")).to_have_count(0)
    kinds = case_page.locator(".case-notices a")
    await expect(kinds).to_have_count(2)
    assert {await a.get_attribute("data-kind") for a in await kinds.all()} == {
        "acceptance",
        "answer",
    }

    closed = employee.pushed("state.closed")
    await expect(closed).to_have_count(1)
    assert (await closed.locator("p.text").inner_text()).strip() == previewed.strip()
    await expect(closed).to_contain_text(t("push.check_hint"))
    await expect(closed.locator("a.notice")).to_have_count(0)  # closing issues no notice
    # Every status reached the pane, in order.
    states = ["state.accepted", "state.in_progress", "state.responded", "state.closed"]
    texts = await employee.pane.locator(".msg.pushed p.text").all_inner_texts()
    firsts = [text.splitlines()[0] for text in texts]
    assert firsts == [t("push.status", number=number, state=t(s)) for s in states]

    assert employee.problems == [] and officer.problems == []
    await _close(employee.page, officer)
