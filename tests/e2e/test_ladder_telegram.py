"""The ladder on Telegram (issue 13): real PTB against the fake Bot API, the outbox worker
delivering, a controllable clock and scheduler passes. A petition at 甲一厂 is answered in
the plant's group, its 复查 decided in the company's, its 复核 in the group's; the employee's
pushes offer the next lawful step only; the steps' reminders reach the units' groups, a
late 复核 alerts the group's leaders once, and their 督办 moves the working deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.container import Container
from petitions.states import CaseState
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, Harness, running
from tests.helpers.clock import FakeClock
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
    SUPERVISE,
    SUPERVISE_DAYS,
    Step,
    by_number,
    command,
    past,
    scheduler_pass,
    seed_group,
    until_state,
    zh,
)

ROOT_GROUP, COMPANY_GROUP, PLANT_GROUP = -1001, -1002, -1004
COMPANY_LEADERS, ROOT_LEADERS = -1008, -1009
ACCOUNTS = {"plant": 6001, "company": 6002, "company_leader": 6003, "root_leader": 6004}
# Where each member of staff writes: their unit's group.
WRITES_IN = {
    "plant": PLANT_GROUP,
    "company": COMPANY_GROUP,
    "company_leader": COMPANY_GROUP,
    "root_leader": ROOT_GROUP,
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """TELEGRAM_ADMIN_CHAT_ID (-1001) is the group's; the company and the plant have their
    own groups; the group's and the company's leaders their own chats."""
    return {
        **env,
        "XINFANG_UNIT_CHATS": f"{COMPANY}=telegram:{COMPANY_GROUP};{PLANT}=telegram:{PLANT_GROUP}",
        "XINFANG_LEADERS_CHAT": f"telegram:{ROOT_LEADERS}",
        "XINFANG_UNIT_LEADERS_CHATS": f"{COMPANY}=telegram:{COMPANY_LEADERS}",
    }


def labels(tg: Harness, messages: list[dict[str, Any]]) -> list[str]:
    return [
        b["text"]
        for m in messages
        for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
    ]


def mentioning(tg: Harness, chat: int, *parts: str) -> list[str]:
    return [t for t in tg.fake.texts_to(chat) if all(p in t for p in parts)]


async def act(tg: Harness, step: Step, number: str) -> None:
    """A member of staff types the step's command in their unit's group."""
    user = ACCOUNTS[step.actor]
    tg.fake.user_message(WRITES_IN[step.actor], user, command(step, number))
    await until_state(tg.container, number, step.after)


async def refused(tg: Harness, step: Step, number: str) -> None:
    """A member of staff types the step's command and is told they may not."""
    chat = WRITES_IN[step.actor]
    before = len(tg.fake.sent_to(chat))
    tg.fake.user_message(chat, ACCOUNTS[step.actor], command(step, number))
    # Pushes about the case (the 复查 request's notice) may reach the same group meanwhile:
    # wait for the refusal itself rather than for any next message.
    refusal = zh(tg.container, "error.not_permitted")
    answer = await tg.until(chat, before, lambda ms: any(m.get("text") == refusal for m in ms))
    assert refusal in [m.get("text") for m in answer]
    assert (await by_number(tg.container, number)).state is step.before


async def push(tg: Harness, since: int, *parts: str) -> dict[str, Any]:
    """The employee's next message containing every part."""
    found = await tg.until(
        EMPLOYEE, since, lambda ms: any(all(p in m.get("text", "") for p in parts) for m in ms)
    )
    return next(m for m in found if all(p in m.get("text", "") for p in parts))


async def ask_next_step(tg: Harness, message: dict[str, Any], reason: str) -> list[str]:
    """From a push's rating buttons: 不满意, then the offered step, then the reason; the
    labels of the buttons offered on the way."""
    chat = user = EMPLOYEE
    token = next(p for p in tg.buttons(message) if p.endswith(":u")).split(":")[1]
    offered = await tg.press(chat, user, f"fb:{token}:u", expect=f"fb:{token}:r")
    shown = labels(tg, offered)
    await tg.press(chat, user, f"fb:{token}:r")
    await tg.say(chat, user, reason)
    return shown


