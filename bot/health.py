"""Readiness: ``/readyz`` says whether this process can do its work now.

``/healthz`` stays "the process is alive" (bot/runner.py). ``/readyz`` checks what the
service needs: the database answers ``SELECT 1`` within a short timeout, its schema is at
the newest migration, the delivery worker and the scheduler are looping (each beats a
:class:`Heartbeat` at every iteration) when this process is the leader, and no due outbox
row has waited past a threshold. The body names each check; the status is 200 or 503.

The body holds exception type names and row ids only: it may be read by a load balancer
or anyone who can reach the port, so no message text, address or identifier goes in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoff import FailureBurst
from storage.migrate import current_revision, head_revision
from storage.models import OutboxRow

__all__ = ["Heartbeat", "Leadership", "Loop", "Readiness", "readyz"]

# Seconds a probe result is reused: a flood of probes costs the database one query a second.
CACHE_SECONDS = 1.0


class Heartbeat:
    """When a loop last went round, and when it promised to go round again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last: float | None = None
        self.next_within = 0.0

    def beat(self, next_within: float) -> None:
        """The loop is alive; it will beat again within about ``next_within`` seconds."""
        self.last = self._clock()
        self.next_within = next_within

    def age(self) -> float | None:
        """Seconds since the last beat (None: never beat)."""
        return None if self.last is None else max(0.0, self._clock() - self.last)

    def stale(self, factor: float = 3.0, slack: float = 10.0) -> bool:
        """True when the loop missed its promise by far (or never beat)."""
        age = self.age()
        return age is None or age > factor * self.next_within + slack


@dataclass
class Leadership:
    """Whether this process delivers the outbox and runs the scheduler (bot/runner.py)."""

    # pending: not decided yet; leader; follower: another process holds the lock.
    state: str = "pending"

    @property
    def leader(self) -> bool:
        """True while this process leads."""
        return self.state == "leader"


@dataclass(frozen=True)
class Loop:
    """A leader's loop as readiness sees it: its heartbeat and its failure burst."""

    heartbeat: Heartbeat
    burst: FailureBurst | None = None


class Readiness:
    """The checks behind ``/readyz``."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        *,
        channels: Sequence[str],
        loops: dict[str, Loop],
        leadership: Leadership,
        stuck_after: timedelta = timedelta(minutes=10),
        timeout: float = 3.0,
        stale_factor: float = 3.0,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._channels = list(channels)
        self._loops = loops
        self._leadership = leadership
        self._stuck_after = stuck_after
        self._timeout = timeout
        self._stale_factor = stale_factor
        self._head = head_revision()  # the code's newest migration cannot change while running
        self._lock = asyncio.Lock()
        self._cached: tuple[float, bool, dict[str, Any]] | None = None

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Run every check (or reuse a result under a second old); return (ready, checks)."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1], self._cached[2]
            checks = await self._run()
            ready = all(c["ok"] for c in checks.values())
            self._cached = (time.monotonic(), ready, checks)
            return ready, checks

    async def _run(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        checks["database"] = await self._guard(self._database)
        reachable = checks["database"]["ok"]
        skipped = {"ok": False, "skipped": "database unreachable"}
        checks["migrations"] = await self._guard(self._migrations) if reachable else skipped
        for name, loop in self._loops.items():
            checks[name] = self._loop(loop)
        checks["outbox"] = await self._guard(self._outbox) if reachable else dict(skipped)
        return checks

    async def _guard(self, check: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(check(), timeout=self._timeout)
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {self._timeout:g} s"}
        except Exception as exc:  # the type only: messages may name hosts and users
            return {"ok": False, "error": type(exc).__name__}

    async def _database(self) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"ok": True}

    async def _migrations(self) -> dict[str, Any]:
        current = await current_revision(self._engine)
        if current != self._head:
            return {"ok": False, "revision": current, "expected": self._head}
        return {"ok": True, "revision": current}

    def _loop(self, loop: Loop) -> dict[str, Any]:
        if not self._leadership.leader:
            # Another process delivers and schedules; this one serves requests: ready.
            return {"ok": True, "status": "not leader", "leadership": self._leadership.state}
        age = loop.heartbeat.age()
        result: dict[str, Any] = {
            "ok": not loop.heartbeat.stale(self._stale_factor),
            "last_beat_s": None if age is None else round(age, 1),
        }
        if loop.burst is not None and loop.burst.failing:
            # Said, not judged: the database check names the cause of most failures, and a
            # loop that keeps failing with the database up leaves the outbox stuck.
            result["failing"] = {
                "failures": loop.burst.failures,
                "for_s": round(loop.burst.failing_for(), 1),
                "error": loop.burst.last_error,
            }
        return result

    async def _outbox(self) -> dict[str, Any]:
        # The oldest due row of the configured channels that nobody delivered: with the
        # (status, next_attempt_at) index this is one probe, whatever the table's size.
        now = self._clock()
        query = (
            select(OutboxRow.id, OutboxRow.next_attempt_at)
            .where(
                OutboxRow.status == "pending",
                OutboxRow.channel.in_(self._channels),
                OutboxRow.next_attempt_at <= now - self._stuck_after,
            )
            .order_by(OutboxRow.next_attempt_at)
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return {"ok": True}
        waited = (now - row.next_attempt_at).total_seconds()
        return {"ok": False, "stuck_row": row.id, "due_for_s": round(waited)}


def readyz(readiness: Readiness) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/readyz`` handler: 200 when every check passes, else 503; the body names each."""

    async def handler(_request: web.Request) -> web.Response:
        ready, checks = await readiness.check()
        return web.json_response({"ok": ready, "checks": checks}, status=200 if ready else 503)

    return handler
