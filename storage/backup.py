"""Database-level pieces of backup and restore, and the key checks at start-up.

- SQLite: a consistent snapshot with the online backup API (``sqlite3.Connection.backup``),
  readers and the service's writer go on meanwhile (WAL); restore copies pages back the
  same way.
- PostgreSQL: ``pg_dump`` in custom format inside an exported snapshot, so the row counts
  of the manifest and the dump describe the same instant; ``pg_restore`` to restore.
- Checks: does a database hold data (then keys must never be made anew), which key ids do
  its ciphertexts name, does every ciphertext open with a keyring.

Nothing here reads or writes a plaintext: counts, key ids and pass/fail only.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.rotation import ALL_ENCRYPTED_COLUMNS, EncryptedColumn
from storage.vault import Vault, VaultError

__all__ = [
    "PG_BIN_DIRS",
    "CiphertextCheck",
    "DatabaseFacts",
    "ToolMissing",
    "find_pg_tool",
    "holds_data",
    "key_ids_in_use",
    "known_revision",
    "pg_connection_env",
    "pg_dump_snapshot",
    "pg_restore",
    "sqlite_facts",
    "sqlite_path",
    "sqlite_restore",
    "sqlite_snapshot",
    "table_counts",
    "verify_ciphertexts",
]

# Where Debian/Ubuntu install the PostgreSQL client tools of each version.
PG_BIN_DIRS = "/usr/lib/postgresql/*/bin"
_SKIP_TABLES = frozenset({"alembic_version"})
# Tables whose rows cannot be read (or found) without the keyring that wrote them.
_KEYED_TABLES = tuple(
    dict.fromkeys(["cases", "officers", *(s.model.__tablename__ for s in ALL_ENCRYPTED_COLUMNS)])
)


class ToolMissing(Exception):
    """An external program (pg_dump, pg_restore) is not installed; ``name`` is which (the
    message, in English, says what to install)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class DatabaseFacts:
    """What a snapshot holds: its schema revision and rows per table."""

    revision: str | None
    counts: dict[str, int]


@dataclass
class CiphertextCheck:
    """How many ciphertexts of each column opened with the keyring, and how many did not."""

    opened: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def total_opened(self) -> int:
        """Ciphertexts that opened."""
        return sum(self.opened.values())

    @property
    def total_failed(self) -> int:
        """Ciphertexts that did not open."""
        return sum(self.failed.values())


def sqlite_path(url: str) -> Path:
    """The file of an SQLite database URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory database cannot be backed up or restored")
    return Path(database)


# -- counts and facts ------------------------------------------------------------------------


def _counts_sync(conn: Connection) -> dict[str, int]:
    names = sorted(set(inspect(conn).get_table_names()) - _SKIP_TABLES)
    return {
        name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in names
    }


async def table_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table (the migration bookkeeping table left out)."""
    return await conn.run_sync(_counts_sync)


