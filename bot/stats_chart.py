"""The statistics chart: matplotlib, headless (Agg), Chinese labels.

Chinese needs a CJK font. The project installs Debian's ``fonts-wqy-microhei``
(``.ci/run`` and the README). The font files at the known paths of :data:`CJK_FONT_FILES`
are added to matplotlib directly, so a font installed after matplotlib built its font
cache is found without deleting that cache; failing those, any of :data:`CJK_FONTS` that
matplotlib knows is used. With none, the chart is still drawn (CJK glyphs show as boxes)
and a warning is logged once.

The chart draws the masked figures of :func:`petitions.statistics.shown`, like the text
and the exports. A count below 3 gets no bar, only its label "少于3": a bar of any length
would draw a number (a short bar would say 1 or 2, a zero-length one 0), and its label
alone says exactly what the text says. Overdue owners with fewer than 3 cases are
pooled into one bar. A rate over fewer than 3 cases gets no bar and "—".

:func:`render_unit_chart` ranks units by one rate (按期办结率 by default): the asked unit's
own cases and each child subtree, units of fewer than 3 cases pooled into one bar; rates
over fewer than 3 cases come last, unranked, in the tree's order.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: before pyplot is imported

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.stats import (  # noqa: E402
    UnitFigures,
    category_label,
    count_text,
    owner_label,
    percent,
    period_text,
    rank_units,
    state_label,
    unit_label_of,
)
from i18n import N_  # noqa: E402
from petitions.deadlines import DeadlinePolicy  # noqa: E402
from petitions.statistics import MIN_CELL, Cell, Report, Shown, shown  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "CJK_FONTS",
    "CJK_FONT_FILES",
    "HEIGHT_PX",
    "WIDTH_PX",
    "cjk_font",
    "render_chart",
    "render_unit_chart",
    "unit_chart_height",
]

log = logging.getLogger(__name__)

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
)
# Where Debian/Ubuntu, Fedora/RHEL and Alpine put the CJK fonts we know (first found wins).
CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
DPI = 100
WIDTH_PX, HEIGHT_PX = 1200, 900
T = Callable[..., str]


def _add_font_file(path: str) -> str | None:
    """Add a font file to matplotlib's font list (not only its cache); its family name."""
    try:
        font_manager.fontManager.addfont(path)
        name: str = font_manager.FontProperties(fname=path).get_name()
    except (OSError, RuntimeError, ValueError):
        log.warning("the CJK font file %s could not be read", path)
        return None
    return name


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed font that has Chinese glyphs, or None (logged once)."""
    for path in CJK_FONT_FILES:
        # matplotlib's cache lists the fonts of its first run; a font installed later is
        # in no cache, so the known files are added directly.
        if os.path.isfile(path) and (name := _add_font_file(path)) is not None:
            return name
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    log.warning(
        "no CJK font found (install fonts-wqy-microhei); the chart's Chinese labels "
        "will show as boxes"
    )
    return None


def _bars(
    ax: Any,
    labels: list[str],
    values: list[float | None],
    texts: list[str],
    color: str,
    title: str,
) -> None:
    # A value of None (a masked count, a rate over too few cases) gets no bar, only its text.
    ax.set_title(title)
    if not labels:
        ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    positions = list(range(len(labels)))
    drawn = [(y, v) for y, v in zip(positions, values, strict=True) if v is not None]
    ax.barh([y for y, _v in drawn], [v for _y, v in drawn], color=color)
    ax.set_yticks(positions, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first item on top, also when no bar is drawn
    if not drawn:
        ax.set_xlim(0, 1)
    for y, v, text in zip(positions, values, texts, strict=True):
        ax.text(v or 0.0, y, f" {text}", va="center")


def _count_bars(
    ax: Any, t: T, cells: dict[str, Cell], label: Any, color: str, title: str
) -> None:
    _bars(
        ax,
        [label(t, k) for k in cells],
        [None if n.exact is None else float(n.exact) for n in cells.values()],
        [count_text(t, n) for n in cells.values()],
        color,
        title,
    )


def render_chart(report: Report | Shown, t: T, policy: DeadlinePolicy) -> bytes:
    """Draw the period's masked chart as PNG bytes (1200×900 px)."""
    r = report if isinstance(report, Shown) else shown(report)
    font = cjk_font()
    params: dict[RcKeyType, Any] = {"font.size": 11, "axes.unicode_minus": False}
    if font:
        params["font.family"] = [font, "DejaVu Sans"]
    first, last = period_text(r, policy)
    with matplotlib.rc_context(params), warnings.catch_warnings():
        # Without a CJK font every Chinese glyph would warn; one log line says it instead.
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        fig.suptitle(
            t(N_("stats.chart_title"), start=first, end=last, count=count_text(t, r.total))
        )
        grid = fig.subplots(2, 2)
        _count_bars(
            grid[0][0], t, r.by_category, category_label, "#c0392b",
            t(N_("stats.chart_category")),
        )
        _count_bars(
            grid[0][1], t, r.by_state, state_label, "#2980b9", t(N_("stats.chart_state"))
        )
        rates = [
            (t(N_("stats.chart_acceptance")), r.on_time_acceptance),
            (t(N_("stats.chart_completion")), r.on_time_completion),
            (t(N_("stats.chart_satisfaction")), r.satisfaction),
        ]
        ax = grid[1][0]
        _bars(
            ax,
            [label for label, _rate in rates],
            [None if rate.value is None else round(rate.value * 100, 1) for _l, rate in rates],
            [percent(rate) for _label, rate in rates],
            "#27ae60",
            t(N_("stats.chart_rates")),
        )
        ax.set_xlim(0, 110)
        _count_bars(
            grid[1][1], t, r.overdue_by_owner, owner_label, "#e67e22",
            t(N_("stats.chart_overdue")),
        )
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        buffer = io.BytesIO()
        fig.savefig(
            buffer,
            format="png",
            dpi=DPI,
            metadata={"Title": "xinfang statistics", "Description": f"{first}..{last}"},
        )
    return buffer.getvalue()


