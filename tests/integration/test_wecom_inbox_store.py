"""The WeCom inbox repository (storage/wecom_inbox.py) on both databases: a callback kept
once, and its handling recorded with its row forgotten in the same transaction.

``handled`` is what bot/wecom/claim.py commits with every WeCom turn; on PostgreSQL it is a
single statement (the delivery's ``processed_updates`` record and the row's DELETE in one
WITH), on SQLite two. Either way both go, or neither.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.container import Container
from storage.models import ProcessedUpdateRow, WeComInboxRow
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)

USERID = "zhangsan.secret"
KEY = "wecom:msg:7001"


def message(text: str, userid: str = USERID) -> dict[str, Any]:
    """A kept callback's JSON (its shape matters to nobody here)."""
    return {"from_user": userid, "content": text}


async def keep(container: Container, clock: FakeClock, *items: tuple[str, str]) -> dict[str, int]:
    """Keep (delivery key, text) callbacks of USERID; their row ids by key."""
    async with container.uow() as u:
        ids = await u.wecom_inbox.add([(k, USERID, message(t)) for k, t in items], clock())
        await u.commit()
    return ids


async def counts(container: Container) -> tuple[int, int]:
    """(kept rows, processed_updates records), read directly."""
    async with container.engine.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(WeComInboxRow))).scalar()
        done = (await conn.execute(select(func.count()).select_from(ProcessedUpdateRow))).scalar()
    return int(kept or 0), int(done or 0)


async def test_a_retried_delivery_is_kept_once(container: Container, clock: FakeClock) -> None:
    first = await keep(container, clock, (KEY, "第一次"))
    again = await keep(container, clock, (KEY, "重发"), ("wecom:msg:7002", "第二条"))
    assert list(first) == [KEY] and list(again) == ["wecom:msg:7002"]
    async with container.uow() as u:
        kept = await u.wecom_inbox.kept()
    assert [data["content"] for _row, data in kept] == ["第一次", "第二条"]


async def test_handled_records_the_delivery_and_forgets_its_row_together(
    container: Container, clock: FakeClock
) -> None:
    ids = await keep(container, clock, (KEY, "工资拖欠"), ("wecom:msg:7002", "还在"))
    async with container.uow() as u:
        assert await u.wecom_inbox.handled(KEY, ids[KEY], clock()) is True
        await u.commit()
    assert await counts(container) == (1, 1)
    async with container.uow() as u:
        assert [row for row, _data in await u.wecom_inbox.kept()] == [ids["wecom:msg:7002"]]
        # The record is the one the Telegram/WeCom claims read: marking again says "before".
        assert await u.processed.mark(KEY, clock()) is False


async def test_a_delivery_handled_before_says_so_and_its_row_still_goes(
    container: Container, clock: FakeClock
) -> None:
    ids = await keep(container, clock, (KEY, "工资拖欠"))
    async with container.uow() as u:
        assert await u.processed.mark(KEY, clock()) is True
        await u.commit()
    async with container.uow() as u:
        assert await u.wecom_inbox.handled(KEY, ids[KEY], clock()) is False
        await u.commit()
    assert await counts(container) == (0, 1)


async def test_nothing_goes_when_the_handling_transaction_is_rolled_back(
    container: Container, clock: FakeClock
) -> None:
    ids = await keep(container, clock, (KEY, "工资拖欠"))
    async with container.uow() as u:
        assert await u.wecom_inbox.handled(KEY, ids[KEY], clock()) is True
        # no commit: the unit of work rolls back on leaving
    assert await counts(container) == (1, 0)


async def test_handled_without_a_row_only_records_the_delivery(
    container: Container, clock: FakeClock
) -> None:
    await keep(container, clock, ("wecom:msg:7002", "别人的"))
    async with container.uow() as u:
        assert await u.wecom_inbox.handled(KEY, None, clock()) is True
        assert await u.wecom_inbox.handled(KEY, None, clock()) is False
        await u.commit()
    assert await counts(container) == (1, 1)


async def test_neither_the_userid_nor_the_delivery_key_is_stored_in_plaintext(
    container: Container, clock: FakeClock
) -> None:
    ids = await keep(container, clock, (KEY, "工资拖欠"), ("wecom:msg:7002", "还在"))
    async with container.uow() as u:
        await u.wecom_inbox.handled(KEY, ids[KEY], clock())
        await u.commit()
    async with container.engine.connect() as conn:
        rows = [
            repr(tuple(r))
            for table in (WeComInboxRow, ProcessedUpdateRow)
            for r in (await conn.execute(select(table))).all()
        ]
    assert rows
    for secret in (USERID, "msg:70", "还在", "zhangsan"):
        assert not any(secret in row for row in rows), secret


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_on_postgresql_recording_and_forgetting_is_one_statement(
    container: Container, clock: FakeClock
) -> None:
    from sqlalchemy import event

    ids = await keep(container, clock, (KEY, "工资拖欠"))
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(container.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with container.uow() as u:
            await u.wecom_inbox.handled(KEY, ids[KEY], clock())
            await u.commit()
    finally:
        event.remove(container.engine.sync_engine, "before_cursor_execute", count)
    assert seen == ["WITH"]
    assert await counts(container) == (0, 1)
