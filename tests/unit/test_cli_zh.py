"""The ``xinfang`` command line in Chinese: the help of every command comes from the
catalogs, argparse's own words and real command runs show no English word in zh_CN; in
English the help stays word for word as before."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from bot.cli import build_parser, main

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Stripped before the scan: what an operator types or reads as it is, not UI words.
ALLOWED_PATTERNS = (
    re.compile(r"\./[\w./-]+"),  # relative paths: ./xinfang-data
    re.compile(r"(?<![\w-])--?[a-z][a-z-]*"),  # option flags: --dry-run, -h
    re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*\*?(=\S+)?"),  # env variables: XINFANG_WEB=true
    re.compile(r"[\w./-]+\.(?:csv|md|pem|py)\b"),  # file names: docs/retention.md
    re.compile(r"\b(?:JT|XF)(?:-[\w-]+)?"),  # unit codes and case numbers of the examples
    re.compile(r"/[a-z_]+"),  # chat commands: /slots, /approve_disclosure
    re.compile(r"\{[A-Za-z_,]+\}"),  # the choices argparse lists: {zh_CN,en}
    re.compile(r"\bCtrl-[A-Z]\b"),  # keys: Ctrl-C
    re.compile(r"(?<![\w/]):[a-z]+"),  # the console's commands: :officer, :quit
)
ALLOWED_WORDS = frozenset(
    {"xinfang", "FILE", "ID", "CODE", "HASH", "N", "NAME", "YYYY", "MM", "DD",  # placeholders
     "ROOT",
     "CSV", "UTF", "Excel", "IP", "MB", "Telegram",  # formats and product names
     "SQLite", "PostgreSQL", "pg_dump", "stderr", "HTTP", "TOML", "API", "BOM", "XLSX",
     "PNG", "TOTP", "otpauth", "BotFather", "scrypt", "AES", "GCM",
     "code", "name", "parent",  # the columns of a unit file (its header)
     "role", "unit", "telegram", "wecom", "web_login",  # and of an officers file
     "LiSi", "lisi",  # the example officers file's accounts
     # values typed as they are: roles, XINFANG_DISCLOSURE's 1of1, a --rank, local logins
     "leader", "officer", "discipline", "custodian", "of1", "of3", "completion",
     "plant", "company", "group",
     "YOURS", "THEIRS", "pem", "ok"}
)  # fmt: skip


def latin_words(text: str) -> list[str]:
    """The Latin words of a text outside the allow-list."""
    for pattern in ALLOWED_PATTERNS:
        text = pattern.sub(" ", text)
    return [w for w in LATIN_WORD.findall(text) if w not in ALLOWED_WORDS]


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser under a parser, with the command words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def command_words(parser: argparse.ArgumentParser) -> set[str]:
    """The command words, and the parts of hyphenated ones (custodian-new)."""
    words = {word for path, _ in parsers(parser) for word in path}
    return words | {part for word in words for part in word.split("-")}


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "zh_CN")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("用法：xinfang [-h] [--dry-run] FILE.csv", []),
        ("环境变量 XINFANG_WEB=true 或 TELEGRAM_BOT_TOKEN，见 docs/retention.md", []),
        ("usage: xinfang", ["usage"]),
        ("显示本帮助 and exit", ["and", "exit"]),
    ],
)
def test_the_scan_finds_english_words_and_passes_what_is_typed_as_it_is(text, found):
    assert latin_words(text) == found


def test_every_command_and_subcommand_helps_in_chinese(chinese):
    parser = build_parser()
    commands = command_words(parser)
    leaks = {}
    for path, sub in parsers(parser):
        words = [w for w in latin_words(sub.format_help()) if w not in commands]
        if words:
            leaks[" ".join(path)] = words
    assert leaks == {}


def test_argparse_s_own_words_are_chinese_and_restored_afterwards(chinese, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["units"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：xinfang units")
    assert "错误：缺少必需的参数" in err
    assert latin_words(err) == [] or set(latin_words(err)) <= command_words(build_parser())
    # Other parsers of the process keep argparse's English.
    assert argparse.ArgumentParser(prog="x").format_usage().startswith("usage: x")


def test_every_help_section_title_ends_in_a_full_width_colon():
    for path, parser in parsers(build_parser()):
        text = parser.format_help()
        titles = [line for line in text.splitlines() if line and not line[0].isspace()]
        assert not [t for t in titles if t.endswith(":")], path
        assert "选项：" in text, path


def test_an_unknown_locale_falls_back_to_chinese(monkeypatch):
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "fr")
    assert build_parser().format_usage().startswith("用法：")


def test_english_help_is_argparse_s_and_the_catalog_s_english(monkeypatch):
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    parser = build_parser()
    assert parser.format_usage().startswith("usage: xinfang")
    units = dict(parsers(parser))[("units", "list")].format_help()
    assert "show this help message and exit" in units
    assert "include retired units" in units
    assert latin_words(units)  # English words, as before


@pytest.fixture
def empty_deployment(tmp_path, monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "zh_CN")
    return tmp_path


async def _cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_real_commands_print_chinese(empty_deployment, capsys):
    assert await _cli("migrate") == 0
    capsys.readouterr()
    runs = [("units", "list"), ("outbox", "failed"), ("retention", "show"), ("audit", "show")]
    for args in runs:
        assert await _cli(*args) == 0, args
    out = capsys.readouterr().out
    assert "还没有单位" in out and "发件箱中没有发送失败的消息" in out and "规则" in out
    commands = command_words(build_parser())
    assert [w for w in latin_words(out) if w not in commands] == []


async def test_errors_print_chinese(empty_deployment, capsys):
    assert await _cli("migrate") == 0
    missing = empty_deployment / "没有这个文件.csv"
    assert await _cli("units", "import", str(missing)) == 1
    assert await _cli("units", "rename", "NOPE", "新名") == 2
    err = capsys.readouterr().err
    assert "文件或目录不存在" in err and "没有代码为" in err
    allowed = command_words(build_parser()) | {"NOPE"}
    words = latin_words(err.replace(str(empty_deployment), ""))
    assert [w for w in words if w not in allowed] == []


def test_the_example_file_is_where_the_help_says(chinese):
    assert (Path(__file__).resolve().parents[2] / "bot/cli/example-group.csv").is_file()


def _without_key_ids(text: str) -> str:
    """The output without the keyring's key ids (hex, as they are)."""
    from bot.keys import load_keyring
    from bot.settings import load_settings

    ring = load_keyring(load_settings().keyring_file)
    for kid in (*ring.content, *ring.delivery, *ring.custodian_public):
        text = text.replace(kid, " ")
    return text


