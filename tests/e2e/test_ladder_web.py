"""The ladder on the web (issue 13): a real aiohttp server, the employee's chat page and
the officers' case page over HTTP, the delivery worker, a controllable clock and scheduler
passes. Each office acts through the case page's forms; the employee's live pushes offer
the next lawful step only; a late 复核 reaches the group's leader's page once, and the
leader's 督办 moves the working deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from bot.web.passwords import hash_password
from petitions.states import CaseState
from storage.repositories import SqlWeb
from storage.vault import Keyring
from tests.helpers.clock import FakeClock
from tests.helpers.flow import NUMBER_RE
from tests.helpers.ladder import (
    COMPANY,
    DESCRIPTION,
    FINAL,
    INSTRUCTION,
    LADDER,
    PLANT,
    PLANT_REFUSED,
    RECHECK_REASON,
    REVIEW_REASON,
    ROOT,
    STAFF,
    SUPERVISE,
    SUPERVISE_DAYS,
    Step,
    by_number,
    form,
    past,
    scheduler_pass,
    seed_group,
    zh,
)
from tests.helpers.web import CODE_RE, EventStream, WebOfficer, WebServer, WebVisitor, web_server

PASSWORD = "correct horse battery"
# seed_group adds STAFF in order on a fresh database: the group's leader is the fourth.
ROOT_LEADER_ID = [m.key for m in STAFF].index("root_leader") + 1


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The group's leaders' chat is the group leader's own page."""
    return {**env, "XINFANG_LEADERS_CHAT": f"web:{SqlWeb.account_of(ROOT_LEADER_ID)}"}


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[WebServer]:
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def signed_in(web: WebServer, officer_id: int, login: str) -> WebOfficer:
    hashed = await asyncio.to_thread(hash_password, PASSWORD)
    async with web.container.uow() as uow:
        await uow.web.set_login(officer_id, login, hashed, web.container.services.clock())
        await uow.commit()
    page = WebOfficer(web.base, locale="zh_CN")
    await page.open()
    assert (await page.login(login, PASSWORD))[0] == 200
    return page


async def until_text(stream: EventStream, *parts: str) -> dict[str, Any]:
    """The next pushed event whose text holds every part."""
    while True:
        event = await stream.next()
        text = "\n".join(r["text"] for r in event["replies"])
        if all(p in text for p in parts):
            return event


def buttons(event: dict[str, Any]) -> dict[str, str]:
    return {
        b["payload"]: b["label"] for r in event["replies"] for row in r["buttons"] for b in row
    }


def text(event: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in event["replies"])


async def ask_next_step(employee: WebVisitor, event: dict[str, Any], reason: str) -> str:
    """From a push's rating buttons: 不满意, then the offered step, then the reason; the
    label of the step offered."""
    employee.last = event["replies"]
    token = next(p for p in employee.buttons if p.endswith(":u")).split(":")[1]
    await employee.press(f"fb:{token}:u")
    label = {b["label"] for r in employee.last for row in r["buttons"] for b in row}
    await employee.press(f"fb:{token}:r")
    await employee.say(reason)
    return next(x for x in label if "申请" in x)


