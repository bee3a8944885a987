"""The WeCom (企业微信) channel: callback in, handlers, replies out through ``message/send``.

A thin adapter: it turns a decrypted callback into an :class:`Inbound`, lets the
channel-neutral handlers answer, and renders the replies as text and template cards.
Employees and officers talk to the same self-built app; officers are recognised by their
registered WeCom userid, so their commands and card buttons reach the officer handler.

A callback is answered once its message is kept in ``wecom_inbox`` (encrypted, many
callbacks in one commit: bot/wecom/inbox.py): WeCom never resends a callback answered 200,
so nothing is acknowledged that a crash could still lose, and the answer does not wait for
the handling. Kept messages are handled in arrival order per person, a bounded number at
once (bot/wecom/admission.py); the handling transaction claims the MsgId and deletes the row
(bot/wecom/claim.py), so a retry is never handled twice, and rows left by a crash are
handled on the next start. The replies are sent after that commit, in order per person.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import mimetypes
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bot.backoff import while_unreachable
from bot.settings import WeComSettings
from bot.wecom.admission import DEFAULT_CONCURRENCY, Admission, Busy
from bot.wecom.callback import MOUNT_PREFIX, create_callback_app
from bot.wecom.claim import (
    Claim,
    ClaimingUnitOfWorkFactory,
    DuplicateDelivery,
    EarlierPending,
    claim_alone,
)
from bot.wecom.client import Sleep, SlidingWindowLimiter, WeComApiError, WeComClient
from bot.wecom.crypto import WeComCrypto
from bot.wecom.inbox import InboxWriter, from_json
from bot.wecom.messages import ENTER_AGENT, TEMPLATE_CARD_EVENT, WeComInbound
from bot.wecom.order import ORPHAN_AGE, SWEEP_EVERY
from bot.wecom.render import PendingChoices, render_reply
from bot.wecom.sender import WeComSender, send_outgoing
from handlers.inbound import FileIn, Inbound, Reply
from handlers.router import Handlers
from storage.db import unreachable

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["CHANNEL", "WeComChannel", "file_from_media", "to_inbound"]

CHANNEL = "wecom"
UNSUPPORTED_TYPES = frozenset({"voice", "video", "location", "link", "shortvideo"})
GENERIC_MIME = frozenset({"", "application/octet-stream", "binary/octet-stream"})
WELCOME_WINDOW = timedelta(hours=12)  # enter_agent answers like /start at most this often
USED_CARD_LABEL = "✓"  # language-neutral: the card's buttons were answered
# Handled messages whose replies are still being sent; more waits before handling.
DEFAULT_MAX_UNSENT = 2000
# Callbacks kept and not yet handled (a few KB of memory each); beyond, answered 503.
# At ~4 ms a message this is under a minute of work: a burst is kept, not refused.
DEFAULT_BACKLOG = 10_000
# Kept callbacks never handled (a bug, a database away for hours) are dropped after this
# long on start; it must stay below the scheduler's PROCESSED_TTL, or a retry kept after
# its delivery was handled could look new.
INBOX_TTL = timedelta(hours=12)
# Handling that finds the database away waits and tries again (the callback is answered).
RETRY_FIRST, RETRY_MAX = 0.5, 30.0
REMEMBER_HANDLED = 10_000  # recent deliveries whose retries are answered from memory

log = logging.getLogger(__name__)


def to_inbound(message: WeComInbound, file: FileIn | None = None) -> Inbound | None:
    """Translate a WeCom message into an Inbound; None for events we do not act on."""
    who = message.from_user  # a private chat: the chat is the person
    if message.is_event:
        if message.event in (TEMPLATE_CARD_EVENT, "click") and message.event_key:
            # Card buttons (and custom app-menu items) carry our payload as EventKey.
            return Inbound(CHANNEL, who, who, button=message.event_key)
        if message.event == ENTER_AGENT:
            return Inbound(CHANNEL, who, who, text="/start")
        return None
    if message.msg_type == "text":
        return Inbound(CHANNEL, who, who, text=message.content or "")
    if message.msg_type in ("image", "file") and file is not None:
        return Inbound(CHANNEL, who, who, file=file)
    return Inbound(CHANNEL, who, who, unsupported=True)


def file_from_media(
    message: WeComInbound, data: bytes, content_type: str, name: str | None
) -> FileIn:
    """Wrap downloaded media as a FileIn, guessing the type from the name when WeCom won't."""
    if message.msg_type == "image":
        ext = mimetypes.guess_extension(content_type) or ".jpg"
        return FileIn("photo", name or f"image{ext}", content_type or "image/jpeg", data)
    filename = message.file_name or name or "file"
    mime = content_type
    if mime in GENERIC_MIME:
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return FileIn("document", filename, mime, data)


