"""Real python-telegram-bot over real HTTP against the local fake Bot API."""

from __future__ import annotations

import asyncio
import datetime as dtm
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_api import FakeBotApi, ManualClock, UploadedFile

USER = 1001
ADMIN_GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


@asynccontextmanager
async def polling_app(
    fake: FakeBotApi, *handlers: BaseHandler[Any, Any, Any]
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run a PTB Application polling the fake until the block ends."""
    app = fake.application_builder().build()
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0)
        await fake.wait_polling()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("欢迎")


async def test_start_command_is_received_and_the_reply_recorded(fake: FakeBotApi) -> None:
    async with polling_app(fake, CommandHandler("start", start)):
        fake.user_message(USER, USER, "/start")
        [reply] = await fake.wait_for_messages(USER, 1)
    assert reply["text"] == "欢迎"
    assert reply["from"]["is_bot"] is True
    assert "reply_to_message" not in reply  # PTB quotes only in groups by default
    assert [c.method for c in fake.calls][:2] == ["getMe", "deleteWebhook"]


async def test_text_42_stays_a_string_both_ways(fake: FakeBotApi) -> None:
    seen: list[object] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        seen.append(update.message.text)
        await update.message.reply_text(update.message.text or "")

    async with polling_app(fake, MessageHandler(filters.TEXT & ~filters.COMMAND, echo)):
        fake.user_message(USER, USER, "42")
        await fake.wait_for_messages(USER, 1)
    assert seen == ["42"]
    call = fake.calls_to("sendMessage")[0]
    assert call.params["text"] == "42"
    assert call.params["chat_id"] == USER


async def test_callback_query_is_answered(fake: FakeBotApi) -> None:
    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("收到")
        await update.callback_query.edit_message_text(f"选择了 {update.callback_query.data}")

    async with polling_app(fake, CallbackQueryHandler(on_button)) as app:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("是", callback_data="yes")]])
        sent = await app.bot.send_message(USER, "确认?", reply_markup=markup)
        update = fake.callback_query(USER, USER, "yes", sent.message_id)
        answer = await fake.wait_for(lambda c: c.method == "answerCallbackQuery")
        await fake.wait_for(lambda c: c.method == "editMessageText")
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert answer.params["text"] == "收到"
    assert fake.message(USER, sent.message_id)["text"] == "选择了 yes"


async def test_inline_keyboard_reply_markup_is_parsed_as_json(fake: FakeBotApi, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("查看", callback_data="case:7")]])
    message = await bot.send_message(USER, "12", reply_markup=markup)
    params = fake.calls_to("sendMessage")[0].params
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "查看", "callback_data": "case:7"}]]
    }
    assert params["text"] == "12"
    assert message.reply_markup == markup


async def test_429_with_retry_after_raises_retry_after(
    fake: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else RetryAfter() warns on construction
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(USER, "hi")  # the fault was used up
    assert [c.status for c in fake.calls_to("sendMessage")] == [429, 200]


async def test_403_raises_forbidden_and_blocked_chats_stay_blocked(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "hi")
    fake.block_chat(USER + 1)
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(USER + 1, "hi")
    assert fake.sent_to(USER + 1) == []


async def test_500_raises_network_error_and_400_bad_request(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", 500)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(USER, "hi")
    assert not isinstance(caught.value, BadRequest | Forbidden | RetryAfter)
    fake.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(USER, "hi")


async def test_unknown_methods_answer_bad_request_not_invalid_token(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="not implemented"):
        await bot.do_api_request("notARealMethod", api_kwargs={"user_id": USER})


async def test_document_upload_is_recorded_with_its_content(fake: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_document(
        ADMIN_GROUP, document=b"%PDF-1.7 hello", filename="case.pdf", caption="附件"
    )
    upload = fake.calls_to("sendDocument")[0].params["document"]
    assert upload == UploadedFile("case.pdf", b"%PDF-1.7 hello", upload.content_type)
    assert fake.calls_to("sendDocument")[0].params["caption"] == "附件"
    assert message.document is not None and message.document.file_name == "case.pdf"
    again = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(again) == b"%PDF-1.7 hello"


async def test_a_users_photo_is_downloadable(fake: FakeBotApi, bot: Bot) -> None:
    update = fake.user_photo(USER, USER, b"\x89PNG-evidence", caption="证据")
    file_id = update["message"]["photo"][-1]["file_id"]
    data = await (await bot.get_file(file_id)).download_as_bytearray()
    assert bytes(data) == b"\x89PNG-evidence"
    assert fake.texts_to(USER) == []


async def test_get_chat_members_and_forum_topics_parse_in_ptb(fake: FakeBotApi, bot: Bot) -> None:
    fake.add_chat(ADMIN_GROUP, "supergroup", title="信访办", is_forum=True)
    fake.set_member(ADMIN_GROUP, 7, "administrator")
    fake.set_member(ADMIN_GROUP, 8, "creator")
    chat = await bot.get_chat(ADMIN_GROUP)
    assert chat.title == "信访办" and chat.is_forum
    me = await bot.get_chat_member(ADMIN_GROUP, fake.bot_id)
    assert me.status == "administrator"
    admins = await bot.get_chat_administrators(ADMIN_GROUP)
    assert {a.user.id for a in admins} == {7, 8, fake.bot_id}
    assert (await bot.get_chat_member(ADMIN_GROUP, 9)).status == "member"
    topic = await bot.create_forum_topic(ADMIN_GROUP, "案件 #1")
    posted = await bot.send_message(
        ADMIN_GROUP, "新案件", message_thread_id=topic.message_thread_id
    )
    assert posted.message_thread_id == topic.message_thread_id
    reply = fake.user_message(
        ADMIN_GROUP, 7, "已受理", chat_type="supergroup", message_thread_id=topic.message_thread_id
    )["message"]
    assert reply["is_topic_message"] is True
    assert reply["reply_to_message"]["forum_topic_created"]["name"] == "案件 #1"
    answer = fake.user_message(
        ADMIN_GROUP,
        7,
        "答复",
        chat_type="supergroup",
        message_thread_id=topic.message_thread_id,
        reply_to_message_id=posted.message_id,
    )["message"]
    assert answer["reply_to_message"]["text"] == "新案件"
    pressed = fake.callback_query(ADMIN_GROUP, 7, "accept", posted.message_id)
    assert pressed["callback_query"]["message"]["chat"]["type"] == "supergroup"
    assert fake.chats[ADMIN_GROUP]["is_forum"] is True


async def test_flood_counts_two_private_messages_0_1s_apart_but_not_1_1s() -> None:
    clock = ManualClock()
    async with FakeBotApi(clock=clock) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as b:
            await b.send_message(USER, "1")
            clock.advance(1.1)
            await b.send_message(USER, "2")
            assert fake.flood_violations == 0
            clock.advance(0.1)
            await b.send_message(USER, "3")
            assert fake.flood_violations == 1
            assert fake.flood_log[0].rule == "private"


async def test_flood_counts_the_21st_group_message_in_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    clock = ManualClock()
    async with FakeBotApi(clock=clock, enforce_limits=True) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as b:
            for _ in range(20):
                await b.send_message(ADMIN_GROUP, "x")
                clock.advance(1.0)
            with pytest.raises(RetryAfter):
                await b.send_message(ADMIN_GROUP, "x")
            assert fake.flood_violations == 1
            clock.advance(41.0)
            await b.send_message(ADMIN_GROUP, "x")
            assert fake.flood_violations == 1


async def test_webhook_updates_reach_an_application_with_the_secret_token(
    fake: FakeBotApi,
) -> None:
    ptb = fake.application_builder().updater(None).build()
    ptb.add_handler(CommandHandler("start", start))
    secrets: list[str | None] = []

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        secrets.append(secret)
        if secret != "s3cret":
            return web.Response(status=403)
        await ptb.update_queue.put(Update.de_json(await request.json(), ptb.bot))
        return web.Response()

    server = web.Application()
    server.router.add_post("/hook", hook)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with ptb:
            await ptb.start()
            await ptb.bot.set_webhook(url, secret_token="s3cret")
            fake.user_message(USER, USER, "/start")
            [reply] = await fake.wait_for_messages(USER, 1)
            forged = {"update_id": 99, "message": {}}
            assert await fake.post_webhook(url, forged, secret_token="wrong") == 403
            await ptb.stop()
    finally:
        await runner.cleanup()
    assert reply["text"] == "欢迎"
    assert secrets == ["s3cret", "wrong"]
    assert fake.webhook_responses == [200]
    with pytest.raises(AssertionError):  # getUpdates is refused while a webhook is set
        await fake.wait_polling(timeout=0.01)


async def test_copy_is_recorded_and_latency_and_slow_calls_delay_answers(
    fake: FakeBotApi, bot: Bot
) -> None:
    original = fake.user_message(USER, USER, "我的诉求")["message"]
    fake.add_chat(ADMIN_GROUP, "supergroup", title="信访办")
    copied = await bot.copy_message(ADMIN_GROUP, USER, original["message_id"])
    assert fake.message(ADMIN_GROUP, copied.message_id)["text"] == "我的诉求"
    assert fake.calls_to("forwardMessage") == []
    loop = asyncio.get_running_loop()
    fake.latency = 0.05
    fake.slow_next("sendChatAction", 0.2)
    began = loop.time()
    await bot.send_message(USER, "a")
    await bot.send_chat_action(USER, "typing")
    assert loop.time() - began >= 0.3


async def test_the_application_shuts_down_cleanly() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with FakeBotApi() as fake:
            async with polling_app(fake, CommandHandler("start", start)):
                fake.user_message(USER, USER, "/start@xinfang_test_bot")
                await fake.wait_for_messages(USER, 1)
        await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []
    assert [str(w.message) for w in caught] == []
    assert fake.calls_to("forwardMessage") == []
    assert fake.calls[-1].method == "getUpdates" and fake.calls[-1].params["timeout"] == 0
