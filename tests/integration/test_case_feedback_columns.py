"""The feedback kept on the case (migration 0018) agrees with the feedback rows: written
with every answer (ratings, later ratings, follow-ups), filled by the migration from the
rows that exist, and gone again on downgrade, on both databases."""

from __future__ import annotations

import random
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from bot.container import Container
from handlers.ports import Feedback
from petitions.statistics import RATINGS
from storage.migrate import downgrade, upgrade
from storage.models import Base, CaseRow
from tests.helpers.seeding import seed_cases

_COLUMNS = ("feedback_rating", "feedback_unsolved", "feedback_retaliation")


async def _from_rows(container: Container, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Per case, what its feedback rows say: the latest rating (the highest id among the
    rated satisfaction questions), a follow-up answered unsolved, one with retaliation."""
    async with container.uow() as uow:
        answers = await uow.feedback.for_cases(ids)
    facts: dict[int, list[Any]] = {i: [None, False, False] for i in ids}
    for fb in answers:  # oldest first: the latest rating wins
        if fb.kind == "satisfaction" and fb.rating:
            facts[fb.case_id][0] = fb.rating
        if fb.kind == "follow_up":
            facts[fb.case_id][1] |= fb.solved is False
            facts[fb.case_id][2] |= fb.retaliation is True
    return {i: tuple(f) for i, f in facts.items()}


async def _on_cases(container: Container, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Per case, the three columns as statistics read them (NULL is no)."""
    c = CaseRow
    stmt = select(c.id, c.feedback_rating, c.feedback_unsolved, c.feedback_retaliation).where(
        c.id.in_(ids)
    )
    async with container.uow() as uow:
        rows = (await uow.session.execute(stmt)).all()
    return {i: (rating, bool(unsolved), bool(harmed)) for i, rating, unsolved, harmed in rows}


async def _answer_at_random(container: Container, ids: list[int], rng: random.Random) -> None:
    """Questions opened and answered in a random order: ratings, a question answered
    again with another rating, later questions rated differently, empty ratings,
    follow-ups answered in one or two steps."""
    now = container.services.clock()
    opened: list[Feedback] = []
    for step in range(120):
        async with container.uow() as uow:
            if not opened or rng.random() < 0.4:
                kind = rng.choice(["satisfaction", "satisfaction", "follow_up"])
                opened.append(await uow.feedback.open(rng.choice(ids), kind, f"t{step}", now))
            fb = rng.choice(opened)
            if fb.kind == "satisfaction":
                fb.rating = rng.choice([*RATINGS, *RATINGS, "", None])
            elif rng.random() < 0.5:
                fb.solved = rng.choice([True, False, None])
            else:
                fb.retaliation = rng.choice([True, False, None])
            fb.answered_at = now
            await uow.feedback.save(fb)
            await uow.commit()


async def test_the_case_keeps_its_latest_rating_and_follow_up_answers_as_the_rows_say(
    container: Container,
) -> None:
    ids = await seed_cases(container, [{"state": "responded"} for _ in range(6)])
    now = container.services.clock()
    # Step by step on one case: a rating, a later question rated otherwise, an empty answer.
    async with container.uow() as uow:
        first = await uow.feedback.open(ids[0], "satisfaction", "a", now)
        first.rating = "unsatisfied"
        await uow.feedback.save(first)
        await uow.commit()
    assert (await _on_cases(container, ids[:1]))[ids[0]] == ("unsatisfied", False, False)
    async with container.uow() as uow:
        later = await uow.feedback.open(ids[0], "satisfaction", "b", now)
        later.rating = "basic"
        await uow.feedback.save(later)
        blank = await uow.feedback.open(ids[0], "satisfaction", "c", now)
        blank.rating = ""
        await uow.feedback.save(blank)
        follow = await uow.feedback.open(ids[0], "follow_up", "d", now)
        follow.solved = False
        await uow.feedback.save(follow)
        await uow.commit()
    assert (await _on_cases(container, ids[:1]))[ids[0]] == ("basic", True, False)
    # A transaction not committed leaves the case as it was, like the feedback row.
    async with container.uow() as uow:
        follow.retaliation = True
        await uow.feedback.save(follow)
    assert (await _on_cases(container, ids[:1]))[ids[0]] == ("basic", True, False)
    # Then at random, over several cases: the columns always say what the rows say.
    await _answer_at_random(container, ids, random.Random(18))
    expected = await _from_rows(container, ids)
    assert await _on_cases(container, ids) == expected
    # The random answers reached cases rated differently, unsolved and harmed ones.
    seen = set(expected.values())
    assert len({r for r, _u, _h in seen} - {None}) >= 2
    assert any(u for _r, u, _h in seen) and any(h for _r, _u, h in seen)


async def test_the_migration_fills_the_columns_from_the_feedback_and_downgrade_drops_them(
    container: Container,
) -> None:
    ids = await seed_cases(container, [{"state": "closed"} for _ in range(8)])
    await _answer_at_random(container, ids, random.Random(7))
    expected = await _from_rows(container, ids)
    assert len(set(expected.values())) > 3  # the cases differ, or the check proves little

    await downgrade(container.engine, "0017", vault=container.vault)
    async with container.engine.connect() as conn:
        names = [r[1] if conn.dialect.name == "sqlite" else r[0] for r in await _columns(conn)]
    assert not set(_COLUMNS) & set(names)

    await upgrade(container.engine, vault=container.vault)
    assert await _on_cases(container, ids) == expected

    def diff(sync_conn: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        return [d for d in found if "feedback_" in repr(d)]

    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def _columns(conn: Any) -> list[Any]:
    if conn.dialect.name == "sqlite":
        return list((await conn.execute(text("PRAGMA table_info(cases)"))).all())
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'"
    return list((await conn.execute(text(sql))).all())
