"""Early warning in the running service (issue 16), through the channel-independent
handlers on SQLite and PostgreSQL: six similar petitions at one plant make exactly one
cluster alert to the plant's and the company's leaders, without any identity, and a second
scan does not alert again; 纪检's cases are never linked nor clustered; the similar-case
count on a card counts only what its reader may see; spikes alert once; ``/warnings`` stays
in the asker's part of the group; building the index does not stall the event loop."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.container import Container, build_container
from bot.settings import load_settings
from handlers.views import render_admin
from handlers.warnings import WARNING_KINDS, matter_of, scan
from petitions.roles import Role
from storage.models import CaseRow, OutboxRow, SimilarCaseRow
from storage.vault import aad
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import admin_chat, file_petition
from tests.helpers.scoping import CASES, PEOPLE, build_world, may_see
from tests.helpers.seeding import seed_cases

NAME, PHONE = "张三", "13812345678"
# One matter (unpaid overtime at workshop 3 of plant A-1), six employees, six wordings; the
# first names its writer and a phone number.
SIX = (
    f"我是{NAME}，电话{PHONE}。一厂三车间从去年十二月起加班费一直没发，每人欠了四千多元，"
    "车间王主任说没有预算，请领导督促补发。",
    "一厂三车间加班费拖欠三个月了，十二月到现在每人欠四千多元，王主任说没有预算。",
    "三车间的加班费从十二月开始就没发过，每人四千多元，王主任说没预算，一厂三车间的工人都很着急。",
    "反映一厂三车间拖欠加班费问题：十二月以来加班费没有发放，每人四千多元，车间王主任称没有预算。",
    "一厂三车间十二月、一月、二月的加班费都没发，每人四千多元，王主任一直说没有预算，希望尽快补发。",
    "我们是一厂三车间的，加班费从十二月起拖欠至今，每人欠四千多元，王主任说没有预算，请求补发。",
)
# Other matters, each its own: the older petitions that give the index its idf (a
# deployment's history; docs/early-warning.md on small deployments).
TOPICS = (
    "食堂饭菜价格上涨太快，质量却越来越差，希望公司管一管",
    "宿舍热水器坏了两个月，多次报修无人处理，冬天洗澡很困难",
    "劳保用品发放不及时，手套一个月只发一副，磨破了也不补",
    "夜班补贴标准多年没有调整，物价涨了补贴还是老样子",
    "劳动合同到期后没有及时续签，担心自己的权益受损",
    "社保缴费基数按最低标准缴纳，和实际工资明显不符",
    "厂区道路破损严重，下雨积水，上下班骑车很不安全",
    "年休假申请总被拒绝，领导说生产太忙以后再说",
    "班组长经常当众辱骂工人，态度恶劣，大家敢怒不敢言",
    "改制后的安置方案不透明，职工不知道自己的去向",
    "高温天气车间没有降温措施，已经有人中暑",
    "通勤班车取消后上下班很不方便，希望恢复",
)
GROUP = (
    ("JT", "本集团", None),
    ("JT-A", "甲公司", "JT"),
    ("JT-A-1", "甲一厂", "JT-A"),
    ("JT-A-2", "甲二厂", "JT-A"),
    ("JT-B", "乙公司", "JT"),
    ("JT-B-1", "乙一厂", "JT-B"),
)
LEADERS_CHATS = {"JT": "-2000", "JT-A": "-2001", "JT-A-1": "-2002", "JT-B": "-2003"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Leaders' chats of the root, both companies and plant A-1 (plant A-2 has none)."""
    chats = ";".join(f"{code}=telegram:{chat}" for code, chat in LEADERS_CHATS.items())
    return {**env, "XINFANG_UNIT_LEADERS_CHATS": chats}


async def make_group(container: Container) -> dict[str, int]:
    now = container.services.clock()
    ids: dict[str, int] = {}
    async with container.uow() as uow:
        for code, name, parent in GROUP:
            ids[code] = (await uow.units.add(code, name, ids[parent] if parent else None, now)).id
        await uow.commit()
    return ids


async def seed_texts(
    container: Container, rows: Sequence[dict[str, object]], texts: Sequence[str]
) -> list[int]:
    """Bulk cases (tests/helpers/seeding.py) with their own petition texts."""
    ids = await seed_cases(container, rows)
    vault = container.uow.vault
    async with container.uow() as uow:
        for case_id, text in zip(ids, texts, strict=True):
            ct = vault.encrypt_text(text, aad("cases", case_id, "description"))
            await uow.session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(description_ct=ct)
            )
        await uow.commit()
    return ids


