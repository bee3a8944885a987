"""What is inside a backup file: a tar stream (manifest, keyring, database) that is
encrypted as it is written and authenticated as it is read (bot/backup/crypto.py).

Nothing is written to disk in plaintext except the database member, which holds the
same ciphertexts and blind indexes as the live database; the keyring stays in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.backup.crypto import BackupError, DamagedBackup, DecryptingReader, EncryptingWriter

__all__ = [
    "KEYRING_MEMBER",
    "MANIFEST_MEMBER",
    "Unpacked",
    "read_archive",
    "sha256_file",
    "write_archive",
]

MANIFEST_MEMBER = "manifest.json"
KEYRING_MEMBER = "keyring.json"
DATABASE_MEMBERS = frozenset({"database.sqlite", "database.pgdump"})
_SMALL = 1 << 20  # manifest and keyring are a few kilobytes
_BUF = 1 << 20

Tick = Callable[[int, int], None]  # (bytes done, bytes in all)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BUF):
            digest.update(block)
    return digest.hexdigest()


class _Counting:
    """A file wrapper that reports how much has been read."""

    def __init__(self, fh: IO[bytes], tick: Tick | None, total: int, base: int) -> None:
        self._fh, self._tick, self._total, self._base, self.done = fh, tick, total, base, 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.done += len(data)
        if self._tick is not None:
            self._tick(self._base + self.done, self._total)
        return data


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info  # uid/gid 0 and no user names: nothing about the server's accounts


def write_archive(
    out: Path,
    passphrase: str,
    manifest: dict[str, Any],
    keyring: bytes,
    database: tuple[str, Path],
    tick: Tick | None = None,
) -> None:
    """Write the encrypted backup file (mode 0600, created new; atomic rename at the end);
    blocking."""
    name, path = database
    tmp = out.with_name(out.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer = EncryptingWriter(fh, passphrase)
            manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
            size = path.stat().st_size
            mtime = path.stat().st_mtime
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                tar.addfile(
                    _info(MANIFEST_MEMBER, len(manifest_bytes), mtime), io.BytesIO(manifest_bytes)
                )
                tar.addfile(_info(KEYRING_MEMBER, len(keyring), mtime), io.BytesIO(keyring))
                with path.open("rb") as db:
                    tar.addfile(_info(name, size, mtime), _Counting(db, tick, size, 0))
            writer.close()
            fh.flush()
            os.fsync(fh.fileno())
        if out.exists():
            raise BackupError(f"{out} appeared meanwhile; not replacing it", "appeared", path=out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class Unpacked:
    """A backup's contents after every check passed: the database member is on disk."""

    manifest: dict[str, Any]
    keyring: bytes
    database: Path


def read_archive(path: Path, passphrase: str, workdir: Path, tick: Tick | None = None) -> Unpacked:
    """Decrypt and unpack a backup into ``workdir`` (the database member only), verifying
    authenticity to the last byte and each member's SHA-256 against the manifest; blocking.
    Raises :class:`BackupError` (wrong passphrase, damaged, altered, incomplete)."""
    total = path.stat().st_size
    with path.open("rb") as fh:
        reader = DecryptingReader(fh, passphrase)
        manifest: dict[str, Any] | None = None
        keyring: bytes | None = None
        database: Path | None = None
        digests: dict[str, str] = {}
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if not member.isfile() or member.name in digests:
                        raise DamagedBackup(
                            "the backup file holds unexpected members", "unexpected_members"
                        )
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    digest = hashlib.sha256()
                    if member.name in (MANIFEST_MEMBER, KEYRING_MEMBER):
                        if member.size > _SMALL:
                            raise DamagedBackup(
                                "the backup file holds unexpected members", "unexpected_members"
                            )
                        data = source.read()
                        digest.update(data)
                        if member.name == MANIFEST_MEMBER:
                            manifest = json.loads(data)
                        else:
                            keyring = data
                    elif member.name in DATABASE_MEMBERS and manifest is not None:
                        database = workdir / member.name
                        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as out:
                            while block := source.read(_BUF):
                                digest.update(block)
                                out.write(block)
                                if tick is not None:
                                    tick(fh.tell(), total)
                    else:
                        raise DamagedBackup(
                            "the backup file holds unexpected members", "unexpected_members"
                        )
                    digests[member.name] = digest.hexdigest()
            reader.finish()
        except tarfile.TarError:
            raise DamagedBackup(
                "the backup file is damaged (archive)", "damaged_archive"
            ) from None
        except (ValueError, UnicodeDecodeError):
            raise DamagedBackup(
                "the backup file is damaged (manifest)", "damaged_manifest"
            ) from None
    if manifest is None or keyring is None or database is None:
        raise DamagedBackup(
            "the backup file is incomplete (a member is missing)", "member_missing"
        )
    expected = manifest.get("members", {})
    for name, digest_hex in digests.items():
        if name == MANIFEST_MEMBER:
            continue
        if expected.get(name, {}).get("sha256") != digest_hex:
            raise DamagedBackup(
                f"checksum of {name} does not match the manifest", "checksum", name=name
            )
    if set(expected) != set(digests) - {MANIFEST_MEMBER}:
        raise DamagedBackup("the backup's members do not match its manifest", "members_mismatch")
    return Unpacked(manifest, keyring, database)
