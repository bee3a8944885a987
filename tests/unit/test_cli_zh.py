"""The ``xinfang`` command line in Chinese: the help of the command groups moved to the
catalogs, argparse's own words and real command runs show no English word in zh_CN; in
English the help stays word for word as before."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import pytest

from bot.cli import build_parser, main

# Command groups whose texts come from the catalogs (cli.<command>.*).
TRANSLATED = ("units", "outbox", "retention", "search", "warnings", "audit", "backup",
              "restore", "identity", "reception")  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Stripped before the scan: what an operator types or reads as it is, not UI words.
ALLOWED_PATTERNS = (
    re.compile(r"(?<![\w-])--?[a-z][a-z-]*"),  # option flags: --dry-run, -h
    re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*\*?(=\S+)?"),  # env variables: XINFANG_WEB=true
    re.compile(r"[\w./-]+\.(?:csv|md|pem|py)\b"),  # file names: docs/retention.md
    re.compile(r"\b(?:JT|XF)(?:-[\w-]+)?"),  # unit codes and case numbers of the examples
    re.compile(r"/[a-z_]+"),  # chat commands: /slots, /approve_disclosure
    re.compile(r"\{[A-Za-z_,]+\}"),  # the choices argparse lists: {zh_CN,en}
)
ALLOWED_WORDS = frozenset(
    {"xinfang", "FILE", "ID", "CODE", "HASH", "N", "YYYY", "MM", "DD", "ROOT",  # placeholders
     "CSV", "UTF", "Excel", "IP", "MB", "Telegram",  # formats and product names
     "SQLite", "PostgreSQL", "pg_dump", "stderr",
     "code", "name", "parent",  # the columns of a unit file (its header)
     "leader", "of1", "of3",  # values typed as they are: a role, XINFANG_DISCLOSURE's 1of1
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
    return {word for path, _ in parsers(parser) for word in path}


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


def test_every_translated_command_and_subcommand_helps_in_chinese(chinese):
    parser = build_parser()
    commands = command_words(parser)
    leaks = {}
    for path, sub in parsers(parser):
        if not path or path[0] not in TRANSLATED:
            continue
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
