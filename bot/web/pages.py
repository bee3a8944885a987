"""The pages, their static files, and the page chrome's texts in the visitor's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.web.context import WebContext
from bot.web.ledger import LEDGER_LABELS
from i18n import LOCALES, N_

__all__ = ["LANGUAGE_NAMES", "ROUGH_LABELS", "STATIC_DIR", "UI_LABELS", "PageRoutes", "html_lang"]

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
    # Sign-in limits, TOTP and the audit trail (bot/web/officer.py).
    "error_busy": N_("web.error_busy"),
    "error_totp_required": N_("web.error_totp_required"),
    "error_totp_enrol": N_("web.error_totp_enrol"),
    "totp_code": N_("web.totp_code"),
    "audit_heading": N_("web.audit_heading"),
    "audit_head": N_("web.audit_head"),
    "audit_time": N_("web.audit_time"),
    "audit_person": N_("web.audit_person"),
    "audit_role": N_("web.audit_role"),
    "audit_action": N_("web.audit_action"),
    "audit_case": N_("web.audit_case"),
    "audit_officer": N_("web.audit_officer"),
    "audit_from": N_("web.audit_from"),
    "audit_to": N_("web.audit_to"),
    "audit_show": N_("web.audit_show"),
    "audit_more": N_("web.audit_more"),
    "audit_empty": N_("web.audit_empty"),
}

# The language switch, the tracking code's copy and "saved" steps, and upload refusals.
ROUGH_LABELS = {
    "language": N_("web.language"),
    "code_heading": N_("web.code_heading"),
    "code_copy": N_("web.code_copy"),
    "code_copied": N_("web.code_copied"),
    "code_copy_failed": N_("web.code_copy_failed"),
    "code_save_now": N_("web.code_save_now"),
    "code_saved": N_("web.code_saved"),
    "code_confirm_first": N_("web.code_confirm_first"),
    "upload_rejected": N_("web.upload_rejected"),
    "error_too_big_max": N_("web.error_too_big_max"),
}
# Each language is offered under its own name, so a reader of either finds it.
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


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
        """The page chrome's texts in the requested language (``?locale=``), else the one
        chosen with the language switch (its cookie), else the deployment's default; also
        the languages to switch to and the largest file the page may upload."""
        ctx = self._ctx
        locale = ctx.locale(request.query.get("locale")) or ctx.page_locale(request)
        t = ctx.container.translator.t
        labels = {key: t(message_id, locale) for key, message_id in UI_LABELS.items()}
        labels.update({key: t(message_id, locale) for key, message_id in ROUGH_LABELS.items()})
        # The case ledger's texts (bot/web/ledger.py), under their own prefix.
        labels.update({f"ledger_{k}": t(m, locale) for k, m in LEDGER_LABELS.items()})
        return web.json_response(
            {
                "locale": locale,
                "lang": html_lang(locale),
                "labels": labels,
                "local": ctx.settings.local,
                "locales": [
                    {"locale": code, "lang": html_lang(code), "name": LANGUAGE_NAMES[code]}
                    for code in LOCALES
                ],
                "max_upload": ctx.max_upload,
                "max_upload_mb": ctx.settings.max_upload_mb,
            }
        )


def html_lang(locale: str) -> str:
    """The HTML ``lang`` of a catalog locale (``zh_CN`` → ``zh-CN``)."""
    return locale.replace("_", "-")
