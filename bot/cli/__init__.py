"""The ``xinfang`` command line: one module per command group, each with ``register``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli import (
    audit,
    backup,
    identity,
    keys,
    officers,
    outbox,
    reception,
    retention,
    search,
    service,
    stats,
    units,
    warnings,
)
from bot.cli.common import CliError, config_of, setup_logging
from bot.settings import SettingsError
from petitions.errors import DomainError
from storage.vault import KeyringError, VaultError

__all__ = ["build_parser", "main"]

# Each module adds its commands and sets ``handler`` on their parsers.
GROUPS = (
    service,
    keys,
    identity,
    units,
    officers,
    outbox,
    stats,
    backup,
    audit,
    retention,
    search,
    reception,
    warnings,  # early warning (四早): bot/cli/warnings.py
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="xinfang",
        description="xinfang — a petition (信访) chatbot for Telegram, WeCom and the web.",
        epilog="Channels: Telegram (TELEGRAM_BOT_TOKEN), WeCom (WECOM_*) and the web pages "
        "(XINFANG_WEB=true: the employee page and the officers' page on the HTTP server); "
        "with none, `xinfang run` starts local mode. Configuration comes from XINFANG_*, "
        "TELEGRAM_* and WECOM_* environment variables, or a TOML file (--config). "
        "See README.md.",
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--version", action="version", version="xinfang 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xinfang`` console script."""
    args = build_parser().parse_args(argv)
    try:
        config = config_of(args)
    except SettingsError as exc:
        print(f"xinfang: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    try:
        result: int = asyncio.run(args.handler(args))
        return result
    except KeyboardInterrupt:
        return 130
    except (SettingsError, KeyringError, VaultError, CliError) as exc:
        print(f"xinfang: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"xinfang: {exc.code.replace('_', ' ')}", file=sys.stderr)
        return 1
    except Exception as exc:  # a clean message instead of a traceback full of locals
        from bot.disclosure import DisclosureError

        if isinstance(exc, DisclosureError):
            print(f"xinfang: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):
            print(f"xinfang: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
