"""The deployment kit, checked statically (no container engine in CI): Dockerfile,
deploy/compose.yaml, deploy/Caddyfile, the systemd units and the example env files."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

from bot.settings import load_settings
from bot.telegram.adapter import WEBHOOK_PATH
from bot.wecom.callback import CALLBACK_PATH, MOUNT_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAME = re.compile(r"(XINFANG|TELEGRAM|WECOM)_[A-Z0-9_]+")
# Read by commands rather than by the settings (documented in README.md and docs/deploy.md).
RUNTIME_VARIABLES = {"XINFANG_BACKUP_PASSPHRASE"}
# Variables for the interpreter and the tools around xinfang, allowed where they are set.
PYTHON_VARIABLES = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_NO_CACHE_DIR",
    "MPLCONFIGDIR",
}
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSPHRASE", "AES_KEY", "DATABASE_URL")


def _read_by_xinfang() -> set[str]:
    """Every variable name bot/settings.py mentions, plus the documented runtime ones."""
    tree = ast.parse((ROOT / "bot" / "settings.py").read_text(encoding="utf-8"))
    names = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and NAME.fullmatch(node.value)
    }
    return names | RUNTIME_VARIABLES


KNOWN = _read_by_xinfang()


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _env_file(path: Path, *, commented: bool = True) -> dict[str, str]:
    """NAME=value lines of an env file; with ``commented`` also the ``# NAME=value`` ones."""
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if commented and re.match(r"#\s*[A-Z][A-Z0-9_]*=", line):
            line = line.lstrip("#").strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not NAME=value: {raw!r}"
        values[key.strip()] = value.strip()
    return values


def _dockerfile() -> str:
    # Continuation lines joined, so every instruction is one line.
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def _instructions(name: str) -> list[str]:
    return [
        line.split(None, 1)[1].strip()
        for line in _dockerfile().splitlines()
        if line.split(None, 1)[:1] == [name]
    ]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions("ENV"):
        for word in shlex.split(args):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {args!r}: use NAME=value"
            env[key] = value
    return env