async def history(container: Container, units: dict[str, int], n: int = 240) -> list[int]:
    """``n`` older petitions about other matters across the group (15–80 days ago)."""
    rng = random.Random(16)
    now = container.services.clock()
    plants = [units[c] for c in ("JT-A-1", "JT-A-2", "JT-B-1")]
    rows: list[dict[str, object]] = []
    texts: list[str] = []
    for i in range(n):
        unit = plants[i % len(plants)]
        rows.append(
            {
                "unit_id": unit,
                "origin_unit_id": unit,
                "category": rng.choice(["pay", "labor", "safety", "other"]),
                "created_at": now - timedelta(days=15 + rng.randrange(65), hours=i % 24),
            }
        )
        texts.append(f"{TOPICS[i % len(TOPICS)]}，第{i}号反映，请尽快处理。")
    return await seed_texts(container, rows, texts)


@dataclass(frozen=True)
class Alert:
    audience: str
    chat: str | None
    kind: str
    payload: dict[str, object]
    case_id: int | None


async def alerts(container: Container, kind: str | None = None) -> list[Alert]:
    """The early-warning rows of the outbox, payloads decrypted."""
    async with container.uow() as uow:
        stmt = select(OutboxRow).where(OutboxRow.kind.in_(sorted(WARNING_KINDS)))
        rows = (await uow.session.execute(stmt.order_by(OutboxRow.id))).scalars().all()
        found = []
        for row in rows:
            payload = uow.outbox.payload(row)
            chat = payload.get("chat_id") or payload.get("admin_chat")
            found.append(Alert(row.audience, chat, row.kind, payload, row.case_id))
    return [a for a in found if kind is None or a.kind == kind]


async def rendered(container: Container, alert: Alert) -> str:
    async with container.uow() as uow:
        replies = await render_admin(
            uow,
            container.translator.t,
            "zh_CN",
            alert.kind,
            alert.payload,
            container.services.clock(),
        )
    return text_of(replies)


async def links(container: Container) -> set[tuple[int, int]]:
    async with container.uow() as uow:
        rows = await uow.session.execute(select(SimilarCaseRow.case_id, SimilarCaseRow.similar_id))
        return {(a, b) for a, b in rows.all()}


def employee(container: Container, n: int) -> ChatUser:
    return ChatUser(container.handlers, chat_id=str(30_000 + n), sender_id=str(30_000 + n))


async def file_six(container: Container, clock: FakeClock) -> list[tuple[int, str]]:
    """The six petitions, one every few hours, at plant A-1 (typed as the employee would)."""
    filed = []
    for n, text in enumerate(SIX):
        clock.advance(hours=5)
        got = await file_petition(
            container, employee(container, n), description=text, unit="甲一厂"
        )
        filed.append((got.case_id, got.number))
    return filed


async def test_six_similar_petitions_at_one_plant_alert_the_plant_and_company_leaders_once(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units)
    await container.warnings.wait()  # type: ignore[union-attr]
    filed = await file_six(container, clock)
    ids = [case_id for case_id, _number in filed]
    # At submission each petition was linked with the earlier ones it resembles.
    linked = await links(container)
    assert any((ids[-1], other) in linked for other in ids[:-1]), linked
    assert all((b, a) in linked for a, b in linked)  # both ways

    result = await scan(container.services, clock())
    assert result.alerted_clusters == 1 and len(result.clusters) == 1
    cluster = result.clusters[0]
    assert sorted(i for i, _n in cluster.cases) == sorted(ids)
    sent = await alerts(container, "warning_cluster")
    # One alert: one message to plant A-1's leaders and one to company A's, nobody else.
    assert sorted((a.audience, a.chat) for a in sent) == [
        ("officer", LEADERS_CHATS["JT-A"]),
        ("officer", LEADERS_CHATS["JT-A-1"]),
    ]
    for alert in sent:
        text = await rendered(container, alert)
        everything = text + json.dumps(alert.payload, ensure_ascii=False)
        assert NAME not in everything and PHONE not in everything
        assert "138" not in everything  # no part of the phone number either
        for _case_id, number in filed:
            assert number in text
        assert "甲一厂" in text and "6" in text and "加班费" in text

    # The next day's scan finds the same cluster again: no second alert.
    clock.advance(days=1)
    again = await scan(container.services, clock())
    assert again.alerted_clusters == 0 and len(again.clusters) == 1
    assert not again.clusters[0].new
    assert len(await alerts(container, "warning_cluster")) == 2