async def test_the_service_officers_keys_and_stats_commands_print_chinese(
    empty_deployment, capsys
):
    assert await _cli("migrate") == 0
    assert await _cli("migrate") == 0
    assert await _cli("officers", "list") == 0
    assert await _cli("officers", "add", "张三", "--role", "officer", "--telegram", "4201") == 0
    assert await _cli("officers", "list") == 0
    assert await _cli("keys", "show") == 0
    chart = empty_deployment / "统计.csv"
    assert (
        await _cli("stats", "--from", "2026-01-01", "--to", "2026-06-30", "--csv", str(chart)) == 0
    )
    out = capsys.readouterr().out
    assert "数据库已从" in out and "数据库已是最新" in out
    assert "还没有工作人员" in out and "已登记工作人员 #1 张三（信访专员）" in out
    assert "#1\t张三\t信访专员\t-\tTelegram" in out
    assert "内容密钥" in out and "保管人：" in out
    assert f"CSV 文件已写入 {chart}" in out
    commands = command_words(build_parser())
    text = _without_key_ids(out.replace(str(empty_deployment), " "))
    assert [w for w in latin_words(text) if w not in commands] == []


async def test_an_officers_file_s_errors_are_chinese(empty_deployment, capsys):
    bad = empty_deployment / "人员.csv"
    bad.write_text("name,role,unit,telegram,wecom\n张三,科长,,12ab,,\n", encoding="utf-8")
    assert await _cli("officers", "import", str(bad)) == 1
    bad.write_text(
        "name,role,unit,telegram,wecom,web_login\n张三,科长,,12ab,,\n,领导,JT-A,,,\n",
        encoding="utf-8",
    )
    assert await _cli("officers", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "第 1 行：表头必须是" in err and "缺少 web_login" in err
    assert "第 2 行：role '科长' 不在以下角色之中" in err
    assert "第 2 行：telegram 必须是 Telegram 数字用户编号" in err
    assert "第 3 行：name 为空" in err and "什么也没有导入：" in err
    allowed = command_words(build_parser())
    assert [w for w in latin_words(err) if w not in allowed] == []


def test_a_bad_port_is_refused_in_chinese(chinese, capsys):
    with pytest.raises(SystemExit):
        main(["playground", "--port", "八零"])
    assert "端口是 0 到 65535 之间的数字" in capsys.readouterr().err


def test_the_trial_key_warning_in_english_is_bot_keys_own(monkeypatch):
    from bot.cli.keys import trial_warning
    from bot.keys import TRIAL_WARNING

    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    path = Path("/srv/xinfang/custodian.pem")
    assert trial_warning(path, "k0123abc") == TRIAL_WARNING.format(path=path, kid="k0123abc")
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "zh_CN")
    assert trial_warning(path, "k0123abc").startswith("仅供试用")


