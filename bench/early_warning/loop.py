"""``python -m bench.early_warning.loop``: the event loop's worst stall around the early
warning in the running service (issue 12's rule: nothing holds the loop more than 50 ms).

Seeds a new SQLite database (in a temporary directory) with ``--scale`` petitions of the
generator (``scaled``: the labelled set repeated, real Chinese texts, encrypted and bound
to their rows as the service writes them) in its units, then, with a probe task sleeping
1 ms at a time and noting how late it wakes:

1. **start**: the service's similarity index built from the database
   (``WarningIndex.wait``; the window widened with ``--days`` so that every petition is in
   it);
2. **look-up**: ``--lookups`` submissions, each a new case stored and looked up as the
   intake does (``link_similar`` in its transaction, with the catch-up before it);
3. **scan**: the daily scan (``handlers.warnings.scan``) at the end of the timeline.

Prints the worst lateness per phase, the build and scan times and the look-ups' times.
Progress goes to stderr. Not a test: pytest collects tests/ only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.early_warning.generate import START, WEEKS, Sample, generate, scaled
from bot.container import Container, build_container
from bot.keys import create_keys
from bot.settings import load_settings
from handlers.warnings import link_similar, scan
from petitions.codes import format_case_number
from petitions.units import UnitTree
from storage.models import CaseRow, UnitRow
from storage.vault import Keyring, aad

__all__ = ["Probe", "main", "probing", "seed_petitions"]

CHUNK = 2000


def say(message: str) -> None:
    """Progress to stderr (stdout carries only the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Probe:
    """A task that sleeps 1 ms at a time and records its worst lateness per phase."""

    def __init__(self) -> None:
        self.phase = "idle"
        self.by_phase: dict[str, float] = {}

    async def run(self) -> None:
        """Sleep, wake, note how late."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - asked - 0.001
            self.by_phase[self.phase] = max(self.by_phase.get(self.phase, 0.0), late)


@asynccontextmanager
async def probing() -> AsyncIterator[Probe]:
    """Run a probe for the block's duration."""
    probe = Probe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)
    try:
        yield probe
    finally:
        task.cancel()


class Clock:
    """The service's clock, moved by the benchmark."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def seed_units(container: Container, tree: UnitTree, at: datetime) -> None:
    """The generator's units with their own ids, parents first."""
    rows = [
        {"id": u.id, "code": u.code, "name": u.name, "parent_id": u.parent_id,
         "retired": False, "created_at": at}
        for u in tree.walk()
    ]  # fmt: skip
    async with container.engine.begin() as conn:
        for start in range(0, len(rows), CHUNK):
            await conn.execute(insert(UnitRow), rows[start : start + CHUNK])


def _case_row(container: Container, case_id: int, s: Sample) -> dict[str, Any]:
    vault = container.uow.vault
    value: dict[str, Any] = {c.name: None for c in CaseRow.__table__.columns}
    value.update(
        id=case_id,
        number=format_case_number(s.at.year, case_id),
        tracking_index=vault.blind_index("tracking", f"bench-{case_id}"),
        category=s.category.value,
        state="registered",
        channel="telegram",
        anonymous=True,
        locale="zh_CN",
        description_ct=vault.encrypt_text(s.text, aad("cases", case_id, "description")),
        contact_reachable=False,
        contact_mode="code",
        priority=0,
        unit_id=s.unit_id,
        origin_unit_id=s.unit_id,
        created_at=s.at,
        updated_at=s.at,
    )
    return value


