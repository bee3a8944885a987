"""Early warning end to end on the web (issue 16): six employees write in the web chat (a real
aiohttp server) about one matter at plant A-1; the scheduler's daily pass finds the cluster
and one delivery pass brings exactly one alert to the officers' page of the plant's leader
and of the company's — live on their open pages and in the admin feed they load — naming
the cases and the matter, never a petitioner (one wrote their name and phone number and kept
them) nor a tracking code; their 预警 tab lists it. The leaders of company B and of plant
A-2 see nothing, and the next day's pass sends nothing again.

On the web a unit's leaders have no chat of their own (XINFANG_UNIT_LEADERS_CHATS names
Telegram groups and WeCom userids only): the alert is one row of the web admin page, which
each officer reads within their own part of the group (docs/early-warning.md, "Where alerts
are read"), with the leaders named.

The plant's leader then presses 合并为集体诉求 on the cluster of their 预警 tab and handles
the six as one 集体诉求 with commands on their page: one answer reaches the open chat page of
each of the six employees, with their own rating buttons and only their own case number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.scheduler import Scheduler
from bot.settings import load_settings
from bot.stats import build_report
from handlers.payloads import MatterButton, parse
from petitions.deadlines import DeadlinePolicy
from petitions.roles import Role
from storage.vault import Keyring
from tests.helpers.clock import FakeClock
from tests.helpers.flow import NUMBER_RE
from tests.helpers.web import CODE_RE, EventStream, WebOfficer, WebServer, WebVisitor, web_server
from tests.helpers.web_warnings import sign_in_again, signed_in_leaders, web_only
from tests.integration.test_warnings import NAME, PHONE, SIX, history, make_group

ALERT = "疑似群体性诉求"  # the cluster alert's first line (warnings.cluster_alert)
# One leader per unit, each with a web login (the group's too: it reads every case).
LEADERS = {"JT": "赵总", "JT-A": "钱总", "JT-A-1": "孙厂长", "JT-A-2": "李厂长", "JT-B": "周总"}
ANSWER = "经核实，一厂三车间十二月以来的加班费将于本月二十日前全部补发到位。"


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[WebServer]:
    """A deployment with the web channel only."""
    async with web_server(load_settings(web_only(env)), keys[0], clock) as server:
        yield server


async def _petition(employee: WebVisitor, text: str, units: dict[str, int]) -> tuple[str, str]:
    """One employee's petition at plant A-1 in their own browser, through the unit picker,
    updates pushed to that browser; returns the case number and the tracking code."""
    await employee.say("/start")
    for button in ("menu:new", "cat:pay", f"un:o:{units['JT-A']}", f"un:o:{units['JT-A-1']}"):
        await employee.press(button)
    await employee.press("cf:no")
    await employee.say(text)
    for button in ("ev:done", "anon:yes", "up:push"):
        await employee.press(button)
    if "sid:keep" in employee.buttons:
        # The page pointed out the name and the phone; this employee keeps them anyway.
        await employee.press("sid:keep")
    await employee.press("rv:submit")
    number, code = NUMBER_RE.search(employee.text), CODE_RE.search(employee.text)
    assert number is not None and code is not None, employee.text
    return number.group(0), code.group(0)


def _text(message: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in message["replies"])


async def _feed_alerts(page: WebOfficer) -> list[str]:
    """The cluster alerts in the admin feed the officer's page loads."""
    status, feed = await page.feed()
    assert status == 200, feed
    return [_text(m) for m in feed["messages"] if ALERT in _text(m)]


async def _warnings(page: WebOfficer) -> list[dict[str, Any]]:
    """The clusters of the officer's 预警 tab."""
    async with page.http.get(f"{page.base}/api/officer/warnings") as resp:
        assert resp.status == 200
        clusters: list[dict[str, Any]] = (await resp.json())["clusters"]
        return clusters


async def _live(stream: EventStream) -> dict[str, Any]:
    """The next cluster alert pushed to an open page."""
    while ALERT not in _text(event := await stream.next()):
        pass
    return event


async def test_six_petitions_on_the_web_make_one_alert_on_the_plant_and_company_leaders_pages(
    web: WebServer, clock: FakeClock
) -> None:
    container = web.container
    units = await make_group(container)
    await history(container, units)
    assert container.warnings is not None
    await container.warnings.wait()
    scheduler = Scheduler(container.uow, container.services, clock)
    numbers, codes = [], []
    async with AsyncExitStack() as browsers:
        employees = []
        for text in SIX:
            clock.advance(minutes=30)
            # Each employee's own browser, kept open: the answer is pushed to it.
            employee = await browsers.enter_async_context(WebVisitor(web.base, locale="zh_CN"))
            number, code = await _petition(employee, text, units)
            employees.append(employee)
            numbers.append(number)
            codes.append(code)
        await web.deliver()  # the six case cards
        await _alert_and_answer(web, scheduler, clock, units, employees, numbers, codes)


