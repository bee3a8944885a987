"""Turn channel-neutral replies into WeCom app messages (text and template cards).

Buttons become ``button_interaction`` template cards: at most six buttons per card, the
button ``key`` is our payload (WeCom returns it as the event's EventKey), and every card
gets a task_id of its own. Replies with more buttons than ``MAX_CARDS`` cards hold are
sent as text with numbered options; :class:`PendingChoices` maps a typed number back to
the option's payload.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.inbound import Button, Reply

__all__ = [
    "MAX_BUTTONS_PER_CARD",
    "MAX_CARDS",
    "MAX_TEXT_BYTES",
    "Outgoing",
    "PendingChoices",
    "new_task_id",
    "render_reply",
    "split_text",
]

MAX_BUTTONS_PER_CARD = 6  # WeCom: button_list holds at most 6 buttons
MAX_CARDS = 3  # more cards than this for one reply is a wall of cards: list as text instead
MAX_TEXT_BYTES = 2048  # WeCom truncates longer text messages
TITLE_CHARS = 36  # main_title.title: "建议不超过36个字"
SUBTITLE_CHARS = 160  # sub_title_text: "建议不超过160个字"
CARD_TYPE = "button_interaction"


@dataclass(frozen=True)
class Outgoing:
    """One message/send body part: ``msgtype`` and its payload."""

    msgtype: str  # text | template_card
    payload: dict[str, Any] = field(repr=False)
    options: tuple[str, ...] = field(default=(), repr=False)  # payloads offered by number


def new_task_id() -> str:
    """A task id unique within the app (letters, digits and ``_-@`` only, ≤128 bytes)."""
    return f"xf-{uuid.uuid4().hex}"


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split text into parts of at most ``limit`` UTF-8 bytes, at line breaks when possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while len(line.encode("utf-8")) > limit:  # one line longer than a message
            cut = _fit(line, limit)
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not parts:
        parts.append(current)
    return parts


def _fit(text: str, limit: int) -> int:
    """The longest prefix length of ``text`` whose UTF-8 encoding fits ``limit`` bytes."""
    size = 0
    for i, char in enumerate(text):
        size += len(char.encode("utf-8"))
        if size > limit:
            return max(i, 1)
    return len(text)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unique_buttons(rows: Sequence[Sequence[Button]]) -> list[Button]:
    # A key may appear only once per card; the first label wins.
    seen: set[str] = set()
    result = []
    for row in rows:
        for button in row:
            if button.payload not in seen:
                seen.add(button.payload)
                result.append(button)
    return result


def _with_files(reply: Reply) -> str:
    # Files are not uploaded to WeCom (see docs/wecom.md); name them so nobody misses them.
    names = [f"📎 {f.name}" for f in reply.files]
    return "\n".join([reply.text, *names]) if names else reply.text


def _texts(text: str) -> list[Outgoing]:
    return [Outgoing("text", {"content": part}) for part in split_text(text) if part.strip()]


def _card(title: str, sub: str, buttons: Sequence[Button], task_id: str, desc: str) -> Outgoing:
    main: dict[str, str] = {"title": title}
    if desc:
        main["desc"] = desc
    card: dict[str, Any] = {"card_type": CARD_TYPE, "main_title": main, "task_id": task_id}
    if sub:
        card["sub_title_text"] = sub
    card["button_list"] = [{"text": b.label, "style": 1, "key": b.payload} for b in buttons]
    return Outgoing("template_card", card)


def render_reply(reply: Reply, *, task_id: Callable[[], str] = new_task_id) -> list[Outgoing]:
    """Render one reply as the WeCom messages to send, in order."""
    text = _with_files(reply)
    buttons = _unique_buttons(reply.buttons)
    if not buttons:
        return _texts(text)
    if len(buttons) > MAX_BUTTONS_PER_CARD * MAX_CARDS:
        options = "\n".join(f"{i}. {b.label}" for i, b in enumerate(buttons, start=1))
        listing = f"{text}\n\n{options}" if text.strip() else options
        parts = _texts(listing)
        last = parts[-1]
        parts[-1] = Outgoing(last.msgtype, last.payload, tuple(b.payload for b in buttons))
        return parts
    head, _, rest = text.strip().partition("\n")
    rest = rest.strip()
    messages: list[Outgoing] = []
    if len(head) <= TITLE_CHARS and len(rest) <= SUBTITLE_CHARS:
        title, sub = head or "·", rest
    else:
        # Too long for a card: the full text goes first, the card carries the choices.
        messages.extend(_texts(text))
        title, sub = _shorten(head, TITLE_CHARS) or "·", ""
    chunks = [
        buttons[i : i + MAX_BUTTONS_PER_CARD] for i in range(0, len(buttons), MAX_BUTTONS_PER_CARD)
    ]
    for n, chunk in enumerate(chunks, start=1):
        desc = f"{n}/{len(chunks)}" if len(chunks) > 1 else ""
        messages.append(_card(title, sub if n == 1 else "", chunk, task_id(), desc))
    return messages


class PendingChoices:
    """Numbered options offered as text, per WeCom user, in memory (bounded, newest kept)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._by_user: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def offer(self, userid: str, payloads: tuple[str, ...]) -> None:
        """Remember the options just listed to ``userid``."""
        self._by_user[userid] = payloads
        self._by_user.move_to_end(userid)
        while len(self._by_user) > self._limit:
            self._by_user.popitem(last=False)

    def take(self, userid: str, text: str | None) -> str | None:
        """Forget ``userid``'s options; return the payload when ``text`` picks one by number."""
        options = self._by_user.pop(userid, ())
        choice = (text or "").strip()
        if options and choice.isdigit() and 1 <= int(choice) <= len(options):
            return options[int(choice) - 1]
        return None
