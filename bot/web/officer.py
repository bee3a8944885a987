"""The officers' side of the web channel: sign-in, and the admin chat in the browser."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.web.context import WebContext, error, read_json, sse_stream, valid_token
from bot.web.hub import ADMIN_TOPIC, officer_topic
from bot.web.ledger import LedgerRoutes
from bot.web.passwords import hash_password, needs_rehash, verify_password
from bot.web.render import INLINE_IMAGES, replies_json
from bot.web.security import OFFICER_COOKIE, check_csrf, new_token, set_cookie
from handlers.access import in_scope, may_view
from handlers.inbound import Inbound
from handlers.ports import Officer
from handlers.views import render_admin
from i18n import N_
from petitions.case import Case
from petitions.deadlines import OFFICE_ZONE
from petitions.roles import Role
from storage.audit_chain import short_head
from storage.models import OutboxRow
from storage.repositories import SqlWeb
from storage.uow import SqlUnitOfWork

__all__ = [
    "ADDRESS_ATTEMPTS",
    "CHECKS_AT_ONCE",
    "CHECKS_WAITING",
    "DELAY_CAP",
    "DELAY_FIRST",
    "GLOBAL_ATTEMPTS",
    "LOGIN_FAILURES",
    "LOGIN_WINDOW",
    "OfficerRoutes",
    "PasswordChecks",
    "client_address",
]

log = logging.getLogger(__name__)

CHANNEL = "web"
# Sign-in attempts are counted in the database before the password is checked (so the
# limits hold across workers and parallel requests), per login name, per client address
# and overall. Windows stay within the scheduler's purge of rate_limits (15 minutes), so
# no counter, and no address index, outlives it by more than a window.
LOGIN_FAILURES = 5  # attempts per login name and window before each needs to wait
LOGIN_WINDOW = timedelta(minutes=15)
ADDRESS_ATTEMPTS = 30  # per client address and window (a successful sign-in is refunded)
GLOBAL_ATTEMPTS = 1000  # over all names and addresses per window (successes refunded)
# Past LOGIN_FAILURES a name is delayed, never locked: each further wrong password doubles
# the wait before the next attempt is checked, up to DELAY_CAP.
DELAY_FIRST = timedelta(seconds=30)
DELAY_CAP = timedelta(minutes=15)
# Each Argon2id check takes 64 MiB: at most CHECKS_AT_ONCE run, CHECKS_WAITING queue,
# and anything beyond is refused at once, so random names cannot exhaust memory.
CHECKS_AT_ONCE = 2
CHECKS_WAITING = 8
_GLOBAL_KEY = "web-login-all"
# Who may read the audit trail on the web: the custodians and discipline inspection.
AUDIT_ROLES = frozenset({Role.CUSTODIAN, Role.DISCIPLINE})
AUDIT_PAGE = 200
FEED_SIZE = 50
DIGEST = "digest"  # the outbox kind of the daily digest (handlers/scheduling.py)
MAX_TEXT = 20_000
ADMIN_CHAT = "admin"
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
ROLE_LABEL = {
    Role.OFFICER: N_("role.officer"),
    Role.LEADER: N_("role.leader"),
    Role.DISCIPLINE: N_("role.discipline"),
    Role.CUSTODIAN: N_("role.custodian"),
}


class PasswordChecks:
    """Bounds concurrent Argon2id checks in this process; refuses when the queue is full."""

    def __init__(self, at_once: int = CHECKS_AT_ONCE, waiting: int = CHECKS_WAITING) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._limit = at_once + waiting
        self._inside = 0

    async def check(self, password_hash: str | None, password: str) -> bool | None:
        """Whether the password matches; None when too many checks are under way."""
        if self._inside >= self._limit:
            return None
        self._inside += 1
        try:
            async with self._slots:
                # Argon2 is slow by design: keep the event loop free while it runs.
                return await asyncio.to_thread(verify_password, password_hash, password)
        finally:
            self._inside -= 1


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def client_address(
    request: web.Request,
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> str:
    """The address sign-in attempts are counted under: the peer, or behind trusted proxies
    the nearest X-Forwarded-For entry they did not add; an IPv6 client as its /64 (one
    household or host holds a whole /64)."""
    peer = _address(request.remote or "")
    if peer is not None and any(peer in net for net in trusted):
        for part in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop = _address(part)
            if hop is None:
                break
            peer = hop
            if not any(hop in net for net in trusted):
                break
    if peer is None:
        return "unknown"
    if isinstance(peer, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer)


def _delay(failures: int) -> timedelta:
    """The wait after the ``failures``-th delayed wrong password: doubling, capped."""
    doubled: timedelta = DELAY_FIRST * (2 ** max(0, failures - 1))
    return min(doubled, DELAY_CAP)


def _throttled(wait: timedelta | None = None) -> web.Response:
    response = error("throttled", 429)
    if wait is not None:
        response.headers["Retry-After"] = str(max(1, int(wait.total_seconds() + 0.999)))
    return response


class OfficerRoutes:
    """``/api/officer/*``: sign-in, sign-out, the admin chat's history, input and pushes."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx
        self.checks = PasswordChecks()

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
        app.router.add_get("/api/officer/audit", self.audit)
        LedgerRoutes(self._ctx, self._officer).add_to(app)  # the case ledger (台账)

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

    def _who(self, officer: Officer, request: web.Request) -> dict[str, object]:
        t = self._ctx.container.translator.t
        locale = self._ctx.page_locale(request)
        role = t(ROLE_LABEL.get(officer.role, N_("role.officer")), locale)
        return {"name": officer.name, "role": role, "audit": officer.role in AUDIT_ROLES}

    async def me(self, request: web.Request) -> web.Response:
        """Who is signed in on this browser, if anyone."""
        officer = await self._officer(request)
        return web.json_response({"officer": self._who(officer, request) if officer else None})

    async def login(self, request: web.Request) -> web.Response:
        """Sign in with login name, password and (when enrolled) a TOTP code.

        The attempt is counted before the password is checked: overall, per client
        address and per login name. Past the name's allowance each attempt waits for a
        gate that every wrong password closes for twice as long (capped); a right password
        after the wait works. Checks run at most CHECKS_AT_ONCE at a time.
        """
        check_csrf(request, self._ctx.vault)
        body = await read_json(request)
        login, password, code = body.get("login"), body.get("password"), body.get("code")
        if not isinstance(login, str) or not isinstance(password, str):
            return error("bad_request", 400)
        if code is not None and not isinstance(code, str):
            return error("bad_request", 400)
        if not login.strip() or len(login) > 100 or len(password) > 1000:
            return error("login_failed", 401)
        ctx = self._ctx
        name = login.strip().casefold()
        name_key, gate_key = f"web-login:{name}", f"web-login-wait:{name}"
        address_key = f"web-login-addr:{client_address(request, ctx.settings.trusted_proxies)}"
        now = ctx.now()
        claimed = False
        async with ctx.uow() as uow:
            limits = uow.limits
            if await limits.hit(_GLOBAL_KEY, LOGIN_WINDOW, now) > GLOBAL_ATTEMPTS:
                await uow.commit()
                log.warning("web sign-in refused: too many attempts overall")
                return _throttled()
            if await limits.hit(address_key, LOGIN_WINDOW, now) > ADDRESS_ATTEMPTS:
                await uow.commit()
                return _throttled()
            attempts = await limits.hit(name_key, LOGIN_WINDOW, now)
            gate = await limits.gate(gate_key)
            if gate is not None and gate[0] > now:
                await uow.commit()
                return _throttled(gate[0] - now)
            if attempts > LOGIN_FAILURES:
                # Past the allowance an attempt is checked only through the gate, and only
                # one attempt gets through each time it opens.
                claimed = gate is not None and await limits.claim_gate(
                    gate_key, gate, now + _delay(gate[1] + 1), now
                )
                if not claimed:
                    await uow.commit()
                    return _throttled(_delay(gate[1] + 1) if gate else DELAY_FIRST)
            found = await uow.web.credentials(login)
            await uow.commit()
        ok = await self.checks.check(found[1] if found else None, password)
        if ok is None:
            async with ctx.uow() as uow:
                await uow.limits.refund(name_key)  # nothing was checked
                await uow.commit()
            return error("busy", 429)
        second = None
        if ok and found is not None:
            second = await self._second_factor(found[0], code, now)
            if second == "totp_required":
                # The password was right: this attempt is not held against the name.
                async with ctx.uow() as uow:
                    await uow.limits.refund(name_key)
                    await uow.commit()
                return error("totp_required", 401)
            if second == "totp_enrol":
                return error("totp_enrol", 403)
        async with ctx.uow() as uow:
            if not ok or found is None or second is not None:
                if attempts >= LOGIN_FAILURES and not claimed:
                    failures = (gate[1] if gate else 0) + 1
                    await uow.limits.close_gate(gate_key, now + _delay(failures), failures)
                await uow.commit()
                log.info("web sign-in refused")
                return error("login_failed", 401)
            officer_id, stored = found
            officer = await uow.officers.get(officer_id)
            if officer is None:
                return error("login_failed", 401)
            await uow.limits.forget(name_key, gate_key)
            await uow.limits.refund(address_key)
            await uow.limits.refund(_GLOBAL_KEY)
            token = new_token()
            lifetime = timedelta(hours=ctx.settings.officer_session_hours)
            await uow.web.purge_sessions(now)
            await uow.web.open_session(token, officer_id, now, lifetime)
            if needs_rehash(stored):
                await uow.web.update_hash(officer_id, hash_password(password), now)
            await uow.audit.add(
                now,
                officer.role,
                "officer.web_login",
                actor_officer_id=officer_id,
                channel=CHANNEL,
            )
            await uow.commit()
        response = web.json_response({"officer": self._who(officer, request)})
        set_cookie(
            response,
            OFFICER_COOKIE,
            token,
            secure=ctx.secure(request),
            max_age=int(lifetime.total_seconds()),
        )
        return response

    async def _second_factor(self, officer_id: int, code: str | None, now: datetime) -> str | None:
        """None when the second factor is satisfied; else ``totp_required`` (ask for the
        code), ``totp_enrol`` (a custodian without TOTP) or ``totp_wrong``."""
        import pyotp

        async with self._ctx.uow() as uow:
            officer = await uow.officers.get(officer_id)
            secret = await uow.web.totp_secret(officer_id)
        if secret is None:
            if officer is not None and officer.role is Role.CUSTODIAN:
                return "totp_enrol"
            return None
        if not code or not code.strip():
            return "totp_required"
        digits = code.strip().replace(" ", "")
        if not pyotp.TOTP(secret).verify(digits, for_time=now, valid_window=1):
            return "totp_wrong"
        return None

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
        locale = ctx.page_locale(request)  # the page's language switch
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
                elif row.kind == DIGEST:
                    digest = await _digest_for(uow, officer, payload)
                    if digest is None:
                        continue
                    payload = digest
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
                channel=CHANNEL,
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

    async def audit(self, request: web.Request) -> web.Response:
        """The audit trail for custodians and discipline inspection (time, person, role,
        action, case number; never details), and the chain's head; reading it is audited."""
        officer = await self._officer(request)
        if officer is None:
            return error("signed_out", 401)
        if officer.role not in AUDIT_ROLES:
            return error("not_found", 404)
        query = request.query
        try:
            first = date.fromisoformat(query["from"]) if query.get("from") else None
            last = date.fromisoformat(query["to"]) if query.get("to") else None
            officer_id = int(query["officer"]) if query.get("officer") else None
            after = int(query["after"]) if query.get("after") else None
        except ValueError:
            return error("bad_request", 400)
        start = datetime(first.year, first.month, first.day, tzinfo=OFFICE_ZONE) if first else None
        end = (
            datetime(last.year, last.month, last.day, tzinfo=OFFICE_ZONE) + timedelta(days=1)
            if last
            else None
        )
        ctx = self._ctx
        async with ctx.uow() as uow:
            case_id = None
            ref = query.get("case", "").strip()
            if ref:
                case = await uow.cases.by_number(ref)
                # A case outside the reader's part of the group reads as an unknown one.
                if case is None or not in_scope(officer, case):
                    return web.json_response({"entries": [], "head": None})
                case_id = case.id
            rows = await _audit_page(
                uow,
                officer,
                case_id=case_id,
                officer_id=officer_id,
                start=start,
                end=end,
                after_id=after,
            )
            last_entry = await uow.audit.last()
            await uow.audit.add(
                ctx.now(),
                officer.role,
                "audit.view",
                actor_officer_id=officer.id,
                case_id=case_id,
                channel=CHANNEL,
            )
            await uow.commit()
        entries = [
            {
                "id": r["id"],
                "at": r["at"].astimezone(OFFICE_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
                "officer": f"#{r['officer_id']} {r['officer']}" if r["officer_id"] else "",
                "subject": r["subject_officer_id"],
                "role": r["role"],
                "action": r["action"],
                "case": r["case"] or "",
                "channel": r["channel"] or "",
            }
            for r in rows
        ]
        head = short_head(*last_entry) if last_entry else None
        return web.json_response({"entries": entries, "head": head})

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
            locale=self._ctx.page_locale(request),
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
            async with ctx.uow() as uow:
                current = await uow.officers.get(officer.id)
                if current is None or not current.active:
                    return False
                if case_id is None:
                    # About no case: the digest lists cases by number (the root's, every
                    # case of the group). Live, it goes only to officers who may see every
                    # case it lists; the others read their part of it in the feed.
                    row = await uow.session.get(OutboxRow, int(event.get("row") or 0))
                    if row is None or row.kind != DIGEST:
                        return True  # names no case
                    payload = uow.outbox.payload(row)
                    digest = await _digest_for(uow, current, payload)
                    return digest is not None and digest["items"] == payload.get("items")
                case = await uow.cases.get(int(case_id))
            return case is not None and may_view(current, case)

        return await sse_stream(request, ctx.hub, topics, allow)


async def _digest_for(
    uow: SqlUnitOfWork, officer: Officer, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """The digest as this officer may read it: only the cases they may see, counted again;
    None when it lists cases and none of them is theirs."""
    items = list(payload.get("items") or [])
    mine = []
    for item in items:
        case = await uow.cases.by_number(str(item.get("number", "")))
        if case is not None and may_view(officer, case):
            mine.append(item)
    if items and not mine:
        return None
    overdue = sum(1 for item in mine if item.get("overdue"))
    return {**payload, "items": mine, "overdue": overdue, "due_soon": len(mine) - overdue}


async def _audit_page(
    uow: SqlUnitOfWork, officer: Officer, **conditions: Any
) -> list[dict[str, Any]]:
    """A page of audit entries for this reader: a reader of a unit (纪检 of a plant) reads
    the entries about its subtree's cases and those about no case, read on until the page
    is full or the trail ends."""
    if officer.scope is None:
        return list(await uow.audit.entries(**conditions, limit=AUDIT_PAGE))
    out: list[dict[str, Any]] = []
    seen: dict[str, bool] = {}
    while len(out) < AUDIT_PAGE:
        rows = await uow.audit.entries(**conditions, limit=AUDIT_PAGE)
        for r in rows:
            number = r["case"]
            if number and number not in seen:
                case = await uow.cases.by_number(number)
                seen[number] = case is not None and in_scope(officer, case)
            if not number or seen[number]:
                out.append(r)
        if len(rows) < AUDIT_PAGE:
            break
        conditions["after_id"] = rows[-1]["id"]
    return out[:AUDIT_PAGE]


def _disposition(name: str, *, inline: bool) -> str:
    """A Content-Disposition with the stored name: an ASCII fallback and RFC 5987 UTF-8."""
    fallback = _ASCII_NAME.sub("_", name).strip("._") or "evidence"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
