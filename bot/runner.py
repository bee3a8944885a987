"""``xinfang run``: one aiohttp server for every HTTP endpoint, the channels, the outbox
delivery worker and the deadline scheduler (both led by one process when several share a
PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.backoff import FailureBurst
from bot.channels import Channel
from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.health import Leadership, Loop, Readiness, readyz
from bot.heap import settle
from bot.metrics import Metrics, count_updates
from bot.scheduler import Scheduler
from storage.lock import service_lock

__all__ = ["build_channels", "build_web_app", "run_service"]

log = logging.getLogger(__name__)

# An arbitrary constant naming the delivery leadership lock on PostgreSQL.
DELIVERY_LOCK = 0x58494E46
# How often the leader checks that the connection holding the lock is still there, and a
# follower tries to take the lock.
LOCK_CHECK_SECONDS = 5.0


class LeadershipLost(Exception):  # noqa: N818 - a signal, raised to contend again
    """The connection holding the leadership lock went away (the database restarted)."""


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # One place that turns unexpected failures into a bare 500: no traceback, body or
    # query string (which may carry signatures) reaches the client or the log line.
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.Response(status=500, text="internal error")


def _health(channels: list[Channel]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """200 while every channel works; 503 naming the channels that stopped for good (a
    revoked bot token, say), so a supervisor or monitor sees what the log says."""

    async def health(_request: web.Request) -> web.Response:
        problems = {c.name: p for c in channels if (p := getattr(c, "problem", None))}
        if problems:
            return web.json_response({"ok": False, "problems": problems}, status=503)
        return web.json_response({"ok": True})

    return health


def build_web_app(
    channels: list[Channel],
    *,
    readiness: Readiness | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """The shared aiohttp application with every channel's routes, ``/healthz``, and
    ``/readyz`` and ``/metrics`` when given what they report on."""

    async def no_server_header(request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp names itself and the Python version: a gift to whoever matches exploits.
        response.headers.popall("Server", None)

    # The latency middleware comes first so that it times the error middleware too.
    middlewares: list[Middleware] = [_errors]
    if metrics is not None:
        middlewares.insert(0, metrics.middleware)
    app = web.Application(middlewares=middlewares, client_max_size=25 * 1024 * 1024)
    app.on_response_prepare.append(no_server_header)
    app.router.add_get("/healthz", _health(channels))
    if readiness is not None:
        app.router.add_get("/readyz", readyz(readiness))
    if metrics is not None:
        app.router.add_get("/metrics", metrics.handler())
    for channel in channels:
        channel.add_routes(app)
    return app


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}"


def build_channels(container: Container) -> list[Channel]:
    """Create the configured channels."""
    channels: list[Channel] = []
    settings = container.settings
    if settings.telegram is not None:
        from bot.telegram import TelegramChannel

        channels.append(TelegramChannel(container, settings.telegram))
    if settings.wecom is not None:
        from bot.wecom.channel import WeComChannel

        channels.append(WeComChannel(container, settings.wecom))
    if settings.web is not None:
        from bot.web import WebChannel

        channels.append(WebChannel(container, settings.web))
    return channels


async def _lead(worker: DeliveryWorker, scheduler: Scheduler | None, stop: asyncio.Event) -> None:
    # The leader delivers the outbox and runs the scheduler; what the scheduler queues is
    # delivered by the same worker.
    if scheduler is None:
        await worker.run(stop)
        return
    await asyncio.gather(worker.run(stop), scheduler.run(stop))


async def _deliver_as_leader(
    engine: AsyncEngine,
    worker: DeliveryWorker,
    stop: asyncio.Event,
    scheduler: Scheduler | None = None,
    leadership: Leadership | None = None,
    *,
    check_every: float = LOCK_CHECK_SECONDS,
) -> None:
    leadership = leadership if leadership is not None else Leadership()
    if engine.dialect.name != "postgresql":
        leadership.state = "leader"
        await _lead(worker, scheduler, stop)  # the embedded database serves one process
        return
    # The lock lives as long as its connection: when the database restarts, the lock is
    # gone and another process may take it. So the leader watches its connection and
    # steps down when it breaks; everyone contends again, with backoff while it is down.
    burst = FailureBurst(log, "leadership lock", base=1.0, cap=30.0)
    while not stop.is_set():
        try:
            async with engine.connect() as conn:
                await _contend(conn, worker, scheduler, stop, leadership, burst, check_every)
        except Exception as exc:
            leadership.state = "pending"
            wait = burst.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


async def _contend(
    conn: AsyncConnection,
    worker: DeliveryWorker,
    scheduler: Scheduler | None,
    stop: asyncio.Event,
    leadership: Leadership,
    burst: FailureBurst,
    check_every: float,
) -> None:
    while not stop.is_set():
        query = text("SELECT pg_try_advisory_lock(:key)")
        leader = (await conn.execute(query, {"key": DELIVERY_LOCK})).scalar()
        await conn.commit()
        burst.succeeded()
        if leader:
            leadership.state = "leader"
            log.info("this process delivers the outbox and runs the scheduler")
            try:
                await _lead_while_held(conn, worker, scheduler, stop, check_every)
            finally:
                leadership.state = "pending"
            with contextlib.suppress(Exception):  # the lock goes with the connection anyway
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": DELIVERY_LOCK})
                await conn.commit()
            return
        leadership.state = "follower"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=check_every)


async def _lead_while_held(
    conn: AsyncConnection,
    worker: DeliveryWorker,
    scheduler: Scheduler | None,
    stop: asyncio.Event,
    check_every: float,
) -> None:
    """Lead until ``stop``, or until the lock's connection breaks (then LeadershipLost)."""
    step_down = asyncio.Event()
    lost: list[BaseException] = []

    async def forward_stop() -> None:
        await stop.wait()
        step_down.set()

    async def watch() -> None:
        while not step_down.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(step_down.wait(), timeout=check_every)
                return
            try:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=check_every)
                await conn.commit()
            except Exception as exc:
                lost.append(exc)
                step_down.set()

    tasks = [asyncio.create_task(forward_stop()), asyncio.create_task(watch())]
    try:
        await _lead(worker, scheduler, step_down)
    finally:
        step_down.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if lost and not stop.is_set():
        raise LeadershipLost(
            "the connection holding it broke; delivery and the scheduler pause until this "
            "or another process wins it again"
        ) from lost[0]


