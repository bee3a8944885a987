"""CPU, wall time and SQL statements of one tracking-code look-up turn (issue 12).

    .venv/bin/python -m bench.turn_cpu                     # SQLite in a temporary directory
    .venv/bin/python -m bench.turn_cpu --db postgresql+asyncpg://postgres@127.0.0.1:55432/postgres
    .venv/bin/python -m bench.turn_cpu --petitions 20 --turns 200     # smoke run

Builds the real container (``bot.container.build_container``, generated keys) on SQLite or
on a fresh PostgreSQL database ``xf_turncpu_<random>`` created on ``--db``'s server and
dropped afterwards; files ``--petitions`` petitions through the handlers (the eight steps
an employee takes on WeCom); then ``--senders`` employees type tracking codes of those
petitions as bench/wecom_load.py shape (b) does: a bare code as a WeCom text message,
handled as the WeCom channel handles it (``Handlers`` on a unit of work that records the
delivery in ``processed_updates`` with its commit, bot/wecom/claim.py). One warm-up
look-up per sender first (their conversations exist afterwards, as in a running service),
then ``--turns`` look-ups one after another and ``--turns`` more from ``--concurrency``
tasks at once, the two phases ``--repeat`` times in turn.

Printed per phase (its median run, and the least CPU of its runs): process CPU ms per turn
(``time.process_time``: the event loop, the aiosqlite thread and the drivers together), wall
ms per turn, and SQL statements per turn (a ``before_cursor_execute`` listener on the
engine), by kind. Everything runs in this one
process, so the figures are the service's work without HTTP and crypto of the callbacks.
Not a test: pytest collects tests/ only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import itertools
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pg import throwaway_database  # noqa: E402

CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，要求按规定补发加班工资。"
# The employee's steps on WeCom (bench/wecom_load.py PETITION): text or button payload.
PETITION: list[tuple[str, str]] = [
    ("text", "/start"),
    ("button", "menu:new"),
    ("button", "cat:pay"),
    ("text", DESCRIPTION),
    ("button", "ev:done"),
    ("button", "anon:yes"),
    ("button", "up:push"),
    ("button", "rv:submit"),
]


def say(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[str | None]:
    """None (SQLite), or the URL of a PostgreSQL database made for this run, then dropped."""
    if url == "sqlite":
        yield None
        return
    async with throwaway_database(url, "xf_turncpu") as made:
        yield made


class Counter:
    """SQL statements by first word, counted by an engine event."""

    def __init__(self) -> None:
        self.kinds: collections.Counter[str] = collections.Counter()

    def __call__(self, _conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        self.kinds[sql.split(None, 1)[0].upper()] += 1

    def total(self) -> int:
        """All statements so far."""
        return sum(self.kinds.values())


async def seed(container: Any, count: int) -> list[str]:
    """File ``count`` petitions through the handlers; returns their tracking codes."""
    from handlers.inbound import Inbound

    codes: list[str] = []
    for i in range(count):
        sender = f"seed{i:06d}"
        replies: list[Any] = []
        for kind, arg in PETITION:
            inbound = Inbound("wecom", sender, sender, locale="zh_CN", **{kind: arg})
            replies = await container.handlers.handle(inbound)
        found = next((m for r in replies if (m := CODE.search(r.text))), None)
        if found is None:
            raise SystemExit("filing a petition gave no tracking code: the steps changed")
        codes.append(found.group(0))
    return codes


class Looker:
    """Look-up turns as the WeCom channel handles them."""

    def __init__(self, container: Any, codes: list[str], senders: int) -> None:
        self.container = container
        self.codes = codes
        self.senders = [f"looker{i:05d}" for i in range(senders)]
        self.rng = random.Random(7)
        self.ids = itertools.count(1)
        self.bad = 0

    async def turn(self, sender: str) -> None:
        """One look-up: a code typed as a WeCom text message, claimed with its commit."""
        from bot.wecom.claim import Claim, ClaimingUnitOfWorkFactory
        from handlers.inbound import Inbound
        from handlers.router import Handlers

        services = self.container.services
        claim = Claim(f"wecom:msg:{next(self.ids)}", services.clock())
        handlers = Handlers(
            replace(services, uow=ClaimingUnitOfWorkFactory(self.container.uow, claim))
        )
        code = self.rng.choice(self.codes)
        replies = await handlers.handle(Inbound("wecom", sender, sender, text=code))
        if not claim.done or not any(
            b.payload.startswith("cs:") for r in replies for row in r.buttons for b in row
        ):
            self.bad += 1  # no status card: the look-up did not do what the bench measures


async def measure(
    looker: Looker, counter: Counter, turns: int, concurrency: int
) -> dict[str, Any]:
    """Run ``turns`` look-ups from ``concurrency`` tasks; CPU, wall and statements."""
    left = itertools.count()

    async def worker(lane: int) -> None:
        # Each task keeps its own senders: one person's messages are handled in order.
        mine = [s for k, s in enumerate(looker.senders) if k % concurrency == lane]
        cycle = itertools.cycle(mine or [f"extra{lane:05d}"])
        while next(left) < turns:
            await looker.turn(next(cycle))
            # Let a task woken for the pool's connection take it: SQLAlchemy's async pool
            # hands a returned connection to whoever asks first, so a task that goes straight
            # to its next turn can starve the others past the pool's 10 s timeout (SQLite).
            await asyncio.sleep(0)

    gc.collect()
    statements0, kinds0 = counter.total(), collections.Counter(counter.kinds)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    kinds = counter.kinds - kinds0
    return {
        "cpu_ms": cpu * 1000 / turns,
        "wall_ms": wall * 1000 / turns,
        "per_s": turns / wall,
        "statements": (counter.total() - statements0) / turns,
        "kinds": {k: v / turns for k, v in kinds.most_common()},
    }


async def run(opts: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Build, seed, measure."""
    from sqlalchemy import event

    from bot.container import build_container
    from bot.keys import create_keys
    from bot.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="xf-turncpu-") as tmp:
        async with database(opts.db) as url:
            env = {
                "XINFANG_DATA_DIR": str(Path(tmp) / "data"),
                "XINFANG_LOG_LEVEL": "WARNING",
                "TELEGRAM_BOT_TOKEN": "123:BENCH",
                "TELEGRAM_ADMIN_CHAT_ID": "-1001",
            }
            if url is not None:
                env["XINFANG_DATABASE_URL"] = url
                env["XINFANG_KEYRING_FILE"] = str(
                    create_keys(Path(tmp) / "keys" / "keyring.json").keyring_file
                )
            container = await build_container(load_settings(env))
            try:
                say(f"filing {opts.petitions} petitions ...")
                codes = await seed(container, opts.petitions)
                looker = Looker(container, codes, opts.senders)
                counter = Counter()
                event.listen(container.engine.sync_engine, "before_cursor_execute", counter)
                say(f"warm-up: one look-up per sender ({opts.senders}) ...")
                await measure(looker, counter, opts.senders, 1)
                runs: dict[str, list[dict[str, Any]]] = {"sequential": [], "concurrent": []}
                for _ in range(opts.repeat):  # interleaved: a busy spell hits both alike
                    for name, concurrency in (("sequential", 1), ("concurrent", opts.concurrency)):
                        say(f"{name}: {opts.turns} look-ups ...")
                        runs[name].append(await measure(looker, counter, opts.turns, concurrency))
                figures: dict[str, dict[str, Any]] = {}
                for name, seen in runs.items():
                    # The median run, and the least CPU seen: other work on a shared machine
                    # only ever adds to a figure.
                    seen.sort(key=lambda f: f["cpu_ms"])
                    figures[name] = {**seen[len(seen) // 2], "cpu_min": seen[0]["cpu_ms"]}
                figures["_"] = {"bad": looker.bad}
                return figures
            finally:
                await container.close()


def report(opts: argparse.Namespace, figures: dict[str, dict[str, Any]]) -> None:
    """Print the figures."""
    db = "SQLite" if opts.db == "sqlite" else "PostgreSQL"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"turn_cpu  db={db}  petitions={opts.petitions}  senders={opts.senders}  "
        f"turns={opts.turns}x{opts.repeat}  load average {load}"
    )
    for name, f in figures.items():
        if name == "_":
            continue
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in f["kinds"].items())
        label = name if name == "sequential" else f"{name} ({opts.concurrency})"
        print(
            f"  {label:16} CPU {f['cpu_ms']:6.3f} ms/turn (least {f['cpu_min']:.3f})  "
            f"wall {f['wall_ms']:6.3f} ms/turn "
            f"({f['per_s']:6.0f}/s)  SQL {f['statements']:5.2f}/turn ({kinds})"
        )
    if figures["_"]["bad"]:
        print(f"  WARNING: {figures['_']['bad']} turn(s) gave no status card")


def main() -> None:
    """Run the benchmark."""
    p = argparse.ArgumentParser(
        prog="python -m bench.turn_cpu",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--db",
        default="sqlite",
        help="'sqlite' (default) or a PostgreSQL URL (postgresql+asyncpg://...): a database "
        "xf_turncpu_<random> is created on that server and dropped afterwards",
    )
    p.add_argument("--petitions", type=int, default=200, help="petitions filed (200)")
    p.add_argument("--senders", type=int, default=200, help="employees looking up (200)")
    p.add_argument("--turns", type=int, default=2000, help="look-ups per phase run (2000)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent senders (16)")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each phase, interleaved; the median is shown",
    )
    opts = p.parse_args()
    if min(opts.petitions, opts.senders, opts.turns, opts.concurrency, opts.repeat) < 1:
        raise SystemExit("every count must be positive")
    report(opts, asyncio.run(run(opts)))


if __name__ == "__main__":
    main()
