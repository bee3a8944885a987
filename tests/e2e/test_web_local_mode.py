"""Local mode and the web parts of the command line: ``xinfang run`` with no channel (and
``xinfang playground``) serve the page on 127.0.0.1 and stop cleanly on Ctrl-C;
``xinfang officers add ... --web`` gives a password printed once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.container import build_container
from bot.settings import load_settings
from bot.web.passwords import verify_password
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded deployment: environment pointing into tmp_path."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    return tmp_path


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XINFANG_", "TELEGRAM_", "WECOM_"))
    }
    env.update(
        XINFANG_DATA_DIR=str(data_dir),
        XINFANG_HTTP_PORT="0",
        XINFANG_DEFAULT_LOCALE="en",  # the banner's English is asserted
        PYTHONUNBUFFERED="1",
    )
    return env


async def _read_until(stream: asyncio.StreamReader, marker: str) -> str:
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), 60)
        if not line:
            raise AssertionError(f"output ended before {marker!r}:\n{seen}")
        seen += line.decode()
    return seen


@pytest.mark.parametrize("command", ["run", "playground"])
async def test_local_mode_serves_the_page_and_stops_cleanly_on_ctrl_c(tmp_path, command):
    data_dir = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        command,
        cwd=ROOT,
        env=_clean_env(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        banner = await _read_until(proc.stdout, "Ctrl-C")
        base = re.search(r"open (http://127\.0\.0\.1:\d+)/local", banner)
        login = re.search(r"officer login: (\S+)\s+password: (\S+)", banner)
        assert base and login, banner
        url = base.group(1)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{url}/local") as resp:
                assert resp.status == 200
                assert "/static/app.js" in await resp.text()
            async with http.get(f"{url}/api/session") as resp:
                csrf = (await resp.json())["csrf"]
            async with http.post(
                f"{url}/api/officer/login",
                json={"login": login.group(1), "password": login.group(2)},
                headers={"X-CSRF-Token": csrf},
            ) as resp:
                assert resp.status == 200  # the printed one-time login works
            # Stop while a page is still listening for pushes: Ctrl-C must not hang.
            async with http.get(f"{url}/api/chat/events") as events:
                assert events.status == 200
                await events.content.readline()
                proc.send_signal(signal.SIGINT)
                assert await asyncio.wait_for(proc.wait(), 60) == 0
        rest = (await proc.stdout.read()).decode()
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "data kept in" in rest
    if command == "run":
        assert "TELEGRAM_BOT_TOKEN" in err and "WECOM_CORP_ID" in err  # how to go further
    assert "GET /" not in err + rest  # no access log
    keyring = data_dir / "keys" / "keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert list((data_dir / "keys").glob("custodian-*.private.pem"))
    assert (data_dir / "xinfang.db").exists() or list(data_dir.glob("*.db"))


def test_run_help_still_explains_how_to_configure_channels(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "local mode" in out and "TELEGRAM_BOT_TOKEN" in out and "XINFANG_WEB" in out


def test_local_mode_refuses_a_real_database(deployment, monkeypatch, capsys):
    monkeypatch.setenv("XINFANG_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:1/xinfang")
    assert main(["playground"]) == 2
    assert "embedded database" in capsys.readouterr().err


def _stored_hash(login: str) -> tuple[int, str] | None:
    async def go() -> tuple[int, str] | None:
        container = await build_container(load_settings())
        try:
            async with container.uow() as uow:
                return await uow.web.credentials(login)
        finally:
            await container.close()

    return asyncio.run(go())


def test_officers_add_web_generates_a_password_and_prints_it_once(deployment, capsys):
    assert main(["officers", "add", "李专员", "--role", "officer", "--web"]) == 0
    out = capsys.readouterr().out
    login = re.search(r"web login: (.+)", out)
    password = re.search(r"web password: (\S+)", out)
    assert login and password, out
    assert login.group(1) == "李专员"
    found = _stored_hash("李专员")
    assert found is not None and found[1].startswith("$argon2id$")
    assert verify_password(found[1], password.group(1))
    db = (deployment / "data" / "xinfang.db").read_bytes()
    assert password.group(1).encode() not in db
    assert main(["officers", "list"]) == 0
    assert "web" in capsys.readouterr().out


def test_a_web_login_name_is_unique(deployment, capsys):
    assert main(["officers", "add", "A", "--role", "officer", "--web", "--web-login", "a"]) == 0
    assert main(["officers", "add", "B", "--role", "leader", "--web", "--web-login", "A"]) == 2
    assert "taken" in capsys.readouterr().out


def test_an_existing_officer_gets_a_web_login(deployment, capsys):
    assert main(["officers", "add", "王专员", "--role", "leader", "--telegram", "42"]) == 0
    officer_id = re.search(r"#(\d+)", capsys.readouterr().out)
    assert officer_id
    assert main(["officers", "web", officer_id.group(1), "--login", "wang"]) == 0
    password = re.search(r"web password: (\S+)", capsys.readouterr().out)
    assert password
    found = _stored_hash("wang")
    assert found is not None and found[0] == int(officer_id.group(1))
    assert verify_password(found[1], password.group(1))


def test_officers_add_needs_some_account(deployment, capsys):
    assert main(["officers", "add", "无账号", "--role", "officer"]) == 2
    assert "--web" in capsys.readouterr().out
