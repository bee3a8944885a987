"""The callback sub-app with ``accept``: the answer waits for it, and its failures ask WeCom to
send the callback again (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.wecom.admission import Busy
from bot.wecom.callback import MOUNT_PREFIX, Accept, create_callback_app
from bot.wecom.crypto import WeComCrypto
from bot.wecom.messages import WeComInbound
from tests.fakes.wecom_api import (
    CB_AES_KEY,
    CB_TOKEN,
    CORP_ID,
    query_string,
    signed_post,
    text_xml,
)

NOW = 1_700_000_000


@asynccontextmanager
async def serving(accept: Accept) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """The sub-app with ``accept``, mounted as the shared server mounts it."""
    parent = web.Application()
    parent.add_subapp(
        MOUNT_PREFIX,
        create_callback_app(
            WeComCrypto(CB_TOKEN, CB_AES_KEY, CORP_ID), accept=accept, clock=lambda: float(NOW)
        ),
    )
    server = TestServer(parent, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield http, f"{str(server.make_url('')).rstrip('/')}{MOUNT_PREFIX}/callback"
    finally:
        await server.close()


async def _post(http: aiohttp.ClientSession, base: str, text: str) -> tuple[int, str]:
    params, body = signed_post(text_xml(text), timestamp=NOW)
    async with http.post(URL(f"{base}?{query_string(params)}", encoded=True), data=body) as resp:
        return resp.status, await resp.text()


async def test_the_answer_waits_until_accept_has_returned() -> None:
    release, accepted = asyncio.Event(), []

    async def accept(message: WeComInbound) -> None:
        await release.wait()
        accepted.append(message.content)

    async with serving(accept) as (http, base):
        posted = asyncio.create_task(_post(http, base, "食堂饭菜太咸"))
        await asyncio.sleep(0.05)
        assert not posted.done()
        release.set()
        assert await posted == (200, "success")
    assert accepted == ["食堂饭菜太咸"]


async def test_a_failing_accept_asks_wecom_to_retry_and_logs_no_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def accept(message: WeComInbound) -> None:
        raise ConnectionError(f"cannot store {message.content}")

    with caplog.at_level(logging.DEBUG, logger="bot.wecom"):
        async with serving(accept) as (http, base):
            assert await _post(http, base, "绝密举报") == (503, "retry")
    assert "ConnectionError" in caplog.text and "绝密举报" not in caplog.text


async def test_a_full_backlog_is_refused_503_with_one_log_line_for_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def accept(message: WeComInbound) -> None:
        raise Busy()

    with caplog.at_level(logging.WARNING, logger="bot.wecom"):
        async with serving(accept) as (http, base):
            for n in range(5):
                assert await _post(http, base, f"第{n}条") == (503, "busy")
    assert len([r for r in caplog.records if "busy" in r.getMessage()]) == 1


async def test_the_sub_app_takes_accept_or_the_older_pair_but_not_both() -> None:
    crypto = WeComCrypto(CB_TOKEN, CB_AES_KEY, CORP_ID)

    async def accept(message: WeComInbound) -> None:
        return None

    async def seen(key: str) -> bool:
        return False

    with pytest.raises(TypeError):
        create_callback_app(crypto)
    with pytest.raises(TypeError):
        create_callback_app(crypto, accept=accept, seen=seen, on_message=accept)
