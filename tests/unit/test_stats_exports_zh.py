"""No English word in the Chinese statistics: the /stats text and every cell and sheet title
of the CSV and XLSX exports are scanned for Latin words, as the zh_CN catalog is; only the
unit codes in the first column of the per-unit sheet may be Latin."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.stats import (
    report_csv,
    report_text,
    report_xlsx,
    unit_figures,
    units_text,
)
from i18n import translator
from petitions.deadlines import DeadlinePolicy
from petitions.states import CaseState
from petitions.statistics import CaseFacts, Report, compute_report, shown
from petitions.units import Unit, UnitTree
from tests.unit.test_zh_catalog_latin import latin_words

POLICY = DeadlinePolicy()
START = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01 in Beijing
END = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 2026-04-01 in Beijing: March
AS_OF = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)

GROUP = UnitTree(
    [
        Unit(1, "JT", "本集团", None),
        Unit(2, "A", "甲公司", 1),
        Unit(3, "A1", "一分厂", 2),
        Unit(4, "A2", "二分厂", 2),
        Unit(5, "B", "乙公司", 1),
    ]
)
CODES = {"JT", "A", "A1", "A2", "B"}


def tr(key: str, **params: object) -> str:
    return translator().t(key, "zh_CN", **params)


def busy_month() -> Report:
    """A month with something in every section: each channel and rating (some below 3),
    several categories and states, overdue cases, reviews, 督办 and a collective matter."""
    channels = ["telegram"] * 7 + ["wecom"] * 5 + ["web"] * 3
    ratings = ["satisfied"] * 4 + ["basic"] * 3 + ["unsatisfied"] * 2 + [None] * 6
    facts = []
    for n, (channel, rating) in enumerate(zip(channels, ratings, strict=True)):
        day = datetime(2026, 3, 1 + n, 2, 0, tzinfo=UTC)
        facts.append(
            CaseFacts(
                category=("pay", "labor", "safety")[n % 3],
                state=CaseState.CLOSED if n < 9 else CaseState.IN_PROGRESS,
                channel=channel,
                unit=("一分厂", "二分厂")[n % 2],
                owner="王专员" if n >= 12 else "李专员",
                created_at=day,
                decided_at=day,
                responded_at=day if n < 9 else None,
                rating=rating,
                unit_id=(3, 4, 5)[n % 3],
                overdue=n >= 12,
                review_requested=n < 4,
                reviewed=n < 3,
                review_changed=n == 0,
                retaliation=n < 3,
                unsolved=n == 1,
                supervised=n < 5,
                matter_id=100 if n in (5, 6, 7) else None,
            )
        )
    facts[14] = replace(facts[14], category="conduct")  # a small category, merged
    return compute_report(facts, POLICY, start=START, end=END, as_of=AS_OF)


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def test_the_chinese_statistics_text_csv_and_xlsx_contain_no_english_words() -> None:
    exact = busy_month()
    figures = unit_figures(exact, GROUP, None)
    report = shown(exact)
    text = "\n".join([report_text(report, tr, POLICY), units_text(figures, tr)])
    # Every channel is named, in Chinese: the scan below would pass on an empty report.
    assert "按渠道：电报 7，企业微信 5，网页 3" in text
    leaks: dict[str, list[str]] = {}
    if words := latin_words(text):
        leaks["text"] = words

    table = csv.reader(io.StringIO(report_csv(report, tr, POLICY).decode("utf-8-sig")))
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            if words := latin_words(cell):
                leaks[f"csv {r}:{c}"] = words

    workbook = sheets(report_xlsx(report, tr, POLICY, figures))
    assert len(workbook) == 7  # the summary, five breakdowns and the per-unit table
    per_unit = list(workbook)[-1]
    for title, rows in workbook.items():
        if words := latin_words(title):
            leaks[f"sheet {title}"] = words
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if title == per_unit and r > 0 and c == 0:
                    assert cell in CODES or cell in (None, "")  # unit codes may be Latin
                    continue
                if isinstance(cell, str) and (words := latin_words(cell)):
                    leaks[f"{title} {r}:{c}"] = words
    assert leaks == {}
