"""Prometheus metrics at ``/metrics`` (``XINFANG_METRICS=true``), with prometheus-client.

Each application gets its own ``CollectorRegistry`` (tests build several apps; the global
registry would mix them). Figures that live in the running objects (deliveries by result,
updates handled, 429s, the loops' failures, the scheduler's last pass) are read when
scraped; the outbox and the cases are counted then by two cheap queries (an index range for
the pending rows, one GROUP BY for the states). Request latency is a histogram filled by an
aiohttp middleware and labelled by the route's pattern, never by the raw path or query.

No label ever carries a chat id, user id, case number or tracking code: labels are channel
names, result and state names from fixed sets, route patterns, methods and status codes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoff import FailureBurst
from handlers.inbound import Inbound, Reply
from handlers.router import Handlers
from petitions.states import CaseState
from storage.models import CaseRow, OutboxRow

__all__ = [
    "CHANNELS",
    "CountedHandlers",
    "Metrics",
    "count_throttled",
    "count_updates",
    "throttled",
]

log = logging.getLogger(__name__)

CHANNELS = ("telegram", "wecom", "web", "console")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATES = frozenset(s.value for s in CaseState)
_RESULTS = ("sent", "retried", "unreachable", "failed")

# 429s (and WeCom's frequency-limit errcodes) per platform since the process started. The
# senders and clients that meet them have no app at hand, so they count here and every
# app's collector reads the figure when scraped.
_THROTTLED: Counter[str] = Counter()


def count_throttled(channel: str) -> None:
    """Count one "too many requests" answer from a platform (Telegram 429, WeCom 45009)."""
    _THROTTLED[channel if channel in CHANNELS else "other"] += 1


def throttled() -> dict[str, int]:
    """The 429s counted so far, per channel."""
    return dict(_THROTTLED)


def _channel(name: str) -> str:
    return name if name in CHANNELS else "other"


class CountedHandlers(Handlers):
    """The handlers of a channel, counting each inbound event by channel and outcome."""

    def __init__(self, inner: Handlers, counts: Counter[tuple[str, str]]) -> None:
        super().__init__(inner.services)
        self.inner = inner
        self.counts = counts

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle through the wrapped handlers and count the outcome."""
        try:
            replies = await self.inner.handle(inbound)
        except Exception:
            self.counts[(_channel(inbound.channel), "error")] += 1
            raise
        self.counts[(_channel(inbound.channel), "handled")] += 1
        return replies


def count_updates(owners: Iterable[Any], counts: Counter[tuple[str, str]]) -> None:
    """Wrap the ``handlers`` of each owner (the container, a channel with its own) once."""
    for owner in owners:
        current = getattr(owner, "handlers", None)
        if isinstance(current, Handlers) and not isinstance(current, CountedHandlers):
            owner.handlers = CountedHandlers(current, counts)


