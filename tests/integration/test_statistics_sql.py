"""Statistics counted by the database match the per-case definitions in
:mod:`petitions.statistics`, on both databases and at any size, for the whole group and
for one part of it (an officer's subtree), per unit and in all.

The reference is the computation statistics used before they moved into SQL: every case
of the period loaded (``load_facts`` below, kept here as the oracle) and counted one by
one by :func:`petitions.statistics.compute_report`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert

from bot.container import Container
from bot.stats import build_report
from handlers.ports import UnitOfWork
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_tracking_code, normalize_tracking_code
from petitions.deadlines import (
    OFFICE_DEADLINE_STATES,
    OFFICE_ZONE,
    DeadlinePolicy,
    WorkingDaysPolicy,
    deadline_for,
    is_overdue,
)
from petitions.roles import Role
from petitions.states import CaseState
from petitions.statistics import (
    NO_OWNER,
    RATINGS,
    CaseFacts,
    Report,
    UnitCounts,
    compute_report,
    rollup,
)
from storage.models import CaseRow, FeedbackRow
from storage.statistics import working_day_table
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)

YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 in Beijing
YEAR_END = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 2027-01-01 in Beijing
AS_OF = datetime(2027, 1, 20, 3, 0, tzinfo=UTC)

# An official-style calendar: a weekday holiday week and a working Saturday (调休).
HOLIDAYS = {date(2026, 2, 16) + timedelta(days=n) for n in range(5)} | {date(2026, 5, 1)}
WORKING_WEEKENDS = {date(2026, 2, 14), date(2026, 2, 28), date(2026, 4, 26)}


def official(day: date) -> bool:
    """Monday to Friday, less the holidays, plus the swapped weekend days."""
    return day in WORKING_WEEKENDS or (day.weekday() < 5 and day not in HOLIDAYS)


POLICIES = {
    "calendar days": DeadlinePolicy(),
    "working days": WorkingDaysPolicy(),
    "holiday calendar": WorkingDaysPolicy(is_working_day=official),
    "short calendar days": DeadlinePolicy(accept_days=3, handle_days=7),
    "short working days": WorkingDaysPolicy(accept_days=2, handle_days=4),
}


async def load_facts(
    uow: UnitOfWork, start: datetime, end: datetime, now: datetime
) -> list[CaseFacts]:
    """The facts of the cases registered in [start, end), loaded case by case (the way
    statistics were computed before the SQL, kept as the reference)."""
    tree = await uow.units.tree()
    cases = await uow.cases.created_between(start, end)
    answers = await uow.feedback.for_cases([c.id for c in cases if c.id is not None])
    officers = {o.id: o for o in await uow.officers.list(include_inactive=True)}
    rating: dict[int, str] = {}
    unsolved: set[int] = set()
    retaliation: set[int] = set()
    for fb in answers:  # oldest first: the latest rating of a case wins
        if fb.kind == "satisfaction" and fb.rating:
            rating[fb.case_id] = fb.rating
        if fb.kind == "follow_up":
            if fb.solved is False:
                unsolved.add(fb.case_id)
            if fb.retaliation:
                retaliation.add(fb.case_id)
    facts = []
    for c in cases:
        assert c.id is not None
        officer = officers.get(c.owner_officer_id) if c.owner_officer_id else None
        facts.append(
            CaseFacts(
                category=c.category.value,
                state=c.state,
                channel=c.channel,
                unit=tree.path_name(c.unit_id) or NO_OWNER,
                owner=officer.name if officer else (tree.path_name(c.unit_id) or NO_OWNER),
                created_at=c.created_at,
                decided_at=c.decided_at,
                responded_at=c.responded_at,
                closed_at=c.closed_at,
                deadline_at=c.deadline_at,
                extension_days=c.extension_days,
                review_requested=c.review_requested_at is not None,
                overdue=is_overdue(c, now),
                rating=rating.get(c.id),
                unsolved=c.id in unsolved,
                retaliation=c.id in retaliation,
                unit_id=c.unit_id,
                reviewed=c.reviewed_at is not None,
                recheck_requested=c.recheck_requested_at is not None,
                rechecked=c.rechecked_at is not None,
                conflict=c.conflict is not None,
                review_changed=bool(c.review_changed),
                recheck_changed=bool(c.recheck_changed),
                supervised=c.supervision_count > 0,
            )
        )
    return facts


async def both_reports(
    container: Container,
    start: datetime,
    end: datetime,
    now: datetime,
    policy: DeadlinePolicy,
    scope: frozenset[int] | None = None,
) -> tuple[Report, Report]:
    """The report counted by SQL and the one counted case by case (of a scope's units)."""
    async with container.uow() as uow:
        sql = await build_report(uow, start, end, now, policy, scope=scope)
    async with container.uow() as uow:
        facts = await load_facts(uow, start, end, now)
    if scope is not None:
        facts = [f for f in facts if f.unit_id in scope]
    return sql, compute_report(facts, policy, start=start, end=end, as_of=now)


async def seed_group(container: Container) -> dict[str, int]:
    """本集团 → 甲公司 (一分厂, 二分厂), 乙公司 (三分厂): the unit ids by code."""
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, YEAR_START)
        a = await uow.units.add("A", "甲公司", root.id, YEAR_START)
        b = await uow.units.add("B", "乙公司", root.id, YEAR_START)
        a1 = await uow.units.add("A1", "一分厂", a.id, YEAR_START)
        a2 = await uow.units.add("A2", "二分厂", a.id, YEAR_START)
        b1 = await uow.units.add("B1", "三分厂", b.id, YEAR_START)
        await uow.commit()
    return {u.code: u.id for u in (root, a, b, a1, a2, b1)}


