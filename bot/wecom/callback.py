"""aiohttp sub-application serving the WeCom callback URL (verification GET, encrypted POST).

Mount it under the shared server, e.g. ``app.add_subapp(MOUNT_PREFIX, create_callback_app(...))``
which serves ``/wecom/callback``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

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
Seen = Callable[[str], Awaitable[bool]]

CRYPTO_KEY = web.AppKey("wecom_crypto", WeComCrypto)
ON_MESSAGE_KEY: web.AppKey[OnMessage] = web.AppKey("wecom_on_message")
SEEN_KEY: web.AppKey[Seen] = web.AppKey("wecom_seen")
TASKS_KEY = web.AppKey("wecom_tasks", set[asyncio.Task[None]])
CLOCK_KEY: web.AppKey[Callable[[], float]] = web.AppKey("wecom_clock")
REPLAY_WINDOW_KEY = web.AppKey("wecom_replay_window", int)
MAX_BODY_KEY = web.AppKey("wecom_max_body", int)

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


def _signed_params(request: web.Request) -> tuple[str, str, str] | None:
    params = _raw_query(request)
    try:
        return params["msg_signature"], params["timestamp"], params["nonce"]
    except KeyError:
        return None


async def _handle_get(request: web.Request) -> web.Response:
    crypto = request.app[CRYPTO_KEY]
    signed = _signed_params(request)
    echostr = _raw_query(request).get("echostr")
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
    signed = _signed_params(request)
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
        duplicate = await app[SEEN_KEY](message.dedup_key)
    except Exception as exc:  # storage trouble: let WeCom retry later
        logger.error("wecom dedup store failed: %s", type(exc).__name__)
        return web.Response(status=503, text="retry", content_type="text/plain")
    if not duplicate:
        _spawn(app, message)
    # WeCom wants an answer within 5 s; the real work happens in the background.
    return web.Response(text="success", content_type="text/plain")


def _spawn(app: web.Application, message: WeComInbound) -> None:
    tasks = app[TASKS_KEY]
    task = asyncio.create_task(_dispatch(app[ON_MESSAGE_KEY], message))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


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
    on_message: OnMessage,
    seen: Seen,
    replay_window: int = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.time,
    max_body: int = DEFAULT_MAX_BODY,
    path: str = CALLBACK_PATH,
) -> web.Application:
    """Build the callback sub-app; `replay_window=0` disables the timestamp check."""
    app = web.Application()
    app[CRYPTO_KEY] = crypto
    app[ON_MESSAGE_KEY] = on_message
    app[SEEN_KEY] = seen
    app[TASKS_KEY] = set()
    app[CLOCK_KEY] = clock
    app[REPLAY_WINDOW_KEY] = replay_window
    app[MAX_BODY_KEY] = max_body
    app.router.add_get(path, _handle_get)
    app.router.add_post(path, _handle_post)
    app.on_cleanup.append(_drain_tasks)
    return app