def test_english_output_of_the_no_channel_help_is_unchanged(monkeypatch):
    from bot.cli.service import _no_channel_help

    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    text = _no_channel_help()
    assert text.startswith("No chat channel is configured, so `xinfang run` starts local mode")
    assert "  Telegram   TELEGRAM_BOT_TOKEN        the token from @BotFather\n" in text
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "zh_CN")
    assert "没有配置任何聊天渠道" in _no_channel_help()


def test_why_an_audit_chain_is_broken_is_worded_in_the_cli_s_language(monkeypatch):
    from bot.cli.audit import _worded
    from storage.audit_chain import verify_chain
    from tests.unit.test_audit_chain_encoding import _chain

    entries = _chain(5)
    removed = verify_chain(entries[:1] + entries[2:])
    cut = verify_chain(entries[:3], head=(5, entries[-1].hash))
    detail = verify_chain([dataclasses.replace(entries[0], detail_ct=None)])
    assert (removed.code, removed.params) == ("not_following", {"after": 1})
    assert (cut.code, detail.code) == ("tail_removed", "detail_removed")
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "zh_CN")
    assert _worded(removed.reason, removed.code, removed.params).startswith("没有接在第 1 条之后")
    assert _worded(cut.reason, cut.code, cut.params).startswith("链没有在记录的链头处结束")
    assert _worded(detail.reason, detail.code, detail.params) == "详情被删除"
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    assert _worded(removed.reason, removed.code, removed.params) == removed.reason
    assert removed.reason == "does not follow entry #1 (an entry removed or moved?)"
    assert detail.reason == "detail removed"


async def test_an_unreadable_published_head_is_refused_in_chinese(empty_deployment, capsys):
    assert await _cli("migrate") == 0
    assert await _cli("audit", "verify", "--head", "x:3f9a1c2b") == 2
    assert await _cli("audit", "verify", "--head", "3f9a") == 2
    err = capsys.readouterr().err
    assert "链头的格式是 ID:HASH，例如 1234:3f9a1c2b7d4e5f60" in err
    assert "链头的散列值是 8 到 64 位十六进制数字" in err


async def test_a_backup_that_cannot_be_read_is_refused_in_chinese(
    empty_deployment, monkeypatch, capsys
):
    monkeypatch.setenv("XINFANG_BACKUP_PASSPHRASE", "十二个字以上的备份口令很长")
    assert await _cli("migrate") == 0
    missing = empty_deployment / "没有.xfbak"
    not_a_backup = empty_deployment / "备份.xfbak"
    not_a_backup.write_bytes(b"\0" * 64)
    assert await _cli("restore", str(missing)) == 2
    assert await _cli("restore", str(not_a_backup), "--force") == 2
    assert await _cli("backup", "--out", str(not_a_backup)) == 2
    err = capsys.readouterr().err
    assert f"{missing} 处没有备份文件" in err
    assert "这不是 xinfang 的备份文件" in err
    assert f"{not_a_backup} 已存在；请换一个新文件名" in err
    words = latin_words(err.replace(str(missing), " ").replace(str(not_a_backup), " "))
    assert [w for w in words if w not in command_words(build_parser())] == []


