"""``xinfang backup`` and ``xinfang restore``: one encrypted file with a consistent
snapshot of the database and its keyring, and a restore that proves itself (checksums,
row counts, every ciphertext opened with the restored keyring)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backup.archive import KEYRING_MEMBER, read_archive, sha256_file, write_archive
from bot.backup.crypto import FORMAT, BackupError, DecryptingReader
from bot.keys import check_keyring, load_keyring
from bot.settings import Settings
from i18n import N_
from storage.backup import (
    CiphertextCheck,
    DatabaseFacts,
    known_revision,
    pg_dump_snapshot,
    pg_restore,
    sqlite_facts,
    sqlite_path,
    sqlite_restore,
    sqlite_snapshot,
    table_counts,
    verify_ciphertexts,
)
from storage.db import create_engine
from storage.lock import service_lock
from storage.migrate import current_revision
from storage.vault import Keyring, KeyringError, Vault

__all__ = [
    "BackupResult",
    "RestoreResult",
    "Say",
    "check_passphrase",
    "create_backup",
    "restore_backup",
]


class Say(Protocol):
    """Where progress goes: a message id (``backup.progress.*``) and its fields, for the
    caller to word in its language (the English catalog has the lines as they always were,
    sub-steps indented by two spaces)."""

    def __call__(self, message_id: str, /, **params: object) -> None: ...


T = TypeVar("T")
_EVERY = 2.0  # seconds between progress lines


def _quiet(_message_id: str, /, **_params: object) -> None:
    pass


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _version() -> str:
    try:
        return metadata.version("xinfang")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Meter:
    """Turns (done, total) byte counts into a progress line every few seconds; ``message``
    is its id (fields done, total, percent)."""

    def __init__(self, say: Say, message: str) -> None:
        self._say, self._message, self._last = say, message, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= _EVERY:
            self._last = now
            percent = 100 * done // total if total else 100
            self._say(self._message, done=_mb(done), total=_mb(total), percent=percent)


async def _watching(work: Awaitable[T], path: Path, say: Say, message: str) -> T:
    """Await ``work`` and say every few seconds how large ``path`` has grown (``message``:
    its id, field size)."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=_EVERY)
        if done:
            return task.result()
        size = _size(path)
        if size is not None:
            say(message, size=_mb(size))


# -- backup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    """A written backup: where, how large, and its manifest."""

    path: Path
    size: int
    manifest: dict[str, Any]


async def create_backup(
    settings: Settings, out: Path, passphrase: str, say: Say = _quiet
) -> BackupResult:
    """Write a consistent snapshot of the database and its keyring as one file encrypted
    to ``passphrase`` (mode 0600). The service may keep running meanwhile."""
    ring, keyring_bytes, kind = _prepare(settings, out)
    engine = create_engine(settings.database_url)
    # The snapshot (ciphertexts and blind indexes, as in the database itself) waits next
    # to the output, in a private directory, and is removed whatever happens.
    work = Path(tempfile.mkdtemp(prefix=".xinfang-backup-", dir=out.parent))
    try:
        # A backup whose keyring cannot read its database would fail only on restore day.
        await check_keyring(engine, ring, settings.keyring_file)
        say(N_("backup.progress.snapshot"), kind=kind)
        facts: DatabaseFacts
        if kind == "sqlite":
            member = work / "database.sqlite"
            source = sqlite_path(settings.database_url)
            await _watching(
                asyncio.to_thread(sqlite_snapshot, source, member),
                member,
                say,
                N_("backup.progress.snapshot_size"),
            )
            facts = await asyncio.to_thread(sqlite_facts, member)
        else:
            member = work / "database.pgdump"
            facts = await _watching(
                pg_dump_snapshot(engine, settings.database_url, member),
                member,
                say,
                N_("backup.progress.pg_dump_size"),
            )
        size = member.stat().st_size
        say(N_("backup.progress.snapshot_done"), size=_mb(size), rows=sum(facts.counts.values()))
        manifest = {
            "format": FORMAT,
            "xinfang_version": _version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {
                "kind": kind,
                "member": member.name,
                "schema_revision": facts.revision,
                "tables": facts.counts,
            },
            # Key ids only: the keys themselves are in the encrypted keyring member.
            "keyring": {
                "content": sorted(ring.content),
                "delivery": sorted(ring.delivery),
                "custodian": sorted(ring.custodian_public),
            },
            "members": {
                KEYRING_MEMBER: {
                    "sha256": _sha256(keyring_bytes),
                    "size": len(keyring_bytes),
                },
                member.name: {
                    "sha256": await asyncio.to_thread(sha256_file, member),
                    "size": size,
                },
            },
        }
        say(N_("backup.progress.encrypting"))
        await asyncio.to_thread(
            write_archive,
            out,
            passphrase,
            manifest,
            keyring_bytes,
            (member.name, member),
            _Meter(say, N_("backup.progress.encrypted")),
        )
    finally:
        await engine.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return BackupResult(out, _size(out) or 0, manifest)


