"""Backup and restore: one passphrase-encrypted file holding a consistent snapshot of the
database and its keyring, with a manifest; a restore that verifies itself."""

from __future__ import annotations

from bot.backup.crypto import BackupError, DamagedBackup, WrongPassphrase
from bot.backup.operations import (
    BackupResult,
    RestoreResult,
    check_passphrase,
    create_backup,
    restore_backup,
)

__all__ = [
    "BackupError",
    "BackupResult",
    "DamagedBackup",
    "RestoreResult",
    "WrongPassphrase",
    "check_passphrase",
    "create_backup",
    "restore_backup",
]