def _moment(rng: random.Random, start: datetime, days: float) -> datetime:
    at = start + timedelta(seconds=rng.uniform(0, days * 86400))
    at = at.replace(microsecond=rng.randrange(1_000_000))
    # Now and then just before or at local midnight, where the local date changes.
    if rng.random() < 0.15:
        local = at.astimezone(OFFICE_ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
        at = (local - timedelta(microseconds=rng.choice([0, 1]))).astimezone(UTC)
    return at


def _answer(rng: random.Random, after: datetime, days: int) -> datetime:
    """A time after ``after``: often exactly on a policy's deadline or a microsecond
    either side of it, otherwise anywhere in a few times the stage's length."""
    if rng.random() < 0.5:
        policy = rng.choice(list(POLICIES.values()))
        due = policy.add_days(after, days if rng.random() < 0.7 else policy.accept_days)
        return due + timedelta(microseconds=rng.choice([-1, 0, 0, 1]))
    return after + timedelta(seconds=rng.uniform(0, days * 2.5 * 86400))


async def seed_random(container: Container, n: int, seed: int) -> None:
    """``n`` cases in and around 2026 in every state, with owners, answers, ratings,
    follow-ups and reviews drawn at random (reproducibly)."""
    rng = random.Random(seed)
    states = list(CaseState)
    channels = ["telegram", "wecom", "web"]
    async with container.uow() as uow:
        tree = await uow.units.tree()
    if tree.by_code("JT") is None:
        await seed_group(container)
        async with container.uow() as uow:
            tree = await uow.units.tree()
    code = {u.code: u.id for u in tree.walk()}
    units = [code["A1"], code["A2"], code["B1"], code["A"], code["JT"]]
    async with container.uow() as uow:
        officers = [
            await uow.officers.add(f"专员{i}", Role.OFFICER, YEAR_START, unit_id=unit)
            for i, unit in enumerate([code["A1"], code["A2"], None, None, code["A1"]])
        ]
        await uow.officers.deactivate(officers[-1].id)  # still counted for its old cases
        await uow.commit()
    async with container.uow() as uow:
        for i in range(n):
            # Mostly in the year; a few just outside it, and one exactly at each end.
            if i == 0:
                created = YEAR_START
            elif i == 1:
                created = YEAR_END
            else:
                created = _moment(rng, YEAR_START - timedelta(days=20), 405)
            case = Case(
                category=rng.choice(list(Category)),
                description=f"案件{i}",
                channel=rng.choice(channels),
                anonymous=True,
                locale="zh_CN",
                created_at=created,
                unit_id=rng.choice([*units, None, None]),
                conflict=rng.choice([None, None, None, "leadership", "discipline"]),
            )
            await uow.cases.add(
                case, normalize_tracking_code(generate_tracking_code()), None, None
            )
            assert case.id is not None
            state = rng.choice(states)
            case.state = state
            undecided = state in (CaseState.REGISTERED, CaseState.WITHDRAWN)
            if not undecided or rng.random() < 0.3:
                case.decided_at = _answer(rng, created, 15)
            if case.decided_at is not None and state not in (
                CaseState.ACCEPTED,
                CaseState.NOT_ACCEPTED,
                CaseState.IN_PROGRESS,
                CaseState.EXTENDED,
            ):
                if rng.random() < 0.8:
                    case.extension_days = rng.choice([None, None, 0, 5, 20, 30])
                    case.responded_at = _answer(rng, case.decided_at, 60)
            elif state is CaseState.EXTENDED:
                case.extension_days = rng.choice([10, 30])
            if rng.random() < 0.25:
                case.review_requested_at = created + timedelta(days=90)
                if rng.random() < 0.7:
                    case.reviewed_at = created + timedelta(days=100)
                    if rng.random() < 0.5:
                        case.recheck_requested_at = created + timedelta(days=110)
                        if rng.random() < 0.6:
                            case.rechecked_at = created + timedelta(days=120)
            if state is CaseState.CLOSED:
                case.closed_at = (case.responded_at or created) + timedelta(days=31)
            owner = rng.choice([None, None, *officers])
            case.owner_officer_id = owner.id if owner else None
            case.deadline_at = deadline_for(case, rng.choice(list(POLICIES.values())))
            case.updated_at = created
            await uow.cases.save(case)
            for k in range(rng.choice([0, 0, 1, 1, 2, 3])):
                answer = await uow.feedback.open(
                    case.id, "satisfaction", f"s{seed}.{i}.{k}", created + timedelta(days=k)
                )
                answer.rating = rng.choice([*RATINGS, *RATINGS, None, ""])
                await uow.feedback.save(answer)
            if rng.random() < 0.4:
                follow = await uow.feedback.open(case.id, "follow_up", f"f{seed}.{i}", created)
                follow.solved = rng.choice([True, False, None])
                follow.retaliation = rng.choice([True, False, None, None])
                await uow.feedback.save(follow)
        await uow.commit()


@pytest.mark.parametrize("name", list(POLICIES))
async def test_sql_statistics_match_the_case_by_case_definitions_on_random_cases(
    container: Container, name: str
) -> None:
    await seed_random(container, 300, seed=12)
    policy = POLICIES[name]
    spring = datetime(2026, 2, 10, 5, 30, 0, 1, tzinfo=UTC)
    for start, end, now in (
        (YEAR_START, YEAR_END, AS_OF),
        (YEAR_START, YEAR_END, datetime(2026, 7, 1, 4, 0, tzinfo=UTC)),  # mid-year
        (spring, spring + timedelta(days=60), AS_OF),
    ):
        sql, reference = await both_reports(container, start, end, now, policy)
        assert sql == reference
    # The data reaches every branch of the definitions (or the comparison proves little).
    year, _ = await both_reports(container, YEAR_START, YEAR_END, AS_OF, policy)
    assert year.total > 250 and year.answered > 50
    for rate in (year.on_time_acceptance, year.on_time_completion, year.satisfaction):
        assert 0 < rate.hits < rate.total
    assert year.overdue_total and year.reviews and year.retaliations and year.unsolved
    assert NO_OWNER in {u for u, _c, _n in year.by_unit_category} | set(year.overdue_by_owner)
    # Per unit: every unit and the cases without one have their own counts, and every
    # per-unit figure is reached by the data.
    async with container.uow() as uow:
        tree = await uow.units.tree()
    b = tree.by_code("B")
    assert b is not None  # 乙公司 handles no case itself: only its plant does
    assert set(year.by_unit) == {*(u.id for u in tree.walk()), None} - {b.id}
    every = sum(year.by_unit.values(), UnitCounts())
    assert every.cases == year.total and every.reviews == year.reviews
    assert every.on_time_acceptance == year.on_time_acceptance
    assert every.on_time_completion == year.on_time_completion
    assert every.satisfaction == year.satisfaction
    assert every.overdue == year.overdue_total
    for figure in ("reviews_decided", "rechecks", "rechecks_decided", "conflicts"):
        assert getattr(every, figure) > 0, figure


async def test_a_channel_counted_in_no_fixed_column_is_still_counted(
    container: Container,
) -> None:
    # States and channels are summed in the totals' scan; a case from the console (a
    # channel outside that list) makes the sums fall short, and they are counted again.
    await seed_random(container, 60, seed=31)
    async with container.uow() as uow:
        case = Case(
            category=Category.PAY,
            description="控制台",
            channel="console",
            anonymous=True,
            locale="zh_CN",
            created_at=datetime(2026, 6, 1, tzinfo=UTC),
        )
        await uow.cases.add(case, normalize_tracking_code(generate_tracking_code()), None, None)
        await uow.commit()
    sql, reference = await both_reports(container, YEAR_START, YEAR_END, AS_OF, DeadlinePolicy())
    assert sql == reference and sql.by_channel["console"] == 1
    assert sum(sql.by_state.values()) == sql.total == sum(sql.by_channel.values())


async def test_a_scope_counts_only_the_cases_of_its_units(container: Container) -> None:
    await seed_random(container, 300, seed=21)
    async with container.uow() as uow:
        tree = await uow.units.tree()
    a, a1 = tree.by_code("A"), tree.by_code("A1")
    assert a is not None and a1 is not None
    for policy in (DeadlinePolicy(), WorkingDaysPolicy()):
        for scope in (tree.subtree(a.id), frozenset({a1.id}), frozenset()):
            sql, reference = await both_reports(
                container, YEAR_START, YEAR_END, AS_OF, policy, scope
            )
            assert sql == reference
            assert set(sql.by_unit) <= scope
    part, _ = await both_reports(
        container, YEAR_START, YEAR_END, AS_OF, DeadlinePolicy(), tree.subtree(a.id)
    )
    whole, _ = await both_reports(container, YEAR_START, YEAR_END, AS_OF, DeadlinePolicy())
    assert 0 < part.total < whole.total
    assert part.total == sum(whole.by_unit[u].cases for u in tree.subtree(a.id))


async def test_rolled_up_counts_add_each_subtree_from_the_per_unit_groups(
    container: Container,
) -> None:
    await seed_random(container, 300, seed=22)
    sql, reference = await both_reports(container, YEAR_START, YEAR_END, AS_OF, DeadlinePolicy())
    async with container.uow() as uow:
        tree = await uow.units.tree()
    rolled = rollup(sql.by_unit, tree)
    root, a = tree.by_code("JT"), tree.by_code("A")
    assert root is not None and a is not None
    # The root's subtree is every case with a unit; 甲公司's is its own and its plants'.
    assert rolled[root.id].cases == sql.total - sql.by_unit[None].cases
    assert rolled[a.id] == sum(
        (sql.by_unit.get(u, UnitCounts()) for u in tree.subtree(a.id)), UnitCounts()
    )
    assert rollup(reference.by_unit, tree) == rolled


async def test_an_empty_period_counts_nothing(container: Container) -> None:
    await seed_random(container, 20, seed=3)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for policy in POLICIES.values():
        sql, reference = await both_reports(
            container, start, start + timedelta(days=90), AS_OF, policy
        )
        assert sql == reference
        assert sql.total == 0 and sql.median_handling_days is None and not sql.by_state


@contextmanager
def statements(container: Container) -> Iterator[list[tuple[str, Any]]]:
    """Record the SQL statements the engine runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    engine = container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_statistics_decrypt_nothing_and_their_queries_do_not_grow_with_the_cases(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kw: object) -> str:
        raise AssertionError("statistics decrypted a text")

    async def shape(policy: DeadlinePolicy) -> list[int]:
        with statements(container) as seen:
            async with container.uow() as uow:
                with monkeypatch.context() as m:
                    m.setattr(uow.vault, "decrypt_text", refuse)
                    m.setattr(uow.vault, "decrypt", refuse)
                    await build_report(uow, YEAR_START, YEAR_END, AS_OF, policy)
        return [len(parameters) for _statement, parameters in seen]

    await seed_random(container, 40, seed=5)
    before = {name: await shape(policy) for name, policy in POLICIES.items()}
    await seed_random(container, 80, seed=6)
    after = {name: await shape(policy) for name, policy in POLICIES.items()}
    # As many statements with as many parameters for 120 cases as for 40: no id lists.
    assert after == before
    # The totals per unit and category (states and channels counted in the same scan), the
    # units, the overdue owners, the ratings and follow-ups per unit, the median (and for
    # working days their range and, on SQLite, filling the day table from one value).
    assert all(5 <= len(counts) <= 16 for counts in after.values()), after
    assert max(max(counts) for counts in after.values()) < 80, after


def test_the_working_day_table_numbers_the_days_as_the_policy_counts_them() -> None:
    policy = WorkingDaysPolicy(is_working_day=official)
    rows = working_day_table(policy, date(2026, 2, 12), date(2026, 2, 20), 3)
    epoch = date(1970, 1, 1)
    table = {epoch + timedelta(days=day): (cum, working) for day, cum, working in rows}
    assert table[date(2026, 2, 11)] == (0, 0)  # the day before: the count's origin
    assert table[date(2026, 2, 12)] == (1, 1)  # Thursday
    assert table[date(2026, 2, 13)] == (2, 1)  # Friday
    assert table[date(2026, 2, 14)] == (3, 1)  # the working Saturday
    assert table[date(2026, 2, 15)] == (3, 0)  # Sunday
    assert [table[date(2026, 2, d)] for d in range(16, 21)] == [(3, 0)] * 5  # the holiday
    assert max(table) == date(2026, 2, 25)  # three working days after the last date
    # The N-th working day after a date d is the working day numbered cum(d) + N.
    start = datetime(2026, 2, 13, 9, 0, tzinfo=OFFICE_ZONE)
    cum = table[start.date()][0]
    [due] = [d for d, (c, w) in table.items() if w and c == cum + 2]
    assert policy.add_days(start, 2).date() == due == date(2026, 2, 23)


# -- at size ----------------------------------------------------------------------------------


def _bulk_rows(
    n: int, seed: int, units: list[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[CaseFacts]]:
    """``n`` cases in 2026 and their feedback as rows for a Core insert, and the same
    cases as the facts the reference counts (no officers: unit and owner are the unit;
    ``units`` are the ids of 单位0 … 单位22, children of the root)."""
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    facts: list[CaseFacts] = []
    states = list(CaseState)
    span = (YEAR_END - YEAR_START).total_seconds()
    for i in range(1, n + 1):
        created = YEAR_START + timedelta(seconds=span * (i - 0.5) / n)
        state = states[i % len(states)]
        decided = created + timedelta(days=rng.choice([1, 10, 15, 20])) if i % 5 else None
        responded = (
            decided + timedelta(days=rng.randrange(1, 90), seconds=i)
            if decided and state in (CaseState.CLOSED, CaseState.RESPONDED)
            else None
        )
        unit = f"单位{i % 23}" if i % 11 else None
        unit_id = units[i % 23] if i % 11 else None
        deadline = created + timedelta(days=15 + i % 200)
        cases.append(
            {
                "id": i,
                "tracking_index": f"{i:064x}",
                "category": list(Category)[i % len(Category)].value,
                "state": state.value,
                "channel": ("telegram", "wecom", "web")[i % 3],
                "anonymous": True,
                "locale": "zh_CN",
                "description_ct": b"x",
                "contact_reachable": False,
                "contact_mode": "code",
                "unit_id": unit_id,
                "conflict": "leadership" if i % 17 == 0 else None,
                "priority": 0,
                "extension_days": 30 if i % 7 == 0 else None,
                "created_at": created,
                "updated_at": created,
                "decided_at": decided,
                "responded_at": responded,
                "deadline_at": deadline,
                "review_requested_at": created if i % 97 == 0 else None,
                "reviewed_at": created if i % 194 == 0 else None,
                "recheck_requested_at": created if i % 388 == 0 else None,
                "rechecked_at": created if i % 776 == 0 else None,
            }
        )
        rating = RATINGS[i % 3] if responded and (i // 12) % 2 else None
        if rating:
            feedback.append(_feedback_row(len(feedback) + 1, i, "satisfaction", created, rating))
        unsolved, harmed = i % 13 == 0, i % 31 == 0
        if unsolved or harmed:
            row = _feedback_row(len(feedback) + 1, i, "follow_up", created, None)
            feedback.append(row | {"solved": not unsolved, "retaliation": harmed})
        # What SqlFeedback.save keeps on the case (migration 0018), as bulk rows must.
        cases[-1].update(
            feedback_rating=rating, feedback_unsolved=unsolved, feedback_retaliation=harmed
        )
        facts.append(
            CaseFacts(
                category=cases[-1]["category"],
                state=state,
                channel=cases[-1]["channel"],
                unit=unit or NO_OWNER,
                owner=unit or NO_OWNER,
                created_at=created,
                decided_at=decided,
                responded_at=responded,
                deadline_at=deadline,
                extension_days=cases[-1]["extension_days"],
                review_requested=i % 97 == 0,
                overdue=state in OFFICE_DEADLINE_STATES and AS_OF > deadline,
                rating=rating,
                unsolved=unsolved,
                retaliation=harmed,
                unit_id=unit_id,
                reviewed=i % 194 == 0,
                recheck_requested=i % 388 == 0,
                rechecked=i % 776 == 0,
                conflict=i % 17 == 0,
            )
        )
    return cases, feedback, facts


def _feedback_row(
    row_id: int, case_id: int, kind: str, at: datetime, rating: str | None
) -> dict[str, Any]:
    return {
        "id": row_id,
        "case_id": case_id,
        "kind": kind,
        "token_index": f"{row_id:064x}",
        "created_at": at,
        "answered_at": at,
        "rating": rating,
        "solved": None,
        "retaliation": None,
    }


async def _insert(container: Container, table: Any, rows: list[dict[str, Any]]) -> None:
    for first in range(0, len(rows), 5_000):
        async with container.uow() as uow:
            await uow.session.execute(insert(table), rows[first : first + 5_000])
            await uow.commit()


async def test_statistics_of_forty_thousand_cases_in_one_period_are_exact(
    container: Container, backend: str
) -> None:
    # Past PostgreSQL's 32,767 query arguments, where a list of the period's case ids
    # failed ("number of query arguments cannot exceed 32767").
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, YEAR_START)
        units = [
            (await uow.units.add(f"U{k}", f"单位{k}", root.id, YEAR_START)).id for k in range(23)
        ]
        await uow.commit()
    cases, feedback, facts = _bulk_rows(40_000, seed=7, units=units)
    await _insert(container, CaseRow.__table__, cases)
    await _insert(container, FeedbackRow.__table__, feedback)
    for policy in (DeadlinePolicy(), WorkingDaysPolicy()):
        async with container.uow() as uow:
            report = await build_report(uow, YEAR_START, YEAR_END, AS_OF, policy)
        expected = compute_report(facts, policy, start=YEAR_START, end=YEAR_END, as_of=AS_OF)
        assert report == expected
    assert report.total == 40_000
    assert report.on_time_acceptance.total > 30_000 and report.satisfaction.total > 2_000
    assert report.unsolved == 40_000 // 13 and report.retaliations == 40_000 // 31
    assert len(report.by_unit) == 24 and report.by_unit[units[0]].cases > 1_000
    # One part of the group: its units' cases only, the same as counted one by one.
    scope = frozenset(units[:5])
    async with container.uow() as uow:
        part = await build_report(uow, YEAR_START, YEAR_END, AS_OF, DeadlinePolicy(), scope=scope)
    expected = compute_report(
        [f for f in facts if f.unit_id in scope],
        DeadlinePolicy(),
        start=YEAR_START,
        end=YEAR_END,
        as_of=AS_OF,
    )
    assert part == expected and set(part.by_unit) == scope