def _revision_sync(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def _columns_sync(conn: Connection) -> dict[str, set[str]]:
    inspector = inspect(conn)
    return {
        name: {c["name"] for c in inspector.get_columns(name)}
        for name in inspector.get_table_names()
    }


async def _present(conn: AsyncConnection) -> list[EncryptedColumn]:
    """The encrypted columns this database's schema has: one at an older revision (before
    the start-up migration, or restored from an older backup) lacks the newer ones."""
    columns = await conn.run_sync(_columns_sync)
    return [
        spec
        for spec in ALL_ENCRYPTED_COLUMNS
        if {"id", spec.column, *spec.keys} <= columns.get(spec.model.__tablename__, set())
    ]


async def holds_data(engine: AsyncEngine) -> int | None:
    """None for a database without data; else the number of cases (maybe 0, when other
    rows that need the keyring exist, such as officers or drafts)."""

    def probe(conn: Connection) -> int | None:
        present = set(inspect(conn).get_table_names())
        probes = (
            select(text("1")).select_from(table(n)).limit(1) for n in _KEYED_TABLES if n in present
        )
        if not any(conn.execute(probe).first() for probe in probes):
            return None
        return int(conn.execute(text("SELECT count(*) FROM cases")).scalar_one())

    async with engine.connect() as conn:
        return await conn.run_sync(probe)


async def key_ids_in_use(
    engine: AsyncEngine, vault: Vault, *, sample: int = 20
) -> dict[str, set[str]]:
    """Key ids (by kind: content, delivery) named by a sample of ciphertexts: the oldest
    and newest rows of every encrypted column, where a stale or foreign keyring shows."""
    found: dict[str, set[str]] = {"content": set(), "delivery": set()}
    async with engine.connect() as conn:
        for spec in await _present(conn):
            col = getattr(spec.model, spec.column)
            pk = spec.model.id
            for order in (pk.asc(), pk.desc()):
                # No "IS NOT NULL" filter: on a sparse column (identities) it would walk the
                # whole index; the first and last rows are one index probe each.
                stmt = select(col).order_by(order).limit(sample)
                for (blob,) in (await conn.execute(stmt)).all():
                    if blob is None:
                        continue
                    try:
                        found[spec.kind].add(vault.key_id_of(bytes(blob)))
                    except VaultError:
                        found[spec.kind].add("?")
    return found


async def verify_ciphertexts(
    engine: AsyncEngine,
    vault: Vault,
    progress: Callable[[str, int], None] | None = None,
    *,
    batch: int = 500,
) -> CiphertextCheck:
    """Open every ciphertext of every encrypted column with the vault; count the results.
    What opened is dropped at once."""
    check = CiphertextCheck()
    async with engine.connect() as conn:
        for spec in await _present(conn):
            model = spec.model
            col = getattr(model, spec.column)
            keys = [getattr(model, k) for k in spec.keys]
            last, opened, failed = 0, 0, 0
            while True:
                stmt = (
                    select(model.id, col, *keys)
                    .where(model.id > last, col.is_not(None))
                    .order_by(model.id)
                    .limit(batch)
                )
                rows = (await conn.execute(stmt)).all()
                if not rows:
                    break
                for row_id, blob, *key in rows:
                    # A backup from before migration 0006 holds ciphertexts bound to the
                    # column only (the legacy purpose); that migration rebinds them.
                    purposes = [spec.bind(tuple(key))] + ([spec.legacy] if spec.legacy else [])
                    if any(_opens(vault, spec.kind, bytes(blob), p) for p in purposes):
                        opened += 1
                    else:
                        failed += 1
                    last = row_id
                if progress is not None:
                    progress(spec.name, opened + failed)
            check.opened[spec.name] = opened
            if failed:
                check.failed[spec.name] = failed
    return check


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know a schema revision (a backup made by a newer
    xinfang names one it does not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    import storage.migrate

    scripts = ScriptDirectory(str(Path(storage.migrate.__file__).parent / "migrations"))
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def _opens(vault: Vault, kind: str, blob: bytes, purpose: str) -> bool:
    try:
        if kind == "delivery":
            vault.open_contact(blob, purpose)
        else:
            vault.decrypt(blob, purpose)
    except (VaultError, ValueError):
        return False
    return True


# -- SQLite ----------------------------------------------------------------------------------


def sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy a live SQLite database into ``target`` (a new file) as one consistent snapshot;
    blocking: run it in a thread."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            # All pages in one step: one read transaction, so the copy is one instant even
            # while the service writes (WAL lets the writer go on); stepwise copying would
            # restart on every write by another connection.
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def sqlite_facts(path: Path) -> DatabaseFacts:
    """The schema revision and row counts of an SQLite file (a snapshot); blocking."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {
            # The names come from the file's own catalogue.
            name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608
            for name in sorted(tables)
            if name not in _SKIP_TABLES
        }
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = None if row is None else str(row[0])
    finally:
        conn.close()
    return DatabaseFacts(revision, counts)


def sqlite_restore(snapshot: Path, target: Path) -> None:
    """Write a snapshot into the database file ``target`` (created 0600, or replaced page
    by page); blocking."""
    if not target.parent.exists():
        target.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


# -- PostgreSQL ------------------------------------------------------------------------------


def find_pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``: on PATH, else the newest under
    /usr/lib/postgresql/*/bin; :class:`ToolMissing` says what to install."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        part = Path(path).parent.parent.name
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob.glob(f"{PG_BIN_DIRS}/{name}"), key=version, reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ToolMissing(
        f"{name} is not installed: install the PostgreSQL client tools of your server's "
        "version or newer (Debian/Ubuntu: apt install postgresql-client-15; RHEL: "
        f"dnf install postgresql15), or put {name} on PATH",
        name,
    )


def pg_connection_env(url: str) -> tuple[dict[str, str], str]:
    """libpq environment variables and the database name for a SQLAlchemy URL: the
    password goes in the environment, never on a command line others can see with ps."""
    u = make_url(url)
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", u.host or u.query.get("host")),
        ("PGPORT", str(u.port) if u.port else u.query.get("port")),
        ("PGUSER", u.username),
        ("PGPASSWORD", u.password),
    ):
        if isinstance(value, str) and value:
            env[name] = value
    ssl = u.query.get("sslmode") or u.query.get("ssl")
    if isinstance(ssl, str) and ssl:
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl.lower(), ssl)
    if not u.database:
        raise ValueError("the database URL names no database")
    return env, u.database


async def _run_tool(argv: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()
    if proc.returncode != 0:
        # The tools' messages name objects and connection problems, never row contents.
        last = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{Path(argv[0]).name} failed: {' / '.join(last)}")


async def pg_dump_snapshot(engine: AsyncEngine, url: str, target: Path) -> DatabaseFacts:
    """Dump the database to ``target`` (custom format) and count its rows, both inside one
    exported snapshot, so the counts describe exactly what was dumped."""
    tool = find_pg_tool("pg_dump")
    env, database = pg_connection_env(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            counts = await table_counts(conn)
            revision = await conn.run_sync(_revision_sync)
            argv = [tool, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"]
            await _run_tool([*argv, f"--dbname={database}"], env)
    os.chmod(target, 0o600)
    return DatabaseFacts(revision, counts)


async def pg_restore(url: str, dump: Path, *, clean: bool) -> None:
    """Load a custom-format dump into the database (one transaction); ``clean`` drops the
    objects it replaces first."""
    tool = find_pg_tool("pg_restore")
    env, database = pg_connection_env(url)
    argv = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        argv += ["--clean", "--if-exists"]
    await _run_tool([*argv, f"--dbname={database}", str(dump)], env)
