"""Several WeCom webhook workers on one PostgreSQL (bot/wecom/order.py).

Each worker here is a channel with its own container (its own connection pool, as another
process would have) and its own HTTP server on 127.0.0.1; WeCom's callbacks are posted to
whichever worker the test picks, as a load balancer would. Asserted: a person's callbacks
kept by different workers are handled in the order they were kept, each once; a callback
left kept by a worker that stopped is taken over, before the person's next one, by the
worker that receives it, or by another worker's sweep when the person writes no more; the
same callback posted to two workers at once is handled once; a burst spread over both
workers is handled in order per person."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

import bot.wecom.channel
from bot.container import Container, build_container
from bot.wecom.callback import MOUNT_PREFIX
from bot.wecom.channel import WeComChannel
from bot.wecom.inbox import to_json
from bot.wecom.messages import WeComInbound
from handlers.inbound import Inbound, Reply
from handlers.router import Handlers
from storage.vault import Keyring
from tests.conftest import PG_URL
from tests.e2e.test_wecom_flow import (
    EMPLOYEE,
    Harness,
    wecom,  # noqa: F401 - the fixture
)
from tests.fakes.wecom_api import query_string, signed_post, text_xml
from tests.helpers.clock import FakeClock


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Several workers share a database only on PostgreSQL (SQLite: one process)."""
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set XINFANG_TEST_PG_URL)")
    return str(request.param)


class Recording(Handlers):
    """The real handlers; records each text message once its handling has committed, and
    holds the texts of ``slow`` a moment first (a busy worker)."""

    done: list[str] = []
    slow: set[str] = set()

    async def handle(self, inbound: Inbound) -> list[Reply]:
        if inbound.text in self.slow:
            await asyncio.sleep(0.05)
        replies = await super().handle(inbound)
        if inbound.text is not None:
            type(self).done.append(inbound.text)
        return replies


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[Recording]:
    Recording.done, Recording.slow = [], set()
    monkeypatch.setattr(bot.wecom.channel, "Handlers", Recording)
    return Recording


@dataclasses.dataclass
class Worker:
    """A second worker: its own container, channel and callback server."""

    container: Container
    channel: WeComChannel
    url: str


@contextlib.asynccontextmanager
async def _worker(h: Harness, keyring: Keyring, clock: FakeClock) -> AsyncIterator[Worker]:
    """Another worker beside the harness's, on the same database and fake WeCom API."""
    settings = h.container.settings
    assert settings.wecom is not None
    container = await build_container(settings, keyring=keyring, clock=clock)
    channel = WeComChannel(
        container,
        settings.wecom,
        session=h.session,
        sleep=h.monotonic.sleep,
        clock=h.monotonic,
        sweep_every=0.1,
    )
    app = web.Application()
    channel.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await channel.start()
    try:
        yield Worker(
            container, channel, f"http://127.0.0.1:{runner.addresses[0][1]}{MOUNT_PREFIX}/callback"
        )
    finally:
        await channel.stop()
        await runner.cleanup()
        await container.close()


@pytest.fixture
async def second(
    wecom: Harness,  # noqa: F811
    keys: tuple[Keyring, Path],
    clock: FakeClock,
) -> AsyncIterator[Worker]:
    """Worker B beside the harness's worker A (it sweeps every 0.1 s)."""
    async with _worker(wecom, keys[0], clock) as worker:
        yield worker


async def _post(h: Harness, url: str, xml: str, nonce: str = "n") -> tuple[int, str]:
    params, body = signed_post(xml, nonce=nonce)
    async with h.session.post(URL(f"{url}?{query_string(params)}", encoded=True), data=body) as r:
        return r.status, await r.text()


def _text(n: int, user: str = EMPLOYEE) -> str:
    return text_xml(str(n), msg_id=str(9_000 + n), from_user=user, create_time=1_700_000_000 + n)


async def _until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def _counts(h: Harness) -> tuple[int, int]:
    counts = await h.counts()
    return counts["wecom_inbox"], counts["processed_updates"]


