"""``xinfang stats``: the statistics of a period, as text, CSV, XLSX and charts; of the
whole group, of one unit's own cases (``--unit CODE``), or of a unit with each child
subtree rolled up (``--unit CODE --rollup``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import config_of

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``stats``."""
    st = sub.add_parser(
        "stats",
        help="statistics of a period: rates, counts, overdue cases (no identities)",
        description="Print the statistics of the cases registered in a period (local dates,\n"
        "both included; default: this year so far, at least XINFANG_STATS_MIN_DAYS days).\n"
        'So that nobody can be singled out, every count below 3 is shown as "<3", small\n'
        "categories are merged per unit, and shorter periods are refused.\n"
        "Per unit: --unit CODE shows that unit's own cases; with --rollup, the unit with\n"
        "everything under it and each child subtree (units with fewer than 3 cases pooled).\n"
        "Without --unit: the whole group, each second-level unit rolled up.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day")
    st.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (default: today)")
    st.add_argument("--lang", choices=("zh_CN", "en"), help="language of the labels")
    st.add_argument("--csv", type=Path, metavar="FILE", help="also write the figures as CSV")
    st.add_argument("--xlsx", type=Path, metavar="FILE", help="also write an XLSX workbook")
    st.add_argument("--chart", type=Path, metavar="FILE", help="also draw the chart (PNG)")
    st.add_argument("--unit", metavar="CODE", help="one unit (its code, see xinfang units list)")
    st.add_argument(
        "--rollup", action="store_true", help="with --unit: the unit and each child subtree"
    )
    st.add_argument(
        "--units-csv", type=Path, metavar="FILE", help="also write the per-unit table as CSV"
    )
    st.add_argument(
        "--units-chart", type=Path, metavar="FILE", help="also draw the units ranked (PNG)"
    )
    st.add_argument(
        "--rank",
        choices=("acceptance", "completion", "satisfaction"),
        default="completion",
        help="the rate --units-chart ranks by (default: completion, 按期办结率)",
    )
    st.set_defaults(handler=_stats)


async def _stats(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.stats import (
        RANK_BY,
        build_report,
        report_csv,
        report_text,
        report_xlsx,
        unit_figures,
        units_csv,
        units_text,
    )
    from handlers.officer import stats_period
    from petitions.deadlines import OFFICE_ZONE
    from petitions.roles import Role
    from petitions.statistics import period_days, shown

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    locale = args.lang or settings.default_locale

    def tr(key: str, **params: Any) -> str:
        return container.translator.t(key, locale, **params)

    try:
        now = utc_now()
        words = [w for w in (args.start, args.end) if w]
        if args.end and not args.start:
            words = [f"{now.astimezone(OFFICE_ZONE).year}-01-01", args.end]
        period = stats_period(words, now, settings.stats_min_days)
        if period is None:
            print("xinfang: --from and --to are dates like 2026-01-31, --from first")
            return 2
        if period_days(*period) < settings.stats_min_days:
            # The same rule as /stats: a short period would single people out.
            message = tr("officer.stats_too_short", days=settings.stats_min_days)
            print(f"xinfang: {message}", file=sys.stderr)
            return 2
        async with container.uow() as uow:
            tree = await uow.units.tree()
            unit = tree.by_code(args.unit) if args.unit else None
            if args.unit and unit is None:
                print(f"xinfang: no unit has the code {args.unit!r}", file=sys.stderr)
                return 2
            # A unit's own cases, or (--rollup) its whole subtree; the whole group without.
            top = unit.id if unit else None
            scope = None
            if unit is not None:
                scope = tree.subtree(unit.id) if args.rollup else frozenset({unit.id})
            exact = await build_report(
                uow, period[0], period[1], now, settings.policy, scope=scope
            )
            # Only the masked figures leave this function (text, CSV, XLSX, charts).
            units = unit_figures(
                exact, tree, top, rollup=args.rollup or unit is None, rank_by=RANK_BY[args.rank]
            )
            report = shown(exact)
            exports = [
                name
                for name in ("csv", "xlsx", "chart", "units_csv", "units_chart")
                if getattr(args, name)
            ]
            await uow.audit.add(
                now,
                Role.SYSTEM,
                "stats.view",
                channel="cli",
                detail={
                    "from": period[0].isoformat(),
                    "to": period[1].isoformat(),
                    "exports": exports,
                    "unit": unit.code if unit else None,
                    "rollup": bool(args.rollup),
                },
            )
            await uow.commit()
    finally:
        await container.close()

    print(report_text(report, tr, settings.policy))
    print()
    print(units_text(units, tr))
    if args.csv:
        args.csv.write_bytes(report_csv(report, tr, settings.policy))
        print(f"CSV written to {args.csv}")
    if args.units_csv:
        args.units_csv.write_bytes(units_csv(units, tr))
        print(f"per-unit CSV written to {args.units_csv}")
    if args.xlsx:
        args.xlsx.write_bytes(report_xlsx(report, tr, settings.policy, units))
        print(f"XLSX written to {args.xlsx}")
    if args.chart:
        from bot.stats_chart import render_chart

        args.chart.write_bytes(render_chart(report, tr, settings.policy))
        print(f"chart written to {args.chart}")
    if args.units_chart:
        from bot.stats_chart import render_unit_chart

        args.units_chart.write_bytes(render_unit_chart(report, units, tr, settings.policy))
        print(f"units chart written to {args.units_chart}")
    return 0
