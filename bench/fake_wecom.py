"""A slim fake of the WeCom server API for the load benchmark (bench/wecom_load.py).

Unlike tests/fakes/wecom_api.py it keeps no list of every call (a long run would hold
hundreds of thousands) and injects no faults: it answers ``gettoken``, ``message/send``,
``message/update_template_card`` and ``appchat/send`` at once, keeps one log per member
with arrival times that wakes the load generator, and *counts* what WeCom itself would
have refused instead of refusing it, so the figures show the bot's own capacity:

- ``over_member_limit``: sends beyond 30 in any 60 s to one member (WeCom drops those
  silently: "超过部分会被丢弃不下发", developer.work.weixin.qq.com/document/path/90454).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["MEMBER_LIMIT", "MEMBER_WINDOW", "FakeWeCom", "MemberLog", "Sent"]

MEMBER_LIMIT = 30  # message/send per member ...
MEMBER_WINDOW = 60.0  # ... in any this many seconds
TOKEN = "bench-access-token"


@dataclass(frozen=True, slots=True)
class Sent:
    """One message/send body that reached the fake, when, and the response_code given."""

    at: float
    body: dict[str, Any]
    response_code: str | None

    def text(self) -> str:
        """The visible text: a text message's content or a card's title and subtitle."""
        if self.body.get("msgtype") == "text":
            return str(self.body.get("text", {}).get("content", ""))
        card = self.body.get("template_card") or {}
        return f"{card.get('main_title', {}).get('title', '')}\n{card.get('sub_title_text', '')}"

    def keys(self) -> list[str]:
        """The button keys of a template card (empty for text)."""
        card = self.body.get("template_card") or {}
        return [str(b.get("key", "")) for b in card.get("button_list", [])]


@dataclass
class MemberLog:
    """Messages the bot sent to one member, and a way to wait for the next ones."""

    messages: list[Sent] = field(default_factory=list)
    recent: deque[float] = field(default_factory=deque)  # send times in the last window
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, sent: Sent) -> None:
        """Record one message and wake whoever waits."""
        self.messages.append(sent)
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait(self, since: int, check: Callable[[list[Sent]], bool], within: float) -> bool:
        """Wait until ``check`` accepts the messages from index ``since`` on."""
        deadline = time.monotonic() + within
        while not check(self.messages[since:]):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return True


class FakeWeCom:
    """Fake qyapi.weixin.qq.com on 127.0.0.1:<random port>; an async context manager."""

    def __init__(self, corp_id: str, secret: str) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.base_url = ""
        self.logs: dict[str, MemberLog] = {}
        self.send_times: list[float] = []  # every message/send to a member
        self.tokens = 0
        self.card_updates = 0
        self.group_messages = 0  # appchat/send: case cards to the officers' group
        self.over_member_limit = 0
        self.bad_token = 0
        self._codes = itertools.count(1)
        self._runner: web.AppRunner | None = None

    def log(self, member: str) -> MemberLog:
        """The log of one member (created on first use)."""
        found = self.logs.get(member)
        if found is None:
            found = self.logs[member] = MemberLog()
        return found

    async def __aenter__(self) -> FakeWeCom:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/message/update_template_card", self._update_card)
        app.router.add_post("/cgi-bin/appchat/send", self._appchat)
        self._runner = web.AppRunner(app, access_log=None)  # the log would show the token
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers ---------------------------------------------------------------------------

    @staticmethod
    def _answer(payload: dict[str, Any]) -> web.Response:
        return web.Response(text=json.dumps(payload), content_type="application/json")

    def _token_ok(self, request: web.Request) -> bool:
        if request.query.get("access_token") == TOKEN:
            return True
        self.bad_token += 1
        return False

    async def _gettoken(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("corpid") != self.corp_id or q.get("corpsecret") != self.secret:
            return self._answer({"errcode": 40001, "errmsg": "invalid credential"})
        self.tokens += 1
        return self._answer(
            {"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}
        )

    async def _send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._answer({"errcode": 40014, "errmsg": "invalid access_token"})
        body = await request.json()
        now = time.monotonic()
        code = f"rc-{next(self._codes)}" if body.get("msgtype") == "template_card" else None
        for member in str(body.get("touser", "")).split("|"):
            if not member:
                continue
            log = self.log(member)
            while log.recent and log.recent[0] <= now - MEMBER_WINDOW:
                log.recent.popleft()
            if len(log.recent) >= MEMBER_LIMIT:
                self.over_member_limit += 1  # WeCom would have dropped this one
            log.recent.append(now)
            self.send_times.append(now)
            log.add(Sent(now, body, code))
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "m"}
        if code is not None:
            answer["response_code"] = code
        return self._answer(answer)

    async def _update_card(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._answer({"errcode": 40014, "errmsg": "invalid access_token"})
        await request.read()
        self.card_updates += 1
        return self._answer({"errcode": 0, "errmsg": "ok", "invaliduser": []})

    async def _appchat(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._answer({"errcode": 40014, "errmsg": "invalid access_token"})
        await request.read()
        self.group_messages += 1
        return self._answer({"errcode": 0, "errmsg": "ok"})
