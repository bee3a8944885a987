"""The WeCom callback sub-app over real HTTP on 127.0.0.1, fed by a WeCom-like sender."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.wecom.callback import MOUNT_PREFIX, create_callback_app
from bot.wecom.crypto import WeComCrypto
from bot.wecom.messages import WeComInbound
from tests.fakes.wecom_api import (
    CB_AES_KEY,
    CB_TOKEN,
    CORP_ID,
    event_xml,
    query_string,
    signed_post,
    signed_verify,
    template_card_event_xml,
    text_xml,
)

NOW = 1_700_000_000
VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "wecom_vectors.json").read_text("utf-8")
)


@dataclass
class Harness:
    """A running callback endpoint plus what it handed to on_message."""

    base: str
    http: aiohttp.ClientSession
    received: list[WeComInbound] = field(default_factory=list)

    def url(self, raw_query: str) -> URL:
        # encoded=True: send the query byte-for-byte, literal '+' included.
        return URL(f"{self.base}{MOUNT_PREFIX}/callback?{raw_query}", encoded=True)

    async def post(self, params: dict[str, str], body: bytes) -> tuple[int, str]:
        async with self.http.post(self.url(query_string(params)), data=body) as resp:
            return resp.status, await resp.text()


class MemorySeen:
    """In-memory stand-in for the lead's HMAC'd dedup store."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def __call__(self, key: str) -> bool:
        if key in self.keys:
            return True
        self.keys.add(key)
        return False


