"""The outbox delivery worker (DESIGN.md §6).

Rows are written by the handlers in the same transaction as the change that caused them.
The worker renders each due row, hands it to its channel's sender and records the result
in a transaction of its own: ``sent`` only after the platform accepted it; ``pending``
with a later ``next_attempt_at`` after 429/5xx/timeouts; ``unreachable`` when the chat
blocked the bot (the case stays readable by tracking code); ``failed`` when the platform
refused it for good. Rows for one recipient go out in order: a row waiting for a retry
holds back the rows after it.

Delivery is at-least-once: a crash after the platform accepted a message and before the
``sent`` mark is committed sends that one message again on restart. The window is one
commit long; chat platforms offer no idempotency key that could close it.

A status push with a notice (告知书) is one row. On a channel that sends the notice as a
message of its own after the text (WeCom: an upload, then a file message), the row is
marked ``sent`` once the text went out, and in the same transaction a ``notice_file`` row
is queued for the file and delivered next: a row has no room to record "text sent, file
pending", and a retry or a restart must not repeat the text. Each of the two has the
one-commit window above.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.backoff import FailureBurst, while_unreachable
from bot.channels import Delivery, OutboxSender, Rejected, RetryLater, Unreachable
from bot.health import Heartbeat
from bot.notices import NoticeRenderer
from bot.notices.issue import NoticeIssuer
from handlers.inbound import FileOut, Reply
from handlers.ports import OutboxMessage
from handlers.services import Translate
from handlers.views import render_admin, render_employee
from petitions.case import Case
from storage.models import OutboxRow
from storage.uow import UnitOfWorkFactory

__all__ = ["NOTICE_FILE", "DeliveryWorker", "admin_address", "backoff"]

log = logging.getLogger(__name__)

# The outbox kind of a notice sent after its status text (a sender's ``notices_apart``):
# its payload is the status row's, with the instant that row was queued (``issued_at``),
# so the notice is dated and filled as the one the other channels attach.
NOTICE_FILE = "notice_file"
# A row that went out but could not be recorded as sent (the database went away): the
# record is tried again after this long, doubling up to the second figure (seconds).
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.5, 30.0


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds to wait before the next try: exponential with jitter, capped."""
    delay: float = min(cap, base * (2 ** max(attempts, 0)))  # int ** int is typed Any
    return delay / 2 + random.random() * delay / 2  # noqa: S311 - jitter, not security


def admin_address(payload: Mapping[str, Any]) -> str | None:
    """Where an admin row goes (handlers/notify.py queue_routes): None for the channel's
    own admin audience (the root unit's chat; on WeCom the officers whose scope covers the
    case), a unit's chat id, or ``unit:<id>`` for a unit's own audience (on WeCom: that
    unit's officers, who get its digest)."""
    chat = payload.get("admin_chat")
    if chat:
        return str(chat)
    unit = payload.get("digest_unit")
    return f"unit:{int(unit)}" if unit is not None else None


# Admin rows of a channel share one queue (their chat is inside the encrypted payload):
# a unit's group waiting for Telegram's per-group budget holds back the other groups' rows.
_Key = tuple[str, str, int | None]  # channel, audience, case (None for an admin chat)


@dataclass
class _Stats:
    sent: int = 0
    retried: int = 0
    unreachable: int = 0
    failed: int = 0


