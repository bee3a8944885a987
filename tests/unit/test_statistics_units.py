"""Per-unit statistics in the pure layer: counts per handling unit, rolled up the tree,
the rows staff see (small units pooled, counts masked), and figures that nothing records
yet left out rather than shown as 0."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.stats import rank_units, unit_figures, units_csv, units_text
from i18n import translator
from petitions.deadlines import DeadlinePolicy
from petitions.states import CaseState
from petitions.statistics import (
    NO_OWNER,
    OTHER_UNITS,
    CaseFacts,
    Rate,
    UnitCounts,
    compute_report,
    rollup,
    unit_overview,
    unit_table,
)
from petitions.units import Unit, UnitTree

POLICY = DeadlinePolicy()
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 12, 31, tzinfo=UTC)
AS_OF = datetime(2027, 1, 10, tzinfo=UTC)
TREE = UnitTree(
    [
        Unit(1, "JT", "本集团", None),
        Unit(2, "A", "甲公司", 1),
        Unit(3, "A1", "一分厂", 2),
        Unit(4, "A2", "二分厂", 2),
        Unit(5, "B", "乙公司", 1),
        Unit(6, "B1", "三分厂", 5),
    ]
)


def tr(key: str, **params: object) -> str:
    return translator().t(key, "zh_CN", **params)


def n(cases: int, **more: object) -> UnitCounts:
    return UnitCounts(cases=cases, **more)  # type: ignore[arg-type]


def test_rolling_up_adds_each_unit_and_everything_under_it() -> None:
    own = {1: n(1), 2: n(2, overdue=1), 3: n(10, reviews=4), 4: n(5), 6: n(7), None: n(4)}
    rolled = rollup(own, TREE)
    assert rolled[3] == own[3] and rolled[4] == own[4]
    assert rolled[2] == n(17, overdue=1, reviews=4)
    assert rolled[5].cases == 7 and rolled[6].cases == 7
    assert rolled[1].cases == 25  # the cases without a unit are in no subtree


def test_adding_counts_adds_rates_and_keeps_unrecorded_figures_unrecorded() -> None:
    a = n(3, on_time_acceptance=Rate(2, 3), supervisions=None)
    b = n(4, on_time_acceptance=Rate(1, 2), supervisions=None)
    assert (a + b).on_time_acceptance == Rate(3, 5) and (a + b).supervisions is None
    assert (a + n(1, supervisions=2)).supervisions == 2


def test_the_counts_per_unit_add_up_to_the_period_figures() -> None:
    base = CaseFacts(
        category="pay",
        state=CaseState.CLOSED,
        channel="web",
        unit="x",
        owner="x",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        decided_at=datetime(2026, 3, 2, tzinfo=UTC),
        responded_at=datetime(2026, 3, 20, tzinfo=UTC),
    )
    facts = [
        replace(base, unit_id=3, rating="satisfied", review_requested=True, reviewed=True),
        replace(base, unit_id=3, rating="unsatisfied", conflict=True),
        replace(base, unit_id=4, decided_at=None, responded_at=None, state=CaseState.REGISTERED),
        replace(base, unit_id=None, overdue=True, recheck_requested=True, rechecked=True),
    ]
    r = compute_report(facts, POLICY, start=START, end=END, as_of=AS_OF)
    assert r.by_unit[3] == UnitCounts(
        cases=2,
        on_time_acceptance=Rate(2, 2),
        on_time_completion=Rate(2, 2),
        satisfaction=Rate(1, 2),
        reviews=1,
        reviews_decided=1,
        conflicts=1,
    )
    assert r.by_unit[4].on_time_acceptance == Rate(0, 1)  # undecided past its deadline
    assert r.by_unit[None] == n(
        1,
        on_time_acceptance=Rate(1, 1),
        on_time_completion=Rate(1, 1),
        overdue=1,
        rechecks=1,
        rechecks_decided=1,
    )
    every = sum(r.by_unit.values(), UnitCounts())
    assert every.cases == r.total and every.on_time_acceptance == r.on_time_acceptance
    assert every.satisfaction == r.satisfaction and every.overdue == r.overdue_total


def test_the_overview_pools_small_rows_and_keeps_the_pooled_row_listed() -> None:
    own = {2: n(1), 3: n(10), 4: n(2), 6: n(7)}
    head, rows = unit_overview(own, TREE, 2)
    assert (head.code, head.rolled, head.counts.cases) == ("A", True, 13)
    # 甲公司's own (1) and 二分厂 (2) are pooled; 一分厂 is listed by its path name.
    assert [(r.code, r.name, r.counts.cases) for r in rows] == [
        ("A1", "甲公司/一分厂", 10),
        (OTHER_UNITS, "", 3),
    ]
    _head, rows = unit_overview({3: n(10)}, TREE, 3)
    assert [(r.code, r.counts.cases) for r in rows] == [("A1", 10), (OTHER_UNITS, 0)]


def test_the_whole_group_counts_cases_without_a_unit_in_a_row_of_their_own() -> None:
    head, rows = unit_overview({3: n(10), 6: n(4), None: n(5)}, TREE, None)
    assert head.code == "JT" and head.counts.cases == 19
    assert [r.code for r in rows] == ["A", "B", NO_OWNER, OTHER_UNITS]
    # Without units at all (a flat deployment): one row for everything.
    head, rows = unit_overview({None: n(5)}, UnitTree(()), None)
    assert head.counts.cases == 5 and [r.code for r in rows] == [NO_OWNER, OTHER_UNITS]


def test_a_small_subtree_is_pooled_once_at_its_highest_small_unit() -> None:
    own = {3: n(10), 5: n(1), 6: n(1), 4: n(1)}
    rolled = unit_table(own, TREE, None, rolled=True)
    assert [(r.code, r.counts.cases) for r in rolled] == [
        ("JT", 13),
        ("A", 11),
        ("A1", 10),
        (OTHER_UNITS, 3),  # 二分厂 1 + 乙公司's subtree 2 (三分厂 inside it, not again)
    ]
    mine = unit_table(own, TREE, None, rolled=False)
    assert [(r.code, r.counts.cases) for r in mine] == [("A1", 10), (OTHER_UNITS, 3)]


def report_with(by_unit: dict[int | None, UnitCounts]):  # type: ignore[no-untyped-def]
    r = compute_report([], POLICY, start=START, end=END, as_of=AS_OF)
    return replace(r, by_unit=by_unit)


def test_figures_that_nothing_records_are_left_out_and_shown_once_recorded() -> None:
    # Not counted (None): storage counts them since migration 0015; older counts had not.
    unrecorded: dict[str, object] = dict.fromkeys(
        ("supervisions", "reviews_changed", "rechecks_changed")
    )
    plain = unit_figures(report_with({3: n(10, **unrecorded), 4: n(5, **unrecorded)}), TREE, 2)
    rows = [line for line in units_text(plain, tr).splitlines() if "分厂" in line]
    assert len(rows) == 2 and not any("督办" in r or "改变" in r for r in rows)
    recorded = {
        3: n(10, supervisions=4, reviews_changed=3, rechecks_changed=0),
        4: n(5, supervisions=0, reviews_changed=0, rechecks_changed=0),
    }
    figures = unit_figures(report_with(recorded), TREE, 2)
    text = units_text(figures, tr)
    assert "，督办 4 件" in text and "复查改变原结论 3 件，复核改变复查结论 少于3 件" in text
    header = units_csv(figures, tr).decode("utf-8-sig").splitlines()[0]
    assert header.endswith("复查改变原结论,复核改变复查结论,督办")


def test_the_chart_ranks_rates_first_and_rows_without_a_rate_last_in_tree_order() -> None:
    own = {
        2: n(4, on_time_completion=Rate(1, 2)),  # 甲公司's own: too few counted
        3: n(10, on_time_completion=Rate(6, 10)),
        4: n(5, on_time_completion=Rate(5, 5)),
    }
    figures = unit_figures(report_with(own), TREE, 2)
    order = [(row.code, rate.value) for row, rate in rank_units(figures, tr)]
    assert order == [("A2", 1.0), ("A1", 0.6), ("A", None), (OTHER_UNITS, None)]
    by_acceptance = replace(figures, rank_by="on_time_acceptance")
    assert all(rate.value is None for _row, rate in rank_units(by_acceptance, tr))


def test_one_units_own_figures_are_one_row_masked_when_small() -> None:
    figures = unit_figures(report_with({2: n(2), 3: n(10)}), TREE, 2, rollup=False)
    assert figures.rows == [] and [u.code for u in figures.units] == ["A"]
    text = units_text(figures, tr)
    assert text.splitlines()[1].startswith("甲公司：案件 少于3 件")
