"""``/readyz`` and ``/metrics`` of the real service (``run_service`` with the web channel on
port 0): metrics off by default, behind a Bearer token when one is set, every named figure
after a petition went through, and no identifier anywhere in them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from telegram.error import RetryAfter

from bot.channels import Delivery, RetryLater
from bot.container import Container, build_container
from bot.health import Heartbeat, Leadership, Loop, Readiness
from bot.metrics import throttled
from bot.runner import build_channels, run_service
from bot.settings import load_settings
from bot.telegram.sender import TelegramSender
from bot.wecom.client import WeComClient
from handlers.inbound import Reply
from storage.vault import Keyring
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.flow import file_petition

CHAT = "8123456789"
TOKEN = "metrics-token-3f9c"


@dataclass
class Service:
    base: str
    container: Container
    http: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, headers=headers) as resp:
            return resp.status, await resp.text()


@asynccontextmanager
async def service(
    tmp_path: Path, database_url: str, keyring: Keyring, clock: FakeClock, **env: str
) -> AsyncIterator[Service]:
    settings = load_settings(
        {
            "XINFANG_DATA_DIR": str(tmp_path / "data"),
            "XINFANG_DATABASE_URL": database_url,
            "XINFANG_KEYRING_FILE": str(tmp_path / "keys" / "keyring.json"),
            "XINFANG_WEB": "true",
            "XINFANG_HTTP_PORT": "0",
            **env,
        }
    )
    container = await build_container(settings, keyring=keyring, clock=clock)
    channels = build_channels(container)
    stop = asyncio.Event()
    addresses: list[str] = []
    task = asyncio.create_task(
        run_service(container, channels, stop, started=addresses.extend, scheduler_interval=0.5)
    )
    try:
        while not addresses:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as http:
            yield Service(addresses[0], container, http)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await container.close()


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition, or None when it is not there."""
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


