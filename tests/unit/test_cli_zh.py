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
