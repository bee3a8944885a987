"""Lists at size (issue 12): counts stop at a cap and say "more than" past it, and each
shape of list statement is built once and run with its own values."""

from __future__ import annotations

from datetime import timedelta

import pytest

import handlers.officer as officer_handlers
import storage.repositories as repositories
from bot.container import Container
from handlers.ports import CaseFilter
from petitions.states import CaseState
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer
from tests.helpers.seeding import seed_cases


async def test_a_capped_count_stops_at_the_cap_and_is_exact_below_it(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    await seed_cases(container, [{"deadline_at": now + timedelta(days=i)} for i in range(30)])
    registered = CaseFilter(states=frozenset({CaseState.REGISTERED}))
    async with container.uow() as uow:
        assert await uow.cases.count(registered) == 30
        assert await uow.cases.count(registered, cap=11) == 11
        assert await uow.cases.count(registered, cap=31) == 30
        assert await uow.cases.count(registered, cap=30) == 30
        none = CaseFilter(states=frozenset({CaseState.CLOSED}))
        assert await uow.cases.count(none, cap=11) == 0


async def test_cases_says_more_than_the_cap_past_it_and_the_exact_count_below_it(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    wang = await add_officer(container)
    now = clock()
    await seed_cases(container, [{"deadline_at": now + timedelta(days=i)} for i in range(45)])
    monkeypatch.setattr(officer_handlers, "COUNT_CAP", 40)
    await wang.say("/cases")
    assert wang.text.splitlines()[0] == "40 件以上："
    [page] = [p for p in wang.buttons if p.startswith("o:list:")]
    await wang.press(page)
    assert wang.text.splitlines()[0] == "40 件以上（续）："
    monkeypatch.setattr(officer_handlers, "COUNT_CAP", 45)
    await wang.say("/cases")
    assert wang.text.splitlines()[0] == "共 45 件："


async def test_pages_of_one_shape_share_one_statement_and_keep_their_own_values(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    await add_officer(container)
    await add_officer(container, account="778", name="李专员")
    async with container.uow() as uow:
        ids = {o.name: o.id for o in await uow.officers.list()}
    rows = [
        {"owner_officer_id": ids["王专员" if i % 3 else "李专员"], "state": "in_progress"}
        | {"deadline_at": now + timedelta(hours=i)}
        for i in range(30)
    ]
    seeded = await seed_cases(container, rows)
    open_states = frozenset({CaseState.IN_PROGRESS, CaseState.REGISTERED})
    mine = CaseFilter(states=open_states, owner_officer_id=ids["王专员"], limit=7)
    theirs = CaseFilter(states=open_states, owner_officer_id=ids["李专员"], limit=7)
    async with container.uow() as uow:
        first = [c.id for c in await uow.cases.list(mine)]
        built = len(repositories._STATEMENTS)
        other = [c.id for c in await uow.cases.list(theirs)]
        assert len(repositories._STATEMENTS) == built  # the same shape: built once
        assert await uow.cases.count(mine) == 20 and await uow.cases.count(theirs) == 10
    assert first == [i for k, i in enumerate(seeded) if k % 3][:7]
    assert other == [i for k, i in enumerate(seeded) if not k % 3][:7]
