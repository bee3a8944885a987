"""A local fake of the Telegram Bot API that real python-telegram-bot talks to over HTTP.

Point PTB at it with ``ApplicationBuilder().base_url(fake.base_url)
.base_file_url(fake.base_file_url)`` (or ``fake.application_builder()``). The fake records
every call, injects updates (getUpdates long poll, or webhook delivery once ``setWebhook``
was called), simulates faults (HTTP status codes with ``retry_after``, blocked chats,
latency) and counts flood-limit violations the way Telegram would.

Conventions: one bot per fake; message ids count per chat, shared by user and bot messages;
a chat keeps the type it was registered with (``add_chat`` or the first message), and
unknown chats are typed from their id (> 0 private, < -10**12 supergroup, else group).
The update builders are synchronous and return the update dict they queued.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import ClientConnectionError, ClientSession, web
from aiohttp.web_request import FileField

JSON = dict[str, Any]

DEFAULT_TOKEN = "123456789:FAKE-bot-token"
DEFAULT_BOT_ID = 123456789

# Parameters PTB sends as raw strings; every other form value is JSON-encoded by PTB.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "caption_parse_mode",
        "question_parse_mode",
        "explanation_parse_mode",
        "callback_query_id",
        "inline_query_id",
        "secret_token",
        "url",
        "name",
        "description",
        "short_description",
        "file_id",
        "emoji",
        "title",
        "question",
        "explanation",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "language_code",
        "icon_custom_emoji_id",
        "custom_title",
        "ip_address",
        "action",
        "photo",
        "document",
        "sticker",
        "video",
        "audio",
        "voice",
        "animation",
        "video_note",
        "thumbnail",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "address",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "invite_link",
        "sticker_set_name",
        "game_short_name",
        "switch_pm_text",
        "switch_pm_parameter",
        "next_offset",
        "start_parameter",
        "payload",
        "currency",
        "provider_token",
        "result_id",
        "error_message",
        "shipping_query_id",
        "pre_checkout_query_id",
        "text_parse_mode",
        "tag",
    }
)

# Methods that put a new message into a chat (subject to flood limits and blocking).
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendSticker",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendVideoNote",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)

DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: simulated failure",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: simulated conflict",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)


class ApiError(Exception):
    """A Bot API error answered with a real HTTP status code."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    filename: str | None
    content: bytes
    content_type: str | None = None


@dataclass
class Call:
    """One Bot API request as the fake received it."""

    method: str
    params: JSON
    at: float
    token: str = ""
    status: int = 200
    result: Any = None


@dataclass
class StoredFile:
    """A file the fake can serve through getFile and the file download URL."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    count: int
    chat_id: int | str | None


@dataclass
class FloodViolation:
    """A send that broke one of Telegram's flood limits."""

    method: str
    chat_id: int | str
    rule: str
    at: float


class ManualClock:
    """A controllable monotonic clock for flood accounting: call it to read, advance() to move."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def utf16_len(text: str) -> int:
    """Length of text in UTF-16 code units, as Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str | None) -> list[JSON]:
    """The bot_command entity Telegram attaches to a message starting with '/'."""
    if not text or not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def decode_form_value(name: str, value: str) -> Any:
    """Decode one form field as PTB encoded it: strings raw, everything else JSON."""
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _strip_reply(message: JSON) -> JSON:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


