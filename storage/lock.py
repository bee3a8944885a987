"""The service lock: ``xinfang run`` holds it shared; key rotation and restore hold it
exclusively, so they refuse to run beside the service (and the service refuses to start
while they run).

Why: the running service keeps the active keys in memory and writes with them. A rotation
beside it would retire those keys, and every row written meanwhile would become unreadable
after the next restart; a restore beside it would swap the database under its feet.

- SQLite: an ``fcntl.flock`` on ``xinfang.lock`` next to the database file (by default
  ``<data dir>/xinfang.lock``). The kernel drops it when the process dies.
- PostgreSQL: a session advisory lock (:data:`SERVICE_LOCK`), shared or exclusive, on one
  connection held for as long as the lock. The server drops it when the session ends, so
  it covers every host that shares the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.vault import KeyringError

__all__ = ["SERVICE_LOCK", "ServiceLockBusy", "lock_file_of", "service_lock"]

# Another constant than the delivery leadership lock (bot/runner.py, 0x58494E46).
SERVICE_LOCK = 0x58494E4B


class ServiceLockBusy(KeyringError):
    """Someone else holds the service lock in a conflicting mode; the message says who and
    what to do. (A KeyringError: the lock guards the keys, and every command shows those
    as one line.)"""

    def __init__(self, lock: str, *, exclusive: bool) -> None:
        self.lock = lock
        if exclusive:
            message = (
                f"the service is running (it holds {lock}): stop it first (for example "
                "`systemctl stop xinfang`), then run this again"
            )
        else:
            message = (
                f"key rotation or a restore is running (it holds {lock}): wait for it to "
                "finish, then start the service"
            )
        super().__init__(message)


def lock_file_of(engine: AsyncEngine) -> Path | None:
    """The lock file of an SQLite database (None for PostgreSQL or an in-memory one)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().parent / "xinfang.lock"


@contextlib.asynccontextmanager
async def service_lock(engine: AsyncEngine, *, exclusive: bool) -> AsyncIterator[str]:
    """Hold the service lock (shared for the service, exclusive for rotation and restore);
    raise :class:`ServiceLockBusy` at once if it is held in a conflicting mode. Yields a
    description of the lock for messages."""
    path = lock_file_of(engine)
    if path is not None:
        with _file_lock(path, exclusive=exclusive):
            yield str(path)
        return
    if engine.dialect.name != "postgresql":  # an in-memory database: nobody to share with
        yield "none"
        return
    name = f"PostgreSQL advisory lock {SERVICE_LOCK}"
    take = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
    drop = "pg_advisory_unlock" if exclusive else "pg_advisory_unlock_shared"
    async with engine.connect() as conn:
        got = (await conn.execute(text(f"SELECT {take}(:key)"), {"key": SERVICE_LOCK})).scalar()
        await conn.commit()
        if not got:
            raise ServiceLockBusy(name, exclusive=exclusive)
        try:
            yield name
        finally:
            # The session may be gone (a database restart); then the lock is gone with it.
            with contextlib.suppress(Exception):
                await conn.execute(text(f"SELECT {drop}(:key)"), {"key": SERVICE_LOCK})
                await conn.commit()


@contextlib.contextmanager
def _file_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServiceLockBusy(str(path), exclusive=exclusive) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