async def test_a_petition_discipline_handles_is_never_linked_nor_clustered(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units)
    await container.warnings.wait()  # type: ignore[union-attr]
    filed = await file_six(container, clock)
    report = await file_petition(
        container, employee(container, 90), category="discipline", description=SIX[1],
        unit="甲一厂",
    )  # fmt: skip
    routed = await file_petition(
        container, employee(container, 91), description=SIX[2], unit="甲一厂",
        conflict="discipline",
    )  # fmt: skip
    later = await file_petition(
        container, employee(container, 92), description=SIX[3], unit="甲一厂"
    )
    hidden = {report.case_id, routed.case_id}
    linked = await links(container)
    assert not any(a in hidden or b in hidden for a, b in linked), linked
    assert any(a == later.case_id for a, _b in linked)  # ordinary petitions still are
    result = await scan(container.services, clock())
    members = {i for c in result.clusters for i, _n in c.cases}
    assert members >= {case_id for case_id, _n in filed} and not members & hidden


async def test_the_similar_count_on_a_card_counts_only_the_cases_its_reader_may_see(
    container: Container,
) -> None:
    w = await build_world(container)
    now = container.services.clock()
    async with container.uow() as uow:
        for case in CASES:  # every case linked with every other (as if all were similar)
            others = [(w.cases[o.key], 0.5) for o in CASES if o is not case]
            await uow.warnings.add_links(w.cases[case.key], others, now)
        await uow.commit()
    failures = []
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        for case in CASES:
            if not may_see(person, case):
                continue
            text = text_of(await chat.say(f"/case {w.numbers[case.key]}"))
            visible = [o for o in CASES if o is not case and may_see(person, o)]
            hidden = [o for o in CASES if o is not case and not may_see(person, o)]
            row = f"/case {case.key} by {person.key}"
            if case.category == "discipline" or case.conflict == "discipline":
                visible = []  # a 纪检 case's card names no similar case (never linked)
            expected = f"相似案件 {len(visible)} 件" if visible else None
            if expected and expected not in text:
                failures.append(f"{row}: no {expected!r}")
            if not visible and "相似案件" in text:
                failures.append(f"{row}: a similar line over invisible cases")
            if leaked := [o.key for o in hidden if w.numbers[o.key] in text]:
                failures.append(f"{row}: names {leaked}")
    assert not failures, "\n".join(failures)
    # The card pushed to the admin chats names only what anyone reading it may see: cases
    # of the case's own subtree, ordinary, keeping no officer away.
    async with container.uow() as uow:
        card = await render_admin(
            uow, container.translator.t, "zh_CN", "case_card",
            {"case_id": w.cases["a_company"]}, now,
        )  # fmt: skip
    text = text_of(card)
    assert "相似案件 2 件" in text, text
    assert w.numbers["a1"] in text and w.numbers["a2"] in text
    for key in ("b1", "a1_jijian", "a_conflict", "a1_excluded"):
        assert w.numbers[key] not in text, key


async def test_warnings_shows_a_cluster_only_within_the_askers_part_of_the_group(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units)
    await container.warnings.wait()  # type: ignore[union-attr]
    filed = await file_six(container, clock)
    await scan(container.services, clock())
    people = {
        "leader_a": (Role.LEADER, "JT-A", True),
        "leader_a1": (Role.LEADER, "JT-A-1", True),
        "root": (Role.OFFICER, "JT", True),
        "leader_b": (Role.LEADER, "JT-B", False),
        "officer_a2": (Role.OFFICER, "JT-A-2", False),
    }
    async with container.uow() as uow:
        for n, (key, (role, code, _sees)) in enumerate(people.items()):
            await uow.officers.add(
                key, role, clock(), unit_id=units[code], accounts={"telegram": str(700 + n)}
            )
        jijian = await uow.officers.add(
            "纪检", Role.DISCIPLINE, clock(), unit_id=units["JT"], accounts={"telegram": "799"}
        )
        await uow.commit()
    for n, (key, (_role, _code, sees)) in enumerate(people.items()):
        text = text_of(await admin_chat(container, str(700 + n)).say("/warnings"))
        named = [number for _i, number in filed if number in text]
        if sees:
            assert len(named) == 6 and "6 件相似信访" in text, (key, text)
            assert NAME not in text and PHONE not in text
        else:
            assert not named and text == container.translator.t("warnings.none", "zh_CN")
    refused = text_of(await admin_chat(container, "799").say("/warnings"))
    assert refused == container.translator.t("error.not_permitted", "zh_CN")
    assert jijian.id


