"""The web channel: an accessible employee chat page and the officers' admin chat in the
browser, served by the one aiohttp server; also the local mode's user interface."""

from __future__ import annotations

from bot.web.channel import WebChannel
from bot.web.sender import WebSender

__all__ = ["WebChannel", "WebSender"]
