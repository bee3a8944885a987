"""The statistics chart: matplotlib, headless (Agg), Chinese labels.

Chinese needs a CJK font. The project installs Debian's ``fonts-wqy-microhei``
(``.ci/run`` and the README); any of :data:`CJK_FONTS` found by matplotlib is used. With
none, the chart is still drawn (CJK glyphs show as boxes) and a warning is logged once.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: before pyplot is imported

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.stats import category_label, owner_label, percent, period_text, state_label  # noqa: E402
from i18n import N_  # noqa: E402
from petitions.deadlines import DeadlinePolicy  # noqa: E402
from petitions.statistics import Report  # noqa: E402

__all__ = ["CJK_FONTS", "WIDTH_PX", "HEIGHT_PX", "cjk_font", "render_chart"]

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
DPI = 100
WIDTH_PX, HEIGHT_PX = 1200, 900
T = Callable[..., str]


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed font that has Chinese glyphs, or None (logged once)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    log.warning(
        "no CJK font found (install fonts-wqy-microhei); the chart's Chinese labels "
        "will show as boxes"
    )
    return None


def _bars(ax: Any, labels: list[str], values: list[float], color: str, title: str) -> None:
    ax.set_title(title)
    if not labels:
        ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    positions = list(range(len(labels)))
    ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    for y, v in zip(positions, values, strict=True):
        ax.text(v, y, f" {v:g}", va="center")


def render_chart(report: Report, t: T, policy: DeadlinePolicy) -> bytes:
    """Draw the period's chart as PNG bytes (1200×900 px)."""
    font = cjk_font()
    params: dict[str, Any] = {"font.size": 11, "axes.unicode_minus": False}
    if font:
        params["font.family"] = [font, "DejaVu Sans"]
    first, last = period_text(report, policy)
    with matplotlib.rc_context(params), warnings.catch_warnings():
        # Without a CJK font every Chinese glyph would warn; one log line says it instead.
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        fig.suptitle(t(N_("stats.chart_title"), start=first, end=last, count=report.total))
        grid = fig.subplots(2, 2)
        cats = report.by_category
        _bars(
            grid[0][0],
            [category_label(t, c) for c in cats],
            [float(n) for n in cats.values()],
            "#c0392b",
            t(N_("stats.chart_category")),
        )
        states = report.by_state
        _bars(
            grid[0][1],
            [state_label(t, s) for s in states],
            [float(n) for n in states.values()],
            "#2980b9",
            t(N_("stats.chart_state")),
        )
        rates = [
            (t(N_("stats.chart_acceptance")), report.on_time_acceptance),
            (t(N_("stats.chart_completion")), report.on_time_completion),
            (t(N_("stats.chart_satisfaction")), report.satisfaction),
        ]
        ax = grid[1][0]
        _bars(
            ax,
            [f"{label} {percent(rate)}" for label, rate in rates],
            [round((rate.value or 0.0) * 100, 1) for _label, rate in rates],
            "#27ae60",
            t(N_("stats.chart_rates")),
        )
        ax.set_xlim(0, 110)
        owners = report.overdue_by_owner
        _bars(
            grid[1][1],
            [owner_label(t, o) for o in owners],
            [float(n) for n in owners.values()],
            "#e67e22",
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
