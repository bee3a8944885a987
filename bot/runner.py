"""``xinfang run``: one aiohttp server for every HTTP endpoint, the channels, the outbox
delivery worker and the deadline scheduler (both led by one process when several share a
PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import Channel
from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.scheduler import Scheduler

__all__ = ["build_channels", "build_web_app", "run_service"]

log = logging.getLogger(__name__)

# An arbitrary constant naming the delivery leadership lock on PostgreSQL.
DELIVERY_LOCK = 0x58494E46


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


def build_web_app(channels: list[Channel]) -> web.Application:
    """The shared aiohttp application with every channel's routes."""

    async def no_server_header(request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp names itself and the Python version: a gift to whoever matches exploits.
        response.headers.popall("Server", None)

    app = web.Application(middlewares=[_errors], client_max_size=25 * 1024 * 1024)
    app.on_response_prepare.append(no_server_header)
    app.router.add_get("/healthz", _health(channels))
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
) -> None:
    if engine.dialect.name != "postgresql":
        await _lead(worker, scheduler, stop)  # the embedded database serves one process
        return
    async with engine.connect() as conn:
        while not stop.is_set():
            query = text("SELECT pg_try_advisory_lock(:key)")
            leader = (await conn.execute(query, {"key": DELIVERY_LOCK})).scalar()
            await conn.commit()
            if leader:
                log.info("this process delivers the outbox and runs the scheduler")
                try:
                    await _lead(worker, scheduler, stop)
                finally:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": DELIVERY_LOCK}
                    )
                    await conn.commit()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)


async def run_service(
    container: Container,
    channels: list[Channel],
    stop: asyncio.Event | None = None,
    *,
    started: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``) and shut down cleanly.

    ``started`` is called with the server's addresses (``http://host:port``) once it
    listens, which tells the real port when ``XINFANG_HTTP_PORT`` is 0.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    settings = container.settings
    app = build_web_app(channels)
    runner = web.AppRunner(app, access_log=None)  # access logs would hold callback queries
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("HTTP server on %s:%s", settings.http_host, settings.http_port)
    if started is not None:
        started([_url(address) for address in runner.addresses])
    worker = DeliveryWorker(
        container.uow,
        container.translator.t,
        {c.name: c.sender for c in channels},
        container.services.clock,
        admin_locale=settings.default_locale,
    )
    for channel in channels:
        if hasattr(channel, "worker"):
            channel.worker = worker  # lets the channel wake delivery after each update
    started: list[Channel] = []
    try:
        for channel in channels:
            await channel.start()
            started.append(channel)
        scheduler = Scheduler(container.uow, container.services, container.services.clock)
        await _deliver_as_leader(container.engine, worker, stop, scheduler)
    finally:
        for channel in reversed(started):
            with contextlib.suppress(Exception):
                await channel.stop()
        await runner.cleanup()
