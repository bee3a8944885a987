"""WeCom server API client: cached access token, retries with backoff, per-member rate limit.

The access token and the corp secret travel in query strings, so only paths are ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.metrics import count_throttled

__all__ = [
    "DEFAULT_BASE_URL",
    "FILE_SIZE_ERRCODE",
    "HTTP_ERRCODE",
    "MAX_UPLOAD_BYTES",
    "MIN_UPLOAD_BYTES",
    "RETRYABLE_ERRCODES",
    "TOKEN_ERRCODES",
    "Clock",
    "Media",
    "Sleep",
    "SlidingWindowLimiter",
    "Upload",
    "WeComApiError",
    "WeComClient",
    "upload_form",
]

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"

# access token invalid / expired / expired (different APIs use different codes)
TOKEN_ERRCODES = frozenset({40014, 42001, 42009})
# system busy, API frequency limit, concurrent call limit
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})
# API frequency limit, concurrent call limit: WeCom's way of saying 429 (counted for /metrics)
THROTTLE_ERRCODES = frozenset({45009, 45033})
HTTP_ERRCODE = -1  # errcode reported when the failure was HTTP/transport, not a WeCom answer

TOKEN_REFRESH_MARGIN = 300.0
MEMBER_LIMIT = 30
MEMBER_WINDOW = 60.0
MAX_MEDIA_BYTES = 20 * 1024 * 1024
# media/upload takes files of more than 5 bytes and at most 20 MB (type ``file``).
MIN_UPLOAD_BYTES = 6
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
FILE_SIZE_ERRCODE = 40006  # WeCom's "invalid file size", also raised before uploading
# Quotes, backslashes, slashes and control characters have no place in a displayed name.
_UNSAFE_NAME = re.compile(r'["\\/\x00-\x1f\x7f]')

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class WeComApiError(Exception):
    """A WeCom API call failed; `retryable` tells whether trying later may succeed."""

    def __init__(
        self, errcode: int, errmsg: str, *, retryable: bool = False, http_status: int | None = None
    ) -> None:
        super().__init__(f"wecom api error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.retryable = retryable
        self.http_status = http_status


class _Transient(Exception):
    """HTTP 5xx or transport failure worth retrying."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class SlidingWindowLimiter:
    """At most `limit` acquisitions per key within any `window` seconds; acquire waits."""

    def __init__(
        self,
        limit: int = MEMBER_LIMIT,
        window: float = MEMBER_WINDOW,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self._window:
            events.popleft()
        return events

    def delay(self, key: str) -> float:
        """Seconds until `key` may send again (0 if it may send now)."""
        now = self._clock()
        events = self._prune(key, now)
        if len(events) < self._limit:
            return 0.0
        return events[0] + self._window - now

    async def acquire(self, key: str) -> None:
        """Wait until `key` is under its limit, then record one use."""
        while True:
            wait = self.delay(key)
            if wait <= 0:
                # No await between the check and the append, so concurrent callers cannot
                # both take the last slot.
                self._events[key].append(self._clock())
                self._forget_idle()
                return
            await self._sleep(wait)

    def _forget_idle(self) -> None:
        # Bound memory: drop members with no sends in the window once the map grows large.
        if len(self._events) > 10_000:
            now = self._clock()
            for key in [k for k in self._events if not self._prune(k, now)]:
                del self._events[key]


@dataclass(frozen=True, slots=True)
class Media:
    """A downloaded media file."""

    data: bytes
    content_type: str
    filename: str | None


@dataclass(frozen=True, slots=True)
class Upload:
    """A file for media/upload: its bytes, the name WeCom shows, its content type."""

    data: bytes = field(repr=False)
    filename: str
    content_type: str


def upload_form(upload: Upload) -> aiohttp.MultipartWriter:
    """The multipart body of media/upload: one part ``media`` with filename and filelength.

    The name goes as raw UTF-8 in ``filename="..."``, as WeCom's own upload page sends it:
    WeCom shows a percent-encoded name (aiohttp's default) literally and answers an RFC 2231
    ``filename*`` with 44001 (empty media data).
    """
    name = _UNSAFE_NAME.sub("_", upload.filename).strip() or "file"
    part = aiohttp.BytesPayload(upload.data, content_type=upload.content_type)
    part.set_content_disposition(
        "form-data",
        quote_fields=False,
        name="media",
        filename=name,
        filelength=str(len(upload.data)),
    )
    form = aiohttp.MultipartWriter("form-data")
    form.append_payload(part)
    return form


class WeComClient:
    """Calls the WeCom server API for one self-built app (自建应用)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        corp_id: str,
        secret: str,
        agent_id: int,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        timeout: float = 10.0,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        self._session = session
        self._corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._max_attempts = max(1, max_attempts)
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.limiter = limiter or SlidingWindowLimiter(clock=clock, sleep=sleep)
        self._token: str | None = None
        self._token_deadline = 0.0
        self._token_lock = asyncio.Lock()

    # -- access token -----------------------------------------------------------------------

    def _cached_token(self) -> str | None:
        if self._token is not None and self._clock() < self._token_deadline:
            return self._token
        return None

    async def get_token(self) -> str:
        """Return a valid access token, fetching it once for all concurrent callers."""
        token = self._cached_token()
        if token is not None:
            return token
        async with self._token_lock:
            token = self._cached_token()
            if token is not None:
                return token
            params = {"corpid": self._corp_id, "corpsecret": self._secret}
            data = await self._with_retries("GET", "/cgi-bin/gettoken", params=params)
            token = None if isinstance(data, Media) else data.get("access_token")
            if isinstance(data, Media) or not isinstance(token, str) or not token:
                raise WeComApiError(HTTP_ERRCODE, "gettoken answer has no access_token")
            expires_in = float(data.get("expires_in", 7200))
            # Refresh early (~5 min) so a token never expires between check and use.
            margin = min(TOKEN_REFRESH_MARGIN, expires_in / 2)
            self._token = token
            self._token_deadline = self._clock() + expires_in - margin
            return token

    def invalidate_token(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still `token`, when given)."""
        if token is None or token == self._token:
            self._token = None

    # -- request machinery ------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        cap = min(self._max_delay, self._base_delay * 2.0 ** (attempt - 1))
        return cap / 2 + self._rng() * cap / 2  # "equal jitter": never zero, never above cap

    async def _once(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        body: dict[str, Any] | None,
        media: bool,
        upload: Upload | None = None,
    ) -> dict[str, Any] | Media:
        url = self._base_url + path
        # A fresh form per attempt: a multipart body is a stream, not re-sent as it was.
        form = upload_form(upload) if upload is not None else None
        try:
            async with self._session.request(
                method, url, params=params, json=body, data=form, timeout=self._timeout
            ) as resp:
                if resp.status >= 500:
                    raise _Transient(f"http {resp.status}", resp.status)
                if resp.status >= 400:
                    if resp.status == 429:
                        count_throttled("wecom")
                    raise WeComApiError(
                        HTTP_ERRCODE, f"http {resp.status}", http_status=resp.status
                    )
                content_type = resp.content_type
                if media and content_type not in ("application/json", "text/plain"):
                    data = await _read_capped(resp, MAX_MEDIA_BYTES)
                    filename = (
                        resp.content_disposition.filename if resp.content_disposition else None
                    )
                    return Media(data, content_type, filename)
                raw = await _read_capped(resp, MAX_MEDIA_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception text may contain the URL with its token: keep only the type.
            raise _Transient(type(exc).__name__) from None
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WeComApiError(HTTP_ERRCODE, "answer is not json") from None
        if not isinstance(parsed, dict):
            raise WeComApiError(HTTP_ERRCODE, "answer is not a json object")
        return parsed

    async def _with_retries(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        auth: bool = False,
        media: bool = False,
        upload: Upload | None = None,
    ) -> dict[str, Any] | Media:
        token_retried = False
        attempt = 0
        while True:
            attempt += 1
            query = dict(params or {})
            token = None
            if auth:
                token = await self.get_token()
                query["access_token"] = token
            try:
                result = await self._once(method, path, query, body, media, upload)
            except _Transient as exc:
                if attempt >= self._max_attempts:
                    raise WeComApiError(
                        HTTP_ERRCODE, exc.reason, retryable=True, http_status=exc.http_status
                    ) from None
                delay = self._backoff(attempt)
                logger.warning("wecom %s %s: %s; retry in %.2fs", method, path, exc.reason, delay)
                await self._sleep(delay)
                continue
            if isinstance(result, Media):
                return result
            errcode = int(result.get("errcode", 0) or 0)
            if errcode == 0:
                return result
            errmsg = str(result.get("errmsg", ""))
            if auth and errcode in TOKEN_ERRCODES and not token_retried:
                # One fresh token per call: a second token error means something else is wrong.
                logger.info("wecom %s %s: token rejected (%d); refreshing", method, path, errcode)
                token_retried = True
                self.invalidate_token(token)
                attempt -= 1
                continue
            if errcode in THROTTLE_ERRCODES:
                count_throttled("wecom")
            if errcode in RETRYABLE_ERRCODES:
                if attempt >= self._max_attempts:
                    raise WeComApiError(errcode, errmsg, retryable=True)
                delay = self._backoff(attempt)
                logger.warning(
                    "wecom %s %s: errcode %d; retry in %.2fs", method, path, errcode, delay
                )
                await self._sleep(delay)
                continue
            raise WeComApiError(errcode, errmsg)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = await self._with_retries("POST", path, body=body, auth=True)
        if isinstance(result, Media):  # only media/get answers with a file
            raise WeComApiError(HTTP_ERRCODE, "unexpected file answer")
        return result

    # -- messages ---------------------------------------------------------------------------

    async def _limit(self, touser: str) -> None:
        for member in filter(None, touser.split("|")):
            await self.limiter.acquire(member)

    async def send_message(
        self, touser: str, msgtype: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Send an app message of any type to members (`a|b`), honouring 30/min per member."""
        await self._limit(touser)
        body = {"touser": touser, "msgtype": msgtype, "agentid": self.agent_id, msgtype: payload}
        return await self._post("/cgi-bin/message/send", body)

    async def send_text(self, touser: str, content: str) -> dict[str, Any]:
        """Send a text message."""
        return await self.send_message(touser, "text", {"content": content})

    async def send_file(self, touser: str, media_id: str) -> dict[str, Any]:
        """Send an uploaded file (``media_id`` from :meth:`upload_media`)."""
        return await self.send_message(touser, "file", {"media_id": media_id})

    async def send_markdown(self, touser: str, content: str) -> dict[str, Any]:
        """Send a markdown message (WeCom-client only)."""
        return await self.send_message(touser, "markdown", {"content": content})

    async def send_template_card(self, touser: str, card: dict[str, Any]) -> dict[str, Any]:
        """Send a template card; the answer's `response_code` allows one later update."""
        return await self.send_message(touser, "template_card", card)

    async def update_template_card(
        self,
        userids: list[str],
        response_code: str,
        *,
        replace_name: str | None = None,
        card: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Update a sent card: grey its button with `replace_name` or replace the card."""
        body: dict[str, Any] = {
            "userids": userids,
            "agentid": self.agent_id,
            "response_code": response_code,
        }
        if card is not None:
            body["template_card"] = card
        else:
            body["button"] = {"replace_name": replace_name or ""}
        return await self._post("/cgi-bin/message/update_template_card", body)

    async def appchat_send(
        self, chatid: str, msgtype: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Send a message to an app group chat (群聊会话)."""
        body = {"chatid": chatid, "msgtype": msgtype, msgtype: payload, "safe": 0}
        return await self._post("/cgi-bin/appchat/send", body)

    async def download_media(self, media_id: str) -> tuple[bytes, str, str | None]:
        """Download temporary media; returns (data, content_type, filename)."""
        result = await self._with_retries(
            "GET", "/cgi-bin/media/get", params={"media_id": media_id}, auth=True, media=True
        )
        if not isinstance(result, Media):
            # A JSON answer with errcode 0 carries no file.
            raise WeComApiError(HTTP_ERRCODE, "media answer carried no file")
        return result.data, result.content_type, result.filename

    async def upload_media(self, upload: Upload, kind: str = "file") -> str:
        """Upload temporary media (valid three days) and return its media_id.

        Not rate limited per member: only the message that sends the file counts there.
        """
        size = len(upload.data)
        if not MIN_UPLOAD_BYTES <= size <= MAX_UPLOAD_BYTES:
            raise WeComApiError(FILE_SIZE_ERRCODE, f"file of {size} bytes cannot be uploaded")
        result = await self._with_retries(
            "POST", "/cgi-bin/media/upload", params={"type": kind}, auth=True, upload=upload
        )
        media_id = None if isinstance(result, Media) else result.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeComApiError(HTTP_ERRCODE, "upload answer has no media_id")
        return media_id


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise WeComApiError(HTTP_ERRCODE, "answer too large")
    return bytes(data)
