"""Statistics on a seeded data set whose figures were computed by hand: the rates, the
merging of small categories, the CSV/XLSX exports, the chart, ``/stats`` in the admin
chat and ``xinfang stats`` on the command line.

The group: 本集团 (JT) → 甲公司 (A: 一分厂 A1, 二分厂 A2), 乙公司 (B: 三分厂 B1)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.container import Container
from bot.stats import (
    build_report,
    report_csv,
    report_text,
    report_xlsx,
    unit_figures,
    units_csv,
    units_text,
)
from bot.stats_chart import (
    HEIGHT_PX,
    WIDTH_PX,
    cjk_font,
    render_chart,
    render_unit_chart,
    unit_chart_height,
)
from handlers.officer import stats_period
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_tracking_code, normalize_tracking_code
from petitions.deadlines import DeadlinePolicy, deadline_for
from petitions.roles import Role
from petitions.states import CaseState
from petitions.statistics import MERGED, OTHER_UNITS
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer, admin_chat

AS_OF = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
POLICY = DeadlinePolicy()


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 2, 0, tzinfo=UTC)


async def seed_group(container: Container) -> dict[str, int]:
    """The group's units: ids by code."""
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, d(1, 1))
        a = await uow.units.add("A", "甲公司", root.id, d(1, 1))
        b = await uow.units.add("B", "乙公司", root.id, d(1, 1))
        a1 = await uow.units.add("A1", "一分厂", a.id, d(1, 1))
        a2 = await uow.units.add("A2", "二分厂", a.id, d(1, 1))
        b1 = await uow.units.add("B1", "三分厂", b.id, d(1, 1))
        await uow.commit()
    return {u.code: u.id for u in (root, a, b, a1, a2, b1)}


UNIT_OF = {"一分厂": "A1", "二分厂": "A2", "三分厂": "B1"}


async def seed(container: Container) -> dict[str, int]:
    """Ten cases (see the expectations below for the arithmetic); the unit ids by code."""
    units = await seed_group(container)
    async with container.uow() as uow:
        wang = await uow.officers.add("王专员", Role.OFFICER, d(1, 1), unit_id=units["A1"])
        await uow.commit()
    S = CaseState
    rows = [
        # n, unit, category, channel, created, decided, responded, state, ext, review
        (
            1,
            "一分厂",
            Category.PAY,
            "telegram",
            d(1, 5),
            d(1, 10),
            d(2, 20),
            S.CLOSED,
            None,
            False,
        ),
        (2, "一分厂", Category.PAY, "telegram", d(2, 1), d(2, 20), d(5, 1), S.CLOSED, None, True),
        (3, "一分厂", Category.PAY, "wecom", d(3, 1), d(3, 5), d(5, 20), S.CLOSED, 20, False),
        (
            4,
            "一分厂",
            Category.LABOR,
            "wecom",
            d(4, 1),
            d(4, 2),
            None,
            S.NOT_ACCEPTED,
            None,
            False,
        ),
        (5, "二分厂", Category.SAFETY, "telegram", d(5, 1), None, None, S.REGISTERED, None, False),
        (
            6,
            "二分厂",
            Category.SAFETY,
            "telegram",
            d(6, 1),
            d(6, 3),
            None,
            S.IN_PROGRESS,
            None,
            False,
        ),
        (7, "二分厂", Category.SAFETY, "web", d(12, 20), None, None, S.REGISTERED, None, False),
        (8, "三分厂", Category.CONDUCT, "telegram", d(7, 1), None, None, S.WITHDRAWN, None, False),
        (
            9,
            "一分厂",
            Category.INSURANCE,
            "web",
            d(8, 1),
            d(8, 3),
            None,
            S.IN_PROGRESS,
            None,
            False,
        ),
        (
            10,
            "一分厂",
            Category.INSURANCE,
            "web",
            d(12, 28),
            None,
            None,
            S.REGISTERED,
            None,
            False,
        ),
    ]
    ratings = {1: "satisfied", 2: "unsatisfied", 3: "basic"}
    ids: dict[int, int] = {}
    async with container.uow() as uow:
        for n, unit, category, channel, created, decided, responded, state, ext, review in rows:
            case = Case(
                category=category,
                description=f"案件{n}",
                channel=channel,
                anonymous=True,
                locale="zh_CN",
                created_at=created,
                unit_id=units[UNIT_OF[unit]],
                # Cases 1-3 came up to their unit for a conflict of interest.
                conflict="leadership" if n <= 3 else None,
            )
            await uow.cases.add(
                case, normalize_tracking_code(generate_tracking_code()), None, None
            )
            assert case.id is not None
            ids[n] = case.id
            case.state, case.decided_at, case.responded_at = state, decided, responded
            case.extension_days = ext
            case.review_requested_at = d(5, 5) if review else None
            case.closed_at = d(6, 1) if state is S.CLOSED else None
            case.owner_officer_id = wang.id if n in (6, 9) else None
            case.deadline_at = deadline_for(case, POLICY)
            case.updated_at = created
            await uow.cases.save(case)
            if n in ratings:
                answer = await uow.feedback.open(case.id, "satisfaction", f"tok{n}", d(6, 1))
                answer.rating = ratings[n]
                await uow.feedback.save(answer)
        unsolved = await uow.feedback.open(ids[1], "follow_up", "fu1", d(7, 1))
        unsolved.solved = False
        await uow.feedback.save(unsolved)
        harmed = await uow.feedback.open(ids[3], "follow_up", "fu3", d(7, 1))
        harmed.solved, harmed.retaliation = True, True
        await uow.feedback.save(harmed)
        await uow.commit()
    return units


