"""Statistics of a period: counted by the database (``uow.statistics``, GROUP BY, no case
loaded), made into a report by :mod:`petitions.statistics`, written as text (admin chat,
``xinfang stats``), CSV, XLSX and a chart.

Nothing here identifies a petitioner: the counts carry labels and numbers only,
small category counts are merged per unit, and every renderer draws the masked figures
of :func:`petitions.statistics.shown` (counts below 3 as "少于3"), never the exact ones.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from handlers.inbound import FileOut, Reply
from handlers.labels import CATEGORY, STATE
from handlers.ports import UnitOfWork
from handlers.services import Translate
from i18n import N_
from petitions.categories import Category
from petitions.deadlines import OFFICE_ZONE, DeadlinePolicy
from petitions.states import CaseState
from petitions.statistics import (
    MERGED,
    MIN_CELL,
    NO_OWNER,
    OTHER_OWNERS,
    OTHER_UNITS,
    Cell,
    Report,
    Shown,
    ShownRate,
    report_from_counts,
    shown,
)

__all__ = [
    "NO_OWNER",
    "StatsService",
    "build_report",
    "report_csv",
    "report_text",
    "report_xlsx",
]

T = Callable[..., str]


async def build_report(
    uow: UnitOfWork, start: datetime, end: datetime, now: datetime, policy: DeadlinePolicy
) -> Report:
    """Count the period's figures in the database and make the (exact) report."""
    counts = await uow.statistics.period_counts(start, end, now, policy)
    return report_from_counts(counts, start=start, end=end, as_of=now)


# -- labels --------------------------------------------------------------------------------


def category_label(t: T, code: str) -> str:
    """A category code (or the merged bucket) in words."""
    if code == MERGED:
        return t(N_("stats.merged"))
    try:
        return t(CATEGORY[Category(code)])
    except ValueError:
        return code


def unit_label(t: T, unit: str) -> str:
    """A unit (or the pooled small units, or none) in words."""
    if unit == OTHER_UNITS:
        return t(N_("stats.other_units"))
    if unit == NO_OWNER:
        return t(N_("stats.no_unit"))
    return unit


def owner_label(t: T, owner: str) -> str:
    """An owner (or the pooled owners with few overdue cases) in words."""
    if owner == OTHER_OWNERS:
        return t(N_("stats.other_owners"))
    return t(N_("stats.no_owner")) if owner == NO_OWNER else owner


def state_label(t: T, state: str) -> str:
    """A state code in words."""
    return t(STATE[CaseState(state)])


def count_text(t: T, cell: Cell) -> str:
    """A count as shown: the number from MIN_CELL up, otherwise "少于3" / "<3"."""
    return str(cell.exact) if cell.exact is not None else t(N_("stats.fewer"), min=MIN_CELL)


def count_value(t: T, cell: Cell) -> int | str:
    """A count for a spreadsheet cell: the number, or the masked label as text."""
    return cell.exact if cell.exact is not None else count_text(t, cell)


def percent(rate: ShownRate) -> str:
    """A rate as ``83.3%`` (or ``—`` when too few cases were counted)."""
    value = rate.value
    return "—" if value is None else f"{value * 100:.1f}%"


def _view(report: Report | Shown) -> Shown:
    # Renderers take either; an exact Report is always masked before anything is drawn.
    return report if isinstance(report, Shown) else shown(report)


def _day(value: datetime, policy: DeadlinePolicy) -> str:
    return value.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d")


def period_text(report: Report | Shown, policy: DeadlinePolicy) -> tuple[str, str]:
    """The period's first and last local day."""
    return _day(report.start, policy), _day(report.end - timedelta(seconds=1), policy)


def _pairs(t: T, items: dict[str, Cell], label: Callable[[str], str]) -> str:
    return "，".join(f"{label(k)} {count_text(t, n)}" for k, n in items.items()) or "—"


def report_text(report: Report | Shown, t: T, policy: DeadlinePolicy) -> str:
    """The masked figures as a message for the admin chat or the terminal."""
    first, last = period_text(report, policy)
    r = _view(report)

    def c(cell: Cell) -> str:
        return count_text(t, cell)

    median_days = "—" if r.median_handling_days is None else f"{r.median_handling_days:.1f}"
    lines = [
        t("stats.header", start=first, end=last, now=_day(r.as_of, policy)),
        t("stats.total", count=c(r.total)),
        t(
            "stats.acceptance",
            rate=percent(r.on_time_acceptance),
            hits=c(r.on_time_acceptance.hits),
            total=c(r.on_time_acceptance.total),
        ),
        t(
            "stats.completion",
            rate=percent(r.on_time_completion),
            hits=c(r.on_time_completion.hits),
            total=c(r.on_time_completion.total),
        ),
        t(
            "stats.satisfaction",
            rate=percent(r.satisfaction),
            satisfied=c(r.ratings["satisfied"]),
            basic=c(r.ratings["basic"]),
            unsatisfied=c(r.ratings["unsatisfied"]),
        ),
        t("stats.median", days=median_days),
        t(
            "stats.reviews",
            reviews=c(r.reviews),
            retaliations=c(r.retaliations),
            unsolved=c(r.unsolved),
        ),
        t(
            "stats.overdue",
            count=c(r.overdue_total),
            owners=_pairs(t, r.overdue_by_owner, lambda o: owner_label(t, o)),
        ),
        t("stats.by_category", items=_pairs(t, r.by_category, lambda k: category_label(t, k))),
        t("stats.by_state", items=_pairs(t, r.by_state, lambda s: state_label(t, s))),
        t("stats.by_channel", items=_pairs(t, r.by_channel, lambda k: k)),
        t("stats.by_unit"),
    ]
    units: dict[str, list[str]] = {}
    for unit, category, n in r.by_unit_category:
        units.setdefault(unit, []).append(f"{category_label(t, category)} {c(n)}")
    for unit, cells in units.items():
        lines.append(f"  {unit_label(t, unit)}：" + "，".join(cells))
    return "\n".join(lines)