async def test_a_plant_petition_climbs_the_ladder_on_the_web(
    web: WebServer, clock: FakeClock
) -> None:
    container = web.container
    group = await seed_group(container)
    assert group.officers["root_leader"] == ROOT_LEADER_ID
    pages = {key: await signed_in(web, oid, key) for key, oid in group.officers.items()}
    units = group.units

    async def act(step: Step, case_id: int) -> tuple[int, dict[str, Any]]:
        return await pages[step.actor].post(f"/api/officer/cases/{case_id}/act", form(step))

    employee = WebVisitor(web.base, locale="zh_CN")
    await employee.open()
    try:
        async with (
            employee.events() as pushes,
            pages["root_leader"].events("/api/officer/events") as leader_page,
        ):
            # The employee picks 甲能源公司, then 甲一厂, by buttons.
            await employee.say("/start")
            for button in ("menu:new", "cat:pay", f"un:o:{units[COMPANY]}"):
                await employee.press(button)
            await employee.press(f"un:o:{units[PLANT]}")
            await employee.press("cf:no")
            await employee.say(DESCRIPTION)
            for button in ("ev:done", "anon:yes", "up:push", "rv:submit"):
                await employee.press(button)
            found = NUMBER_RE.search(employee.text)
            assert found is not None
            number = found.group(0)
            case = await by_number(container, number)
            case_id = case.id
            assert case_id is not None and case.unit_id == units[PLANT]

            # 答复 by the plant: the push offers 复查, and only that.
            for step in LADDER["answer"]:
                status, done = await act(step, case_id)
                assert (status, done["state"]) == (200, step.after.value), done
            await web.deliver()
            answered = await until_text(pushes, number, "申请复查")
            assert "申请复核" not in text(answered)
            label = await ask_next_step(employee, answered, REVIEW_REASON)
            assert label == zh(container, "button.request_review")
            case = await by_number(container, number)
            assert case.state is CaseState.REVIEW_REQUESTED
            assert case.review_unit_id == units[COMPANY]

            # 复查 by the company; the plant's page is refused at each point.
            for step in LADDER["review"]:
                status, _ = await act(PLANT_REFUSED[step.before], case_id)
                assert status == 403
                assert (await by_number(container, number)).state is step.before
                status, done = await act(step, case_id)
                assert (status, done["state"]) == (200, step.after.value), done
            await web.deliver()
            reviewed = await until_text(pushes, number, "申请复核")
            assert "甲能源公司" in text(reviewed) and "申请复查" not in text(reviewed)
            label = await ask_next_step(employee, reviewed, RECHECK_REASON)
            assert label == zh(container, "button.request_recheck")
            case = await by_number(container, number)
            assert case.state is CaseState.RECHECK_REQUESTED
            assert case.review_unit_id == units[ROOT]
            statutory = case.deadline_at
            assert statutory is not None and case.recheck_requested_at is not None

            # By code, the status offers no 复查 any more: 复核 is already asked for.
            async with WebVisitor(web.base, locale="zh_CN") as fresh:
                status_shown = await fresh.say(employee_code(employee))
                assert "由集团复核" in fresh.text
                assert "cs:review" not in fresh.buttons and status_shown

            # Half the 复核 period gone: a reminder; past the deadline: one alert, to the
            # group's leader's page; a later pass adds none.
            clock.now = case.recheck_requested_at + timedelta(days=16)
            assert (await scheduler_pass(container, clock)).sent["remind"] == 1
            clock.now = past(statutory)
            assert (await scheduler_pass(container, clock)).sent["overdue"] == 1
            clock.advance(hours=3)
            assert (await scheduler_pass(container, clock)).sent["overdue"] == 0
            await web.deliver()
            alert = await until_text(leader_page, "🚨", number)
            assert alert["case_id"] == case_id
            with pytest.raises(TimeoutError):  # no second alert reaches the page
                await asyncio.wait_for(until_text(leader_page, "🚨", number), 0.5)
            async with container.uow() as uow:
                rows = [r for r in await uow.outbox.for_case(case_id) if r.kind == "overdue"]
            assert len(rows) == 1

            # A month later every officer signs in afresh (sessions end when idle).
            for key, page in pages.items():
                await page.open()
                assert (await page.login(key, PASSWORD))[0] == 200

            # The group's leader 督办s from the case page: the working deadline moves, the
            # statutory one stays; the employee learns only that a unit above supervises.
            status, done = await act(SUPERVISE, case_id)
            assert status == 200, done
            case = await by_number(container, number)
            assert case.state is CaseState.RECHECK_REQUESTED and case.deadline_at == statutory
            assert case.supervised_until == clock() + timedelta(days=SUPERVISE_DAYS)
            await web.deliver()
            told = await until_text(pushes, "上级单位已督办")
            assert INSTRUCTION not in text(told) and not buttons(told)

            # The group decides the 复核: final, the legal channels named, no step left.
            for step in LADDER["recheck"]:
                status, done = await act(step, case_id)
                assert (status, done["state"]) == (200, step.after.value), done
            await web.deliver()
            final = await until_text(pushes, number, FINAL)
            assert not any(p.endswith(":r") or p == "cs:review" for p in buttons(final))
            employee.last = final["replies"]
            token = next(p for p in employee.buttons if p.endswith(":u")).split(":")[1]
            await employee.press(f"fb:{token}:u")
            assert FINAL in employee.text and f"fb:{token}:r" not in employee.buttons
    finally:
        await employee.http.close()
        for page in pages.values():
            await page.http.close()


def employee_code(employee: WebVisitor) -> str:
    """The tracking code the employee was given at submission."""
    found = CODE_RE.search("\n".join(r["text"] for r in employee.replies))
    assert found is not None
    return found.group(0)
