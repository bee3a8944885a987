"""The officers' case ledger (台账) on the web: a filtered, sorted, keyset-paged table of
the cases the signed-in officer may see, a case page, and exports to XLSX and CSV.

Who sees what is part of the SQL filter (the same rule as every command: the role's
categories and the cases that keep an officer away), so counts, pages and exports agree
with what the chat would show. The search over petition text reads blind-indexed tokens
(storage/search.py) and decrypts only a few hundred candidates to confirm them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.notices.issue import NOTICE_STATE
from bot.web.context import WebContext, error, read_json
from bot.web.render import reply_json
from bot.web.security import check_csrf
from bot.web.warnings import WARNINGS_LABELS, WarningRoutes
from handlers.access import may_view, role_conditions, scoped_filter
from handlers.acts import (
    FORMAL_ACTS,
    assign_targets,
    check_act,
    matter_note,
    perform_act,
    preview_act,
    transfer_targets,
)
from handlers.forms import ACT_NAME, FORMS, WrongValue, fields_from, read_field
from handlers.inbound import Inbound
from handlers.labels import CATEGORY, ERRORS, FIELDS, OUTCOME_WORD, RATING, REDIRECT_WORD, STATE
from handlers.labels import CHANNEL as CHANNEL_LABEL  # CHANNEL here names the web channel
from handlers.ports import (
    COUNT_CAP,
    SEARCH_COUNT_CAP,
    CaseCursor,
    CaseFilter,
    Conflict,
    Officer,
)
from handlers.router import ATTEMPTS
from handlers.turn import Turn
from handlers.urgent import urgent_line
from handlers.views import admin_case_detail
from handlers.warnings import viewer_similar
from i18n import N_
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import format_case_number
from petitions.deadlines import OFFICE_DEADLINE_STATES, OFFICE_ZONE, is_overdue
from petitions.errors import DomainError
from petitions.lifecycle import Action, rule_for
from petitions.notices import NoticeKind, notice_number
from petitions.roles import Role
from petitions.states import TERMINAL_STATES, CaseState, Outcome, Redirect
from petitions.units import UnitTree
from storage.repositories import SqlWeb
from storage.search import CONFIRM_LIMIT, MAX_QUERY, query_terms
from storage.uow import SqlUnitOfWork

__all__ = [
    "EXPORT_LIMIT",
    "LEDGER_LABELS",
    "PAGE_SIZE",
    "SORTS",
    "LedgerRoutes",
]

log = logging.getLogger(__name__)

CHANNEL = "web"
PAGE_SIZE = 20
MAX_PAGE = 100
EXPORT_LIMIT = 100_000  # rows; a larger view is refused (narrow the filters)
_EXPORT_CHUNK = 1000
SORTS = ("deadline", "created", "number")
# A case number as officers type it: XF-2026-000123, 2026-123, xf2026-123.
_NUMBER = re.compile(r"^(?:XF-?)?([0-9]{4})-([0-9]{1,12})$")

# The columns of the table and of the exports, in order.
COLUMNS = (
    ("number", N_("ledger.col.number")),
    ("registered", N_("ledger.col.registered")),
    ("unit", N_("ledger.col.unit")),
    ("category", N_("ledger.col.category")),
    ("state", N_("ledger.col.state")),
    ("owner", N_("ledger.col.owner")),
    ("deadline", N_("ledger.col.deadline")),
    ("overdue", N_("ledger.col.overdue")),
    ("channel", N_("ledger.col.channel")),
    ("satisfaction", N_("ledger.col.satisfaction")),
)

# The page's texts (merged into /api/ui by bot/web/pages.py).
LEDGER_LABELS = {
    **{f"col_{key}": message_id for key, message_id in COLUMNS},
    "tab_chat": N_("ledger.tab_chat"),
    "tab_ledger": N_("ledger.tab_ledger"),
    "heading": N_("ledger.heading"),
    "filters": N_("ledger.filters"),
    "f_state": N_("ledger.f_state"),
    "f_open": N_("ledger.f_open"),
    "f_all": N_("ledger.f_all"),
    "f_category": N_("ledger.f_category"),
    "f_unit": N_("ledger.f_unit"),
    "f_owner": N_("ledger.f_owner"),
    "f_mine": N_("ledger.f_mine"),
    "f_unassigned": N_("ledger.f_unassigned"),
    "f_overdue": N_("ledger.f_overdue"),
    "f_urgent": N_("ledger.f_urgent"),
    "f_from": N_("ledger.f_from"),
    "f_to": N_("ledger.f_to"),
    "f_q": N_("ledger.f_q"),
    "f_q_hint": N_("ledger.f_q_hint"),
    "apply": N_("ledger.apply"),
    "reset": N_("ledger.reset"),
    "count": N_("ledger.count"),
    "empty": N_("ledger.empty"),
    "next": N_("ledger.next"),
    "prev": N_("ledger.prev"),
    "export_xlsx": N_("ledger.export_xlsx"),
    "export_csv": N_("ledger.export_csv"),
    "export_too_many": N_("ledger.export_too_many"),
    "approximate": N_("ledger.approximate"),
    "too_short": N_("ledger.too_short"),
    "yes": N_("ledger.yes"),
    "no": N_("ledger.no"),
    "sort_by": N_("ledger.sort_by"),
    "back": N_("ledger.back"),
    "case_heading": N_("ledger.case_heading"),
    "case_content": N_("ledger.case_content"),
    "case_actions": N_("ledger.case_actions"),
    "case_actions_hint": N_("ledger.case_actions_hint"),
    "case_timeline": N_("ledger.case_timeline"),
    "case_evidence": N_("ledger.case_evidence"),
    "case_no_evidence": N_("ledger.case_no_evidence"),
    "case_answer": N_("ledger.case_answer"),
    "case_reload": N_("ledger.case_reload"),
    "loading": N_("ledger.loading"),
    "error_not_found": N_("ledger.error_not_found"),
    "form_preview": N_("ledger.form_preview"),
    "form_confirm": N_("ledger.form_confirm"),
    "form_edit": N_("ledger.form_edit"),
    "form_preview_heading": N_("ledger.form_preview_heading"),
    "form_done": N_("ledger.form_done"),
    "form_choose": N_("ledger.form_choose"),
    "form_days": N_("ledger.form_days"),
    "notices": N_("ledger.notices"),
    "notices_none": N_("ledger.notices_none"),
    "error_stale": N_("ledger.error_stale"),
    "error_csrf": N_("ledger.error_csrf"),
}
for _state, _message_id in STATE.items():
    LEDGER_LABELS[f"state_{_state.value}"] = _message_id
for _category, _message_id in CATEGORY.items():
    LEDGER_LABELS[f"category_{_category.value}"] = _message_id
# The similar-cases column and the 预警 tab (bot/web/warnings.py); not in the exports.
LEDGER_LABELS.update(WARNINGS_LABELS)

# Who may take some formal act (discipline inspection acts as officers on its reports).
_ACTING_ROLES = frozenset(
    {role for action in FORMAL_ACTS for role in rule_for(action).roles} | {Role.DISCIPLINE}
)


class BadQuery(Exception):
    """A ledger query parameter that cannot be read."""


@dataclass(frozen=True)
class LedgerQuery:
    """A parsed ledger request: the SQL filter and the parts that are not SQL."""

    flt: CaseFilter
    text: str  # the search; never logged nor audited (it may name people)
    described: dict[str, Any]  # the filters as the audit records them


def _day(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadQuery from exc


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=OFFICE_ZONE)


def _unit_filter(tree: UnitTree, raw: str) -> frozenset[int] | None:
    """The subtree of the unit a code or a full name names; nothing for an unknown one."""
    if not raw:
        return None
    unit = tree.by_code(raw) or next((u for u in tree if u.name == raw), None)
    if unit is None:
        unit = next((u for u in tree if tree.path_name(u.id) == raw), None)
    return tree.subtree(unit.id) if unit is not None else frozenset()


def parse_query(query: Any, officer: Officer, now: datetime, tree: UnitTree) -> LedgerQuery:
    """Read the ledger's query string into a CaseFilter holding the officer's role and
    unit scope."""
    state = query.get("state", "open")
    states: frozenset[CaseState] | None
    if state == "open":
        states = frozenset(s for s in CaseState if s not in TERMINAL_STATES)
    elif state in ("", "all"):
        states = None
    else:
        try:
            states = frozenset({CaseState(state)})
        except ValueError as exc:
            raise BadQuery from exc
    categories = role_conditions(officer.role).get("categories")
    category = query.get("category", "")
    if category:
        if category not in {c.value for c in Category}:
            raise BadQuery
        # A category the role may not see gives no rows, not an error (scoped_filter adds
        # the role's rule to this narrowing).
        categories = frozenset({category} & (categories if categories is not None else {category}))
    unit = query.get("unit", "").strip()
    if len(unit) > 100:
        raise BadQuery
    first, last = _day(query.get("from", "")), _day(query.get("to", ""))
    sort = query.get("sort", "deadline")
    descending = sort.startswith("-")
    if sort.lstrip("-") not in SORTS:
        raise BadQuery
    overdue = query.get("overdue") == "1"
    if overdue:
        states = OFFICE_DEADLINE_STATES if states is None else states & OFFICE_DEADLINE_STATES
    try:
        limit = min(MAX_PAGE, max(1, int(query.get("limit", PAGE_SIZE))))
    except ValueError as exc:
        raise BadQuery from exc
    after = before = None
    if query.get("after"):
        after = CaseCursor.from_text(query["after"])
        if after is None:
            raise BadQuery
    if query.get("before"):
        before = CaseCursor.from_text(query["before"])
        if before is None:
            raise BadQuery
    text = query.get("q", "").strip()[:MAX_QUERY]
    flt = scoped_filter(
        officer,
        states=states,
        owner_officer_id=officer.id if query.get("mine") == "1" else None,
        unassigned=query.get("unassigned") == "1",
        overdue_at=now if overdue else None,
        categories=categories,
        after=after,
        limit=limit,
        unit_ids=_unit_filter(tree, unit),
        created_from=_start_of(first) if first else None,
        created_before=_start_of(last) + timedelta(days=1) if last else None,
        urgent=query.get("urgent") == "1",
        sort=sort.lstrip("-"),
        descending=descending,
        before=before,
    )
    described = {
        "state": state,
        "category": category,
        "unit": unit,
        "overdue": overdue,
        "mine": flt.owner_officer_id is not None,
        "unassigned": flt.unassigned,
        "urgent": flt.urgent,
        "from": first.isoformat() if first else "",
        "to": last.isoformat() if last else "",
        "sort": sort,
        # That a text search narrowed the view, never what was searched for.
        "search": bool(text),
    }
    return LedgerQuery(flt, text, described)


async def apply_search(uow: SqlUnitOfWork, flt: CaseFilter, text: str) -> tuple[CaseFilter, str]:
    """The filter narrowed by a search over case numbers and petition text, and a notice:
    ``approximate`` (too many candidates to confirm), ``too_short`` or empty."""
    if not text:
        return flt, ""
    found: set[int] = set()
    compact = text.replace(" ", "")
    if compact.isdigit() and len(compact) <= 18:
        found.add(int(compact))  # the number's sequence is the case id: XF-2026-000123
    parsed = _NUMBER.match(compact.upper())
    if parsed is not None:
        number = format_case_number(int(parsed.group(1)), int(parsed.group(2)))
        case = await uow.cases.by_number(number)
        if case is not None and case.id is not None:
            found.add(case.id)
    tokens = await uow.search.plan(text)
    if not tokens:
        notice = "" if found or not query_terms(text) else "too_short"
        return replace(flt, search_ids=frozenset(found)), notice
    candidates = await uow.cases.ledger_ids(
        replace(flt, search_tokens=tokens, after=None, before=None), CONFIRM_LIMIT + 1
    )
    if len(candidates) <= CONFIRM_LIMIT:
        found |= await uow.search.confirm(candidates, text)
        return replace(flt, search_ids=frozenset(found)), ""
    return replace(flt, search_ids=frozenset(found), search_tokens=tokens), "approximate"


def _date(value: datetime | None) -> str:
    return value.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d") if value else ""


@dataclass(frozen=True)
class _Names:
    officers: dict[int, str]
    ratings: dict[int, str]
    # Each case's similar cases that the viewer may see (id, number), best first.
    similar: dict[int, list[tuple[int, str]]] = field(default_factory=dict)


async def _names(uow: SqlUnitOfWork, cases: Sequence[Case]) -> _Names:
    """Owners' names and each case's latest satisfaction rating."""
    officers = {o.id: o.name for o in await uow.officers.list(include_inactive=True)}
    ratings: dict[int, tuple[datetime, str]] = {}
    ids = [c.id for c in cases if c.id is not None]
    for fb in await uow.feedback.for_cases(ids):
        if fb.kind != "satisfaction" or fb.rating is None:
            continue
        at = fb.answered_at or fb.created_at
        if fb.case_id not in ratings or ratings[fb.case_id][0] <= at:
            ratings[fb.case_id] = (at, fb.rating)
    return _Names(officers, {k: v[1] for k, v in ratings.items()})


def _row(t: Any, locale: str, case: Case, names: _Names, now: datetime) -> dict[str, Any]:
    """One ledger row, every value a display text in the page's language."""
    rating = names.ratings.get(case.id or 0)
    owner = names.officers.get(case.owner_officer_id or 0, "")
    overdue = is_overdue(case, now)
    channel = CHANNEL_LABEL.get(case.channel)
    return {
        "id": case.id,
        "number": case.number or "",
        "registered": _date(case.created_at),
        "unit": case.unit_name or "",
        "category": t(CATEGORY[case.category], locale),
        "state": t(STATE[case.state], locale),
        "state_code": case.state.value,
        "owner": owner,
        "deadline": _date(case.deadline_at),
        "overdue": overdue,
        "overdue_text": t(N_("ledger.yes") if overdue else N_("ledger.no"), locale),
        "channel": t(channel, locale) if channel else case.channel,
        "satisfaction": t(RATING[rating], locale) if rating in RATING else "",
        # 四早: a danger sign at submission: "紧急：自伤风险" (handlers/urgent.py), or "".
        "urgent": case.urgent is not None,
        "urgent_text": urgent_line(lambda key, **kw: t(key, locale, **kw), case) or "",
        # 四早: the similar cases this officer may see (the count never includes others).
        "similar": [
            {"id": other, "number": number}
            for other, number in names.similar.get(case.id or 0, [])
        ],
    }


