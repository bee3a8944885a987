"""bot/telegram/transport.py: PTB's Bot over ``AiohttpRequest`` against a real local server.

The server records every request's raw bytes, so each test can compare what our transport
puts on the wire with what PTB's own ``HTTPXRequest`` sends for the same call.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import re
import socket
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.telegram.transport import AiohttpRequest

TOKEN = "123456:TEST-token"
CHAT = 4242
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 32 + b"\xff\xd9"

ME = {"id": 123456, "is_bot": True, "first_name": "Test", "username": "test_bot"}
MESSAGE = {"message_id": 1, "date": 0, "chat": {"id": CHAT, "type": "private"}}


@dataclass
class Call:
    """One request as it arrived."""

    api_method: str
    http_method: str
    content_type: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class FakeApi:
    """A minimal Bot API: answers ``ok`` unless told otherwise, serves one file."""

    port: int = 0
    calls: list[Call] = field(default_factory=list)
    # api method -> (HTTP status, raw body); the default is a successful JSON answer.
    replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def fail(self, api_method: str, status: int, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.replies[api_method] = (status, body)

    def api_calls(self, api_method: str) -> list[Call]:
        return [c for c in self.calls if c.api_method == api_method]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        api_method = request.match_info["method"]
        body = await request.read()
        self.calls.append(
            Call(
                api_method,
                request.method,
                request.headers.get("Content-Type", ""),
                dict(request.headers),
                body,
            )
        )
        delay = self.delays.get(api_method)
        if delay:
            await asyncio.sleep(delay)
        if api_method in self.replies:
            status, raw = self.replies[api_method]
            return web.Response(status=status, body=raw, content_type="application/json")
        return web.json_response({"ok": True, "result": self.result(api_method)})

    def result(self, api_method: str) -> Any:
        if api_method == "getMe":
            return ME
        if api_method == "getFile":
            return {
                "file_id": "F1",
                "file_unique_id": "U1",
                "file_size": len(self.files["documents/file_1.pdf"]),
                "file_path": "documents/file_1.pdf",
            }
        if api_method == "sendChatAction":
            return True
        return MESSAGE

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(
            Call("<file>", request.method, "", dict(request.headers), await request.read())
        )
        data = self.files.get(request.match_info["path"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", fake.handle)
    app.router.add_get("/file/bot{token}/{path:.+}", fake.handle_file)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    try:
        yield fake
    finally:
        await runner.cleanup()


def make_bot(api: FakeApi, request: BaseRequest) -> Bot:
    return Bot(
        TOKEN,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        request=request,
        get_updates_request=AiohttpRequest(1),
    )


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/form-data body byte for byte (no library in between)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    assert body.endswith(delimiter + b"--\r\n"), body[-80:]
    parts = []
    for chunk in body.split(delimiter)[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n"), chunk[:80]
        head, sep, data = chunk[2:-2].partition(b"\r\n\r\n")
        assert sep, chunk[:80]
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers["content-disposition"]
        assert disposition.startswith("form-data;"), disposition
        params = dict(re.findall(r';\s*(\w+)="((?:[^"\\]|\\.)*)"', disposition))
        parts.append(
            Part(params["name"], params.get("filename"), headers.get("content-type"), data)
        )
    return parts


async def call_both(api: FakeApi, action: Any) -> tuple[Call, Call]:
    """Run ``action(bot)`` with PTB's HTTPXRequest, then with ours; return both last calls."""
    sent = []
    for request in (HTTPXRequest(), AiohttpRequest()):
        async with make_bot(api, request) as bot:
            before = len(api.calls)
            await action(bot)
            new = api.calls[before:]
            assert len(new) == 1, [c.api_method for c in new]
            sent.append(new[0])
    return sent[0], sent[1]


# --- what goes on the wire --------------------------------------------------------------