async def year_report(container: Container):  # type: ignore[no-untyped-def]
    period = stats_period(["2026-01-01", "2026-12-31"], AS_OF)
    assert period is not None
    async with container.uow() as uow:
        return await build_report(uow, period[0], period[1], AS_OF, POLICY)


async def test_the_rates_match_the_hand_computed_figures(container: Container) -> None:
    await seed(container)
    r = await year_report(container)
    assert r.total == 10
    # Acceptance: decided 1 ✓, 2 ✗ (19 days), 3 ✓, 4 ✓, 6 ✓, 9 ✓; 5 undecided past its
    # deadline ✗; 7 and 10 not yet due and 8 withdrawn are left out → 5/7.
    assert (r.on_time_acceptance.hits, r.on_time_acceptance.total) == (5, 7)
    # Completion: 1 ✓, 2 ✗ (answered 05-01 > 04-21), 3 ✓ (05-20 ≤ 05-24 with 20 days'
    # extension), 6 ✗ and 9 ✗ (unanswered past the deadline); 4 was not accepted → 2/5.
    assert (r.on_time_completion.hits, r.on_time_completion.total) == (2, 5)
    # Satisfaction: satisfied + fairly satisfied of three ratings → 2/3.
    assert (r.satisfaction.hits, r.satisfaction.total) == (2, 3)
    assert r.ratings == {"satisfied": 1, "basic": 1, "unsatisfied": 1}
    # Handling time: 46, 89 and 80 days → median 80.
    assert r.median_handling_days == 80.0
    assert r.overdue_by_owner == {"王专员": 2, "甲公司/二分厂": 1} and r.overdue_total == 3
    assert (r.reviews, r.retaliations, r.unsolved) == (1, 1, 1)
    assert r.by_state == {
        "closed": 3,
        "registered": 3,
        "in_progress": 2,
        "not_accepted": 1,
        "withdrawn": 1,
    }
    assert r.by_channel == {"telegram": 5, "web": 3, "wecom": 2}
    # 一分厂: pay 3 stays; labor 1 + insurance 2 merge into 3. 二分厂: safety 3.
    # 三分厂 has one case: pooled with the other small units, its category merged.
    assert r.by_unit_category == [
        ("甲公司/一分厂", "pay", 3),
        ("甲公司/一分厂", MERGED, 3),
        ("甲公司/二分厂", "safety", 3),
        (OTHER_UNITS, MERGED, 1),
    ]
    assert r.by_category == {MERGED: 4, "pay": 3, "safety": 3}


