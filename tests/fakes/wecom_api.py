"""A local fake of the WeCom server API, and a sender that signs/encrypts callbacks like WeCom.

The encryption here is written independently of bot.wecom.crypto on purpose, so a symmetric
bug in the production code cannot make its own tests pass.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CORP_ID = "wwfakecorp0000001"
SECRET = "fake-secret-do-not-log"
AGENT_ID = 1000002
CB_TOKEN = "fakeCallbackToken"
CB_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


# -- fake API server ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    json: dict[str, Any] | None


@dataclass(frozen=True)
class Uploaded:
    """One file the fake received on media/upload, as the multipart reader saw it."""

    media_id: str
    type: str  # the query's ``type``
    part_name: str  # the form field's name (WeCom reads ``media``)
    filename: str | None  # as aiohttp's multipart reader decodes it
    disposition: str  # the part's Content-Disposition header, as sent
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Fault:
    """An injected answer: a WeCom errcode (HTTP 200) or a bare HTTP status."""

    errcode: int | None = None
    http_status: int | None = None
    hang: bool = False


class FakeWeComApi:
    """Fake qyapi.weixin.qq.com on 127.0.0.1:<random port>; use as an async context manager."""

    def __init__(self, *, corp_id: str = CORP_ID, secret: str = SECRET, token_ttl: int = 7200):
        self.corp_id = corp_id
        self.secret = secret
        self.token_ttl = token_ttl
        self.calls: list[Call] = []
        self.media: dict[str, tuple[bytes, str, str]] = {}
        self.uploads: list[Uploaded] = []
        self.current_token: str | None = None
        self.base_url = ""
        self._sent: list[dict[str, Any]] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._valid: set[str] = set()
        self._expired: set[str] = set()
        self._counter = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def __aenter__(self) -> FakeWeComApi:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._json_api)
        app.router.add_post("/cgi-bin/message/update_template_card", self._json_api)
        app.router.add_post("/cgi-bin/appchat/send", self._json_api)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        # No access log: it would print the secret and tokens the client is tested to hide.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()  # let hanging handlers finish so cleanup does not wait
        if self._runner is not None:
            await self._runner.cleanup()

    # -- control ----------------------------------------------------------------------------

    def fail_next(self, path: str, *errcodes: int) -> None:
        """Answer the next calls to `path` with these errcodes, in order."""
        self._faults.setdefault(path, deque()).extend(Fault(errcode=c) for c in errcodes)

    def fail_next_http(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next `times` calls to `path` with a bare HTTP `status`."""
        self._faults.setdefault(path, deque()).extend([Fault(http_status=status)] * times)

    def hang_next(self, path: str, times: int = 1) -> None:
        """Never answer the next `times` calls to `path` (until the fake closes)."""
        self._faults.setdefault(path, deque()).extend([Fault(hang=True)] * times)

    def expire_token(self) -> None:
        """Expire the current token: calls using it get errcode 42001."""
        if self.current_token:
            self._valid.discard(self.current_token)
            self._expired.add(self.current_token)

    def invalidate_token(self) -> None:
        """Revoke the current token: calls using it get errcode 40014."""
        if self.current_token:
            self._valid.discard(self.current_token)

    def calls_to(self, path: str) -> list[Call]:
        """Recorded calls to `path`."""
        return [c for c in self.calls if c.path == path]

    @property
    def gettoken_count(self) -> int:
        """How many tokens were requested."""
        return len(self.calls_to("/cgi-bin/gettoken"))

    @property
    def sent(self) -> list[dict[str, Any]]:
        """JSON bodies of successful message/send calls."""
        return list(self._sent)

    # -- handlers ---------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Call:
        multipart = request.content_type.startswith("multipart/")
        body = await request.json() if request.can_read_body and not multipart else None
        call = Call(request.method, request.path, dict(request.query), body)
        self.calls.append(call)
        return call

    async def _fault(self, path: str) -> web.Response | None:
        queue = self._faults.get(path)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.hang:
            await self._release.wait()
            return web.Response(status=504)
        if fault.http_status is not None:
            return web.Response(status=fault.http_status, text="upstream trouble")
        return web.json_response({"errcode": fault.errcode, "errmsg": f"injected {fault.errcode}"})

    def _token_error(self, call: Call) -> web.Response | None:
        token = call.query.get("access_token", "")
        if token in self._valid:
            return None
        if token in self._expired:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})

    async def _gettoken(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (fault := await self._fault(request.path)) is not None:
            return fault
        if call.query.get("corpid") != self.corp_id or call.query.get("corpsecret") != self.secret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"token-{next(self._counter)}-{os.urandom(4).hex()}"
        self._valid.add(token)
        self.current_token = token
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        )

    async def _json_api(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (error := self._token_error(call)) is not None:
            return error
        if (fault := await self._fault(request.path)) is not None:
            return fault
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if request.path == "/cgi-bin/message/send":
            body = call.json or {}
            if body.get("msgtype") == "file" and body.get("file", {}).get("media_id") not in {
                u.media_id for u in self.uploads
            }:
                return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
            self._sent.append(body)
            answer |= {"invaliduser": "", "msgid": f"msg-{len(self._sent)}"}
            if (call.json or {}).get("msgtype") == "template_card":
                answer["response_code"] = f"rc-{len(self._sent)}"
        return web.json_response(answer)

    async def _media_upload(self, request: web.Request) -> web.Response:
        # Recorded before the body is read: a fault or token error answers without it.
        call = await self._record(request)
        if (error := self._token_error(call)) is not None:
            return error
        if (fault := await self._fault(request.path)) is not None:
            return fault
        kind = call.query.get("type", "")
        if kind not in ("image", "voice", "video", "file"):
            return web.json_response({"errcode": 40004, "errmsg": "invalid media type"})
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "media":
            return web.json_response({"errcode": 44001, "errmsg": "empty media data"})
        data = bytes(await part.read())
        if len(data) <= 5 or len(data) > 20 * 1024 * 1024:
            return web.json_response({"errcode": 40006, "errmsg": "invalid file size"})
        media_id = f"media-{next(self._counter)}-{os.urandom(4).hex()}"
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        upload = Uploaded(
            media_id,
            kind,
            part.name,
            part.filename,
            part.headers.get("Content-Disposition", ""),
            content_type,
            data,
        )
        self.uploads.append(upload)
        self.media[media_id] = (data, content_type, part.filename or media_id)
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "type": kind,
                "media_id": media_id,
                "created_at": str(int(time.time())),
            }
        )

    async def _media_get(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (error := self._token_error(call)) is not None:
            return error
        if (fault := await self._fault(request.path)) is not None:
            return fault
        item = self.media.get(call.query.get("media_id", ""))
        if item is None:
            # The real API answers errors on this endpoint as JSON labelled text/plain.
            return web.Response(
                text='{"errcode":40007,"errmsg":"invalid media_id"}', content_type="text/plain"
            )
        data, content_type, filename = item
        return web.Response(
            body=data,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


# -- WeCom-side sender ----------------------------------------------------------------------


def wecom_encrypt(
    message: str,
    *,
    aes_key: str = CB_AES_KEY,
    corp_id: str = CORP_ID,
    random16: bytes | None = None,
) -> str:
    """Encrypt `message` as WeCom does (independent implementation)."""
    key = base64.b64decode(aes_key + "=")
    body = message.encode()
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + corp_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def wecom_sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """SHA1 signature as WeCom computes it."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def query_string(params: dict[str, str]) -> str:
    """Percent-encode every reserved character, as WeCom does."""
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def signed_post(
    inner_xml: str,
    *,
    token: str = CB_TOKEN,
    aes_key: str = CB_AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: int | None = None,
    nonce: str = "1597212914",
) -> tuple[dict[str, str], bytes]:
    """Return (query params, body) of the callback POST WeCom would send for `inner_xml`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    encrypt = wecom_encrypt(inner_xml, aes_key=aes_key, corp_id=corp_id)
    params = {
        "msg_signature": wecom_sign(token, ts, nonce, encrypt),
        "timestamp": ts,
        "nonce": nonce,
    }
    body = (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
    )
    return params, body.encode()


def signed_verify(
    echo: str,
    *,
    token: str = CB_TOKEN,
    aes_key: str = CB_AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: int | None = None,
    nonce: str = "1476416373",
    random16: bytes | None = None,
) -> dict[str, str]:
    """Return the query params of a URL-verification GET echoing `echo`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    echostr = wecom_encrypt(echo, aes_key=aes_key, corp_id=corp_id, random16=random16)
    return {
        "msg_signature": wecom_sign(token, ts, nonce, echostr),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": echostr,
    }


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _inner(fields: dict[str, str | int], *, to_user: str, from_user: str, create_time: int) -> str:
    head: dict[str, str | int] = {
        "ToUserName": to_user,
        "FromUserName": from_user,
        "CreateTime": create_time,
    }
    parts = [
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{_cdata(v)}</{k}>"
        for k, v in (head | fields).items()
    ]
    return "<xml>" + "".join(parts) + "</xml>"


def text_xml(
    content: str,
    *,
    msg_id: str = "1000000001",
    from_user: str = "ZhangSan",
    to_user: str = CORP_ID,
    create_time: int = 1700000000,
) -> str:
    """Inner XML of a text message."""
    fields: dict[str, str | int] = {
        "MsgType": "text",
        "Content": content,
        "MsgId": msg_id,
        "AgentID": AGENT_ID,
    }
    return _inner(fields, to_user=to_user, from_user=from_user, create_time=create_time)


def image_xml(
    media_id: str,
    pic_url: str = "https://example.invalid/p.jpg",
    *,
    msg_id: str = "1000000002",
    from_user: str = "ZhangSan",
    create_time: int = 1700000000,
) -> str:
    """Inner XML of an image message."""
    fields: dict[str, str | int] = {
        "MsgType": "image",
        "PicUrl": pic_url,
        "MediaId": media_id,
        "MsgId": msg_id,
        "AgentID": AGENT_ID,
    }
    return _inner(fields, to_user=CORP_ID, from_user=from_user, create_time=create_time)


def file_xml(
    media_id: str,
    file_name: str,
    *,
    msg_id: str = "1000000003",
    from_user: str = "ZhangSan",
    create_time: int = 1700000000,
) -> str:
    """Inner XML of a file message."""
    fields: dict[str, str | int] = {
        "MsgType": "file",
        "MediaId": media_id,
        "FileName": file_name,
        "MsgId": msg_id,
        "AgentID": AGENT_ID,
    }
    return _inner(fields, to_user=CORP_ID, from_user=from_user, create_time=create_time)


def event_xml(
    event: str,
    event_key: str = "",
    *,
    from_user: str = "ZhangSan",
    create_time: int = 1700000000,
) -> str:
    """Inner XML of an event (enter_agent, click...)."""
    fields: dict[str, str | int] = {
        "MsgType": "event",
        "Event": event,
        "EventKey": event_key,
        "AgentID": AGENT_ID,
    }
    return _inner(fields, to_user=CORP_ID, from_user=from_user, create_time=create_time)


def template_card_event_xml(
    event_key: str,
    task_id: str,
    *,
    card_type: str = "button_interaction",
    response_code: str = "rc-1",
    from_user: str = "LiSi",
    create_time: int = 1700000000,
) -> str:
    """Inner XML of a template_card_event (an officer pressed a card button)."""
    fields: dict[str, str | int] = {
        "MsgType": "event",
        "Event": "template_card_event",
        "EventKey": event_key,
        "TaskId": task_id,
        "CardType": card_type,
        "ResponseCode": response_code,
        "AgentID": AGENT_ID,
    }
    return _inner(fields, to_user=CORP_ID, from_user=from_user, create_time=create_time)