def test_bot_backup_s_errors_keep_their_english_text():
    from bot.backup.crypto import BackupError
    from bot.cli.backup import _error

    exc = BackupError("checksum of db does not match the manifest", "checksum", name="db")
    assert str(exc) == "checksum of db does not match the manifest"
    assert exc.code == "checksum" and exc.params == {"name": "db"}
    assert _error(exc) == "db 的校验和与清单不符"  # the default language


# --- settings errors -----------------------------------------------------------------------

_WECOM = {
    "WECOM_CORP_ID": "ww1",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_SECRET": "s",
    "WECOM_TOKEN": "t",
    "WECOM_AES_KEY": "k" * 43,
}
_SIGN = '[[sign]]\nkind = "life_safety"\nname = "煤气"\n'
# (environment, config file text or None, danger signs file text or None, message id,
# whether the English catalog text is word for word the exception's)
_BAD_SETTINGS = [
    ({"XINFANG_HTTP_PORT": "八千"}, None, None, "settings.not_whole", True),
    ({"XINFANG_ACCEPT_DAYS": "0"}, None, None, "settings.too_small", True),
    ({"XINFANG_HTTP_PORT": "70000"}, None, None, "settings.too_large", True),
    ({}, "port = 1\n", None, "settings.table_expected", True),
    ({}, "[xinfang\n", None, "settings.config_not_toml_at", False),
    ({"XINFANG_DEFAULT_LOCALE": "fr"}, None, None, "settings.locale", True),
    ({"XINFANG_LOG_FORMAT": "xml"}, None, None, "settings.either", True),
    ({"XINFANG_METRICS": "maybe"}, None, None, "settings.either", True),
    ({"XINFANG_HOLIDAY_CALENDAR": "cn"}, None, None, "settings.calendar_needs_working_days",
     True),
    ({"XINFANG_WORKING_DAYS": "1", "XINFANG_HOLIDAY_CALENDAR": "us"}, None, None,
     "settings.either", True),
    ({"XINFANG_REMINDERS": "50%,soon"}, None, None, "settings.reminder_form", False),
    ({"XINFANG_REMINDERS": "100%"}, None, None, "settings.reminder_form", False),
    ({"XINFANG_REMINDERS": "0%"}, None, None, "settings.reminder_percent", False),
    ({"XINFANG_REMINDERS": "0d"}, None, None, "settings.reminder_days", False),
    ({"XINFANG_DIGEST_HOUR": "24"}, None, None, "settings.digest_hour", False),
    ({"XINFANG_NOTICE_TEMPLATES": "/没有这个文件夹"}, None, None, "settings.not_folder", True),
    ({"XINFANG_RETAIN_AUDIT_YEARS": "5"}, None, None, "settings.audit_kept", True),
    ({"XINFANG_LEADERS_CHAT": "-100"}, None, None, "settings.leaders_chat_form", True),
    ({"XINFANG_UNIT_CHATS": "JT"}, None, None, "settings.unit_chats_form", True),
    ({"XINFANG_UNIT_CHATS": "JT=qq:1"}, None, None, "settings.unit_chat_target", True),
    ({"XINFANG_UNIT_CHATS": "JT=telegram:-100"}, None, None,
     "settings.unit_chat_needs_telegram", True),
    ({"TELEGRAM_BOT_TOKEN": "1:T", "XINFANG_UNIT_CHATS": "JT=telegram:grp"}, None, None,
     "settings.unit_chat_telegram_id", True),
    ({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_ADMIN_CHAT_ID": "-100",
      "XINFANG_UNIT_CHATS": "JT=telegram:-100"}, None, None, "settings.unit_chat_is_admin", True),
    ({"XINFANG_UNIT_CHATS": "JT=wecom:wr1"}, None, None, "settings.unit_chat_needs_wecom", True),
    ({**_WECOM, "XINFANG_UNIT_CHATS": "JT=wecom:a|b"}, None, None,
     "settings.unit_chat_wecom_target", True),
    ({"TELEGRAM_BOT_TOKEN": "1:T", "XINFANG_UNIT_CHATS": "JT=telegram:-1;JT-A=telegram:-1"},
     None, None, "settings.unit_chat_shared", True),
    ({"XINFANG_HOTLINES": "热线"}, None, None, "settings.hotline_form", True),
    ({"XINFANG_DANGER_SIGNS": "/没有这个文件.toml"}, None, None, "settings.signs_unreadable",
     True),
    ({}, None, "[[sign]\n", "settings.signs_not_toml_at", False),
    ({}, None, "sign = 1\n", "settings.signs_form", True),
    ({}, None, '[[sign]]\nkind = "life_safety"\n', "settings.sign_fields", True),
    ({}, None, '[[sign]]\nkind = "fire"\nname = "火"\n', "settings.sign_kind", True),
    ({}, None, _SIGN + "pattern = 1\n", "settings.sign_types", True),
    ({}, None, _SIGN + 'pattern = "(煤气"\n', "settings.sign_regex_at", False),
    ({}, None, "defaults = false\n", "settings.no_signs", True),
    ({"XINFANG_STAFF_NO_PATTERN": "^\\d+$"}, None, None, "settings.staff_pattern", False),
    ({"XINFANG_WEB": "1", "XINFANG_TRUSTED_PROXIES": "本机"}, None, None, "settings.networks",
     True),
    ({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_ADMIN_CHAT_ID": "admins"}, None, None,
     "settings.chat_id_number", True),
    ({"TELEGRAM_BOT_TOKEN": "1:T", "TELEGRAM_WEBHOOK_URL": "https://x/hook"}, None, None,
     "settings.needs_also", True),
    ({"WECOM_CORP_ID": "ww1"}, None, None, "settings.wecom_partial", True),
    ({**_WECOM, "WECOM_AES_KEY": "short"}, None, None, "settings.wecom_aes_key", True),
]  # fmt: skip


@pytest.mark.parametrize(("environ", "config", "signs", "code", "same"), _BAD_SETTINGS)
def test_every_settings_error_carries_a_message_id_worded_in_both_catalogs(
    tmp_path, environ, config, signs, code, same
):
    from bot.settings import SettingsError, load_settings
    from i18n import translator

    environ = dict(environ)
    config_file = None
    if config is not None:
        config_file = tmp_path / "xinfang.toml"
        config_file.write_text(config, encoding="utf-8")
    if signs is not None:
        environ["XINFANG_DANGER_SIGNS"] = str(tmp_path / "signs.toml")
        (tmp_path / "signs.toml").write_text(signs, encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(environ, config_file)
    exc = raised.value
    assert exc.code == code
    english = translator().t(exc.code, "en", **exc.params)
    chinese = translator().t(exc.code, "zh_CN", **exc.params)
    assert "{" not in english + chinese  # every placeholder filled
    if same:  # the catalog says what the exception says
        assert english == str(exc)
    else:  # the exception adds the library's (English) detail, or the domain's words
        assert re.search("[\u4e00-\u9fff]", chinese)
    # What the English names (the setting, the value, the example), the Chinese names too.
    shown = [str(v) for k, v in exc.params.items() if k != "reason" and str(v) in str(exc)]
    assert [value for value in shown if value not in chinese] == []


async def test_a_wrong_setting_is_refused_in_chinese_and_in_english_as_before(
    empty_deployment, monkeypatch, capsys
):
    monkeypatch.setenv("XINFANG_HTTP_PORT", "70000")
    assert await _cli("units", "list") == 2
    err = capsys.readouterr().err
    assert err == "xinfang：配置有误：XINFANG_HTTP_PORT 不能大于 65535，实际是 70000\n"
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    assert await _cli("units", "list") == 2
    assert capsys.readouterr().err == (
        "xinfang: configuration error: XINFANG_HTTP_PORT must be at most 65535, got 70000\n"
    )


async def test_a_config_file_that_cannot_be_read_is_refused_in_chinese(empty_deployment, capsys):
    missing = empty_deployment / "没有.toml"
    broken = empty_deployment / "配置.toml"
    broken.write_text("[xinfang\n", encoding="utf-8")
    assert await _cli("--config", str(missing), "units", "list") == 2
    assert await _cli("--config", str(broken), "units", "list") == 2
    err = capsys.readouterr().err
    assert f"无法读取配置文件 {missing}：文件或目录不存在" in err
    assert f"配置文件 {broken} 不是有效的 TOML 文件（第 1 行第 9 列附近有误）" in err
    text = err.replace(str(missing), " ").replace(str(broken), " ")
    assert latin_words(text) == []


# --- retention ------------------------------------------------------------------------------


@pytest.mark.parametrize("years", ["10", "0"])
async def test_retention_rows_carry_ids_whose_english_is_bot_retention_s_own_words(
    empty_deployment, monkeypatch, years
):
    from bot.container import build_container, utc_now
    from bot.retention import forecast
    from bot.settings import load_settings
    from i18n import translator

    monkeypatch.setenv("XINFANG_RETAIN_CASES_YEARS", years)
    settings = load_settings()
    container = await build_container(settings)
    try:
        rows = await forecast(container.uow, settings.retention, utc_now())
    finally:
        await container.close()
    assert len(rows) == 9 and all(r.kind_id and r.rule_id for r in rows)
    tr = translator()
    for r in rows:
        assert tr.t(r.kind_id, "en") == r.kind
        assert tr.t(r.rule_id, "en", **r.rule_params) == r.rule
        chinese = tr.t(r.kind_id, "zh_CN") + tr.t(r.rule_id, "zh_CN", **r.rule_params)
        assert latin_words(chinese) == [], r.kind


async def test_retention_show_prints_the_rules_in_chinese_and_in_english_as_before(
    empty_deployment, monkeypatch, capsys
):
    monkeypatch.setenv("XINFANG_RETAIN_CASES_YEARS", "0")
    assert await _cli("migrate") == 0
    capsys.readouterr()
    assert await _cli("retention", "show") == 0
    out = capsys.readouterr().out
    assert "永久保存" in out and "XINFANG_RETAIN_CASES_YEARS=0" in out
    assert [w for w in latin_words(out) if w not in command_words(build_parser())] == []
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    assert await _cli("retention", "show") == 0
    out = capsys.readouterr().out
    assert (
        "closed cases' content and evidence\tkept for ever (XINFANG_RETAIN_CASES_YEARS=0)\t" in out
    )
    assert "audit trail\tkept for ever (its hash chain is never cut)\t-\t-\t-" in out


# --- backup and restore progress ------------------------------------------------------------


async def test_backup_and_restore_progress_is_chinese_and_english_as_before(
    empty_deployment, monkeypatch, capsys
):
    import bot.backup.operations as operations

    monkeypatch.setattr(operations, "_EVERY", 0.0)  # every progress line, however quick
    monkeypatch.setenv("XINFANG_BACKUP_PASSPHRASE", "十二个字以上的备份口令很长")
    assert await _cli("migrate") == 0
    out = empty_deployment / "备份.xfbak"
    assert await _cli("backup", "--out", str(out)) == 0
    assert await _cli("restore", str(out), "--force") == 0
    err = capsys.readouterr().err
    for line in (
        "正在为 sqlite 数据库生成快照……",
        "正在加密……",
        "正在解密并检查备份……",
        "正在恢复数据库……",
        "正在核对：各表行数和每一段密文……",
    ):
        assert line + "\n" in err
    assert re.search(r"^  快照：\d+\.\d MB，\d+ 行$", err, re.M)
    assert re.search(r"^  已解密：\d+\.\d MB，共 \d+\.\d MB（\d+%）$", err, re.M)
    assert re.search(r"^  \S+ 的备份：校验和相符$", err, re.M)
    assert "  密钥环已写入 " in err
    keyring = str(load_settings_now().keyring_file)
    text = err.replace(str(out), " ").replace(keyring, " ")
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:+]+", " ", text)  # the backup's time (ISO 8601)
    words = [w for w in latin_words(text) if w not in command_words(build_parser())]
    assert set(words) <= {"sqlite"}  # the database's kind, as the manifest names it
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    out.unlink()
    assert await _cli("backup", "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert err.startswith("taking a snapshot of the sqlite database...\n")
    assert "\nencrypting...\n" in err
    assert re.search(r"^  snapshot: \d+\.\d MB, \d+ rows$", err, re.M)
    assert re.search(r"^  encrypted: \d+\.\d MB of \d+\.\d MB \(\d+%\)$", err, re.M)


def load_settings_now():
    """The settings of the test's deployment, as the CLI reads them."""
    from bot.settings import load_settings

    return load_settings()


# --- custodian keys and the opening of an identity ------------------------------------------

_CUSTODIAN_PASSPHRASE = "保管人的口令 至少十二个字"
_IDENTITY = {"name": "张秘密", "staff_no": "A1024", "unit": "第三车间", "phone": "13912345678"}


async def _deployment_with_a_custodian(tmp: Path, monkeypatch) -> tuple[Path, int]:
    """A 1of1 deployment whose custodian (officer 1) holds a key made off the server, and an
    identified petition; returns the key file and the case's number."""
    from bot.container import build_container
    from bot.keys import create_keys
    from bot.settings import load_settings
    from petitions.roles import Role
    from storage.custody import load_private_key, new_custodian_files
    from storage.vault import Keyring, public_raw_of
    from tests.helpers.chat import ChatUser
    from tests.helpers.flow import add_officer, file_petition

    ring_file = tmp / "keys" / "keyring.json"
    monkeypatch.setenv("XINFANG_KEYRING_FILE", str(ring_file))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:TEST")
    monkeypatch.setenv("TELEGRAM_ADMIN_CHAT_ID", "-1001")
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    (tmp / "offline").mkdir()
    private, _public = new_custodian_files(
        tmp / "offline" / "信访.key", _CUSTODIAN_PASSPHRASE, log_n=14
    )
    key = load_private_key(private.read_bytes(), lambda: _CUSTODIAN_PASSPHRASE)
    created = create_keys(ring_file, custodian_public=public_raw_of(key), custodian_name="信访")
    ring = Keyring.load(ring_file)
    ring.custodian_officers[created.custodian_kid] = 1
    ring.save(ring_file)
    container = await build_container(load_settings())
    try:
        await add_officer(container, Role.CUSTODIAN, "5001", "信访保管人")
        filed = await file_petition(container, ChatUser(container.handlers), identity=_IDENTITY)
    finally:
        await container.close()
    return private, filed.number


async def test_an_opened_identity_and_the_refusals_around_it_are_chinese(
    empty_deployment, monkeypatch, capsys
):
    key, number = await _deployment_with_a_custodian(empty_deployment, monkeypatch)
    reason = "依据《信访工作条例》第二十条，核实涉嫌诬告线索，须确认反映人身份"
    monkeypatch.setenv("XINFANG_CUSTODIAN_PASSPHRASE", "不是这个口令但也够十二个字")
    assert await _cli("identity", "open", "1", "--key", str(key)) == 2
    monkeypatch.setenv("XINFANG_CUSTODIAN_PASSPHRASE", _CUSTODIAN_PASSPHRASE)
    assert await _cli("identity", "open", "9", "--key", str(key)) == 1
    assert await _cli("identity", "request", number, "--custodian", "1", "--reason", reason) == 0
    assert await _cli("identity", "open", "1", "--key", str(key)) == 0
    assert await _cli("identity", "open", "1", "--key", str(key)) == 1
    assert await _cli("keys", "custodian-add", str(key), "--name", "工会") == 2
    captured = capsys.readouterr()
    for line in (
        "  姓名：张秘密",
        "  工号：A1024",
        "  单位/部门：第三车间",
        "  电话：13912345678",
    ):
        assert line + "\n" in captured.out
    err = captured.err
    assert "xinfang: 口令错误（或者密钥文件被改动过）\n" in err
    assert "没有编号为 9 的披露申请" in err
    assert "xinfang: 第 1 号申请已经用过了；请重新提出申请\n" in err
    assert "这是私钥：只把 .pub.pem 文件交给服务器，私钥不要放在服务器上" in err
    assert latin_words(err) == []
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    assert await _cli("identity", "open", "1", "--key", str(key)) == 1
    assert capsys.readouterr().err == ("xinfang: request 1 was already used; make a new request\n")


# --- unit files -----------------------------------------------------------------------------

_UNITS_HEADER = "code,name,parent\n"
# (file, existing units (id, code, name, parent id, retired)): every FileProblem code once.
_BAD_UNIT_FILES = [
    (b"code,name,parent\n\xff\xfe", ()),
    (_UNITS_HEADER + "JT," + "长" * 140_000 + ",\n", ()),  # over the csv module's limit
    ("", ()),
    ("code,name\n", ()),
    (_UNITS_HEADER + "JT,集团\n", ()),
    (_UNITS_HEADER + ",集团,\nJT,,\n", ()),
    (_UNITS_HEADER + "J T,集团,\nJT,集团,\nJT,集团二,\n", ()),
    (_UNITS_HEADER + "JT," + "长" * 101 + ",\n", ()),
    (_UNITS_HEADER, ()),
    (_UNITS_HEADER + "JT,集团,\njt-a,甲,JT\n",
     ((1, "JT", "集团", None, False), (2, "JT-A", "甲", 1, False))),
    (_UNITS_HEADER + "JT,集团,\nJT-A,甲,NOPE\n", ()),
    (_UNITS_HEADER + "JT,集团,\nJT-A-1,甲一厂,JT-A\n",
     ((1, "JT", "集团", None, False), (2, "JT-A", "甲", 1, True))),
    (_UNITS_HEADER + "JT-A,甲,JT-B\nJT-B,乙,JT-A\n", ((1, "JT", "集团", None, False),)),
    (_UNITS_HEADER + "JT,集团,\nJT-B,乙,\n", ()),
    (_UNITS_HEADER + "JT-A,甲,JT-B\nJT-B,乙,JT-A\n", ()),
]  # fmt: skip


def _unit_file_problems():
    from petitions.units import Unit, UnitTree
    from petitions.units_file import read_import

    problems = []
    for text, units in _BAD_UNIT_FILES:
        data = text if isinstance(text, bytes) else text.encode()
        _plan, found = read_import(data, UnitTree(Unit(*u) for u in units))
        assert found, text
        problems.extend(found)
    return problems


def test_every_unit_file_problem_has_a_code_its_english_catalog_text_says_word_for_word(
    monkeypatch,
):
    import bot.cli.units as units

    problems = _unit_file_problems()
    assert {p.code for p in problems} == set(units._PROBLEMS)
    # The catalogs' words in English (the CLI itself prints the domain's English text).
    monkeypatch.setenv("XINFANG_DEFAULT_LOCALE", "en")
    monkeypatch.setattr(units, "cli_locale", lambda: "zh_CN")
    for problem in problems:
        if problem.code != "csv":  # the domain adds the csv module's own words
            assert units._problem(problem) == str(problem)


def test_every_unit_file_problem_is_chinese(chinese):
    from bot.cli.units import _problem

    worded = [_problem(p) for p in _unit_file_problems()]
    assert worded[0].startswith("文件不是 UTF-8 编码")
    assert "第 4 行：代码 JT 在第 3 行也出现了" in worded
    assert "根单位（没有上级的单位）不止一个：JT（第 2 行），JT-B（第 3 行）" in worded
    text = "\n".join(worded)
    for typed in ("NOPE", "J T", "jt-a"):  # the files' own codes
        text = text.replace(typed, " ")
    assert latin_words(text) == []


async def test_units_import_says_what_is_wrong_with_the_file_in_chinese(empty_deployment, capsys):
    bad = empty_deployment / "单位.csv"
    bad.write_text(_UNITS_HEADER + "JT,集团,\nJT-A,甲,JT-X\nJT-B,,JT\n", encoding="utf-8")
    assert await _cli("units", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "单位.csv: 第 3 行：上级 JT-X 既不在文件中，也不是已有的单位\n" in err
    assert "单位.csv: 第 4 行：name 为空\n" in err
    assert [w for w in latin_words(err) if w not in command_words(build_parser())] == []
