"""Keyring files on disk: creating them, loading them, and the embedded default."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from storage.backup import holds_data, key_ids_in_use
from storage.custody import find_private_keys
from storage.vault import CustodianKey, Keyring, KeyringError, Vault, generate_custodian_key

__all__ = [
    "TRIAL_WARNING",
    "KeysCreated",
    "check_keyring",
    "create_keys",
    "ensure_keys",
    "load_keyring",
    "open_keyring",
    "private_keys_on_server",
    "refuse_private_keys_on_server",
    "write_private_key",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeysCreated:
    """Where new keys were written."""

    keyring_file: Path
    custodian_private_file: Path | None  # None: only a public key was given
    custodian_kid: str


TRIAL_WARNING = (
    "FOR TRYING ONLY: this custodian key was made on this machine and its private half is "
    "NOT encrypted ({path}). Whoever can read that file can reveal every real-name "
    "petitioner. For real use, each custodian makes a key on their own machine "
    "(`xinfang keys custodian-new --out FILE`) and the server gets only the public half "
    "(`xinfang keys custodian-add FILE.pub.pem --name NAME --replaces {kid}`); see "
    "docs/custody.md. `xinfang run` refuses to serve channels while this file is here."
)


def write_private_key(path: Path, custodian: CustodianKey) -> None:
    """Write the custodian's private key with mode 0600, never overwriting a file."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(custodian.private_pem)


def create_keys(
    keyring_file: Path,
    custodian_private_file: Path | None = None,
    *,
    custodian_public: bytes | None = None,
    custodian_name: str = "",
) -> KeysCreated:
    """Create a keyring; refuse to replace an existing one. With ``custodian_public`` (a key
    made off the server) no private key is written; without it a trial key pair is made
    and its private half written unencrypted (local mode only: see TRIAL_WARNING)."""
    if keyring_file.exists():
        raise KeyringError(f"a keyring already exists at {keyring_file}; refusing to replace it")
    if custodian_public is not None:
        kid = f"k{secrets.token_hex(4)}"
        Keyring.generate(custodian_public, kid, custodian_name).save(keyring_file)
        return KeysCreated(keyring_file, None, kid)
    custodian = generate_custodian_key()
    private_path = custodian_private_file or keyring_file.parent / (
        f"custodian-{custodian.kid}.private.pem"
    )
    if private_path.exists():
        raise KeyringError(f"{private_path} already exists; choose another --custodian-out")
    write_private_key(private_path, custodian)
    Keyring.generate(custodian.public_raw, custodian.kid, custodian_name).save(keyring_file)
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
            "created new keys in %s. %s",
            created.keyring_file.parent,
            TRIAL_WARNING.format(path=created.custodian_private_file, kid=created.custodian_kid),
        )
    return load_keyring(keyring_file)


def private_keys_on_server(settings: Settings) -> list[Path]:
    """Custodian (or other PEM) private key files in the data or keyring directory."""
    return find_private_keys({settings.data_dir, settings.keyring_file.parent})


def refuse_private_keys_on_server(settings: Settings) -> None:
    """Stop `xinfang run` while a private key sits next to the data, unless
    XINFANG_ALLOW_CUSTODIAN_KEY_ON_SERVER=true: keys on the server defeat recorded
    disclosure (whoever reads the file opens identities without any audit row)."""
    if settings.allow_custodian_key_on_server:
        return
    found = private_keys_on_server(settings)
    if found:
        raise KeyringError(
            "refusing to start: a private key sits on this server ("
            + ", ".join(str(p) for p in found)
            + "). Move custodian private keys offline (docs/custody.md), or set "
            "XINFANG_ALLOW_CUSTODIAN_KEY_ON_SERVER=true to start anyway."
        )


_RESTORE_HINT = (
    "Put the keyring that belongs to this database there (or point XINFANG_KEYRING_FILE at "
    "it), or restore the database and its keyring together with `xinfang restore BACKUP`."
)


async def open_keyring(keyring_file: Path, engine: AsyncEngine, *, embedded: bool) -> Keyring:
    """Load the keyring of this database. New keys are made only for a database without
    data (first run on the embedded default); a database that holds data and has no
    keyring, or a keyring without the keys its data was encrypted with, stops the start."""
    if not keyring_file.exists():  # noqa: ASYNC240 - one stat at start-up
        cases = await holds_data(engine)
        if cases is not None:
            # New keys could not read a single row, and would be used for new rows, mixing
            # two keyrings in one database: stop instead.
            raise KeyringError(
                f"the database already holds data ({cases} cases) but there is no keyring at "
                f"{keyring_file}, so nothing in it could be read; no new keys were made. "
                + _RESTORE_HINT
            )
    ring = ensure_keys(keyring_file, embedded=embedded)
    await check_keyring(engine, ring, keyring_file)
    return ring


async def check_keyring(engine: AsyncEngine, ring: Keyring, keyring_file: Path) -> None:
    """Refuse a keyring that lacks a key named by the database's ciphertexts (checked on a
    sample: the oldest and newest rows of every encrypted column)."""
    used = await key_ids_in_use(engine, Vault(ring))
    missing = sorted(used["content"] - set(ring.content)) + sorted(
        used["delivery"] - set(ring.delivery)
    )
    if missing:
        raise KeyringError(
            f"the keyring at {keyring_file} does not belong to this database: it lacks the "
            f"key(s) {', '.join(missing)} that the data was encrypted with. " + _RESTORE_HINT
        )