def report_rows(
    report: Report | Shown, t: T, policy: DeadlinePolicy
) -> list[tuple[str, str, Any]]:
    """Every masked figure as (section, item, value) rows: the CSV and the XLSX summary."""
    first, last = period_text(report, policy)
    r = _view(report)

    def v(cell: Cell) -> int | str:
        return count_value(t, cell)

    rows: list[tuple[str, str, Any]] = [
        ("period", "from", first),
        ("period", "to", last),
        ("period", "as_of", _day(r.as_of, policy)),
        ("summary", "total", v(r.total)),
    ]
    for name, rate in (
        ("on_time_acceptance", r.on_time_acceptance),
        ("on_time_completion", r.on_time_completion),
        ("satisfaction", r.satisfaction),
    ):
        value = rate.value
        rows.append(("rate", name, "" if value is None else round(value, 4)))
        rows.append(("rate", f"{name}_hits", v(rate.hits)))
        rows.append(("rate", f"{name}_total", v(rate.total)))
    rows.append(
        ("summary", "median_handling_days", "" if r.median_handling_days is None
         else r.median_handling_days)
    )
    for name, cell in (
        ("reviews", r.reviews),
        ("retaliations", r.retaliations),
        ("unsolved", r.unsolved),
        ("overdue", r.overdue_total),
    ):
        rows.append(("summary", name, v(cell)))
    rows += [("rating", k, v(n)) for k, n in r.ratings.items()]
    rows += [("category", category_label(t, k), v(n)) for k, n in r.by_category.items()]
    rows += [("state", state_label(t, k), v(n)) for k, n in r.by_state.items()]
    rows += [("channel", k, v(n)) for k, n in r.by_channel.items()]
    rows += [
        ("overdue_by_owner", owner_label(t, k), v(n)) for k, n in r.overdue_by_owner.items()
    ]
    rows += [
        (f"unit:{unit_label(t, u)}", category_label(t, c), v(n)) for u, c, n in r.by_unit_category
    ]
    return rows


def report_csv(report: Report | Shown, t: T, policy: DeadlinePolicy) -> bytes:
    """The masked figures as CSV (UTF-8 with a byte order mark, so spreadsheet programs
    read the Chinese labels right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "value"])
    writer.writerows(report_rows(report, t, policy))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_xlsx(report: Report | Shown, t: T, policy: DeadlinePolicy) -> bytes:
    """The masked figures as an XLSX workbook: a summary sheet and one sheet per breakdown."""
    from openpyxl import Workbook

    r = _view(report)

    def v(cell: Cell) -> int | str:
        return count_value(t, cell)

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "summary"
    summary.append(["section", "item", "value"])
    for row in report_rows(r, t, policy):
        summary.append(list(row))
    tables: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("category", [(category_label(t, k), v(n)) for k, n in r.by_category.items()]),
        ("state", [(state_label(t, k), v(n)) for k, n in r.by_state.items()]),
        ("channel", [(k, v(n)) for k, n in r.by_channel.items()]),
        (
            "unit",
            [(unit_label(t, u), category_label(t, c), v(n)) for u, c, n in r.by_unit_category],
        ),
        ("overdue", [(owner_label(t, k), v(n)) for k, n in r.overdue_by_owner.items()]),
    ]
    for title, rows in tables:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _draw_chart(report: Any, tr: Any, policy: DeadlinePolicy) -> bytes:
    from bot.stats_chart import render_chart  # matplotlib loads only when a chart is drawn

    return render_chart(report, tr, policy)


class StatsService:
    """The ``/stats`` answer in the admin chat: figures, a chart and CSV/XLSX exports."""

    def __init__(self, t: Translate, policy: DeadlinePolicy) -> None:
        self._t = t
        self._policy = policy

    async def __call__(
        self, uow: UnitOfWork, start: datetime, end: datetime, locale: str, now: datetime
    ) -> list[Reply]:
        """Build the replies for a period."""

        def tr(key: str, **params: Any) -> str:
            return self._t(key, locale, **params)

        report = shown(await build_report(uow, start, end, now, self._policy))
        text = report_text(report, tr, self._policy)
        first, last = period_text(report, self._policy)
        stem = f"xinfang-stats-{first}-{last}"
        # Drawing takes a few hundred milliseconds, and the first use imports matplotlib and
        # loads its fonts (over a second): both off the event loop.
        png = await asyncio.to_thread(_draw_chart, report, tr, self._policy)
        files = (
            FileOut("photo", f"{stem}.png", "image/png", png),
            FileOut("document", f"{stem}.csv", "text/csv", report_csv(report, tr, self._policy)),
            FileOut(
                "document",
                f"{stem}.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                report_xlsx(report, tr, self._policy),
            ),
        )
        return [Reply(text), Reply(tr(N_("stats.files")), files=files)]
