"""Statistics of a period: counted by the database (``uow.statistics``, GROUP BY, no case
loaded), made into a report by :mod:`petitions.statistics`, written as text (admin chat,
``xinfang stats``), CSV, XLSX and a chart.

Nothing here identifies a petitioner: the counts carry labels and numbers only,
small category counts are merged per unit, and every renderer draws the masked figures
of :func:`petitions.statistics.shown` (counts below 3 as "少于3"), never the exact ones.

Per unit (:class:`UnitFigures`): the asking officer's unit (the whole group for the root
office) rolled up with each child subtree and its own cases, ranked in a chart by a rate,
and every unit of their scope, own and rolled up, in the exports with the unit codes;
units of fewer than 3 cases pooled, every figure masked by
:func:`petitions.statistics.shown_units`.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.inbound import FileOut, Reply
from handlers.labels import CATEGORY, CHANNEL, RATING, STATE
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
    UNIT_RATES,
    Cell,
    Report,
    Shown,
    ShownRate,
    ShownUnitLine,
    UnitCounts,
    UnitLine,
    report_from_counts,
    shown,
    shown_units,
    unit_overview,
    unit_table,
)
from petitions.units import UnitTree

__all__ = [
    "NO_OWNER",
    "RANK_BY",
    "StatsService",
    "UnitFigures",
    "build_report",
    "rank_units",
    "report_csv",
    "report_text",
    "report_xlsx",
    "unit_figures",
    "unit_label_of",
    "units_csv",
    "units_text",
]

T = Callable[..., str]


async def build_report(
    uow: UnitOfWork,
    start: datetime,
    end: datetime,
    now: datetime,
    policy: DeadlinePolicy,
    *,
    scope: frozenset[int] | None = None,
) -> Report:
    """Count the period's figures in the database and make the (exact) report; with a
    scope, of the cases handled in those units only."""
    counts = await uow.statistics.period_counts(start, end, now, policy, scope=scope)
    return report_from_counts(counts, start=start, end=end, as_of=now)


# The rate the unit chart ranks by: its short name (``--rank``) → UnitCounts attribute.
RANK_BY = dict(zip(("acceptance", "completion", "satisfaction"), UNIT_RATES, strict=True))
_NONE = UnitCounts()


@dataclass(frozen=True)
class UnitFigures:
    """The per-unit figures staff see (masked): ``head`` is the asked unit with everything
    under it, ``rows`` its own cases and each child subtree (small ones pooled), ``units``
    every unit of the scope with its subtree and then with its own cases (small pooled)."""

    head: ShownUnitLine
    rows: list[ShownUnitLine]
    units: list[ShownUnitLine]
    rank_by: str = "on_time_completion"


def unit_figures(
    report: Report,
    tree: UnitTree,
    top: int | None,
    *,
    rollup: bool = True,
    rank_by: str = "on_time_completion",
) -> UnitFigures:
    """The masked per-unit figures of an exact report (its ``by_unit``), seen from ``top``
    (None: the whole group). Without ``rollup``, ``top``'s own cases only (one row: a
    single unit has nothing to be pooled with, its small counts are masked)."""
    head, rows = unit_overview(report.by_unit, tree, top)
    if not rollup and top is not None:
        unit = tree.get(top)
        name = tree.path_name(top) or (unit.name if unit else "")
        own = UnitLine(unit.code if unit else "", name, False, report.by_unit.get(top, _NONE), top)
        return UnitFigures(shown_units([own])[0], [], shown_units([own]), rank_by)
    every = [
        *unit_table(report.by_unit, tree, top, rolled=True),
        *unit_table(report.by_unit, tree, top, rolled=False),
    ]
    return UnitFigures(shown_units([head])[0], shown_units(rows), shown_units(every), rank_by)


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


def channel_label(t: T, channel: str) -> str:
    """A channel in words (an unknown one as it is)."""
    return t(CHANNEL[channel]) if channel in CHANNEL else channel


def rating_label(t: T, rating: str) -> str:
    """A rating in words (an unknown one as it is)."""
    return t(RATING[rating]) if rating in RATING else rating


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
        # 集体诉求: the matters count each collective matter once (docs/collective.md).
        t(
            "stats.matters",
            count=c(r.distinct_matters),
            collective=c(r.matters),
            petitions=c(r.in_matters),
        ),
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
        t("stats.by_channel", items=_pairs(t, r.by_channel, lambda k: channel_label(t, k))),
        t("stats.by_unit"),
    ]
    units: dict[str, list[str]] = {}
    for unit, category, n in r.by_unit_category:
        units.setdefault(unit, []).append(f"{category_label(t, category)} {c(n)}")
    for unit, cells in units.items():
        lines.append(f"  {unit_label(t, unit)}：" + "，".join(cells))
    return "\n".join(lines)


# The rates of the CSV and the summary sheet, each with the counts it was made of: the same
# names as the per-unit table's columns, so both exports call a figure alike.
_RATE_ITEMS = (
    (
        N_("stats.col_acceptance"),
        N_("stats.col_acceptance_hits"),
        N_("stats.col_acceptance_total"),
    ),
    (
        N_("stats.col_completion"),
        N_("stats.col_completion_hits"),
        N_("stats.col_completion_total"),
    ),
    (
        N_("stats.col_satisfaction"),
        N_("stats.col_satisfaction_hits"),
        N_("stats.col_satisfaction_total"),
    ),
)


def report_rows(
    report: Report | Shown, t: T, policy: DeadlinePolicy
) -> list[tuple[str, str, Any]]:
    """Every masked figure as (section, item, value) rows, sections and items in words: the
    CSV and the XLSX summary."""
    first, last = period_text(report, policy)
    r = _view(report)

    def v(cell: Cell) -> int | str:
        return count_value(t, cell)

    period = t(N_("stats.export.period"))
    summary = t(N_("stats.export.summary"))
    rates = t(N_("stats.export.rate"))
    rows: list[tuple[str, str, Any]] = [
        (period, t(N_("stats.export.from")), first),
        (period, t(N_("stats.export.to")), last),
        (period, t(N_("stats.export.as_of")), _day(r.as_of, policy)),
        (summary, t(N_("stats.export.total")), v(r.total)),
        (summary, t(N_("stats.export.matters")), v(r.distinct_matters)),
        (summary, t(N_("stats.export.collective_matters")), v(r.matters)),
        (summary, t(N_("stats.export.collective_petitions")), v(r.in_matters)),
    ]
    for (rate_id, hits_id, total_id), rate in zip(
        _RATE_ITEMS, (r.on_time_acceptance, r.on_time_completion, r.satisfaction), strict=True
    ):
        value = rate.value
        rows.append((rates, t(rate_id), "" if value is None else round(value, 4)))
        rows.append((rates, t(hits_id), v(rate.hits)))
        rows.append((rates, t(total_id), v(rate.total)))
    rows.append(
        (
            summary,
            t(N_("stats.export.median_handling_days")),
            "" if r.median_handling_days is None else r.median_handling_days,
        )
    )
    for label, cell in (
        (N_("stats.export.reviews"), r.reviews),
        (N_("stats.export.retaliations"), r.retaliations),
        (N_("stats.export.unsolved"), r.unsolved),
        (N_("stats.export.overdue"), r.overdue_total),
    ):
        rows.append((summary, t(label), v(cell)))
    sections = _sections(t)
    rows += [(sections["rating"], rating_label(t, k), v(n)) for k, n in r.ratings.items()]
    rows += [(sections["category"], k, n) for k, n in _category_rows(t, r)]
    rows += [(sections["state"], k, n) for k, n in _state_rows(t, r)]
    rows += [(sections["channel"], k, n) for k, n in _channel_rows(t, r)]
    rows += [(sections["overdue"], k, n) for k, n in _owner_rows(t, r)]
    rows += [
        (t(N_("stats.export.unit_section"), name=unit), category, n)
        for unit, category, n in _unit_category_rows(t, r)
    ]
    return rows


def _sections(t: T) -> dict[str, str]:
    # A breakdown's name: its section in the CSV and the summary, and its sheet's title.
    return {
        "rating": t(N_("stats.export.rating")),
        "category": t(N_("stats.export.category")),
        "state": t(N_("stats.export.state")),
        "channel": t(N_("stats.export.channel")),
        "overdue": t(N_("stats.export.overdue_by_owner")),
        "unit": t(N_("stats.export.unit")),
    }


def _category_rows(t: T, r: Shown) -> list[tuple[str, int | str]]:
    return [(category_label(t, k), count_value(t, n)) for k, n in r.by_category.items()]


def _state_rows(t: T, r: Shown) -> list[tuple[str, int | str]]:
    return [(state_label(t, k), count_value(t, n)) for k, n in r.by_state.items()]


def _channel_rows(t: T, r: Shown) -> list[tuple[str, int | str]]:
    return [(channel_label(t, k), count_value(t, n)) for k, n in r.by_channel.items()]


def _owner_rows(t: T, r: Shown) -> list[tuple[str, int | str]]:
    return [(owner_label(t, k), count_value(t, n)) for k, n in r.overdue_by_owner.items()]


def _unit_category_rows(t: T, r: Shown) -> list[tuple[str, str, int | str]]:
    return [
        (unit_label(t, u), category_label(t, c), count_value(t, n))
        for u, c, n in r.by_unit_category
    ]


def _header(t: T) -> list[str]:
    return [t(N_("stats.export.section")), t(N_("stats.export.item")), t(N_("stats.export.value"))]


def report_csv(report: Report | Shown, t: T, policy: DeadlinePolicy) -> bytes:
    """The masked figures as CSV (UTF-8 with a byte order mark, so spreadsheet programs
    read the Chinese labels right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_header(t))
    writer.writerows(report_rows(report, t, policy))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_xlsx(
    report: Report | Shown, t: T, policy: DeadlinePolicy, units: UnitFigures | None = None
) -> bytes:
    """The masked figures as an XLSX workbook: a summary sheet and one sheet per breakdown
    (and the per-unit table, with the unit codes, when given); sheet titles in words."""
    from openpyxl import Workbook

    r = _view(report)
    sections = _sections(t)
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = t(N_("stats.export.sheet_summary"))
    summary.append(_header(t))
    for row in report_rows(r, t, policy):
        summary.append(list(row))
    tables: list[tuple[str, list[tuple[Any, ...]]]] = [
        (sections["category"], _category_rows(t, r)),
        (sections["state"], _state_rows(t, r)),
        (sections["channel"], _channel_rows(t, r)),
        (sections["unit"], _unit_category_rows(t, r)),
        (sections["overdue"], _owner_rows(t, r)),
    ]
    if units is not None:
        tables.append(
            (t(N_("stats.export.sheet_unit_figures")), [tuple(row) for row in unit_rows(units, t)])
        )
    for title, rows in tables:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- per unit ------------------------------------------------------------------------------


