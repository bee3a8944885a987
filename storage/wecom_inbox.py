"""WeCom callbacks kept until handled (``wecom_inbox``, bot/wecom/inbox.py)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdateRow, WeComInboxRow
from storage.vault import Vault, aad

__all__ = ["PERSON_LOCK_SPACE", "SqlWeComInbox"]

# The first key of the per-person advisory locks (PostgreSQL): "XC".
PERSON_LOCK_SPACE = 0x5843
_LOCK = text("SELECT pg_advisory_xact_lock(:space, :key)")
_LOCK_AND_LOOK = text(
    "SELECT EXISTS (SELECT 1 FROM wecom_inbox WHERE person = :person AND id < :row),"
    " EXISTS (SELECT 1 FROM wecom_inbox WHERE id = :row)"
    " FROM (SELECT pg_advisory_xact_lock(:space, :key)) AS locked"
)
_INBOX = WeComInboxRow.__table__
_PROCESSED = ProcessedUpdateRow.__table__
# Core statements on the tables, built once: the ORM's bulk DML would evaluate its criteria
# against the session's objects for every callback, and there are none to keep in step.
_INSERT: dict[bool, PgInsert | SqliteInsert] = {
    True: pg_insert(_INBOX),
    False: sqlite_insert(_INBOX),
}
_DONE = delete(_INBOX).where(_INBOX.c.id == bindparam("row"))
_MARK = {
    True: pg_insert(_PROCESSED).on_conflict_do_nothing(),
    False: sqlite_insert(_PROCESSED).on_conflict_do_nothing(),
}
# PostgreSQL: the delivery recorded and its row forgotten in one statement (one round trip
# per callback fewer); the DELETE in the WITH runs whether or not the INSERT adds a row.
_MARK_AND_DONE = (
    pg_insert(_PROCESSED)
    .values(key_index=bindparam("key_index"), at=bindparam("at"))
    .on_conflict_do_nothing()
    .add_cte(_DONE.cte("gone"))
)
_KEPT = select(WeComInboxRow.id, WeComInboxRow.key_index, WeComInboxRow.payload_ct).order_by(
    WeComInboxRow.id
)


class SqlWeComInbox:
    """WeCom callbacks kept until handled (see WeComInboxRow)."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    @property
    def _postgres(self) -> bool:
        return bool(self._s.get_bind().dialect.name == "postgresql")

    def _person(self, userid: str) -> str:
        return self._v.blind_index("wecom.inbox.person", userid)

    async def add(
        self, messages: Sequence[tuple[str, str, dict[str, Any]]], at: datetime
    ) -> dict[str, int]:
        """Keep these (delivery key, sender's userid, message as JSON); return the new rows'
        ids by key.

        A key kept before (a retry of a delivery not handled yet) gets no row and no id.
        """
        rows, keys = [], {}
        for key, userid, data in messages:
            index = self._v.blind_index("update", key)
            if index in keys:
                continue
            keys[index] = key
            payload = self._v.encrypt_json(data, aad("wecom_inbox", index, "payload"))
            rows.append(
                {
                    "key_index": index,
                    "payload_ct": payload,
                    "at": at,
                    "person": self._person(userid),
                }
            )
        if not rows:
            return {}
        # INSERT .. ON CONFLICT DO NOTHING is the claim of the delivery: of two workers
        # handed the same retry, one keeps it.
        stmt = (
            _INSERT[self._postgres]
            .values(rows)
            .on_conflict_do_nothing()
            .returning(_INBOX.c.key_index, _INBOX.c.id)
        )
        return {keys[index]: int(row_id) for index, row_id in (await self._s.execute(stmt))}

    async def earlier(self, userid: str, row_id: int) -> builtins.list[tuple[int, dict[str, Any]]]:
        """The sender's callbacks kept before row ``row_id`` and not handled yet, oldest
        first (kept by another worker, or left by one that stopped)."""
        return await self._read(
            _KEPT.where(WeComInboxRow.person == self._person(userid), WeComInboxRow.id < row_id)
        )

    async def lock_person(self, userid: str, row_id: int | None = None) -> tuple[bool, bool]:
        """Hold the sender's lock until this transaction ends, so that one worker at a time
        handles a person's callbacks; with ``row_id``, say (a) whether the sender has
        callbacks kept before that row and not handled yet (kept by another worker, or
        left by one that stopped) and (b) whether that row is still kept (not handled by
        another worker meanwhile). Without ``row_id``: (False, True).

        PostgreSQL only: on SQLite (one process, one writer) it does nothing. One
        statement: its look at the rows reads the snapshot taken before the lock was
        granted, so right after another worker handled one it may still see it; handling
        it again stops at its claim (``processed_updates``), never doing it twice.
        """
        if not self._postgres:
            return False, True
        person = self._person(userid)
        params = {"space": PERSON_LOCK_SPACE, "key": int(person[:8], 16) - 2**31}
        if row_id is None:
            await self._s.execute(_LOCK, params)
            return False, True
        found = await self._s.execute(_LOCK_AND_LOOK, params | {"person": person, "row": row_id})
        earlier, mine = found.one()
        return bool(earlier), bool(mine)

    async def older(
        self, before: datetime, limit: int
    ) -> builtins.list[tuple[int, dict[str, Any]]]:
        """Callbacks kept before ``before`` and still not handled, oldest first: a worker
        that stopped (or crashed) left them."""
        return await self._read(_KEPT.where(WeComInboxRow.at < before).limit(limit))

    async def done(self, row_id: int) -> None:
        """Forget a kept callback (in the transaction that handles it)."""
        await self._s.execute(_DONE, {"row": row_id})

    async def handled(self, key: str, row_id: int | None, at: datetime) -> bool:
        """Record delivery ``key`` as handled (``processed_updates``, as
        ``ProcessedUpdates.mark`` does) and forget its kept row ``row_id``, in this
        transaction; False if the delivery was recorded before (the row goes either way)."""
        values = {"key_index": self._v.blind_index("update", key), "at": at}
        if row_id is None:
            result = await self._s.execute(_MARK[self._postgres], values)
        elif self._postgres:
            result = await self._s.execute(_MARK_AND_DONE, values | {"row": row_id})
        else:
            result = await self._s.execute(_MARK[False], values)
            await self.done(row_id)
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def kept(self) -> builtins.list[tuple[int, dict[str, Any]]]:
        """Every kept callback as (row id, message as JSON), in arrival order."""
        return await self._read(_KEPT)

    async def _read(
        self, stmt: Select[int, str, bytes]
    ) -> builtins.list[tuple[int, dict[str, Any]]]:
        return [
            (int(row_id), self._v.decrypt_json(blob, aad("wecom_inbox", index, "payload")))
            for row_id, index, blob in (await self._s.execute(stmt)).all()
        ]

    async def purge(self, before: datetime) -> int:
        """Forget callbacks kept since before ``before`` (handled or not)."""
        result = await self._s.execute(delete(WeComInboxRow).where(WeComInboxRow.at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
