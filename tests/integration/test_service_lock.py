"""Key rotation and restore refuse while the service runs (it holds the service lock
shared), work once it has stopped, and the service refuses to start during them; on
SQLite (a file lock) and PostgreSQL (an advisory lock)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.runner import run_service
from bot.settings import load_settings
from storage.lock import ServiceLockBusy, service_lock
from storage.vault import Keyring


@pytest.fixture
def deployment(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A deployment whose environment the command line reads too."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    env = {**env, "XINFANG_HTTP_PORT": "0", "XINFANG_LOG_LEVEL": "WARNING"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    create_keys(Path(env["XINFANG_KEYRING_FILE"]), tmp_path / "custodian.pem")
    return env


@pytest.fixture
async def service(deployment: dict[str, str]) -> AsyncIterator[Container]:
    """The service's objects (migrated database, keys from the keyring file)."""
    container = await build_container(load_settings(deployment))
    yield container
    await container.close()


async def xinfang(*argv: str) -> int:
    """Run the command line in its own thread and event loop, as another process would."""
    return await asyncio.to_thread(main, list(argv))


async def running(container: Container) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Start ``xinfang run``'s service loop (no channels) and wait until it listens."""
    stop, up = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_service(container, [], stop, started=lambda _urls: up.set()))
    await asyncio.wait_for(up.wait(), 10)
    return task, stop


async def test_key_rotation_refuses_while_the_service_runs_and_works_after_it_stops(
    service: Container, deployment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ring_file = Path(deployment["XINFANG_KEYRING_FILE"])
    before = Keyring.load(ring_file)
    task, stop = await running(service)
    try:
        assert await xinfang("keys", "rotate") == 2
        err = capsys.readouterr().err
        assert "the service is running" in err and "stop it first" in err
        assert Keyring.load(ring_file).content == before.content  # nothing was changed
    finally:
        stop.set()
        await task
    assert await xinfang("keys", "rotate") == 0
    assert set(Keyring.load(ring_file).content).isdisjoint(before.content)


async def test_backup_runs_beside_the_service_and_restore_refuses_to(
    service: Container, deployment: dict[str, str], tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("XINFANG_BACKUP_PASSPHRASE", "a passphrase long enough")
    backup = tmp_path / "b.xfbak"
    task, stop = await running(service)
    try:
        assert await xinfang("backup", "--out", str(backup)) == 0
        capsys.readouterr()
        assert await xinfang("restore", str(backup), "--force") == 2
        assert "the service is running" in capsys.readouterr().err
    finally:
        stop.set()
        await task
    assert await xinfang("restore", str(backup), "--force") == 0


async def test_the_service_refuses_to_start_while_rotation_holds_the_lock(
    service: Container,
) -> None:
    async with service_lock(service.engine, exclusive=True):
        with pytest.raises(ServiceLockBusy, match="key rotation or a restore is running"):
            await run_service(service, [], asyncio.Event())


async def test_two_service_processes_may_share_the_lock(service: Container) -> None:
    async with (
        service_lock(service.engine, exclusive=False),
        service_lock(service.engine, exclusive=False),
    ):
        with pytest.raises(ServiceLockBusy):
            async with service_lock(service.engine, exclusive=True):
                pass
    async with service_lock(service.engine, exclusive=True):
        pass  # free again once both are gone