class DeliveryWorker:
    """Delivers due outbox rows through the channels' senders."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        t: Translate,
        senders: Mapping[str, OutboxSender],
        clock: Callable[[], datetime],
        *,
        admin_locale: str = "zh_CN",
        batch: int = 200,
        concurrency: int = 16,
        poll_interval: float = 0.5,
        max_attempts: int = 50,
        grace: float = 10.0,
        backoff_cap: float = 10.0,
        notices: NoticeIssuer | None = None,
    ) -> None:
        self._uow = uow
        self._t = t
        self._senders = dict(senders)
        self._clock = clock
        self._admin_locale = admin_locale
        self._batch = batch
        self._concurrency = concurrency
        self._poll = poll_interval
        self._max_attempts = max_attempts
        self._grace = grace
        # The container's (deployment templates, office name); the shipped templates when
        # a worker is built without one.
        self._notices = notices
        self._wake = asyncio.Event()
        self.stats = _Stats()
        # For /readyz: the loop beats at every iteration. During an outage a failing pass
        # is logged once per burst and retried with backoff (up to ``backoff_cap``).
        self.heartbeat = Heartbeat()
        self.burst = FailureBurst(log, "delivery pass", base=poll_interval, cap=backoff_cap)
        # A recipient's task that failed (the database went away mid-send): counted in a
        # burst of its own that ends only after a minute without such failures, so one
        # recipient failing beside others that succeed is one line, not one per pass.
        self.send_burst = FailureBurst(log, "delivery to a recipient", settle=60.0)

    def wake(self) -> None:
        """Look for new rows now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set.

        Each recipient's rows go out in a task of their own, so a recipient that has to
        wait (an admin group at 20 messages a minute, a chat after a 429) holds back nobody
        else; the next pass starts new recipients while earlier ones are still sending.
        """
        gate = asyncio.Semaphore(self._concurrency)
        inflight: dict[_Key, asyncio.Task[int]] = {}

        def finished(key: _Key, task: asyncio.Task[int]) -> None:
            inflight.pop(key, None)
            self._wake.set()  # the recipient may have more rows now
            # Retrieve the outcome here: an unretrieved exception would be printed with its
            # traceback by asyncio, once per task, all through an outage.
            if task.cancelled():
                return
            error = task.exception()
            if error is None:
                self.send_burst.succeeded()
            else:  # its rows stay pending and are planned again
                self.send_burst.failed(error)

        while not stop.is_set():
            self._wake.clear()  # before the pass, so a wake() during it is not lost
            self.heartbeat.beat(self._poll)  # a failed pass beats again with its backoff
            try:
                # Enough recipients queued: reading the outbox again would only find the
                # rows already in hand (measured: with thousands pending, re-reading 200
                # rows after every send was most of the CPU and stalled the loop).
                planned = (
                    await self._plan(exclude=set(inflight))
                    if len(inflight) < self._concurrency * 2
                    else {}
                )
                for key, group in planned.items():
                    task = asyncio.create_task(self._deliver_group(group, gate, stop))
                    inflight[key] = task
                    task.add_done_callback(functools.partial(finished, key))
            except Exception as exc:  # keep delivering; the rows stay pending
                wait = self.burst.failed(exc)
                self.heartbeat.beat(wait)
                # Backing off, a wake() (a new update, a finished recipient) must not bring
                # the next try forward: only the delay or the stop does.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                continue
            self.burst.succeeded()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waits, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        # Let sends under way finish and be marked (each group stops after its current row);
        # only a send stuck past the grace period is cancelled, and its row stays pending.
        if inflight:
            await asyncio.wait(list(inflight.values()), timeout=self._grace)
        for task in list(inflight.values()):
            task.cancel()
        await asyncio.gather(*inflight.values(), return_exceptions=True)

    async def run_once(self) -> int:
        """Deliver every row that is due now and wait for it; return how many were attempted."""
        groups = await self._plan()
        if not groups:
            return 0
        gate = asyncio.Semaphore(self._concurrency)
        counts = await asyncio.gather(*(self._deliver_group(g, gate) for g in groups.values()))
        return sum(counts)

    async def _plan(self, exclude: set[_Key] | None = None) -> dict[_Key, list[OutboxRow]]:
        """Group due rows by recipient, oldest first, behind any row still waiting to retry."""
        now = self._clock()
        async with self._uow() as uow:
            rows = list(await uow.outbox.due(list(self._senders), now, self._batch))
        groups: dict[_Key, list[OutboxRow]] = {}
        held: set[_Key] = set(exclude or ())
        for row in rows:
            key = (row.channel, row.audience, row.case_id if row.audience != "admin" else None)
            if key in held:
                continue
            if row.next_attempt_at > now:
                held.add(key)  # keep the order: nothing after a waiting row goes first
                continue
            groups.setdefault(key, []).append(row)
        return groups

    async def _deliver_group(
        self, group: list[OutboxRow], gate: asyncio.Semaphore, stop: asyncio.Event | None = None
    ) -> int:
        async with gate:
            done = 0
            rows = list(group)
            while rows:
                row = rows.pop(0)
                if stop is not None and stop.is_set():
                    break
                done += 1
                delivered, notice_row = await self._deliver(row)
                if notice_row is not None:
                    rows.insert(0, notice_row)  # the notice right after its text
                if not delivered:
                    break  # a retry holds back the rest of this recipient's rows
            return done

    async def _render(self, row: OutboxRow) -> tuple[Delivery | None, dict[str, Any] | None]:
        """The row's delivery, and the payload of the notice row to queue once it is sent
        (a notice its channel sends apart, see the module's docstring)."""
        notice_payload: dict[str, Any] | None = None
        async with self._uow() as uow:
            payload = uow.outbox.payload(row)
            chat_id: str | None = None
            if row.audience == "employee":
                contact = await uow.cases.contact(row.case_id) if row.case_id else None
                case = await uow.cases.get(row.case_id) if row.case_id else None
                if contact is None or case is None or not case.contact_reachable:
                    return None, None
                chat_id = contact.chat_id
                apart = getattr(self._senders.get(row.channel), "notices_apart", False)
                if row.kind == NOTICE_FILE:
                    issued_at = datetime.fromisoformat(str(payload["issued_at"]))
                    file = await self._notice(case, payload, issued_at, row)
                    replies = [] if file is None else [Reply("", files=(file,), case_id=case.id)]
                else:
                    reply = render_employee(self._t, row.kind, payload)
                    if "notice" in payload and apart:
                        notice_payload = {**payload, "issued_at": row.created_at.isoformat()}
                    elif "notice" in payload:
                        reply = await self._with_notice(reply, case, payload, row)
                    replies = [reply]
            else:
                # An officer row names its officer's chat; an admin row goes to the admin chat.
                if row.audience == "officer":
                    chat_id = str(payload.get("chat_id") or "") or None
                elif row.audience == "admin":
                    chat_id = admin_address(payload)
                # A channel that fetches evidence on demand (the web) gets references only.
                sender = self._senders.get(row.channel)
                replies = await render_admin(
                    uow,
                    self._t,
                    self._admin_locale,
                    row.kind,
                    payload,
                    self._clock(),
                    with_file_data=getattr(sender, "needs_file_data", True),
                )
        return (
            Delivery(row.id, row.audience, row.kind, row.case_id, chat_id, tuple(replies)),
            notice_payload,
        )

    async def _with_notice(
        self, reply: Reply, case: Case, payload: dict[str, Any], row: OutboxRow
    ) -> Reply:
        """The status push with its notice (告知书) attached as a PDF; a channel that
        fetches files on demand (the web page) gets the reference only."""
        file = await self._notice(case, payload, row.created_at, row)
        return reply if file is None else replace(reply, files=(*reply.files, file))

    async def _notice(
        self, case: Case, payload: dict[str, Any], issued_at: datetime, row: OutboxRow
    ) -> FileOut | None:
        """The notice a payload names, as its row's channel takes it (bytes or reference)."""
        if self._notices is None:
            self._notices = NoticeIssuer(NoticeRenderer.from_folder(None))
        sender = self._senders.get(row.channel)
        with_data = getattr(sender, "needs_file_data", True)
        notices = self._notices
        # Setting a PDF takes tens of milliseconds: not on the event loop.
        return await asyncio.to_thread(
            notices.for_push, case, payload, issued_at, with_data=with_data
        )

    async def _deliver(self, row: OutboxRow) -> tuple[bool, OutboxRow | None]:
        """Send one row and record the result; return False when it must wait, and the
        notice row queued behind it (to be delivered next), if any."""
        sender = self._senders[row.channel]
        delivery, notice_payload = await self._render(row)
        now = self._clock()
        if delivery is None:
            await self._mark(row, "unreachable", now, error="no reachable contact")
            self.stats.unreachable += 1
            return True, None
        if not delivery.replies:
            await self._mark(row, "sent", now)
            return True, None
        try:
            await sender.send(delivery)
        except RetryLater as wait:
            if row.attempts + 1 >= self._max_attempts:
                await self._mark(row, "failed", now, error=f"gave up: {wait.reason}")
                self.stats.failed += 1
                log.error("outbox row %s failed after %s attempts", row.id, row.attempts + 1)
                return True, None
            after = wait.after if wait.after > 0 else backoff(row.attempts, cap=60.0)
            next_at = now + timedelta(seconds=after)
            await self._mark(row, "pending", now, next_attempt_at=next_at, error=wait.reason)
            self.stats.retried += 1
            return False, None
        except Unreachable:
            await self._mark(row, "unreachable", now, error="recipient unreachable")
            if row.audience == "employee" and row.case_id is not None:
                async with self._uow() as uow:
                    await uow.cases.mark_unreachable(row.case_id)
                    await uow.commit()
            self.stats.unreachable += 1
            return True, None
        except Rejected as exc:
            await self._mark(row, "failed", now, error=str(exc)[:200])
            self.stats.failed += 1
            log.error("outbox row %s rejected by %s", row.id, row.channel)
            return True, None
        notice_row = await self._record_sent(row, notice_payload)
        self.stats.sent += 1
        return True, notice_row

    async def _record_sent(
        self, row: OutboxRow, notice_payload: dict[str, Any] | None
    ) -> OutboxRow | None:
        """Record a row that went out (and queue its notice's row), tried again while the
        database is away: left pending, the row would be sent a second time."""

        async def record() -> OutboxRow | None:
            if notice_payload is None:
                await self._mark(row, "sent", self._clock())
                return None
            return await self._sent_with_notice(row, notice_payload)

        def waiting(_error: BaseException, tries: int) -> bool:
            if tries == 1:  # one line per row, not one per try
                log.warning("outbox row %s sent; recording it waits for the database", row.id)
            return True

        return await while_unreachable(
            record, waiting, first=RECORD_RETRY_FIRST, cap=RECORD_RETRY_MAX
        )

    async def _sent_with_notice(self, row: OutboxRow, payload: dict[str, Any]) -> OutboxRow:
        """Mark a status row sent and queue its notice's row, in one transaction: after a
        crash either both happened (only the file is still owed) or neither did."""
        assert row.case_id is not None  # an employee row always has its case
        now = self._clock()
        async with self._uow() as uow:
            await uow.outbox.mark(row.id, "sent", now=now)
            await uow.outbox.add(
                OutboxMessage("employee", row.channel, NOTICE_FILE, payload, now, row.case_id)
            )
            queued = [
                r
                for r in await uow.outbox.for_case(row.case_id)
                if r.kind == NOTICE_FILE and r.status == "pending"
            ]
            await uow.commit()
        return max(queued, key=lambda r: r.id)  # the one just added: ids only grow

    async def _mark(
        self,
        row: OutboxRow,
        status: str,
        now: datetime,
        *,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        async with self._uow() as uow:
            await uow.outbox.mark(
                row.id, status, now=now, next_attempt_at=next_attempt_at, error=error
            )
            await uow.commit()
