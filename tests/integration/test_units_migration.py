"""Migration 0013: free-text units become a tree under one root, and back on downgrade."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bot.container import Container
from petitions.roles import Role
from storage.migrate import downgrade, upgrade
from storage.models import Base
from tests.helpers.seeding import seed_cases


async def _rows(container: Container, sql: str) -> list[tuple[Any, ...]]:
    async with container.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def test_free_text_units_become_units_under_a_root_and_come_back_on_downgrade(
    container: Container,
) -> None:
    now = container.services.clock()
    async with container.uow() as uow:
        await uow.officers.add("王专员", Role.OFFICER, now, accounts={"telegram": "1"})
        await uow.commit()
    await seed_cases(container, [{"unit": "一分厂"}, {"unit": " 二车间 "}, {}])
    # Down to the free-text schema: each case and officer names its unit in words.
    await downgrade(container.engine, "0012", vault=container.vault)
    async with container.engine.begin() as conn:
        await conn.execute(text("UPDATE officers SET unit = '二车间'"))
    assert await _rows(container, "SELECT owner_unit FROM cases ORDER BY id") == [
        ("一分厂",),
        (" 二车间 ",),
        (None,),
    ]

    await upgrade(container.engine, vault=container.vault)
    units = await _rows(container, "SELECT id, code, name, parent_id FROM units ORDER BY code")
    by_code = {code: (unit_id, name, parent) for unit_id, code, name, parent in units}
    root_id, root_name, root_parent = by_code["ROOT"]
    assert (root_name, root_parent) == ("本集团", None)
    # One unit per distinct text (trimmed), in the texts' order, under the root.
    assert {code: (name, parent) for code, (_i, name, parent) in by_code.items()} == {
        "ROOT": ("本集团", None),
        "U001": ("一分厂", root_id),
        "U002": ("二车间", root_id),
    }
    cases = await _rows(container, "SELECT unit_id, origin_unit_id FROM cases ORDER BY id")
    assert cases == [
        (by_code["U001"][0], by_code["U001"][0]),
        (by_code["U002"][0], by_code["U002"][0]),
        (None, None),
    ]
    assert await _rows(container, "SELECT unit_id FROM officers") == [(by_code["U002"][0],)]
    # The service reads them as a tree: the officer sees their unit's subtree only.
    async with container.uow() as uow:
        [officer] = await uow.officers.list()
        case = await uow.cases.get(1)
    assert officer.scope == frozenset({by_code["U002"][0]})
    assert case is not None and case.unit_name == "一分厂"


async def test_a_database_without_units_gets_no_root(container: Container) -> None:
    await seed_cases(container, [{}])
    await downgrade(container.engine, "0012", vault=container.vault)
    await upgrade(container.engine, vault=container.vault)
    assert await _rows(container, "SELECT count(*) FROM units") == [(0,)]


async def test_the_units_schema_comes_from_the_migration_and_matches_the_models(
    container: Container,
) -> None:
    sqlite = container.engine.dialect.name == "sqlite"

    def diff(sync_conn: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        return [
            d
            for d in found
            if "unit" in repr(d) or "conflict" in repr(d) or "recheck" in repr(d)
        ]

    async with container.engine.connect() as conn:
        found = await conn.run_sync(diff)
    if sqlite:
        # On SQLite the unit references are plain columns (0013 says why): only their
        # foreign keys differ from the models.
        assert {d[0] for d in found} <= {"add_fk"}
        assert all(d[1].referred_table.name == "units" for d in found)
    else:
        assert found == []
