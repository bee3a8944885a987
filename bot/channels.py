"""What a chat channel (Telegram, WeCom, web) provides to the running service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from handlers.inbound import Reply

__all__ = ["Channel", "Delivery", "OutboxSender", "Rejected", "RetryLater", "Unreachable"]


@dataclass(frozen=True)
class Delivery:
    """One outbox row, rendered and addressed, for a channel to send."""

    row_id: int
    audience: str  # employee | admin | officer
    kind: str
    case_id: int | None
    chat_id: str | None = field(repr=False)  # None for the channel's admin chat
    replies: tuple[Reply, ...] = field(repr=False)


class RetryLater(Exception):  # noqa: N818 - a signal, not an error
    """The platform asked us to wait (429) or failed transiently (5xx, timeout)."""

    def __init__(self, after: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {after:.1f}s")
        self.after = after
        self.reason = reason


class Unreachable(Exception):  # noqa: N818
    """The recipient cannot be reached any more (blocked the bot, left the company)."""


class Rejected(Exception):  # noqa: N818
    """The platform refused this message for good (a bug on our side); do not retry."""


class OutboxSender(Protocol):
    """Sends rendered outbox rows on one channel, under its rate limits."""

    channel: str

    async def send(self, delivery: Delivery) -> None:
        """Send, or raise RetryLater, Unreachable or Rejected."""
        ...


class Channel(Protocol):
    """A chat platform adapter started by ``xinfang run``."""

    name: str

    # Read-only: nothing replaces a channel's sender, and a settable member would be
    # invariant, so a channel could not hold its own sender class.
    @property
    def sender(self) -> OutboxSender: ...

    def add_routes(self, app: web.Application) -> None:
        """Add HTTP endpoints (webhooks, callbacks) to the shared aiohttp server."""
        ...

    async def start(self) -> None:
        """Start receiving updates."""
        ...

    async def stop(self) -> None:
        """Stop receiving updates and release resources."""
        ...
