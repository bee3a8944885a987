"""Settings: environment over the TOML file, defaults, and errors that name the setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import SettingsError, TelegramSettings, WeComSettings, load_settings
from storage.db import default_sqlite_url

AES_KEY = "a" * 43
WECOM = {
    "WECOM_CORP_ID": "ww0123456789",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_SECRET": "wecom-secret-value",
    "WECOM_TOKEN": "wecom-token-value",
    "WECOM_AES_KEY": AES_KEY,
}


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xinfang.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_serve_locally_on_an_embedded_database():
    s = load_settings({})
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.data_dir == Path("./xinfang-data")
    assert s.database_url == default_sqlite_url(Path("./xinfang-data"))
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.database_url.endswith("/xinfang-data/xinfang.db")
    assert s.embedded
    assert s.keyring_file == Path("./xinfang-data") / "keys" / "keyring.json"
    assert (s.log_level, s.default_locale) == ("INFO", "zh_CN")
    assert s.draft_ttl == timedelta(hours=24)
    assert (s.policy.accept_days, s.policy.handle_days, s.policy.extension_max_days) == (
        15,
        60,
        30,
    )
    assert s.telegram is None and s.wecom is None
    assert s.channels == () and s.admin_channels == ()


def test_the_environment_overrides_the_config_file(tmp_path: Path):
    path = toml(
        tmp_path,
        '[xinfang]\nhttp_port = 9000\nhttp_host = "0.0.0.0"\naccept_days = 7\n'
        'data_dir = "/srv/xf"\n\n[telegram]\nbot_token = "from-file"\n',
    )
    s = load_settings({"XINFANG_HTTP_PORT": "9100", "UNRELATED": "x"}, path)
    assert s.http_port == 9100
    assert s.http_host == "0.0.0.0"
    assert s.policy.accept_days == 7
    assert s.data_dir == Path("/srv/xf")
    assert s.database_url == default_sqlite_url(Path("/srv/xf"))
    assert s.telegram is not None and s.telegram.token == "from-file"


def test_the_config_file_can_be_named_by_xinfang_config(tmp_path: Path):
    path = toml(tmp_path, "[xinfang]\nlog_level = 'debug'\ndraft_ttl_hours = 2\n")
    s = load_settings({"XINFANG_CONFIG": str(path)})
    assert s.log_level == "DEBUG" and s.draft_ttl == timedelta(hours=2)


def test_a_postgres_url_is_not_embedded():
    s = load_settings({"XINFANG_DATABASE_URL": "postgresql+asyncpg://xf:pw@db/xf"})
    assert not s.embedded


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("XINFANG_HTTP_PORT", "eighty", ["XINFANG_HTTP_PORT", "whole number", "'eighty'"]),
        ("XINFANG_HTTP_PORT", "-1", ["XINFANG_HTTP_PORT", "at least 0"]),
        ("XINFANG_ACCEPT_DAYS", "0", ["XINFANG_ACCEPT_DAYS", "at least 1"]),
        ("XINFANG_HANDLE_DAYS", "1.5", ["XINFANG_HANDLE_DAYS", "whole number"]),
        ("XINFANG_DRAFT_TTL_HOURS", "0", ["XINFANG_DRAFT_TTL_HOURS", "at least 1"]),
        ("XINFANG_REVIEW_DAYS", "thirty", ["XINFANG_REVIEW_DAYS", "whole number"]),
    ],
)
def test_a_bad_number_names_the_setting_and_the_value(name: str, raw: str, words: list[str]):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: raw})
    for word in words:
        assert word in str(raised.value)


def test_a_bad_number_in_the_config_file_names_the_setting(tmp_path: Path):
    with pytest.raises(SettingsError, match="XINFANG_HTTP_PORT"):
        load_settings({}, toml(tmp_path, '[xinfang]\nhttp_port = "many"\n'))


def test_an_unknown_default_locale_is_refused():
    with pytest.raises(SettingsError, match="XINFANG_DEFAULT_LOCALE"):
        load_settings({"XINFANG_DEFAULT_LOCALE": "fr"})


def test_an_unreadable_or_invalid_config_file_is_a_settings_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings({}, tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, toml(tmp_path, "[xinfang\n"))
    with pytest.raises(SettingsError, match=r"\[port\] must be a table"):
        load_settings({}, toml(tmp_path, "port = 1\n"))


def test_telegram_needs_a_numeric_admin_chat_and_a_secret_for_webhooks():
    with pytest.raises(SettingsError, match="TELEGRAM_ADMIN_CHAT_ID"):
        load_settings({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_ADMIN_CHAT_ID": "admins"})
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        load_settings({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_WEBHOOK_URL": "https://x/hook"})
    s = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "1:T",
            "TELEGRAM_ADMIN_CHAT_ID": "-1001234567890",
            "TELEGRAM_WEBHOOK_URL": "https://x/hook",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        }
    )
    assert s.telegram is not None and s.telegram.admin_chat_id == -1001234567890
    assert s.channels == ("telegram",) and s.admin_channels == ("telegram",)


def test_telegram_without_an_admin_chat_sends_no_case_cards():
    s = load_settings({"TELEGRAM_BOT_TOKEN": "1:T"})
    assert s.channels == ("telegram",) and s.admin_channels == ()


@pytest.mark.parametrize("missing", sorted(WECOM))
def test_a_partial_wecom_configuration_names_what_is_missing(missing: str):
    values = {k: v for k, v in WECOM.items() if k != missing}
    with pytest.raises(SettingsError) as raised:
        load_settings(values)
    message = str(raised.value)
    assert "WeCom is partly configured" in message and missing in message
    for secret in ("wecom-secret-value", "wecom-token-value", AES_KEY):
        assert secret not in message


def test_a_wrong_wecom_aes_key_is_refused_without_echoing_it():
    with pytest.raises(SettingsError, match="43-character") as raised:
        load_settings(dict(WECOM, WECOM_AES_KEY="tooshort-key-material"))
    assert "tooshort-key-material" not in str(raised.value)


def test_a_non_numeric_wecom_agent_id_names_the_setting():
    with pytest.raises(SettingsError, match="WECOM_AGENT_ID"):
        load_settings(dict(WECOM, WECOM_AGENT_ID="agent"))


def test_a_full_wecom_configuration_is_loaded():
    s = load_settings(dict(WECOM, WECOM_ADMIN_CHAT_ID="chat-1"))
    assert s.wecom == WeComSettings(
        corp_id="ww0123456789",
        agent_id=1000002,
        secret="wecom-secret-value",
        token="wecom-token-value",
        aes_key=AES_KEY,
        admin_chat_id="chat-1",
    )
    assert s.channels == ("wecom",) and s.admin_channels == ("wecom",)


@pytest.mark.parametrize(
    ("api", "files"),
    [
        ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot"),
        ("https://api.telegram.org/bot/", "https://api.telegram.org/file/bot"),
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        ("http://localhost:9000", "http://localhost:9000/file/bot"),
        ("http://localhost:9000/", "http://localhost:9000/file/bot"),
    ],
)
def test_the_file_address_is_derived_from_the_api_address(api: str, files: str):
    assert TelegramSettings(token="1:T", api_base_url=api).file_base_url == files


def test_the_api_address_comes_from_the_environment():
    s = load_settings({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_API_BASE_URL": "http://x:1/bot"})
    assert s.telegram is not None and s.telegram.file_base_url == "http://x:1/file/bot"


def test_secrets_do_not_appear_in_the_repr():
    s = load_settings(
        dict(
            WECOM,
            TELEGRAM_BOT_TOKEN="123456:telegram-token-value",
            TELEGRAM_WEBHOOK_URL="https://x/hook",
            TELEGRAM_WEBHOOK_SECRET="webhook-secret-value",
            XINFANG_DATABASE_URL="postgresql+asyncpg://xf:db-password-value@db/xf",
        )
    )
    shown = repr(s) + str(s) + repr(s.telegram) + repr(s.wecom)
    for secret in (
        "telegram-token-value",
        "webhook-secret-value",
        "db-password-value",
        "wecom-secret-value",
        "wecom-token-value",
        AES_KEY,
    ):
        assert secret not in shown
    assert "ww0123456789" in shown  # the rest is still there to read
