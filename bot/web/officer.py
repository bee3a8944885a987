"""The officers' side of the web channel: sign-in, and the admin chat in the browser."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.web.context import WebContext, error, read_json, sse_stream, valid_token
from bot.web.hub import ADMIN_TOPIC, officer_topic
from bot.web.passwords import hash_password, needs_rehash, verify_password
from bot.web.render import INLINE_IMAGES, replies_json
from bot.web.security import OFFICER_COOKIE, check_csrf, new_token, set_cookie
from handlers.access import may_view
from handlers.inbound import Inbound
from handlers.ports import Officer
from handlers.views import render_admin
from i18n import N_
from petitions.case import Case
from petitions.roles import Role
from storage.repositories import SqlWeb

__all__ = ["LOGIN_FAILURES", "LOGIN_WINDOW", "OfficerRoutes"]

log = logging.getLogger(__name__)

CHANNEL = "web"
LOGIN_FAILURES = 5  # wrong passwords per login name and window before sign-in pauses
LOGIN_WINDOW = timedelta(minutes=15)
FEED_SIZE = 50
MAX_TEXT = 20_000
ADMIN_CHAT = "admin"
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
ROLE_LABEL = {
    Role.OFFICER: N_("role.officer"),
    Role.LEADER: N_("role.leader"),
    Role.DISCIPLINE: N_("role.discipline"),
    Role.CUSTODIAN: N_("role.custodian"),
}


class OfficerRoutes:
    """``/api/officer/*``: sign-in, sign-out, the admin chat's history, input and pushes."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def add_to(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get("/api/officer/me", self.me)
        app.router.add_post("/api/officer/login", self.login)
        app.router.add_post("/api/officer/logout", self.logout)
        app.router.add_get("/api/officer/feed", self.feed)
        app.router.add_post("/api/officer/send", self.send)
        app.router.add_get("/api/officer/events", self.events)
        # At most 18 digits: every such id fits a 64-bit column, so a long one is just unknown.
        app.router.add_get(r"/api/officer/evidence/{attachment_id:\d{1,18}}", self.evidence)

    async def _officer(self, request: web.Request) -> Officer | None:
        token = request.cookies.get(OFFICER_COOKIE)
        if not valid_token(token) or token is None:
            return None
        ctx = self._ctx
        idle = timedelta(minutes=ctx.settings.officer_idle_minutes)
        async with ctx.uow() as uow:
            officer_id = await uow.web.session_officer(token, ctx.now(), idle)
            officer = None
            if officer_id is not None:
                # A removed officer has no web account any more: the session ends with it.
                officer = await uow.officers.by_account(CHANNEL, SqlWeb.account_of(officer_id))
                if officer is None:
                    await uow.web.close_session(token)
            await uow.commit()
        return officer

    def _who(self, officer: Officer) -> dict[str, object]:
        t = self._ctx.container.translator.t
        locale = self._ctx.container.settings.default_locale
        role = t(ROLE_LABEL.get(officer.role, N_("role.officer")), locale)
        return {"name": officer.name, "role": role}

    async def me(self, request: web.Request) -> web.Response:
        """Who is signed in on this browser, if anyone."""
        officer = await self._officer(request)
        return web.json_response({"officer": self._who(officer) if officer else None})

    async def login(self, request: web.Request) -> web.Response:
        """Sign in with login name and password (throttled per login name)."""
        check_csrf(request, self._ctx.vault)
        body = await read_json(request)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str):
            return error("bad_request", 400)
        if not login.strip() or len(login) > 100 or len(password) > 1000:
            return error("login_failed", 401)
        ctx = self._ctx
        key = f"web-login:{login.strip().casefold()}"
        now = ctx.now()
        async with ctx.uow() as uow:
            if await uow.limits.count(key, LOGIN_WINDOW, now) >= LOGIN_FAILURES:
                return error("throttled", 429)
            found = await uow.web.credentials(login)
        # Argon2 is slow by design: keep the event loop free while it runs.
        ok = await asyncio.to_thread(verify_password, found[1] if found else None, password)
        async with ctx.uow() as uow:
            if not ok or found is None:
                await uow.limits.hit(key, LOGIN_WINDOW, now)
                await uow.commit()
                log.info("web sign-in refused")
                return error("login_failed", 401)
            officer_id, stored = found
            officer = await uow.officers.get(officer_id)
            if officer is None:
                return error("login_failed", 401)
            token = new_token()
            lifetime = timedelta(hours=ctx.settings.officer_session_hours)
            await uow.web.purge_sessions(now)
            await uow.web.open_session(token, officer_id, now, lifetime)
            if needs_rehash(stored):
                await uow.web.update_hash(officer_id, hash_password(password), now)
            await uow.audit.add(
                now, officer.role, "officer.web_login", actor_officer_id=officer_id
            )
            await uow.commit()
        response = web.json_response({"officer": self._who(officer)})
        set_cookie(
            response,
            OFFICER_COOKIE,
            token,
            secure=ctx.secure(request),
            max_age=int(lifetime.total_seconds()),
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """Sign out: the session is deleted on the server, the cookie in the browser."""
        check_csrf(request, self._ctx.vault)
        token = request.cookies.get(OFFICER_COOKIE)
        if valid_token(token) and token is not None:
            async with self._ctx.uow() as uow:
                await uow.web.close_session(token)
                await uow.commit()
        response = web.json_response({"officer": None})
        response.del_cookie(OFFICER_COOKIE, path="/")
        return response

    async def feed(self, request: web.Request) -> web.Response:
        """The admin chat's recent messages (case cards and notices) about the cases this
        officer may see, oldest first; evidence as references, fetched per file."""
        officer = await self._officer(request)
        if officer is None:
            return error("signed_out", 401)
        ctx = self._ctx
        t = ctx.container.translator.t
        locale = ctx.container.settings.default_locale
        messages = []
        cases: dict[int, Case | None] = {}
        async with ctx.uow() as uow:
            for row in await uow.web.admin_feed(FEED_SIZE):
                payload = uow.outbox.payload(row)
                # The case render_admin shows; a row about no case (the digest) names none.
                case_id = payload.get("case_id")
                case_id = row.case_id if case_id is None else case_id
                if case_id is not None:
                    if case_id not in cases:
                        cases[case_id] = await uow.cases.get(int(case_id))
                    case = cases[case_id]
                    if case is None or not may_view(officer, case):
                        continue
                replies = await render_admin(
                    uow, t, locale, row.kind, payload, ctx.now(), with_file_data=False
                )
                messages.append({"row": row.id, "replies": replies_json(replies, files=True)})
        return web.json_response({"messages": messages})

    async def evidence(self, request: web.Request) -> web.Response:
        """One evidence file of a case this officer may see (audited); 404 otherwise."""
        officer = await self._officer(request)
        if officer is None:
            return error("signed_out", 401)
        attachment_id = int(request.match_info["attachment_id"])
        ctx = self._ctx
        async with ctx.uow() as uow:
            case_id = await uow.attachments.case_of(attachment_id)
            case = await uow.cases.get(case_id) if case_id is not None else None
            # An unknown id and a case this officer may not see get the same answer, so
            # nobody learns which ids exist by trying them.
            item = None
            if case is not None and may_view(officer, case):
                item = await uow.attachments.data(attachment_id)
            if case is None or item is None:
                return error("not_found", 404)
            await uow.audit.add(
                ctx.now(),
                officer.role,
                "evidence.view",
                actor_officer_id=officer.id,
                case_id=case.id,
            )
            await uow.commit()
        info, data = item
        inline = info.mime in INLINE_IMAGES
        return web.Response(
            body=data,
            headers={
                # Only raster images are shown in the page; anything else (HTML, SVG, PDF)
                # is a download the browser never renders in our origin.
                "Content-Type": info.mime if inline else "application/octet-stream",
                "Content-Disposition": _disposition(info.name, inline=inline),
                "Cache-Control": "no-store",
            },
        )

    async def send(self, request: web.Request) -> web.Response:
        """A command, a pressed case-card button, or an explicit answer (``case_ref``)."""
        check_csrf(request, self._ctx.vault)
        officer = await self._officer(request)
        if officer is None:
            return error("signed_out", 401)
        body = await read_json(request)
        text, button, case_ref = body.get("text"), body.get("button"), body.get("case_ref")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            return error("bad_request", 400)
        if button is not None and (
            not isinstance(button, str) or len(button.encode("utf-8")) > 64
        ):
            return error("bad_request", 400)
        if case_ref is not None and (not isinstance(case_ref, int) or isinstance(case_ref, bool)):
            return error("bad_request", 400)
        if (text is None) == (button is None):
            return error("bad_request", 400)
        account = SqlWeb.account_of(officer.id)
        inbound = Inbound(
            CHANNEL,
            ADMIN_CHAT,
            account,
            text=text,
            button=button,
            in_admin_chat=True,
            case_ref=case_ref if text is not None else None,
        )
        async with self._ctx.locks.hold(f"o:{account}"):
            replies = await self._ctx.container.handlers.handle(inbound)
        return web.json_response({"replies": replies_json(replies, files=True)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """New case cards and notices while the page is open (Server-Sent Events)."""
        officer = await self._officer(request)
        if officer is None:
            return error("signed_out", 401)
        topics = (ADMIN_TOPIC, officer_topic(SqlWeb.account_of(officer.id)))
        ctx = self._ctx

        async def allow(event: dict[str, Any]) -> bool:
            # Checked when the event goes out, against the officer as they are now: a role
            # changed or an officer removed while the page is open takes effect at once.
            case_id = event.get("case_id")
            if case_id is None:
                return True  # about no case (the digest: dates and counts)
            async with ctx.uow() as uow:
                current = await uow.officers.get(officer.id)
                case = await uow.cases.get(int(case_id))
            return (
                current is not None
                and current.active
                and case is not None
                and may_view(current, case)
            )

        return await sse_stream(request, ctx.hub, topics, allow)


def _disposition(name: str, *, inline: bool) -> str:
    """A Content-Disposition with the stored name: an ASCII fallback and RFC 5987 UTF-8."""
    fallback = _ASCII_NAME.sub("_", name).strip("._") or "evidence"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