def _unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings: key -> every value given (keys repeat, e.g. Environment)."""
    settings: dict[str, list[str]] = {}
    for raw in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not Key=value: {raw!r}"
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _unit_environment(name: str) -> dict[str, str]:
    env = {}
    for value in _unit(name).get("Environment", []):
        for word in shlex.split(value):
            key, _sep, val = word.partition("=")
            env[key] = val
    return env


def _unknown(names: set[str], allowed: set[str] = frozenset()) -> set[str]:
    return {n for n in names if n not in KNOWN and n not in allowed}


def test_the_names_read_by_xinfang_are_collected_from_the_settings_module() -> None:
    # Guards the collection itself: an empty or partial set would let anything pass.
    assert {"XINFANG_DATA_DIR", "TELEGRAM_BOT_TOKEN", "WECOM_AES_KEY"} <= KNOWN
    assert "XINFANG_HOLIDAY_CALENDAR" in KNOWN
    assert "XINFANG_NO_SUCH_SETTING" not in KNOWN


def test_the_compose_file_runs_postgres_15_xinfang_and_a_tls_proxy() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "xinfang", "caddy"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["caddy"]["image"].startswith("caddy:2")
    assert {"443:443", "80:80"} <= set(services["caddy"]["ports"])
    xinfang = services["xinfang"]
    assert xinfang["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in xinfang  # reachable through Caddy only
    assert any(v.endswith(":/data") for v in xinfang["volumes"])
    assert _compose()["networks"]["backend"]["internal"] is True


def test_every_variable_the_compose_file_sets_is_one_xinfang_reads() -> None:
    services = _compose()["services"]
    env = _environment(services["xinfang"])
    assert env, "the xinfang service sets its listening address"
    assert not _unknown(set(env))
    # Other services may not set xinfang's names (a misplaced setting does nothing there).
    for name in ("postgres", "caddy"):
        assert not {k for k in _environment(services[name]) if NAME.match(k)}


def test_secrets_come_from_env_files_never_inline() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        inline = _environment(service)
        assert not [k for k in inline if any(w in k for w in SECRET_WORDS)], name
    for name, example in (
        ("xinfang", "xinfang.env.example"),
        ("postgres", "postgres.env.example"),
        ("caddy", "caddy.env.example"),
    ):
        [env_file] = services[name]["env_file"]
        assert (DEPLOY / f"{Path(env_file).name}.example").name == example
        assert (DEPLOY / example).exists()
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "*.env" in ignored and "*.pem" in ignored


def test_the_example_env_files_name_only_known_variables_and_load_as_settings() -> None:
    example = _env_file(DEPLOY / "xinfang.env.example")
    assert not _unknown(set(example))
    assert set(_env_file(DEPLOY / "postgres.env.example")) == {
        "POSTGRES_USER",
        "POSTGRES_DB",
        "POSTGRES_PASSWORD",
    }
    assert "XINFANG_BACKUP_PASSPHRASE" in example
    # The filled-in shape is a valid configuration: webhook mode on Telegram, and WeCom.
    env = _env_file(DEPLOY / "xinfang.env.example", commented=False)
    env |= _environment(_compose()["services"]["xinfang"])
    settings = load_settings(env)
    assert settings.telegram is not None and settings.telegram.webhook_url is not None
    assert settings.telegram.webhook_url.endswith(WEBHOOK_PATH)
    assert settings.wecom is not None
    assert not settings.embedded
    assert settings.http_host == "0.0.0.0"


def test_the_caddyfile_proxies_the_webhook_paths_to_the_port_compose_gives_xinfang() -> None:
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    xinfang = _compose()["services"]["xinfang"]
    port = _environment(xinfang)["XINFANG_HTTP_PORT"]
    targets = re.findall(r"reverse_proxy\s+(\S+)", caddy)
    assert targets and set(targets) == {f"xinfang:{port}"}
    assert [str(p) for p in xinfang["expose"]] == [port]
    handled = set(re.findall(r"handle\s+(/\S+)\s*\{", caddy))
    assert handled == {WEBHOOK_PATH, MOUNT_PREFIX + CALLBACK_PATH}
    assert re.search(r"handle\s*\{\s*respond 404", caddy)  # nothing else is exposed
    placeholders = set(re.findall(r"\{\$([A-Z_]+)\}", caddy))
    assert placeholders == {"DOMAIN", "ACME_EMAIL"}
    assert placeholders == set(_env_file(DEPLOY / "caddy.env.example"))
    # X-Forwarded-Proto is believed from Caddy's network only.
    subnet = _compose()["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert _environment(xinfang)["XINFANG_TRUSTED_PROXIES"] == subnet


def test_the_dockerfile_pins_python_runs_as_a_user_and_checks_health() -> None:
    images = [args.split()[0] for args in _instructions("FROM")]
    assert images
    for image in images:
        name, _, tag = image.partition(":")
        assert name == "python" and tag != "latest"
        assert re.fullmatch(r"3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", tag), image
    users = _instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    [health] = _instructions("HEALTHCHECK")
    assert "/healthz" in health
    assert _instructions("CMD")[-1] == '["xinfang", "run"]'
    assert any("'.[postgres]'" in run for run in _instructions("RUN"))
    assert any("fonts-wqy-microhei" in run for run in _instructions("RUN"))
    assert _instructions("VOLUME") == ['["/data"]']


def test_every_variable_the_dockerfile_sets_is_one_xinfang_reads() -> None:
    env = _dockerfile_env()
    assert env["XINFANG_DATA_DIR"] == "/data"
    assert not _unknown(set(env), PYTHON_VARIABLES)


@pytest.mark.parametrize("unit", ["xinfang.service", "xinfang-backup.service"])
def test_the_service_units_are_hardened_and_set_only_known_variables(unit: str) -> None:
    settings = _unit(unit)
    assert settings["User"] == ["xinfang"]
    for key, value in {
        "ProtectSystem": "strict",
        "PrivateTmp": "true",
        "NoNewPrivileges": "true",
        "ProtectHome": "true",
    }.items():
        assert settings.get(key) == [value], key
    env = _unit_environment(unit)
    assert not _unknown(set(env), PYTHON_VARIABLES)
    writable = " ".join(settings["ReadWritePaths"]).split()
    assert env["XINFANG_DATA_DIR"] in writable
    assert settings["EnvironmentFile"] == ["/etc/xinfang/xinfang.env"]


def test_the_backup_timer_runs_xinfang_backup_nightly_into_dated_files() -> None:
    service = _unit("xinfang-backup.service")
    [start] = service["ExecStart"]
    assert "xinfang backup --out" in start
    assert "/var/backups/xinfang/xinfang-" in start and ".xfb" in start
    # % starts a systemd specifier (%d, %m and %Y mean other things): date formats are %%.
    assert not re.search(r"(?<!%)%[A-Za-z]", start.replace("%%", ""))
    assert "/var/backups/xinfang" in " ".join(service["ReadWritePaths"]).split()
    timer = _unit("xinfang-backup.timer")
    assert timer["OnCalendar"] and timer["Persistent"] == ["true"]
    assert timer["WantedBy"] == ["timers.target"]


def test_the_deployment_guide_covers_both_channels_backups_and_upgrades() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needed in (
        "deploy/compose.yaml",
        "deploy/Caddyfile",
        "deploy/xinfang.service",
        "xinfang-backup.timer",
        "xinfang keys init",
        "xinfang officers add",
        "xinfang officers import",
        "xinfang backup --out",
        "xinfang restore",
        "xinfang migrate",
        "BotFather",
        "EncodingAESKey",
        "XINFANG_BACKUP_PASSPHRASE",
        WEBHOOK_PATH,
        MOUNT_PREFIX + CALLBACK_PATH,
    ):
        assert needed in guide, needed
