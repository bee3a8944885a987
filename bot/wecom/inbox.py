"""Keeping WeCom callbacks before they are answered, many in one transaction (group commit).

WeCom never resends a callback answered 200, so the answer may go only once the message is
durable. Handling it first (~4 ms of CPU each) made a burst's answers wait past WeCom's 5 s;
writing one row per callback in a transaction of its own would cost a commit (an fsync on
PostgreSQL, a trip through aiosqlite's thread) per callback. Here every callback that
arrives while a commit is under way waits for the next one: one transaction for all of
them, then all are answered. The row's unique key is the delivery's claim (a retry of a
delivery not handled yet finds it and is answered without a second row); the handling
transaction deletes the row (bot/wecom/claim.py), so a crash in between loses nothing and
the rows left are handled on the next start.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.wecom.messages import WeComInbound
from storage.uow import UnitOfWorkFactory

__all__ = ["DEFAULT_DELAY", "DEFAULT_MAX_ROWS", "InboxWriter", "from_json", "to_json"]

# The first callback after a quiet moment waits this long for company; later ones wait for
# the commit in progress anyway. Small against WeCom's 5 s and against one handling.
DEFAULT_DELAY = 0.002
# Rows per transaction: bounds a statement's size (SQLite allows 32,766 parameters).
DEFAULT_MAX_ROWS = 500

OnKept = Callable[[int, WeComInbound], None]


def to_json(message: WeComInbound) -> dict[str, Any]:
    """The message as kept (encrypted) in the inbox."""
    return dataclasses.asdict(message)


def from_json(data: dict[str, Any]) -> WeComInbound:
    """The message back from the inbox."""
    fields = {f.name for f in dataclasses.fields(WeComInbound)}
    return WeComInbound(**{k: v for k, v in data.items() if k in fields})


def _retrieve(future: asyncio.Future[None]) -> None:
    # The callback that waited may be gone (WeCom hung up): never warn about an unread error.
    if not future.cancelled():
        future.exception()


class InboxWriter:
    """Keeps callbacks in ``wecom_inbox`` in group commits and reports each new row."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Callable[[], datetime],
        on_kept: OnKept,
        *,
        delay: float = DEFAULT_DELAY,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_kept = on_kept
        self._delay = delay
        self._max_rows = max_rows
        self._pending: dict[str, tuple[WeComInbound, asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written (the bench and tests read these)
        self.kept = 0

    @property
    def pending(self) -> int:
        """Callbacks waiting for their commit."""
        return len(self._pending)

    async def keep(self, key: str, message: WeComInbound) -> None:
        """Return once ``message`` (delivery ``key``) is kept, or was kept before; raises
        what the commit raised (nothing was kept then, and WeCom should send it again)."""
        entry = self._pending.get(key)
        if entry is None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)
            self._pending[key] = (message, future)
            if self._task is None:
                self._task = asyncio.create_task(self._run())
        else:  # WeCom's retry of a callback waiting for the same commit
            future = entry[1]
        await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            await asyncio.sleep(self._delay)
            while self._pending:
                keys = list(self._pending)[: self._max_rows]
                batch = [(key, *self._pending.pop(key)) for key in keys]
                try:
                    rows = await self._write(batch)
                except Exception as exc:  # noqa: BLE001 - every waiter gets it (503)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, message, future in batch:
                    row = rows.get(key)
                    if row is not None:
                        self._on_kept(row, message)
                    if not future.done():
                        future.set_result(None)
        finally:
            self._task = None

    async def _write(
        self, batch: list[tuple[str, WeComInbound, asyncio.Future[None]]]
    ) -> dict[str, int]:
        async with self._uow() as uow:
            rows = await uow.wecom_inbox.add(
                [(key, message.from_user, to_json(message)) for key, message, _ in batch],
                self._clock(),
            )
            await uow.commit()
        self.commits += 1
        self.kept += len(rows)
        return rows

    async def drain(self) -> None:
        """Wait until every callback given to ``keep`` has been committed (or failed)."""
        while self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
