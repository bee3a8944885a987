"""An urgent petition through Telegram (issue 16, item 4): real PTB against the fake Bot API.
An employee writes of self-harm: they get the configured hotlines at once, before the case
number; the leaders of the company and of the group get one alert each from the delivery
worker (it was queued with the case), naming the case and the kind, never the employee."""

from __future__ import annotations

import pytest

from bot.container import Container
from handlers.urgent import URGENT_ALERT
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, Harness, running
from tests.helpers.clock import FakeClock

A_LEADERS, ROOT_LEADERS = -1201, -1202
TEXT = "厂里拖欠工资半年，我实在活不下去了，想从宿舍楼顶跳下去。"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "XINFANG_LEADERS_CHAT": f"telegram:{ROOT_LEADERS}",
        "XINFANG_UNIT_LEADERS_CHATS": f"JT-A=telegram:{A_LEADERS}",
        "XINFANG_HOTLINES": "心理援助热线 12356;24小时心理危机干预 400-161-9995",
    }


async def seed(container: Container) -> None:
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        await uow.units.add("JT-A", "甲公司", root.id, now)
        await uow.commit()


async def submit(tg: Harness, user: int) -> list[str]:
    """An anonymous petition about 甲公司 with this text; the texts the employee got after
    pressing submit, once the one with the case number arrived."""
    chat = user
    await tg.say(chat, user, "/start", expect="menu:new")
    await tg.press(chat, user, "menu:new", expect="cat:pay")
    await tg.press(chat, user, "cat:pay")
    await tg.say(chat, user, "甲公司", expect="cf:no")
    await tg.press(chat, user, "cf:no")
    await tg.say(chat, user, TEXT, expect="ev:done")
    await tg.press(chat, user, "ev:done", expect="anon:yes")
    await tg.press(chat, user, "anon:yes", expect="up:push")
    await tg.press(chat, user, "up:push", expect="rv:submit")
    since = len(tg.fake.sent_to(chat))
    tg.fake.callback_query(
        chat, user, "rv:submit", tg.with_button(chat, "rv:submit")["message_id"]
    )
    found = await tg.until(
        chat, since, lambda ms: any(NUMBER.search(m.get("text", "")) for m in ms)
    )
    return [str(m.get("text", "")) for m in found]


async def test_an_urgent_petition_reaches_the_leaders_in_one_pass_and_the_employee_the_hotlines(
    container: Container, clock: FakeClock
) -> None:
    await seed(container)
    async with running(container, clock) as tg:
        for chat, title in ((A_LEADERS, "甲公司领导"), (ROOT_LEADERS, "集团领导")):
            tg.fake.add_chat(chat, "supergroup", title=title)
        texts = await submit(tg, EMPLOYEE)
        # The hotlines first, then the case number and the code.
        assert "心理援助热线：12356" in texts[0] and "400-161-9995" in texts[0]
        assert not NUMBER.search(texts[0])
        match = NUMBER.search(texts[-1])
        assert match is not None
        number = match.group(0)

        # The alerts were queued in the submission's transaction: they are in the outbox
        # already, and the delivery worker's next pass sends them.
        async with container.uow() as uow:
            case = await uow.cases.by_number(number)
            assert case is not None and case.id is not None
            rows = [r for r in await uow.outbox.for_case(case.id) if r.kind == URGENT_ALERT]
        assert len(rows) == 2
        tg.worker.wake()

        def alerts(chat: int) -> list[str]:
            return [t for t in tg.fake.texts_to(chat) if number in t and "自伤风险" in t]

        await tg.fake.wait_until(
            lambda: bool(alerts(A_LEADERS)) and bool(alerts(ROOT_LEADERS)), 10
        )
        assert len(alerts(A_LEADERS)) == 1 and len(alerts(ROOT_LEADERS)) == 1
        alert = alerts(ROOT_LEADERS)[0]
        assert "紧急" in alert and "甲公司" in alert
        assert "张三" not in alert and "zhangsan_real" not in alert  # the employee's account
