"""Replies out: texts split to Telegram's size, inline keyboards, evidence files, forum
topics per case, and the record of which admin-chat message belongs to which case."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.telegram.limiter import PUSH
from bot.telegram.text import split_text
from handlers.inbound import Reply
from storage.uow import UnitOfWorkFactory

__all__ = ["Output", "keyboard"]

log = logging.getLogger(__name__)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard (payloads are callback_data)."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
            for row in reply.buttons
        ]
    )


class Output:
    """Sends replies to one chat, in order, and maps admin-chat messages to cases."""

    def __init__(
        self,
        bot: Callable[[], ExtBot[dict[str, Any]]],  # ExtBot: the one taking rate_limit_args
        uow: UnitOfWorkFactory,
        clock: Callable[[], datetime],
        admin_chat_id: int | None,
        unit_chats: Iterable[int] = (),
    ) -> None:
        self._bot = bot
        self._uow = uow
        self._clock = clock
        self.admin_chat_id = admin_chat_id  # the root unit's (TELEGRAM_ADMIN_CHAT_ID)
        # Every admin chat: the root's and the units' (XINFANG_UNIT_CHATS).
        self.admin_chats = frozenset(
            {*unit_chats, *((admin_chat_id,) if admin_chat_id is not None else ())}
        )
        self._forum: dict[int, bool] = {}

    async def is_forum(self, chat_id: int | None = None) -> bool:
        """Whether an admin chat (the root's by default) is a forum supergroup (asked once)."""
        chat_id = self.admin_chat_id if chat_id is None else chat_id
        if chat_id is None or chat_id not in self.admin_chats:
            return False
        if chat_id not in self._forum:
            try:
                chat = await self._bot().get_chat(chat_id)
            except TelegramError:
                return False  # ask again next time
            self._forum[chat_id] = bool(chat.is_forum)
        return self._forum[chat_id]

    async def _topic(self, chat_id: int, case_id: int) -> int | None:
        async with self._uow() as uow:
            thread = await uow.telegram.topic_of(chat_id, case_id)
            if thread is not None:
                return thread
            case = await uow.cases.get(case_id)
            name = (case.number if case and case.number else f"#{case_id}")[:128]
        topic = await self._bot().create_forum_topic(chat_id, name, rate_limit_args=PUSH)
        thread = topic.message_thread_id
        async with self._uow() as uow:
            await uow.telegram.add(chat_id, "topic", thread, case_id, self._clock())
            await uow.commit()
        return thread

    async def _remember(self, chat_id: int, message: Message, case_id: int | None) -> None:
        # Which case an admin chat's message belongs to, per chat: a reply to it answers
        # that case, in that chat only.
        if case_id is None or chat_id not in self.admin_chats:
            return
        async with self._uow() as uow:
            await uow.telegram.add(chat_id, "message", message.message_id, case_id, self._clock())
            await uow.commit()

    async def send(
        self,
        chat_id: int,
        replies: Sequence[Reply],
        *,
        push: bool,
        thread_id: int | None = None,
        skip: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Send replies as messages; skip the first ``skip`` messages (sent by an earlier
        attempt). Returns how many messages this delivery consists of."""
        bot = self._bot()
        rl: dict[str, Any] | None = PUSH if push else None
        done = 0
        for reply in replies:
            thread = thread_id
            if push and reply.case_id is not None and chat_id in self.admin_chats:
                if await self.is_forum(chat_id):
                    thread = await self._topic(chat_id, reply.case_id)
            pieces = [p for p in split_text(reply.text) if p.strip()]
            markup = keyboard(reply)
            for i, piece in enumerate(pieces):
                if done >= skip:
                    message = await bot.send_message(
                        chat_id,
                        piece,
                        reply_markup=markup if i == len(pieces) - 1 else None,
                        message_thread_id=thread,
                        rate_limit_args=rl,
                    )
                    await self._remember(chat_id, message, reply.case_id)
                    if progress is not None:
                        progress(done + 1)
                done += 1
            for file in reply.files:
                if done >= skip:
                    upload = InputFile(file.data, filename=file.name)
                    if file.kind == "photo":
                        message = await bot.send_photo(
                            chat_id, upload, message_thread_id=thread, rate_limit_args=rl
                        )
                    else:
                        message = await bot.send_document(
                            chat_id, upload, message_thread_id=thread, rate_limit_args=rl
                        )
                    await self._remember(chat_id, message, reply.case_id)
                    if progress is not None:
                        progress(done + 1)
                done += 1
        return done
