"""What the web channel's routes share: the container, the live hub, settings, helpers."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.settings import WebSettings
from bot.web.hub import Hub, KeyedLocks
from i18n import normalize_locale
from storage.uow import UnitOfWorkFactory
from storage.vault import Vault

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["LOCALE_COOKIE", "WebContext", "error", "read_json", "sse_stream", "valid_token"]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
log = logging.getLogger(__name__)

# The language switch's choice: only a locale code, set by the page (bot/web/static/app.js).
LOCALE_COOKIE = "xf_lang"
JSON_LIMIT = 64 * 1024
HEARTBEAT = 15.0


def valid_token(value: str | None) -> bool:
    """Whether a cookie value has the shape of our tokens (256 bits, URL-safe base64)."""
    return bool(value) and _TOKEN.match(value or "") is not None


def error(code: str, status: int) -> web.Response:
    """A JSON error; the page shows its translated label ``error_<code>``."""
    return web.json_response({"error": code}, status=status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """Read a small JSON object body, or raise 415/413/400."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text='{"error": "type"}', content_type="application/json"
        )
    if (request.content_length or 0) > JSON_LIMIT:
        raise web.HTTPRequestEntityTooLarge(
            max_size=JSON_LIMIT,
            actual_size=request.content_length or 0,
            text='{"error": "too_big"}',
            content_type="application/json",
        )
    raw = await request.content.read(JSON_LIMIT + 1)
    if len(raw) > JSON_LIMIT:
        raise web.HTTPRequestEntityTooLarge(
            max_size=JSON_LIMIT,
            actual_size=len(raw),
            text='{"error": "too_big"}',
            content_type="application/json",
        )
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": "bad_request"}', content_type="application/json")
    return data


@dataclass
class WebContext:
    """Shared state of one web channel."""

    container: Container
    settings: WebSettings
    hub: Hub = field(default_factory=Hub)
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    @property
    def vault(self) -> Vault:
        """The vault (blind indexes for tokens)."""
        return self.container.vault

    @property
    def uow(self) -> UnitOfWorkFactory:
        """Units of work."""
        return self.container.uow

    def now(self) -> datetime:
        """The service clock (a fake one in tests)."""
        return self.container.services.clock()

    def secure(self, request: web.Request) -> bool:
        """Whether cookies get the Secure flag: configured so, the request is HTTPS, or a
        trusted proxy (the direct peer) says the browser's request was HTTPS."""
        if self.settings.secure_cookies or request.secure:
            return True
        # The nearest proxy appends its value last; anything before it came from the client.
        proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1]
        return proto.strip().lower() == "https" and self._trusted_peer(request)

    def _trusted_peer(self, request: web.Request) -> bool:
        # request.remote is the socket's peer (aiohttp does not read Forwarded headers).
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False  # a Unix socket or no peer at all
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in self.settings.trusted_proxies)

    def locale(self, raw: object) -> str | None:
        """A catalog locale from the page's language, if it names one."""
        return normalize_locale(raw) if isinstance(raw, str) else None

    def page_locale(self, request: web.Request) -> str:
        """The language the person chose with the page's switch (a cookie holding only the
        locale), else the deployment's default, never the browser's Accept-Language."""
        chosen = self.locale(request.cookies.get(LOCALE_COOKIE))
        return chosen or self.container.settings.default_locale

    @property
    def max_upload(self) -> int:
        """The largest evidence file accepted, in bytes."""
        return self.settings.max_upload_mb * 1024 * 1024


async def sse_stream(
    request: web.Request,
    hub: Hub,
    topics: tuple[str, ...],
    allow: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
) -> web.StreamResponse:
    """Stream pushed events to an open page until it leaves or the server stops; events
    that ``allow`` refuses are left out."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        with hub.subscribe(*topics) as queue:
            await response.write(b"retry: 3000\n: open\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": ping\n\n")  # notices a page that went away
                    continue
                if event is None:
                    break
                if allow is not None and not await allow(event):
                    continue
                data = json.dumps(event, ensure_ascii=False)
                await response.write(f"data: {data}\n\n".encode())
    except ConnectionResetError:
        # A closed tab or a lost network is how every stream ends: nothing to report
        # (aiohttp's ClientConnectionResetError is a ConnectionResetError).
        log.debug("event stream closed by the page")
    return response