def unit_label_of(t: T, line: ShownUnitLine, head: ShownUnitLine | None = None) -> str:
    """A per-unit row in words: the unit's path name, "（合计）" for the asked unit with
    everything under it, "（本级）" for its own cases, or the pooled / no-unit rows."""
    if line.code == OTHER_UNITS:
        return t(N_("stats.other_units"))
    if line.code == NO_OWNER:
        return t(N_("stats.no_unit"))
    if not line.code:
        return t(N_("stats.unit_all"))
    if head is not None and line is head and line.rolled:
        return t(N_("stats.unit_total"), name=line.name)
    if head is not None and not line.rolled and line.unit_id == head.unit_id:
        return t(N_("stats.unit_own"), name=line.name)
    return line.name


def rank_units(units: UnitFigures, t: T) -> list[tuple[ShownUnitLine, ShownRate]]:
    """The rows the unit chart draws, best rate first; rows whose rate is not shown (too
    few cases) last, in the tree's order, so their place says nothing about them."""
    rows = units.rows or [units.head]
    rated = [(row, getattr(row, units.rank_by)) for row in rows]
    ranked = sorted(
        (x for x in rated if x[1].value is not None),
        key=lambda x: (-(x[1].value or 0.0), unit_label_of(t, x[0], units.head)),
    )
    return [*ranked, *(x for x in rated if x[1].value is None)]


