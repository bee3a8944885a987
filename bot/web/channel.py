"""The web channel: an employee page and an officers' page served by the shared server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.settings import WebSettings
from bot.web.context import WebContext
from bot.web.employee import EmployeeRoutes
from bot.web.officer import OfficerRoutes
from bot.web.pages import PageRoutes
from bot.web.security import web_headers
from bot.web.sender import WebSender

if TYPE_CHECKING:
    from bot.container import Container

__all__ = ["WebChannel"]


class WebChannel:
    """Implements :class:`bot.channels.Channel` for browsers (no platform, no token)."""

    name = "web"

    def __init__(self, container: Container, settings: WebSettings) -> None:
        self.context = WebContext(container, settings)
        self.hub = self.context.hub
        self.sender = WebSender(self.hub)

    def add_routes(self, app: web.Application) -> None:
        """Pages, static files and the JSON/SSE API, with the security headers."""
        app.on_response_prepare.append(web_headers)
        PageRoutes(self.context).add_to(app)
        EmployeeRoutes(self.context).add_to(app)
        OfficerRoutes(self.context).add_to(app)

    async def start(self) -> None:
        """Nothing to start: pages connect to the server."""

    async def stop(self) -> None:
        """End the open event streams so the server can stop at once."""
        self.hub.close()
