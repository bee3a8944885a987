"""PTB updates in, channel-neutral :class:`handlers.inbound.Inbound` out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace

from telegram import Message, Update

from handlers.inbound import FileIn, Inbound

__all__ = ["CHANNEL", "MAX_DOWNLOAD", "chat_key", "to_inbound"]

CHANNEL = "telegram"
# The Bot API serves downloads up to 20 MB; bigger files cannot be fetched at all.
MAX_DOWNLOAD = 20 * 1024 * 1024

# Content we cannot turn into a petition: the person gets an explanation.
_UNSUPPORTED = (
    "sticker",
    "video_note",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)

CaseLookup = Callable[[int, str, int], Awaitable[int | None]]


@dataclass(frozen=True)
class _Download:
    file_id: str
    size: int | None
    kind: str
    name: str
    mime: str


def chat_key(update: object) -> int | None:
    """The chat whose updates must be handled in order (None: no chat, no ordering)."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _download_of(message: Message) -> _Download | None:
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return _Download(largest.file_id, largest.file_size, "photo", "photo.jpg", "image/jpeg")
    if message.voice is not None:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        return _Download(voice.file_id, voice.file_size, "voice", "voice.ogg", mime)
    for attr, default_mime in (
        ("document", "application/octet-stream"),
        ("video", "video/mp4"),
        ("audio", "audio/mpeg"),
        ("animation", "video/mp4"),
    ):
        media = getattr(message, attr)
        if media is not None:
            name = getattr(media, "file_name", None) or attr
            mime = getattr(media, "mime_type", None) or default_mime
            return _Download(media.file_id, media.file_size, "document", name, mime)
    return None


async def _case_ref(message: Message, bot_id: int, lookup: CaseLookup) -> tuple[int | None, bool]:
    """The case an admin-chat message explicitly answers, if any, and whether it replies
    to a message of the bot that belongs to no case.

    Only a reply to a case's own card or message counts (as recorded when it was sent);
    a reply to anything else the bot wrote (a /cases list, a digest, statistics) stays in
    the admin chat even when its text names a case. In a forum topic every message's
    reply_to_message points at the topic opener: that implicit reply is not an answer,
    so officers can talk inside a case's topic without it reaching the employee.
    """
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None, False
    thread = message.message_thread_id if message.is_topic_message else None
    if thread is not None and replied.message_id == thread:
        return None, False
    chat_id = message.chat.id
    case_id = await lookup(chat_id, "message", replied.message_id)
    if case_id is None and thread is not None:
        case_id = await lookup(chat_id, "topic", thread)
    return case_id, case_id is None


async def to_inbound(
    update: Update,
    *,
    admin_chats: Collection[int],
    bot_id: int,
    download: Callable[[str], Awaitable[bytes]],
    lookup: CaseLookup,
) -> Inbound | None:
    """Translate an update; None when it is nothing for the handlers (service messages,
    other groups, edits)."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    in_admin = chat.id in admin_chats  # the root's admin chat or a unit's
    if chat.type != "private" and not in_admin:
        return None  # a group we were added to by someone else: not ours to answer
    base = Inbound(
        channel=CHANNEL,
        chat_id=str(chat.id),
        sender_id=str(user.id),
        locale=user.language_code,
        in_admin_chat=in_admin,
    )
    query = update.callback_query
    if query is not None:
        if not query.data:
            return None
        return replace(base, button=query.data)
    message = update.message
    if message is None:
        return None
    text = message.text or message.caption
    case_ref, unmapped = await _case_ref(message, bot_id, lookup) if in_admin else (None, False)
    wanted = _download_of(message)
    if wanted is not None:
        if wanted.size is not None and wanted.size > MAX_DOWNLOAD:
            return replace(base, unsupported=True)
        data = await download(wanted.file_id)
        file = FileIn(wanted.kind, wanted.name, wanted.mime, data)
        return replace(base, text=text, file=file, case_ref=case_ref, unmapped_reply=unmapped)
    if any(getattr(message, attr, None) for attr in _UNSUPPORTED):
        return replace(base, unsupported=True)
    if text is None:
        return None  # joins, pins, topic creation and other service messages
    return replace(base, text=text, case_ref=case_ref, unmapped_reply=unmapped)
