"""``xinfang retention show | run [--dry-run]``: what is destroyed when, and a purge now.

Counts only: no case number, text or recipient is printed. The scheduler inside
``xinfang run`` purges on every pass; ``run`` is for an operator who wants it at once
(after lowering a period, say) or wants to see what a pass would do.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import config_of, t

if TYPE_CHECKING:
    from bot.retention import Forecast

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``retention`` and its actions."""
    ret = sub.add_parser(
        "retention",
        help=t("cli.retention.help"),
        description=t("cli.retention.description", doc="docs/retention.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rsub = ret.add_subparsers(
        dest="retention_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    rsub.add_parser("show", help=t("cli.retention.show_help"))
    run = rsub.add_parser("run", help=t("cli.retention.run_help"))
    run.add_argument("--dry-run", action="store_true", help=t("cli.retention.dry_run_help"))
    ret.set_defaults(handler=_retention)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _kind(row: Forecast) -> str:
    """A forecast row's kind of data in the CLI's language."""
    return t(row.kind_id) if row.kind_id else row.kind


def _rule(row: Forecast) -> str:
    """A forecast row's rule in the CLI's language (in English, bot/retention.py's words)."""
    return t(row.rule_id, **row.rule_params) if row.rule_id else row.rule


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
            print(t("cli.retention.purged", cases=result.cases, outbox=result.outbox))
            return 0
        if args.retention_cmd == "run":
            due = [r for r in rows if r.now is not None]
            for r in due:
                print(t("cli.retention.would_purge", count=r.now, kind=_kind(r)))
            return 0
        async with container.uow() as uow:
            purged = await uow.cases.count_purged()
        print(t("cli.retention.columns"))
        for r in rows:
            counts = f"{_count(r.now)}\t{_count(r.days_30)}\t{_count(r.year)}"
            print(f"{_kind(r)}\t{_rule(r)}\t{counts}")
        print(t("cli.retention.purged_so_far", count=purged))
        return 0
    finally:
        await container.close()
