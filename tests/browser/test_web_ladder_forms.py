"""The ladder's acts in a real browser, from the ledger's case page and by its forms only,
on the example group that ``xinfang playground`` starts with (集团 → 甲能源公司 → 甲一厂 …)
and its officers: 转办 by the company to another plant, 复查 decided by the company and
复核 by the group after the plant's answer, and 督办 of an overdue case by the company's
leader. The employee files each petition by clicks in the web chat, choosing 甲一厂, and
watches the pushes arrive in that chat pane."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from petitions.roles import Role
from tests.browser.conftest import LocalMode
from tests.browser.pages import (
    EmployeePane,
    act,
    employee_files,
    expect,
    fact,
    open_case,
    playground,
    sign_in,
    staff_page,
    t,
    unit_ids,
)
from tests.helpers.flow import load_case

pytestmark = pytest.mark.browser

WAGES = "车间拖欠加班工资两个月，多次向班组长反映无人处理，请求核实补发。"
TRANSFER_REASON = "所反映的车间已划归甲二厂管理，由甲二厂办理。"
ANSWER = "经核查，加班工资已按考勤记录足额发放，未发现拖欠情形。"
REVIEW_ASKED = "考勤记录漏记了两周的加班，原答复没有核对原始记录。"
REVIEW_OPINION = "经复查，原答复认定事实清楚，维持原处理意见。"
RECHECK_ASKED = "复查仍未调取门禁记录核对加班时间。"
RECHECK_OPINION = "经复核，复查意见认定事实清楚，予以维持。"
INSTRUCTION = "请甲一厂五日内核清加班记录并向职工答复，办理结果报公司信访办。"
DAY = r"\d{4}-\d{2}-\d{2}"


async def _ladder(local_mode: LocalMode) -> tuple[dict[str, str], dict[str, int]]:
    """The example group and its officers' passwords, and the units' ids by code."""
    passwords = await playground(local_mode)
    assert set(passwords) == {"plant", "company", "group"}
    return passwords, await unit_ids(local_mode)


async def _files_at_plant(browser: Any, local_mode: LocalMode, units: dict[str, int]) -> Any:
    # 甲能源公司 › then 甲一厂 › then 就是这个单位 (甲一厂 has a workshop below it).
    return await employee_files(
        browser, local_mode, WAGES, unit_path=(units["JT-A"], units["JT-A-1"])
    )


async def _path_name(local_mode: LocalMode, code: str) -> str:
    async with local_mode.server.container.uow() as uow:
        tree = await uow.units.tree()
    unit = tree.by_code(code)
    assert unit is not None
    return tree.path_name(unit.id)


def _timeline(case_page: Any, text: str | re.Pattern[str]) -> Any:
    """The case page's timeline lines with this text."""
    return case_page.locator("ol.timeline li").filter(has_text=text)


def _state_line(state: str) -> re.Pattern[str]:
    # "2026-06-01 复查中 (信访专员)" or the first line of an entry with details below it.
    return re.compile(rf"^{DAY} {re.escape(t(state))}( \(.+\))?$")


async def _pdf_text(download: Any) -> str:
    data = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert data.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    return text.replace("\n", "")  # the PDF wraps its lines


async def _asks_next_step(employee: EmployeePane, state: str, button: str, reason: str) -> Any:
    """The employee rates the pushed decision 不满意, presses the next step's button under
    the rating's answer and types the reason; return the confirmation."""
    pushed = employee.pushed(state)
    await expect(pushed).to_have_count(1)
    await pushed.get_by_role("button", name=t("rating.unsatisfied"), exact=True).click()
    ask = employee.pane.locator(".msg.bot").filter(
        has=employee.page.get_by_role("button", name=t(button), exact=True)
    )
    await expect(ask).to_have_count(1)
    await ask.get_by_role("button", name=t(button), exact=True).click()
    # The reason is asked (复查's or 复核's question) before it is typed.
    question = "track.ask_recheck_reason" if "recheck" in button else "track.ask_review_reason"
    await expect(employee.pane.locator(".msg.bot").last).to_contain_text(t(question))
    reply_count = await employee.pane.locator(".msg.bot").count()
    await expect(employee.pane.locator("#employee-text")).to_be_enabled()
    await employee.pane.locator("#employee-text").fill(reason)
    await employee.pane.locator("button.send").click()
    confirmed = employee.pane.locator(".msg.bot").nth(reply_count)
    await expect(confirmed).to_be_visible()
    return confirmed


