"""The employee's side of the web channel: the same conversations as on Telegram."""

from __future__ import annotations

import logging

from aiohttp import BodyPartReader, HttpVersion11, hdrs, web

from bot.web.context import WebContext, error, read_json, sse_stream, valid_token
from bot.web.history import resume_conversation
from bot.web.hub import employee_topic
from bot.web.render import replies_json
from bot.web.security import (
    VISITOR_COOKIE,
    check_csrf,
    csrf_token,
    employee_chat_id,
    new_token,
    set_cookie,
)
from bot.web.uploads import UploadRejected, check_upload
from handlers.inbound import Inbound, Reply

__all__ = ["EmployeeRoutes"]

log = logging.getLogger(__name__)

CHANNEL = "web"
MAX_TEXT = 20_000  # characters; the handlers have their own, smaller limits per step
# Room for the multipart framing and the locale field around the file itself.
FORM_OVERHEAD = 64 * 1024


class EmployeeRoutes:
    """``/api/session`` and ``/api/chat/*``: a visitor's conversation, keyed by a cookie."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def add_to(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get("/api/session", self.session)
        app.router.add_post("/api/chat/send", self.send)
        app.router.add_post("/api/chat/upload", self.upload, expect_handler=self.expect)
        app.router.add_get("/api/chat/events", self.events)
        app.router.add_get("/api/chat/history", self.history)

    async def session(self, request: web.Request) -> web.Response:
        """Start (or keep) the visitor's session and return its CSRF token."""
        visitor = request.cookies.get(VISITOR_COOKIE)
        fresh = not valid_token(visitor)
        token = new_token() if fresh or visitor is None else visitor
        response = web.json_response({"csrf": csrf_token(self._ctx.vault, token)})
        if fresh:
            # A session cookie (no Max-Age): it ends with the browser; the tracking code
            # is the way back to a submitted petition.
            set_cookie(response, VISITOR_COOKIE, token, secure=self._ctx.secure(request))
        return response

    async def send(self, request: web.Request) -> web.Response:
        """Text typed or a button pressed by the employee."""
        visitor = check_csrf(request, self._ctx.vault)
        body = await read_json(request)
        text, button = body.get("text"), body.get("button")
        if text is not None and not isinstance(text, str):
            return error("bad_request", 400)
        if button is not None and (
            not isinstance(button, str) or len(button.encode("utf-8")) > 64
        ):
            return error("bad_request", 400)
        if (text is None) == (button is None):
            return error("bad_request", 400)
        if text is not None and len(text) > MAX_TEXT:
            return error("too_long", 413)
        chat = employee_chat_id(self._ctx.vault, visitor)
        inbound = Inbound(
            CHANNEL,
            chat,
            chat,
            locale=self._ctx.locale(body.get("locale")),
            text=text,
            button=button,
        )
        return web.json_response({"replies": replies_json(await self._handle(chat, inbound))})

    async def history(self, request: web.Request) -> web.Response:
        """Where this browser's conversation stands, for a page that was reloaded: the
        current question, or the status of the case it opened by tracking code."""
        visitor = request.cookies.get(VISITOR_COOKIE)
        if not valid_token(visitor) or visitor is None:
            return web.json_response({"replies": []})
        ctx = self._ctx
        chat = employee_chat_id(ctx.vault, visitor)
        locale = ctx.locale(request.query.get("locale"))
        async with ctx.locks.hold(chat):
            resumed = await resume_conversation(ctx.container, CHANNEL, chat, locale)
        if resumed.case_id is not None:
            ctx.hub.follow(chat, resumed.case_id)  # its pushes reach the reloaded page too
        return web.json_response({"replies": replies_json(resumed.replies)})

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse an oversized file before its bytes are sent."""
        if (request.content_length or 0) > self._ctx.max_upload + FORM_OVERHEAD:
            return error("too_big", 413)
        if request.version == HttpVersion11:
            if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
                raise web.HTTPExpectationFailed()
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer's own bytes have not started yet
        return None

    async def upload(self, request: web.Request) -> web.Response:
        """An evidence file (multipart/form-data, field ``file``).

        The declared size is checked before any of the body is read (and, with
        ``Expect: 100-continue``, before it is sent); the page checks it even earlier."""
        visitor = check_csrf(request, self._ctx.vault)
        if request.content_type != "multipart/form-data":
            return error("type", 415)
        limit = self._ctx.max_upload
        if (request.content_length or 0) > limit + FORM_OVERHEAD:
            return error("too_big", 413)
        reader = await request.multipart()
        name, data, locale = None, b"", None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return error("bad_request", 400)  # nested multipart
            if part.name == "locale":
                raw = (await part.read_chunk(1024))[:20]  # a language code, never a big field
                locale = self._ctx.locale(raw.decode("ascii", "replace"))
            elif part.name == "file" and name is None:
                name = part.filename or "file"
                chunks, size = [], 0
                while chunk := await part.read_chunk(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        return error("too_big", 413)
                    chunks.append(chunk)
                data = b"".join(chunks)
        if name is None:
            return error("bad_request", 400)
        try:
            file = check_upload(name, data, limit)
        except UploadRejected as rejected:
            return error(rejected.code, 413 if rejected.code == "too_big" else 415)
        chat = employee_chat_id(self._ctx.vault, visitor)
        inbound = Inbound(CHANNEL, chat, chat, locale=locale, file=file)
        return web.json_response({"replies": replies_json(await self._handle(chat, inbound))})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Pushed updates for this page while it is open (Server-Sent Events)."""
        visitor = request.cookies.get(VISITOR_COOKIE)
        if not valid_token(visitor) or visitor is None:
            return error("signed_out", 403)
        chat = employee_chat_id(self._ctx.vault, visitor)
        return await sse_stream(request, self._ctx.hub, (employee_topic(chat),))

    async def _handle(self, chat: str, inbound: Inbound) -> list[Reply]:
        ctx = self._ctx
        async with ctx.locks.hold(chat):
            replies = await ctx.container.handlers.handle(inbound)
            async with ctx.uow() as uow:
                conversation = await uow.conversations.get(CHANNEL, chat)
            case_id = conversation.draft.get("case_id") if conversation else None
            if conversation and conversation.step.startswith("track.") and case_id:
                ctx.hub.follow(chat, int(case_id))  # opened by its code: show its pushes live
        return replies
