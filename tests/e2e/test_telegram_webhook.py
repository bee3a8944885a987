"""Webhook mode: the shared aiohttp server's POST /telegram/webhook feeds PTB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from bot.container import Container
from bot.telegram import WEBHOOK_PATH
from tests.e2e.test_telegram_flow import EMPLOYEE, Harness, running
from tests.helpers.clock import FakeClock

HOOK = "https://bot.example/telegram/webhook"


@asynccontextmanager
async def webhook_server(h: Harness) -> AsyncIterator[str]:
    """The channel's webhook route on a real aiohttp server on a loopback port; its URL."""
    app = web.Application()
    h.channel.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def hooked(container: Container, clock: FakeClock) -> AsyncIterator[tuple[Harness, str]]:
    """A bot in webhook mode behind a real aiohttp server on a loopback port."""
    async with running(container, clock, webhook=HOOK) as h, webhook_server(h) as url:
        yield h, url


async def test_setwebhook_registers_the_url_and_secret(hooked: tuple[Harness, str]) -> None:
    tg, _ = hooked
    [call] = tg.fake.calls_to("setWebhook")
    assert call.params["url"] == "https://bot.example/telegram/webhook"
    assert call.params["secret_token"] == "s3cret-token"
    assert not tg.fake.calls_to("getUpdates")


async def test_an_update_with_the_right_secret_is_handled(hooked: tuple[Harness, str]) -> None:
    tg, url = hooked
    tg.fake.webhook_url = None  # post by hand rather than through the fake's delivery
    update = tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
    tg.fake._updates.clear()
    assert await tg.fake.post_webhook(url, update, "s3cret-token") == 200
    await tg.fake.wait_for_messages(EMPLOYEE, 1)


async def test_a_wrong_or_missing_secret_is_refused_with_403(hooked: tuple[Harness, str]) -> None:
    tg, url = hooked
    update = {"update_id": 999, "message": {"message_id": 1}}
    assert await tg.fake.post_webhook(url, update, "wrong") == 403
    assert await tg.fake.post_webhook(url, update, None) == 403
    assert tg.channel.stats["updates"] == 0


async def test_a_redelivered_webhook_update_is_handled_once(hooked: tuple[Harness, str]) -> None:
    tg, url = hooked
    tg.fake.webhook_url = None
    update = tg.fake.user_message(EMPLOYEE, EMPLOYEE, "/start")
    tg.fake._updates.clear()
    for _ in range(2):
        assert await tg.fake.post_webhook(url, update, "s3cret-token") == 200
    await tg.fake.wait_for_messages(EMPLOYEE, 1)
    from tests.e2e.test_telegram_flow import eventually

    await eventually(lambda: tg.channel.stats["duplicates"] == 1)
    assert len(tg.fake.sent_to(EMPLOYEE)) == 1
