"""What channels hand to the handlers and what the handlers hand back."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Button", "FileIn", "FileOut", "Inbound", "Reply"]


@dataclass(frozen=True)
class FileIn:
    """A file the sender attached, already downloaded by the adapter."""

    kind: str  # photo | document
    name: str
    mime: str
    data: bytes

    def __repr__(self) -> str:  # never dump file bytes into logs
        return f"FileIn(kind={self.kind!r}, mime={self.mime!r}, size={len(self.data)})"


@dataclass(frozen=True)
class Inbound:
    """One thing a person did in a chat, in channel-neutral form."""

    channel: str  # telegram | wecom | web | console
    chat_id: str
    sender_id: str
    locale: str | None = None
    text: str | None = None
    button: str | None = None  # payload of a pressed button
    file: FileIn | None = None
    in_admin_chat: bool = False
    case_ref: int | None = None  # the case an admin-chat message replies to, if any
    # An admin-chat reply to a bot message that is no case's card or message (a list, a
    # digest): it stays internal, and the officer is told so.
    unmapped_reply: bool = False
    unsupported: bool = False  # stickers, voice, locations...

    def __repr__(self) -> str:  # ids and text stay out of logs and tracebacks
        return (
            f"Inbound(channel={self.channel!r}, admin={self.in_admin_chat}, "
            f"text={self.text is not None}, button={self.button is not None}, "
            f"file={self.file is not None})"
        )


@dataclass(frozen=True)
class Button:
    """A choice offered under a message; the payload fits Telegram's 64-byte limit."""

    label: str
    payload: str

    def __post_init__(self) -> None:
        if len(self.payload.encode("utf-8")) > 64:
            raise ValueError("button payload over 64 bytes")


@dataclass(frozen=True)
class FileOut:
    """A file to show (evidence in a case card).

    ``attachment_id`` names the stored file, so a channel that fetches files on demand (the
    web page) can be given the reference with empty ``data`` and the ``size`` it will get.
    """

    kind: str
    name: str
    mime: str
    data: bytes
    attachment_id: int | None = None
    size: int | None = None  # of the stored file; None: len(data)

    def __repr__(self) -> str:
        size = self.size if self.size is not None else len(self.data)
        return (
            f"FileOut(kind={self.kind!r}, mime={self.mime!r}, size={size}, "
            f"attachment_id={self.attachment_id!r})"
        )


@dataclass(frozen=True)
class Reply:
    """A message to send back; adapters render it for their platform."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    files: tuple[FileOut, ...] = field(default=())
    case_id: int | None = None  # lets an adapter map replies to this message to the case