def _unit_line(t: T, line: ShownUnitLine, head: ShownUnitLine | None) -> str:
    def c(cell: Cell) -> str:
        return count_text(t, cell)

    text = t(
        N_("stats.unit_line"),
        name=unit_label_of(t, line, head),
        cases=c(line.cases),
        acceptance=percent(line.on_time_acceptance),
        completion=percent(line.on_time_completion),
        satisfaction=percent(line.satisfaction),
        reviews=c(line.reviews),
        reviewed=c(line.reviews_decided),
        rechecks=c(line.rechecks),
        rechecked=c(line.rechecks_decided),
        overdue=c(line.overdue),
        conflicts=c(line.conflicts),
    )
    # Figures nothing records yet (a changed outcome, 督办) are left out, not printed as 0.
    if line.reviews_changed is not None and line.rechecks_changed is not None:
        text += t(
            N_("stats.unit_changed"),
            reviews=c(line.reviews_changed),
            rechecks=c(line.rechecks_changed),
        )
    if line.supervisions is not None:
        text += t(N_("stats.unit_supervisions"), count=c(line.supervisions))
    return text


def units_text(units: UnitFigures, t: T) -> str:
    """The per-unit figures as a message: the asked unit in all, then its own cases and
    each child subtree (small ones pooled)."""
    if not units.rows:  # one unit's own figures
        return "\n".join([t(N_("stats.units_own_header")), _unit_line(t, units.head, None)])
    lines = [t(N_("stats.units_header"), min=MIN_CELL), _unit_line(t, units.head, units.head)]
    lines += [f"  {_unit_line(t, row, units.head)}" for row in units.rows]
    return "\n".join(lines)