def _prepare(settings: Settings, out: Path) -> tuple[Keyring, bytes, str]:
    """Check the output and the sources before any work; read the keyring."""
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name", "exists", path=out)
    if not out.parent.is_dir():
        raise BackupError(
            f"directory {out.parent} does not exist", "no_directory", path=out.parent
        )
    ring = load_keyring(settings.keyring_file)
    keyring_bytes = settings.keyring_file.read_bytes()
    kind = "sqlite" if settings.embedded else "postgresql"
    if kind == "sqlite" and not sqlite_path(settings.database_url).exists():
        where = sqlite_path(settings.database_url)
        raise BackupError(f"there is no database at {where}", "no_database", path=where)
    return ring, keyring_bytes, kind


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- restore ---------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    """What a restore found: the manifest and the results of every check."""

    manifest: dict[str, Any]
    keyring_file: Path
    revision: str | None
    counts: dict[str, int]
    count_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    ciphertexts: CiphertextCheck = field(default_factory=CiphertextCheck)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return (
            not self.count_mismatches
            and self.ciphertexts.total_failed == 0
            and self.revision == self.manifest["database"]["schema_revision"]
        )


def check_passphrase(path: Path, passphrase: str) -> None:
    """Raise :class:`BackupError` unless ``path`` is a backup made with ``passphrase``
    (reads the header only); blocking."""
    if not path.is_file():
        raise BackupError(f"there is no backup file at {path}", "no_backup", path=path)
    with path.open("rb") as fh:
        DecryptingReader(fh, passphrase)


async def restore_backup(
    settings: Settings, backup: Path, passphrase: str, *, force: bool = False, say: Say = _quiet
) -> RestoreResult:
    """Restore a backup into an empty database and data directory (``force`` replaces a
    non-empty one) and verify it; refuses while the service runs."""
    # A wrong passphrase is told before anything is touched.
    await asyncio.to_thread(check_passphrase, backup, passphrase)
    kind = "sqlite" if settings.embedded else "postgresql"
    engine = create_engine(settings.database_url)
    try:
        async with service_lock(engine, exclusive=True):
            return await _restore(settings, backup, passphrase, force, say, kind, engine)
    finally:
        await engine.dispose()


async def _restore(
    settings: Settings,
    backup: Path,
    passphrase: str,
    force: bool,
    say: Say,
    kind: str,
    engine: AsyncEngine,
) -> RestoreResult:
    async with engine.connect() as conn:
        existing = await table_counts(conn)
    rows, cases = sum(existing.values()), existing.get("cases", 0)
    keyring_file = settings.keyring_file
    problems = []
    if rows:
        problems.append(f"the database holds {rows} rows ({cases} cases)")
    if keyring_file.exists():
        problems.append(f"a keyring exists at {keyring_file}")
    if problems and not force:
        raise BackupError(
            "refusing to restore: "
            + " and ".join(problems)
            + "; restore into an empty data directory and database, or give --force to "
            "replace them",
            "not_empty",
            rows=rows,
            cases=cases,
            keyring=keyring_file if keyring_file.exists() else None,
        )
    if kind == "sqlite":
        workdir_parent = sqlite_path(settings.database_url).parent
    else:
        workdir_parent = settings.data_dir
    workdir_parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix=".xinfang-restore-", dir=workdir_parent))
    try:
        say(N_("backup.progress.decrypting"))
        unpacked = await asyncio.to_thread(
            read_archive, backup, passphrase, work, _Meter(say, N_("backup.progress.decrypted"))
        )
        manifest = unpacked.manifest
        database = manifest.get("database", {})
        if database.get("kind") != kind:
            raise BackupError(
                f"this is a backup of a {database.get('kind')} database; the configured "
                f"database is {kind} (XINFANG_DATABASE_URL)",
                "wrong_kind",
                backup=database.get("kind"),
                kind=kind,
            )
        revision = database.get("schema_revision")
        if revision is not None and not known_revision(revision):
            raise BackupError(
                f"the backup's schema revision {revision} is newer than this xinfang "
                f"({_version()}) knows: restore with the version that made it "
                f"({manifest.get('xinfang_version')}) or newer",
                "newer_revision",
                revision=revision,
                version=_version(),
                made_by=manifest.get("xinfang_version"),
            )
        try:
            ring = Keyring.from_json(unpacked.keyring.decode("utf-8"))
        except (KeyringError, UnicodeDecodeError):
            raise BackupError("the backup's keyring is malformed", "bad_keyring") from None
        say(N_("backup.progress.checksums"), created=manifest.get("created_at"))
        say(N_("backup.progress.restoring"))
        if kind == "sqlite":
            await engine.dispose()  # the restore writes through its own connection
            await asyncio.to_thread(
                sqlite_restore, unpacked.database, sqlite_path(settings.database_url)
            )
        else:
            await pg_restore(settings.database_url, unpacked.database, clean=bool(existing))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ring.save(keyring_file)
    say(N_("backup.progress.keyring"), path=keyring_file, mode="0600")
    await engine.dispose()
    say(N_("backup.progress.verifying"))
    async with engine.connect() as conn:
        counts = await table_counts(conn)
    result = RestoreResult(manifest, keyring_file, await current_revision(engine), counts)
    expected: dict[str, int] = database.get("tables", {})
    for table in sorted(set(expected) | set(counts)):
        if expected.get(table) != counts.get(table):
            result.count_mismatches[table] = (expected.get(table, 0), counts.get(table, 0))

    last = [time.monotonic()]

    def progress(column: str, done: int) -> None:
        if time.monotonic() - last[0] >= _EVERY:
            last[0] = time.monotonic()
            say(N_("backup.progress.checked"), column=column, count=done)

    result.ciphertexts = await verify_ciphertexts(engine, Vault(ring), progress)
    return result
