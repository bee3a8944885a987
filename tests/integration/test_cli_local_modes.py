"""The local modes from the command line, as a new user meets them: help texts, a port
that is taken, and Ctrl-C (the real console script in a subprocess)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    # No channel, no database URL: local mode on the embedded database in tmp_path.
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XINFANG_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        "XINFANG_DEFAULT_LOCALE": "en",  # English output asserted, as in-process
    }


def _xinfang(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, seconds: float) -> bytes:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + seconds
    while marker not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"{marker!r} never came: {seen[-2000:]!r}")
        seen += proc.stdout.read() or b""
        time.sleep(0.05)
    return seen


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_the_help_lists_every_command_and_says_how_to_turn_on_the_web():
    text = build_parser().format_help()
    for command in ("run", "playground", "console", "migrate", "officers", "stats", "backup"):
        assert f"    {command}" in text, command
    assert "web" in text.split("\n", 3)[2]  # the description names the web channel
    assert "XINFANG_WEB=true" in " ".join(text.split())


@pytest.mark.parametrize("command", ["playground", "console"])
def test_the_local_modes_explain_themselves(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Ctrl-C" in text and "XINFANG_DATA_DIR" in text
    if command == "playground":
        assert "--port PORT" in text and "127.0.0.1" in text


def test_a_busy_port_is_refused_before_any_data_or_key_is_created(tmp_path, busy_port):
    done = subprocess.run(
        _xinfang("playground", "--port", str(busy_port)),
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"127.0.0.1:{busy_port} is already in use" in done.stderr.decode()
    assert not (tmp_path / "data").exists()  # no database, no keyring, no directory


def test_the_playground_listens_on_the_port_asked_for_and_stops_on_ctrl_c(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        _xinfang("playground", "--port", str(port)),
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = _read_until(proc, b"Ctrl-C stops", 60)
        assert f"http://127.0.0.1:{port}/local".encode() in seen
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        rest = proc.stdout.read() if proc.stdout else b""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert b"stopped; data kept in" in rest
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()


def test_the_console_stops_on_ctrl_c_while_it_waits_for_a_line(tmp_path):
    proc = subprocess.Popen(
        _xinfang("console"),
        cwd=ROOT,
        env=_env(tmp_path),
        stdin=subprocess.PIPE,  # open and silent: the prompt waits
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(proc, b"employee> ", 60)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)  # without waiting for Enter
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    errors = proc.stderr.read() if proc.stderr else b""
    assert b"stopped" in errors and b"Traceback" not in errors and b"Fatal" not in errors
