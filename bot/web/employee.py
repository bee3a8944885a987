"""The employee's side of the web channel: the same conversations as on Telegram."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, HttpVersion11, hdrs, web

from bot.notices.issue import NOTICE_STATE
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
from petitions.case import Case
from petitions.notices import NoticeKind, notice_number

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
        app.router.add_get(
            r"/api/chat/notice/{number:XF-\d{4}-\d{6,18}}/{kind:[a-z_]{1,20}}", self.notice
        )

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
        replies = replies_json(await self._handle(chat, inbound))
        return web.json_response({"replies": replies, "notices": await self._notices(chat)})

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
        return web.json_response(
            {"replies": replies_json(resumed.replies), "notices": await self._notices(chat)}
        )

    async def _case_of(self, uow: Any, chat: str, case: Case | None = None) -> Case | None:
        """The case this browser's session may read notices of: the one it opened by
        tracking code (a live ``track.*`` conversation), or the given case when this
        browser filed it with updates pushed here."""
        now = self._ctx.now()
        conversation = await uow.conversations.get(CHANNEL, chat)
        live = conversation is not None and (
            conversation.expires_at is None or conversation.expires_at >= now
        )
        opened = conversation.draft.get("case_id") if conversation and live else None
        if opened and conversation is not None and conversation.step.startswith("track."):
            found: Case | None = await uow.cases.get(int(opened))
            if case is None or (found is not None and found.id == case.id):
                return found
        if case is not None and case.id is not None and case.channel == CHANNEL:
            contact = await uow.cases.contact(case.id)
            if contact is not None and contact.chat_id == chat:
                return case
        return None

    async def _notices(self, chat: str) -> list[dict[str, str]]:
        """Links to the notices of the case this session opened by code (a "code only"
        case has no push: the page is where its notices are read)."""
        async with self._ctx.uow() as uow:
            case = await self._case_of(uow, chat)
            if case is None or case.id is None or case.number is None:
                return []
            events = await uow.cases.events(case.id)
        return [
            {
                "name": f"{notice_number(case.number, kind)}.pdf",
                "url": f"/api/chat/notice/{case.number}/{kind.value}",
            }
            for kind, state in NOTICE_STATE.items()
            if any(e.kind == "transition" and e.to_state is state for e in events)
        ]

    async def notice(self, request: web.Request) -> web.Response:
        """A notice (告知书) as PDF, for the browser that follows the case: it opened it by
        tracking code, or filed it with updates pushed here. Others get a 404."""
        visitor = request.cookies.get(VISITOR_COOKIE)
        if not valid_token(visitor) or visitor is None:
            return error("not_found", 404)
        ctx = self._ctx
        chat = employee_chat_id(ctx.vault, visitor)
        try:
            kind = NoticeKind(request.match_info["kind"])
        except ValueError:
            return error("not_found", 404)
        async with ctx.uow() as uow:
            case = await uow.cases.by_number(request.match_info["number"])
            case = await self._case_of(uow, chat, case) if case is not None else None
            if case is None or case.id is None:
                return error("not_found", 404)
            events = await uow.cases.events(case.id)
            messages = await uow.cases.messages(case.id)
        data = ctx.container.notices.from_timeline(case, kind, events, messages)
        if data is None:
            return error("not_found", 404)
        pdf = await asyncio.to_thread(ctx.container.notices.pdf, kind, data, case.locale)
        name = f"{notice_number(data.case_number, kind)}.pdf"
        return web.Response(
            body=pdf,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": (
                    f"attachment; filename=\"notice.pdf\"; filename*=UTF-8''{quote(name, safe='')}"
                ),
                "Cache-Control": "no-store",
            },
        )

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
        replies = replies_json(await self._handle(chat, inbound))
        return web.json_response({"replies": replies, "notices": await self._notices(chat)})

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
