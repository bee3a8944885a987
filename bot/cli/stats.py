"""``xinfang stats``: the statistics of a period, as text, CSV, XLSX and charts; of the
whole group, of one unit's own cases (``--unit CODE``), or of a unit with each child
subtree rolled up (``--unit CODE --rollup``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import config_of, t

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``stats``."""
    st = sub.add_parser(
        "stats",
        help=t("cli.stats.help"),
        description=t(
            "cli.stats.description",
            env="XINFANG_STATS_MIN_DAYS",
            unit_code="--unit CODE",
            unit="--unit",
            rollup="--rollup",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    day = "YYYY-MM-DD"
    st.add_argument("--from", dest="start", metavar=day, help=t("cli.stats.from_help"))
    st.add_argument("--to", dest="end", metavar=day, help=t("cli.stats.to_help"))
    st.add_argument("--lang", choices=("zh_CN", "en"), help=t("cli.stats.lang_help"))
    st.add_argument("--csv", type=Path, metavar="FILE", help=t("cli.stats.csv_help"))
    st.add_argument(
        "--xlsx", type=Path, metavar="FILE", help=t("cli.stats.xlsx_help", xlsx="XLSX")
    )
    st.add_argument(
        "--chart", type=Path, metavar="FILE", help=t("cli.stats.chart_help", png="PNG")
    )
    st.add_argument(
        "--unit",
        metavar="CODE",
        help=t("cli.stats.unit_help", command="xinfang units list"),
    )
    st.add_argument(
        "--rollup", action="store_true", help=t("cli.stats.rollup_help", unit="--unit")
    )
    st.add_argument("--units-csv", type=Path, metavar="FILE", help=t("cli.stats.units_csv_help"))
    st.add_argument(
        "--units-chart",
        type=Path,
        metavar="FILE",
        help=t("cli.stats.units_chart_help", png="PNG"),
    )
    st.add_argument(
        "--rank",
        choices=("acceptance", "completion", "satisfaction"),
        default="completion",
        help=t("cli.stats.rank_help", units_chart="--units-chart", default="completion"),
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
            message = t("cli.stats.bad_period", start="--from", end="--to", example="2026-01-31")
            print(f"xinfang: {message}")
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
                message = t("cli.stats.no_unit", code=repr(args.unit))
                print(f"xinfang: {message}", file=sys.stderr)
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
        print(t("cli.stats.csv_written", path=args.csv))
    if args.units_csv:
        args.units_csv.write_bytes(units_csv(units, tr))
        print(t("cli.stats.units_csv_written", path=args.units_csv))
    if args.xlsx:
        args.xlsx.write_bytes(report_xlsx(report, tr, settings.policy, units))
        print(t("cli.stats.xlsx_written", path=args.xlsx))
    if args.chart:
        from bot.stats_chart import render_chart

        args.chart.write_bytes(render_chart(report, tr, settings.policy))
        print(t("cli.stats.chart_written", path=args.chart))
    if args.units_chart:
        from bot.stats_chart import render_unit_chart

        args.units_chart.write_bytes(render_unit_chart(report, units, tr, settings.policy))
        print(t("cli.stats.units_chart_written", path=args.units_chart))
    return 0
