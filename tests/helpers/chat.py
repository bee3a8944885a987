"""Drive the channel-neutral handlers like a person in a chat would."""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.inbound import FileIn, Inbound, Reply
from handlers.router import Handlers


def buttons_of(replies: list[Reply]) -> dict[str, str]:
    """Map every offered button's payload to its label."""
    return {b.payload: b.label for r in replies for row in r.buttons for b in row}


def text_of(replies: list[Reply]) -> str:
    """All reply texts joined, for assertions."""
    return "\n".join(r.text for r in replies)


@dataclass
class ChatUser:
    """A person talking to the bot in one chat."""

    handlers: Handlers
    channel: str = "telegram"
    chat_id: str = "10001"
    sender_id: str = "10001"
    locale: str | None = "zh-hans"
    in_admin_chat: bool = False
    last: list[Reply] = field(default_factory=list)
    history: list[Reply] = field(default_factory=list)  # every reply this user got

    async def _send(self, **kwargs: object) -> list[Reply]:
        inbound = Inbound(
            channel=self.channel,
            chat_id=self.chat_id,
            sender_id=self.sender_id,
            locale=self.locale,
            in_admin_chat=self.in_admin_chat,
            **kwargs,  # type: ignore[arg-type]
        )
        self.last = await self.handlers.handle(inbound)
        self.history.extend(self.last)
        return self.last

    async def say(self, text: str, *, case_ref: int | None = None) -> list[Reply]:
        """Send a text message."""
        return await self._send(text=text, case_ref=case_ref)

    async def press(self, payload: str) -> list[Reply]:
        """Press a button (it need not be on the last message: stale presses are tested)."""
        return await self._send(button=payload)

    async def send_file(
        self,
        data: bytes,
        *,
        name: str = "photo.jpg",
        mime: str = "image/jpeg",
        kind: str = "photo",
    ) -> list[Reply]:
        """Send a photo or document."""
        return await self._send(file=FileIn(kind, name, mime, data))

    async def sticker(self) -> list[Reply]:
        """Send something the bot does not support."""
        return await self._send(unsupported=True)

    @property
    def text(self) -> str:
        """The text of the last replies."""
        return text_of(self.last)

    @property
    def buttons(self) -> dict[str, str]:
        """The buttons of the last replies."""
        return buttons_of(self.last)
