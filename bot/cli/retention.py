"""``xinfang retention show | run [--dry-run]``: what is destroyed when, and a purge now.

Counts only: no case number, text or recipient is printed. The scheduler inside
``xinfang run`` purges on every pass; ``run`` is for an operator who wants it at once
(after lowering a period, say) or wants to see what a pass would do.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import config_of

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``retention`` and its actions."""
    ret = sub.add_parser(
        "retention",
        help="what is destroyed when (retention periods), and a purge now",
        description="Closed cases' content and evidence, delivered and failed outbox rows,\n"
        "and the housekeeping the scheduler does anyway: the rule for each, and how many\n"
        "rows are due now, within 30 days and within a year. See docs/retention.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rsub = ret.add_subparsers(dest="retention_cmd", required=True, metavar="ACTION")
    rsub.add_parser("show", help="each kind of data: its rule and the counts due")
    run = rsub.add_parser("run", help="purge what is due now (audited, like the scheduler)")
    run.add_argument("--dry-run", action="store_true", help="only say how much would be purged")
    ret.set_defaults(handler=_retention)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


async def _retention(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.retention import forecast, purge_due

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    try:
        now = utc_now()
        policy = settings.retention
        rows = await forecast(container.uow, policy, now)
        if args.retention_cmd == "run" and not args.dry_run:
            result = await purge_due(container.uow, policy, now)
            print(f"purged: {result.cases} case(s)' content, {result.outbox} outbox row(s)")
            return 0
        if args.retention_cmd == "run":
            due = [r for r in rows if r.now is not None]
            for r in due:
                print(f"would purge now: {r.now}\t{r.kind}")
            return 0
        async with container.uow() as uow:
            purged = await uow.cases.count_purged()
        print("kind\trule\tdue now\twithin 30 days\twithin a year")
        for r in rows:
            print(f"{r.kind}\t{r.rule}\t{_count(r.now)}\t{_count(r.days_30)}\t{_count(r.year)}")
        print(f"cases whose content was destroyed so far (rows kept for statistics): {purged}")
        return 0
    finally:
        await container.close()