async def seed_petitions(container: Container, samples: list[Sample], first_id: int) -> None:
    """The samples as registered cases with ids from ``first_id``, in bulk."""
    for start in range(0, len(samples), CHUNK):
        part = samples[start : start + CHUNK]
        rows = [_case_row(container, first_id + start + k, s) for k, s in enumerate(part)]
        async with container.engine.begin() as conn:
            await conn.execute(insert(CaseRow), rows)
        if (start // CHUNK) % 10 == 9:
            say(f"seeded {start + len(part):,} petitions")


async def _lookup(container: Container, case_id: int) -> float:
    """A submission's look-up as the intake makes it; its wall time."""
    async with container.uow() as uow:
        case = await uow.cases.get(case_id)
        assert case is not None
        started = time.perf_counter()
        port: Any = uow  # the repositories satisfy handlers.ports structurally
        await link_similar(port, container.services, case, container.services.clock())
        took = time.perf_counter() - started
        await uow.commit()
    return took


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Seed, measure, report."""
    samples, tree = scaled(opts.scale)
    end = START + timedelta(weeks=WEEKS)
    clock = Clock(end)
    with tempfile.TemporaryDirectory(prefix="xf-ew-loop-") as tmp:
        work = Path(tmp)
        created = create_keys(work / "keys" / "keyring.json", work / "custodian.pem")
        env = {
            "XINFANG_DATA_DIR": str(work / "data"),
            "XINFANG_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'data' / 'xinfang.db'}",
            "XINFANG_KEYRING_FILE": str(created.keyring_file),
            "XINFANG_WARNINGS_DAYS": str(opts.days),
            "TELEGRAM_BOT_TOKEN": "123:BENCH",
            "TELEGRAM_ADMIN_CHAT_ID": "-1001",
        }
        keyring = Keyring.load(created.keyring_file)
        container = await build_container(load_settings(env), keyring=keyring, clock=clock)
        try:
            say(f"seeding {len(samples):,} petitions in {len(tree):,} units")
            await seed_units(container, tree, START - timedelta(days=1))
            await seed_petitions(container, samples, 1)
            new = generate(9999).samples[: opts.lookups]
            first = len(samples) + 1
            out: dict[str, Any] = {"petitions": len(samples), "days": opts.days}
            # The service does not hold the generator's samples: neither does this process
            # while it measures (a collection walking them would be the benchmark's stall).
            del samples, tree
            gc.collect()
            warnings = container.warnings
            assert warnings is not None
            async with probing() as probe:
                probe.phase = "start"
                started = time.perf_counter()
                await warnings.wait()
                out["build_seconds"] = round(time.perf_counter() - started, 1)
                out["indexed"] = len(warnings)
                probe.phase = "idle"
                await asyncio.sleep(0.05)
                # Submissions: each stored (the generator's units of repetition 0), then
                # looked up in the intake's way; the catch-up finds it committed.
                times = []
                for k, s in enumerate(new):
                    clock.now = end - timedelta(minutes=len(new) - k)
                    at = clock.now
                    sample = Sample(**{**s.__dict__, "at": at, "unit_id": 1000 + s.unit_id})
                    await seed_petitions(container, [sample], first + k)
                    probe.phase = "lookup"
                    times.append(await _lookup(container, first + k))
                    probe.phase = "idle"
                clock.now = end
                times.sort()
                out["lookup_ms_p50"] = round(statistics.median(times) * 1000, 1)
                out["lookup_ms_max"] = round(times[-1] * 1000, 1)
                probe.phase = "scan"
                started = time.perf_counter()
                result = await scan(container.services, end, alert=True)
                out["scan_seconds"] = round(time.perf_counter() - started, 1)
                out["scan_petitions"] = result.petitions
                out["clusters"] = len(result.clusters)
                probe.phase = "idle"
            out["stall_ms"] = {k: round(v * 1000, 1) for k, v in probe.by_phase.items()}
        finally:
            await container.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench.early_warning.loop")
    parser.add_argument("--scale", type=int, default=100_000, help="petitions (100,000)")
    parser.add_argument(
        "--days", type=int, default=190, help="the index's window (190: every petition)"
    )
    parser.add_argument("--lookups", type=int, default=20, help="submissions looked up (20)")
    opts = parser.parse_args(argv)
    out = asyncio.run(run(opts))
    stall = out["stall_ms"]
    print(
        f"{out['petitions']:,} petitions, window {out['days']} days: index of "
        f"{out['indexed']:,} built in {out['build_seconds']} s; look-up median "
        f"{out['lookup_ms_p50']} ms, max {out['lookup_ms_max']} ms; scan of "
        f"{out['scan_petitions']:,} in {out['scan_seconds']} s ({out['clusters']} clusters)"
    )
    print(
        "worst event-loop lateness (ms): "
        + ", ".join(f"{k} {stall.get(k, 0.0)}" for k in ("start", "lookup", "scan", "idle"))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