class WeComChannel:
    """The WeCom channel started by ``xinfang run``."""

    name = CHANNEL

    def __init__(
        self,
        container: Container,
        settings: WeComSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        callback_clock: Callable[[], float] = time.time,
        reply_attempts: int = 5,
        push_attempts: int = 2,
        concurrency: int = DEFAULT_CONCURRENCY,
        backlog: int = DEFAULT_BACKLOG,
        max_unsent: int = DEFAULT_MAX_UNSENT,
        retry_sleep: Sleep = asyncio.sleep,
        sweep_every: float = SWEEP_EVERY,
    ) -> None:
        self._container = container
        self._settings = settings
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._callback_clock = callback_clock
        self._reply_attempts = reply_attempts
        self._push_attempts = push_attempts
        self._client: WeComClient | None = None
        self._push_client: WeComClient | None = None
        self._client_lock = asyncio.Lock()
        self._app: web.Application | None = None
        self._admission = Admission(concurrency=concurrency, backlog=backlog)
        self._backlog = backlog
        self._retry_sleep = retry_sleep
        # Other worker processes may keep this person's callbacks too (bot/wecom/order.py).
        self._shared = container.engine.dialect.name == "postgresql"
        self._sweep_every = sweep_every
        self._sweeper: asyncio.Task[None] | None = None
        self._in_hand: set[int] = set()  # kept rows submitted here and not finished
        self.inbox = InboxWriter(container.uow, container.services.clock, self._kept)
        self._replayed = False
        self._held: list[tuple[int, WeComInbound]] = []  # kept before start() replayed
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._stopping = False
        self._submitted = itertools.count()
        self._unsent = asyncio.Semaphore(max_unsent)
        self._sending: dict[str, asyncio.Task[None]] = {}  # each person's newest send
        self.choices = PendingChoices()
        self.sender = WeComSender(
            container.uow,
            self._get_push_client,
            admin_chat_id=settings.admin_chat_id,
            choices=self.choices,
        )

    # -- clients ----------------------------------------------------------------------------

    async def _clients(self) -> tuple[WeComClient, WeComClient]:
        # Created on first use: the server may take a callback before start() runs.
        async with self._client_lock:
            if self._client is None or self._push_client is None:
                if self._session is None:
                    self._session = aiohttp.ClientSession()
                # One limiter for both clients: 30 messages a minute per member in total.
                limiter = SlidingWindowLimiter(clock=self._clock, sleep=self._sleep)
                # Replies to someone who just wrote retry in place; outbox pushes fail fast
                # and let the delivery worker hold the row (DESIGN.md §6).
                self._client = self._new_client(self._session, limiter, self._reply_attempts)
                self._push_client = self._new_client(self._session, limiter, self._push_attempts)
            return self._client, self._push_client

    def _new_client(
        self, session: aiohttp.ClientSession, limiter: SlidingWindowLimiter, attempts: int
    ) -> WeComClient:
        s = self._settings
        return WeComClient(
            session,
            corp_id=s.corp_id,
            secret=s.secret,
            agent_id=s.agent_id,
            base_url=s.api_base_url,
            clock=self._clock,
            sleep=self._sleep,
            max_attempts=attempts,
            limiter=limiter,
        )

    async def client(self) -> WeComClient:
        """The API client used for direct replies."""
        return (await self._clients())[0]

    async def _get_push_client(self) -> WeComClient:
        return (await self._clients())[1]

    # -- Channel ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Mount the callback at ``/wecom/callback`` on the shared server."""
        s = self._settings
        self._app = create_callback_app(
            WeComCrypto(s.token, s.aes_key, s.corp_id),
            accept=self._accept,
            replay_window=s.replay_window,
            clock=self._callback_clock,
        )
        app.add_subapp(MOUNT_PREFIX, self._app)

    async def start(self) -> None:
        """Get ready to send, and handle the callbacks kept and not handled before a stop."""
        await self._clients()
        await self.replay()
        if self._shared:
            self._sweeper = asyncio.create_task(self._sweep(), name="wecom-inbox-sweep")

    async def replay(self) -> int:
        """Hand the kept callbacks over for handling, oldest first; return how many."""
        uow = self._container.uow
        async with uow() as u:
            await u.wecom_inbox.purge(self._container.services.clock() - INBOX_TTL)
            kept = await u.wecom_inbox.kept()
            await u.commit()
        held, self._held = self._held, []
        self._replayed = True
        for row, data in kept:
            self._submit(row, from_json(data))
        read = {row for row, _ in kept}
        for row, message in held:  # kept while the rows were read: some are among them
            if row not in read:
                self._submit(row, message)
        if kept:
            log.info("handling %d wecom callbacks kept before a restart", len(kept))
        return len(kept)

    async def stop(self) -> None:
        """Finish the messages being handled and close the HTTP session we opened."""
        self._stopping = True  # handling waiting for the database leaves its row for later
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        await self.idle()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._client = self._push_client = None

    async def idle(self) -> None:
        """Wait until every accepted callback has been handled and answered (tests, shutdown)."""
        while self.inbox.pending or self._admission.pending or self._sending:
            await self.inbox.drain()
            await self._admission.drain()
            if self._sending:
                await asyncio.gather(*list(self._sending.values()), return_exceptions=True)

    # -- inbound ----------------------------------------------------------------------------

    async def _accept(self, message: WeComInbound) -> None:
        """Return once ``message`` is kept in the inbox (or known to be a duplicate)."""
        if message.agent_id is not None and message.agent_id != self._settings.agent_id:
            log.warning("wecom message for another agent ignored")
            return
        if message.dedup_key in self._handled:
            return  # WeCom's retry of a delivery handled a moment ago
        if self.inbox.pending + self._admission.pending >= self._backlog:
            raise Busy()
        await self.inbox.keep(f"{CHANNEL}:{message.dedup_key}", message)

    def _kept(self, row: int, message: WeComInbound) -> None:
        if not self._replayed:  # start() hands these over after the older kept rows
            self._held.append((row, message))
            return
        self._submit(row, message)

    def _submit(self, row: int, message: WeComInbound) -> None:
        # WeCom posts a person's messages concurrently; their conversation must see them
        # in order, one at a time: the person is the admission lane.
        # The key is this process's: SQLite hands a deleted row's id out again.
        if row in self._in_hand:
            return
        self._in_hand.add(row)
        key = f"{row}:{next(self._submitted)}"

        async def work() -> None:
            try:
                await self._handle(row, message)
            finally:
                self._in_hand.discard(row)

        self._admission.submit(key, message.from_user, work)

    async def _sweep(self) -> None:
        """Handle callbacks another worker kept and left (it stopped), every so often."""
        while True:
            await asyncio.sleep(self._sweep_every)
            try:
                async with self._container.uow() as u:
                    left = await u.wecom_inbox.older(
                        self._container.services.clock() - ORPHAN_AGE, limit=500
                    )
            except Exception as exc:
                if not unreachable(exc):
                    raise
                log.warning("wecom inbox sweep skipped (%s)", type(exc).__name__)
                continue
            for row, data in left:
                self._submit(row, from_json(data))
            if left:
                log.info("handling %d wecom callbacks left by a stopped worker", len(left))

    async def _handle(
        self, row: int, message: WeComInbound, *, wait_for_earlier: bool = True
    ) -> None:
        claim = Claim(
            f"{CHANNEL}:{message.dedup_key}",
            self._container.services.clock(),
            row=row,
            person=message.from_user if self._shared else None,
            wait_for_earlier=wait_for_earlier,
        )
        # Replies are queued for sending only after the commit; a flood of unsent replies
        # (WeCom slow to take them) holds up handling instead of growing without bound.
        await self._unsent.acquire()
        try:
            replies = await self._replies_in_order(message, claim)
        except BaseException as exc:
            self._unsent.release()
            if isinstance(exc, Exception):  # the row stays: handled on the next start
                log.error("wecom handling failed: %s", type(exc).__name__)
                return
            raise
        if claim.done or replies is None:
            self._handled[message.dedup_key] = None
            if len(self._handled) > REMEMBER_HANDLED:
                self._handled.popitem(last=False)
        card = message.response_code if message.event == TEMPLATE_CARD_EVENT else None
        if replies is None or not (replies or card):  # a duplicate, or nothing to say
            self._unsent.release()
            return
        self._send_later(message.from_user, replies, card)

    async def _replies_in_order(self, message: WeComInbound, claim: Claim) -> list[Reply] | None:
        """``_replies_when_stored`` after the person's callbacks kept before this one and
        not handled yet (kept by another worker) are handled, here (bot/wecom/order.py)."""
        while True:
            try:
                return await self._replies_when_stored(message, claim)
            except EarlierPending:
                assert claim.row is not None
                async with self._container.uow() as u:
                    earlier = await u.wecom_inbox.earlier(message.from_user, claim.row)
                for row, data in earlier:
                    await self._handle(row, from_json(data), wait_for_earlier=False)

    async def _replies_when_stored(
        self, message: WeComInbound, claim: Claim
    ) -> list[Reply] | None:
        """``_replies``, tried again while the database cannot be reached (the callback
        was answered, so waiting is the only way to keep the message and its order)."""

        def waiting(error: BaseException, _tries: int) -> bool:
            if self._stopping:
                return False  # the row stays for the next start
            log.warning("wecom handling waits for the database (%s)", type(error).__name__)
            return True

        # Nothing was recorded (``_replies`` raises only then): no failure reply, a retry.
        return await while_unreachable(
            lambda: self._replies(message, claim),
            waiting,
            first=RETRY_FIRST,
            cap=RETRY_MAX,
            sleep=self._retry_sleep,
        )

    async def _replies(self, message: WeComInbound, claim: Claim) -> list[Reply] | None:
        """Handle ``message`` under ``claim``: the replies to send, or None if nothing is due.

        Raises (so the handling is tried again, the row still kept) only while nothing
        about the message was committed.
        """
        uow = self._container.uow
        claiming = ClaimingUnitOfWorkFactory(uow, claim)
        client = await self.client()
        replies: list[Reply] = []
        try:
            inbound = await self._inbound(client, message, claiming)
            if inbound is not None:
                handlers = Handlers(replace(self._container.services, uow=claiming))
                replies = await handlers.handle(inbound)
        except EarlierPending:
            raise  # nothing done: handled once the person's earlier callback is
        except DuplicateDelivery:
            await claim_alone(uow, claim)  # handled before: its kept row goes
            log.info("duplicate wecom delivery skipped")
            return None
        except WeComApiError as exc:
            log.warning("wecom media download failed (errcode %d)", exc.errcode)
            replies = [self._failure_reply()]
        except Exception as exc:
            if unreachable(exc) and not claim.done:
                raise  # nothing recorded: tried again once the database is back
            # Type only: the text of an exception may quote the petition.
            log.error("wecom handling failed: %s", type(exc).__name__)
            replies = [self._failure_reply()]
        if not claim.done and not await claim_alone(uow, claim):
            log.info("duplicate wecom delivery skipped")
            return None
        # Kinds and counts only: never the userid or the text.
        log.debug(
            "wecom %s/%s handled: %d repl(ies)", message.msg_type, message.event, len(replies)
        )
        return replies

    def _send_later(self, userid: str, replies: Sequence[Reply], card: str | None) -> None:
        """Send the replies after the callback's answer, after the person's earlier ones."""
        previous = self._sending.get(userid)
        task = asyncio.create_task(self._send_after(previous, userid, replies, card))
        self._sending[userid] = task

        def finished(done: asyncio.Task[None]) -> None:
            self._unsent.release()
            if self._sending.get(userid) is done:
                del self._sending[userid]

        task.add_done_callback(finished)

    async def _send_after(
        self,
        previous: asyncio.Task[None] | None,
        userid: str,
        replies: Sequence[Reply],
        card: str | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its failure is its own
        try:
            client = await self.client()
            await self._send(client, userid, list(replies))
            if card:
                await self._mark_card_used(client, userid, card)
        except Exception as exc:  # the case is stored; the person can ask again
            log.error("wecom replies not sent: %s", type(exc).__name__)

    async def _inbound(
        self, client: WeComClient, message: WeComInbound, uow: ClaimingUnitOfWorkFactory
    ) -> Inbound | None:
        if message.msg_type == "text":
            chosen = self.choices.take(message.from_user, message.content)
            if chosen is not None:
                return Inbound(CHANNEL, message.from_user, message.from_user, button=chosen)
        elif message.event == ENTER_AGENT:
            if not await self._welcome_due(message.from_user, uow):
                return None
        else:
            self.choices.take(message.from_user, None)  # anything else supersedes a listing
        file = None
        if message.msg_type in ("image", "file") and message.media_id:
            # Media ids expire after three days: fetch the bytes now.
            data, content_type, name = await client.download_media(message.media_id)
            file = file_from_media(message, data, content_type, name)
        return to_inbound(message, file)

    async def _welcome_due(self, userid: str, uow: ClaimingUnitOfWorkFactory) -> bool:
        # WeCom reports enter_agent every time someone opens the app's chat; greeting them
        # each time would bury the conversation, so greet at most once per window. The
        # claim goes with this commit: a greeting not due needs no second transaction.
        services = self._container.services
        async with uow() as u:
            key = f"{CHANNEL}:enter_agent:{userid}"
            hits = await u.limits.hit(key, WELCOME_WINDOW, services.clock())
            await u.commit()
        return hits == 1

    def _failure_reply(self) -> Reply:
        t, locale = self._container.translator.t, self._container.settings.default_locale
        return Reply(t("error.domain", locale))

    async def _send(self, client: WeComClient, userid: str, replies: list[Reply]) -> None:
        for reply in replies:
            for message in render_reply(reply):
                try:
                    await send_outgoing(client, userid, message, self.choices)
                except WeComApiError as exc:
                    # The person can ask again; the case itself is already stored.
                    log.error("wecom reply not sent (errcode %d)", exc.errcode)
                    return

    async def _mark_card_used(self, client: WeComClient, userid: str, code: str) -> None:
        # Grey the pressed card's buttons so a second press cannot repeat the action.
        try:
            await client.update_template_card([userid], code, replace_name=USED_CARD_LABEL)
        except WeComApiError as exc:
            log.info("wecom card not updated (errcode %d)", exc.errcode)