async def test_a_plain_call_is_form_encoded_exactly_like_httpx(api: FakeApi):
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("确认 ✓", callback_data="ok:1")],
            [InlineKeyboardButton("x", url="https://example.org/?a=1&b=2")],
        ]
    )

    async def send(bot: Bot) -> None:
        message = await bot.send_message(
            CHAT,
            "你好 & a=b+c %20 \n第二行",
            reply_markup=keyboard,
            disable_notification=True,
            parse_mode="HTML",
        )
        assert message.message_id == 1

    httpx_call, ours = await call_both(api, send)

    assert ours.http_method == "POST"
    assert ours.api_method == "sendMessage"
    assert ours.content_type == "application/x-www-form-urlencoded"
    assert ours.headers["User-Agent"] == BaseRequest.USER_AGENT
    fields = dict(
        parse_qsl(ours.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    )
    # Strings go raw, everything else as JSON (PTB's RequestParameter rules).
    assert fields["text"] == "你好 & a=b+c %20 \n第二行"
    assert fields["parse_mode"] == "HTML"
    assert json.loads(fields["chat_id"]) == CHAT
    assert json.loads(fields["disable_notification"]) is True
    assert json.loads(fields["reply_markup"]) == keyboard.to_dict()
    # Byte for byte what PTB's default transport sends.
    assert ours.body == httpx_call.body
    assert httpx_call.content_type == ours.content_type


async def test_an_upload_is_multipart_with_field_name_filename_type_and_bytes(api: FakeApi):
    async def send(bot: Bot) -> None:
        await bot.send_document(
            CHAT,
            InputFile(PDF, filename="证据.pdf"),
            caption="附件：证据 & 说明",
            disable_content_type_detection=True,
        )

    httpx_call, ours = await call_both(api, send)

    assert ours.api_method == "sendDocument"
    assert ours.content_type.startswith("multipart/form-data; boundary=")
    parts = parse_multipart(ours.content_type, ours.body)
    by_name = {p.name: p for p in parts}
    document = by_name["document"]
    assert document.filename == "证据.pdf"
    assert document.content_type == "application/pdf"
    assert document.data == PDF
    assert by_name["caption"].filename is None
    assert by_name["caption"].data.decode("utf-8") == "附件：证据 & 说明"
    assert json.loads(by_name["chat_id"].data) == CHAT
    assert json.loads(by_name["disable_content_type_detection"].data) is True

    # Same parts (names, file names, bytes, file content types) as PTB's httpx transport.
    expected = parse_multipart(httpx_call.content_type, httpx_call.body)
    assert [(p.name, p.filename, p.data) for p in parts] == [
        (p.name, p.filename, p.data) for p in expected
    ]
    assert [p.content_type for p in parts if p.filename] == [
        p.content_type for p in expected if p.filename
    ]


@pytest.mark.parametrize(
    "name", ['证据 "甲".pdf', "a\\b.pdf", "行\n换.pdf", 'x";name="evil.pdf']
)
async def test_a_file_name_with_quotes_or_control_characters_is_escaped_like_httpx(
    api: FakeApi, name: str
):
    async def send(bot: Bot) -> None:
        await bot.send_document(CHAT, InputFile(PDF, filename=name))

    httpx_call, ours = await call_both(api, send)
    parts = parse_multipart(ours.content_type, ours.body)
    expected = parse_multipart(httpx_call.content_type, httpx_call.body)
    assert [(p.name, p.filename, p.data) for p in parts] == [
        (p.name, p.filename, p.data) for p in expected
    ]
    # The name cannot break out of its header into another parameter or part.
    assert [p.name for p in parts] == ["chat_id", "document"]


async def test_a_photo_upload_reaches_aiohttps_own_multipart_parser():
    received: dict[str, Any] = {}

    async def parse(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        photo = form["photo"]
        received.update(
            filename=photo.filename,
            content_type=photo.content_type,
            data=photo.file.read(),
            caption=form["caption"],
            chat_id=form["chat_id"],
        )
        return web.json_response({"ok": True, "result": MESSAGE})

    async def get_me(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "result": ME})

    app = web.Application()
    app.router.add_post("/bot{token}/getMe", get_me)
    app.router.add_post("/bot{token}/sendPhoto", parse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
        async with bot:
            await bot.send_photo(CHAT, InputFile(JPEG, filename="现场照片.jpg"), caption="图")
    finally:
        await runner.cleanup()
    assert received == {
        "filename": "现场照片.jpg",
        "content_type": "image/jpeg",
        "data": JPEG,
        "caption": "图",
        "chat_id": str(CHAT),
    }


async def test_a_file_download_returns_the_bytes(api: FakeApi):
    api.files["documents/file_1.pdf"] = PDF * 40  # ~650 KB, more than one read chunk
    async with make_bot(api, AiohttpRequest()) as bot:
        file = await bot.get_file("F1")
        data = await file.download_as_bytearray()
    assert bytes(data) == PDF * 40
    download = api.api_calls("<file>")
    assert len(download) == 1
    assert download[0].http_method == "GET"
    assert download[0].body == b""


async def test_retrieve_gets_the_bytes_directly(api: FakeApi):
    api.files["photos/a.jpg"] = JPEG
    request = AiohttpRequest()
    await request.initialize()
    try:
        data = await request.retrieve(f"{api.base_file_url}{TOKEN}/photos/a.jpg")
    finally:
        await request.shutdown()
    assert data == JPEG


# --- errors -----------------------------------------------------------------------------


def _error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


ERRORS = [
    pytest.param(400, _error(400, "Bad Request: chat not found"), BadRequest, id="400"),
    pytest.param(403, _error(403, "Forbidden: bot was blocked by the user"), Forbidden, id="403"),
    pytest.param(401, _error(401, "Unauthorized"), InvalidToken, id="401"),
    pytest.param(404, _error(404, "Not Found"), InvalidToken, id="404"),
    pytest.param(409, _error(409, "Conflict: terminated by other getUpdates"), Conflict, id="409"),
    pytest.param(
        429,
        _error(429, "Too Many Requests: retry after 7", retry_after=7),
        RetryAfter,
        id="429-retry-after",
    ),
    pytest.param(
        400,
        _error(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-1001234),
        ChatMigrated,
        id="400-migrated",
    ),
    pytest.param(500, _error(500, "Internal Server Error"), NetworkError, id="500"),
    pytest.param(502, b"<html>Bad Gateway</html>", NetworkError, id="502-not-json"),
]


@pytest.mark.parametrize(("status", "payload", "expected"), ERRORS)
async def test_http_errors_map_to_ptbs_exceptions_like_httpx(
    api: FakeApi, status: int, payload: Any, expected: type[TelegramError]
):
    api.fail("sendMessage", status, payload)
    raised: list[TelegramError] = []
    for request in (HTTPXRequest(), AiohttpRequest()):
        async with make_bot(api, request) as bot:
            with pytest.raises(TelegramError) as info:
                await bot.send_message(CHAT, "hi")
        raised.append(info.value)
    httpx_error, ours = raised
    assert type(ours) is expected
    assert type(httpx_error) is expected
    assert str(ours) == str(httpx_error)
    if isinstance(payload, dict) and expected not in (RetryAfter, ChatMigrated):
        # PTB drops the "Bad Request: " style prefix and capitalises the rest.
        detail = payload["description"].split(": ", 1)[-1]
        assert detail.lower() in str(ours).lower()
    if expected is RetryAfter:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # int retry_after is deprecated in PTB 22.2+
            assert ours.retry_after in (7, dtm.timedelta(seconds=7))
    if expected is ChatMigrated:
        assert ours.new_chat_id == -1001234


async def test_a_server_slower_than_read_timeout_times_out(api: FakeApi):
    api.delays["sendMessage"] = 1.5
    async with make_bot(api, AiohttpRequest(read_timeout=0.2)) as bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "hi")
        assert time.monotonic() - started < 1.0


async def test_a_per_call_read_timeout_overrides_the_default(api: FakeApi):
    api.delays["sendMessage"] = 0.4
    async with make_bot(api, AiohttpRequest(read_timeout=0.1)) as bot:
        message = await bot.send_message(CHAT, "slow but allowed", read_timeout=3)
        assert message.message_id == 1
        api.delays["sendMessage"] = 1.5
    async with make_bot(api, AiohttpRequest(read_timeout=5)) as bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "too slow", read_timeout=0.2)
        assert time.monotonic() - started < 1.0