class _Snapshot(Collector):
    """Reads the live figures and the last database snapshot when the registry is scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        updates = CounterMetricFamily(
            "xinfang_updates",
            "Inbound events handled, by channel and outcome.",
            labels=["channel", "result"],
        )
        for (channel, result), value in sorted(m.updates.items()):
            updates.add_metric([channel, result], value)
        yield updates
        if m.worker is not None:
            deliveries = CounterMetricFamily(
                "xinfang_deliveries", "Outbox rows by delivery result.", labels=["result"]
            )
            for result in _RESULTS:
                deliveries.add_metric([result], getattr(m.worker.stats, result, 0))
            yield deliveries
        limited = CounterMetricFamily(
            "xinfang_rate_limited",
            "Answers asking to slow down (Telegram 429, WeCom 45009/45033/HTTP 429).",
            labels=["channel"],
        )
        for channel, value in sorted(throttled().items()):
            limited.add_metric([channel], value)
        yield limited
        failures = GaugeMetricFamily(
            "xinfang_loop_failures",
            "Consecutive failures of a background loop (0 while it works).",
            labels=["loop"],
        )
        for name, burst in m.bursts.items():
            failures.add_metric([name], burst.failures)
        yield failures
        yield from self._scheduler()
        yield from self._database()

    def _scheduler(self) -> Iterator[Metric]:
        scheduler = self._m.scheduler
        if scheduler is None:
            return
        duration = getattr(scheduler, "last_pass_seconds", None)
        ended = getattr(scheduler, "last_pass_at", None)
        if duration is not None:
            yield GaugeMetricFamily(
                "xinfang_scheduler_last_pass_seconds",
                "How long the last successful scheduler pass took.",
                value=duration,
            )
        if ended is not None:
            # The lag: how long ago the last successful pass ended; it grows past the
            # interval when passes fail or take too long.
            yield GaugeMetricFamily(
                "xinfang_scheduler_lag_seconds",
                "Seconds since the last successful scheduler pass ended.",
                value=max(0.0, time.monotonic() - ended),
            )

    def _database(self) -> Iterator[Metric]:
        snap = self._m.snapshot
        yield GaugeMetricFamily(
            "xinfang_metrics_database_up",
            "1 when the database answered the metrics queries at this scrape, else 0.",
            value=1 if snap is not None else 0,
        )
        if snap is None:
            return
        depth = GaugeMetricFamily(
            "xinfang_outbox_pending", "Outbox rows waiting to be delivered.", labels=["channel"]
        )
        age = GaugeMetricFamily(
            "xinfang_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row waiting to be delivered.",
            labels=["channel"],
        )
        for channel, (count, oldest) in sorted(snap["outbox"].items()):
            depth.add_metric([channel], count)
            age.add_metric([channel], oldest)
        yield depth
        yield age
        cases = GaugeMetricFamily("xinfang_cases", "Cases by state.", labels=["state"])
        for state, count in sorted(snap["cases"].items()):
            cases.add_metric([state], count)
        yield cases


class Metrics:
    """One application's metrics: its registry, the latency middleware and ``/metrics``."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        *,
        token: str | None = None,
        channels: Iterable[str] = (),
        worker: Any = None,
        scheduler: Any = None,
        bursts: dict[str, FailureBurst] | None = None,
        updates: Counter[tuple[str, str]] | None = None,
        timeout: float = 3.0,
    ) -> None:
        """``worker`` is the DeliveryWorker (its ``stats``), ``scheduler`` the Scheduler
        (its last pass), ``bursts`` the loops' failure bursts by loop name; the outbox
        gauges show 0 for each of ``channels`` with nothing pending (not a missing series)."""
        self._engine = engine
        self._clock = clock
        self._token = token.encode() if token else None
        self._channels = [_channel(c) for c in channels]
        self.worker = worker
        self.scheduler = scheduler
        self.bursts = dict(bursts or {})
        self.updates: Counter[tuple[str, str]] = updates if updates is not None else Counter()
        self._timeout = timeout
        self.snapshot: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "xinfang_http_request_duration_seconds",
            "HTTP request latency by route pattern, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.registry.register(_Snapshot(self))

    @property
    def middleware(self) -> Middleware:
        """An aiohttp middleware timing every request (put it first: it times the rest)."""

        @web.middleware
        async def timed(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                method = request.method if request.method in _METHODS else "other"
                self.latency.labels(_route(request), method, str(status)).observe(
                    time.perf_counter() - started
                )

        return timed

    async def refresh(self) -> None:
        """Count the pending outbox rows and the cases by state (one query each)."""
        async with self._lock:
            try:
                self.snapshot = await asyncio.wait_for(self._query(), timeout=self._timeout)
            except Exception as exc:  # the scrape still shows the live figures
                log.debug("metrics queries failed: %s", type(exc).__name__)
                self.snapshot = None

    async def _query(self) -> dict[str, Any]:
        now = self._clock()
        pending = (
            select(OutboxRow.channel, func.count(), func.min(OutboxRow.created_at))
            .where(OutboxRow.status == "pending")
            .group_by(OutboxRow.channel)
        )
        states = select(CaseRow.state, func.count()).group_by(CaseRow.state)
        outbox: dict[str, tuple[int, float]] = {c: (0, 0.0) for c in self._channels}
        cases: Counter[str] = Counter()
        async with self._engine.connect() as conn:
            for channel, count, oldest in (await conn.execute(pending)).all():
                if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no zone
                    oldest = oldest.replace(tzinfo=now.tzinfo)
                age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
                key = _channel(channel)
                before = outbox.get(key, (0, 0.0))
                outbox[key] = (before[0] + count, max(before[1], age))
            for state, count in (await conn.execute(states)).all():
                cases[state if state in _STATES else "other"] += count
        return {"outbox": outbox, "cases": dict(cases)}

    def handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The ``/metrics`` handler (a Bearer token when one is configured)."""

        async def metrics(request: web.Request) -> web.Response:
            if self._token is not None and not _authorized(request, self._token):
                return web.Response(
                    status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"}
                )
            await self.refresh()
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return metrics


def _authorized(request: web.Request, token: bytes) -> bool:
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, b"Bearer " + token)


def _route(request: web.Request) -> str:
    # The pattern (/api/cases/{id}), never the path: paths and queries may carry ids and
    # signatures, and every distinct value would be a new time series.
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical
