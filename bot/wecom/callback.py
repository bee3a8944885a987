"""aiohttp sub-application serving the WeCom callback URL (verification GET, encrypted POST).

Mount it under the shared server, e.g. ``app.add_subapp(MOUNT_PREFIX, create_callback_app(...))``
which serves ``/wecom/callback``.

WeCom never resends a callback answered 200, so a message is answered only once it is safe:
with ``accept``, when ``accept(message)`` has returned (the channel returns once the message
is kept in its inbox table, bot/wecom/inbox.py, and handles it from there); with the older
``seen`` + ``on_message`` pair, once ``seen`` has recorded the key, ``on_message`` running in
the background (a crash before it finishes loses the message: for tests and tools, not for
the channel). ``accept`` raising :class:`~bot.wecom.admission.Busy` or anything else is
answered 503, so WeCom tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from bot.wecom.admission import Busy
from bot.wecom.crypto import (
    ValidateCorpidError,
    ValidateSignatureError,
    WeComCrypto,
    WeComCryptoError,
)
from bot.wecom.messages import WeComInbound, parse_inbound

MOUNT_PREFIX = "/wecom"
CALLBACK_PATH = "/callback"
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_REPLAY_WINDOW = 300

OnMessage = Callable[[WeComInbound], Awaitable[None]]
Accept = Callable[[WeComInbound], Awaitable[None]]
Seen = Callable[[str], Awaitable[bool]]

CRYPTO_KEY = web.AppKey("wecom_crypto", WeComCrypto)
ACCEPT_KEY: web.AppKey[Accept] = web.AppKey("wecom_accept")
TASKS_KEY = web.AppKey("wecom_tasks", set[asyncio.Task[None]])
CLOCK_KEY: web.AppKey[Callable[[], float]] = web.AppKey("wecom_clock")
REPLAY_WINDOW_KEY = web.AppKey("wecom_replay_window", int)
MAX_BODY_KEY = web.AppKey("wecom_max_body", int)
BUSY_KEY = web.AppKey("wecom_busy", list[float])  # [last logged (monotonic), refused since]
BUSY_LOG_INTERVAL = 10.0

logger = logging.getLogger(__name__)


def _reject(status: int, reason: str) -> web.Response:
    # Reason only: no query values, no content, no user ids.
    logger.warning("wecom callback rejected (%d): %s", status, reason)
    return web.Response(status=status, text=reason, content_type="text/plain")


def _raw_query(request: web.Request) -> dict[str, str]:
    """Split the raw query string ourselves: '+' is a base64 digit here, not a space."""
    params: dict[str, str] = {}
    for part in request.rel_url.raw_query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


def _signed(params: dict[str, str]) -> tuple[str, str, str] | None:
    try:
        return params["msg_signature"], params["timestamp"], params["nonce"]
    except KeyError:
        return None


async def _handle_get(request: web.Request) -> web.Response:
    crypto = request.app[CRYPTO_KEY]
    params = _raw_query(request)
    signed = _signed(params)
    echostr = params.get("echostr")
    if signed is None or not echostr:
        return _reject(400, "missing query parameters")
    try:
        plain = crypto.verify_url(*signed, echostr)
    except ValidateSignatureError:
        return _reject(403, "bad signature")
    except ValidateCorpidError:
        return _reject(403, "wrong receive id")
    except WeComCryptoError as exc:
        return _reject(400, f"undecryptable echostr ({exc.code})")
    return web.Response(text=plain, content_type="text/plain")


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """Read at most `limit` bytes of body, or None if the client sends more."""
    if request.content_length is not None and request.content_length > limit:
        return None
    data = bytearray()
    while True:
        chunk = await request.content.read(limit + 1 - len(data))
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            return None


async def _handle_post(request: web.Request) -> web.Response:
    app = request.app
    signed = _signed(_raw_query(request))
    if signed is None:
        return _reject(400, "missing query parameters")
    try:
        timestamp = int(signed[1])
    except ValueError:
        return _reject(400, "bad timestamp")
    window = app[REPLAY_WINDOW_KEY]
    if window > 0 and abs(app[CLOCK_KEY]() - timestamp) > window:
        return _reject(403, "timestamp outside replay window")
    body = await _read_limited(request, app[MAX_BODY_KEY])
    if body is None:
        return _reject(413, "body too large")
    try:
        inner = app[CRYPTO_KEY].decrypt_message(*signed, body, max_size=app[MAX_BODY_KEY])
        message = parse_inbound(inner)
    except ValidateSignatureError:
        return _reject(403, "bad signature")
    except ValidateCorpidError:
        return _reject(403, "wrong receive id")
    except WeComCryptoError as exc:
        return _reject(400, f"malformed message ({exc.code})")
    try:
        await app[ACCEPT_KEY](message)
    except Busy:
        _log_busy(app)
        return web.Response(status=503, text="busy", content_type="text/plain")
    except Exception as exc:  # storage trouble: not recorded, so let WeCom retry later
        # Type only: exception text may quote the message.
        logger.error("wecom message not recorded: %s", type(exc).__name__)
        return web.Response(status=503, text="retry", content_type="text/plain")
    return web.Response(text="success", content_type="text/plain")


def _log_busy(app: web.Application) -> None:
    # A flood refuses thousands of callbacks a second: one line per interval, with the count.
    state = app[BUSY_KEY]
    state[1] += 1
    now = time.monotonic()
    if now - state[0] >= BUSY_LOG_INTERVAL:
        logger.warning("wecom callbacks refused while busy: %d", int(state[1]))
        state[0], state[1] = now, 0


def _in_background(app: web.Application, on_message: OnMessage, seen: Seen) -> Accept:
    """The ``seen`` + ``on_message`` pair as an Accept: record the key, handle later."""

    async def accept(message: WeComInbound) -> None:
        if not await seen(message.dedup_key):
            tasks = app[TASKS_KEY]
            task = asyncio.create_task(_dispatch(on_message, message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return accept


async def _dispatch(on_message: OnMessage, message: WeComInbound) -> None:
    try:
        await on_message(message)
    except Exception as exc:  # a failing handler must not kill the server
        # Type only: exception text may quote the petition.
        logger.error("wecom on_message failed: %s (%s)", type(exc).__name__, message.msg_type)


async def _drain_tasks(app: web.Application) -> None:
    tasks = app[TASKS_KEY]
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def create_callback_app(
    crypto: WeComCrypto,
    *,
    accept: Accept | None = None,
    on_message: OnMessage | None = None,
    seen: Seen | None = None,
    replay_window: int = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.time,
    max_body: int = DEFAULT_MAX_BODY,
    path: str = CALLBACK_PATH,
) -> web.Application:
    """Build the callback sub-app (give `accept`, or `on_message` and `seen`).

    `replay_window=0` disables the timestamp check.
    """
    app = web.Application()
    app[CRYPTO_KEY] = crypto
    app[TASKS_KEY] = set()
    app[BUSY_KEY] = [-BUSY_LOG_INTERVAL, 0.0]
    if accept is None:
        if on_message is None or seen is None:
            raise TypeError("create_callback_app needs accept, or on_message and seen")
        accept = _in_background(app, on_message, seen)
    elif on_message is not None or seen is not None:
        raise TypeError("create_callback_app takes accept or on_message and seen, not both")
    app[ACCEPT_KEY] = accept
    app[CLOCK_KEY] = clock
    app[REPLAY_WINDOW_KEY] = replay_window
    app[MAX_BODY_KEY] = max_body
    app.router.add_get(path, _handle_get)
    app.router.add_post(path, _handle_post)
    app.on_cleanup.append(_drain_tasks)
    return app
