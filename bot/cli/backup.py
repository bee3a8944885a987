"""``xinfang backup --out FILE`` and ``xinfang restore FILE [--force]``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_

__all__ = ["PASSPHRASE_ENV", "register"]

PASSPHRASE_ENV = "XINFANG_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name
MIN_PASSPHRASE = 12
# bot/backup says why a backup cannot be written or read in English (the exception's
# text) and as a code; the CLI words the code in its language.
_ERRORS = {
    "not_backup": N_("cli.backup.error_not_backup"),
    "damaged_header": N_("cli.backup.error_damaged_header"),
    "unknown_format": N_("cli.backup.error_unknown_format"),
    "damaged_kdf": N_("cli.backup.error_damaged_kdf"),
    "wrong_passphrase": N_("cli.backup.error_wrong_passphrase"),
    "cut_short": N_("cli.backup.error_cut_short"),
    "altered": N_("cli.backup.error_altered"),
    "trailing_data": N_("cli.backup.error_trailing_data"),
    "appeared": N_("cli.backup.error_appeared"),
    "unexpected_members": N_("cli.backup.error_unexpected_members"),
    "damaged_archive": N_("cli.backup.error_damaged_archive"),
    "damaged_manifest": N_("cli.backup.error_damaged_manifest"),
    "member_missing": N_("cli.backup.error_member_missing"),
    "checksum": N_("cli.backup.error_checksum"),
    "members_mismatch": N_("cli.backup.error_members_mismatch"),
    "exists": N_("cli.backup.error_exists"),
    "no_directory": N_("cli.backup.error_no_directory"),
    "no_database": N_("cli.backup.error_no_database"),
    "no_backup": N_("cli.backup.error_no_backup"),
    "wrong_kind": N_("cli.backup.error_wrong_kind"),
    "newer_revision": N_("cli.backup.error_newer_revision"),
    "bad_keyring": N_("cli.backup.error_bad_keyring"),
}


def _error(exc: Exception) -> str:
    """Why a backup or restore failed, in the CLI's language."""
    from storage.backup import ToolMissing

    if cli_locale() == "en":
        return str(exc)
    if isinstance(exc, ToolMissing):
        return t(
            "cli.backup.error_tool_missing",
            name=exc.name,
            postgres="PostgreSQL",
            debian_name="Debian/Ubuntu",
            debian="apt install postgresql-client-15",
            rhel_name="RHEL",
            rhel="dnf install postgresql15",
            path="PATH",
        )
    code, params = getattr(exc, "code", ""), getattr(exc, "params", {})
    if code == "not_empty":
        parts = []
        if params.get("rows"):
            parts.append(
                t("cli.backup.error_holds_rows", rows=params["rows"], cases=params["cases"])
            )
        if params.get("keyring"):
            parts.append(t("cli.backup.error_keyring_exists", path=params["keyring"]))
        return t("cli.backup.error_not_empty", problems="，".join(parts), force="--force")
    key = _ERRORS.get(code)
    if key is None:
        return str(exc)
    return t(key, **params, prog="xinfang", env="XINFANG_DATABASE_URL")


def register(sub: Any) -> None:
    """Add ``backup`` and ``restore``."""
    passphrase_help = t("cli.backup.passphrase_help", env=PASSPHRASE_ENV)
    backup = sub.add_parser(
        "backup",
        help=t("cli.backup.help"),
        description=t(
            "cli.backup.description", sqlite="SQLite", pg_dump="pg_dump", postgres="PostgreSQL"
        ),
        epilog=passphrase_help,
    )
    backup.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar=t("cli.metavar.out"),
        help=t("cli.backup.out_help"),
    )
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser(
        "restore",
        help=t("cli.backup.restore_help"),
        description=t("cli.backup.restore_description", force="--force"),
        epilog=passphrase_help,
    )
    restore.add_argument(
        "file", type=Path, metavar=t("cli.metavar.file"), help=t("cli.backup.file_help")
    )
    restore.add_argument("--force", action="store_true", help=t("cli.backup.force_help"))
    restore.set_defaults(handler=_restore)


def _passphrase(*, confirm: bool) -> str:
    # A secret read by this command only, never from the configuration file (which is
    # often readable by more people than the backups' passphrase should be).
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise CliError(t("cli.backup.no_passphrase", env=PASSPHRASE_ENV))
    first = getpass.getpass(t("cli.backup.ask_passphrase"))
    if confirm and getpass.getpass(t("cli.backup.ask_again")) != first:
        raise CliError(t("cli.backup.passphrases_differ"))
    return first


def _say(message_id: str, /, **params: object) -> None:
    """A progress line of bot/backup in the CLI's language, on stderr."""
    print(t(message_id, **params), file=sys.stderr, flush=True)


async def _backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, create_backup
    from storage.backup import ToolMissing

    settings = config_of(args)
    passphrase = _passphrase(confirm=True)
    if len(passphrase) < MIN_PASSPHRASE:
        raise CliError(t("cli.backup.passphrase_short", min=MIN_PASSPHRASE))
    try:
        result = await create_backup(settings, args.out, passphrase, _say)
    except (BackupError, ToolMissing, RuntimeError) as exc:
        raise CliError(_error(exc)) from None
    database = result.manifest["database"]
    rows = sum(database["tables"].values())
    print(
        t(
            "cli.backup.written",
            path=result.path,
            size=f"{result.size / 1_000_000:.1f}",
            kind=database["kind"],
            revision=database["schema_revision"],
            cases=database["tables"].get("cases", 0),
            rows=rows,
        )
    )
    print(t("cli.backup.keep_apart", doc="docs/operations.md"))
    return 0


async def _restore(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, restore_backup
    from storage.backup import ToolMissing

    settings = config_of(args)
    passphrase = _passphrase(confirm=False)
    try:
        result = await restore_backup(settings, args.file, passphrase, force=args.force, say=_say)
    except (BackupError, ToolMissing, RuntimeError) as exc:
        raise CliError(_error(exc)) from None
    manifest, database = result.manifest, result.manifest["database"]
    rows = sum(result.counts.values())
    check = result.ciphertexts
    print(
        t(
            "cli.backup.restored",
            created=manifest.get("created_at"),
            version=f"xinfang {manifest.get('xinfang_version')}",
            kind=database["kind"],
        )
    )
    print(t("cli.backup.checksums", members=len(manifest["members"])))
    revision_ok = result.revision == database["schema_revision"]
    mismatch = "" if revision_ok else t("cli.backup.mismatch")
    print(t("cli.backup.schema", revision=result.revision, mismatch=mismatch))
    if result.count_mismatches:
        for table, (want, got) in result.count_mismatches.items():
            print(t("cli.backup.rows_mismatch", table=table, got=got, want=want))
    else:
        print(t("cli.backup.rows_ok", tables=len(result.counts), rows=rows))
    print(t("cli.backup.ciphertexts", opened=check.total_opened, failed=check.total_failed))
    for column, n in check.failed.items():
        print(t("cli.backup.column_failed", column=column, count=n))
    print(t("cli.backup.keyring", path=result.keyring_file))
    if not result.ok:
        print(t("cli.backup.not_verified", prog="xinfang"), file=sys.stderr)
        return 1
    print(t("cli.backup.custodian_note", run="xinfang run"))
    return 0