_RATE_LABELS = {
    "on_time_acceptance": N_("stats.chart_acceptance"),
    "on_time_completion": N_("stats.chart_completion"),
    "satisfaction": N_("stats.chart_satisfaction"),
}
_ROW_PX = 34  # height per bar of the unit chart


def unit_chart_height(rows: int) -> int:
    """The unit chart's height in pixels for this many bars."""
    return max(400, 160 + _ROW_PX * rows)


def render_unit_chart(
    report: Report | Shown, units: UnitFigures, t: T, policy: DeadlinePolicy
) -> bytes:
    """Draw the units ranked by ``units.rank_by`` as PNG bytes (1200 px wide)."""
    r = report if isinstance(report, Shown) else shown(report)
    order = rank_units(units, t)
    font = cjk_font()
    params: dict[RcKeyType, Any] = {"font.size": 11, "axes.unicode_minus": False}
    if font:
        params["font.family"] = [font, "DejaVu Sans"]
    first, last = period_text(r, policy)
    rate_label = t(_RATE_LABELS[units.rank_by])
    height = unit_chart_height(len(order))
    with matplotlib.rc_context(params), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig = Figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI)
        fig.suptitle(
            t(
                N_("stats.unit_chart_title"),
                rate=rate_label,
                start=first,
                end=last,
                unit=unit_label_of(t, units.head, units.head),
            )
        )
        ax = fig.subplots(1, 1)
        _bars(
            ax,
            [unit_label_of(t, row, units.head) for row, _rate in order],
            [None if rate.value is None else round(rate.value * 100, 1) for _r, rate in order],
            [
                t(N_("stats.unit_chart_bar"), rate=percent(rate), total=count_text(t, rate.total))
                for _row, rate in order
            ],
            "#8e44ad",
            t(N_("stats.unit_chart_note"), min=MIN_CELL),
        )
        ax.set_xlim(0, 115)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        buffer = io.BytesIO()
        fig.savefig(
            buffer,
            format="png",
            dpi=DPI,
            metadata={"Title": "xinfang unit statistics", "Description": f"{first}..{last}"},
        )
    return buffer.getvalue()