async def _keep_as_a_stopped_worker(h: Harness, n: int, *, age: timedelta) -> None:
    """A callback kept by a worker that stopped before handling it."""
    message = WeComInbound(
        to_user="corp",
        from_user=EMPLOYEE,
        msg_type="text",
        create_time=1_700_000_000 + n,
        msg_id=str(9_000 + n),
        content=str(n),
    )
    async with h.container.uow() as uow:
        kept = await uow.wecom_inbox.add(
            [(f"wecom:{message.dedup_key}", EMPLOYEE, to_json(message))], h.clock() - age
        )
        await uow.commit()
    assert len(kept) == 1


async def test_a_persons_callbacks_kept_by_two_workers_are_handled_in_order_once(
    wecom: Harness,  # noqa: F811
    second: Worker,
    recording: type[Recording],
) -> None:
    h = wecom
    # Worker A is slow: without the order across workers, B would handle 2 before A's 1.
    sent = [str(n) for n in range(1, 13)]
    recording.slow = {s for s in sent if int(s) % 2}
    for n in range(1, 13):
        url = h.callback_url if n % 2 else second.url
        assert await _post(h, url, _text(n)) == (200, "success")
    await _until(lambda: _done(h, len(sent)))
    await h.channel.idle()
    await second.channel.idle()
    assert recording.done == sent
    assert await _counts(h) == (0, len(sent))


async def _done(h: Harness, n: int) -> bool:
    return await _counts(h) == (0, n)


async def test_a_callback_left_by_a_stopped_worker_is_taken_over_before_the_next_one(
    wecom: Harness,  # noqa: F811
    second: Worker,
    recording: type[Recording],
) -> None:
    h = wecom
    await _keep_as_a_stopped_worker(h, 1, age=timedelta(seconds=1))
    assert await _post(h, second.url, _text(2)) == (200, "success")
    await _until(lambda: _done(h, 2))
    await second.channel.idle()
    assert recording.done == ["1", "2"]
    assert len(h.sent_to(EMPLOYEE)) >= 2  # both were answered


async def test_a_callback_left_by_a_stopped_worker_is_swept_when_the_person_writes_no_more(
    wecom: Harness,  # noqa: F811
    second: Worker,
    recording: type[Recording],
) -> None:
    h = wecom
    await _keep_as_a_stopped_worker(h, 1, age=timedelta(minutes=3))
    await _until(lambda: _done(h, 1))
    await second.channel.idle()
    assert recording.done == ["1"]
    assert h.sent_to(EMPLOYEE)


async def test_the_same_callback_posted_to_two_workers_at_once_is_handled_once(
    wecom: Harness,  # noqa: F811
    second: Worker,
    recording: type[Recording],
) -> None:
    h = wecom
    answers = await asyncio.gather(
        _post(h, h.callback_url, _text(1), nonce="a"), _post(h, second.url, _text(1), nonce="b")
    )
    assert answers == [(200, "success")] * 2
    await _until(lambda: _done(h, 1))
    await h.channel.idle()
    await second.channel.idle()
    assert recording.done == ["1"]
    assert len(h.sent_to(EMPLOYEE)) == 1


async def test_a_burst_spread_over_two_workers_is_handled_in_order_per_person(
    wecom: Harness,  # noqa: F811
    second: Worker,
    recording: type[Recording],
) -> None:
    h = wecom
    people = [f"burst{i}" for i in range(6)]
    per = 10

    async def fire(i: int, user: str) -> None:
        for n in range(per):
            url = h.callback_url if n % 2 else second.url
            xml = text_xml(
                f"{user}:{n}",
                msg_id=str(70_000 + i * 100 + n),
                from_user=user,
                create_time=1_700_000_000 + n,
            )
            assert await _post(h, url, xml) == (200, "success")

    # Worker A's texts are slow: without the order across workers B would overtake A.
    recording.slow = {f"{u}:{n}" for u in people for n in range(1, per, 2)}
    await asyncio.gather(*(fire(i, u) for i, u in enumerate(people)))
    await _until(lambda: _done(h, len(people) * per))
    await h.channel.idle()
    await second.channel.idle()
    for user in people:
        mine = [text for text in recording.done if text.startswith(f"{user}:")]
        assert mine == [f"{user}:{n}" for n in range(per)]
