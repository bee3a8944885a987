"""The early warning keeps the event loop free (issue 12's rule, issue 16's index): while
the similarity index is built over a few thousand petitions and the daily scan clusters
them, a probe task sleeping 1 ms at a time is never woken much later. The index's work runs
in worker threads that give the loop a turn every few milliseconds (bot/warnings.py); the
bound is generous for slow CI machines, the benchmark's figures (bench/early_warning/loop.py,
100,000 petitions) are in bench/README.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import bindparam, update

from bench.early_warning.generate import START, WEEKS, generate
from bot.container import Container
from handlers.warnings import scan
from storage.models import CaseRow
from storage.vault import aad
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.seeding import seed_cases

BOUND = 0.25  # seconds: generous for busy CI machines; the target (50 ms) is benchmarked
WINDOW_DAYS = 13  # every petition inside the scan's 14 days: it clusters all of them


class Probe:
    """A task that sleeps 1 ms at a time and records the worst lateness of its wake-ups."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.wakeups = 0

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - asked - 0.001)
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


async def seed_generated(container: Container) -> int:
    """The labelled set of bench/early_warning (seeds 16 and 17: about 4,200 Chinese
    petitions, planted clusters among them) in its own units, its 26 weeks pressed into the
    last 13 days; returns how many."""
    now = container.services.clock()
    units: dict[int, int] = {}
    async with container.uow() as uow:
        for k, seed in enumerate((16, 17)):
            tree = generate(seed).tree
            for unit in tree.walk():  # parents first
                parent = units.get(k * 1000 + unit.parent_id) if unit.parent_id else None
                added = await uow.units.add(f"S{k}-{unit.code}", unit.name, parent, now)
                units[k * 1000 + unit.id] = added.id
        await uow.commit()
    span = timedelta(weeks=WEEKS)
    rows, texts = [], []
    for k, seed in enumerate((16, 17)):
        for s in generate(seed).samples:
            at = now - timedelta(days=WINDOW_DAYS) + (s.at - START) * (WINDOW_DAYS / span.days)
            unit = units[k * 1000 + s.unit_id]
            rows.append({"unit_id": unit, "origin_unit_id": unit, "category": s.category.value,
                         "created_at": at, "updated_at": at})  # fmt: skip
            texts.append(s.text)
    ids = await seed_cases(container, rows)
    vault = container.uow.vault
    values = [
        {"cid": i, "ct": vault.encrypt_text(text, aad("cases", i, "description"))}
        for i, text in zip(ids, texts, strict=True)
    ]
    async with container.engine.begin() as conn:
        stmt = (
            update(CaseRow)
            .where(CaseRow.id == bindparam("cid"))
            .values(description_ct=bindparam("ct"))
        )
        await conn.execute(stmt, values)
    return len(ids)


async def test_building_the_index_and_scanning_keep_the_event_loop_free(
    container: Container, clock: FakeClock
) -> None:
    seeded = await seed_generated(container)
    warnings = container.warnings
    assert warnings is not None
    async with probing() as building:
        started = time.perf_counter()
        await warnings.wait()
        built = time.perf_counter() - started
    async with probing() as scanning:
        started = time.perf_counter()
        result = await scan(container.services, clock(), alert=False)
        scanned = time.perf_counter() - started
    print(
        f"{seeded:,} petitions: index built in {built:.1f} s (worst lateness "
        f"{building.worst * 1000:.0f} ms), scan in {scanned:.1f} s (worst "
        f"{scanning.worst * 1000:.0f} ms, {len(result.clusters)} clusters)"
    )
    # The work was done (纪检's petitions are never read) and found the planted matters…
    assert len(warnings) > 0.8 * seeded
    assert result.petitions == len(warnings)
    assert len(result.clusters) >= 10
    # …while the loop went on answering.
    assert building.wakeups > 100 and scanning.wakeups > 100
    assert building.worst < BOUND, building.worst
    assert scanning.worst < BOUND, scanning.worst
