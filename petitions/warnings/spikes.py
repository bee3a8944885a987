"""Spikes: a unit's weekly count of one category against its own baseline.

For each unit and category the petitions are counted per week (weeks start at ``start``).
The baseline of week *w* is an exponentially weighted moving average (EWMA, weight
``alpha`` on the newest week) of the weeks before it, started with the mean of the first
``warmup`` weeks and never below ``floor`` per week. Week *w* is a spike when

- its count is at least ``min_count`` (and at least :data:`~petitions.statistics.MIN_CELL`),
- and a Poisson count with the baseline as its mean reaches it with probability below
  ``p_value``: P(X ≥ count | λ = baseline) < p.

A spike week does not feed the baseline (the baseline carries on unchanged), so one
outbreak does not hide the next week's. Every figure needed to explain the alert is in
the :class:`Spike`: this week's count, the baseline, p, and the weekly history for a chart.

Small units would single people out: as the statistics do (petitions/statistics.py), a unit
with fewer than :data:`~petitions.statistics.MIN_CELL` petitions over the whole series is
pooled into :data:`~petitions.statistics.OTHER_UNITS` before anything is computed. With a
``tree``, each unit's subtree is counted too (a company over its plants; ``rolled=True``),
so a rise spread thinly over several plants still shows at the company.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from petitions.statistics import MIN_CELL, OTHER_UNITS
from petitions.units import UnitTree

__all__ = [
    "Spike",
    "SpikeConfig",
    "ewma_baselines",
    "find_spikes",
    "poisson_tail",
    "weekly_counts",
]

UnitKey = int | str  # a unit id, or OTHER_UNITS for the pooled small units


@dataclass(frozen=True)
class SpikeConfig:
    """The knobs of spike detection (docs/early-warning.md says how to tune them)."""

    alpha: float = 0.3  # EWMA weight of the newest week
    p_value: float = 0.01  # Poisson upper tail below which a week is a spike
    min_count: int = 5  # fewer petitions in a week never make a spike
    warmup: int = 4  # weeks that only build the baseline
    floor: float = 0.5  # the smallest baseline (petitions per week)


@dataclass(frozen=True)
class Spike:
    """A week in which one unit's petitions of one category rose above its baseline."""

    unit: UnitKey
    category: str
    week: int  # index of the week since ``start``
    week_start: datetime
    count: int
    baseline: float
    p: float
    history: tuple[int, ...]  # counts of the weeks up to and including this one
    rolled: bool = False  # the unit's subtree, not only the unit itself


def poisson_tail(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    # 1 − P(X ≤ k−1), summed in log space for stability.
    term = math.exp(-lam)
    below = term
    for i in range(1, k):
        term *= lam / i
        below += term
    return max(0.0, 1.0 - below)


def weekly_counts(
    events: Iterable[tuple[int | None, str, datetime]],
    *,
    start: datetime,
    weeks: int,
) -> dict[tuple[UnitKey, str], list[int]]:
    """Counts per (unit, category) and week; small units pooled into OTHER_UNITS.

    ``events`` are (unit id, category, time); those outside the weeks are ignored.
    """
    raw: dict[tuple[int | None, str], list[int]] = {}
    for unit, category, at in events:
        week = int((at - start) / timedelta(weeks=1))
        if 0 <= week < weeks and at >= start:
            raw.setdefault((unit, category), [0] * weeks)[week] += 1
    totals: dict[int | None, int] = {}
    for (unit, _category), series in raw.items():
        totals[unit] = totals.get(unit, 0) + sum(series)
    out: dict[tuple[UnitKey, str], list[int]] = {}
    for (unit, category), series in raw.items():
        key: UnitKey = OTHER_UNITS if unit is None or totals[unit] < MIN_CELL else unit
        target = out.setdefault((key, category), [0] * weeks)
        for i, n in enumerate(series):
            target[i] += n
    return out


def _rolled(
    counts: dict[tuple[UnitKey, str], list[int]], tree: UnitTree, weeks: int
) -> dict[tuple[UnitKey, str], list[int]]:
    """Each unit with children: the sum of its subtree's series."""
    out: dict[tuple[UnitKey, str], list[int]] = {}
    for unit in tree.walk():
        if not tree.children(unit.id, include_retired=True):
            continue
        inside = tree.subtree(unit.id)
        for (key, category), series in counts.items():
            if isinstance(key, int) and key in inside:
                target = out.setdefault((unit.id, category), [0] * weeks)
                for i, n in enumerate(series):
                    target[i] += n
    return out


def ewma_baselines(series: list[int], cfg: SpikeConfig) -> list[tuple[float, float] | None]:
    """For each week: (baseline, p) once past the warm-up, else None."""
    out: list[tuple[float, float] | None] = []
    if len(series) <= cfg.warmup:
        return [None] * len(series)
    level = sum(series[: cfg.warmup]) / cfg.warmup
    out.extend([None] * cfg.warmup)
    for count in series[cfg.warmup :]:
        baseline = max(level, cfg.floor)
        p = poisson_tail(count, baseline)
        out.append((baseline, p))
        if not (count >= max(cfg.min_count, MIN_CELL) and p < cfg.p_value):
            level = cfg.alpha * count + (1 - cfg.alpha) * level
    return out


def find_spikes(
    events: Iterable[tuple[int | None, str, datetime]],
    *,
    start: datetime,
    weeks: int,
    config: SpikeConfig | None = None,
    tree: UnitTree | None = None,
    last: int | None = None,
) -> list[Spike]:
    """The spikes in ``weeks`` weeks from ``start`` (only the ``last`` weeks, if given)."""
    cfg = config or SpikeConfig()
    counts = weekly_counts(events, start=start, weeks=weeks)
    series_of: list[tuple[UnitKey, str, list[int], bool]] = [
        (unit, category, series, False) for (unit, category), series in counts.items()
    ]
    if tree is not None:
        series_of += [
            (unit, category, series, True)
            for (unit, category), series in _rolled(counts, tree, weeks).items()
        ]
    first = 0 if last is None else max(0, weeks - last)
    spikes: list[Spike] = []
    for unit, category, series, rolled in series_of:
        for week, result in enumerate(ewma_baselines(series, cfg)):
            if result is None or week < first:
                continue
            baseline, p = result
            count = series[week]
            if count >= max(cfg.min_count, MIN_CELL) and p < cfg.p_value:
                spikes.append(
                    Spike(
                        unit=unit,
                        category=category,
                        week=week,
                        week_start=start + timedelta(weeks=week),
                        count=count,
                        baseline=round(baseline, 3),
                        p=p,
                        history=tuple(series[: week + 1]),
                        rolled=rolled,
                    )
                )
    return sorted(spikes, key=lambda s: (s.week, s.p, str(s.unit), s.category))
