"""The petition flow on Telegram: real PTB over HTTP against the fake Bot API, real
handlers and storage (SQLite and PostgreSQL), the outbox worker delivering pushes.

Time: the fake's flood accounting and our limiter share one virtual clock that runs
SCALE times faster than the wall clock, so Telegram's limits (1 msg/s per private chat,
20 msg/min per group) are kept and checked without making the tests slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.telegram import SendLimiter, TelegramChannel
from petitions.roles import Role
from tests.fakes.telegram_api import FakeBotApi
from tests.helpers.clock import FakeClock
from tests.helpers.evidence import jpeg_with_gps, surviving_markers

EMPLOYEE = 5551001
OFFICER = 5552002
STRANGER = 5553003
TOKEN = "123:TEST"
SCALE = 10.0
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
NUMBER = re.compile(r"XF-\d{4}-\d{6}")


class VirtualTime:
    """A monotonic clock running SCALE times faster than the wall clock."""

    def __init__(self, scale: float = SCALE) -> None:
        self.scale = scale
        self.start = time.monotonic()

    def __call__(self) -> float:
        return 1000.0 + (time.monotonic() - self.start) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.scale)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until condition() holds (for state outside the fake, which cannot wake us)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class Harness:
    """A running bot: the fake API, the channel, its delivery worker and the database."""

    fake: FakeBotApi
    channel: TelegramChannel
    worker: DeliveryWorker
    container: Container
    clock: FakeClock
    admin: int

    def buttons(self, message: dict[str, Any]) -> list[str]:
        markup = message.get("reply_markup") or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    def with_button(self, chat: int, payload: str) -> dict[str, Any]:
        for message in reversed(self.fake.sent_to(chat)):
            if payload in self.buttons(message):
                return message
        raise AssertionError(f"no message with button {payload!r}")

    async def until(
        self, chat: int, since: int, check: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        try:
            await self.fake.wait_until(lambda: check(self.fake.sent_to(chat)[since:]), 10)
        except AssertionError as error:
            raise AssertionError(f"{error}; bot: {self.channel.stats}") from None
        return self.fake.sent_to(chat)[since:]

    async def say(
        self, chat: int, user: int, text: str, expect: str | None = None, **kw: Any
    ) -> list[dict[str, Any]]:
        """Send a text; wait for an answer (one offering button ``expect``, if given)."""
        since = len(self.fake.sent_to(chat))
        self.fake.user_message(chat, user, text, **kw)
        if expect is None:
            return await self.until(chat, since, bool)
        return await self.until(chat, since, lambda ms: any(expect in self.buttons(m) for m in ms))

    async def press(
        self, chat: int, user: int, payload: str, expect: str | None = None
    ) -> list[dict[str, Any]]:
        """Press a button on the latest message offering it; wait for an answer."""
        message = self.with_button(chat, payload)
        since = len(self.fake.sent_to(chat))
        self.fake.callback_query(chat, user, payload, message["message_id"])
        if expect is None:
            return await self.until(chat, since, bool)
        return await self.until(chat, since, lambda ms: any(expect in self.buttons(m) for m in ms))

    def texts(self, chat: int) -> str:
        return "\n".join(self.fake.texts_to(chat))

    async def file_petition(self, user: int = EMPLOYEE, photo: bytes | None = None) -> str:
        """Go through the whole intake anonymously with one (real) photo, updates pushed to
        this chat; return the code."""
        photo = jpeg_with_gps() if photo is None else photo
        chat = user
        await self.say(chat, user, "/start", expect="menu:new")
        await self.press(chat, user, "menu:new", expect="cat:pay")
        await self.press(chat, user, "cat:pay")
        since = len(self.fake.sent_to(chat))
        self.fake.user_message(chat, user, "三个月没有发加班费了，车间主任说没有预算，要求补发。")
        await self.until(chat, since, lambda ms: any("ev:done" in self.buttons(m) for m in ms))
        since = len(self.fake.sent_to(chat))
        self.fake.user_photo(chat, user, photo)
        await self.until(chat, since, lambda ms: any("ev:done" in self.buttons(m) for m in ms))
        await self.press(chat, user, "ev:done", expect="anon:yes")
        await self.press(chat, user, "anon:yes", expect="up:push")
        await self.press(chat, user, "up:push", expect="rv:submit")
        since = len(self.fake.sent_to(chat))
        self.fake.callback_query(
            chat, user, "rv:submit", self.with_button(chat, "rv:submit")["message_id"]
        )
        found = await self.until(
            chat, since, lambda ms: any(CODE.search(m.get("text", "")) for m in ms)
        )
        match = next(
            CODE.search(m.get("text", "")) for m in found if CODE.search(m.get("text", ""))
        )
        assert match is not None
        return match.group(0)

    async def add_officer(self, user: int = OFFICER) -> None:
        async with self.container.uow() as uow:
            await uow.officers.add(
                "王", Role.OFFICER, self.clock(), accounts={"telegram": str(user)}
            )
            await uow.commit()


@contextlib.asynccontextmanager
async def running(
    container: Container, clock: FakeClock, *, forum: bool = False, webhook: str | None = None
) -> AsyncIterator[Harness]:
    """Start the fake API, the channel (polling) and the delivery worker."""
    vt = VirtualTime()
    async with FakeBotApi(token=TOKEN, clock=vt) as fake:
        assert container.settings.telegram is not None
        settings = replace(container.settings.telegram, api_base_url=fake.base_url)
        if webhook is not None:
            settings = replace(settings, webhook_url=webhook, webhook_secret="s3cret-token")
        admin = settings.admin_chat_id
        assert admin is not None
        fake.add_chat(admin, "supergroup", title="信访办", is_forum=forum)
        fake.set_member(admin, OFFICER, "member")
        fake.add_user(EMPLOYEE, first_name="张三", username="zhangsan_real")
        channel = TelegramChannel(
            container, settings, limiter=SendLimiter(clock=vt, sleep=vt.sleep)
        )
        worker = channel.delivery_worker(poll_interval=0.05)
        stop = asyncio.Event()
        await channel.start()
        task = asyncio.create_task(worker.run(stop))
        if webhook is None:
            await fake.wait_polling()
        try:
            yield Harness(fake, channel, worker, container, clock, admin)
        finally:
            stop.set()
            await task
            await channel.stop()


@pytest.fixture
async def tg(container: Container, clock: FakeClock) -> AsyncIterator[Harness]:
    """A running Telegram bot on the test database."""
    async with running(container, clock) as h:
        yield h


async def test_an_anonymous_petition_travels_from_employee_to_officer_and_back(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = tg.fake
    code = await tg.file_petition()

    # The case card reaches the admin chat through the outbox: content, no identity.
    card, *_ = await tg.until(
        tg.admin, 0, lambda ms: any(NUMBER.search(m.get("text", "")) for m in ms)
    )
    number = NUMBER.search(card["text"]).group(0)  # type: ignore[union-attr]
    assert "加班费" in card["text"]
    for secret in (str(EMPLOYEE), "张三", "zhangsan", code):
        assert secret not in tg.texts(tg.admin)
    accept = next(p for p in tg.buttons(card) if p.startswith("o:accept:"))
    assert not fake.calls_to("forwardMessage")
    # The evidence travels with the card, as a copy uploaded by the bot.
    await tg.until(tg.admin, 0, lambda ms: any("photo" in m for m in ms))

    # A registered officer accepts by the card's button and confirms the preview; the bot
    # confirms in the admin chat.
    await tg.add_officer()
    confirm = f"o:ok:{accept.rsplit(':', 1)[1]}:1"
    await tg.press(tg.admin, OFFICER, accept, expect=confirm)
    since = len(fake.sent_to(tg.admin))
    await tg.press(tg.admin, OFFICER, confirm)
    await tg.until(tg.admin, since, lambda ms: any(number in m.get("text", "") for m in ms))

    # Officers' own talk stays internal; a reply to the card is an answer to the employee.
    fake.user_message(tg.admin, OFFICER, "内部讨论：先问问财务", chat_type="supergroup")
    since = len(fake.sent_to(tg.admin))
    fake.user_message(
        tg.admin, OFFICER, "已安排财务本月补发。", reply_to_message_id=card["message_id"]
    )
    await tg.until(tg.admin, since, bool)  # the bot confirms the answer in the admin chat

    await tg.until(
        EMPLOYEE, 0, lambda ms: any("已安排财务本月补发" in m.get("text", "") for m in ms)
    )
    await tg.until(EMPLOYEE, 0, lambda ms: any("已受理" in m.get("text", "") for m in ms))
    assert "内部讨论" not in tg.texts(EMPLOYEE)

    # The employee sees both by tracking code.
    since = len(fake.sent_to(EMPLOYEE))
    fake.user_message(EMPLOYEE, EMPLOYEE, f"/status {code}")
    await tg.until(
        EMPLOYEE,
        since,
        lambda ms: any(
            "已受理" in m.get("text", "") and "已安排财务本月补发" in m.get("text", "") for m in ms
        ),
    )

    # Nothing identifying reached the logs.
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for secret in (TOKEN, str(EMPLOYEE), str(OFFICER), code, str(tg.admin)):
        assert secret not in logged
    assert fake.flood_violations == 0


async def test_the_evidence_photo_is_downloaded_stored_encrypted_and_shown_to_officers(
    tg: Harness,
) -> None:
    original = jpeg_with_gps()
    await tg.file_petition(photo=original)
    card, *_ = await tg.until(tg.admin, 0, lambda ms: len(ms) >= 2)  # card + photo
    async with tg.container.uow() as uow:
        [case] = await uow.cases.list(__import__("handlers.ports").ports.CaseFilter())
        [info] = await uow.attachments.list(case.id)
        _, data = await uow.attachments.data(info.id)
    # What is stored is the cleaned photo (GPS, serial and author gone), under a neutral name.
    assert (info.name, info.mime) == ("证据1.jpg", "image/jpeg")
    assert data.startswith(b"\xff\xd8") and data != original
    assert surviving_markers(data) == []
    await tg.add_officer()
    view = next(p for p in tg.buttons(card) if p.startswith("o:view:"))
    tg.fake.callback_query(tg.admin, OFFICER, view, card["message_id"])
    # Once with the case card, once more in the case's details.
    await tg.until(tg.admin, 0, lambda ms: sum("photo" in m for m in ms) == 2)
    uploads = [c for c in tg.fake.calls_to("sendPhoto") if c.status == 200]
    assert len(uploads) == 2
    # Officers get exactly the cleaned copy, never the bytes the employee sent.
    assert all(u.params["photo"].content == data for u in uploads)


async def test_a_button_press_by_a_non_officer_in_the_admin_chat_is_refused(
    tg: Harness,
) -> None:
    await tg.file_petition()
    card, *_ = await tg.until(tg.admin, 0, lambda ms: len(ms) >= 2)  # card + photo
    accept = next(p for p in tg.buttons(card) if p.startswith("o:accept:"))
    before = len(tg.fake.sent_to(tg.admin))
    tg.fake.callback_query(tg.admin, STRANGER, accept, card["message_id"])
    answer = await tg.fake.wait_for(
        lambda c: c.method == "answerCallbackQuery" and bool(c.params.get("text"))
    )
    assert answer.params.get("show_alert") is True
    assert len(tg.fake.sent_to(tg.admin)) == before
    async with tg.container.uow() as uow:
        case = (await uow.cases.list(__import__("handlers.ports").ports.CaseFilter()))[0]
    assert case.state.value == "registered"


async def test_a_sticker_gets_an_explanation(tg: Harness) -> None:
    tg.fake.user_sticker(EMPLOYEE, EMPLOYEE)
    [reply] = await tg.fake.wait_for_messages(EMPLOYEE, 1)
    assert reply["text"]


async def test_every_button_press_is_answered(tg: Harness) -> None:
    await tg.say(EMPLOYEE, EMPLOYEE, "/start", expect="menu:new")
    await tg.press(EMPLOYEE, EMPLOYEE, "menu:new", expect="cat:pay")
    await tg.fake.wait_until(lambda: len(tg.fake.calls_to("answerCallbackQuery")) == 1)


async def test_a_petition_longer_than_a_message_is_split_never_cut(tg: Harness) -> None:
    await tg.say(EMPLOYEE, EMPLOYEE, "/new", expect="cat:pay")
    await tg.press(EMPLOYEE, EMPLOYEE, "cat:pay")
    long_text = "\n".join(f"第{i}条：车间加班费拖欠情况说明，涉及工时与工资。" for i in range(260))
    assert len(long_text) > 4096
    since = len(tg.fake.sent_to(EMPLOYEE))
    cut = long_text.rindex("\n", 0, 4096)  # a person sends it as two messages
    tg.fake.user_message(EMPLOYEE, EMPLOYEE, long_text[:cut])
    await tg.until(EMPLOYEE, since, bool)
    since = len(tg.fake.sent_to(EMPLOYEE))
    tg.fake.user_message(EMPLOYEE, EMPLOYEE, long_text[cut + 1 :])
    await tg.until(EMPLOYEE, since, bool)
    # The case card carries the whole description: several messages, buttons on the last.
    await tg.press(EMPLOYEE, EMPLOYEE, "ev:done", expect="anon:yes")
    await tg.press(EMPLOYEE, EMPLOYEE, "anon:yes", expect="up:push")
    await tg.press(EMPLOYEE, EMPLOYEE, "up:push", expect="rv:submit")
    since = len(tg.fake.sent_to(EMPLOYEE))
    message = tg.with_button(EMPLOYEE, "rv:submit")
    tg.fake.callback_query(EMPLOYEE, EMPLOYEE, "rv:submit", message["message_id"])
    cards = await tg.until(tg.admin, 0, lambda ms: any(tg.buttons(m) for m in ms))
    assert len(cards) >= 2
    assert all(len(m.get("text", "")) <= 4096 for m in cards)
    assert not any(tg.buttons(m) for m in cards[:-1])
    joined = "".join(m.get("text", "") for m in cards)
    for line in long_text.splitlines():
        assert line in joined


async def test_a_duplicate_update_is_handled_once(tg: Harness) -> None:
    update = tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
    tg.fake.raw_update(dict(update))
    await eventually(lambda: tg.channel.stats["duplicates"] == 1)
    assert len(tg.fake.sent_to(EMPLOYEE)) == 1  # the guide with its menu, once


async def test_in_a_forum_each_case_gets_a_topic_and_only_explicit_replies_answer(
    container: Container, clock: FakeClock
) -> None:
    async with running(container, clock, forum=True) as tg:
        fake = tg.fake
        await tg.file_petition()
        card, *_ = await tg.until(tg.admin, 0, lambda ms: len(ms) >= 2)  # card + photo
        [topic] = [c for c in fake.calls_to("createForumTopic") if c.status == 200]
        thread = topic.result["message_thread_id"]
        assert card["message_thread_id"] == thread
        assert NUMBER.search(topic.params["name"])
        await tg.add_officer()
        # Talk inside the topic (reply_to is the topic opener) stays internal.
        fake.user_message(tg.admin, OFFICER, "内部：等财务回复", message_thread_id=thread)
        since = len(fake.sent_to(tg.admin))
        fake.user_message(
            tg.admin,
            OFFICER,
            "已安排财务本月补发。",
            message_thread_id=thread,
            reply_to_message_id=card["message_id"],
        )
        [confirm, *_] = await tg.until(tg.admin, since, bool)
        assert confirm.get("message_thread_id") == thread
        await tg.until(
            EMPLOYEE, 0, lambda ms: any("已安排财务本月补发" in m.get("text", "") for m in ms)
        )
        assert "等财务回复" not in tg.texts(EMPLOYEE)
