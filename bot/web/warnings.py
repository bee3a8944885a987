"""The officers' 预警 view on the web: the current clusters (possible group petitions) and
spikes of the signed-in officer's part of the group, with links to the cases they may see
(handlers/warnings.py decides what is shown; the same rule as ``/warnings``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.web.context import WebContext, error
from handlers.collective import COLLECTIVE_ROLES
from handlers.labels import CATEGORY, ERRORS
from handlers.payloads import MatterButton, encode
from handlers.ports import Officer
from handlers.warnings import current_warnings, sparkline
from i18n import N_
from petitions.categories import Category
from petitions.deadlines import OFFICE_ZONE
from petitions.errors import NotPermitted

__all__ = ["WARNINGS_LABELS", "WarningRoutes"]

CHANNEL = "web"

# The view's texts (merged into /api/ui with the ledger's, under ``ledger_``).
WARNINGS_LABELS = {
    "tab_warnings": N_("ledger.tab_warnings"),
    "col_similar": N_("ledger.col.similar"),
    "warn_heading": N_("warnings.web.heading"),
    "warn_clusters": N_("warnings.web.clusters"),
    "warn_spikes": N_("warnings.web.spikes"),
    "warn_none": N_("warnings.web.none"),
    "warn_unit": N_("warnings.web.unit"),
    "warn_count": N_("warnings.web.count"),
    "warn_matter": N_("warnings.web.matter"),
    "warn_trend": N_("warnings.web.trend"),
    "warn_cases": N_("warnings.web.cases"),
    "warn_category": N_("warnings.web.category"),
    "warn_week": N_("warnings.web.week"),
    "warn_baseline": N_("warnings.web.baseline"),
    "warn_updated": N_("warnings.web.updated"),
    "warn_reload": N_("warnings.web.reload"),
    "warn_link": N_("button.o.link"),
}


class WarningRoutes:
    """``/api/officer/warnings``: the 预警 view's data."""

    def __init__(self, ctx: WebContext, officer: Any) -> None:
        # ``officer`` finds the signed-in officer (OfficerRoutes._officer).
        self._ctx = ctx
        self._signed_in = officer

    def add_to(self, app: web.Application) -> None:
        """Register the route."""
        app.router.add_get("/api/officer/warnings", self.warnings)

    async def warnings(self, request: web.Request) -> web.Response:
        """The clusters and spikes of the last two weeks in the officer's scope; audited."""
        officer: Officer | None = await self._signed_in(request)
        if officer is None:
            return error("signed_out", 401)
        ctx = self._ctx
        locale = ctx.locale(request.query.get("locale")) or ctx.page_locale(request)
        translate = ctx.container.translator.t

        def t(message_id: str, **values: Any) -> str:
            return translate(message_id, locale, **values)

        now = ctx.now()
        services = ctx.container.services
        async with ctx.uow() as uow:
            try:
                view = await current_warnings(uow, services, officer, now)
            except NotPermitted:
                message = t(ERRORS["not_permitted"])
                return web.json_response(
                    {"error": "not_permitted", "message": message}, status=403
                )
            await uow.audit.add(
                now, officer.role, "warnings.view", actor_officer_id=officer.id, channel=CHANNEL
            )
            await uow.commit()

        def category(value: str) -> str:
            try:
                return t(CATEGORY[Category(value)])
            except ValueError:
                return value

        return web.json_response(
            {
                "clusters": [
                    {
                        "unit": c.unit,
                        "count": c.count,
                        "matter": c.matter,
                        "trend": list(c.trend),
                        "chart": sparkline(c.trend),
                        "cases": [{"id": i, "number": n} for i, n in c.cases],
                        "updated": c.updated_at.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d"),
                        # 合并为集体诉求: the chat's button, posted to /api/officer/send.
                        "link": (
                            encode(MatterButton(c.alert_id))
                            if c.alert_id is not None and officer.role in COLLECTIVE_ROLES
                            else None
                        ),
                    }
                    for c in view.clusters
                ],
                "spikes": [
                    {
                        "unit": s.unit,
                        "category": category(s.category),
                        "week": s.week_start.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d"),
                        "count": s.count,
                        "baseline": round(s.baseline, 1),
                        "history": list(s.history),
                        "chart": sparkline(s.history),
                    }
                    for s in view.spikes
                ],
            }
        )
