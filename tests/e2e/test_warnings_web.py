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
are read"), with the leaders named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.scheduler import Scheduler
from bot.settings import load_settings
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


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[WebServer]:
    """A deployment with the web channel only."""
    async with web_server(load_settings(web_only(env)), keys[0], clock) as server:
        yield server


async def _petition(web: WebServer, text: str, units: dict[str, int]) -> tuple[str, str]:
    """One employee's petition at plant A-1 in their own browser, through the unit picker;
    returns the case number and the tracking code."""
    async with WebVisitor(web.base, locale="zh_CN") as employee:
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
    for text in SIX:
        clock.advance(minutes=30)
        number, code = await _petition(web, text, units)
        numbers.append(number)
        codes.append(code)
    await web.deliver()  # the six case cards

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
