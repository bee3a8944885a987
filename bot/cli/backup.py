"""``xinfang backup --out FILE`` and ``xinfang restore FILE [--force]``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, config_of

__all__ = ["PASSPHRASE_ENV", "register"]

PASSPHRASE_ENV = "XINFANG_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name
MIN_PASSPHRASE = 12

_PASSPHRASE_HELP = (
    f"The passphrase comes from {PASSPHRASE_ENV}, else it is asked on the terminal. Keep it "
    "apart from the backups (a password manager, or sealed with the custodian): without it "
    "a backup cannot be restored, and with it and a backup anyone can read every petition."
)


def register(sub: Any) -> None:
    """Add ``backup`` and ``restore``."""
    backup = sub.add_parser(
        "backup",
        help="write an encrypted backup of the database and its keyring",
        description="Write one file, encrypted to a passphrase, with a consistent snapshot "
        "of the database (SQLite online backup, or pg_dump for PostgreSQL), the keyring and "
        "a manifest. The service may keep running.",
        epilog=_PASSPHRASE_HELP,
    )
    backup.add_argument("--out", type=Path, required=True, help="the backup file to create")
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser(
        "restore",
        help="restore a backup into an empty database and data directory, and verify it",
        description="Restore the database and the keyring from a backup, then verify the "
        "checksums, the row counts and that every ciphertext opens. The service must be "
        "stopped. Refuses a database or keyring that is not empty unless --force.",
        epilog=_PASSPHRASE_HELP,
    )
    restore.add_argument("file", type=Path, help="the backup file")
    restore.add_argument(
        "--force", action="store_true", help="replace a database and keyring that hold data"
    )
    restore.set_defaults(handler=_restore)


def _passphrase(*, confirm: bool) -> str:
    # A secret read by this command only, never from the configuration file (which is
    # often readable by more people than the backups' passphrase should be).
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise CliError(
            f"no backup passphrase: set {PASSPHRASE_ENV}, or run on a terminal to be asked"
        )
    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("the same passphrase again: ") != first:
        raise CliError("the two passphrases differ")
    return first


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, create_backup
    from storage.backup import ToolMissing

    settings = config_of(args)
    passphrase = _passphrase(confirm=True)
    if len(passphrase) < MIN_PASSPHRASE:
        raise CliError(f"the backup passphrase must have at least {MIN_PASSPHRASE} characters")
    try:
        result = await create_backup(settings, args.out, passphrase, _say)
    except (BackupError, ToolMissing, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    database = result.manifest["database"]
    rows = sum(database["tables"].values())
    print(
        f"backup written to {result.path} ({result.size / 1_000_000:.1f} MB, mode 0600): "
        f"{database['kind']} database at schema revision {database['schema_revision']}, "
        f"{database['tables'].get('cases', 0)} cases, {rows} rows, and the keyring"
    )
    print("Keep the passphrase apart from the backup; practise a restore (docs/operations.md).")
    return 0


async def _restore(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, restore_backup
    from storage.backup import ToolMissing

    settings = config_of(args)
    passphrase = _passphrase(confirm=False)
    try:
        result = await restore_backup(settings, args.file, passphrase, force=args.force, say=_say)
    except (BackupError, ToolMissing, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    manifest, database = result.manifest, result.manifest["database"]
    rows = sum(result.counts.values())
    check = result.ciphertexts
    print(
        f"restored the backup of {manifest.get('created_at')} "
        f"(xinfang {manifest.get('xinfang_version')}, {database['kind']})"
    )
    print(f"  checksums:   ok ({len(manifest['members'])} members)")
    revision_ok = result.revision == database["schema_revision"]
    print(f"  schema:      revision {result.revision}" + ("" if revision_ok else " — MISMATCH"))
    if result.count_mismatches:
        for table, (want, got) in result.count_mismatches.items():
            print(f"  rows:        {table}: {got}, the backup says {want} — MISMATCH")
    else:
        print(f"  rows:        ok ({len(result.counts)} tables, {rows} rows)")
    print(
        f"  ciphertexts: {check.total_opened} opened with the restored keyring, "
        f"{check.total_failed} failed"
    )
    for column, n in check.failed.items():
        print(f"    {column}: {n} failed")
    print(f"  keyring:     {result.keyring_file}")
    if not result.ok:
        print(
            "xinfang: the restore did NOT verify; do not start the service on it", file=sys.stderr
        )
        return 1
    print("The custodian's private key is not in backups: identities open with the key the")
    print("custodian keeps offline, as before. Start the service: `xinfang run`.")
    return 0
