"""The ``xinfang`` command line: one module per command group, each with ``register``."""

from __future__ import annotations

import argparse
import asyncio
import errno
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
from bot.cli.common import CliError, CliParser, cli_locale, config_of, setup_logging, t
from bot.settings import SettingsError
from i18n import N_, translator
from petitions.errors import DomainError
from storage.custody import CustodyError
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

# OS errors an operator meets (a mistyped file name, a file of someone else's) in words;
# others keep the system's own text.
_OS_ERRORS = {
    errno.ENOENT: N_("cli.main.os_enoent"),
    errno.EACCES: N_("cli.main.os_eacces"),
    errno.EPERM: N_("cli.main.os_eacces"),
    errno.EISDIR: N_("cli.main.os_eisdir"),
    errno.ENOTDIR: N_("cli.main.os_enotdir"),
    errno.EEXIST: N_("cli.main.os_eexist"),
    errno.ENOSPC: N_("cli.main.os_enospc"),
}

# storage/custody.py says why a custodian key file cannot be made or read in English and as
# a code; the CLI words the code in its language.
_CUSTODY_ERRORS = {
    "passphrase_short": N_("cli.custody.passphrase_short"),
    "work_factor": N_("cli.custody.work_factor"),
    "not_key_file": N_("cli.custody.not_key_file"),
    "unknown_version": N_("cli.custody.unknown_version"),
    "unknown_kdf": N_("cli.custody.unknown_kdf"),
    "bad_kdf": N_("cli.custody.bad_kdf"),
    "wrong_passphrase": N_("cli.custody.wrong_passphrase"),
    "inconsistent": N_("cli.custody.inconsistent"),
    "not_private_key": N_("cli.custody.not_private_key"),
    "not_x25519": N_("cli.custody.not_x25519"),
    "private_given": N_("cli.custody.private_given"),
    "not_public_pem": N_("cli.custody.not_public_pem"),
    "not_x25519_public": N_("cli.custody.not_x25519_public"),
    "exists": N_("cli.custody.exists"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = CliParser(
        prog="xinfang",
        description=t("cli.main.description", prog="xinfang", telegram="Telegram"),
        epilog=t(
            "cli.main.epilog",
            telegram="Telegram",
            telegram_env="TELEGRAM_BOT_TOKEN",
            web_env="XINFANG_WEB=true",
            run="xinfang run",
            env_x="XINFANG_*",
            env_t="TELEGRAM_*",
            env_w="WECOM_*",
            config="--config",
            readme="README.md",
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar=t("cli.main.metavar_config"),
        help=t("cli.main.config_help"),
    )
    parser.add_argument(
        "--version", action="version", version="xinfang 0.1.0", help=t("cli.main.version_help")
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar=t("cli.main.metavar_command")
    )
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xinfang`` console script."""
    args = build_parser().parse_args(argv)
    try:
        config = config_of(args)
    except SettingsError as exc:
        error = _settings_error(exc)
        print(t("cli.main.config_error", prog="xinfang", error=error), file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    try:
        result: int = asyncio.run(args.handler(args))
        return result
    except KeyboardInterrupt:
        return 130
    except SettingsError as exc:
        print(f"xinfang: {_settings_error(exc)}", file=sys.stderr)
        return 2
    except (KeyringError, VaultError, CliError) as exc:
        print(f"xinfang: {_coded(exc)}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"xinfang: {_domain_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a clean message instead of a traceback full of locals
        from bot.disclosure import DisclosureError

        if isinstance(exc, DisclosureError):
            print(f"xinfang: {_coded(exc)}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):
            print(f"xinfang: {_os_error(exc)}: {exc.filename}", file=sys.stderr)
            return 1
        raise


def _domain_error(exc: DomainError) -> str:
    """A domain error's message: its code in English (as always), the message the chats
    show for it (``error.<code>``) in another language."""
    locale = cli_locale()
    if locale == "en":
        return exc.code.replace("_", " ")
    return translator().t(f"error.{exc.code}", locale, **exc.params)


def _settings_error(exc: SettingsError) -> str:
    """What is wrong with the configuration: the exception's English as always, its message
    id (``settings.*``) in another language; a file's OS error worded as _os_error does."""
    if cli_locale() == "en" or not exc.code:
        return str(exc)
    params = dict(exc.params)
    number = params.get("errno")
    key = _OS_ERRORS.get(number) if isinstance(number, int) else None
    if key:
        params["reason"] = t(key)
    return t(exc.code, **params)


def _coded(exc: Exception) -> str:
    """An error's (English) text, or in another language its code's catalog text: a code of
    storage/custody.py through _CUSTODY_ERRORS, a message id (bot/disclosure.py) as it is."""
    code: str = getattr(exc, "code", "")
    if cli_locale() == "en" or not code:
        return str(exc)
    key = _CUSTODY_ERRORS.get(code) if isinstance(exc, CustodyError) else code
    return t(key, **getattr(exc, "params", {})) if key else str(exc)


def _os_error(exc: OSError) -> str:
    key = _OS_ERRORS.get(exc.errno or 0)
    return t(key) if key and cli_locale() != "en" else str(exc.strerror)


if __name__ == "__main__":
    sys.exit(main())
