"""The small-cell rule: no count below 3 reaches staff, so a one-case change below the
threshold (0 → 1, 1 → 2) leaves the text, the CSV, the XLSX and the chart unchanged,
while counts of 3 and more show exactly; and statistics cover a minimum period."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.settings import SettingsError, load_settings
from bot.stats import report_csv, report_text, report_xlsx
from bot.stats_chart import render_chart
from handlers.officer import stats_period
from i18n import translator
from petitions.deadlines import DeadlinePolicy
from petitions.states import CaseState
from petitions.statistics import (
    MIN_CELL,
    MIN_PERIOD_DAYS,
    CaseFacts,
    Report,
    compute_report,
    period_days,
    shown,
    suppress,
)
from petitions.units import Unit, UnitTree

POLICY = DeadlinePolicy()
START = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01 in Beijing
END = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 2026-04-01 in Beijing: March
AS_OF = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)


def d(day: int) -> datetime:
    return datetime(2026, 3, day, 2, 0, tzinfo=UTC)


def case(n: int, **changes: Any) -> CaseFacts:
    """An answered, closed case of 一分厂 about pay that came in by Telegram."""
    facts = CaseFacts(
        category="pay",
        state=CaseState.CLOSED,
        channel="telegram",
        unit="一分厂",
        owner="一分厂",
        created_at=d(1 + n % 28),
        decided_at=d(1 + n % 28),
        responded_at=d(1 + n % 28),
    )
    return replace(facts, **changes)


def base() -> list[CaseFacts]:
    """Twelve plain cases: every figure they make is 3 or more, or 0."""
    return [case(n) for n in range(12)]


def report(facts: list[CaseFacts]) -> Report:
    return compute_report(facts, POLICY, start=START, end=END, as_of=AS_OF)


def tr_for(locale: str) -> Callable[..., str]:
    def tr(key: str, **params: object) -> str:
        return translator().t(key, locale, **params)

    return tr


tr = tr_for("zh_CN")


def xlsx_cells(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def with_changes(changes: dict[int, dict[str, Any]]) -> list[CaseFacts]:
    facts = base()
    for n, fields in changes.items():
        facts[n] = replace(facts[n], **fields)
    return facts


# Each pair differs in exactly one case, and moves one figure between 0 and 1 or 1 and 2
# (a case moves between two cells below the threshold, so the total stays the same).
PAIRS: dict[str, tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]] = {
    "retaliation 0 vs 1": ({}, {0: {"retaliation": True}}),
    "retaliation 1 vs 2": (
        {0: {"retaliation": True}},
        {0: {"retaliation": True}, 1: {"retaliation": True}},
    ),
    "unsolved 0 vs 1": ({}, {0: {"unsolved": True}}),
    "unsolved 1 vs 2": ({0: {"unsolved": True}}, {0: {"unsolved": True}, 1: {"unsolved": True}}),
    "channel 0 vs 1": (
        {0: {"channel": "wecom"}, 1: {"channel": "wecom"}},
        {0: {"channel": "web"}, 1: {"channel": "wecom"}},
    ),
    "channel 1 vs 2": (
        {0: {"channel": "web"}, 1: {"channel": "wecom"}},
        {0: {"channel": "web"}, 1: {"channel": "web"}},
    ),
    "rating 0 vs 1": ({}, {0: {"rating": "unsatisfied"}}),
    "rating 1 vs 2": (
        {0: {"rating": "unsatisfied"}},
        {0: {"rating": "unsatisfied"}, 1: {"rating": "unsatisfied"}},
    ),
    "category 0 vs 1": (
        {0: {"category": "conduct"}, 1: {"category": "conduct"}},
        {0: {"category": "labor"}, 1: {"category": "conduct"}},
    ),
    "category 1 vs 2": (
        {0: {"category": "labor"}, 1: {"category": "conduct"}},
        {0: {"category": "labor"}, 1: {"category": "labor"}},
    ),
    "unit 0 vs 1": (
        {0: {"unit": "四分厂"}, 1: {"unit": "四分厂"}},
        {0: {"unit": "三分厂"}, 1: {"unit": "四分厂"}},
    ),
    "unit 1 vs 2": (
        {0: {"unit": "三分厂"}, 1: {"unit": "四分厂"}},
        {0: {"unit": "三分厂"}, 1: {"unit": "三分厂"}},
    ),
    "overdue owner 0 vs 1": (
        {0: {"overdue": True, "owner": "李专员"}, 1: {"overdue": True, "owner": "李专员"}},
        {0: {"overdue": True, "owner": "王专员"}, 1: {"overdue": True, "owner": "李专员"}},
    ),
    "overdue owner 1 vs 2": (
        {0: {"overdue": True, "owner": "王专员"}, 1: {"overdue": True, "owner": "李专员"}},
        {0: {"overdue": True, "owner": "王专员"}, 1: {"overdue": True, "owner": "王专员"}},
    ),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_one_case_change_below_three_leaves_what_staff_see_unchanged(name: str) -> None:
    facts = [with_changes(c) for c in PAIRS[name]]
    assert sum(a != b for a, b in zip(*facts, strict=True)) == 1
    first, second = (report(f) for f in facts)
    if not name.startswith(("category", "unit")):  # those are merged by compute_report
        assert first != second  # the exact figures do differ
    for locale in ("zh_CN", "en"):
        t = tr_for(locale)
        assert report_text(first, t, POLICY) == report_text(second, t, POLICY)
        assert report_csv(first, t, POLICY) == report_csv(second, t, POLICY)
        assert xlsx_cells(report_xlsx(first, t, POLICY)) == xlsx_cells(
            report_xlsx(second, t, POLICY)
        )


@pytest.mark.parametrize("name", ["retaliation 0 vs 1", "channel 1 vs 2", "overdue owner 0 vs 1"])
def test_a_one_case_change_below_three_leaves_the_chart_unchanged(name: str) -> None:
    first, second = (report(with_changes(c)) for c in PAIRS[name])
    assert render_chart(first, tr, POLICY) == render_chart(second, tr, POLICY)


def test_the_retaliation_report_shows_as_fewer_than_three_in_every_format() -> None:
    r = report(with_changes({0: {"retaliation": True}}))
    assert "反映打击报复：少于3 件" in report_text(r, tr, POLICY)
    assert "retaliation reports: <3" in report_text(r, tr_for("en"), POLICY)
    assert "概况,反映打击报复,少于3" in report_csv(r, tr, POLICY).decode("utf-8-sig")
    assert "summary,retaliation reports,<3" in report_csv(r, tr_for("en"), POLICY).decode(
        "utf-8-sig"
    )
    summary = xlsx_cells(report_xlsx(r, tr, POLICY))["汇总"]
    assert ("概况", "反映打击报复", "少于3") in summary


THREE: dict[str, tuple[dict[int, dict[str, Any]], str]] = {
    "retaliation": ({n: {"retaliation": True} for n in range(3)}, "反映打击报复：3 件"),
    "unsolved": ({n: {"unsolved": True} for n in range(3)}, "回头望未解决：3 件"),
    "channel": ({n: {"channel": "web"} for n in range(3)}, "网页 3"),
    "rating": (
        {n: {"rating": "unsatisfied"} for n in range(3)},
        "满意率：0.0%（满意 少于3，基本满意 少于3，不满意 3）",
    ),
    "category": ({n: {"category": "labor"} for n in range(3)}, "一分厂：薪酬福利 9，劳动关系 3"),
    "unit": ({n: {"unit": "三分厂"} for n in range(3)}, "三分厂：薪酬福利 3"),
    "overdue owner": ({n: {"overdue": True, "owner": "王专员"} for n in range(3)}, "王专员 3"),
}


@pytest.mark.parametrize("name", list(THREE))
def test_a_count_of_three_or_more_shows_exactly(name: str) -> None:
    changes, expected = THREE[name]
    text = report_text(report(with_changes(changes)), tr, POLICY)
    assert expected in text
    two = report_text(report(with_changes(dict(list(changes.items())[:2]))), tr, POLICY)
    assert expected not in two


def test_suppress_masks_zero_one_and_two_and_keeps_three_and_more() -> None:
    assert [suppress(n).exact for n in range(6)] == [None, None, None, 3, 4, 5]
    assert suppress(0).masked and not suppress(MIN_CELL).masked


def test_every_known_channel_state_and_rating_is_listed_even_at_zero() -> None:
    # A name that appeared with its first case would tell that case apart.
    view = shown(report(base()))
    assert list(view.by_channel) == ["telegram", "wecom", "web"]
    assert len(view.by_state) == len(CaseState) and list(view.by_state)[0] == "closed"
    assert all(view.by_state[s.value].masked for s in CaseState if s is not CaseState.CLOSED)
    assert list(view.ratings) == ["satisfied", "basic", "unsatisfied"]
    assert view.overdue_by_owner == {"_other_owners": suppress(0)}
    assert ("_other_units", "_merged", suppress(0)) in view.by_unit_category


def test_rates_and_the_median_over_fewer_than_three_cases_are_not_shown() -> None:
    facts = [replace(f, responded_at=None, state=CaseState.IN_PROGRESS) for f in base()]
    facts[0] = replace(facts[0], responded_at=d(20), rating="satisfied")
    facts[1] = replace(facts[1], responded_at=d(25), rating="unsatisfied")
    r = report(facts)
    assert r.satisfaction.total == 2 and r.median_handling_days is not None
    text = report_text(r, tr, POLICY)
    assert "满意率：—（满意 少于3，基本满意 少于3，不满意 少于3）" in text
    assert "办理用时中位数：— 天" in text
    view = shown(r)
    assert view.satisfaction.value is None and view.median_handling_days is None
    three = report([*facts[:2], replace(facts[2], responded_at=d(22), rating="basic")])
    assert shown(three).satisfaction.value == pytest.approx(2 / 3)


def test_the_period_is_counted_in_whole_local_days() -> None:
    now = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    one_day = stats_period(["2026-03-01", "2026-03-01"], now)
    march = stats_period(["2026-03-01", "2026-03-31"], now)
    assert one_day is not None and march is not None
    assert period_days(*one_day) == 1 and period_days(*march) == 31


def test_without_dates_early_in_january_the_period_reaches_back_the_minimum() -> None:
    now = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    period = stats_period([], now, MIN_PERIOD_DAYS)
    assert period is not None and period_days(*period) == MIN_PERIOD_DAYS
    later = stats_period([], datetime(2026, 6, 1, 4, 0, tzinfo=UTC), MIN_PERIOD_DAYS)
    assert later is not None and later[0] == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


def test_the_minimum_period_is_a_setting_of_28_days_by_default() -> None:
    assert load_settings({}).stats_min_days == MIN_PERIOD_DAYS == 28
    assert load_settings({"XINFANG_STATS_MIN_DAYS": "90"}).stats_min_days == 90
    with pytest.raises(SettingsError, match="XINFANG_STATS_MIN_DAYS"):
        load_settings({"XINFANG_STATS_MIN_DAYS": "0"})


# -- per unit -------------------------------------------------------------------------------

GROUP = UnitTree(
    [
        Unit(1, "JT", "本集团", None),
        Unit(2, "A", "甲公司", 1),
        Unit(3, "A1", "一分厂", 2),
        Unit(4, "A2", "二分厂", 2),
        Unit(5, "B", "乙公司", 1),
        Unit(6, "B1", "三分厂", 5),
    ]
)


def unit_base() -> list[CaseFacts]:
    """Twelve cases at 一分厂 and three at 二分厂: every unit figure is 3 or more, or 0."""
    return [replace(case(n), unit_id=3) for n in range(12)] + [
        replace(case(n), unit_id=4, unit="二分厂") for n in range(12, 15)
    ]


# Each pair differs in one case and moves a unit's figure between 0 and 1 or 1 and 2 (the
# total stays the same: the case moves between two small cells).
UNIT_PAIRS: dict[str, tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]] = {
    "small unit 0 vs 1": ({0: {"unit_id": 5}}, {0: {"unit_id": 6}}),
    "small unit 1 vs 2": (
        {0: {"unit_id": 5}, 1: {"unit_id": 6}},
        {0: {"unit_id": 6}, 1: {"unit_id": 6}},
    ),
    "root's own 0 vs 1": ({0: {"unit_id": 6}}, {0: {"unit_id": 1}}),
    "conflict 0 vs 1": ({}, {0: {"conflict": True}}),
    "conflict 1 vs 2": ({0: {"conflict": True}}, {0: {"conflict": True}, 1: {"conflict": True}}),
    "recheck 0 vs 1": ({}, {0: {"recheck_requested": True}}),
    "review decided 1 vs 2": (
        {0: {"reviewed": True}},
        {0: {"reviewed": True}, 1: {"reviewed": True}},
    ),
    "overdue at a small plant 1 vs 2": (
        {12: {"overdue": True}},
        {12: {"overdue": True}, 13: {"overdue": True}},
    ),
}


def with_unit_changes(changes: dict[int, dict[str, Any]]) -> list[CaseFacts]:
    facts = unit_base()
    for n, fields in changes.items():
        facts[n] = replace(facts[n], **fields)
    return facts


@pytest.mark.parametrize("top", [None, 2, 5])
@pytest.mark.parametrize("name", list(UNIT_PAIRS))
def test_a_one_case_change_below_three_leaves_the_unit_figures_unchanged(
    name: str, top: int | None
) -> None:
    from bot.stats import unit_figures, units_csv, units_text

    first, second = (report(with_unit_changes(c)) for c in UNIT_PAIRS[name])
    assert first.by_unit != second.by_unit  # the exact figures do differ
    for locale in ("zh_CN", "en"):
        t = tr_for(locale)
        a, b = (unit_figures(r, GROUP, top) for r in (first, second))
        assert units_text(a, t) == units_text(b, t)
        assert units_csv(a, t) == units_csv(b, t)
        sheet = "按单位统计" if locale == "zh_CN" else "unit figures"
        assert (
            xlsx_cells(report_xlsx(first, t, POLICY, a))[sheet]
            == xlsx_cells(report_xlsx(second, t, POLICY, b))[sheet]
        )


@pytest.mark.parametrize("name", ["small unit 1 vs 2", "overdue at a small plant 1 vs 2"])
def test_a_one_case_change_below_three_leaves_the_unit_chart_unchanged(name: str) -> None:
    from bot.stats import unit_figures
    from bot.stats_chart import render_unit_chart

    first, second = (report(with_unit_changes(c)) for c in UNIT_PAIRS[name])
    a, b = (unit_figures(r, GROUP, None) for r in (first, second))
    assert render_unit_chart(first, a, tr, POLICY) == render_unit_chart(second, b, tr, POLICY)


def test_a_unit_of_three_cases_is_listed_by_name_and_two_are_pooled() -> None:
    from bot.stats import unit_figures, units_text

    three = units_text(unit_figures(report(unit_base()), GROUP, 2), tr)
    assert "  甲公司/二分厂：案件 3 件" in three
    two = unit_base()[:-1]
    text = units_text(unit_figures(report(two), GROUP, 2), tr)
    assert "二分厂" not in text and "  其他单位（合并）：案件 少于3 件" in text