async def file_at_the_plant(tg: Harness, units: dict[str, int]) -> str:
    """The employee picks 甲能源公司, then 甲一厂, by buttons; the case number."""
    chat = user = EMPLOYEE
    await tg.say(chat, user, "/start", expect="menu:new")
    await tg.press(chat, user, "menu:new", expect="cat:pay")
    await tg.press(chat, user, "cat:pay", expect=f"un:o:{units[COMPANY]}")
    await tg.press(chat, user, f"un:o:{units[COMPANY]}", expect=f"un:o:{units[PLANT]}")
    await tg.press(chat, user, f"un:o:{units[PLANT]}", expect="cf:no")
    await tg.press(chat, user, "cf:no")
    await tg.say(chat, user, DESCRIPTION, expect="ev:done")
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
    match = next(m for m in (NUMBER.search(x.get("text", "")) for x in found) if m)
    return match.group(0)


async def test_a_plant_petition_climbs_the_ladder_with_reminders_an_alert_and_a_supervision(
    container: Container, clock: FakeClock
) -> None:
    accounts = {k: {"telegram": str(v)} for k, v in ACCOUNTS.items()}
    group = await seed_group(container, accounts)
    async with running(container, clock) as tg:
        fake = tg.fake
        for chat, title in (
            (COMPANY_GROUP, "甲能源公司信访"),
            (PLANT_GROUP, "甲一厂信访"),
            (COMPANY_LEADERS, "甲能源公司领导"),
            (ROOT_LEADERS, "集团领导"),
        ):
            fake.add_chat(chat, "supergroup", title=title)
        for key, account in ACCOUNTS.items():
            fake.set_member(WRITES_IN[key], account, "member")

        number = await file_at_the_plant(tg, group.units)
        case = await by_number(container, number)
        assert (case.unit_id, case.origin_unit_id) == (group.units[PLANT],) * 2
        await fake.wait_until(lambda: bool(mentioning(tg, PLANT_GROUP, number)), 10)

        # Half the acceptance period gone: the plant's group is reminded (and those above).
        clock.now = case.created_at + timedelta(days=8)
        assert (await scheduler_pass(container, clock)).sent["remind"] == 1
        tg.worker.wake()
        await fake.wait_until(lambda: bool(mentioning(tg, PLANT_GROUP, "⏰", number)), 10)
        assert not mentioning(tg, ROOT_LEADERS, number)

        # 答复 by the plant: the push offers 复查, and only that.
        since = len(fake.sent_to(EMPLOYEE))
        for step in LADDER["answer"]:
            await act(tg, step, number)
        answered = await push(tg, since, number, "申请复查")
        assert "申请复核" not in answered["text"]
        offered = await ask_next_step(tg, answered, REVIEW_REASON)
        assert zh(container, "button.request_review") in offered
        case = await until_state(container, number, CaseState.REVIEW_REQUESTED)
        assert case.review_unit_id == group.units[COMPANY]

        # 复查 by the company: the push names it and offers 复核, never 复查 again.
        since = len(fake.sent_to(EMPLOYEE))
        for step in LADDER["review"]:
            # The plant's office cannot decide the 复查 of its own answer, at any point.
            await refused(tg, PLANT_REFUSED[step.before], number)
            await act(tg, step, number)
        reviewed = await push(tg, since, number, "申请复核")
        assert "甲能源公司" in "\n".join(fake.texts_to(EMPLOYEE)[since:])
        offered = await ask_next_step(tg, reviewed, RECHECK_REASON)
        assert zh(container, "button.request_recheck") in offered
        case = await until_state(container, number, CaseState.RECHECK_REQUESTED)
        assert case.review_unit_id == group.units[ROOT]
        statutory = case.deadline_at
        assert statutory is not None and case.recheck_requested_at is not None
        after_review = fake.sent_to(EMPLOYEE)[since:]
        assert zh(container, "button.request_review") not in labels(tg, after_review)
        # Nothing offers 复查 again (the confirmation of the 复查 asked before may arrive late).
        assert not any("前申请复查" in m.get("text", "") for m in after_review)

        # Half the 复核 period gone: the group's group is reminded, not the plant's or the
        # company's (the step is the group's to meet).
        before = len(mentioning(tg, ROOT_GROUP, "⏰", number))
        below = {g: len(mentioning(tg, g, "⏰", number)) for g in (PLANT_GROUP, COMPANY_GROUP)}
        clock.now = case.recheck_requested_at + timedelta(days=16)
        assert (await scheduler_pass(container, clock)).sent["remind"] == 1
        tg.worker.wake()
        await fake.wait_until(
            lambda: len(mentioning(tg, ROOT_GROUP, "⏰", number)) == before + 1, 10
        )
        await drained(tg)
        assert {g: len(mentioning(tg, g, "⏰", number)) for g in below} == below

        # Past the 复核 deadline: one alert, to the group's leaders; a later pass adds none.
        clock.now = past(statutory)
        assert (await scheduler_pass(container, clock)).sent["overdue"] == 1
        tg.worker.wake()
        await fake.wait_until(lambda: bool(mentioning(tg, ROOT_LEADERS, "🚨", number)), 10)
        assert (await scheduler_pass(container, clock)).sent["overdue"] == 0
        clock.advance(hours=3)
        assert (await scheduler_pass(container, clock)).sent["overdue"] == 0
        await drained(tg)
        assert len(mentioning(tg, ROOT_LEADERS, "🚨", number)) == 1
        assert not mentioning(tg, COMPANY_LEADERS, "🚨", number)

        # The group's leader 督办s: the working deadline moves, the statutory one stays; the
        # employee learns only that a unit above supervises.
        since = len(fake.sent_to(EMPLOYEE))
        supervised_at = clock()
        before = len(fake.sent_to(ROOT_GROUP))
        fake.user_message(ROOT_GROUP, ACCOUNTS["root_leader"], command(SUPERVISE, number))
        await tg.until(ROOT_GROUP, before, lambda ms: any("已督办" in m["text"] for m in ms))
        case = await by_number(container, number)
        assert case.state is CaseState.RECHECK_REQUESTED and case.deadline_at == statutory
        assert case.supervised_until == supervised_at + timedelta(days=SUPERVISE_DAYS)
        told = await push(tg, since, "上级单位已督办")
        assert INSTRUCTION not in "\n".join(fake.texts_to(EMPLOYEE))
        assert not tg.buttons(told)

        # The group decides the 复核: final, the legal channels named, no step left.
        since = len(fake.sent_to(EMPLOYEE))
        for step in LADDER["recheck"]:
            await act(tg, step, number)
        final = await push(tg, since, number, FINAL)
        assert not any(p.endswith(":r") or p == "cs:review" for p in tg.buttons(final))
        token = next(p for p in tg.buttons(final) if p.endswith(":u")).split(":")[1]
        # The 复核意见书 (a document) may still be arriving: wait for the answer's text.
        since = len(fake.sent_to(EMPLOYEE))
        message = tg.with_button(EMPLOYEE, f"fb:{token}:u")
        fake.callback_query(EMPLOYEE, EMPLOYEE, f"fb:{token}:u", message["message_id"])
        after = await tg.until(
            EMPLOYEE, since, lambda ms: any(FINAL in m.get("text", "") for m in ms)
        )
        answer = next(m for m in after if FINAL in m.get("text", ""))
        assert f"fb:{token}:r" not in tg.buttons(answer)
        assert not any("申请" in label for label in labels(tg, after))
        assert fake.flood_violations == 0


async def drained(tg: Harness) -> None:
    """Wait until the worker has delivered every due outbox row."""
    tg.worker.wake()
    container = tg.container

    async def pending() -> int:
        async with container.uow() as uow:
            due = await uow.outbox.due(["telegram"], container.services.clock(), 500)
        return len(due)

    for _ in range(500):
        if not await pending():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox was not drained")
