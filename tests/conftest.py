"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), keys, clock,
and a fully wired container of the real service objects."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.pg import throwaway_database
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.settings import load_settings
from storage.vault import Keyring
from tests.helpers.clock import FakeClock

PG_URL = os.environ.get("XINFANG_TEST_PG_URL")
REQUIRE_PG = os.environ.get("XINFANG_REQUIRE_PG") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests parametrized with the postgres backend carry the postgres marker."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    if request.param == "postgres" and not PG_URL:
        if REQUIRE_PG:
            pytest.fail("XINFANG_REQUIRE_PG=1 but XINFANG_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured (set XINFANG_TEST_PG_URL)")
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database on the chosen backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'xinfang.db'}"
        return
    assert PG_URL is not None
    async with throwaway_database(PG_URL, "xf") as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves."""
    return FakeClock()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Keyring, Path]:
    """A keyring and the custodian's private key file."""
    created = create_keys(tmp_path / "keys" / "keyring.json", tmp_path / "custodian.pem")
    return Keyring.load(created.keyring_file), created.custodian_private_file


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """Environment variables of a deployment in tmp_path."""
    return {
        "XINFANG_DATA_DIR": str(tmp_path / "data"),
        "XINFANG_DATABASE_URL": database_url,
        "XINFANG_KEYRING_FILE": str(tmp_path / "keys" / "keyring.json"),
        "TELEGRAM_BOT_TOKEN": "123:TEST",
        "TELEGRAM_ADMIN_CHAT_ID": "-1001",
    }


@pytest.fixture
async def container(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[Container]:
    """The real service objects on a fresh database, with a fake clock."""
    c = await build_container(load_settings(env), keyring=keys[0], clock=clock)
    yield c
    await c.close()
