"""No stalls at size: on a seeded database of about 2,000 open cases (1 % due), a scheduler
pass and the officers' lists run while a probe task measures how late the event loop wakes
it. Database work runs off the loop's thread (aiosqlite's worker, asyncpg's protocol), the
pass reads only what is due and handles each case in its own short transaction, so the
loop never stops for long. The bound is generous for slow CI machines; the figures of the
real service are in docs/accountability.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.container import Container
from bot.scheduler import Scheduler, schedule_fingerprint
from bot.stats import build_report
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer
from tests.helpers.seeding import seed_cases

OPEN_CASES = 2_000
DUE = OPEN_CASES // 100
BOUND = 0.75  # seconds: generous for busy CI machines; the target (50 ms) is benchmarked
OPEN_STATES = ("registered", "accepted", "in_progress", "extended", "responded")


class Probe:
    """A task that sleeps 5 ms at a time and records the worst lateness of its wake-ups."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.wakeups = 0

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - asked - 0.005)
            self.wakeups += 1


@asynccontextmanager
async def probing() -> AsyncIterator[Probe]:
    probe = Probe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.02)  # running before the work starts
    try:
        yield probe
    finally:
        task.cancel()


async def seed(container: Container, clock: FakeClock) -> list[int]:
    now = clock()
    rows = []
    for i in range(OPEN_CASES):
        due = i % 100 == 0
        decided = now - timedelta(days=30 + i % 20)
        rows.append(
            {
                "state": OPEN_STATES[i % len(OPEN_STATES)],
                "category": "discipline" if i % 10 == 0 else "pay",
                "owner_officer_id": 1 if i % 3 == 0 else None,
                "created_at": decided - timedelta(days=3),
                "decided_at": decided,
                "responded_at": decided,
                # The due ones are overdue; the others have their next notice ahead.
                "deadline_at": now - timedelta(hours=1) if due else now + timedelta(days=5),
                "next_notice_at": now - timedelta(minutes=1) if due else now + timedelta(days=2),
            }
        )
    ids = await seed_cases(container, rows)
    # A running service has computed the stored times under its configuration already.
    cfg = container.services.config
    async with container.uow() as uow:
        await uow.cases.set_schedule_fingerprint(
            schedule_fingerprint(cfg.policy, cfg.schedule), now
        )
        await uow.commit()
    return ids


async def test_a_scheduler_pass_the_lists_and_statistics_never_stall_the_event_loop(
    container: Container, clock: FakeClock
) -> None:
    officer = await add_officer(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    await seed(container, clock)
    scheduler = Scheduler(container.uow, container.services, clock)

    async with probing() as probe:
        result = await scheduler.run_once(clock())
        await leader.say("/cases all")
        [page] = [p for p in leader.buttons if p.startswith("o:list:")]
        await leader.press(page)
        await officer.say("/cases overdue")
        await officer.say("/cases mine")
        # Statistics over every seeded case (SQL aggregation; the chart is drawn in a thread
        # and is not what this measures).
        async with container.uow() as uow:
            report = await build_report(
                uow, clock() - timedelta(days=400), clock(), clock(), container.settings.policy
            )

    expected_overdue = sum(
        1
        for i in range(0, OPEN_CASES, 100)
        if OPEN_STATES[i % len(OPEN_STATES)] != CaseState.RESPONDED.value
    )
    assert result.sent["overdue"] == expected_overdue and result.failed == 0
    assert result.sent["auto_close"] == DUE - expected_overdue
    closed = {i for i in range(0, OPEN_CASES, 100) if i % len(OPEN_STATES) == 4}  # responded
    mine = [i for i in range(0, OPEN_CASES, 3) if i % 10 and i not in closed]
    assert officer.text.startswith(f"共 {len(mine)} 件")  # counted in SQL, role filtered
    assert report.total == OPEN_CASES
    assert probe.wakeups > 10
    assert probe.worst < BOUND, f"event loop stalled {probe.worst * 1000:.0f} ms"

    # A pass with nothing due is one index probe: quick, and still no stall.
    async with probing() as probe:
        started = time.perf_counter()
        idle = await scheduler.run_once(clock.advance(minutes=1))
        took = time.perf_counter() - started
    assert not idle.sent and probe.worst < BOUND
    assert took < 1.0
