"""WeCom never resends a callback answered 200: the service answers only once the message is
committed (its MsgId claimed in the same transaction), asks for a retry when the database is
away, and handles a retry that overlaps the first delivery once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from yarl import URL

import bot.wecom.channel
from handlers.inbound import Inbound, Reply
from handlers.router import Handlers
from tests.e2e.test_wecom_flow import (
    EMPLOYEE,
    Harness,
    wecom,  # noqa: F401 - the fixture
)
from tests.fakes.wecom_api import query_string, signed_post, text_xml


class SlowHandlers(Handlers):
    """The real handlers, held at the start of every message until released."""

    release = asyncio.Event()
    entered = 0

    async def handle(self, inbound: Inbound) -> list[Reply]:
        type(self).entered += 1
        await self.release.wait()
        return await super().handle(inbound)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> type[SlowHandlers]:
    """Hold handling until the test releases it."""
    SlowHandlers.release = asyncio.Event()
    SlowHandlers.entered = 0
    monkeypatch.setattr(bot.wecom.channel, "Handlers", SlowHandlers)
    return SlowHandlers


async def _post(h: Harness, params: dict[str, str], body: bytes) -> tuple[int, str]:
    url = URL(f"{h.callback_url}?{query_string(params)}", encoded=True)
    async with h.session.post(url, data=body) as resp:
        return resp.status, await resp.text()


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_the_answer_comes_only_after_the_message_is_committed(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    before = await h.counts()
    posted = asyncio.create_task(_post(h, *signed_post(text_xml("你好", msg_id="8101"))))
    await _until(lambda: slow.entered == 1)
    await asyncio.sleep(0.05)
    assert not posted.done()  # WeCom has no answer while nothing is recorded
    assert (await h.counts())["processed_updates"] == before["processed_updates"]

    slow.release.set()
    assert await posted == (200, "success")
    # At the moment of the answer the claim is in the database, whatever happens next.
    assert (await h.counts())["processed_updates"] == before["processed_updates"] + 1
    await h.channel.idle()
    assert h.sent_to(EMPLOYEE)


async def test_a_retry_while_the_first_delivery_is_handled_is_answered_with_it_and_handled_once(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    first = asyncio.create_task(_post(h, *signed_post(text_xml("你好", msg_id="8201"))))
    await _until(lambda: slow.entered == 1)
    retry = asyncio.create_task(
        _post(h, *signed_post(text_xml("你好", msg_id="8201"), nonce="retry"))
    )
    await asyncio.sleep(0.05)
    assert not first.done() and not retry.done()

    slow.release.set()
    assert [await first, await retry] == [(200, "success"), (200, "success")]
    await h.channel.idle()
    assert slow.entered == 1
    assert (await h.counts())["processed_updates"] == 1
    replies = len(h.sent_to(EMPLOYEE))
    assert await h.post(text_xml("你好", msg_id="8201"), nonce="late") == (200, "success")
    assert len(h.sent_to(EMPLOYEE)) == replies


async def test_a_database_outage_is_answered_503_and_the_retry_is_handled(
    wecom: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = wecom
    outage = [True]

    class Unreachable(Handlers):
        async def handle(self, inbound: Inbound) -> list[Reply]:
            if outage[0]:
                raise OperationalError("connect", None, ConnectionRefusedError())
            return await super().handle(inbound)

    monkeypatch.setattr(bot.wecom.channel, "Handlers", Unreachable)
    delivery = signed_post(text_xml("你好", msg_id="8301"))
    assert (await h.post_raw(*delivery))[0] == 503
    assert (await h.counts())["processed_updates"] == 0 and not h.sent_to(EMPLOYEE)

    outage[0] = False
    assert await h.post_raw(*delivery) == (200, "success")  # WeCom's retry
    assert (await h.counts())["processed_updates"] == 1
    assert h.sent_to(EMPLOYEE)


async def test_a_handler_bug_is_answered_with_the_failure_reply_once(
    wecom: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = wecom

    class Broken(Handlers):
        async def handle(self, inbound: Inbound) -> list[Reply]:
            raise RuntimeError("a bug, not the database")

    monkeypatch.setattr(bot.wecom.channel, "Handlers", Broken)
    delivery = signed_post(text_xml("你好", msg_id="8401"))
    assert await h.post_raw(*delivery) == (200, "success")
    assert await h.post_raw(*delivery) == (200, "success")  # a retry changes nothing
    assert (await h.counts())["processed_updates"] == 1
    assert len(h.sent_to(EMPLOYEE)) == 1
    failure = h.container.translator.t("error.domain", h.container.settings.default_locale)
    assert h.texts_to(EMPLOYEE) == failure
