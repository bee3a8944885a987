"""A real outage: the test starts its own PostgreSQL 15 (initdb + pg_ctl, a free port, a
temporary directory), runs the service on it, stops the server and starts it again.
``/readyz`` turns unhealthy within seconds and healthy again after, and the log shows one
line when each background task starts failing and one when it works again, not a
traceback every half second."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.container import build_container
from bot.runner import build_channels, run_service
from bot.settings import load_settings
from storage.vault import Keyring

pytestmark = pytest.mark.postgres

PGBIN = Path(os.environ.get("XINFANG_PGBIN", "/usr/lib/postgresql/15/bin"))
REQUIRE_PG = os.environ.get("XINFANG_REQUIRE_PG") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """A throwaway PostgreSQL server that the test can stop and start."""

    directory: Path
    port: int
    runas: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        data = str(self.directory / "data")
        subprocess.run(
            [*self.runas, str(PGBIN / "pg_ctl"), "-D", data, *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", str(self.directory / "log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    """Its own PostgreSQL server (not the shared one: this test stops it)."""
    if not (PGBIN / "initdb").exists():
        message = f"PostgreSQL 15 binaries not found in {PGBIN} (apt-get install postgresql-15)"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    runas: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; pytest's tmp_path (0700, root's) is closed to the
        # postgres user, so the server lives in a directory of its own under /tmp.
        directory = Path(tempfile.mkdtemp(prefix="xinfang-pg-outage-"))
        shutil.chown(directory, "postgres")
        runas = ["runuser", "-u", "postgres", "--"]
    else:
        directory = tmp_path / "pg"
        directory.mkdir()
    data = str(directory / "data")
    subprocess.run(
        [*runas, str(PGBIN / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Postgres(directory, _free_port(), runas)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(directory, ignore_errors=True)


async def _readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, Any]]:
    async with http.get(base + "/readyz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        return resp.status, await resp.json()


async def _wait_for_status(
    http: aiohttp.ClientSession, base: str, status: int, seconds: float
) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        got, body = await _readyz(http, base)
        if got == status:
            return time.monotonic() - started, body
        assert time.monotonic() - started < seconds, (got, body)
        await asyncio.sleep(0.2)


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("bot") and r.levelno >= logging.INFO and text in r.getMessage()
    ]


async def test_readyz_follows_a_postgresql_outage_and_the_log_shows_one_line_per_burst(
    postgres: Postgres,
    tmp_path: Path,
    keys: tuple[Keyring, Path],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO)
    settings = load_settings(
        {
            "XINFANG_DATA_DIR": str(tmp_path / "data"),
            "XINFANG_DATABASE_URL": postgres.url,
            "XINFANG_KEYRING_FILE": str(tmp_path / "keys" / "keyring.json"),
            "XINFANG_WEB": "true",
            "XINFANG_HTTP_PORT": "0",
        }
    )
    container = await build_container(settings, keyring=keys[0])  # the real clock
    stop = asyncio.Event()
    addresses: list[str] = []
    task = asyncio.create_task(
        run_service(
            container,
            build_channels(container),
            stop,
            started=addresses.extend,
            scheduler_interval=1.0,
        )
    )
    try:
        while not addresses:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        base = addresses[0]
        async with aiohttp.ClientSession() as http:
            await _wait_for_status(http, base, 200, 20)
            await asyncio.sleep(1.5)  # the leader's loops are going round

            postgres.stop()
            took, body = await _wait_for_status(http, base, 503, 10)
            assert took < 5, took
            assert body["checks"]["database"]["ok"] is False
            await asyncio.sleep(6)  # an outage long enough for many retries
            assert (await _readyz(http, base))[0] == 503
            outage = [r for r in caplog.records if r.name.startswith("bot")]
            # Before backoff: a traceback every 0.5 s from the delivery worker alone.
            assert not [r for r in outage if r.exc_info and r.levelno >= logging.INFO]
            assert len([r for r in outage if r.levelno >= logging.WARNING]) <= 6, [
                r.getMessage() for r in outage
            ]

            postgres.start()
            took, body = await _wait_for_status(http, base, 200, 30)
            assert body["ok"] is True

            # Each burst that began ends with one line once its task worked again.
            failed = _lines(caplog, " failed: ")
            assert failed, [r.getMessage() for r in caplog.records]
            names = [r.getMessage().split(" failed: ")[0] for r in failed]
            assert len(names) == len(set(names)), names  # one line per burst

            async def recovered() -> bool:
                return all(_lines(caplog, f"{name} works again after") for name in names)

            deadline = time.monotonic() + 45
            while not await recovered():
                assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
                await asyncio.sleep(0.2)
            for name in names:
                assert len(_lines(caplog, f"{name} works again after")) == 1
            # And this process leads again: its loops are checked, not excused.
            deadline = time.monotonic() + 10
            while True:
                status, body = await _readyz(http, base)
                if status == 200 and "last_beat_s" in body["checks"]["delivery"]:
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.2)
            assert len(_lines(caplog, "this process delivers the outbox")) == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await container.close()
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("bot") and r.exc_info and r.levelno >= logging.INFO
    ]
