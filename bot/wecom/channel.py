"""The WeCom (企业微信) channel: callback in, handlers, replies out through ``message/send``.

A thin adapter: it turns a decrypted callback into an :class:`Inbound`, lets the
channel-neutral handlers answer, and renders the replies as text and template cards.
Employees and officers talk to the same self-built app; officers are recognised by their
registered WeCom userid, so their commands and card buttons reach the officer handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bot.settings import WeComSettings
from bot.wecom.callback import MOUNT_PREFIX, TASKS_KEY, create_callback_app
from bot.wecom.client import Sleep, SlidingWindowLimiter, WeComApiError, WeComClient
from bot.wecom.crypto import WeComCrypto
from bot.wecom.messages import ENTER_AGENT, TEMPLATE_CARD_EVENT, WeComInbound
from bot.wecom.render import PendingChoices, render_reply
from bot.wecom.sender import WeComSender, send_outgoing
from handlers.inbound import FileIn, Inbound, Reply

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["CHANNEL", "WeComChannel", "file_from_media", "to_inbound"]

CHANNEL = "wecom"
UNSUPPORTED_TYPES = frozenset({"voice", "video", "location", "link", "shortvideo"})
GENERIC_MIME = frozenset({"", "application/octet-stream", "binary/octet-stream"})
WELCOME_WINDOW = timedelta(hours=12)  # enter_agent answers like /start at most this often
USED_CARD_LABEL = "✓"  # language-neutral: the card's buttons were answered

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
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
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
            on_message=self._on_message,
            seen=self._seen,
            replay_window=s.replay_window,
            clock=self._callback_clock,
        )
        app.add_subapp(MOUNT_PREFIX, self._app)

    async def start(self) -> None:
        """Get ready to send (callbacks arrive through the shared server)."""
        await self._clients()

    async def stop(self) -> None:
        """Finish the messages being handled and close the HTTP session we opened."""
        await self.idle()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._client = self._push_client = None

    async def idle(self) -> None:
        """Wait until every accepted callback has been handled (tests, shutdown)."""
        if self._app is None:
            return
        tasks = self._app[TASKS_KEY]
        while tasks:
            await asyncio.gather(*list(tasks), return_exceptions=True)

    # -- inbound ----------------------------------------------------------------------------

    async def _seen(self, key: str) -> bool:
        async with self._container.uow() as uow:
            new = await uow.processed.mark(f"{CHANNEL}:{key}", self._container.services.clock())
            await uow.commit()
        return not new

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, userid: str) -> AsyncIterator[None]:
        # WeCom posts a person's messages concurrently; their conversation must see them
        # in order, one at a time.
        lock, users = self._locks.setdefault(userid, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._locks.pop(userid, None)

    async def _on_message(self, message: WeComInbound) -> None:
        if message.agent_id is not None and message.agent_id != self._settings.agent_id:
            log.warning("wecom message for another agent ignored")
            return
        userid = message.from_user
        async with self._one_at_a_time(userid):
            client = await self.client()
            try:
                inbound = await self._inbound(client, message)
            except WeComApiError as exc:
                log.warning("wecom media download failed (errcode %d)", exc.errcode)
                await self._send(client, userid, [self._failure_reply()])
                return
            if inbound is None:
                return
            try:
                replies = await self._container.handlers.handle(inbound)
            except Exception as exc:
                # Type only: the text of an exception may quote the petition.
                log.error("wecom handling failed: %s", type(exc).__name__)
                replies = [self._failure_reply()]
            await self._send(client, userid, replies)
            # Kinds and counts only: never the userid or the text.
            log.debug(
                "wecom %s/%s handled: %d repl(ies)", message.msg_type, message.event, len(replies)
            )
            if message.event == TEMPLATE_CARD_EVENT and message.response_code:
                await self._mark_card_used(client, userid, message.response_code)

    async def _inbound(self, client: WeComClient, message: WeComInbound) -> Inbound | None:
        if message.msg_type == "text":
            chosen = self.choices.take(message.from_user, message.content)
            if chosen is not None:
                return Inbound(CHANNEL, message.from_user, message.from_user, button=chosen)
        elif message.event == ENTER_AGENT:
            if not await self._welcome_due(message.from_user):
                return None
        else:
            self.choices.take(message.from_user, None)  # anything else supersedes a listing
        file = None
        if message.msg_type in ("image", "file") and message.media_id:
            # Media ids expire after three days: fetch the bytes now.
            data, content_type, name = await client.download_media(message.media_id)
            file = file_from_media(message, data, content_type, name)
        return to_inbound(message, file)

    async def _welcome_due(self, userid: str) -> bool:
        # WeCom reports enter_agent every time someone opens the app's chat; greeting them
        # each time would bury the conversation, so greet at most once per window.
        services = self._container.services
        async with self._container.uow() as uow:
            key = f"{CHANNEL}:enter_agent:{userid}"
            hits = await uow.limits.hit(key, WELCOME_WINDOW, services.clock())
            await uow.commit()
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