async def _close(*pages: Any) -> None:
    for page in pages:
        await page.context.close()


async def test_the_company_transfers_a_plant_case_to_the_other_plant_by_the_unit_select(
    browser: Any, local_mode: LocalMode
) -> None:
    passwords, units = await _ladder(local_mode)
    employee = await _files_at_plant(browser, local_mode, units)
    number = employee.number
    company = await sign_in(browser, local_mode, "company", passwords["company"])
    case_page = await open_case(company, number)
    await expect(fact(case_page, "ledger.col.unit")).to_contain_text("甲一厂")

    # The select offers the units of the company's part of the group, by name; the case's
    # own unit is not among them, and no unit outside the company is.
    other = await _path_name(local_mode, "JT-A-2")
    select = case_page.locator("form.act-form[data-action=transfer] select[name=destination]")
    labels = [s.strip() for s in await select.locator("option").all_inner_texts()]
    assert other in labels
    assert not any(label.endswith("甲一厂") or "乙" in label for label in labels), labels
    previewed = await act(
        case_page,
        "transfer",
        choose={"destination": other},
        write={"reason": TRANSFER_REASON},
    )
    assert t("view.handled_by", unit=other) in previewed and "JT-A-2" not in previewed

    # The officer's page: 转送, the new unit, the timeline entry with unit and reason.
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.transferred"))
    await expect(fact(case_page, "ledger.col.unit")).to_contain_text("甲二厂")
    await expect(_timeline(case_page, _state_line("state.transferred"))).to_have_count(1)
    await expect(_timeline(case_page, t("view.handled_by", unit=other))).to_have_count(1)
    await expect(_timeline(case_page, TRANSFER_REASON)).to_have_count(1)
    case = await load_case(local_mode.server.container, int(company.url.rsplit("-", 1)[1]))
    assert case.unit_id == units["JT-A-2"]

    # The employee's pane: 承办单位 is the new unit's name, never its code.
    pushed = employee.pushed("state.transferred")
    await expect(pushed).to_have_count(1)
    await expect(pushed).to_contain_text(t("view.handled_by", unit=other))
    assert "JT-" not in await pushed.inner_text()
    assert (await pushed.locator("p.text").inner_text()).strip() == previewed.strip()

    assert employee.problems == [] and company.problems == []
    await _close(employee.page, company)