@asynccontextmanager
async def running(
    *,
    crypto: WeComCrypto | None = None,
    on_message: Callable[[WeComInbound], Awaitable[None]] | None = None,
    seen: Callable[[str], Awaitable[bool]] | None = None,
    **options: Any,
) -> AsyncIterator[Harness]:
    """Mount the callback sub-app on a parent app, as the shared server does, and serve it."""
    received: list[WeComInbound] = []

    async def record(message: WeComInbound) -> None:
        received.append(message)

    sub = create_callback_app(
        crypto or WeComCrypto(CB_TOKEN, CB_AES_KEY, CORP_ID),
        on_message=on_message or record,
        seen=seen or MemorySeen(),
        clock=lambda: float(NOW),
        **options,
    )
    parent = web.Application()
    parent.add_subapp(MOUNT_PREFIX, sub)
    server = TestServer(parent, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Harness(str(server.make_url("")).rstrip("/"), http, received)
    finally:
        await server.close()  # runs cleanup, which awaits on_message tasks


def _echo_with_plus() -> tuple[dict[str, str], str]:
    """Verification params whose echostr contains '+' (found deterministically)."""
    for i in range(1000):
        params = signed_verify("8467213402339", timestamp=NOW, random16=i.to_bytes(16, "big"))
        if "+" in params["echostr"]:
            return params, "8467213402339"
    raise AssertionError("no echostr with '+' found")


def _raw_query(params: dict[str, str]) -> str:
    """Query string that leaves '+', '/' and '=' unescaped, as some senders do."""
    return "&".join(f"{k}={v}" for k, v in params.items())


# -- URL verification (GET) -----------------------------------------------------------------


async def test_verification_echoes_plaintext_when_plus_arrives_unescaped() -> None:
    params, echo = _echo_with_plus()
    async with running() as h:
        async with h.http.get(h.url(_raw_query(params))) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            assert await resp.text() == echo


async def test_verification_echoes_plaintext_when_plus_is_percent_encoded() -> None:
    params, echo = _echo_with_plus()
    async with running() as h:
        async with h.http.get(h.url(query_string(params))) as resp:
            assert (resp.status, await resp.text()) == (200, echo)


async def test_official_verification_vector_is_answered_over_http() -> None:
    v = next(v for v in VECTORS if v["name"] == "A1_verify_url")
    crypto = WeComCrypto(v["token"], v["aes_key"], v["receiveid"])
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce")} | {"echostr": v["encrypt"]}
    async with running(crypto=crypto) as h:
        async with h.http.get(h.url(query_string(params))) as resp:
            assert (resp.status, await resp.text()) == (200, v["expected_plaintext"])


async def test_verification_with_forged_signature_is_forbidden() -> None:
    params = signed_verify("123", timestamp=NOW) | {"msg_signature": "f" * 40}
    async with running() as h:
        async with h.http.get(h.url(query_string(params))) as resp:
            assert resp.status == 403
            assert "123" not in await resp.text()


async def test_verification_without_echostr_is_a_bad_request() -> None:
    async with running() as h:
        async with h.http.get(h.url("msg_signature=a&timestamp=1&nonce=2")) as resp:
            assert resp.status == 400


# -- messages (POST) ------------------------------------------------------------------------


async def test_text_message_is_acknowledged_and_reaches_on_message() -> None:
    async with running() as h:
        status, text = await h.post(
            *signed_post(text_xml("食堂饭菜太咸", msg_id="7"), timestamp=NOW)
        )
    assert (status, text) == (200, "success")
    assert [(m.msg_type, m.content, m.msg_id, m.from_user) for m in h.received] == [
        ("text", "食堂饭菜太咸", "7", "ZhangSan")
    ]


async def test_official_message_vector_is_accepted_when_replay_check_is_disabled() -> None:
    v = next(v for v in VECTORS if v["name"] == "A2_decrypt_msg")
    crypto = WeComCrypto(v["token"], v["aes_key"], v["receiveid"])
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce")}
    body = f"<xml><Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>".encode()
    async with running(crypto=crypto, replay_window=0) as h:
        assert await h.post(params, body) == (200, "success")
    assert [(m.from_user, m.content) for m in h.received] == [("ChenJiaShun", "你好")]


async def test_official_message_vector_is_a_replay_under_the_default_window() -> None:
    v = next(v for v in VECTORS if v["name"] == "A2_decrypt_msg")
    crypto = WeComCrypto(v["token"], v["aes_key"], v["receiveid"])
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce")}
    body = f"<xml><Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>".encode()
    async with running(crypto=crypto) as h:
        assert (await h.post(params, body))[0] == 403
    assert h.received == []


async def test_retried_delivery_with_same_msg_id_is_processed_once() -> None:
    request = signed_post(text_xml("一次", msg_id="99"), timestamp=NOW)
    retry = signed_post(text_xml("一次", msg_id="99"), timestamp=NOW + 5, nonce="other")
    async with running() as h:
        assert await h.post(*request) == (200, "success")
        assert await h.post(*retry) == (200, "success")
    assert len(h.received) == 1


async def test_events_are_deduplicated_by_sender_time_and_key() -> None:
    press = template_card_event_xml("accept", "t1", create_time=NOW)
    other = template_card_event_xml("reject", "t1", create_time=NOW)
    async with running() as h:
        for xml in (press, press, other, event_xml("enter_agent", create_time=NOW)):
            assert (await h.post(*signed_post(xml, timestamp=NOW)))[0] == 200
    assert [(m.event, m.event_key) for m in h.received] == [
        ("template_card_event", "accept"),
        ("template_card_event", "reject"),
        ("enter_agent", None),
    ]


async def test_forged_signature_is_forbidden_and_not_dispatched() -> None:
    params, body = signed_post(text_xml("伪造"), timestamp=NOW)
    async with running() as h:
        status, _ = await h.post(params | {"msg_signature": "0" * 40}, body)
    assert status == 403
    assert h.received == []


async def test_message_signed_with_another_token_is_forbidden() -> None:
    async with running() as h:
        status, _ = await h.post(*signed_post(text_xml("x"), token="stolen", timestamp=NOW))
    assert status == 403 and h.received == []


async def test_message_for_another_corp_is_forbidden() -> None:
    async with running() as h:
        status, _ = await h.post(
            *signed_post(text_xml("x"), corp_id="wwimpostor00000001", timestamp=NOW)
        )
    assert status == 403 and h.received == []


@pytest.mark.parametrize("offset", [-301, 301, -86400], ids=["old", "future", "day-old"])
async def test_timestamp_outside_the_replay_window_is_forbidden(offset: int) -> None:
    async with running() as h:
        status, _ = await h.post(*signed_post(text_xml("x"), timestamp=NOW + offset))
    assert status == 403 and h.received == []


async def test_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    async with running() as h:
        status, _ = await h.post(*signed_post(text_xml("x"), timestamp=NOW - 300))
    assert status == 200 and len(h.received) == 1


async def test_body_over_the_limit_is_refused_with_413() -> None:
    params, _ = signed_post(text_xml("x"), timestamp=NOW)
    async with running(max_body=1024) as h:
        assert (await h.post(params, b"<xml>" + b"a" * 2000 + b"</xml>"))[0] == 413


async def test_chunked_body_over_the_limit_is_refused_with_413() -> None:
    params, _ = signed_post(text_xml("x"), timestamp=NOW)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"a" * 200

    async with running(max_body=1024) as h:
        async with h.http.post(h.url(query_string(params)), data=chunks()) as resp:
            assert resp.status == 413


async def test_message_just_under_the_limit_is_accepted() -> None:
    params, body = signed_post(text_xml("长" * 300), timestamp=NOW)
    async with running(max_body=len(body)) as h:
        assert (await h.post(params, body))[0] == 200


async def test_malformed_outer_xml_is_a_bad_request() -> None:
    params, _ = signed_post(text_xml("x"), timestamp=NOW)
    async with running() as h:
        assert (await h.post(params, b"<xml><Encrypt>abc"))[0] == 400


async def test_doctype_in_body_is_a_bad_request() -> None:
    params, body = signed_post(text_xml("x"), timestamp=NOW)
    evil = b'<!DOCTYPE xml [<!ENTITY lol "lol">]>' + body
    async with running() as h:
        assert (await h.post(params, evil))[0] == 400
    assert h.received == []


async def test_correctly_signed_but_malformed_inner_xml_is_a_bad_request() -> None:
    async with running() as h:
        status, _ = await h.post(*signed_post("<xml><MsgType>text", timestamp=NOW))
    assert status == 400 and h.received == []


async def test_missing_signature_parameters_are_a_bad_request() -> None:
    _, body = signed_post(text_xml("x"), timestamp=NOW)
    async with running() as h:
        assert (await h.post({"timestamp": str(NOW)}, body))[0] == 400


async def test_acknowledges_before_on_message_finishes_and_cleanup_awaits_it() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(message: WeComInbound) -> None:
        await release.wait()
        finished.append(message.content or "")

    async with running(on_message=slow) as h:
        assert await h.post(*signed_post(text_xml("慢"), timestamp=NOW)) == (200, "success")
        assert finished == []  # answered while the handler is still waiting
        release.set()
    assert finished == ["慢"]


async def test_failing_handler_is_logged_without_content(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(message: WeComInbound) -> None:
        raise RuntimeError(f"cannot store {message.content}")

    with caplog.at_level(logging.DEBUG, logger="bot.wecom"):
        async with running(on_message=boom) as h:
            assert await h.post(*signed_post(text_xml("绝密举报"), timestamp=NOW)) == (
                200,
                "success",
            )
    assert "RuntimeError" in caplog.text
    assert "绝密举报" not in caplog.text


async def test_rejections_are_logged_with_reason_only(caplog: pytest.LogCaptureFixture) -> None:
    params, body = signed_post(text_xml("绝密举报", from_user="ZhaoLiu"), timestamp=NOW)
    with caplog.at_level(logging.DEBUG, logger="bot.wecom"):
        async with running() as h:
            await h.post(params | {"msg_signature": "0" * 40}, body)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "signature" in warnings[0].getMessage()
    assert "ZhaoLiu" not in caplog.text and params["nonce"] not in caplog.text


async def test_dedup_store_failure_asks_wecom_to_retry() -> None:
    async def broken(key: str) -> bool:
        raise ConnectionError("db down")

    async with running(seen=broken) as h:
        status, _ = await h.post(*signed_post(text_xml("x"), timestamp=NOW))
    assert status == 503 and h.received == []