async def _alert_and_answer(
    web: WebServer,
    scheduler: Scheduler,
    clock: FakeClock,
    units: dict[str, int],
    employees: list[WebVisitor],
    numbers: list[str],
    codes: list[str],
) -> None:
    async with signed_in_leaders(web, units, LEADERS, Role.LEADER) as pages:
        plant, company = pages["JT-A-1"], pages["JT-A"]
        async with (
            plant.events("/api/officer/events") as plant_live,
            company.events("/api/officer/events") as company_live,
        ):
            assert await scheduler.early_warning(clock()) == 1
            await web.deliver()  # one delivery pass
            pushed = [await _live(plant_live), await _live(company_live)]
        assert pushed[0]["row"] == pushed[1]["row"]  # one alert, read by both
        for unit in ("JT-A-1", "JT-A"):
            alerts = await _feed_alerts(pages[unit])
            assert len(alerts) == 1, alerts
            text = alerts[0]
            assert text == _text(pushed[0])
            assert "甲一厂" in text and "加班费" in text
            assert all(number in text for number in numbers), (numbers, text)
            assert NAME not in text and PHONE not in text and "138" not in text
            assert not CODE_RE.search(text) and not any(c in text for c in codes)
            assert "孙厂长" in text and "钱总" in text  # the leaders are named
            # ... and only they: not the leaders of the plant and company beside them.
            assert "李厂长" not in text and "周总" not in text and "赵总" not in text
            (cluster,) = await _warnings(pages[unit])
            assert cluster["count"] == len(SIX) and "加班费" in cluster["matter"]
            assert sorted(c["number"] for c in cluster["cases"]) == sorted(numbers)
            assert NAME not in cluster["matter"] and PHONE not in cluster["matter"]
        # Company B's leader and plant A-2's see neither the alert nor the cluster.
        for unit in ("JT-B", "JT-A-2"):
            assert not await _feed_alerts(pages[unit]), unit
            assert not await _warnings(pages[unit]), unit

        clock.advance(days=1)
        await scheduler.run_once(clock())
        assert await scheduler.early_warning(clock()) == 0
        await web.deliver()
        await sign_in_again(pages)
        for unit in ("JT-A-1", "JT-A"):
            assert len(await _feed_alerts(pages[unit])) == 1

        # The plant's leader links the six as one 集体诉求 from the 预警 tab, and one answer
        # reaches all six employees, each with their own rating buttons.
        await _answer_as_one_matter(web, pages["JT-A-1"], employees, numbers, codes)


async def _answer_as_one_matter(
    web: WebServer,
    plant: WebOfficer,
    employees: list[WebVisitor],
    numbers: list[str],
    codes: list[str],
) -> None:
    (cluster,) = await _warnings(plant)
    assert isinstance(parse(cluster["link"]), MatterButton)
    status, linked = await plant.send(button=cluster["link"])  # as the page posts it
    assert status == 200, linked
    assert "共 6 件" in plant.text, plant.text
    for step in ("accept", "begin"):
        assert (await plant.send(text=f"/{step} {numbers[3]}"))[0] == 200
    status, done = await plant.send(text=f"/respond {numbers[3]} 支持 {ANSWER}")
    assert status == 200, done
    assert "其他 5 件" in plant.text, plant.text

    async with AsyncExitStack() as pages:
        streams = [await pages.enter_async_context(e.events()) for e in employees]
        await web.deliver()  # the link's word, 受理, 开始办理 and the answer, to each
        tokens = set()
        for n, stream in enumerate(streams):
            seen: list[dict[str, Any]] = []
            while ANSWER not in _text(event := await stream.next()):
                seen.append(event)
            seen.append(event)
            told = "\n".join(map(_text, seen))
            assert "集体诉求" in told, told  # told of the link, then answered
            rating = [
                b["payload"]
                for r in event["replies"]
                for row in r["buttons"]
                for b in row
                if b["payload"].startswith("fb:")
            ]
            assert rating, event
            tokens.add(rating[0].split(":")[1])
            # Nothing about the other petitioners: not their numbers, codes or words; only
            # their own number, on the pushes and on the notices the page offers.
            notices = repr([e.get("notices") for e in seen])
            assert numbers[n] in told and numbers[n] in notices, (told, notices)
            for other in (told, notices):
                assert not [m for m in numbers if m != numbers[n] and m in other], other
                assert not [c for c in codes if c in other], other
                assert NAME not in other and PHONE not in other, other
    assert len(tokens) == len(employees)  # each rates, and may ask for review, on their own
    # Each browser reads its own 答复意见书, not another petitioner's.
    for n, employee in enumerate(employees[:2]):
        for m, expected in ((n, 200), (1 - n, 404)):
            url = f"{employee.base}/api/chat/notice/{numbers[m]}/answer"
            async with employee.http.get(url) as resp:
                assert resp.status == expected, (n, m, resp.status)

    # The statistics count six petitions and one matter.
    now = web.container.services.clock()
    async with web.container.uow() as uow:
        report = await build_report(
            uow, now - timedelta(days=3), now + timedelta(days=1), now, DeadlinePolicy()
        )
    assert (report.total, report.in_matters, report.matters) == (6, 6, 1)
    assert report.distinct_matters == 1