async def test_the_company_decides_the_review_and_the_group_the_recheck_by_forms(
    browser: Any, local_mode: LocalMode
) -> None:
    passwords, units = await _ladder(local_mode)
    employee = await _files_at_plant(browser, local_mode, units)
    number = employee.number

    # The plant answers.
    plant = await sign_in(browser, local_mode, "plant", passwords["plant"])
    plant_case = await open_case(plant, number)
    await act(plant_case, "accept")
    await act(plant_case, "start")
    await act(
        plant_case,
        "respond",
        choose={"outcome": t("word.outcome.not_supported")},
        write={"text": ANSWER},
    )
    await expect(fact(plant_case, "ledger.col.state")).to_have_text(t("state.responded"))

    # The employee asks for 复查 by the chat's buttons; the company is named to decide it.
    asked = await _asks_next_step(
        employee, "state.responded", "button.request_review", REVIEW_ASKED
    )
    await expect(asked).to_contain_text(t("view.review_unit", unit="甲能源公司"))

    # The plant's own page offers no 复查 form: its answer is the one examined.
    plant_case = await open_case(plant, number)
    await expect(fact(plant_case, "ledger.col.state")).to_have_text(t("state.review_requested"))
    await expect(plant_case.locator("form.act-form[data-action=start_review]")).to_have_count(0)
    await expect(plant_case.locator("form.act-form")).to_have_count(0)

    # The company's leader starts and completes the 复查 by forms.
    company = await sign_in(browser, local_mode, "company", passwords["company"])
    case_page = await open_case(company, number)
    await act(case_page, "start_review")
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.reviewing"))
    await expect(_timeline(case_page, _state_line("state.reviewing"))).to_have_count(1)
    await expect(employee.pushed("state.reviewing")).to_have_count(1)
    previewed = await act(
        case_page,
        "complete_review",
        choose={"outcome": t("word.outcome.not_supported")},
        write={"text": REVIEW_OPINION},
    )
    assert REVIEW_OPINION in previewed
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.reviewed"))
    await expect(_timeline(case_page, _state_line("state.reviewed"))).to_have_count(1)
    # The company is examined now: its page offers no 复核.
    await expect(case_page.locator("form.act-form[data-action=start_recheck]")).to_have_count(0)

    # The 复查意见书 names the case and the company that decided.
    async with company.expect_download() as info:
        await case_page.locator(".case-notices a[data-kind=review]").click()
    download = await info.value
    assert download.suggested_filename == f"{number}-复查.pdf"
    text = await _pdf_text(download)
    assert number in text and "甲能源公司" in text and REVIEW_OPINION in text

    reviewed = employee.pushed("state.reviewed")
    await expect(reviewed).to_have_count(1)
    assert (await reviewed.locator("p.text").inner_text()).strip() == previewed.strip()
    await expect(reviewed.locator("a.notice")).to_have_text(
        f"{t('web.download')}: {number}-复查.pdf"
    )

    # 复核: asked by the employee, decided by the group's leader.
    asked = await _asks_next_step(
        employee, "state.reviewed", "button.request_recheck", RECHECK_ASKED
    )
    await expect(asked).to_contain_text(t("view.recheck_unit", unit="集团"))
    group = await sign_in(browser, local_mode, "group", passwords["group"])
    case_page = await open_case(group, number)
    await act(case_page, "start_recheck")
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.rechecking"))
    await act(
        case_page,
        "complete_recheck",
        choose={"outcome": t("word.outcome.not_supported")},
        write={"text": RECHECK_OPINION},
    )
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.finalized"))
    await expect(_timeline(case_page, _state_line("state.finalized"))).to_have_count(1)
    await expect(case_page.locator("form.act-form")).to_have_count(0)
    async with group.expect_download() as info:
        await case_page.locator(".case-notices a[data-kind=recheck]").click()
    download = await info.value
    assert download.suggested_filename == f"{number}-复核.pdf"
    text = await _pdf_text(download)
    assert number in text and "集团" in text and RECHECK_OPINION in text

    # The employee's pane: 三级终结 said plainly, and no button asks for another step.
    final = employee.pushed("state.finalized")
    await expect(final).to_have_count(1)
    finalized = t(
        "view.finalized",
        arbitration=t("redirect.arbitration"),
        court=t("redirect.court"),
        discipline=t("redirect.discipline"),
    )
    await expect(final).to_contain_text(finalized)
    steps = (t("button.request_review"), t("button.request_recheck"))
    for name in steps:
        await expect(final.get_by_role("button", name=name)).to_have_count(0)
    # Unsatisfied even so: the answer repeats what remains, with no step to ask.
    before = await employee.pane.locator(".msg.bot").count()
    await final.get_by_role("button", name=t("rating.unsatisfied"), exact=True).click()
    after = employee.pane.locator(".msg.bot").nth(before)
    await expect(after).to_contain_text(finalized)
    for name in steps:
        await expect(after.get_by_role("button", name=name)).to_have_count(0)

    for page in (plant, company, group):
        assert page.problems == []
    assert employee.problems == []
    await _close(employee.page, plant, company, group)