async def test_the_text_and_the_exports_carry_the_figures_and_no_identity(
    container: Container,
) -> None:
    await seed(container)
    r = await year_report(container)
    t = container.translator.t

    def tr(key: str, **params: object) -> str:
        return t(key, "zh_CN", **params)

    text = report_text(r, tr, POLICY)
    for expected in (
        "2026-01-01 至 2026-12-31",
        "案件总数：10 件",
        "及时受理率：71.4%（5/7）",
        # Counts below 3 show as "少于3"; the rates keep their hand-computed values.
        "按期办结率：40.0%（少于3/5）",
        "满意率：66.7%（满意 少于3，基本满意 少于3，不满意 少于3）",
        "办理用时中位数：80.0 天",
        "申请复查：少于3 件；反映打击报复：少于3 件；回头望未解决：少于3 件",
        # 王专员 2 and 二分厂 1 are pooled: a name with "<3" would say it has overdue cases.
        "超期案件：3 件（按负责人：其他负责人（合并） 3）",
        "甲公司/一分厂：薪酬福利 3，其他（合并） 3",
        "其他单位（合并）：其他（合并） 少于3",
        "按渠道：电报 5，网页 3，企业微信 少于3",
    ):
        assert expected in text, expected
    assert "三分厂" not in text and "劳动关系" not in text and "案件1" not in text
    assert "王专员" not in text
    assert not re.search(r" [0-2](?![0-9])", text)  # no count of 0, 1 or 2 anywhere

    rows = list(csv.reader(io.StringIO(report_csv(r, tr, POLICY).decode("utf-8-sig"))))
    assert rows[0] == ["分组", "项目", "数值"]
    values = {(s, i): v for s, i, v in rows[1:]}
    assert values[("比率", "及时受理率")] == "0.7143"
    assert values[("比率", "按期办结率")] == "0.4"
    assert values[("比率", "满意率")] == "0.6667"
    assert values[("概况", "办理用时中位数（天）")] == "80.0"
    assert values[("单位：甲公司/一分厂", "其他（合并）")] == "3"
    assert values[("概况", "反映打击报复")] == "少于3"
    assert values[("单位：其他单位（合并）", "其他（合并）")] == "少于3"
    assert values[("按渠道", "电报")] == "5" and values[("按渠道", "企业微信")] == "少于3"

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(report_xlsx(r, tr, POLICY)))
    assert book.sheetnames == [
        "汇总",
        "按类别",
        "按状态",
        "按渠道",
        "按单位与类别",
        "超期（按负责人）",
    ]
    summary = {(row[0], row[1]): row[2] for row in book["汇总"].iter_rows(values_only=True)}
    assert summary[("概况", "案件总数")] == 10
    assert summary[("比率", "按期办结件数")] == "少于3"
    assert summary[("比率", "按期办结率计算件数")] == 5
    assert [tuple(row) for row in book["按渠道"].iter_rows(values_only=True)] == [
        ("电报", 5),
        ("网页", 3),
        ("企业微信", "少于3"),
    ]
    assert [tuple(row) for row in book["超期（按负责人）"].iter_rows(values_only=True)] == [
        ("其他负责人（合并）", 3),
    ]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_chart_is_a_real_png_with_bars_in_the_report_colours(
    container: Container,
) -> None:
    await seed(container)
    r = await year_report(container)

    def tr(key: str, **params: object) -> str:
        return container.translator.t(key, "zh_CN", **params)

    png = render_chart(r, tr, POLICY)
    assert _png_size(png) == (WIDTH_PX, HEIGHT_PX)
    assert 20_000 < len(png) < 2_000_000
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png))
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    rgb = (pixels[:, :, :3] * 255).round().astype(int)
    white = (rgb == 255).all(axis=2).mean()
    assert 0.5 < white < 0.97  # drawn on, not blank and not a solid block

    def share(hex_colour: str) -> float:
        want = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
        return float((abs(rgb - want).sum(axis=2) <= 6).mean())

    def bars(hex_colour: str) -> int:
        want = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
        rows = (abs(rgb - want).sum(axis=2) <= 6).any(axis=1)
        return int((rows[1:] & ~rows[:-1]).sum() + rows[0])  # runs of rows with the colour

    # Each panel's bars are there: categories red, states blue, rates green, overdue orange.
    for colour in ("#c0392b", "#2980b9", "#27ae60", "#e67e22"):
        assert share(colour) > 0.003, colour
    # Only figures of 3 or more get a bar: the three category cells (merged 4, pay 3,
    # safety 3), two of the twelve states (closed 3, registered 3), the three rates, and
    # one pooled overdue bar (王专员 2 + 二分厂 1); the masked cells carry a label only.
    assert [bars(c) for c in ("#c0392b", "#2980b9", "#27ae60", "#e67e22")] == [3, 2, 3, 1]


