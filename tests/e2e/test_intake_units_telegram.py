"""Choosing the unit on Telegram (issue 13, item 2): real PTB against the fake Bot API;
the picker's buttons, paging and the conflict question arrive as inline keyboards."""

from __future__ import annotations

from bot.container import Container
from petitions.lifecycle import CONFLICT_LEADERSHIP
from tests.e2e.test_telegram_flow import CODE, EMPLOYEE, NUMBER, running
from tests.helpers.clock import FakeClock
from tests.helpers.flow import load_case


async def test_an_employee_pages_to_the_tenth_plant_and_sends_it_above_on_telegram(
    container: Container, clock: FakeClock
) -> None:
    at = clock()
    async with container.uow() as uow:
        root = await uow.units.add("ROOT", "本集团", None, at)
        company = await uow.units.add("CO-A", "甲能源公司", root.id, at)
        plants = [
            await uow.units.add(f"A-P{n:02d}", f"甲{n}号厂", company.id, at) for n in range(1, 11)
        ]
        await uow.commit()

    async with running(container, clock) as tg:
        chat = user = EMPLOYEE
        await tg.say(chat, user, "/start", expect="menu:new")
        await tg.press(chat, user, "menu:new", expect="cat:pay")
        await tg.press(chat, user, "cat:pay", expect=f"un:o:{company.id}")
        shown = await tg.press(chat, user, f"un:o:{company.id}", expect=f"un:p:{company.id}:1")
        keyboard = next(m for m in shown if f"un:p:{company.id}:1" in tg.buttons(m))
        labels = [b["text"] for row in keyboard["reply_markup"]["inline_keyboard"] for b in row]
        assert labels[:8] == [f"甲{n}号厂" for n in range(1, 9)]
        assert {"就是这个单位", "下一页", "上一级"} <= set(labels)

        await tg.press(chat, user, f"un:p:{company.id}:1", expect=f"un:o:{plants[9].id}")
        await tg.press(chat, user, f"un:o:{plants[9].id}", expect="cf:leadership")
        assert "甲能源公司/甲10号厂" in tg.texts(chat)
        await tg.press(chat, user, "cf:leadership")
        await tg.until(
            chat, 0, lambda ms: any("交由甲能源公司办理" in m.get("text", "") for m in ms)
        )
        await tg.say(
            chat, user, "三个月没有发加班费了，厂长说没有预算，要求补发。", expect="ev:done"
        )
        await tg.press(chat, user, "ev:done", expect="anon:yes")
        await tg.press(chat, user, "anon:yes", expect="up:push")
        review = await tg.press(chat, user, "up:push", expect="rv:submit")
        assert any("涉及单位：甲能源公司/甲10号厂" in m.get("text", "") for m in review)
        since = len(tg.fake.sent_to(chat))
        tg.fake.callback_query(
            chat, user, "rv:submit", tg.with_button(chat, "rv:submit")["message_id"]
        )
        await tg.until(chat, since, lambda ms: any(CODE.search(m.get("text", "")) for m in ms))
        assert tg.fake.flood_violations == 0

    number = NUMBER.search(tg.texts(chat))
    assert number is not None
    async with container.uow() as uow:
        found = await uow.cases.by_number(number.group(0))
    assert found is not None and found.id is not None
    case = await load_case(container, found.id)
    assert (case.unit_id, case.origin_unit_id) == (company.id, plants[9].id)
    assert case.conflict == CONFLICT_LEADERSHIP
