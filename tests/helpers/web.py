"""The web channel under test: a real aiohttp server on 127.0.0.1 (port 0) and HTTP
clients that behave like the page (cookie jar, CSRF header, JSON, multipart, SSE)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot.container import Container, build_container
from bot.delivery import DeliveryWorker
from bot.runner import build_web_app
from bot.settings import Settings, WebSettings
from bot.web import WebChannel
from bot.web.passwords import hash_password
from petitions.roles import Role
from storage.vault import Keyring

__all__ = [
    "CODE_RE",
    "PNG",
    "RecordingSender",
    "WebOfficer",
    "WebServer",
    "WebVisitor",
    "add_web_officer",
    "web_server",
]

CODE_RE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
# The smallest valid PNG (1×1, red): real bytes, so content sniffing accepts it.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


@dataclass
class RecordingSender:
    """An OutboxSender for another channel (Telegram in these tests) that keeps what it got."""

    channel: str
    sent: list[Any] = field(default_factory=list)

    async def send(self, delivery: Any) -> None:
        """Record the delivery."""
        self.sent.append(delivery)


@dataclass
class WebServer:
    """A running web channel with its container and a delivery worker."""

    container: Container
    channel: WebChannel
    server: TestServer
    worker: DeliveryWorker
    others: dict[str, RecordingSender]

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        base = str(self.server.make_url("")).rstrip("/")
        SERVICE_CLOCKS[base] = self.container.services.clock  # for the pages' TOTP codes
        return base

    async def deliver(self) -> int:
        """Deliver every due outbox row now."""
        return await self.worker.run_once()


@asynccontextmanager
async def web_server(
    settings: Settings,
    keyring: Keyring,
    clock: Callable[[], datetime],
    *,
    web: WebSettings | None = None,
) -> AsyncIterator[WebServer]:
    """Start the web channel (and the configured admin channels' recorders)."""
    settings = replace(settings, web=web or WebSettings(local=True))
    container = await build_container(settings, keyring=keyring, clock=clock)
    assert settings.web is not None
    channel = WebChannel(container, settings.web)
    others = {c: RecordingSender(c) for c in settings.admin_channels if c != "web"}
    senders: dict[str, Any] = {"web": channel.sender, **others}
    worker = DeliveryWorker(container.uow, container.translator.t, senders, clock)
    # As in run_service: no access log (it would hold addresses, user agents, paths).
    server = TestServer(build_web_app([channel]), host="127.0.0.1", port=0)
    await server.start_server(access_log=None)
    try:
        yield WebServer(container, channel, server, worker, others)
    finally:
        await channel.stop()
        await server.close()
        await container.close()


async def add_web_officer(
    container: Container,
    name: str,
    login: str,
    password: str,
    role: Role = Role.OFFICER,
    *,
    totp: bool = True,
    unit_id: int | None = None,
) -> int:
    """Register an officer (of a unit: they see its subtree) with a web login; return the
    officer id."""
    now = container.services.clock()
    hashed = await asyncio.to_thread(hash_password, password)
    async with container.uow() as uow:
        officer = await uow.officers.add(name, role, now, unit_id=unit_id)
        await uow.web.set_login(officer.id, login, hashed, now)
        if totp and role is Role.CUSTODIAN:  # custodians must sign in with a second factor
            await uow.web.set_totp(officer.id, TOTP_SECRET)
        await uow.commit()
    return officer.id


# The TOTP secret of every custodian the helpers register; WebOfficer.login sends its code.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


# Each test server's clock (a fake one in tests), so a page computes the TOTP code for the
# time the server checks it at.
SERVICE_CLOCKS: dict[str, Callable[[], datetime]] = {}


def totp_code(base: str) -> str:
    """The code of TOTP_SECRET at the server's time."""
    import pyotp

    clock = SERVICE_CLOCKS.get(base)
    return str(pyotp.TOTP(TOTP_SECRET).at(clock()) if clock else pyotp.TOTP(TOTP_SECRET).now())


class WebVisitor:
    """A browser: its own cookie jar, the CSRF token from /api/session, JSON calls."""

    def __init__(self, base: str, *, user_agent: str = "xinfang-tests", locale: str = "en"):
        self.base = base
        self.locale = locale
        self.jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        self.http = aiohttp.ClientSession(cookie_jar=self.jar, headers={"User-Agent": user_agent})
        self.csrf = ""
        self.replies: list[dict[str, Any]] = []
        self.last: list[dict[str, Any]] = []

    async def __aenter__(self) -> WebVisitor:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def open(self) -> None:
        """Load the session endpoint as the page does."""
        async with self.http.get(f"{self.base}/api/session") as resp:
            assert resp.status == 200
            self.csrf = (await resp.json())["csrf"]

    def cookie(self, name: str) -> str | None:
        """The value of one of this browser's cookies."""
        for morsel in self.jar:
            if morsel.key == name:
                return morsel.value
        return None

    async def post(
        self, path: str, body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        """POST with the page's CSRF header; return status and JSON body."""
        sent = {"X-CSRF-Token": self.csrf, **(headers or {})}
        if body is not None:
            kw["json"] = body
        async with self.http.post(f"{self.base}{path}", headers=sent, **kw) as resp:
            try:
                data = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                data = {"raw": await resp.text()}
            return resp.status, data

    async def _chat(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        status, data = await self.post("/api/chat/send", {**body, "locale": self.locale})
        assert status == 200, (status, data)
        self.last = data["replies"]
        self.replies.extend(self.last)
        return self.last

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Type a message."""
        return await self._chat({"text": text})

    async def press(self, payload: str) -> list[dict[str, Any]]:
        """Press a button of the last replies."""
        assert payload in self.buttons, (payload, self.buttons)
        return await self._chat({"button": payload})

    async def upload(
        self, name: str, data: bytes, mime: str = "application/octet-stream"
    ) -> tuple[int, dict[str, Any]]:
        """Upload a file as the page does (multipart/form-data)."""
        form = aiohttp.FormData()
        form.add_field("locale", self.locale)
        form.add_field("file", data, filename=name, content_type=mime)
        status, body = await self.post("/api/chat/upload", data=form)
        if status == 200:
            self.last = body["replies"]
            self.replies.extend(self.last)
        return status, body

    @property
    def text(self) -> str:
        """The text of the last replies."""
        return "\n".join(r["text"] for r in self.last)

    @property
    def buttons(self) -> list[str]:
        """The payloads of the last replies' buttons."""
        return [b["payload"] for r in self.last for row in r["buttons"] for b in row]

    @asynccontextmanager
    async def events(self, path: str = "/api/chat/events") -> AsyncIterator[EventStream]:
        """Open the page's event stream."""
        async with self.http.get(f"{self.base}{path}") as resp:
            assert resp.status == 200, resp.status
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            stream = EventStream(resp)
            await stream.opened()
            yield stream

    async def file_petition(
        self, description: str, *, evidence: bool = True, updates: str = "push"
    ) -> str:
        """From the menu to a submitted anonymous petition; return the tracking code.
        ``updates`` is ``push`` (to this browser's chat) or ``code`` (tracking code only)."""
        await self.say("/start")
        await self.press("menu:new")
        await self.press("cat:pay")
        await self.say(description)
        if evidence:
            status, _ = await self.upload("payslip.png", PNG, "image/png")
            assert status == 200, status
        await self.press("ev:done")
        await self.press("anon:yes")
        await self.press(f"up:{updates}")
        if "sid:keep" in self.buttons:  # the description names a phone, an ID card, ...
            await self.press("sid:keep")
        await self.press("rv:submit")
        found = CODE_RE.search(self.text)
        assert found, self.text
        return found.group(0)


class EventStream:
    """Server-Sent Events read line by line."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    async def opened(self) -> None:
        """Wait for the server's opening comment (the subscription is in place)."""
        while (line := await self._resp.content.readline()).strip() != b": open":
            if not line:
                raise AssertionError("event stream ended before it opened")

    async def next(self, wait: float = 10.0) -> dict[str, Any]:
        """The next data event (heartbeats skipped); fails the test after ``wait`` seconds."""

        async def read() -> dict[str, Any]:
            while True:
                line = await self._resp.content.readline()
                if not line:
                    raise AssertionError("event stream ended")
                if line.startswith(b"data: "):
                    result: dict[str, Any] = json.loads(line[6:])
                    return result

        return await asyncio.wait_for(read(), wait)


class WebOfficer(WebVisitor):
    """A browser signed in on the officers' page."""

    async def login(self, login: str, password: str) -> tuple[int, dict[str, Any]]:
        """Sign in."""
        # A code is sent every time: officers without TOTP are not asked for it.
        body = {"login": login, "password": password, "code": totp_code(self.base)}
        return await self.post("/api/officer/login", body)

    async def send(self, **body: Any) -> tuple[int, dict[str, Any]]:
        """Type a command or an answer, or press a button, in the admin chat."""
        status, data = await self.post("/api/officer/send", body)
        if status == 200:
            self.last = data["replies"]
            self.replies.extend(self.last)
        return status, data

    async def feed(self) -> tuple[int, dict[str, Any]]:
        """The admin chat's recent messages."""
        async with self.http.get(f"{self.base}/api/officer/feed") as resp:
            return resp.status, await resp.json()