async def test_a_weekly_rise_of_one_category_at_a_unit_alerts_its_leaders_once(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await container.warnings.wait()  # type: ignore[union-attr]
    now = clock()
    rows: list[dict[str, object]] = []
    for week in range(1, 20):  # about one safety petition a week at plant A-1
        rows.append({"unit_id": units["JT-A-1"], "category": "safety",
                     "created_at": now - timedelta(weeks=week, days=1)})  # fmt: skip
    for hour in range(8):  # then eight in the last day
        rows.append({"unit_id": units["JT-A-1"], "category": "safety",
                     "created_at": now - timedelta(hours=hour + 1)})  # fmt: skip
    await seed_texts(container, rows, [f"车间{i}号安全隐患{i * 7919}" for i in range(len(rows))])
    result = await scan(container.services, now)
    plant = [s for s in result.spikes if s.unit == "甲公司/甲一厂" and s.category == "safety"]
    assert plant and plant[0].count == 8 and plant[0].new, result.spikes
    sent = await alerts(container, "warning_spike")
    to_plant = [a for a in sent if a.chat == LEADERS_CHATS["JT-A-1"]]
    assert len(to_plant) == 1
    text = await rendered(container, to_plant[0])
    assert "安全生产" in text or "safety" in text or "8" in text
    assert "8" in text
    clock.advance(hours=2)
    await scan(container.services, clock())
    assert len(await alerts(container, "warning_spike")) == len(sent)


async def test_a_submission_before_the_index_is_built_is_linked_by_the_next_scan(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units)
    index = container.warnings
    assert index is not None and not index.ready
    filed = await file_six(container, clock)
    # The first submission started the build; the ones before it finished were not looked
    # up (never waiting for the build inside an employee's submission).
    await index.wait()
    assert index.ready
    await scan(container.services, clock())
    linked = await links(container)
    first = filed[0][0]
    assert any(a == first for a, _b in linked), linked


def test_the_matter_shown_masks_names_and_numbers_before_it_is_cut() -> None:
    text = f"我是{NAME}，手机 138 1234 5678，邮箱 zs@example.com。一厂三车间加班费拖欠。"
    shown = matter_of(text)
    assert NAME not in shown and "1234" not in shown and "example" not in shown
    assert shown.startswith("我是▇▇")


class Probe:
    """A task that sleeps 5 ms at a time and records its worst lateness."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - asked - 0.005)


async def test_building_the_index_does_not_stall_the_event_loop(
    container: Container, clock: FakeClock
) -> None:
    units = await make_group(container)
    await history(container, units, n=3000)
    probe = Probe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        await container.warnings.wait()  # type: ignore[union-attr]
    finally:
        task.cancel()
    took = time.perf_counter() - started
    print(f"index of 3,000 petitions built in {took:.2f} s, worst loop lateness "
          f"{probe.worst * 1000:.0f} ms")  # fmt: skip
    assert len(container.warnings) == 3000  # type: ignore[arg-type]
    assert probe.worst < 0.75  # generous for CI (tests/integration/test_scale_stalls.py)


class _Node:
    """A container object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_the_daily_prune_frees_garbage_cycles_instead_of_freezing_them_for_good(
    container: Container,
) -> None:
    assert container.warnings is not None
    await container.warnings.wait()
    gc.unfreeze()  # the test process is shared: start and end with nothing frozen
    try:
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        await container.warnings.prune()
        assert gc.get_freeze_count() > 0  # what lives on is out of the collector's walks
        gc.collect()  # a frozen cycle would survive this
        assert gone() is None
    finally:
        gc.unfreeze()


def test_xinfang_warnings_scan_prints_the_cluster_by_case_numbers_without_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    assert main(["migrate"]) == 0

    async def seed() -> list[str]:
        container = await build_container(load_settings(), admin_channels=("console",))
        try:
            units = await make_group(container)
            await history(container, units)
            numbers = []
            for n, text in enumerate(SIX):
                who = employee(container, n)
                numbers.append((await file_petition(container, who, description=text,
                                                    unit="甲一厂")).number)  # fmt: skip
            return numbers
        finally:
            await container.close()

    numbers = asyncio.run(seed())
    capsys.readouterr()
    assert main(["warnings", "scan"]) == 0
    out = capsys.readouterr()
    assert all(number in out.out for number in numbers), out.out
    assert "甲一厂" in out.out and "6 件相似信访" in out.out
    assert NAME not in out.out + out.err and PHONE not in out.out + out.err
    assert "已读取：" in out.err  # progress for long scans (the CLI speaks zh_CN by default)
    # Printing alerts nobody; --alert queues the alert once.
    assert main(["warnings", "scan", "--alert"]) == 0
    assert "已排队提醒：聚集 1 个" in capsys.readouterr().out
    assert main(["warnings", "scan", "--alert"]) == 0
    assert "已排队提醒：聚集 0 个" in capsys.readouterr().out
