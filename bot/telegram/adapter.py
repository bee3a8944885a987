"""The Telegram channel: PTB in, the channel-neutral handlers, replies out (thin).

One PTB ``TypeHandler`` receives every update; commands are passed through as text
because the handlers parse them. See docs/telegram.md for the design decisions.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from telegram import CallbackQuery, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.backoff import while_unreachable
from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.settings import TelegramSettings
from bot.telegram.dedup import (
    Claim,
    ClaimingUnitOfWorkFactory,
    DuplicateUpdate,
    claim_alone,
    current_claim,
)
from bot.telegram.inbound import CHANNEL, chat_key, to_inbound
from bot.telegram.limiter import SendLimiter, TelegramRateLimiter
from bot.telegram.output import Output
from bot.telegram.polling import Poller
from bot.telegram.processor import PerChatUpdateProcessor
from bot.telegram.sender import TelegramSender
from bot.telegram.transport import AiohttpRequest
from handlers.inbound import Inbound, Reply
from handlers.officer import OFFICER_COMMANDS, parse_command
from handlers.router import Handlers
from handlers.unit_chats import covering_units

__all__ = ["WEBHOOK_PATH", "TelegramChannel", "quiet_http_logs"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = ["message", "callback_query"]
# Handling that finds the database away waits and tries again (seconds, doubling).
RETRY_FIRST, RETRY_MAX = 0.5, 30.0
_MEMBER = ("creator", "administrator", "member", "restricted")


def quiet_http_logs() -> None:
    """Keep request logging off even at DEBUG: Bot API URLs contain the token, and PTB's
    debug lines carry chat ids and message texts."""
    logging.getLogger("telegram").setLevel(logging.INFO)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class TelegramChannel:
    """Implements :class:`bot.channels.Channel` for Telegram with python-telegram-bot."""

    name = CHANNEL

    def __init__(
        self,
        container: Container,
        settings: TelegramSettings,
        *,
        application_builder: ApplicationBuilder | None = None,  # type: ignore[type-arg]
        limiter: SendLimiter | None = None,
        concurrency: int = 16,
    ) -> None:
        quiet_http_logs()
        self.container = container
        self.settings = settings
        self.limiter = limiter or SendLimiter()
        self.processor = PerChatUpdateProcessor(concurrency, key=chat_key)
        builder = application_builder
        if builder is None:
            builder = (
                ApplicationBuilder()
                .token(settings.token)
                .base_url(settings.api_base_url)
                .base_file_url(settings.file_base_url)
            )
        builder = (
            builder.rate_limiter(TelegramRateLimiter(self.limiter))
            .concurrent_updates(self.processor)
            # Every update may have a reply and a button's answer in flight, and the outbox
            # up to 16 recipients: enough connections that a send the limiter has counted
            # never then waits for one (it would reach Telegram later than counted).
            .request(AiohttpRequest(concurrency * 2 + 20))
            # Long polling holds its connection for up to 30 s: give it its own.
            .get_updates_request(AiohttpRequest(1, read_timeout=5.0))
        )
        # No PTB Updater: polling is ours (bot/telegram/polling.py) so that a fetched
        # update is kept before Telegram is told it arrived.
        builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self._running = False
        # Handlers whose unit of work records the update id in the same transaction.
        self.handlers = Handlers(
            replace(container.services, uow=ClaimingUnitOfWorkFactory(container.uow))
        )
        self.output = Output(
            lambda: self.application.bot,
            container.uow,
            container.services.clock,
            settings.admin_chat_id,
            [
                int(chat.target)
                for chat in container.services.config.unit_chats
                if chat.channel == CHANNEL
            ],
        )
        # Where staff write and press buttons: the admin chats, and the leaders' chats (the
        # alerts posted there carry buttons: 督办, 查看, 合并为集体诉求).
        cfg = container.services.config
        self.staff_chats = self.output.admin_chats | frozenset(
            int(chat)
            for channel, chat in (
                *cfg.leaders_chats,
                *((c.channel, c.target) for c in cfg.unit_leaders_chats),
            )
            if channel == CHANNEL and chat.lstrip("-").isdigit()
        )
        self.sender = TelegramSender(self.output, lambda: self._running)
        self.worker: DeliveryWorker | None = None
        self.poller = Poller(
            lambda: self.application.bot,
            container.uow,
            container.services.clock,
            self.application.update_queue.put,
            allowed_updates=ALLOWED_UPDATES,
        )
        self._polling: asyncio.Task[None] | None = None
        self.problem: str | None = None  # why the channel stopped working, for /healthz
        self.stats = {"updates": 0, "duplicates": 0, "failed": 0}
        # Webhook updates given up on while stopping during a database outage: answered
        # 503, so Telegram delivers them again (to this or another worker).
        self._given_up: set[int] = set()

    # ------------------------------------------------------------------ lifecycle

    def delivery_worker(self, **options: Any) -> DeliveryWorker:
        """A DeliveryWorker for this channel's sender, woken after every handled update."""
        c = self.container
        self.worker = DeliveryWorker(
            c.uow,
            c.translator.t,
            {self.name: self.sender},
            c.services.clock,
            admin_locale=c.settings.default_locale,
            notices=c.notices,
            **options,
        )
        return self.worker

    def add_routes(self, app: web.Application) -> None:
        """Add ``POST /telegram/webhook`` when webhook mode is configured."""
        if self.settings.webhook_url:
            app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def start(self) -> None:
        """Connect to the Bot API and start polling or register the webhook."""
        app = self.application
        await app.initialize()
        await app.start()
        self._running = True
        if self.settings.webhook_url:
            await app.bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            self._polling = asyncio.create_task(self.poller.run(), name="telegram-polling")
            self._polling.add_done_callback(self._polling_ended)
        log.info("telegram channel started (%s)", "webhook" if self.webhook else "polling")

    def _polling_ended(self, task: asyncio.Task[None]) -> None:
        # Polling retries everything but a rejected token; ending otherwise means stop().
        if not task.cancelled() and isinstance(task.exception(), InvalidToken):
            self.problem = "bot token rejected by Telegram; polling stopped"

    async def stop(self) -> None:
        """Stop receiving, finish the updates in hand and close the connections."""
        app = self.application
        self._running = False
        if self._polling is not None:
            self._polling.cancel()
            try:
                await self._polling
            except asyncio.CancelledError:
                pass
            except Exception:  # it had stopped by itself (a rejected token), logged there
                log.warning("telegram polling had stopped before the channel was stopped")
            self._polling = None
        if app.running:
            await app.stop()
        await app.shutdown()

    @property
    def webhook(self) -> bool:
        """True in webhook mode."""
        return bool(self.settings.webhook_url)

    # ------------------------------------------------------------------ webhook

    async def _webhook(self, request: web.Request) -> web.Response:
        expected = self.settings.webhook_secret or ""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=403)
        if not self._running:
            return web.Response(status=503)  # Telegram retries later
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        # Handled before the 200: Telegram redelivers anything not acknowledged, so a
        # crash mid-update loses nothing, and the update_id claim makes a redelivery (or
        # the same update posted to another worker process) a no-op.
        await self.processor.process_update(update, self.application.process_update(update))
        if update.update_id in self._given_up:
            self._given_up.discard(update.update_id)
            return web.Response(status=503)
        return web.Response(status=200)

    # ------------------------------------------------------------------ updates

    async def _lookup(self, chat_id: int, kind: str, ref_id: int) -> int | None:
        async with self.container.uow() as uow:
            return await uow.telegram.case_of(chat_id, kind, ref_id)

    async def _download(self, file_id: str) -> bytes:
        file = await self.application.bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.stats["updates"] += 1
        claim = Claim(f"telegram:{update.update_id}", self.container.services.clock())
        current_claim.set(claim)
        query = update.callback_query
        alert: str | None = None
        # Outside the admin chat a button press is never answered with an alert, so the
        # press is acknowledged while it is handled (one round trip less per button).
        early: asyncio.Task[None] | None = None
        if query is not None and not _in_admin_chat(update, self.staff_chats):
            early = asyncio.create_task(_answer(query, None))
        try:
            alert = await self._handle_while_reachable(update, claim)
        except (DuplicateUpdate, IntegrityError):
            self.stats["duplicates"] += 1
            log.info("duplicate telegram update skipped")
        finally:
            current_claim.set(None)
            if early is not None:
                await early
            elif query is not None:
                await _answer(query, alert)

    async def _handle_while_reachable(self, update: Update, claim: Claim) -> str | None:
        """``_handle``, tried again while the database is away and nothing was recorded:
        a webhook update is answered only after this returns, and a polled one was kept
        and confirmed, so giving up would lose it (the update_id claim keeps it once)."""

        def waiting(error: BaseException, _tries: int) -> bool:
            if claim.done:
                return False  # recorded: trying again would do it twice
            if not self._running:  # stopping: kept (polling) or redelivered (webhook)
                if self.webhook:
                    self._given_up.add(update.update_id)
                return False
            log.warning("telegram handling waits for the database (%s)", type(error).__name__)
            return True

        return await while_unreachable(
            lambda: self._handle(update, claim), waiting, first=RETRY_FIRST, cap=RETRY_MAX
        )

    async def _handle(self, update: Update, claim: Claim) -> str | None:
        """Handle one update and send its replies; the alert for a refused button press in
        the admin chat, if any."""
        query = update.callback_query
        inbound = await to_inbound(
            update,
            admin_chats=self.staff_chats,
            bot_id=self.application.bot.id,
            download=self._download,
            lookup=self._lookup,
        )
        replies: list[Reply] = []
        if inbound is not None:
            refused = await self._refuse_outsider(inbound)
            replies = refused if refused is not None else await self.handlers.handle(inbound)
        if not claim.done and not await claim_alone(self.container.uow, claim):
            raise DuplicateUpdate()
        if self.worker is not None:
            self.worker.wake()
        if inbound is None or not replies:
            return None
        chat = update.effective_chat
        assert chat is not None
        if query is not None and inbound.in_admin_chat and _is_notice(replies):
            return replies[0].text[:200]  # a refusal: tell the presser, not the room
        message = update.effective_message
        thread = (
            message.message_thread_id if message is not None and message.is_topic_message else None
        )
        await self.output.send(chat.id, replies, push=False, thread_id=thread)
        return None

    async def _refuse_outsider(self, inbound: Inbound) -> list[Reply] | None:
        """Officers act from a private chat only while they are members of an admin chat
        of their part of the group: the root's, or a unit's at or above their own unit."""
        if inbound.in_admin_chat or not self.output.admin_chats or not _officer_input(inbound):
            return None
        for chat in await self._officer_chats(inbound.sender_id):
            try:
                member = await self.application.bot.get_chat_member(chat, int(inbound.sender_id))
                status = member.status
            except TelegramError:
                status = "unknown"
            if status in _MEMBER:
                return None
        t = self.container.translator.t
        return [Reply(t("officer.not_registered", inbound.locale))]

    async def _officer_chats(self, sender_id: str) -> list[int]:
        """The admin chats whose membership lets this sender act from a private chat, the
        root's first; without a unit tree, the one admin chat."""
        root = self.output.admin_chat_id
        chats = [root] if root is not None else []
        unit_chats = [c for c in self.container.services.config.unit_chats if c.channel == CHANNEL]
        if not unit_chats:
            return chats
        async with self.container.uow() as uow:
            officer = await uow.officers.by_account(CHANNEL, sender_id)
            tree = await uow.units.tree()
        codes = {u.code for u in covering_units(tree, officer.unit_id if officer else None)}
        chats += [int(c.target) for c in unit_chats if c.unit in codes]
        return chats

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The one PTB error handler: the type only, never the update (it holds ids and text).
        self.stats["failed"] += 1
        error = context.error
        log.error(
            "telegram update failed: %s",
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )


def _in_admin_chat(update: Update, admin_chats: frozenset[int]) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.id in admin_chats


async def _answer(query: CallbackQuery, alert: str | None) -> None:
    """Acknowledge a button press (Telegram shows a spinner until then)."""
    try:
        await query.answer(alert, show_alert=alert is not None)
    except TelegramError as error:
        log.debug("answerCallbackQuery failed: %s", type(error).__name__)


def _officer_input(inbound: Inbound) -> bool:
    if inbound.button is not None:
        return inbound.button.startswith(("o:", "oo:", "or:"))
    command = parse_command(inbound.text.strip()) if inbound.text else None
    return command is not None and command[0] in OFFICER_COMMANDS


def _is_notice(replies: list[Reply]) -> bool:
    only = replies[0]
    return len(replies) == 1 and not only.buttons and not only.files and only.case_id is None