def _rate_cells(t: T, rate: ShownRate) -> list[Any]:
    value = rate.value
    return [
        "" if value is None else round(value, 4),
        count_value(t, rate.hits),
        count_value(t, rate.total),
    ]


_UNIT_COLUMNS = (
    N_("stats.col_code"),
    N_("stats.col_unit"),
    N_("stats.col_range"),
    N_("stats.col_cases"),
    N_("stats.col_acceptance"),
    N_("stats.col_acceptance_hits"),
    N_("stats.col_acceptance_total"),
    N_("stats.col_completion"),
    N_("stats.col_completion_hits"),
    N_("stats.col_completion_total"),
    N_("stats.col_satisfaction"),
    N_("stats.col_satisfaction_hits"),
    N_("stats.col_satisfaction_total"),
    N_("stats.col_reviews"),
    N_("stats.col_reviewed"),
    N_("stats.col_rechecks"),
    N_("stats.col_rechecked"),
    N_("stats.col_overdue"),
    N_("stats.col_conflicts"),
)
# Columns only when something records them (see UnitCounts): never a column of zeros.
_OPTIONAL_COLUMNS = (
    ("reviews_changed", N_("stats.col_reviews_changed")),
    ("rechecks_changed", N_("stats.col_rechecks_changed")),
    ("supervisions", N_("stats.col_supervisions")),
)


