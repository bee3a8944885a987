"""Browser-facing protections of the web channel: cookies, CSRF tokens, origin checks and
the response headers (a strict Content-Security-Policy)."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from storage.vault import Vault

__all__ = [
    "CSP",
    "OFFICER_COOKIE",
    "VISITOR_COOKIE",
    "check_csrf",
    "csrf_token",
    "employee_chat_id",
    "new_token",
    "set_cookie",
    "web_headers",
]

VISITOR_COOKIE = "xf_s"  # random; keeps one browser's conversation going, nothing else
OFFICER_COOKIE = "xf_o"  # a signed-in officer's session
CSRF_HEADER = "X-CSRF-Token"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
WEB_PATHS = ("/api/", "/static/")
WEB_PAGES = frozenset({"/", "/admin", "/local"})


def new_token() -> str:
    """A fresh random cookie value (256 bits)."""
    return secrets.token_urlsafe(32)


def csrf_token(vault: Vault, visitor: str) -> str:
    """The CSRF token bound to a visitor cookie (an HMAC: nothing to store)."""
    return vault.blind_index("web.csrf", visitor)


def employee_chat_id(vault: Vault, visitor: str) -> str:
    """The employee's chat id, derived from the cookie so the cookie value is never stored."""
    return "w" + vault.blind_index("web.chat", visitor)[:40]


def set_cookie(
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    secure: bool,
    max_age: int | None = None,
) -> None:
    """Set an HttpOnly, SameSite=Strict cookie on the whole site."""
    response.set_cookie(
        name, value, httponly=True, samesite="Strict", secure=secure, path="/", max_age=max_age
    )


def _same_origin(request: web.Request) -> bool:
    # Browsers send Sec-Fetch-Site and Origin with every POST; a request that comes from
    # another site is refused even before the token is looked at.
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = origin.split("://", 1)[-1]
    return host == request.host


def check_csrf(request: web.Request, vault: Vault) -> str:
    """Refuse a state-changing request without a valid token; return the visitor cookie."""
    visitor = request.cookies.get(VISITOR_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not visitor or not sent or not _same_origin(request):
        raise web.HTTPForbidden(text="csrf")
    if not hmac.compare_digest(sent.encode(), csrf_token(vault, visitor).encode()):
        raise web.HTTPForbidden(text="csrf")
    return visitor


async def web_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: security headers on every page and API answer of the channel."""
    path = request.path
    if path in WEB_PAGES or path.startswith(WEB_PATHS):
        for name, value in _HEADERS.items():
            response.headers[name] = value
        if path.startswith("/api/") or path in WEB_PAGES:
            response.headers["Cache-Control"] = "no-store"
