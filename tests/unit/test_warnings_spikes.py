"""Spikes: a unit's weekly count of one category against its own EWMA baseline, with a
Poisson tail; small units pooled as the statistics pool them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from petitions.statistics import OTHER_UNITS
from petitions.units import Unit, UnitTree
from petitions.warnings.spikes import (
    SpikeConfig,
    ewma_baselines,
    find_spikes,
    poisson_tail,
    weekly_counts,
)

START = datetime(2026, 1, 5, tzinfo=UTC)
TREE = UnitTree(
    [Unit(100, "JT", "本集团", None), Unit(1, "A1", "一厂", 100), Unit(2, "A2", "二厂", 100)]
)


def events(unit: int, category: str, per_week: list[int]) -> list[tuple[int, str, datetime]]:
    return [
        (unit, category, START + timedelta(weeks=week, hours=i + 1))
        for week, n in enumerate(per_week)
        for i in range(n)
    ]


def test_poisson_tail_matches_the_formula() -> None:
    assert poisson_tail(0, 2.0) == 1.0
    assert poisson_tail(1, 1.0) == pytest.approx(1 - math.exp(-1))
    expected = 1 - sum(math.exp(-1.5) * 1.5**k / math.factorial(k) for k in range(5))
    assert poisson_tail(5, 1.5) == pytest.approx(expected)
    assert poisson_tail(3, 0.0) == 0.0


def test_a_jump_far_above_the_baseline_is_a_spike_with_its_figures() -> None:
    series = [1, 1, 1, 1, 1, 1, 1, 8]
    (spike,) = find_spikes(events(1, "pay", series), start=START, weeks=len(series))
    assert (spike.unit, spike.category, spike.week, spike.count) == (1, "pay", 7, 8)
    assert spike.baseline == pytest.approx(1.0)
    assert spike.p == pytest.approx(poisson_tail(8, 1.0)) and spike.p < 0.01
    assert spike.history == tuple(series)
    assert spike.week_start == START + timedelta(weeks=7)


def test_a_small_rise_or_one_below_the_minimum_count_is_not_a_spike() -> None:
    assert find_spikes(events(1, "pay", [3, 3, 3, 3, 3, 3, 6]), start=START, weeks=7) == []
    # p is tiny for 4 on a baseline of 0.5, but four petitions are below the minimum count.
    assert find_spikes(events(1, "pay", [1, 0, 0, 1, 0, 0, 4]), start=START, weeks=7) == []


def test_weeks_of_the_warm_up_are_never_spikes() -> None:
    assert find_spikes(events(1, "pay", [0, 9, 0, 0, 0]), start=START, weeks=5) == []


def test_a_spike_week_does_not_raise_the_baseline_of_the_next() -> None:
    baselines = ewma_baselines([1, 1, 1, 1, 9, 9], SpikeConfig())
    assert baselines[4] is not None and baselines[5] is not None
    assert baselines[5][0] == pytest.approx(baselines[4][0])
    spikes = find_spikes(events(1, "pay", [1, 1, 1, 1, 9, 9]), start=START, weeks=6)
    assert [s.week for s in spikes] == [4, 5]


def test_units_with_fewer_than_three_petitions_are_pooled() -> None:
    counts = weekly_counts(events(1, "pay", [1, 1]) + events(2, "pay", [5]), start=START, weeks=2)
    assert (1, "pay") not in counts
    assert counts[(OTHER_UNITS, "pay")] == [1, 1]
    assert counts[(2, "pay")] == [5, 0]


def test_a_rise_spread_over_plants_shows_at_their_parent_with_the_tree() -> None:
    each = [1, 1, 1, 1, 1, 1, 1, 4]
    items = events(1, "pay", each) + events(2, "pay", each)
    assert find_spikes(items, start=START, weeks=8) == []
    (spike,) = find_spikes(items, start=START, weeks=8, tree=TREE)
    assert (spike.unit, spike.rolled, spike.count) == (100, True, 8)


def test_only_the_last_weeks_can_be_asked_for() -> None:
    series = [1, 1, 1, 1, 9, 1, 1, 9]
    weeks = [s.week for s in find_spikes(events(1, "pay", series), start=START, weeks=8, last=1)]
    assert weeks == [7]
