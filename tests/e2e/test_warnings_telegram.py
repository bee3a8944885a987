"""Early warning end to end on Telegram (issue 16): six employees write to the real PTB bot
(against the fake Bot API) about one matter at plant A-1; the scheduler's daily pass finds
the cluster and the delivery worker brings exactly one alert to the plant's leaders' chat
and one to the company's, naming the cases and the matter, never a petitioner (one wrote
their name and phone number and kept them); the next day's pass sends nothing again."""

from __future__ import annotations

import asyncio

import pytest

from bot.container import Container
from bot.scheduler import Scheduler
from handlers.payloads import MatterButton, parse
from petitions.roles import Role
from tests.e2e.test_telegram_flow import CODE, NUMBER, Harness, running
from tests.helpers.clock import FakeClock
from tests.integration.test_warnings import (
    LEADERS_CHATS,
    NAME,
    PHONE,
    SIX,
    history,
    make_group,
)

PLANT, COMPANY, ROOT = (int(LEADERS_CHATS[c]) for c in ("JT-A-1", "JT-A", "JT"))
ANSWER = "经核实，一车间十月加班费将于本月二十日前全部补发到位。"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Leaders' chats of the root, both companies and plant A-1."""
    chats = ";".join(f"{code}=telegram:{chat}" for code, chat in LEADERS_CHATS.items())
    return {**env, "XINFANG_UNIT_LEADERS_CHATS": chats}


async def _petition(tg: Harness, user: int, text: str, units: dict[str, int]) -> str:
    """One employee's petition at plant A-1 through the unit picker; returns its code."""
    chat = user
    tg.fake.add_user(user, first_name=f"职工{user}")
    await tg.say(chat, user, "/start", expect="menu:new")
    await tg.press(chat, user, "menu:new", expect="cat:pay")
    await tg.press(chat, user, "cat:pay", expect=f"un:o:{units['JT-A']}")
    await tg.press(chat, user, f"un:o:{units['JT-A']}", expect=f"un:o:{units['JT-A-1']}")
    await tg.press(chat, user, f"un:o:{units['JT-A-1']}", expect="cf:no")
    await tg.press(chat, user, "cf:no", expect=None)
    await tg.say(chat, user, text, expect="ev:done")
    await tg.press(chat, user, "ev:done", expect="anon:yes")
    await tg.press(chat, user, "anon:yes", expect="up:push")
    since = len(tg.fake.sent_to(chat))
    message = tg.with_button(chat, "up:push")
    tg.fake.callback_query(chat, user, "up:push", message["message_id"])
    found = await tg.until(
        chat,
        since,
        lambda ms: any({"rv:submit", "sid:keep"} & set(tg.buttons(m)) for m in ms),
    )
    if any("sid:keep" in tg.buttons(m) for m in found):
        # The bot pointed out the name and the phone; this employee keeps them anyway.
        await tg.press(chat, user, "sid:keep", expect="rv:submit")
    since = len(tg.fake.sent_to(chat))
    tg.fake.callback_query(
        chat, user, "rv:submit", tg.with_button(chat, "rv:submit")["message_id"]
    )
    done = await tg.until(chat, since, lambda ms: any(CODE.search(m.get("text", "")) for m in ms))
    return next(m["text"] for m in done if CODE.search(m.get("text", "")))


def _sent(tg: Harness, chat: int) -> list[str]:
    return tg.fake.texts_to(chat) + tg.fake.texts_to(str(chat))


async def test_six_petitions_on_telegram_make_one_alert_to_the_plant_and_company_leaders(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units)
    assert container.warnings is not None
    await container.warnings.wait()
    scheduler = Scheduler(container.uow, container.services, clock)
    async with running(container, clock) as tg:
        for chat in (PLANT, COMPANY, ROOT):
            tg.fake.add_chat(chat, "supergroup", title=f"领导{chat}")
        numbers = []
        for n, text in enumerate(SIX):
            clock.advance(minutes=30)
            answer = await _petition(tg, 5_552_000 + n, text, units)
            found = NUMBER.search(answer)
            assert found is not None
            numbers.append(found.group(0))
        assert await scheduler.early_warning(clock()) == 1
        await tg.until(PLANT, 0, lambda ms: any("预警" in m.get("text", "") for m in ms))
        await tg.until(COMPANY, 0, lambda ms: any("预警" in m.get("text", "") for m in ms))
        for chat in (PLANT, COMPANY):
            alerts = [t for t in _sent(tg, chat) if "预警" in t]
            assert len(alerts) == 1, alerts
            text = alerts[0]
            assert "甲一厂" in text and "加班费" in text
            assert all(number in text for number in numbers), (numbers, text)
            assert NAME not in text and PHONE not in text and "138" not in text
        # Neither the root's leaders nor the officers' chat got the alert.
        assert not [t for t in _sent(tg, ROOT) if "预警" in t]
        assert not [t for t in tg.fake.texts_to(tg.admin) if "疑似群体性诉求" in t]
        for user in range(5_552_000, 5_552_006):  # nor any employee
            assert not [t for t in tg.fake.texts_to(user) if "预警" in t]

        clock.advance(days=1)
        await scheduler.run_once(clock())
        assert await scheduler.early_warning(clock()) == 0
        await asyncio.sleep(0.5)  # the delivery worker polls every 50 ms
        for chat in (PLANT, COMPANY):
            assert len([t for t in _sent(tg, chat) if "预警" in t]) == 1

        # The plant's leader links the six as one 集体诉求 from the alert, and one answer
        # reaches all six employees, each with their own rating buttons.
        await _answer_as_one_matter(container, tg, units, numbers)


async def _answer_as_one_matter(
    container: Container, tg: Harness, units: dict[str, int], numbers: list[str]
) -> None:
    leader = 7_001
    async with container.uow() as uow:
        await uow.officers.add(
            "甲一厂领导",
            Role.LEADER,
            container.services.clock(),
            unit_id=units["JT-A-1"],
            accounts={"telegram": str(leader)},
        )
        await uow.commit()
    tg.fake.set_member(PLANT, leader, "member")
    link = next(
        p
        for m in tg.fake.sent_to(PLANT)
        for p in tg.buttons(m)
        if isinstance(parse(p), MatterButton)
    )
    [linked] = await tg.press(PLANT, leader, link)
    assert "共 6 件" in linked["text"], linked["text"]
    for step in ("accept", "begin"):
        await tg.say(PLANT, leader, f"/{step} {numbers[3]}")
    employees = range(5_552_000, 5_552_006)
    since = {user: len(tg.fake.sent_to(user)) for user in employees}
    done = await tg.say(PLANT, leader, f"/respond {numbers[3]} 支持 {ANSWER}")
    assert "其他 5 件" in done[-1]["text"], done[-1]["text"]
    tokens = set()
    for user in employees:
        found = await tg.until(
            user, since[user], lambda ms: any(ANSWER in m.get("text", "") for m in ms)
        )
        push = next(m for m in found if ANSWER in m.get("text", ""))
        rating = [p for p in tg.buttons(push) if p.startswith("fb:")]
        assert rating, push
        tokens.add(rating[0].split(":")[1])
        # Nothing about the other petitioners: not their numbers.
        own = [n for n in numbers if n in push["text"]]
        assert len(own) == 1, push["text"]
    assert len(tokens) == 6  # each rates, and may ask for review, on their own
