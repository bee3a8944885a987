"""The scheduler reads only what is due: ``cases.next_notice_at`` is written with every change
of a case and set exactly by the pass that looks at it; a pass finds due cases through one
index range; a changed configuration makes every case due for a new look; the migration
that adds all this matches the models."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, select, text

import handlers.scheduling
from bot.container import Container
from bot.scheduler import DUE_BATCH, Scheduler
from petitions.lifecycle import Action, Fields, apply
from petitions.roles import Role
from petitions.schedule import SchedulePolicy
from storage.migrate import downgrade, upgrade
from storage.models import Base, CaseRow
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.seeding import seed_cases


def scheduler(container: Container, clock: FakeClock) -> Scheduler:
    return Scheduler(container.uow, container.services, clock)


async def next_times(container: Container, ids: list[int]) -> list[Any]:
    async with container.uow() as uow:
        stmt = select(CaseRow.next_notice_at).where(CaseRow.id.in_(ids)).order_by(CaseRow.id)
        return list((await uow.session.execute(stmt)).scalars())


class Statements:
    """The SQL an engine runs while the block is open."""

    def __init__(self, container: Container) -> None:
        self.engine = container.engine.sync_engine
        self.seen: list[tuple[str, Any]] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.seen.append((statement, params))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


async def test_a_pass_stores_each_cases_exact_next_time_and_a_change_brings_it_forward(
    container: Container, clock: FakeClock
) -> None:
    start = clock()
    [case_id] = await seed_cases(container, [{"deadline_at": start + timedelta(days=15)}])
    await scheduler(container, clock).run_once(start)  # the first look (migration backfill)
    # Registered on day 0 with 15 days to decide: the 50% reminder at day 7.5.
    assert await next_times(container, [case_id]) == [start + timedelta(days=7, hours=12)]

    clock.advance(days=1)
    async with container.uow() as uow:  # accepted (as the /accept use case saves it)
        case = await uow.cases.get(case_id, for_update=True)
        assert case is not None
        apply(
            case, Action.ACCEPT, Role.OFFICER, Fields(), clock(), container.services.config.policy
        )
        await uow.cases.save(case)
        await uow.commit()
    # Written in the same transaction as the change: looked at in the next pass.
    assert await next_times(container, [case_id]) == [clock()]
    await scheduler(container, clock).run_once(clock())
    assert await next_times(container, [case_id]) == [clock() + timedelta(days=30)]


async def test_a_pass_with_nothing_due_reads_one_index_range_and_loads_no_case(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock()
    far = now + timedelta(days=30)
    await seed_cases(container, [{"deadline_at": far, "next_notice_at": far}] * 300)
    await scheduler(container, clock).run_once(now)  # configuration recorded, digest sent
    looked_at: list[int] = []
    real = handlers.scheduling.process_case

    async def spy(uow: Any, services: Any, case_id: int, at: Any) -> list[str]:
        looked_at.append(case_id)
        return await real(uow, services, case_id, at)

    monkeypatch.setattr("bot.scheduler.process_case", spy)
    with Statements(container) as sql:
        await scheduler(container, clock).run_once(clock.advance(minutes=1))
    assert looked_at == []
    due_queries = [s for s, _ in sql.seen if "next_notice_at <=" in s]
    assert len(due_queries) == 1
    # No statement reads whole case rows (descriptions) or the notices table per case.
    assert not [s for s, _ in sql.seen if "cases.description_ct" in s]


async def test_the_due_query_is_a_range_of_the_next_notice_index(
    container: Container, clock: FakeClock, backend: str
) -> None:
    now = clock()
    await seed_cases(container, [{"deadline_at": now, "next_notice_at": now}] * 50)
    with Statements(container) as sql:
        async with container.uow() as uow:
            await uow.cases.due_for_notice(now, None, DUE_BATCH)
            await uow.cases.due_for_notice(now, (now, 10), DUE_BATCH)
    for statement, params in [(s, p) for s, p in sql.seen if "next_notice_at <=" in s]:
        async with container.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if backend == "sqlite":
                cursor = await driver.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                plan = " ".join(str(row[-1]) for row in await cursor.fetchall())
                assert "USING COVERING INDEX ix_cases_next_notice" in plan, plan
                assert "TEMP B-TREE" not in plan, plan  # read in index order, no sort
            else:
                # 50 rows: make the planner show whether the index serves the order too.
                await conn.execute(text("SET enable_seqscan = off"))
                await conn.execute(text("SET enable_bitmapscan = off"))
                rows = await driver.fetch(f"EXPLAIN {statement}", *params)
                plan = " ".join(r[0] for r in rows)
                assert "ix_cases_next_notice" in plan and "Sort" not in plan, plan
                await conn.rollback()


async def test_due_cases_are_handled_in_batches_and_a_failing_case_does_not_stop_the_pass(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock()
    ids = await seed_cases(
        container,
        [
            {"state": "accepted", "deadline_at": now - timedelta(days=1), "next_notice_at": now}
            for _ in range(DUE_BATCH * 2 + 5)
        ],
    )
    real = handlers.scheduling.process_case

    async def flaky(uow: Any, services: Any, case_id: int, at: Any) -> list[str]:
        if case_id == ids[DUE_BATCH - 1]:  # the last of the first batch: the keyset's key
            raise RuntimeError("broken case")
        return await real(uow, services, case_id, at)

    monkeypatch.setattr("bot.scheduler.process_case", flaky)
    result = await scheduler(container, clock).run_once(now)
    assert result.sent == {"overdue": len(ids) - 1} and result.failed == 1
    times = await next_times(container, ids)
    assert times[DUE_BATCH - 1] == now  # still due: the next pass tries again
    assert [t for i, t in enumerate(times) if i != DUE_BATCH - 1] == [None] * (len(ids) - 1)
    monkeypatch.setattr("bot.scheduler.process_case", real)
    assert (await scheduler(container, clock).run_once(now)).sent == {"overdue": 1}


async def test_a_changed_configuration_makes_every_case_that_may_owe_a_notice_due_again(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    closed = {"state": "closed", "deadline_at": None, "closed_at": now - timedelta(days=1)}
    ids = await seed_cases(
        container,
        [
            {
                "state": "accepted",
                "decided_at": now - timedelta(days=40),
                "deadline_at": now + timedelta(days=20),
            },
            closed,
            {"state": "withdrawn", "deadline_at": None},
        ],
    )
    off = replace(container.services.config, schedule=SchedulePolicy(follow_up=False))
    services = replace(container.services, config=off)
    await Scheduler(container.uow, services, clock).run_once(now)
    assert await next_times(container, ids) == [now + timedelta(days=17), None, None]

    # Follow-ups switched on: the closed case gets its follow-up time, nothing else moves.
    clock.advance(minutes=1)
    await scheduler(container, clock).run_once(clock())
    follow_up = closed["closed_at"] + timedelta(
        days=container.services.config.policy.followup_days
    )
    assert await next_times(container, ids) == [now + timedelta(days=17), follow_up, None]


async def test_the_migration_adds_the_column_indexes_and_table_as_modelled(
    container: Container,
) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        if sync_conn.dialect.name == "sqlite":
            # Migration 0013 adds the unit references on SQLite as plain columns (it says
            # why); tests/integration/test_units_migration.py checks them.
            found = [
                d for d in found if not (d[0] == "add_fk" and d[1].referred_table.name == "units")
            ]
        return found

    def indexes(sync_conn: Any) -> set[str]:
        return {i["name"] for i in inspect(sync_conn).get_indexes("cases")}

    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert {
            "ix_cases_next_notice",
            "ix_cases_owner_state",
            "ix_cases_state_deadline",
            "ix_cases_created_at",
        } <= await conn.run_sync(indexes)
    await downgrade(container.engine, "0006")
    async with container.engine.connect() as conn:
        assert "ix_cases_next_notice" not in await conn.run_sync(indexes)
    await upgrade(container.engine)
    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_migration_makes_open_and_not_yet_followed_up_cases_due_at_once(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    ids = await seed_cases(
        container,
        [
            {"state": "accepted", "deadline_at": now + timedelta(days=9)},
            {"state": "closed", "closed_at": now},
            {"state": "withdrawn"},
        ],
    )
    await downgrade(container.engine, "0006")
    await upgrade(container.engine)
    assert await next_times(container, ids) == [now, now, None]  # their updated_at