async def test_waiting_too_long_for_a_pooled_connection_times_out(api: FakeApi):
    api.delays["sendChatAction"] = 0.8
    request = AiohttpRequest(1, pool_timeout=0.2, connect_timeout=0.2)
    async with make_bot(api, request) as bot:
        slow = asyncio.create_task(bot.send_chat_action(CHAT, "typing"))
        for _ in range(100):  # until the server has it: the only connection is now busy
            if api.api_calls("sendChatAction"):
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "queued")
        assert time.monotonic() - started < 1.0
        assert await slow is True


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_closed_port_is_a_network_error_not_a_timeout():
    port = _closed_port()
    request = AiohttpRequest(connect_timeout=2)
    await request.initialize()
    try:
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
        started = time.monotonic()
        with pytest.raises(NetworkError) as info:
            await bot.send_message(CHAT, "hi")
        assert time.monotonic() - started < 1.5
    finally:
        await request.shutdown()
    assert type(info.value) is NetworkError
    assert "aiohttp.ClientConnectorError" in str(info.value)


# --- lifecycle --------------------------------------------------------------------------


async def test_using_it_before_initialize_or_after_shutdown_is_refused(api: FakeApi):
    request = AiohttpRequest()
    url = f"{api.base_url}{TOKEN}/getMe"
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST", RequestData())
    # PTB's post() wraps whatever the transport raises, as it does for HTTPXRequest.
    with pytest.raises(NetworkError) as info:
        await request.post(url, RequestData())
    assert isinstance(info.value.__cause__, RuntimeError)

    await request.initialize()
    assert await request.post(url, RequestData()) == ME
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST", RequestData())
    assert api.api_calls("getMe") and len(api.api_calls("getMe")) == 1


async def test_initialize_and_shutdown_are_idempotent_and_restartable(api: FakeApi):
    request = AiohttpRequest()
    url = f"{api.base_url}{TOKEN}/getMe"
    await request.initialize()
    await request.initialize()
    assert await request.post(url, RequestData()) == ME
    await request.shutdown()
    await request.shutdown()
    await request.initialize()
    try:
        assert await request.post(url, RequestData()) == ME
    finally:
        await request.shutdown()
    assert len(api.api_calls("getMe")) == 2


async def test_the_bot_context_opens_and_closes_the_transport(api: FakeApi):
    request = AiohttpRequest()
    async with make_bot(api, request) as bot:
        assert (await bot.get_me()).username == "test_bot"
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{api.base_url}{TOKEN}/getMe", "POST", RequestData())
