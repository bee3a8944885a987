"""PTB's HTTP transport on aiohttp instead of httpx.

Measured with py-spy under ``bench/telegram_load.py`` (see bench/README.md): with PTB's
default ``HTTPXRequest`` about 40 % of the bot's main-thread CPU went to httpx/httpcore/h11
(a pure-Python HTTP/1.1 stack) for ~2.3 Bot API calls per update. aiohttp, already our
server, parses HTTP in C and keeps its own connection pool. PTB documents
:class:`telegram.request.BaseRequest` for exactly this: everything above the transport
(parameters, JSON, Telegram's error mapping) stays PTB's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# An employee's file name goes into a multipart header: escape it as browsers and httpx do
# (HTML5: '"' and control characters percent-encoded; aiohttp itself doubles backslashes).
_FILENAME_ESCAPES = {ord('"'): "%22"} | {c: f"%{c:02X}" for c in range(0x20) if c != 0x1B}


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` over one :class:`aiohttp.ClientSession`.

    Timeouts mean what they mean for ``HTTPXRequest``: ``connect`` for opening a socket,
    ``pool`` for waiting for a free connection, ``read`` between bytes of the answer, and
    ``write`` (aiohttp has no separate write timeout, so it bounds the whole request
    together with ``read``).
    """

    def __init__(
        self,
        connection_pool_size: int = 8,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds the long-polling time to it)."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # Telegram answers JSON; keep aiohttp from guessing encodings or cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one HTTP request; return its status and body."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = write_timeout
        if isinstance(write, DefaultValue):
            write = self._media_write if files else self._write
        total = None if read is None or write is None else read + write + (connect or 0)
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data: Any = None
        headers: dict[str, str] | None = None
        if params and not files:
            # Encoded here, as aiohttp's FormData would, without building one per call.
            data = urlencode(params, doseq=True).encode()
            headers = _FORM
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (params or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mime) in files.items():
                safe = filename.translate(_FILENAME_ESCAPES) if filename else filename
                form.add_field(name, content, filename=safe, content_type=mime)
            data = form
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut() from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
