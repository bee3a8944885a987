"""What every ``xinfang`` command shares: settings, logging, errors shown as one line, and
the language of everything it prints (the catalogs' ``cli.*`` messages, argparse's own words
included)."""

from __future__ import annotations

import argparse
import gettext
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.settings import Settings, load_settings
from i18n import DEFAULT_LOCALE, LOCALES, N_, translator

__all__ = [
    "LOCALE_ENV",
    "CliError",
    "CliParser",
    "cli_locale",
    "config_of",
    "json_formatter",
    "setup_logging",
    "t",
]

LOCALE_ENV = "XINFANG_DEFAULT_LOCALE"


def cli_locale() -> str:
    """The command line's language: XINFANG_DEFAULT_LOCALE, zh_CN when unset or unknown."""
    # Read here rather than from Settings: help texts are built before the arguments (and
    # so --config) are parsed, and a bad value must not stop ``--help`` from working.
    value = os.environ.get(LOCALE_ENV, DEFAULT_LOCALE)
    return value if value in LOCALES else DEFAULT_LOCALE


def t(key: str, /, **params: Any) -> str:
    """The text of a ``cli.*`` message id in the command line's language."""
    return translator().t(key, cli_locale(), **params)


# argparse's own words (msgids exactly as in CPython's argparse.py) -> catalog ids. Only
# what an operator can meet is here; the errors of a wrongly built parser stay English.
# The catalogs write argparse's fields as {placeholders}: %(name)s as {name}, a bare %s or
# %r as {arg} (see _ArgparseTranslation).
_ARGPARSE_WORDS = {
    "usage: ": N_("cli.argparse.usage"),
    "positional arguments": N_("cli.argparse.positionals"),
    "options": N_("cli.argparse.options"),
    "show this help message and exit": N_("cli.argparse.help"),
    "%(prog)s: error: %(message)s\n": N_("cli.argparse.error"),
    "argument %(argument_name)s: %(message)s": N_("cli.argparse.argument"),
    "the following arguments are required: %s": N_("cli.argparse.required"),
    "one of the arguments %s is required": N_("cli.argparse.one_required"),
    "not allowed with argument %s": N_("cli.argparse.not_allowed"),
    "unrecognized arguments: %s": N_("cli.argparse.unrecognized"),
    "ambiguous option: %(option)s could match %(matches)s": N_("cli.argparse.ambiguous"),
    "unexpected option string: %s": N_("cli.argparse.unexpected"),
    "ignored explicit argument %r": N_("cli.argparse.ignored"),
    "expected one argument": N_("cli.argparse.expected_one"),
    "expected at most one argument": N_("cli.argparse.expected_at_most_one"),
    "expected at least one argument": N_("cli.argparse.expected_at_least_one"),
    "expected %s argument": N_("cli.argparse.expected_n"),
    "expected %s arguments": N_("cli.argparse.expected_n"),
    "invalid %(type)s value: %(value)r": N_("cli.argparse.invalid_value"),
    "invalid choice: %(value)r (choose from %(choices)s)": N_("cli.argparse.invalid_choice"),
    "unknown parser %(parser_name)r (choices: %(choices)s)": N_("cli.argparse.unknown_parser"),
    "can't open '%(filename)s': %(error)s": N_("cli.argparse.cannot_open"),
}


_NAMED_FIELD = re.compile(r"%\((\w+)\)[sr]")
# A help section's title line: flush left, ending in argparse's colon.
_SECTION_TITLE = re.compile(r"^(\S[^\n]*?):$", re.MULTILINE)
_BARE_FIELD = re.compile(r"%[sr]")


class _ArgparseTranslation(gettext.NullTranslations):
    """argparse's msgids looked up in the catalogs (``%(prog)s``-style fields kept)."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale

    def gettext(self, message: str) -> str:
        key = _ARGPARSE_WORDS.get(message)
        if key is None:
            return message
        # The catalog text's {name} becomes argparse's %(name)s again (and {arg} its bare
        # %s or %r), so that argparse fills in the text as it would its own.
        fields = {m[1]: m[0] for m in _NAMED_FIELD.finditer(message)}
        bare = _BARE_FIELD.search(message)
        if bare:
            fields["arg"] = bare[0]
        return translator().t(key, self.locale, **fields)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)


@contextmanager
def _argparse_words() -> Iterator[None]:
    """While a CliParser works, argparse's own words come from the catalogs.

    argparse translates through the module globals ``argparse._`` and ``argparse.ngettext``
    (``from gettext import gettext as _``), called when a parser is built ("options"),
    formatted ("usage: ") and when it fails ("error: ..."). gettext itself only installs
    compiled .mo files per domain, and argparse uses the global domain; so these two names
    are swapped for the duration of a CliParser method and restored after it, which leaves
    every other parser of the process (pytest's, say) alone.
    """
    locale = cli_locale()
    if locale == "en":  # argparse speaks English already
        yield
        return
    words = _ArgparseTranslation(locale)
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = words.gettext, words.ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose own words (usage, options, errors) are in the CLI's language;
    its subparsers are CliParsers too (argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with _argparse_words():
            super().__init__(*args, **kwargs)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """Parse, with errors in the CLI's language."""
        with _argparse_words():
            return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        """The usage line in the CLI's language."""
        with _argparse_words():
            return super().format_usage()

    def format_help(self) -> str:
        """The help in the CLI's language."""
        with _argparse_words():
            text = super().format_help()
        if cli_locale() == "en":
            return text
        # argparse puts an ASCII colon after each section's title ("选项:"); Chinese
        # punctuation is full width, as in the translated "用法：".
        return _SECTION_TITLE.sub(r"\1：", text)

    def error(self, message: str) -> Any:
        """Print the usage and the error in the CLI's language; exit 2."""
        with _argparse_words():
            super().error(message)


class CliError(Exception):
    """A command cannot go on; the message is shown as is (exit status 2)."""


def config_of(args: argparse.Namespace) -> Settings:
    """The configuration, read once per command (environment over --config)."""
    return load_settings(config_file=args.config)


def setup_logging(level: str, fmt: str = "plain") -> None:
    """Plain log lines, or one JSON object per line (``fmt="json"``); libraries that log
    request URLs (with tokens) only from WARNING."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler])
    # Request URLs of these libraries contain the bot token; keep them out of INFO logs.
    for noisy in ("httpx", "httpcore", "telegram.ext", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def json_formatter() -> logging.Formatter:
    """A formatter writing each record as one JSON object: time (ISO 8601, UTC), level,
    logger, message, and for an exception its type and traceback (python-json-logger)."""
    from pythonjsonlogger.json import JsonFormatter

    class _Formatter(JsonFormatter):
        def add_fields(
            self, log_data: dict[str, Any], record: logging.LogRecord, message: dict[str, Any]
        ) -> None:
            super().add_fields(log_data, record, message)
            if record.exc_info and record.exc_info[0] is not None:
                log_data["exc_type"] = record.exc_info[0].__name__

    return _Formatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "traceback"},
        timestamp="time",
        json_ensure_ascii=False,  # 汉字 as they are, not \uXXXX
    )