def test_the_project_installs_a_chinese_font_for_the_chart() -> None:
    if os.environ.get("CI") != "true" and cjk_font() is None:
        pytest.skip("fonts-wqy-microhei is not installed on this machine")
    assert cjk_font() == "WenQuanYi Micro Hei"


async def test_stats_in_the_admin_chat_answer_with_figures_a_chart_and_exports(
    container: Container, clock: FakeClock
) -> None:
    await seed(container)
    clock.now = AS_OF
    officer = await add_officer(container)
    replies = await officer.say("/stats 2026-01-01 2026-12-31")
    assert "及时受理率：71.4%（5/7）" in replies[0].text
    assert replies[1].text.startswith("🏢")
    files = replies[2].files
    assert [(f.kind, f.name.rsplit(".", 1)[1]) for f in files] == [
        ("photo", "png"),
        ("photo", "png"),
        ("document", "csv"),
        ("document", "csv"),
        ("document", "xlsx"),
    ]
    assert _png_size(files[0].data) == (WIDTH_PX, HEIGHT_PX)
    assert files[1].name.endswith("-units.png") and files[3].name.endswith("-units.csv")
    await officer.say("/stats 2026-12-31 2026-01-01")
    assert officer.text == container.translator.t("officer.stats_usage", "zh_CN")


