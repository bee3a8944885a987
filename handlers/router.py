"""The entry point of the handlers: one Inbound in, replies out, in one unit of work."""

from __future__ import annotations

import logging

from handlers.feedback import handle_feedback
from handlers.inbound import Button, Inbound, Reply
from handlers.intake import ask_current, handle_intake, start_intake
from handlers.labels import ERRORS, FIELDS
from handlers.officer import OFFICER_COMMANDS, handle_officer, parse_command
from handlers.ports import Conflict, Conversation, Officer
from handlers.services import Services
from handlers.tracking import ask_code, handle_tracking, lookup
from handlers.turn import Turn
from handlers.unit_chats import chat_scope, narrow_to_chat
from i18n import LOCALES, normalize_locale
from petitions.codes import looks_like_tracking_code
from petitions.errors import DomainError

__all__ = ["Handlers"]

log = logging.getLogger(__name__)

# Tries of one inbound event when the database undoes it to settle a conflict.
ATTEMPTS = 3

EMPLOYEE_COMMANDS = frozenset({"start", "help", "new", "status", "cancel", "lang"})


class Handlers:
    """Channel-neutral conversations; adapters call :meth:`handle` for every inbound event."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one inbound event and return the replies for the same chat.

        When the database undoes the work to settle a conflict with another officer's at
        the same moment (two acts on one collective matter), nothing of it was kept: it is
        done again, up to :data:`ATTEMPTS` times in all."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._handle(inbound)
            except Conflict:
                if attempt == ATTEMPTS:
                    raise
                log.info("database conflict, handling again (attempt %d)", attempt + 1)
        raise AssertionError("unreachable")

    async def _handle(self, inbound: Inbound) -> list[Reply]:
        async with self.services.uow() as uow:
            conversation = await uow.conversations.get(inbound.channel, inbound.sender_id)
            now = self.services.clock()
            if conversation and conversation.expires_at and conversation.expires_at < now:
                await uow.attachments.delete_drafts(inbound.channel, inbound.sender_id)
                expired_locale = conversation.locale
                conversation = (
                    Conversation("idle", locale=expired_locale) if expired_locale else None
                )
            locale = (
                (conversation.locale if conversation else None)
                or normalize_locale(inbound.locale)
                or self.services.config.default_locale
            )
            turn = Turn(inbound, uow, self.services, now, locale, conversation)
            # Only officer-shaped input needs to know who the sender is (one query less
            # for every ordinary employee message).
            officer = (
                await uow.officers.by_account(inbound.channel, inbound.sender_id)
                if inbound.in_admin_chat or _officer_shaped(inbound, turn.step)
                else None
            )
            if officer is not None and inbound.in_admin_chat and self.services.config.unit_chats:
                # In a unit's admin chat everyone reads the answers: act within what that
                # chat covers (handlers/unit_chats.py), whoever asks.
                tree = await uow.units.tree()
                cfg = self.services.config
                officer = narrow_to_chat(
                    officer, chat_scope(cfg, tree, inbound.channel, inbound.chat_id)
                )
            try:
                replies = await self._dispatch(turn, officer)
            except DomainError as error:
                # Leaving the unit of work without commit undoes the half-done change;
                # the person gets the reason in their language.
                log.info("refused: %s", error.code)
                return [self._error_reply(turn, error)]
            await uow.commit()
            return replies

    def _error_reply(self, turn: Turn, error: DomainError) -> Reply:
        params = dict(error.params)
        if "field" in params and params["field"] in FIELDS:
            params["field"] = turn.t(FIELDS[params["field"]])
        return Reply(turn.t(ERRORS.get(error.code, ERRORS["domain"]), **params))

    async def _dispatch(self, turn: Turn, officer: Officer | None) -> list[Reply]:
        inbound = turn.inbound
        if inbound.in_admin_chat:
            if officer is None:
                # Only registered officers act; other members' chatter is not ours to answer.
                if inbound.button or (inbound.text or "").startswith("/"):
                    return [Reply(turn.t("officer.not_registered"))]
                return []
            return await handle_officer(turn, officer)
        if officer is not None:  # looked up only for officer-shaped input (handle())
            return await handle_officer(turn, officer)
        command = parse_command(inbound.text.strip()) if inbound.text else None
        return await self._employee(turn, command)

    async def _employee(self, turn: Turn, command: tuple[str, list[str]] | None) -> list[Reply]:
        inbound, t = turn.inbound, turn.t
        if command and command[0] in EMPLOYEE_COMMANDS:
            return await self._employee_command(turn, command[0], command[1])
        if inbound.unsupported:
            return [Reply(t("error.unsupported"))]
        button = inbound.button or ""
        if button == "menu:new":
            return await start_intake(turn)
        if button == "menu:status":
            return await ask_code(turn)
        if button.startswith("lang:"):
            return await self._set_locale(turn, button.removeprefix("lang:"))
        if button.startswith(("fb:", "fu:")):
            return await handle_feedback(turn)
        step = turn.step
        if step.startswith("fb.") and not button:
            return await handle_feedback(turn)
        if step.startswith("intake."):
            return await handle_intake(turn)
        if step.startswith("track."):
            if inbound.text and looks_like_tracking_code(inbound.text) and step != "track.add":
                return await lookup(turn, inbound.text)
            return await handle_tracking(turn)
        if inbound.text and looks_like_tracking_code(inbound.text):
            return await lookup(turn, inbound.text)
        if inbound.button:
            return [Reply(t("error.stale")), self._menu(turn)]
        if inbound.file:
            return [Reply(t("menu.file_outside")), self._menu(turn)]
        return [self._menu(turn)]

    async def _employee_command(self, turn: Turn, name: str, args: list[str]) -> list[Reply]:
        t = turn.t
        if name in ("start", "help"):
            # One message, not two: each extra message costs the chat a second of its
            # one-per-second budget on Telegram.
            menu, guide = self._menu(turn), t("guide.text")
            return [Reply(f"{guide}\n\n{menu.text}", menu.buttons)]
        if name == "new":
            return await start_intake(turn)
        if name == "status":
            if args:
                return await lookup(turn, " ".join(args))
            return await ask_code(turn)
        if name == "cancel":
            if turn.step.startswith("intake."):
                await turn.uow.attachments.delete_drafts(
                    turn.inbound.channel, turn.inbound.sender_id
                )
            had = turn.step != "idle"
            await turn.end()
            return [Reply(t("intake.cancelled") if had else t("menu.nothing_to_cancel"))]
        # /lang
        if args and args[0] in LOCALES:
            return await self._set_locale(turn, args[0])
        buttons = ((Button("中文", "lang:zh_CN"), Button("English", "lang:en")),)
        return [Reply(t("menu.choose_language"), buttons)]

    async def _set_locale(self, turn: Turn, locale: str) -> list[Reply]:
        if locale not in LOCALES:
            return [Reply(turn.t("error.stale"))]
        turn.locale = locale
        if turn.conversation is None:
            turn.conversation = Conversation("idle", locale=locale, updated_at=turn.stamp)
        turn.conversation.locale = locale
        turn.conversation.updated_at = turn.stamp
        if turn.step == "idle":
            turn.conversation.expires_at = turn.stamp + self.services.config.idle_ttl
        await turn.uow.conversations.save(
            turn.inbound.channel, turn.inbound.sender_id, turn.conversation
        )
        replies = [Reply(turn.t("menu.language_set"))]
        if turn.step.startswith("intake."):
            replies.extend(await ask_current(turn))
        return replies

    def _menu(self, turn: Turn) -> Reply:
        t = turn.t
        return Reply(
            t("menu.text"),
            (
                (Button(t("button.new_petition"), "menu:new"),),
                (Button(t("button.check_status"), "menu:status"),),
            ),
        )


def _officer_shaped(inbound: Inbound, step: str) -> bool:
    """An officer command, an officer button, or a step of an officer's question."""
    if (inbound.button or "").startswith(("o:", "oo:", "or:")) or step.startswith("officer."):
        return True
    command = parse_command(inbound.text.strip()) if inbound.text else None
    return command is not None and command[0] in OFFICER_COMMANDS
