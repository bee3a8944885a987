"""One inbound event being handled: its unit of work, clock reading and locale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from handlers.inbound import Inbound
from handlers.ports import Conversation, UnitOfWork
from handlers.services import Services

__all__ = ["Turn", "coarse_time"]

_ZONE = ZoneInfo("Asia/Shanghai")


def coarse_time(moment: datetime) -> datetime:
    """The moment rounded down to the hour."""
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Turn:
    """The context of handling one Inbound."""

    inbound: Inbound
    uow: UnitOfWork
    services: Services
    now: datetime
    locale: str
    conversation: Conversation | None

    def t(self, key: str, **params: Any) -> str:
        """Translate a message id into this turn's locale."""
        return self.services.t(key, self.locale, **params)

    @property
    def stamp(self) -> datetime:
        """The time to store for what an employee did: to the hour, not the microsecond.

        Precise times of an anonymous employee's actions would let anyone who also holds
        the chat platform's or the network's logs match the petition to an account; the
        lifecycle needs days (deadlines) and order (row ids), not seconds.
        """
        return coarse_time(self.now)

    @property
    def step(self) -> str:
        """The conversation step, ``idle`` when there is none."""
        return self.conversation.step if self.conversation else "idle"

    @property
    def draft(self) -> dict[str, Any]:
        """The conversation's draft (empty when there is none)."""
        return self.conversation.draft if self.conversation else {}

    async def goto(self, step: str, draft: dict[str, Any] | None = None) -> None:
        """Move the conversation to a step, keeping or replacing its draft."""
        keep = self.draft if draft is None else draft
        self.conversation = Conversation(
            step=step,
            draft=keep,
            locale=self.conversation.locale if self.conversation else None,
            updated_at=self.stamp,
            # Rounded up to the hour, like updated_at: a draft never expires early.
            expires_at=self.stamp + self._ttl(step) + timedelta(hours=1),
        )
        await self.uow.conversations.save(
            self.inbound.channel, self.inbound.sender_id, self.conversation
        )

    def _ttl(self, step: str) -> timedelta:
        # A conversation about a case opened by tracking code (or a feedback question) links
        # the chat to the case for as long as it lives: keep it short.
        cfg = self.services.config
        return cfg.case_session_ttl if step.startswith(("track.", "fb.")) else cfg.draft_ttl

    async def end(self) -> None:
        """Leave the conversation; a chosen language is remembered."""
        chosen = self.conversation.locale if self.conversation else None
        if chosen:
            # Only the language is remembered, and only for a while after the last use.
            self.conversation = Conversation(
                step="idle",
                locale=chosen,
                updated_at=self.stamp,
                expires_at=self.stamp + self.services.config.idle_ttl,
            )
            await self.uow.conversations.save(
                self.inbound.channel, self.inbound.sender_id, self.conversation
            )
        else:
            self.conversation = None
            await self.uow.conversations.delete(self.inbound.channel, self.inbound.sender_id)

    def date(self, value: datetime | None) -> str:
        """Format a date in the office's time zone."""
        return value.astimezone(_ZONE).strftime("%Y-%m-%d") if value else "—"

    def datetime(self, value: datetime) -> str:
        """Format a moment in the office's time zone."""
        return value.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M")
