"""The deadline scheduler: reminders, overdue alerts, automatic closing, follow-ups, the
daily digest, and housekeeping (expired conversations, old processed updates).

It runs inside ``xinfang run`` beside the outbox delivery worker and under the same
leadership (one process when several share a PostgreSQL). Its state is the database:
the ``notices`` table says what was sent, so a pass after downtime sends what fell due
meanwhile exactly once. Tests call :meth:`Scheduler.run_once` with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.scheduling import process_case, send_digest
from handlers.services import Services
from petitions.deadlines import OFFICE_DEADLINE_STATES, WINDOW_STATES
from petitions.roles import Role
from storage.uow import UnitOfWorkFactory

__all__ = ["PassResult", "Scheduler"]

log = logging.getLogger(__name__)

# Platforms retry an update for minutes; a day is far beyond any retry.
PROCESSED_TTL = timedelta(days=1)
# The longest throttling window (web sign-in); rate-limit rows older than this are purged.
LIMIT_TTL = timedelta(minutes=15)


@dataclass
class PassResult:
    """What one pass did."""

    sent: Counter[str] = field(default_factory=Counter)
    digest: bool = False
    purged_conversations: int = 0
    purged_updates: int = 0
    purged_limits: int = 0
    erased_contacts: int = 0
    failed: int = 0


class Scheduler:
    """Periodic passes over the cases; each case in its own transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        services: Services,
        clock: Callable[[], datetime],
        *,
        interval: float = 60.0,
    ) -> None:
        self._uow = uow
        self._services = services
        self._clock = clock
        self._interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        """Run a pass at once (catch-up after downtime), then every ``interval`` seconds."""
        while not stop.is_set():
            try:
                result = await self.run_once(self._clock())
                if result.sent or result.digest:
                    log.info("scheduler: %s", dict(result.sent) | {"digest": result.digest})
            except Exception:  # keep scheduling; what was not claimed is tried next pass
                log.exception("scheduler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

    async def run_once(self, now: datetime) -> PassResult:
        """Do everything that is due at ``now``."""
        result = PassResult()
        cfg = self._services.config
        # Working days are never fewer than calendar days: this cut-off finds every case
        # whose follow-up may be due; petitions.schedule decides exactly.
        closed_before = (
            now - timedelta(days=cfg.policy.followup_days) if cfg.schedule.follow_up else None
        )
        async with self._uow() as uow:
            ids = await uow.cases.schedule_ids(
                sorted(OFFICE_DEADLINE_STATES | WINDOW_STATES), closed_before
            )
        for case_id in ids:
            try:
                async with self._uow() as uow:
                    kinds = await process_case(uow, self._services, case_id, now)
                    await uow.commit()
            except Exception:
                log.exception("scheduler: case %s failed", case_id)
                result.failed += 1
                continue
            result.sent.update(k.split(":", 1)[0] for k in kinds)
        async with self._uow() as uow:
            result.digest = await send_digest(uow, self._services, now)
            await uow.commit()
        async with self._uow() as uow:
            result.purged_conversations = await uow.conversations.purge_expired(now)
            result.purged_updates = await uow.processed.purge(now - PROCESSED_TTL)
            await uow.web.purge_sessions(now)
            # Every throttling window in use is at most this long (tracking codes, sign-in).
            result.purged_limits = await uow.limits.purge(
                now - max(cfg.tracking_window, LIMIT_TTL)
            )
            await uow.commit()
        result.erased_contacts = await self._erase_contacts(now)
        return result

    async def _erase_contacts(self, now: datetime) -> int:
        """Erase the push addresses whose keep time has passed (closed and followed up)."""
        erased = 0
        while True:
            async with self._uow() as uow:
                ids = await uow.cases.erase_contacts(now)
                for case_id in ids:
                    await uow.audit.add(now, Role.SYSTEM, "case.contact_erased", case_id=case_id)
                await uow.commit()
            erased += len(ids)
            if len(ids) < 500:
                return erased
