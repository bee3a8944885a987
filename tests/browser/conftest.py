"""Browser fixtures: the machine's Chromium driven by Playwright, and a local-mode web
channel (real clock, delivery worker running) on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.container import utc_now
from bot.settings import load_settings
from bot.web.local import DEMO_LOGIN, ensure_demo_officer
from tests.helpers.web import WebServer, web_server

CHROMIUM = Path(os.environ.get("XINFANG_BROWSER", "/usr/bin/chromium"))
CHROMIUM_FOUND = CHROMIUM.exists()
REQUIRE = os.environ.get("XINFANG_REQUIRE_BROWSER") == "1"
# Headless, and nothing that talks to the network on its own.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium (the Debian package; Playwright downloads no browser)."""
    missing = None
    if importlib.util.find_spec("playwright") is None:
        missing = "playwright is not installed (pip install -e '.[test]')"
    elif not CHROMIUM_FOUND:
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if REQUIRE:
            pytest.fail(f"XINFANG_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class LocalMode:
    """The local mode's web channel and its one-time demo login."""

    server: WebServer
    login: str
    password: str

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.server.base


@pytest.fixture
async def local_mode(tmp_path: Path, keys: Any) -> AsyncIterator[LocalMode]:
    """What ``xinfang playground`` starts, with the outbox worker delivering live."""
    settings = load_settings({"XINFANG_DATA_DIR": str(tmp_path / "data")})
    async with web_server(settings, keys[0], utc_now) as server:
        password = await ensure_demo_officer(server.container)
        stop = asyncio.Event()
        worker = asyncio.create_task(server.worker.run(stop))
        try:
            yield LocalMode(server, DEMO_LOGIN, password)
        finally:
            stop.set()
            await worker
