"""The pages, their static files, and the page chrome's texts in the visitor's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.web.context import WebContext
from i18n import N_

__all__ = ["STATIC_DIR", "UI_LABELS", "PageRoutes"]

STATIC_DIR = Path(__file__).parent / "static"

# Texts of the page itself (headings, buttons, error messages); the conversation's
# texts come from the handlers like on every other channel.
UI_LABELS = {
    "title": N_("web.title"),
    "employee_heading": N_("web.employee_heading"),
    "admin_heading": N_("web.admin_heading"),
    "local_heading": N_("web.local_heading"),
    "local_hint": N_("web.local_hint"),
    "privacy": N_("web.privacy"),
    "message_label": N_("web.message_label"),
    "send": N_("web.send"),
    "attach": N_("web.attach"),
    "you": N_("web.you"),
    "pushed": N_("web.pushed"),
    "login_heading": N_("web.login_heading"),
    "login_name": N_("web.login_name"),
    "password": N_("web.password"),
    "login": N_("web.login"),
    "logout": N_("web.logout"),
    "signed_in_as": N_("web.signed_in_as"),
    "reply_to_case": N_("web.reply_to_case"),
    "answering": N_("web.answering"),
    "cancel_reply": N_("web.cancel_reply"),
    "admin_hint": N_("web.admin_hint"),
    "download": N_("web.download"),
    "offline": N_("web.offline"),
    "error_csrf": N_("web.error_csrf"),
    "error_too_big": N_("web.error_too_big"),
    "error_too_long": N_("web.error_too_long"),
    "error_type": N_("web.error_type"),
    "error_empty": N_("web.error_empty"),
    "error_bad_request": N_("web.error_bad_request"),
    "error_login_failed": N_("web.error_login_failed"),
    "error_throttled": N_("web.error_throttled"),
    "error_signed_out": N_("web.error_signed_out"),
    "error_generic": N_("web.error_generic"),
}


class PageRoutes:
    """``/`` (employee), ``/admin`` (officers), ``/local`` (both, local mode only)."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def add_to(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get("/", self._page("employee.html"))
        app.router.add_get("/admin", self._page("admin.html"))
        if self._ctx.settings.local:
            app.router.add_get("/local", self._page("local.html"))
        app.router.add_get("/api/ui", self.ui)
        app.router.add_static("/static", STATIC_DIR, follow_symlinks=False)

    @staticmethod
    def _page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
        path = STATIC_DIR / name

        async def page(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})

        return page

    async def ui(self, request: web.Request) -> web.Response:
        """The page chrome's texts in the requested (or the default) language."""
        ctx = self._ctx
        locale = ctx.locale(request.query.get("locale")) or ctx.container.settings.default_locale
        t = ctx.container.translator.t
        labels = {key: t(message_id, locale) for key, message_id in UI_LABELS.items()}
        lang = "zh-CN" if locale == "zh_CN" else locale
        return web.json_response(
            {"locale": locale, "lang": lang, "labels": labels, "local": ctx.settings.local}
        )