async def until(check: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if await check():  # type: ignore[misc]
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_metrics_are_off_by_default_and_readyz_names_each_check(
    tmp_path, database_url, keys, clock
):
    async with service(tmp_path, database_url, keys[0], clock) as svc:
        assert (await svc.get("/metrics"))[0] == 404
        assert (await svc.get("/healthz"))[0] == 200

        async def ready() -> bool:
            return (await svc.get("/readyz"))[0] == 200

        await until(ready)
        async with svc.http.get(svc.base + "/readyz") as resp:
            body = await resp.json()
        assert body["ok"] is True
        assert set(body["checks"]) == {"database", "migrations", "delivery", "scheduler", "outbox"}
        assert body["checks"]["delivery"]["ok"] and body["checks"]["scheduler"]["ok"]


async def test_metrics_with_a_token_refuse_requests_without_it(
    tmp_path, database_url, keys, clock
):
    env = {"XINFANG_METRICS": "true", "XINFANG_METRICS_TOKEN": TOKEN}
    async with service(tmp_path, database_url, keys[0], clock, **env) as svc:
        status, _ = await svc.get("/metrics")
        assert status == 401
        assert (await svc.get("/metrics", Authorization="Bearer wrong"))[0] == 401
        assert (await svc.get("/metrics", Authorization=TOKEN))[0] == 401  # no scheme
        status, body = await svc.get("/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200 and "xinfang_cases" in body


async def test_metrics_after_a_petition_show_every_figure_and_no_identifier(
    tmp_path, database_url, keys, clock
):
    env = {"XINFANG_METRICS": "true"}
    async with service(tmp_path, database_url, keys[0], clock, **env) as svc:
        employee = ChatUser(svc.container.handlers, channel="web", chat_id=CHAT, sender_id=CHAT)
        filed = await file_petition(svc.container, employee)
        # Paths that carry identifiers are never labels (one route pattern or "unmatched").
        assert (await svc.get(f"/nope/{filed.number}?code={filed.code}&chat={CHAT}"))[0] == 404
        assert (await svc.get("/api/session"))[0] == 200
        body = ""

        async def delivered() -> bool:
            nonlocal body
            body = (await svc.get("/metrics"))[1]
            done = sum(
                sample(body, "xinfang_deliveries_total", result=r) or 0
                for r in ("sent", "unreachable")
            )
            return done > 0 and sample(body, "xinfang_scheduler_lag_seconds") is not None

        await until(delivered)
        handled = sample(body, "xinfang_updates_total", channel="web", result="handled")
        assert handled is not None and handled >= 5  # menu, category, text, evidence, ...
        assert sample(body, "xinfang_cases", state="registered") == 1
        assert sample(body, "xinfang_outbox_pending", channel="web") is not None
        assert sample(body, "xinfang_outbox_oldest_pending_seconds", channel="web") is not None
        assert sample(body, "xinfang_deliveries_total", result="failed") == 0
        assert sample(body, "xinfang_metrics_database_up") == 1
        assert sample(body, "xinfang_loop_failures", loop="delivery") == 0
        assert sample(body, "xinfang_scheduler_last_pass_seconds") is not None
        assert "# TYPE xinfang_rate_limited_total counter" in body
        assert (
            sample(
                body,
                "xinfang_http_request_duration_seconds_count",
                route="/api/session",
                method="GET",
                status="200",
            )
            == 1
        )
        assert sample(body, "xinfang_http_request_duration_seconds_count", route="unmatched")
        for secret in (CHAT, filed.number, filed.code, filed.code.replace("-", "")):
            assert secret not in body


async def test_a_due_outbox_row_waiting_past_the_threshold_makes_readyz_fail_naming_it(
    container: Container, clock: FakeClock
):
    await file_petition(container, ChatUser(container.handlers, chat_id=CHAT, sender_id=CHAT))
    heartbeat = Heartbeat()
    heartbeat.beat(60)

    def readiness(channels: list[str]) -> Readiness:
        return Readiness(
            container.engine,
            clock,
            channels=channels,
            loops={"delivery": Loop(heartbeat)},
            leadership=Leadership("leader"),
        )

    assert (await readiness(["telegram"]).check())[0] is True
    clock.advance(minutes=11)
    ready, checks = await readiness(["telegram"]).check()
    assert not ready and checks["outbox"]["ok"] is False
    assert isinstance(checks["outbox"]["stuck_row"], int)
    assert checks["outbox"]["due_for_s"] >= 600
    # Rows of a channel this process does not run are not its to deliver.
    assert (await readiness(["wecom"]).check())[0] is True


async def test_a_follower_is_ready_without_loops_and_a_leader_needs_fresh_heartbeats(
    container: Container, clock: FakeClock
):
    never = Heartbeat()
    leadership = Leadership("follower")
    check = Readiness(
        container.engine,
        clock,
        channels=["telegram"],
        loops={"delivery": Loop(never), "scheduler": Loop(never)},
        leadership=leadership,
    )
    ready, checks = await check.check()
    assert ready and checks["delivery"]["status"] == "not leader"
    leadership.state = "leader"
    check._cached = None  # the result is reused for a second
    ready, checks = await check.check()
    assert not ready and checks["delivery"] == {"ok": False, "last_beat_s": None}


async def test_a_database_behind_the_code_s_migrations_is_not_ready(
    container: Container, clock: FakeClock
):
    check = Readiness(
        container.engine, clock, channels=[], loops={}, leadership=Leadership("leader")
    )
    check._head = "a_newer_revision"
    ready, checks = await check.check()
    assert not ready and checks["migrations"]["expected"] == "a_newer_revision"


def test_a_stale_heartbeat_is_one_that_missed_its_promise_by_far():
    now = [100.0]
    beat = Heartbeat(clock=lambda: now[0])
    assert beat.stale()  # never beat
    beat.beat(next_within=0.5)
    now[0] += 11.0
    assert not beat.stale(factor=3, slack=10)
    now[0] += 1.0
    assert beat.stale(factor=3, slack=10)


class FloodedOutput:
    admin_chat_id = -1001

    async def send(self, *args: object, **kwargs: object) -> None:
        raise RetryAfter(7)


async def test_a_telegram_429_is_counted_for_the_metrics():
    before = throttled().get("telegram", 0)
    sender = TelegramSender(FloodedOutput(), lambda: True)  # type: ignore[arg-type]
    delivery = Delivery(1, "employee", "status", 1, CHAT, (Reply("x"),))
    with pytest.raises(RetryLater):
        await sender.send(delivery)
    assert throttled()["telegram"] == before + 1


async def test_a_wecom_frequency_limit_is_counted_for_the_metrics():
    from aiohttp import web

    answers = [{"errcode": 45009, "errmsg": "api freq out of limit"}, {"errcode": 0}]

    async def send(_request: web.Request) -> web.Response:
        return web.json_response(answers.pop(0))

    async def token(_request: web.Request) -> web.Response:
        return web.json_response({"errcode": 0, "access_token": "T", "expires_in": 7200})

    app = web.Application()
    app.router.add_post("/cgi-bin/message/send", send)
    app.router.add_get("/cgi-bin/gettoken", token)
    server = TestServer(app)
    await server.start_server()
    before = throttled().get("wecom", 0)

    async def no_sleep(_seconds: float) -> None:
        return None

    try:
        async with aiohttp.ClientSession() as http:
            client = WeComClient(
                http,
                corp_id="corp",
                secret="secret",
                agent_id=1,
                base_url=str(server.make_url("")),
                sleep=no_sleep,
            )
            await client.send_text("member", "hello")
    finally:
        await server.close()
    assert throttled()["wecom"] == before + 1