def _cursor(flt: CaseFilter, case: Case) -> str:
    assert case.id is not None
    key = {"deadline": case.deadline_at, "created": case.created_at}.get(flt.sort)
    return CaseCursor(key, case.id).to_text()


def _disposition(name: str, ascii_name: str) -> str:
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _export_cells(row: dict[str, Any]) -> list[str]:
    return [row["overdue_text"] if key == "overdue" else str(row[key]) for key, _ in COLUMNS]


class LedgerRoutes:
    """``/api/officer/cases`` (the ledger), ``…/cases/{id}`` (a case), ``…/cases.xlsx|csv``."""

    def __init__(self, ctx: WebContext, officer: Any) -> None:
        # ``officer`` finds the signed-in officer (OfficerRoutes._officer).
        self._ctx = ctx
        self._signed_in = officer

    def add_to(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get("/api/officer/cases", self.cases)
        app.router.add_get("/api/officer/units", self.units)
        app.router.add_get("/api/officer/cases.xlsx", self.export_xlsx)
        app.router.add_get("/api/officer/cases.csv", self.export_csv)
        app.router.add_get(r"/api/officer/cases/{case_id:\d{1,18}}", self.case)
        app.router.add_post(r"/api/officer/cases/{case_id:\d{1,18}}/preview", self.preview)
        app.router.add_post(r"/api/officer/cases/{case_id:\d{1,18}}/act", self.act)
        app.router.add_get(
            r"/api/officer/cases/{case_id:\d{1,18}}/notices/{kind:[a-z_]{1,20}}.pdf", self.notice
        )
        WarningRoutes(self._ctx, self._signed_in).add_to(app)  # the 预警 view

    def _locale(self, request: web.Request) -> str:
        ctx = self._ctx
        return ctx.locale(request.query.get("locale")) or ctx.page_locale(request)

    async def _query(self, request: web.Request) -> tuple[Officer, LedgerQuery] | web.Response:
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        tree = UnitTree(())
        if request.query.get("unit", "").strip():
            async with self._ctx.uow() as uow:
                tree = await uow.units.tree()
        try:
            return officer, parse_query(request.query, officer, self._ctx.now(), tree)
        except BadQuery:
            return error("bad_request", 400)

    async def units(self, request: web.Request) -> web.Response:
        """The units of the signed-in officer's part of the group, for the ledger's unit
        filter: code, full name and depth, parents before children (retired ones too: old
        cases keep them)."""
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        async with self._ctx.uow() as uow:
            tree = await uow.units.tree()
        own = tree.get(officer.unit_id) if officer.scope is not None else None
        units = tree.walk(own.id) if own is not None else tree.walk()
        base = tree.depth(own.id) if own is not None else 0
        return web.json_response(
            {
                "units": [
                    {
                        "code": u.code,
                        "name": tree.path_name(u.id) or u.name,
                        "depth": tree.depth(u.id) - base,
                        "retired": u.retired,
                    }
                    for u in units
                ]
            }
        )

    async def cases(self, request: web.Request) -> web.Response:
        """A page of the ledger, the count after filtering, and the cursors both ways."""
        found = await self._query(request)
        if isinstance(found, web.Response):
            return found
        officer, query = found
        ctx, locale = self._ctx, self._locale(request)
        t = ctx.container.translator.t
        now = ctx.now()
        flt = query.flt
        async with ctx.uow() as uow:
            flt, notice = await apply_search(uow, flt, query.text)
            # One more than a page tells whether there is another one that way.
            page = list(await uow.cases.ledger(replace(flt, limit=flt.limit + 1)))
            # Counted up to a cap: past it the page says "more than 10,000" (one cost at
            # any size; "more than 1,000" for a search that matched by tokens).
            cap = SEARCH_COUNT_CAP if flt.search_tokens else COUNT_CAP
            total = await uow.cases.count(flt, cap=cap + 1)
            more = len(page) > flt.limit
            if flt.before is not None:
                page = page[1:] if more else page
                has_prev, has_next = more, True
            else:
                page = page[: flt.limit]
                has_prev, has_next = flt.after is not None, more
            names = await _names(uow, page)
            ids = [c.id for c in page if c.id is not None]
            names.similar.update(
                {k: list(v) for k, v in (await viewer_similar(uow, officer, ids)).items()}
            )
        rows = [_row(t, locale, c, names, now) for c in page]
        over = total > cap
        if over:
            count_text = t(N_("ledger.count_over"), locale, count=f"{cap:,}")
        else:
            count_text = t(LEDGER_LABELS["count"], locale, count=total)
        return web.json_response(
            {
                "rows": rows,
                "count": total,  # the cap + 1 when there are more
                "count_over": over,
                "count_text": count_text,
                "next": _cursor(flt, page[-1]) if page and has_next else None,
                "prev": _cursor(flt, page[0]) if page and has_prev else None,
                "notice": t(LEDGER_LABELS[notice], locale) if notice else "",
                "export_limit": EXPORT_LIMIT,
            }
        )

    async def _export_rows(
        self, request: web.Request, kind: str
    ) -> tuple[list[str], list[list[str]], str] | web.Response:
        """The export's headers and rows (refused past EXPORT_LIMIT), audited."""
        found = await self._query(request)
        if isinstance(found, web.Response):
            return found
        officer, query = found
        ctx, locale = self._ctx, self._locale(request)
        t = ctx.container.translator.t
        now = ctx.now()
        rows: list[list[str]] = []
        async with ctx.uow() as uow:
            flt, _notice = await apply_search(uow, query.flt, query.text)
            flt = replace(flt, after=None, before=None, limit=_EXPORT_CHUNK)
            total = await uow.cases.count(flt)
            if total > EXPORT_LIMIT:
                message = t(N_("ledger.export_too_many"), locale, count=total, limit=EXPORT_LIMIT)
                return web.json_response(
                    {"error": "export_too_many", "message": message}, status=413
                )
            while True:
                page = list(await uow.cases.ledger(flt))
                names = await _names(uow, page)
                rows.extend(_export_cells(_row(t, locale, c, names, now)) for c in page)
                if len(page) < flt.limit or len(rows) >= EXPORT_LIMIT:
                    break
                flt = replace(flt, after=CaseCursor.from_text(_cursor(flt, page[-1])))
            await uow.audit.add(
                now,
                officer.role,
                "cases.export",
                actor_officer_id=officer.id,
                channel=CHANNEL,
                detail={"rows": len(rows), "format": kind, "filters": query.described},
            )
            await uow.commit()
        headers = [t(message_id, locale) for _key, message_id in COLUMNS]
        name = t(N_("ledger.export_name"), locale, date=now.astimezone(OFFICE_ZONE).date())
        return headers, rows, name

    async def export_xlsx(self, request: web.Request) -> web.Response:
        """The current filtered view as an Excel workbook (headers in the page's language)."""
        found = await self._export_rows(request, "xlsx")
        if isinstance(found, web.Response):
            return found
        headers, rows, name = found
        body = await asyncio.to_thread(_workbook, headers, rows, name)
        stamp = self._ctx.now().astimezone(OFFICE_ZONE).strftime("%Y%m%d")
        return web.Response(
            body=body,
            headers={
                "Content-Type": (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                ),
                "Content-Disposition": _disposition(f"{name}.xlsx", f"ledger-{stamp}.xlsx"),
                "Cache-Control": "no-store",
            },
        )

    async def export_csv(self, request: web.Request) -> web.StreamResponse:
        """The current filtered view as CSV: UTF-8 with a BOM, so Excel reads the Chinese."""
        found = await self._export_rows(request, "csv")
        if isinstance(found, web.Response):
            return found
        headers, rows, name = found
        stamp = self._ctx.now().astimezone(OFFICE_ZONE).strftime("%Y%m%d")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": _disposition(f"{name}.csv", f"ledger-{stamp}.csv"),
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        await response.write("\ufeff".encode())
        chunks = [[headers]] + [
            rows[start : start + _EXPORT_CHUNK] for start in range(0, len(rows), _EXPORT_CHUNK)
        ]
        for chunk in chunks:
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(chunk)
            await response.write(out.getvalue().encode("utf-8"))
        await response.write_eof()
        return response

    async def case(self, request: web.Request) -> web.Response:
        """A case page: its ledger row, the card (content and action buttons), the timeline
        with the messages, and its evidence as references; audited like /view."""
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        ctx, locale = self._ctx, self._locale(request)
        now = ctx.now()
        translate = ctx.container.translator.t

        def t(message_id: str, **values: Any) -> str:
            return translate(message_id, locale, **values)

        async with ctx.uow() as uow:
            case = await uow.cases.get(int(request.match_info["case_id"]))
            # An unknown case and one this officer may not see get the same answer.
            if case is None or case.id is None or not may_view(officer, case):
                return error("not_found", 404)
            events = await uow.cases.events(case.id)
            messages = await uow.cases.messages(case.id)
            files = [(info, b"") for info in await uow.attachments.list(case.id)]
            names = await _names(uow, [case])
            similar = list((await viewer_similar(uow, officer, [case.id])).get(case.id, ()))
            names.similar[case.id] = similar
            tree = await uow.units.tree()
            await uow.audit.add(
                now,
                officer.role,
                "case.view",
                actor_officer_id=officer.id,
                case_id=case.id,
                channel=CHANNEL,
            )
            await uow.commit()
        card, timeline = admin_case_detail(t, case, events, messages, files, now, similar)
        issued = [
            {
                "kind": kind.value,
                "number": notice_number(case.number or "", kind),
                "url": f"/api/officer/cases/{case.id}/notices/{kind.value}.pdf",
            }
            for kind, state in NOTICE_STATE.items()
            if case.number and any(e.kind == "transition" and e.to_state is state for e in events)
        ]
        return web.json_response(
            {
                "row": _row(translate, locale, case, names, now),
                "card": reply_json(card),
                "timeline": reply_json(timeline, files=True),
                "acts": self._acts(officer, case, locale, tree),
                "notices": issued,
            }
        )

    # -- formal acts by forms ----------------------------------------------------------

    def _acts(
        self, officer: Officer, case: Case, locale: str, tree: UnitTree
    ) -> list[dict[str, Any]]:
        """The formal acts this officer may take on the case now, each with its form (a
        transfer's destination: the units the officer may send the case to)."""
        # The destinations a unit field offers: 转办 across the office's subtree, 交办 down.
        targets = {
            Action.TRANSFER: transfer_targets(tree, officer, case),
            Action.ASSIGN_DOWN: assign_targets(tree, officer, case),
        }
        t = self._ctx.container.translator.t
        probe = self._turn(officer, locale, None)
        acts: list[dict[str, Any]] = []
        for action in FORMAL_ACTS:
            try:
                check_act(probe, officer, case, action)
            except DomainError:
                continue
            acts.append(
                {
                    "action": action.value,
                    "label": t(ACT_NAME[action], locale),
                    "fields": [
                        self._field(
                            f,
                            locale,
                            [(u.code, tree.path_name(u.id)) for u in targets.get(action, [])],
                        )
                        for f in FORMS[action]
                    ],
                }
            )
        return acts

    def _field(self, name: str, locale: str, units: Sequence[tuple[str, str]]) -> dict[str, Any]:
        t = self._ctx.container.translator.t
        field: dict[str, Any] = {"name": name, "label": t(FIELDS[name], locale)}
        if name == "outcome":
            field["choices"] = [[o.value, t(OUTCOME_WORD[o], locale)] for o in Outcome]
        elif name == "redirect":
            field["choices"] = [[r.value, t(REDIRECT_WORD[r], locale)] for r in Redirect]
        elif name == "extension_days":
            most = self._ctx.container.settings.policy.extension_max_days
            field["choices"] = [[str(d), str(d)] for d in (10, 15, 30) if d <= most]
        elif name == "days":
            # A 督办's working deadline or a 交办's report-back time, in days.
            field["choices"] = [[str(d), str(d)] for d in (3, 5, 10)]
        elif name == "destination" and units:
            # A unit of the tree by its code (resolved again, and checked, when applied).
            field["choices"] = [[code, label] for code, label in units]
        else:
            field["text"] = True
        return field

    def _turn(self, officer: Officer, locale: str, uow: Any) -> Turn:
        ctx = self._ctx
        inbound = Inbound(
            CHANNEL, "admin", SqlWeb.account_of(officer.id), locale=locale, in_admin_chat=True
        )
        return Turn(inbound, uow, ctx.container.services, ctx.now(), locale, None)

    def _refused(self, code: str, status: int, message: str) -> web.Response:
        return web.json_response({"error": code, "message": message}, status=status)

    def _domain_error(self, exc: DomainError, locale: str) -> web.Response:
        t = self._ctx.container.translator.t
        params = dict(exc.params)
        if params.get("field") in FIELDS:
            params["field"] = t(FIELDS[params["field"]], locale)
        message = t(ERRORS.get(exc.code, ERRORS["domain"]), locale, **params)
        status = {
            "not_permitted": 403,
            "invalid_transition": 409,
            "extension_used": 409,
            "case_not_found": 404,
        }.get(exc.code, 400)
        return self._refused(exc.code, status, message)

    async def _act_request(
        self, request: web.Request
    ) -> tuple[Officer, Action, dict[str, Any], str, str | None] | web.Response:
        """The signed-in officer, the act, the raw fields, the locale and the state the
        page showed; CSRF checked first (a 403 with a translated message)."""
        locale = self._ctx.page_locale(request)
        t = self._ctx.container.translator.t
        try:
            check_csrf(request, self._ctx.vault)
        except web.HTTPForbidden:
            return self._refused("csrf", 403, t(N_("ledger.error_csrf"), locale))
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        if officer.role not in _ACTING_ROLES:
            # A role with no handling rights at all (a custodian) is refused before any
            # case is looked up: the answer says nothing about the case.
            message = t(ERRORS["not_permitted"], locale)
            return self._refused("not_permitted", 403, message)
        body = await read_json(request)
        locale = self._ctx.locale(body.get("locale")) or locale
        raw_action, raw_fields = body.get("action"), body.get("fields") or {}
        seen = body.get("state")
        try:
            action = Action(str(raw_action))
        except ValueError:
            return error("bad_request", 400)
        if action not in FORMAL_ACTS or not isinstance(raw_fields, dict):
            return error("bad_request", 400)
        if seen is not None and not isinstance(seen, str):
            return error("bad_request", 400)
        return officer, action, raw_fields, locale, seen

    def _fields(self, turn: Turn, action: Action, raw: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name in FORMS[action]:
            value = raw.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise WrongValue(turn.t("error.domain"))
            values[name] = read_field(turn, name, str(value))
        return fields_from(values)

    async def _run(self, request: web.Request, *, apply: bool) -> web.Response:
        found = await self._act_request(request)
        if isinstance(found, web.Response):
            return found
        # The database may undo an act to settle a conflict with another at the same
        # moment (two members of one collective matter): nothing was kept, do it again.
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._run_once(request, found, apply=apply)
            except Conflict:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _run_once(
        self, request: web.Request, found: tuple[Any, ...], *, apply: bool
    ) -> web.Response:
        officer, action, raw, locale, seen = found
        ctx = self._ctx
        t = ctx.container.translator.t
        async with ctx.locks.hold(f"case:{request.match_info['case_id']}"), ctx.uow() as uow:
            case = await uow.cases.get(int(request.match_info["case_id"]), for_update=apply)
            if case is None or case.id is None or not may_view(officer, case):
                return error("not_found", 404)
            if seen is not None and seen != case.state.value:
                # The page is out of date: someone acted on the case meanwhile.
                return self._refused("stale", 409, t(N_("ledger.error_stale"), locale))
            turn = self._turn(officer, locale, uow)
            try:
                fields = self._fields(turn, action, raw)
                if not apply:
                    text = await preview_act(turn, officer, case, action, fields)
                    note = await matter_note(turn, officer, case, action)
                    return web.json_response(
                        {"text": text, "state": case.state.value, "note": note}
                    )
                replies = await perform_act(turn, officer, case, action, fields)
            except WrongValue as wrong:
                return self._refused("invalid_field", 400, wrong.text)
            except DomainError as exc:
                return self._domain_error(exc, locale)
            await uow.commit()
        return web.json_response(
            {"text": replies[0].text if replies else "", "state": case.state.value}
        )

    async def preview(self, request: web.Request) -> web.Response:
        """What the employee would receive if the act were applied now; nothing changes."""
        return await self._run(request, apply=False)

    async def act(self, request: web.Request) -> web.Response:
        """Apply a formal act (the same checks, events, audit and push as the chat)."""
        return await self._run(request, apply=True)

    async def notice(self, request: web.Request) -> web.Response:
        """A notice the case was issued, as PDF (the case page's role check; audited)."""
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        try:
            kind = NoticeKind(request.match_info["kind"])
        except ValueError:
            return error("not_found", 404)
        ctx = self._ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            case = await uow.cases.get(int(request.match_info["case_id"]))
            if case is None or case.id is None or not may_view(officer, case):
                return error("not_found", 404)
            events = await uow.cases.events(case.id)
            messages = await uow.cases.messages(case.id)
            data = ctx.container.notices.from_timeline(case, kind, events, messages)
            if data is None:
                return error("not_found", 404)
            await uow.audit.add(
                now,
                officer.role,
                "case.notice",
                actor_officer_id=officer.id,
                case_id=case.id,
                channel=CHANNEL,
                detail={"kind": kind.value},
            )
            await uow.commit()
        locale = self._locale(request)
        try:
            pdf = await asyncio.to_thread(ctx.container.notices.pdf, kind, data, locale)
        except DomainError:
            return error("not_found", 404)  # a notice whose decision was not recorded
        number = notice_number(data.case_number, kind)
        return web.Response(
            body=pdf,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": _disposition(f"{number}.pdf", "notice.pdf"),
                "Cache-Control": "no-store",
            },
        )


def _workbook(headers: list[str], rows: list[list[str]], title: str) -> bytes:
    """An XLSX file of one sheet (write-only mode: rows streamed to disk, not kept)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
