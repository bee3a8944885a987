"""Faults on the Telegram side: 429 storms, 5xx, blocked chats, bursts of pushes, a flooding
employee, a revoked token. No outbox row is lost, no flood limit is broken, the case stays
readable by tracking code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError

from bot.container import Container
from bot.runner import build_web_app
from handlers.ports import CaseFilter, Contact, OutboxMessage
from tests.e2e.test_telegram_flow import CODE, EMPLOYEE, NUMBER, Harness, eventually, running
from tests.e2e.test_telegram_webhook import HOOK, webhook_server
from tests.helpers.builders import make_case
from tests.helpers.clock import FakeClock


@pytest.fixture
async def tg(container: Container, clock: FakeClock) -> AsyncIterator[Harness]:
    """A running Telegram bot on the test database."""
    async with running(container, clock) as h:
        yield h


async def outbox(tg: Harness) -> dict[str, int]:
    async with tg.container.uow() as uow:
        return await uow.outbox.counts()


async def only_case(tg: Harness):  # type: ignore[no-untyped-def]
    async with tg.container.uow() as uow:
        [case] = await uow.cases.list(CaseFilter())
        rows = await uow.outbox.for_case(case.id)
    return case, rows


async def test_a_429_on_a_push_waits_retry_after_then_delivers(tg: Harness) -> None:
    tg.fake.fail_next("sendMessage", 429, retry_after=7, chat_id=tg.admin, count=1)
    await tg.file_petition()
    await tg.fake.wait_until(lambda: any(c.status == 429 for c in tg.fake.calls_to("sendMessage")))
    await eventually(lambda: tg.worker.stats.retried == 1)
    _, [row] = await only_case(tg)
    assert row.status == "pending"
    assert row.next_attempt_at == tg.clock() + timedelta(seconds=7)
    assert tg.fake.sent_to(tg.admin) == []

    tg.clock.advance(seconds=7)
    tg.worker.wake()
    [card] = await tg.fake.wait_for_messages(tg.admin, 1)
    assert NUMBER.search(card["text"])
    await eventually(lambda: tg.worker.stats.sent == 1)
    assert await outbox(tg) == {"sent": 1}
    assert tg.fake.flood_violations == 0, tg.fake.flood_log


async def test_a_429_storm_on_interactive_replies_is_waited_out(tg: Harness) -> None:
    tg.fake.fail_next("sendMessage", 429, retry_after=2, chat_id=EMPLOYEE, count=2)
    await tg.say(EMPLOYEE, EMPLOYEE, "/start", expect="menu:new")
    calls = tg.fake.calls_to("sendMessage")
    failed = [c for c in calls if c.status == 429]
    assert len(failed) == 2
    after = [c for c in calls if c.status == 200]
    # Each retry came at least retry_after (virtual seconds) after the 429.
    assert after[0].at - failed[1].at >= 2.0
    assert failed[1].at - failed[0].at >= 2.0
    assert tg.fake.flood_violations == 0


async def test_server_errors_are_retried_with_backoff_and_nothing_is_lost(tg: Harness) -> None:
    tg.fake.fail_next("sendMessage", 500, chat_id=tg.admin, count=1)
    tg.fake.fail_next("sendMessage", 502, chat_id=tg.admin, count=1)
    await tg.file_petition()
    for attempt in (1, 2):
        await eventually(lambda: tg.worker.stats.retried == attempt)  # noqa: B023
        _, [row] = await only_case(tg)
        assert row.status == "pending" and row.next_attempt_at > tg.clock()
        tg.clock.now = row.next_attempt_at
        tg.worker.wake()
    await tg.fake.wait_for_messages(tg.admin, 1)
    await eventually(lambda: tg.worker.stats.sent == 1)
    assert await outbox(tg) == {"sent": 1}
    assert tg.fake.flood_violations == 0


async def test_server_errors_on_the_receipt_are_retried_so_the_tracking_code_arrives(
    tg: Harness,
) -> None:
    chat = EMPLOYEE
    await tg.say(chat, chat, "/start", expect="menu:new")
    await tg.press(chat, chat, "menu:new", expect="cat:pay")
    await tg.press(chat, chat, "cat:pay")
    await tg.say(
        chat, chat, "三个月没有发加班费了，车间主任说没有预算，要求补发。", expect="ev:done"
    )
    await tg.press(chat, chat, "ev:done", expect="anon:yes")
    await tg.press(chat, chat, "anon:yes", expect="up:push")
    await tg.press(chat, chat, "up:push", expect="rv:submit")
    tg.fake.fail_next("sendMessage", 502, chat_id=chat, count=1)
    tg.fake.fail_next("sendMessage", 500, chat_id=chat, count=1)
    since = len(tg.fake.sent_to(chat))
    tg.fake.callback_query(
        chat, chat, "rv:submit", tg.with_button(chat, "rv:submit")["message_id"]
    )
    [receipt] = await tg.until(chat, since, lambda ms: any(CODE.search(m["text"]) for m in ms))
    failed = [c for c in tg.fake.calls_to("sendMessage") if c.status >= 500]
    assert [c.status for c in failed] == [502, 500]
    ok = next(c for c in tg.fake.calls_to("sendMessage") if c.result and c.at >= failed[-1].at)
    assert ok.at - failed[-1].at >= 1.0  # the second retry waited its backoff (0.5 s, 1 s)
    code = CODE.search(receipt["text"])
    assert code is not None
    assert sum(bool(CODE.search(t)) for t in tg.fake.texts_to(chat)) == 1  # once, not twice
    [status, *_] = await tg.say(chat, chat, code.group(0))
    assert NUMBER.search(status["text"])
    assert tg.fake.flood_violations == 0


async def test_a_blocked_employee_is_marked_unreachable_and_can_still_check_status(
    tg: Harness,
) -> None:
    code = await tg.file_petition()
    await tg.fake.wait_for_messages(tg.admin, 1)
    await tg.add_officer()
    tg.fake.block_chat(EMPLOYEE)
    card = tg.fake.sent_to(tg.admin)[0]
    accept = next(p for p in tg.buttons(card) if p.startswith("o:accept:"))
    # The card's button opens the act's preview; 确认发送 applies it.
    await tg.press(tg.admin, 5552002, accept, expect=f"o:ok:{accept.rsplit(':', 1)[1]}:1")
    await tg.press(tg.admin, 5552002, f"o:ok:{accept.rsplit(':', 1)[1]}:1")
    await eventually(lambda: tg.worker.stats.unreachable == 1)
    case, rows = await only_case(tg)
    assert not case.contact_reachable
    assert [r.status for r in rows] == ["sent", "unreachable"]

    tg.fake.unblock_chat(EMPLOYEE)
    [status, *_] = await tg.say(EMPLOYEE, EMPLOYEE, code)
    assert "已受理" in status["text"]
    assert tg.fake.flood_violations == 0


async def test_a_burst_of_pushes_keeps_every_limit_and_interactive_replies_still_flow(
    tg: Harness,
) -> None:
    now = tg.clock()
    async with tg.container.uow() as uow:
        for i in range(45):
            case = make_case(created_at=now, updated_at=now)
            chat = str(7000000 + i % 15)  # 15 employees, 3 pushes each
            await uow.cases.add(case, f"CODE{i:012d}", Contact("telegram", chat), None)
            for n in range(2):
                await uow.outbox.add(
                    OutboxMessage(
                        audience="employee",
                        channel="telegram",
                        kind="answer",
                        payload={"number": case.number, "text": f"答复 {n}", "locale": "zh_CN"},
                        created_at=now,
                        case_id=case.id,
                    )
                )
        await uow.commit()
    tg.worker.wake()
    await tg.say(EMPLOYEE, EMPLOYEE, "/start", expect="menu:new")
    await eventually(lambda: tg.worker.stats.sent == 90, timeout=30)
    assert await outbox(tg) == {"sent": 90}
    assert tg.fake.flood_violations == 0
    assert tg.channel.limiter.waited > 0  # the limiter, not luck, kept the pace


async def test_updates_of_one_chat_are_handled_in_order(tg: Harness) -> None:
    for text in ("/start", "/help", "/new"):
        tg.fake.user_message(EMPLOYEE, EMPLOYEE, text)
    await tg.fake.wait_until(
        lambda: any("cat:pay" in tg.buttons(m) for m in tg.fake.sent_to(EMPLOYEE))
    )
    await asyncio.sleep(0)
    texts = tg.fake.texts_to(EMPLOYEE)
    assert texts[0] == texts[1]  # /start and /help both show the guide (with the menu)
    assert "cat:pay" in tg.buttons(tg.fake.sent_to(EMPLOYEE)[-1])


async def test_a_token_revoked_while_running_shows_in_healthz(tg: Harness) -> None:
    async with TestClient(TestServer(build_web_app([tg.channel]), host="127.0.0.1")) as web:
        assert (await web.get("/healthz")).status == 200
        tg.fake.fail_next("getUpdates", 401, description="Unauthorized")
        await tg.say(EMPLOYEE, EMPLOYEE, "/start", expect="menu:new")  # ends the long poll
        await eventually(lambda: tg.channel.problem is not None)
        answer = await web.get("/healthz")
        assert answer.status == 503
        body = await answer.json()
        assert body["ok"] is False and "token" in body["problems"]["telegram"]


async def test_a_flood_from_one_employee_keeps_the_limits_delays_nobody_else_and_loses_nothing(
    tg: Harness,
) -> None:
    flooder, other = EMPLOYEE, 5551777
    tg.fake.add_user(other, first_name="李四")
    await tg.say(flooder, flooder, "/start", expect="menu:new")
    await tg.press(flooder, flooder, "menu:new", expect="cat:pay")
    await tg.press(flooder, flooder, "cat:pay")
    await tg.say(flooder, flooder, "三个月没有发加班费了，车间主任说没有预算。", expect="ev:done")
    since = len(tg.fake.sent_to(flooder))
    for i in range(30):
        if i % 3:
            tg.fake.user_sticker(flooder, flooder)
        else:
            tg.fake.user_message(flooder, flooder, "！" * 5000)  # over Telegram's own size
    # Another employee is answered while the flood is still being worked off (1 s per chat).
    [first, *_] = await tg.say(other, other, "/start", expect="menu:new")
    assert len(tg.fake.sent_to(flooder)) - since < 30
    # Every flood message gets its answer, none is dropped, no limit is broken.
    # 20 stickers: a notice each; the first long text fits the 10,000-character account
    # (appended: a confirmation and the evidence question), the other nine are refused.
    replies = await tg.until(flooder, since, lambda ms: len(ms) >= 31)
    texts = [m["text"] for m in replies]
    assert sum("暂不支持" in t for t in texts) == 20
    assert sum("已补充" in t for t in texts) == 1
    assert sum("内容太长" in t for t in texts) == 9
    assert tg.fake.flood_violations == 0, tg.fake.flood_log
    private = [c.at for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == flooder]
    assert all(b - a >= 0.9 for a, b in zip(private, private[1:], strict=False))
    # The petition in progress survived: finish it.
    await tg.press(flooder, flooder, "ev:done", expect="anon:yes")
    await tg.press(flooder, flooder, "anon:yes", expect="up:push")
    await tg.press(flooder, flooder, "up:push", expect="rv:submit")
    [receipt] = await tg.press(flooder, flooder, "rv:submit")
    assert CODE.search(receipt["text"])


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_an_update_met_by_a_database_outage_is_handled_once_the_database_is_back(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, webhook: bool
) -> None:
    import bot.telegram.adapter as adapter
    from handlers.inbound import Inbound, Reply

    monkeypatch.setattr(adapter, "RETRY_FIRST", 0.01)
    hook = HOOK if webhook else None
    async with running(container, clock, webhook=hook) as tg:
        real, tries = tg.channel.handlers.handle, [0]

        async def away_twice(inbound: Inbound) -> list[Reply]:
            tries[0] += 1
            if tries[0] <= 2:  # nothing recorded: the database was not reached
                raise OperationalError("connect", None, ConnectionRefusedError())
            return await real(inbound)

        monkeypatch.setattr(tg.channel.handlers, "handle", away_twice)
        if webhook:
            async with webhook_server(tg) as url:
                tg.fake.webhook_url = None
                update = tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
                tg.fake._updates.clear()
                # Answered only once handled: a 200 is never given for a lost update.
                assert await tg.fake.post_webhook(url, update, "s3cret-token") == 200
                assert tries[0] == 3 and tg.fake.sent_to(EMPLOYEE)
        else:
            tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
            await tg.fake.wait_for_messages(EMPLOYEE, 1)
        assert tries[0] == 3
        assert len(tg.fake.sent_to(EMPLOYEE)) == 1  # handled once, answered once


async def test_a_webhook_update_given_up_while_stopping_in_an_outage_is_answered_503(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.telegram.adapter as adapter
    from handlers.inbound import Inbound, Reply

    monkeypatch.setattr(adapter, "RETRY_FIRST", 0.01)
    async with running(container, clock, webhook=HOOK) as tg:
        tries = [0]

        async def away(inbound: Inbound) -> list[Reply]:
            tries[0] += 1
            raise OperationalError("connect", None, ConnectionRefusedError())

        monkeypatch.setattr(tg.channel.handlers, "handle", away)
        async with webhook_server(tg) as url:
            tg.fake.webhook_url = None
            update = tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
            tg.fake._updates.clear()
            posted = asyncio.create_task(tg.fake.post_webhook(url, update, "s3cret-token"))
            await eventually(lambda: tries[0] >= 2)  # waiting for the database
            assert not posted.done()  # not answered while the update is not handled
            tg.channel._running = False  # the service stops before the database is back
            try:
                # Not a 200 for an update that was not handled: Telegram delivers it again.
                assert await posted == 503
                assert not tg.fake.sent_to(EMPLOYEE)
            finally:
                tg.channel._running = True  # the harness stops it for real