async def test_xinfang_stats_prints_the_figures_of_a_period(
    container: Container,
    env: dict[str, str],
    keys: tuple[object, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from bot.cli import main

    await seed(container)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("bot.container.utc_now", lambda: AS_OF)
    argv = [
        "stats",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--csv",
        str(tmp_path / "s.csv"),
        "--xlsx",
        str(tmp_path / "s.xlsx"),
        "--chart",
        str(tmp_path / "s.png"),
    ]
    assert await asyncio.to_thread(main, argv) == 0  # the console script, as typed
    out = capsys.readouterr().out
    assert "及时受理率：71.4%（5/7）" in out and "按期办结率：40.0%（少于3/5）" in out
    assert "反映打击报复：少于3 件" in out
    assert "满意率：66.7%" in out and "办理用时中位数：80.0 天" in out
    assert (tmp_path / "s.csv").read_bytes().startswith("\ufeff分组,项目,数值".encode())
    assert (tmp_path / "s.xlsx").read_bytes()[:2] == b"PK"
    assert _png_size((tmp_path / "s.png").read_bytes()) == (WIDTH_PX, HEIGHT_PX)


async def test_without_a_chinese_font_the_chart_still_renders_and_warns(
    container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from matplotlib import font_manager

    await seed(container)
    r = await year_report(container)
    latin = [f for f in font_manager.fontManager.ttflist if f.name == "DejaVu Sans"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin)
    monkeypatch.setattr("bot.stats_chart.CJK_FONT_FILES", ())  # none of the known files
    cjk_font.cache_clear()
    try:
        png = render_chart(r, lambda key, **p: container.translator.t(key, "zh_CN", **p), POLICY)
    finally:
        cjk_font.cache_clear()
    assert _png_size(png) == (WIDTH_PX, HEIGHT_PX) and len(png) > 20_000
    assert "no CJK font found" in caplog.text


async def test_stats_over_a_period_shorter_than_the_minimum_is_refused_in_the_admin_chat(
    container: Container, clock: FakeClock
) -> None:
    await seed(container)
    clock.now = AS_OF
    officer = await add_officer(container)
    too_short = container.translator.t("officer.stats_too_short", "zh_CN", days=28)
    assert "28 天" in too_short
    for words in ("2026-03-01 2026-03-01", "2026-03-01 2026-03-27"):
        replies = await officer.say(f"/stats {words}")
        assert [r.text for r in replies] == [too_short]
        assert not any(r.files for r in replies)
    replies = await officer.say("/stats 2026-03-01 2026-03-28")  # 28 days, both included
    assert replies[0].text.startswith("📊") and "2026-03-01 至 2026-03-28" in replies[0].text


async def test_the_minimum_period_comes_from_xinfang_stats_min_days(
    env: dict[str, str], keys: tuple[object, Path], clock: FakeClock
) -> None:
    from bot.container import build_container
    from bot.settings import load_settings

    settings = load_settings({**env, "XINFANG_STATS_MIN_DAYS": "7"})
    container = await build_container(settings, keyring=keys[0], clock=clock)  # type: ignore[arg-type]
    try:
        assert container.services.config.stats_min_days == 7
        clock.now = AS_OF
        officer = await add_officer(container)
        await officer.say("/stats 2026-03-01 2026-03-06")
        assert officer.text == container.translator.t("officer.stats_too_short", "zh_CN", days=7)
        replies = await officer.say("/stats 2026-03-01 2026-03-07")
        assert "2026-03-01 至 2026-03-07" in replies[0].text
    finally:
        await container.close()


async def test_xinfang_stats_refuses_a_period_shorter_than_the_minimum(
    container: Container,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from bot.cli import main

    await seed(container)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("bot.container.utc_now", lambda: AS_OF)
    csv_file = str(tmp_path / "s.csv")
    argv = ["stats", "--from", "2026-03-01", "--to", "2026-03-01", "--csv", csv_file]
    assert await asyncio.to_thread(main, argv) == 2
    captured = capsys.readouterr()
    assert container.translator.t("officer.stats_too_short", "zh_CN", days=28) in captured.err
    assert "信访统计" not in captured.out and not (tmp_path / "s.csv").exists()
    monkeypatch.setenv("XINFANG_STATS_MIN_DAYS", "1")
    assert await asyncio.to_thread(main, argv[:5]) == 0
    assert "📊 信访统计 2026-03-01 至 2026-03-01" in capsys.readouterr().out


# -- per unit ---------------------------------------------------------------------------------
#
# Per unit (handling unit, hand-computed): 一分厂 has cases 1-4, 9, 10 (acceptance 4/5,
# completion 2/4, satisfaction 2/3, review 1, overdue 1 (9), conflicts 3); 二分厂 5-7
# (acceptance 1/2, completion 0/1, overdue 2 (5, 6)); 三分厂 8 (withdrawn). So 甲公司 rolled
# up: 9 cases, acceptance 5/7, completion 2/5, satisfaction 2/3, overdue 3, conflicts 3;
# 乙公司 1 case: pooled with the root's own (none).


async def staff(container: Container, unit: int | None, account: str) -> Any:
    """An officer of a unit (None: no unit, sees all) in the admin chat."""
    async with container.uow() as uow:
        await uow.officers.add(
            f"专员{account}", Role.OFFICER, d(1, 1), unit_id=unit, accounts={"telegram": account}
        )
        await uow.commit()
    return admin_chat(container, account)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_the_root_office_sees_every_company_rolled_up_with_small_units_pooled(
    container: Container, clock: FakeClock
) -> None:
    units = await seed(container)
    clock.now = AS_OF
    officer = await staff(container, units["JT"], "801")
    replies = await officer.say("/stats 2026-01-01 2026-12-31")
    text = replies[1].text
    lines = text.splitlines()
    assert lines[0].startswith("🏢 按单位统计")
    assert lines[1].startswith("本集团（合计）：案件 10 件，及时受理率 71.4%，按期办结率 40.0%")
    assert (
        "  甲公司：案件 9 件，及时受理率 71.4%，按期办结率 40.0%，满意率 66.7%，"
        "申请复查 少于3 件（已作复查意见 少于3），申请复核 少于3 件（已作复核意见 少于3），"
        "超期 3 件，利益冲突改由上级办理 3 件，"
        "复查改变原结论 少于3 件，复核改变复查结论 少于3 件，督办 少于3 件"
    ) in lines
    # 乙公司 (one case) and the root's own cases (none) are one pooled, masked row.
    assert lines[-1].startswith("  其他单位（合并）：案件 少于3 件，及时受理率 —")
    assert "乙公司" not in text and "三分厂" not in text
    # 督办 and "changed the outcome" are counted (migration 0015): none here, shown masked.
    assert "督办 少于3 件" in lines[1] and "复查改变原结论 少于3 件" in lines[1]
    assert not re.search(r" [0-2] 件", text)


async def test_an_officer_sees_the_statistics_of_their_own_subtree_only(
    container: Container, clock: FakeClock
) -> None:
    units = await seed(container)
    clock.now = AS_OF
    plant = await staff(container, units["A1"], "802")
    replies = await plant.say("/stats 2026-01-01 2026-12-31")
    assert "案件总数：6 件" in replies[0].text and "及时受理率：80.0%（4/5）" in replies[0].text
    head = "甲公司/一分厂（合计）：案件 6 件，及时受理率 80.0%，按期办结率 50.0%"
    assert head in replies[1].text
    everything = "\n".join(r.text for r in replies)
    assert "二分厂" not in everything and "三分厂" not in everything
    files = {f.name.rsplit("-", 1)[-1]: f.data for f in replies[2].files}
    rows = csv_rows(files["units.csv"])
    assert {row[0] for row in rows[1:]} == {"A1", ""}  # its own code, and the pooled row
    company = await staff(container, units["A"], "803")
    replies = await company.say("/stats 2026-01-01 2026-12-31")
    assert "案件总数：9 件" in replies[0].text
    lines = replies[1].text.splitlines()
    assert lines[1].startswith("甲公司（合计）：案件 9 件")
    assert [line.split("：")[0] for line in lines[2:]] == [
        "  甲公司/一分厂",
        "  甲公司/二分厂",
        "  其他单位（合并）",  # 甲公司's own cases: none
    ]
    assert "三分厂" not in "\n".join(r.text for r in replies)


async def test_the_unit_export_carries_the_codes_under_chinese_headers(
    container: Container,
) -> None:
    units = await seed(container)
    r = await year_report(container)
    async with container.uow() as uow:
        tree = await uow.units.tree()
    figures = unit_figures(r, tree, None)

    def tr(key: str, **params: object) -> str:
        return container.translator.t(key, "zh_CN", **params)

    rows = csv_rows(units_csv(figures, tr))
    assert rows[0][:4] == ["单位代码", "单位", "范围", "案件数"]
    assert "及时受理率" in rows[0] and "利益冲突改由上级办理" in rows[0]
    # Counted since migration 0015: the last columns, after the conflicts.
    assert rows[0][-3:] == ["复查改变原结论", "复核改变复查结论", "督办"]
    table = {(row[0], row[2]): row for row in rows[1:]}
    # With everything under it: the root, 甲公司 and its two plants; 乙公司 and 三分厂
    # (one case) pooled. Own cases: the two plants; the rest pooled.
    assert [k for k in table if k[1] == "含下级"] == [
        ("JT", "含下级"),
        ("A", "含下级"),
        ("A1", "含下级"),
        ("A2", "含下级"),
        ("", "含下级"),
    ]
    assert [k for k in table if k[1] == "本级"] == [("A1", "本级"), ("A2", "本级"), ("", "本级")]
    head = rows[0]
    company = dict(zip(head, table[("A", "含下级")], strict=True))
    assert company["单位"] == "甲公司" and company["案件数"] == "9"
    assert company["及时受理率"] == "0.7143" and company["超期"] == "3"
    assert company["满意率"] == "0.6667" and company["参与评价件数"] == "3"
    plant2 = dict(zip(head, table[("A2", "本级")], strict=True))
    assert plant2["按期办结率"] == "" and plant2["按期办结率计算件数"] == "少于3"
    pooled = dict(zip(head, table[("", "本级")], strict=True))
    assert pooled["单位"] == "其他单位（合并）" and pooled["案件数"] == "少于3"
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(report_xlsx(r, tr, POLICY, figures)))
    assert book.sheetnames[-1] == "按单位统计"
    sheet = [list(row) for row in book["按单位统计"].iter_rows(values_only=True)]
    assert sheet[0][:2] == ["单位代码", "单位"] and sheet[2][:4] == ["A", "甲公司", "含下级", 9]
    assert units["A"] and len(sheet) == len(rows)


async def test_the_unit_chart_ranks_the_units_by_a_rate(container: Container) -> None:
    await seed(container)
    r = await year_report(container)
    async with container.uow() as uow:
        tree = await uow.units.tree()
    a = tree.by_code("A")
    assert a is not None

    def tr(key: str, **params: object) -> str:
        return container.translator.t(key, "zh_CN", **params)

    figures = unit_figures(r, tree, a.id, rank_by="on_time_acceptance")
    png = render_unit_chart(r, figures, tr, POLICY)
    # Three rows: 一分厂 (80.0%), 二分厂 (two counted: no rate) and the pooled own cases.
    assert _png_size(png) == (WIDTH_PX, unit_chart_height(3))
    from matplotlib.image import imread

    rgb = (imread(io.BytesIO(png))[:, :, :3] * 255).round().astype(int)
    purple = (abs(rgb - [0x8E, 0x44, 0xAD]).sum(axis=2) <= 6).any(axis=1)
    runs = int((purple[1:] & ~purple[:-1]).sum() + purple[0])
    assert runs == 1  # one bar: the only rate over 3 or more cases


async def test_a_case_moving_between_small_units_leaves_the_unit_figures_unchanged(
    container: Container,
) -> None:
    units = await seed(container)
    r = await year_report(container)
    async with container.uow() as uow:
        tree = await uow.units.tree()

    def tr(key: str, **params: object) -> str:
        return container.translator.t(key, "zh_CN", **params)

    def views(report: Any) -> tuple[str, bytes, bytes]:
        figures = unit_figures(report, tree, None)
        return (
            units_text(figures, tr),
            units_csv(figures, tr),
            render_unit_chart(report, figures, tr, POLICY),
        )

    # 三分厂's case handled by 乙公司 instead (三分厂 1 → 0, 乙公司 0 → 1), or by the
    # root's office (乙公司 and 三分厂 0, the root's own 0 → 1): every such unit is pooled.
    moved = dict(r.by_unit)
    one = moved.pop(units["B1"])
    assert one.cases == 1
    for target in ("B", "JT"):
        other = replace(r, by_unit={**moved, units[target]: one})
        assert views(r) == views(other), target
    # A second case there (1 → 2) changes the totals it is part of, not 三分厂's row.
    two = replace(r, by_unit={**r.by_unit, units["B1"]: one + one})
    assert units_csv(unit_figures(two, tree, units["B"]), tr) == units_csv(
        unit_figures(r, tree, units["B"]), tr
    )


async def test_xinfang_stats_shows_one_units_own_figures_or_its_subtrees_rolled_up(
    container: Container,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from bot.cli import main

    await seed(container)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("bot.container.utc_now", lambda: AS_OF)
    period = ["stats", "--from", "2026-01-01", "--to", "2026-12-31"]
    assert await asyncio.to_thread(main, [*period, "--unit", "A1"]) == 0
    out = capsys.readouterr().out
    assert "案件总数：6 件" in out and "🏢 本单位统计（仅本级）" in out
    assert "甲公司/一分厂：案件 6 件，及时受理率 80.0%" in out
    assert await asyncio.to_thread(main, [*period, "--unit", "A"]) == 0
    out = capsys.readouterr().out  # 甲公司's own cases: none
    assert "甲公司：案件 少于3 件" in out and "案件总数：少于3 件" in out
    argv = [
        *period,
        "--unit",
        "A",
        "--rollup",
        "--rank",
        "acceptance",
        "--units-csv",
        str(tmp_path / "u.csv"),
        "--units-chart",
        str(tmp_path / "u.png"),
    ]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "案件总数：9 件" in out and "甲公司（合计）：案件 9 件" in out
    assert "  甲公司/一分厂：案件 6 件" in out and "  甲公司/二分厂：案件 3 件" in out
    rows = csv_rows((tmp_path / "u.csv").read_bytes())
    assert [row[0] for row in rows[1:]] == ["A", "A1", "A2", "", "A1", "A2", ""]
    assert _png_size((tmp_path / "u.png").read_bytes())[0] == WIDTH_PX
    assert await asyncio.to_thread(main, [*period, "--unit", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err