async def test_a_company_leader_supervises_an_overdue_plant_case_by_the_form(
    browser: Any, local_mode: LocalMode
) -> None:
    container = local_mode.server.container
    passwords, units = await _ladder(local_mode)
    employee = await _files_at_plant(browser, local_mode, units)
    number = employee.number
    plant = await sign_in(browser, local_mode, "plant", passwords["plant"])
    plant_case = await open_case(plant, number)
    await act(plant_case, "accept")
    await act(plant_case, "start")
    case_id = int(plant.url.rsplit("-", 1)[1])
    # The local mode runs on the real clock: the 办理 deadline is moved into the past.
    async with container.uow() as uow:
        case = await uow.cases.get(case_id, for_update=True)
        assert case is not None and case.deadline_at is not None
        case.deadline_at = container.services.clock() - timedelta(days=2)
        await uow.cases.save(case)
        await uow.commit()
    # The plant is the office of the step: it cannot supervise itself.
    plant_case = await open_case(plant, number)
    await expect(plant_case.locator("form.act-form[data-action=respond]")).to_have_count(1)
    await expect(plant_case.locator("form.act-form[data-action=supervise]")).to_have_count(0)

    company = await sign_in(browser, local_mode, "company", passwords["company"])
    case_page = await open_case(company, number)
    await expect(fact(case_page, "ledger.col.overdue")).not_to_have_text("")
    days = case_page.locator("form.act-form[data-action=supervise] select[name=days]")
    offered = [s.strip() for s in await days.locator("option").all_inner_texts()]
    assert offered[1:] == ["3", "5", "10"], offered
    previewed = await act(
        case_page,
        "supervise",
        choose={"days": "5"},
        write={"instruction": INSTRUCTION},
        moves=False,
    )
    assert t("push.supervised", number=number) in previewed
    assert INSTRUCTION not in previewed

    # The leader's page: the state unchanged, the 督办 on the timeline with the instruction.
    await expect(fact(case_page, "ledger.col.state")).to_have_text(t("state.in_progress"))
    await expect(_timeline(case_page, re.compile(rf"^{DAY} 上级单位已督办"))).to_have_count(1)
    await expect(_timeline(case_page, INSTRUCTION)).to_have_count(1)
    case = await load_case(container, case_id)
    assert case.supervision_count == 1 and case.supervised_until is not None

    # The employee's pane: supervised, without the instruction or the working deadline.
    pushed = employee.pane.locator(".msg.pushed").filter(
        has_text=t("push.supervised", number=number)
    )
    await expect(pushed).to_have_count(1)
    assert "上级单位已督办" in await pushed.inner_text()
    assert INSTRUCTION not in await employee.pane.inner_text()

    assert employee.problems == [] and plant.problems == [] and company.problems == []
    await _close(employee.page, plant, company)


async def test_the_company_assigns_a_case_down_and_the_plant_reports_back_by_forms(
    browser: Any, local_mode: LocalMode
) -> None:
    passwords, units = await _ladder(local_mode)
    employee = await _files_at_plant(browser, local_mode, units)
    number = employee.number
    other = await _path_name(local_mode, "JT-A-2")
    company = await sign_in(browser, local_mode, "company", passwords["company"])
    case_page = await open_case(company, number)
    requirements = "请甲二厂核实加班记录，十日内上报办理情况。"
    previewed = await act(
        case_page,
        "assign_down",
        choose={"destination": other, "days": "10"},
        write={"reason": requirements},
        moves=False,
    )
    assert requirements not in previewed
    await expect(fact(case_page, "ledger.col.unit")).to_contain_text("甲二厂")
    assigned = re.compile(
        rf"^{DAY} {re.escape(t('timeline.assigned_down', date='', unit=other).strip())}"
    )
    await expect(_timeline(case_page, assigned)).to_have_count(1)
    await expect(_timeline(case_page, requirements)).to_have_count(1)
    pushed = employee.pane.locator(".msg.pushed").filter(
        has_text=t("push.assigned_down", number=number, unit=other)
    )
    await expect(pushed).to_have_count(1)
    assert requirements not in await employee.pane.inner_text()

    # The other plant's office reports back by the form; the report stays with staff.
    report = "已核实加班记录，补发差额并向职工当面说明。"
    officer = await staff_page(
        browser, local_mode, "甲二厂专员", "plant2", Role.OFFICER, unit_id=units["JT-A-2"]
    )
    plant2_case = await open_case(officer, number)
    await act(plant2_case, "report", write={"report": report}, moves=False)
    await expect(plant2_case.locator("form.act-form[data-action=report]")).to_have_count(0)
    await expect(_timeline(plant2_case, re.compile(rf"^{DAY} 已上报办理情况"))).to_have_count(1)
    await expect(_timeline(plant2_case, report)).to_have_count(1)
    assert report not in await employee.pane.inner_text()

    assert employee.problems == [] and company.problems == [] and officer.problems == []
    await _close(employee.page, company, officer)


async def test_the_ledger_tab_appears_even_when_its_script_arrives_after_the_page_texts(
    browser: Any, local_mode: LocalMode
) -> None:
    passwords, _ = await _ladder(local_mode)
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    async def late(route: Any) -> None:
        # A slow network for this one script: the page's texts arrive first.
        await asyncio.sleep(1.0)
        await route.continue_()

    await page.route("**/static/ledger.js", late)
    await page.goto(f"{local_mode.base}/admin")
    await page.locator("#officer-login").fill("plant")
    await page.locator("#officer-password").fill(passwords["plant"])
    await page.locator("#officer-password").press("Enter")
    try:
        await expect(page.locator("#tab-ledger")).to_be_visible()
        assert problems == []
    finally:
        await context.close()
