"""Keyring files on disk: creating them, loading them, and the embedded default."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from storage.vault import CustodianKey, Keyring, KeyringError, generate_custodian_key

__all__ = ["KeysCreated", "create_keys", "ensure_keys", "load_keyring", "write_private_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeysCreated:
    """Where new keys were written."""

    keyring_file: Path
    custodian_private_file: Path
    custodian_kid: str


def write_private_key(path: Path, custodian: CustodianKey) -> None:
    """Write the custodian's private key with mode 0600, never overwriting a file."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(custodian.private_pem)


def create_keys(keyring_file: Path, custodian_private_file: Path | None = None) -> KeysCreated:
    """Create a keyring and a custodian key pair; refuse to replace an existing keyring."""
    if keyring_file.exists():
        raise KeyringError(f"a keyring already exists at {keyring_file}; refusing to replace it")
    custodian = generate_custodian_key()
    private_path = custodian_private_file or keyring_file.parent / (
        f"custodian-{custodian.kid}.private.pem"
    )
    if private_path.exists():
        raise KeyringError(f"{private_path} already exists; choose another --custodian-out")
    write_private_key(private_path, custodian)
    Keyring.generate(custodian.public_raw, custodian.kid).save(keyring_file)
    return KeysCreated(keyring_file, private_path, custodian.kid)


def load_keyring(keyring_file: Path) -> Keyring:
    """Load a keyring, with an error that says how to create one."""
    if not keyring_file.exists():
        raise KeyringError(
            f"no keyring at {keyring_file}. Create one with `xinfang keys init` "
            "(or set XINFANG_KEYRING_FILE)."
        )
    mode = keyring_file.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("keyring %s is readable by others (mode %o); chmod 600 it", keyring_file, mode)
    return Keyring.load(keyring_file)


def ensure_keys(keyring_file: Path, *, embedded: bool) -> Keyring:
    """Load the keyring; on the embedded default, create one on first run with a warning."""
    if not keyring_file.exists() and embedded:
        created = create_keys(keyring_file)
        log.warning(
            "created new keys in %s. The custodian's private key is at %s: move it to "
            "offline storage now; the server does not need it, and whoever holds it can "
            "reveal the identities of real-name petitioners.",
            created.keyring_file.parent,
            created.custodian_private_file,
        )
    return load_keyring(keyring_file)