def unit_rows(units: UnitFigures, t: T) -> list[list[Any]]:
    """The per-unit table with its header (translated): every unit of the scope with the
    units under it, then with its own cases; the unit codes in the first column."""
    optional = [
        (name, header)
        for name, header in _OPTIONAL_COLUMNS
        if any(getattr(line, name) is not None for line in units.units)
    ]
    rows: list[list[Any]] = [[t(h) for h in _UNIT_COLUMNS] + [t(h) for _n, h in optional]]
    for line in units.units:
        code = "" if line.code in (OTHER_UNITS, NO_OWNER) else line.code
        scope = t(N_("stats.range_rolled")) if line.rolled else t(N_("stats.range_own"))
        row: list[Any] = [code, unit_label_of(t, line), scope, count_value(t, line.cases)]
        for rate in (line.on_time_acceptance, line.on_time_completion, line.satisfaction):
            row += _rate_cells(t, rate)
        for cell in (
            line.reviews,
            line.reviews_decided,
            line.rechecks,
            line.rechecks_decided,
            line.overdue,
            line.conflicts,
        ):
            row.append(count_value(t, cell))
        for name, _header in optional:
            value = getattr(line, name)
            row.append("" if value is None else count_value(t, value))
        rows.append(row)
    return rows


def units_csv(units: UnitFigures, t: T) -> bytes:
    """The per-unit table as CSV (UTF-8 with a byte order mark), Chinese headers in the
    Chinese locale."""
    out = io.StringIO()
    csv.writer(out).writerows(unit_rows(units, t))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _draw_charts(
    report: Shown, units: UnitFigures, tr: Any, policy: DeadlinePolicy
) -> tuple[bytes, bytes]:
    # matplotlib loads only when a chart is drawn, in the drawing thread.
    from bot.stats_chart import render_chart, render_unit_chart

    return render_chart(report, tr, policy), render_unit_chart(report, units, tr, policy)


class StatsService:
    """The ``/stats`` answer in the admin chat: figures, charts and CSV/XLSX exports, of
    the asking officer's part of the group."""

    def __init__(self, t: Translate, policy: DeadlinePolicy) -> None:
        self._t = t
        self._policy = policy

    async def __call__(
        self,
        uow: UnitOfWork,
        start: datetime,
        end: datetime,
        locale: str,
        now: datetime,
        *,
        unit_id: int | None = None,
        scope: frozenset[int] | None = None,
    ) -> list[Reply]:
        """Build the replies for a period: the cases of ``scope``, per unit from
        ``unit_id`` (None: the whole group)."""

        def tr(key: str, **params: Any) -> str:
            return self._t(key, locale, **params)

        exact = await build_report(uow, start, end, now, self._policy, scope=scope)
        tree = await uow.units.tree()
        # Rolling 200 units up and masking two tables of them takes 10–40 ms: off the loop.
        units = await asyncio.to_thread(unit_figures, exact, tree, unit_id)
        report = shown(exact)
        text = report_text(report, tr, self._policy)
        first, last = period_text(report, self._policy)
        stem = f"xinfang-stats-{first}-{last}"
        # Drawing takes a few hundred milliseconds, and the first use imports matplotlib and
        # loads its fonts (over a second): both off the event loop.
        png, unit_png = await asyncio.to_thread(_draw_charts, report, units, tr, self._policy)
        files = (
            FileOut("photo", f"{stem}.png", "image/png", png),
            FileOut("photo", f"{stem}-units.png", "image/png", unit_png),
            FileOut("document", f"{stem}.csv", "text/csv", report_csv(report, tr, self._policy)),
            FileOut("document", f"{stem}-units.csv", "text/csv", units_csv(units, tr)),
            FileOut(
                "document",
                f"{stem}.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                report_xlsx(report, tr, self._policy, units),
            ),
        )
        return [
            Reply(text),
            Reply(units_text(units, tr)),
            Reply(tr(N_("stats.files")), files=files),
        ]
