"""The deadline scheduler: reminders, overdue alerts, automatic closing, follow-ups, the
daily digest, the day-before reminders of 领导接访 (handlers/reception.py), housekeeping
(expired conversations, old processed updates), the retention purge when the service
passes its periods (bot/retention.py), and the early warning's daily scan for clusters
and spikes (handlers/warnings.py).

It runs inside ``xinfang run`` beside the outbox delivery worker and under the same
leadership (one process when several share a PostgreSQL). Its state is the database:
the ``notices`` table says what was sent, so a pass after downtime sends what fell due
meanwhile exactly once. Tests call :meth:`Scheduler.run_once` with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from bot.backoff import FailureBurst
from bot.health import Heartbeat
from bot.retention import purge_due
from bot.settings import RetentionSettings
from bot.warnings import WarningIndex
from handlers.reception import send_due_reminders
from handlers.reception_text import REMINDER as RECEPTION_REMINDER
from handlers.scheduling import process_case, send_digest
from handlers.services import Services
from handlers.warnings import scan as warnings_scan
from petitions.deadlines import DeadlinePolicy
from petitions.roles import Role
from petitions.schedule import SchedulePolicy, digest_key
from storage.uow import UnitOfWorkFactory

__all__ = ["PassResult", "Scheduler"]

log = logging.getLogger(__name__)

# Platforms retry an update for minutes; a day is far beyond any retry.
PROCESSED_TTL = timedelta(days=1)
# The longest throttling window (web sign-in); rate-limit rows older than this are purged.
LIMIT_TTL = timedelta(minutes=15)
# Cases failing one after another in a pass mean the database, not the cases, is failing.
FAILURES_IN_A_ROW = 3
# Cases read from the next-notice index at a time (each is then handled on its own).
DUE_BATCH = 200
# Cases marked per transaction when the configuration changed.
RECHECK_BATCH = 2000


def schedule_fingerprint(policy: DeadlinePolicy, schedule: SchedulePolicy) -> str:
    """A short digest of what decides the next-notice times, stable across restarts.

    The day counts and the kind of policy, not a working-day calendar's object (its repr
    may differ per process); a new holiday list shifts no stored deadline, only the
    follow-up's day, which the pass after the change of a case computes anew anyway.
    """
    days = {f.name: getattr(policy, f.name) for f in fields(DeadlinePolicy)}
    text = f"{type(policy).__qualname__}{sorted(days.items())}{schedule!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class PassResult:
    """What one pass did."""

    sent: Counter[str] = field(default_factory=Counter)
    digest: bool = False
    purged_conversations: int = 0
    purged_updates: int = 0
    purged_limits: int = 0
    erased_contacts: int = 0
    purged_cases: int = 0  # content destroyed under the retention period (bot/retention.py)
    purged_outbox: int = 0
    failed: int = 0
    warning_alerts: int = 0  # early-warning alerts queued by the daily scan


class Scheduler:
    """Periodic passes over the cases that are due (``cases.next_notice_at``); each case
    in its own transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        services: Services,
        clock: Callable[[], datetime],
        *,
        interval: float = 60.0,
        retention: RetentionSettings | None = None,
    ) -> None:
        self._uow = uow
        self._services = services
        self._clock = clock
        self._interval = interval
        # None: no retention purge (only the service passes the configured periods, so a
        # test or tool never destroys content under periods nobody chose).
        self._retention = retention
        # For /readyz and /metrics (set by run): the loop's heartbeat, its failure burst,
        # and the last successful pass (duration, monotonic end time).
        self.heartbeat = Heartbeat()
        # A failed pass is retried sooner than the interval at first (5 s, 10 s, ...), never
        # more often than that, and logged once per burst.
        self.burst = FailureBurst(log, "scheduler pass", base=min(5.0, interval), cap=interval)
        self.last_pass_seconds: float | None = None
        self.last_pass_at: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run a pass at once (catch-up after downtime), then every ``interval`` seconds."""
        while not stop.is_set():
            # A pass that runs past a few intervals shows as a stale heartbeat in /readyz.
            self.heartbeat.beat(self._interval)
            started = time.monotonic()
            try:
                now = self._clock()
                result = await self.run_once(now)
                result.warning_alerts = await self.early_warning(now)
                if result.sent or result.digest:
                    log.info("scheduler: %s", dict(result.sent) | {"digest": result.digest})
            except Exception as exc:  # keep scheduling; what was not claimed is tried next pass
                wait = self.burst.failed(exc)
            else:
                self.burst.succeeded()
                self.last_pass_at = time.monotonic()
                self.last_pass_seconds = self.last_pass_at - started
                wait = self._interval
            self.heartbeat.beat(wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def run_once(self, now: datetime) -> PassResult:
        """Do everything that is due at ``now``."""
        result = PassResult()
        cfg = self._services.config
        await self._recheck_if_reconfigured(now)
        await self._due_cases(now, result)
        # 领导接访: the day-before reminders, by their own index (handlers/reception.py).
        reminded = await send_due_reminders(self._uow, now)
        if reminded:
            result.sent[RECEPTION_REMINDER] += reminded
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
        if self._retention is not None:
            purged = await purge_due(self._uow, self._retention, now)
            result.purged_cases, result.purged_outbox = purged.cases, purged.outbox
        return result

    async def early_warning(self, now: datetime) -> int:
        """四早 (handlers/warnings.py), after each pass of :meth:`run`: build the similarity
        index at start (in the background), then once a day, at the digest's hour, forget
        what left the window and scan for clusters and spikes; returns the alerts queued.
        Apart from :meth:`run_once`, whose cost stays that of what is due: the build reads
        the window's petitions once, the scan the last two weeks' once a day."""
        index = self._services.warnings
        if not isinstance(index, WarningIndex):
            return 0
        index.start()
        day = digest_key(now, self._services.config.schedule)
        if not index.ready or day is None:
            return 0  # a later pass scans once the index is built
        async with self._uow() as uow:
            claimed = await uow.notices.claim("all", "warnings_scan", day.isoformat(), now)
            await uow.commit()
        if not claimed:
            return 0
        # Claimed first: a scan that fails is not retried every pass (the next day's scan
        # finds the same clusters, and alerts what it has not alerted yet).
        try:
            await index.prune()
            found = await warnings_scan(self._services, now)
        except Exception:
            log.exception("scheduler: the early-warning scan failed")
            return 0
        if found.alerted_clusters or found.alerted_spikes:
            log.info(
                "early warning: %d cluster and %d spike alert(s) queued",
                found.alerted_clusters,
                found.alerted_spikes,
            )
        return found.alerted_clusters + found.alerted_spikes

    async def _due_cases(self, now: datetime, result: PassResult) -> None:
        """Look at every case whose next-notice time has come, in batches read from the
        index; each case in its own short transaction, other work running in between."""
        after: tuple[datetime, int] | None = None
        in_a_row = 0
        while True:
            async with self._uow() as uow:
                batch = await uow.cases.due_for_notice(now, after, DUE_BATCH)
            for _at, case_id in batch:
                try:
                    async with self._uow() as uow:
                        kinds = await process_case(uow, self._services, case_id, now)
                        await uow.commit()
                except Exception:  # its time stays due: the next pass tries it again
                    result.failed += 1
                    in_a_row += 1
                    if in_a_row == 1:
                        log.exception("scheduler: case %s failed", case_id)
                    if in_a_row >= FAILURES_IN_A_ROW:
                        # Not this case but the database: end the pass and let the run
                        # loop's backoff log one line per outage instead of a traceback
                        # per case.
                        raise
                    continue
                in_a_row = 0
                result.sent.update(k.split(":", 1)[0] for k in kinds)
            if len(batch) < DUE_BATCH:
                return
            # Keyset, not "what is still due": a case that failed keeps its due time and
            # must not be picked again in this pass.
            after = batch[-1]

    async def _recheck_if_reconfigured(self, now: datetime) -> None:
        """After a change of the reminder points, follow-ups or deadline policy, make every
        case that may owe a notice due now, so each gets its time under the new rules."""
        cfg = self._services.config
        fingerprint = schedule_fingerprint(cfg.policy, cfg.schedule)
        async with self._uow() as uow:
            if await uow.cases.schedule_fingerprint() == fingerprint:
                return
        last = 0
        while True:  # short transactions; the fingerprint is stored only when all are done
            async with self._uow() as uow:
                done = await uow.cases.recheck_batch(now, last, RECHECK_BATCH)
                await uow.commit()
            if done is None:
                break
            last = done
        async with self._uow() as uow:
            await uow.cases.set_schedule_fingerprint(fingerprint, now)
            await uow.commit()
        log.info("scheduler: configuration changed, every case is looked at again")

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