class FakeBotApi:
    """A fake Telegram Bot API server on 127.0.0.1 (port 0) for end-to-end tests with PTB."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "xinfang_test_bot",
        clock: Callable[[], float] = time.monotonic,
        enforce_limits: bool = False,
        overall_per_second: int = 30,
        private_min_interval: float = 0.9,
        group_per_minute: int = 20,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.clock = clock
        self.enforce_limits = enforce_limits
        self.overall_per_second = overall_per_second
        self.private_min_interval = private_min_interval
        self.group_per_minute = group_per_minute
        self.latency = latency

        self.calls: list[Call] = []
        self.seen_tokens: set[str] = set()
        self.files: dict[str, StoredFile] = {}
        self.chats: dict[int | str, JSON] = {}
        self.users: dict[int, JSON] = {}
        self.members: dict[tuple[int | str, int], JSON] = {}
        self.topics: dict[int | str, dict[int, JSON]] = {}
        self.commands: dict[str, list[JSON]] = {}
        self.blocked: set[int | str] = set()
        self.deleted: list[tuple[int | str, int]] = []
        self.flood_log: list[FloodViolation] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_responses: list[int] = []
        self.webhook_retry_delay = 0.1

        self._messages: dict[int | str, dict[int, JSON]] = {}
        self._next_message_id: dict[int | str, int] = {}
        self._sent: list[tuple[int | str, JSON]] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self._slow: dict[str, deque[float]] = {}
        self._overall_window: deque[float] = deque()
        self._group_windows: dict[int | str, deque[float]] = {}
        self._private_last: dict[int | str, float] = {}
        self._changed = asyncio.Event()
        self._polling = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._webhook_queue: asyncio.Queue[JSON] = asyncio.Queue()
        self._webhook_task: asyncio.Task[None] | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start listening on 127.0.0.1 with an ephemeral port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Wake every long poll, stop webhook delivery and shut the server down."""
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            try:
                await self._webhook_task
            except asyncio.CancelledError:
                pass
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """The value for ApplicationBuilder.base_url / Bot(base_url=...)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for ApplicationBuilder.base_file_url / Bot(base_file_url=...)."""
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        """The bot's user id (the numeric prefix of the token)."""
        prefix = self.token.split(":", 1)[0]
        return int(prefix) if prefix.isdigit() else DEFAULT_BOT_ID

    @property
    def bot_user(self) -> JSON:
        """The bot as a Telegram User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Xinfang Test Bot",
            "username": self.bot_username,
        }

    def application_builder(self) -> Any:
        """A PTB ApplicationBuilder already pointed at this fake with its token."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # ------------------------------------------------------------------ chats and users

    def add_chat(
        self,
        chat_id: int | str,
        chat_type: str = "private",
        *,
        title: str | None = None,
        is_forum: bool = False,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSON:
        """Register (or update) a chat and return its Chat object."""
        chat: JSON = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name or f"User {chat_id}"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        if is_forum:
            chat["is_forum"] = True
        if username:
            chat["username"] = username
        self.chats[chat_id] = chat
        return chat

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> JSON:
        """Register (or update) a user and return its User object."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name or f"U{user_id}"}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return user

    def set_member(
        self, chat_id: int | str, user_id: int, status: str = "member", **extra: Any
    ) -> JSON:
        """Set a user's status in a chat (creator/administrator/member/restricted/left/kicked)."""
        user = self.bot_user if user_id == self.bot_id else self._user(user_id)
        member: JSON = {"status": status, "user": user}
        if status == "administrator":
            member.update({right: True for right in ADMIN_RIGHTS})
            member["is_anonymous"] = False
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "restricted":
            member.update({right: False for right in RESTRICTED_RIGHTS})
            member.update({"is_member": True, "until_date": 0})
        elif status == "kicked":
            member["until_date"] = 0
        member.update(extra)
        self.members[(chat_id, user_id)] = member
        return member

    def _chat(self, chat_id: int | str, chat_type: str | None = None) -> JSON:
        """The registered chat; registered now (type guessed from the id) if unknown."""
        chat = self.chats.get(chat_id)
        if chat is not None and chat_type in (None, chat["type"]):
            return chat
        if chat_type is None:
            if isinstance(chat_id, int) and chat_id > 0:
                chat_type = "private"
            elif isinstance(chat_id, int) and chat_id < -1_000_000_000_000:
                chat_type = "supergroup"
            else:
                chat_type = "group"
        old = chat or {}
        return self.add_chat(
            chat_id, chat_type, title=old.get("title"), is_forum=bool(old.get("is_forum"))
        )

    def _user(self, user_id: int, language_code: str | None = "zh-hans") -> JSON:
        user = self.users.get(user_id)
        if user is None:
            user = self.add_user(user_id, language_code=language_code)
        return user

    # ------------------------------------------------------------------ message store

    def _new_message_id(self, chat_id: int | str) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def message(self, chat_id: int | str, message_id: int) -> JSON:
        """The stored Message object with this id in this chat (KeyError if absent)."""
        return self._messages[chat_id][message_id]

    def _store(self, message: JSON) -> JSON:
        self._messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message
        return message

    def _base_message(
        self,
        chat_id: int | str,
        sender: JSON,
        *,
        chat_type: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        is_topic_message: bool = False,
    ) -> JSON:
        chat = self._chat(chat_id, chat_type)
        message: JSON = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": dict(chat),
            "from": dict(sender),
        }
        topics = self.topics.get(chat_id, {})
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            if is_topic_message or message_thread_id in topics:
                message["is_topic_message"] = True
        if reply_to_message_id is not None:
            replied = self._messages.get(chat_id, {}).get(reply_to_message_id)
            if replied is None:
                raise ApiError(400, "Bad Request: message to be replied not found")
            message["reply_to_message"] = _strip_reply(replied)
        elif message_thread_id is not None and message_thread_id in topics:
            opener = self._messages.get(chat_id, {}).get(message_thread_id)
            if opener is not None:
                message["reply_to_message"] = _strip_reply(opener)
        return message

    def sent_to(self, chat_id: int | str) -> list[JSON]:
        """Messages the bot sent to this chat, oldest first (edits show their latest state)."""
        return [message for target, message in self._sent if target == chat_id]

    def texts_to(self, chat_id: int | str) -> list[str]:
        """Text (or caption) of each message the bot sent to this chat."""
        return [str(m.get("text") or m.get("caption") or "") for m in self.sent_to(chat_id)]

    @property
    def sent(self) -> list[tuple[int | str, JSON]]:
        """Every (chat_id, message) the bot sent, oldest first."""
        return list(self._sent)

    def calls_to(self, method: str) -> list[Call]:
        """Successful and failed calls of one method, oldest first."""
        return [call for call in self.calls if call.method == method]

    @property
    def flood_violations(self) -> int:
        """How many sends broke a Telegram flood limit."""
        return len(self.flood_log)

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until condition() is true (checked after every call and injected update)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}({c.status})" for c in self.calls[-15:])
                raise AssertionError(f"condition not met within {timeout}s; calls: {recent}")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> Call:
        """Wait for the first call (from index `since` of fake.calls) matching predicate."""
        found: list[Call] = []

        def matched() -> bool:
            for call in self.calls[since:]:
                if predicate(call):
                    found.append(call)
                    return True
            return False

        await self.wait_until(matched, timeout)
        return found[0]

    async def wait_for_messages(
        self,
        chat_id: int | str,
        n: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[JSON]:
        """Wait until the bot has sent at least n messages to chat_id; return them all."""
        await self.wait_until(lambda: len(self.sent_to(chat_id)) >= n, timeout)
        return self.sent_to(chat_id)

    async def wait_polling(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a getUpdates request has arrived (the bot is polling)."""
        try:
            await asyncio.wait_for(self._polling.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no getUpdates request within {timeout}s") from None

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        count: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next `count` calls of method ('*': any; optionally one chat) with error."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            default = DEFAULT_DESCRIPTIONS.get(status, f"Simulated error {status}")
            description = default.format(retry_after=retry_after)
        self._faults.append(_Fault(method, status, description, retry_after, count, chat_id))

    def block_chat(self, chat_id: int | str) -> None:
        """Make every send to this chat answer 403 'Forbidden: bot was blocked by the user'."""
        self.blocked.add(chat_id)

    def unblock_chat(self, chat_id: int | str) -> None:
        """Undo block_chat."""
        self.blocked.discard(chat_id)

    def slow_next(self, method: str, seconds: float) -> None:
        """Delay the next call of method by `seconds` before answering."""
        self._slow.setdefault(method, deque()).append(seconds)

    def _take_fault(self, method: str, params: JSON) -> _Fault | None:
        for fault in self._faults:
            if fault.method not in (method, "*"):
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.count -= 1
            if fault.count <= 0:
                self._faults.remove(fault)
            return fault
        return None

    # ------------------------------------------------------------------ flood accounting

    def _check_flood(self, method: str, chat_id: int | str) -> None:
        now = self.clock()
        chat_type = self._chat(chat_id)["type"]
        overall = self._overall_window
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        rule: str | None = None
        retry_after = 1.0
        if len(overall) + 1 > self.overall_per_second:
            rule = "overall"
            retry_after = overall[len(overall) - self.overall_per_second] + 1.0 - now
        group: deque[float] | None = None
        if chat_type == "private":
            last = self._private_last.get(chat_id)
            if last is not None and now - last < self.private_min_interval:
                rule = rule or "private"
                retry_after = max(retry_after, last + self.private_min_interval - now)
        elif chat_type in ("group", "supergroup"):
            group = self._group_windows.setdefault(chat_id, deque())
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) + 1 > self.group_per_minute:
                rule = rule or "group"
                retry_after = max(
                    retry_after, group[len(group) - self.group_per_minute] + 60.0 - now
                )
        if rule is not None:
            self.flood_log.append(FloodViolation(method, chat_id, rule, now))
            if self.enforce_limits:
                seconds = max(1, math.ceil(retry_after))
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
        overall.append(now)
        if chat_type == "private":
            self._private_last[chat_id] = now
        elif group is not None:
            group.append(now)

    # ------------------------------------------------------------------ update injection

    def raw_update(self, update: JSON) -> JSON:
        """Queue an update as given (update_id assigned if missing) and return it."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        if self.webhook_url is not None:
            self._webhook_queue.put_nowait(update)
            if self._webhook_task is None:
                self._webhook_task = asyncio.get_running_loop().create_task(
                    self._deliver_webhooks()
                )
        else:
            self._updates.append(update)
        self._notify()
        return update

    def _user_message(
        self,
        chat_id: int | str,
        user_id: int,
        *,
        chat_type: str | None,
        language_code: str | None,
        reply_to_message_id: int | None,
        message_thread_id: int | None,
        is_topic_message: bool,
        content: JSON,
    ) -> JSON:
        message = self._base_message(
            chat_id,
            self._user(user_id, language_code),
            chat_type=chat_type,
            message_thread_id=message_thread_id,
            reply_to_message_id=reply_to_message_id,
            is_topic_message=is_topic_message,
        )
        message.update(content)
        self._store(message)
        return self.raw_update({"message": message})

    def user_message(
        self,
        chat_id: int | str,
        user_id: int,
        text: str,
        *,
        chat_type: str | None = None,
        language_code: str | None = "zh-hans",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """Queue a text message from a user (commands get a bot_command entity); return update."""
        content: JSON = {"text": text}
        ents = entities if entities is not None else command_entities(text)
        if ents:
            content["entities"] = ents
        return self._user_message(
            chat_id,
            user_id,
            chat_type=chat_type,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            content=content,
        )

    def _new_file(self, content: bytes, folder: str, suffix: str = "") -> StoredFile:
        number = next(self._file_ids)
        file_id = f"FAKE-{folder}-{number}"
        stored = StoredFile(
            file_id, f"U{folder}{number}", content, f"{folder}/file_{number}{suffix}"
        )
        self.files[file_id] = stored
        return stored

    def add_file(
        self,
        file_id: str,
        content: bytes,
        file_path: str | None = None,
        *,
        file_unique_id: str | None = None,
    ) -> StoredFile:
        """Register a file the bot can fetch with getFile and download."""
        stored = StoredFile(
            file_id, file_unique_id or f"U{file_id}", content, file_path or f"documents/{file_id}"
        )
        self.files[file_id] = stored
        return stored

    def user_photo(
        self,
        chat_id: int | str,
        user_id: int,
        content: bytes = b"\x89PNG\r\n\x1a\nfake-photo",
        *,
        caption: str | None = None,
        chat_type: str | None = None,
        language_code: str | None = "zh-hans",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
        width: int = 1280,
        height: int = 960,
    ) -> JSON:
        """Queue a photo from a user (largest size last, downloadable); return the update."""
        small = self._new_file(content[:64], "photos", ".jpg")
        large = self._new_file(content, "photos", ".jpg")
        content_json: JSON = {
            "photo": [
                {
                    "file_id": small.file_id,
                    "file_unique_id": small.file_unique_id,
                    "width": 90,
                    "height": 90 * height // max(width, 1),
                    "file_size": len(small.content),
                },
                {
                    "file_id": large.file_id,
                    "file_unique_id": large.file_unique_id,
                    "width": width,
                    "height": height,
                    "file_size": len(content),
                },
            ]
        }
        if caption is not None:
            content_json["caption"] = caption
        return self._user_message(
            chat_id,
            user_id,
            chat_type=chat_type,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            content=content_json,
        )

    def user_document(
        self,
        chat_id: int | str,
        user_id: int,
        content: bytes,
        file_name: str = "document.pdf",
        *,
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_type: str | None = None,
        language_code: str | None = "zh-hans",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
    ) -> JSON:
        """Queue a document from a user, registered for download; return the update."""
        stored = self._new_file(content, "documents", "_" + file_name)
        content_json: JSON = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(content),
            }
        }
        if caption is not None:
            content_json["caption"] = caption
        return self._user_message(
            chat_id,
            user_id,
            chat_type=chat_type,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            content=content_json,
        )

    def user_sticker(
        self,
        chat_id: int | str,
        user_id: int,
        emoji: str = "👍",
        *,
        chat_type: str | None = None,
        language_code: str | None = "zh-hans",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        is_topic_message: bool = False,
    ) -> JSON:
        """Queue a sticker from a user; return the update."""
        stored = self._new_file(b"RIFF-fake-webp", "stickers", ".webp")
        sticker: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": emoji,
        }
        return self._user_message(
            chat_id,
            user_id,
            chat_type=chat_type,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
            is_topic_message=is_topic_message,
            content={"sticker": sticker},
        )

    def callback_query(
        self,
        chat_id: int | str,
        user_id: int,
        data: str,
        message_id: int,
        *,
        chat_type: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> JSON:
        """Queue a button press on the stored message message_id; return the update."""
        chat = self._chat(chat_id, chat_type)
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": dict(chat),
                "from": self.bot_user,
                "text": "",
            }
        query: JSON = {
            "id": str(next(self._callback_ids)),
            "from": self._user(user_id, language_code),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": message,
        }
        return self.raw_update({"callback_query": query})

    # ------------------------------------------------------------------ webhook delivery

    async def post_webhook(
        self,
        url: str,
        update: JSON,
        secret_token: str | None = None,
        *,
        retry_for: float = 5.0,
    ) -> int:
        """POST an update to a webhook URL (retrying connection errors); return HTTP status."""
        if self._session is None:
            self._session = ClientSession()
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry_for
        body = json.dumps(update, ensure_ascii=False).encode()
        while True:
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status
            except ClientConnectionError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)

    async def _deliver_webhooks(self) -> None:
        while True:
            update = await self._webhook_queue.get()
            url = self.webhook_url
            if url is None:
                self._updates.append(update)
                continue
            while True:  # like Telegram: keep the update until the webhook answers 2xx
                try:
                    status = await self.post_webhook(url, update, self.webhook_secret)
                except ClientConnectionError:
                    status = 0
                self.webhook_responses.append(status)
                self._notify()
                if 200 <= status < 300 or self.webhook_url != url:
                    break
                await asyncio.sleep(self.webhook_retry_delay)
            if not 200 <= status < 300:
                if self.webhook_url is None:
                    self._updates.append(update)
                else:
                    self._webhook_queue.put_nowait(update)

    # ------------------------------------------------------------------ HTTP handlers

    async def _parse(self, request: web.Request) -> JSON:
        params: JSON = {k: decode_form_value(k, v) for k, v in request.query.items()}
        ctype = request.content_type
        if not request.body_exists:
            return params
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, FileField):
                    params[key] = UploadedFile(
                        value.filename, value.file.read(), value.content_type
                    )
                elif isinstance(value, bytes | bytearray):
                    params[key] = UploadedFile(None, bytes(value))
                else:
                    params[key] = decode_form_value(key, value)
        else:
            await request.read()
        return params

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: JSON = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        self.seen_tokens.add(token)
        params = await self._parse(request)
        delay = self.latency
        slow = self._slow.get(method)
        if slow:
            delay += slow.popleft()
        if delay > 0:
            await asyncio.sleep(delay)
        call = Call(method, params, self.clock(), token)
        self.calls.append(call)
        try:
            result = await self._dispatch(call)
        except ApiError as err:
            call.status = err.status
            self._notify()
            return self._error(err.status, err.description, err.retry_after)
        call.result = result
        self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.seen_tokens.add(request.match_info["token"])
        await asyncio.sleep(self.latency)
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.content)
        return web.Response(status=404, text="Not Found")

    async def _dispatch(self, call: Call) -> Any:
        method, params = call.method, call.params
        fault = self._take_fault(method, params)
        if fault is not None:
            raise ApiError(fault.status, fault.description, fault.retry_after)
        chat_id = params.get("chat_id")
        if chat_id is not None and chat_id in self.blocked:
            if method in SEND_METHODS or method in EDIT_METHODS or method == "sendChatAction":
                raise ApiError(403, DEFAULT_DESCRIPTIONS[403])
        if method in SEND_METHODS:
            if chat_id is None:
                raise ApiError(400, "Bad Request: chat_id is empty")
            self._check_flood(method, chat_id)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise ApiError(400, f"Bad Request: method {method} is not implemented by the fake")
        return await handler(params)

    # ------------------------------------------------------------------ API methods

    async def _api_getMe(self, params: JSON) -> Any:  # noqa: N802
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_logOut(self, params: JSON) -> Any:  # noqa: N802
        return True

    async def _api_close(self, params: JSON) -> Any:
        return True

    async def _api_deleteWebhook(self, params: JSON) -> Any:  # noqa: N802
        self.webhook_url = None
        self.webhook_secret = None
        while not self._webhook_queue.empty():
            self._updates.append(self._webhook_queue.get_nowait())
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_setWebhook(self, params: JSON) -> Any:  # noqa: N802
        url = params.get("url") or None
        self.webhook_url = url
        self.webhook_secret = params.get("secret_token") if url else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if url is not None:
            for update in self._updates:
                self._webhook_queue.put_nowait(update)
            self._updates.clear()
            if self._webhook_task is None and not self._webhook_queue.empty():
                self._webhook_task = asyncio.get_running_loop().create_task(
                    self._deliver_webhooks()
                )
        return True

    async def _api_getWebhookInfo(self, params: JSON) -> Any:  # noqa: N802
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates) + self._webhook_queue.qsize(),
        }

    async def _api_getUpdates(self, params: JSON) -> Any:  # noqa: N802
        self._polling.set()
        if self.webhook_url is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            pending = [u for u in self._updates if u["update_id"] >= offset]
            remaining = deadline - loop.time()
            if pending or remaining <= 0 or self._closing:
                return pending[:limit]
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _reply_to(self, params: JSON) -> int | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            if reply.get("allow_sending_without_reply"):
                chat_id = reply["chat_id"] if "chat_id" in reply else params["chat_id"]
                if reply["message_id"] not in self._messages.get(chat_id, {}):
                    return None
            return int(reply["message_id"])
        legacy = params.get("reply_to_message_id")
        return int(legacy) if legacy is not None else None

    def _bot_message(self, params: JSON, content: JSON) -> JSON:
        chat_id = params["chat_id"]
        thread = params.get("message_thread_id")
        message = self._base_message(
            chat_id,
            self.bot_user,
            message_thread_id=int(thread) if thread is not None else None,
            reply_to_message_id=self._reply_to(params),
        )
        message.update(content)
        if params.get("reply_markup") is not None:
            markup = params["reply_markup"]
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
        self._store(message)
        self._sent.append((chat_id, message))
        return message

    async def _api_sendMessage(self, params: JSON) -> Any:  # noqa: N802
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSON = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._bot_message(params, content)

    def _media_content(self, value: Any, kind: str) -> tuple[StoredFile, str | None]:
        if isinstance(value, UploadedFile):
            suffix = f"_{value.filename}" if value.filename else ""
            return self._new_file(value.content, kind, suffix), value.filename
        if isinstance(value, str) and value in self.files:
            return self.files[value], None
        if isinstance(value, str) and value:
            stored = StoredFile(value, f"U{value}", b"", f"{kind}/{value}")
            self.files[value] = stored
            return stored, None
        raise ApiError(400, f"Bad Request: there is no {kind.rstrip('s')} in the request")

    def _caption(self, params: JSON, content: JSON) -> JSON:
        if params.get("caption") is not None:
            content["caption"] = params["caption"]
            if params.get("caption_entities"):
                content["caption_entities"] = params["caption_entities"]
        return content

    async def _api_sendPhoto(self, params: JSON) -> Any:  # noqa: N802
        stored, _ = self._media_content(params.get("photo"), "photos")
        size = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 1280,
            "height": 960,
            "file_size": len(stored.content),
        }
        return self._bot_message(params, self._caption(params, {"photo": [size]}))

    async def _api_sendDocument(self, params: JSON) -> Any:  # noqa: N802
        stored, filename = self._media_content(params.get("document"), "documents")
        document: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if filename:
            document["file_name"] = filename
        return self._bot_message(params, self._caption(params, {"document": document}))

    async def _api_sendSticker(self, params: JSON) -> Any:  # noqa: N802
        stored, _ = self._media_content(params.get("sticker"), "stickers")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return self._bot_message(params, {"sticker": sticker})

    def _source(self, params: JSON, verb: str) -> JSON:
        source = self._messages.get(params.get("from_chat_id"), {}).get(  # type: ignore[arg-type]
            params.get("message_id")  # type: ignore[arg-type]
        )
        if source is None:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return source

    async def _api_copyMessage(self, params: JSON) -> Any:  # noqa: N802
        source = self._source(params, "copy")
        keys = ("text", "entities", "photo", "document", "sticker", "caption", "caption_entities")
        content = {k: source[k] for k in keys if k in source}
        if "caption" in params:
            content.pop("caption_entities", None)
            if params["caption"]:
                content["caption"] = params["caption"]
            else:
                content.pop("caption", None)
        message = self._bot_message(params, content)
        return {"message_id": message["message_id"]}

    async def _api_forwardMessage(self, params: JSON) -> Any:  # noqa: N802
        source = self._source(params, "forward")
        keys = ("text", "entities", "photo", "document", "sticker", "caption", "caption_entities")
        content = {k: source[k] for k in keys if k in source}
        content["forward_origin"] = {
            "type": "user",
            "date": source["date"],
            "sender_user": source.get("from", self.bot_user),
        }
        return self._bot_message(params, content)

    def _target(self, params: JSON, verb: str) -> JSON:
        message = self._messages.get(params.get("chat_id"), {}).get(  # type: ignore[arg-type]
            params.get("message_id")  # type: ignore[arg-type]
        )
        if message is None:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return message

    async def _api_editMessageText(self, params: JSON) -> Any:  # noqa: N802
        if params.get("inline_message_id"):
            return True
        message = self._target(params, "edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message["text"] = text
        if params.get("entities"):
            message["entities"] = params["entities"]
        else:
            message.pop("entities", None)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _api_editMessageCaption(self, params: JSON) -> Any:  # noqa: N802
        if params.get("inline_message_id"):
            return True
        message = self._target(params, "edit")
        message["caption"] = params.get("caption", "")
        self._set_markup(message, params.get("reply_markup"))
        message["edit_date"] = int(time.time())
        return message

    async def _api_editMessageReplyMarkup(self, params: JSON) -> Any:  # noqa: N802
        if params.get("inline_message_id"):
            return True
        message = self._target(params, "edit")
        markup = params.get("reply_markup")
        if message.get("reply_markup") == markup or (
            markup is None and "reply_markup" not in message
        ):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    @staticmethod
    def _set_markup(message: JSON, markup: Any) -> None:
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    async def _api_deleteMessage(self, params: JSON) -> Any:  # noqa: N802
        message = self._target(params, "delete")
        del self._messages[message["chat"]["id"]][message["message_id"]]
        self.deleted.append((message["chat"]["id"], message["message_id"]))
        return True

    async def _api_answerCallbackQuery(self, params: JSON) -> Any:  # noqa: N802
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    async def _api_sendChatAction(self, params: JSON) -> Any:  # noqa: N802
        return True

    async def _api_setMyCommands(self, params: JSON) -> Any:  # noqa: N802
        scope = params.get("scope") or {"type": "default"}
        key = json.dumps([scope, params.get("language_code", "")], sort_keys=True)
        self.commands[key] = list(params.get("commands") or [])
        return True

    async def _api_getMyCommands(self, params: JSON) -> Any:  # noqa: N802
        scope = params.get("scope") or {"type": "default"}
        key = json.dumps([scope, params.get("language_code", "")], sort_keys=True)
        return self.commands.get(key, [])

    async def _api_deleteMyCommands(self, params: JSON) -> Any:  # noqa: N802
        scope = params.get("scope") or {"type": "default"}
        self.commands.pop(
            json.dumps([scope, params.get("language_code", "")], sort_keys=True), None
        )
        return True

    async def _api_getChat(self, params: JSON) -> Any:  # noqa: N802
        chat = self.chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    def _member(self, chat_id: int | str, user_id: int) -> JSON:
        member = self.members.get((chat_id, user_id))
        if member is not None:
            return member
        chat = self._chat(chat_id)
        if user_id == self.bot_id and chat["type"] in ("group", "supergroup"):
            return self.set_member(chat_id, user_id, "administrator")
        return {"status": "member", "user": self._user(user_id)}

    async def _api_getChatMember(self, params: JSON) -> Any:  # noqa: N802
        if params.get("chat_id") not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        return self._member(params["chat_id"], int(params["user_id"]))

    async def _api_getChatAdministrators(self, params: JSON) -> Any:  # noqa: N802
        chat_id = params.get("chat_id")
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        return [
            member
            for (member_chat, _), member in self.members.items()
            if member_chat == chat_id and member["status"] in ("creator", "administrator")
        ]

    async def _api_getChatMemberCount(self, params: JSON) -> Any:  # noqa: N802
        chat_id = params.get("chat_id")
        return max(2, sum(1 for (c, _) in self.members if c == chat_id))

    async def _api_createForumTopic(self, params: JSON) -> Any:  # noqa: N802
        chat_id = params["chat_id"]
        chat = self._chat(chat_id)
        if chat["type"] != "supergroup" or not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        name = params.get("name") or ""
        icon_color = int(params.get("icon_color") or 0x6FB9F0)
        opener = self._base_message(chat_id, self.bot_user)
        thread_id = opener["message_id"]
        opener.update(
            {
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "forum_topic_created": {"name": name, "icon_color": icon_color},
            }
        )
        self._store(opener)
        topic: JSON = {"message_thread_id": thread_id, "name": name, "icon_color": icon_color}
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
        self.topics.setdefault(chat_id, {})[thread_id] = topic
        return topic

    async def _api_editForumTopic(self, params: JSON) -> Any:  # noqa: N802
        topic = self.topics.get(params.get("chat_id"), {}).get(  # type: ignore[arg-type]
            params.get("message_thread_id")  # type: ignore[arg-type]
        )
        if topic is None:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        if params.get("name"):
            topic["name"] = params["name"]
        return True

    async def _api_closeForumTopic(self, params: JSON) -> Any:  # noqa: N802
        return True

    async def _api_reopenForumTopic(self, params: JSON) -> Any:  # noqa: N802
        return True

    async def _api_getFile(self, params: JSON) -> Any:  # noqa: N802
        stored = self.files.get(params.get("file_id", ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }


__all__ = [
    "ApiError",
    "Call",
    "FakeBotApi",
    "FloodViolation",
    "ManualClock",
    "StoredFile",
    "UploadedFile",
    "command_entities",
    "decode_form_value",
    "utf16_len",
]
