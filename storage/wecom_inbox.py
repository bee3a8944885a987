"""WeCom callbacks kept until handled (``wecom_inbox``, bot/wecom/inbox.py)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WeComInboxRow
from storage.vault import Vault, aad

__all__ = ["SqlWeComInbox"]


class SqlWeComInbox:
    """WeCom callbacks kept until handled (see WeComInboxRow)."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    async def add(
        self, messages: Sequence[tuple[str, dict[str, Any]]], at: datetime
    ) -> dict[str, int]:
        """Keep these (delivery key, message as JSON) pairs; return the new rows' ids by key.

        A key kept before (a retry of a delivery not handled yet) gets no row and no id.
        """
        rows, keys = [], {}
        for key, data in messages:
            index = self._v.blind_index("update", key)
            if index in keys:
                continue
            keys[index] = key
            payload = self._v.encrypt_json(data, aad("wecom_inbox", index, "payload"))
            rows.append({"key_index": index, "payload_ct": payload, "at": at})
        if not rows:
            return {}
        make = pg_insert if self._s.get_bind().dialect.name == "postgresql" else sqlite_insert
        # INSERT .. ON CONFLICT DO NOTHING is the claim of the delivery: of two workers
        # handed the same retry, one keeps it.
        stmt = (
            make(WeComInboxRow)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(WeComInboxRow.key_index, WeComInboxRow.id)
        )
        return {keys[index]: int(row_id) for index, row_id in (await self._s.execute(stmt))}

    async def done(self, row_id: int) -> None:
        """Forget a kept callback (in the transaction that handles it)."""
        await self._s.execute(delete(WeComInboxRow).where(WeComInboxRow.id == row_id))

    async def kept(self) -> builtins.list[tuple[int, dict[str, Any]]]:
        """Every kept callback as (row id, message as JSON), in arrival order."""
        stmt = select(
            WeComInboxRow.id, WeComInboxRow.key_index, WeComInboxRow.payload_ct
        ).order_by(WeComInboxRow.id)
        return [
            (int(row_id), self._v.decrypt_json(blob, aad("wecom_inbox", index, "payload")))
            for row_id, index, blob in (await self._s.execute(stmt)).all()
        ]

    async def purge(self, before: datetime) -> int:
        """Forget callbacks kept since before ``before`` (handled or not)."""
        result = await self._s.execute(delete(WeComInboxRow).where(WeComInboxRow.at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
