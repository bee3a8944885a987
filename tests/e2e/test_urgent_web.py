"""An urgent petition in the web chat (issue 16, item 4): a real aiohttp server, the
employee's chat page and the officers' pages over HTTP. An employee writes of self-harm (and,
as people do, their name and phone number): the page's answer to the submission gives them
the configured hotlines at once, before the case number; the delivery worker's next pass
brings the alert (queued with the case) to the open pages of the company's leader and the
group's, and it stays in the admin feed they load, naming the case and the kind, never the
employee. Company B's leader sees nothing of it.

On the web a unit's leaders have no chat of their own (XINFANG_UNIT_LEADERS_CHATS names
Telegram groups and WeCom userids only): the alert is one row of the web admin page, read by
each officer within their own part of the group, with the leaders named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from handlers.urgent import URGENT_ALERT
from storage.vault import Keyring
from tests.helpers.clock import FakeClock
from tests.helpers.flow import NUMBER_RE
from tests.helpers.web import CODE_RE, EventStream, WebOfficer, WebServer, WebVisitor, web_server
from tests.helpers.web_warnings import signed_in_leaders, web_only

NAME, PHONE = "张三", "13812345678"
TEXT = f"我是{NAME}，电话{PHONE}。厂里拖欠工资半年，我实在活不下去了，想从宿舍楼顶跳下去。"
ALERT = "【紧急信访】"  # admin.urgent_alert's first line
LEADERS = {"JT": "赵总", "JT-A": "钱总", "JT-B": "周总"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """A web-only deployment with two hotlines."""
    hotlines = "心理援助热线 12356;24小时心理危机干预 400-161-9995"
    return {**web_only(env), "XINFANG_HOTLINES": hotlines}


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[WebServer]:
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _seed(web: WebServer) -> dict[str, int]:
    now = web.container.services.clock()
    async with web.container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        b = await uow.units.add("JT-B", "乙公司", root.id, now)
        await uow.commit()
    return {"JT": root.id, "JT-A": a.id, "JT-B": b.id}


async def _submit(employee: WebVisitor) -> list[str]:
    """An anonymous petition about 甲公司 (typed at the unit picker) with the text; the texts
    of the page's answer to the submission, in order."""
    await employee.say("/start")
    await employee.press("menu:new")
    await employee.press("cat:pay")
    await employee.say("甲公司")
    await employee.press("cf:no")
    await employee.say(TEXT)
    for button in ("ev:done", "anon:yes", "up:push", "sid:keep"):  # keeps name and phone
        await employee.press(button)
    await employee.press("rv:submit")
    return [r["text"] for r in employee.last]


def _text(message: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in message["replies"])


async def _feed_alerts(page: WebOfficer, number: str) -> list[str]:
    """The urgent alerts about the case in the admin feed the officer's page loads."""
    status, feed = await page.feed()
    assert status == 200, feed
    return [_text(m) for m in feed["messages"] if f"{ALERT}{number}" in _text(m)]


async def _live(stream: EventStream, number: str) -> dict[str, Any]:
    """The next urgent alert about the case pushed to an open page."""
    while f"{ALERT}{number}" not in _text(event := await stream.next()):
        pass
    return event


async def test_an_urgent_petition_on_the_web_reaches_the_leaders_pages_in_one_pass_and_the_employee_the_hotlines(  # noqa: E501
    web: WebServer,
) -> None:
    units = await _seed(web)
    async with (
        signed_in_leaders(web, units, LEADERS) as pages,
        WebVisitor(web.base, locale="zh_CN") as employee,
        pages["JT-A"].events("/api/officer/events") as company_live,
        pages["JT"].events("/api/officer/events") as group_live,
    ):
        texts = await _submit(employee)
        # At once, in the answer to the submission: the hotlines first, then number and code.
        assert "心理援助热线：12356" in texts[0] and "400-161-9995" in texts[0], texts
        assert not NUMBER_RE.search(texts[0])
        found, code = NUMBER_RE.search("\n".join(texts)), CODE_RE.search("\n".join(texts))
        assert found is not None and code is not None
        number = found.group(0)

        # Queued with the case (a page loading the feed reads it at once), pushed to the
        # open pages by the next delivery pass.
        async with web.container.uow() as uow:
            case = await uow.cases.by_number(number)
            assert case is not None and case.id is not None
            rows = [r for r in await uow.outbox.for_case(case.id) if r.kind == URGENT_ALERT]
        assert len(rows) == 1

        await web.deliver()  # one delivery pass
        pushed = [await _live(company_live, number), await _live(group_live, number)]
        assert pushed[0]["row"] == pushed[1]["row"] == rows[0].id
        for unit in ("JT-A", "JT"):
            alerts = await _feed_alerts(pages[unit], number)
            assert len(alerts) == 1, alerts
            alert = alerts[0]
            assert alert == _text(pushed[0])
            assert "自伤风险" in alert and "甲公司" in alert and "活不下去" in alert
            assert "钱总" in alert and "赵总" in alert  # the leaders are named
            for secret in (NAME, PHONE, "138", code.group(0)):
                assert secret not in alert
        assert not await _feed_alerts(pages["JT-B"], number)
        assert ALERT not in "\n".join(r["text"] for r in employee.replies)

        await web.deliver()  # delivered once: a later pass adds nothing
        assert len(await _feed_alerts(pages["JT-A"], number)) == 1