async def run_service(
    container: Container,
    channels: list[Channel],
    stop: asyncio.Event | None = None,
    *,
    started: Callable[[list[str]], None] | None = None,
    scheduler_interval: float = 60.0,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``) and shut down cleanly.

    ``started`` is called with the server's addresses (``http://host:port``) once it
    listens, which tells the real port when ``XINFANG_HTTP_PORT`` is 0.
    """
    stop = stop or asyncio.Event()
    # Held shared while serving: key rotation and restore take it exclusively, so they
    # refuse while the service runs, and the service refuses to start during them.
    held = contextlib.AsyncExitStack()
    await held.enter_async_context(service_lock(container.engine, exclusive=False))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    settings = container.settings
    clock = container.services.clock
    worker = DeliveryWorker(
        container.uow,
        container.translator.t,
        {c.name: c.sender for c in channels},
        clock,
        admin_locale=settings.default_locale,
        notices=container.notices,
    )
    scheduler = Scheduler(
        container.uow,
        container.services,
        clock,
        interval=scheduler_interval,
        retention=container.settings.retention,  # the running service purges on schedule
    )
    leadership = Leadership()
    readiness = Readiness(
        container.engine,
        clock,
        channels=[c.name for c in channels],
        loops={
            "delivery": Loop(worker.heartbeat, worker.burst),
            "scheduler": Loop(scheduler.heartbeat, scheduler.burst),
        },
        leadership=leadership,
        stuck_after=timedelta(minutes=settings.ready_outbox_minutes),
    )
    metrics: Metrics | None = None
    if settings.metrics:
        updates: Counter[tuple[str, str]] = Counter()
        count_updates([container, *channels], updates)
        metrics = Metrics(
            container.engine,
            clock,
            token=settings.metrics_token,
            channels=[c.name for c in channels],
            worker=worker,
            scheduler=scheduler,
            bursts={"delivery": worker.burst, "scheduler": scheduler.burst},
            updates=updates,
        )
    app = build_web_app(channels, readiness=readiness, metrics=metrics)
    runner = web.AppRunner(app, access_log=None)  # access logs would hold callback queries
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("HTTP server on %s:%s", settings.http_host, settings.http_port)
    if started is not None:
        started([_url(address) for address in runner.addresses])
    for channel in channels:
        if hasattr(channel, "worker"):
            channel.worker = worker  # lets the channel wake delivery after each update
    running: list[Channel] = []
    try:
        for channel in channels:
            await channel.start()
            running.append(channel)
        settle()  # start-up's objects out of the garbage collector's walks (bot/heap.py)
        await _deliver_as_leader(container.engine, worker, stop, scheduler, leadership)
    finally:
        for channel in reversed(running):
            with contextlib.suppress(Exception):
                await channel.stop()
        await runner.cleanup()
        await held.aclose()
