"""``xinfang units``: import, list, add, rename, move, retire on SQLite and PostgreSQL, and
local mode's example group with officers on its ladder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.cli.service import EXAMPLE_GROUP, PLAYGROUND_OFFICERS, seed_playground
from bot.container import Container, build_container
from bot.settings import load_settings
from bot.web.passwords import verify_password
from petitions.roles import Role
from storage.vault import Keyring
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted
from tests.helpers.databases import (  # noqa: F401
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.seeding import seed_cases

HEADER = "code,name,parent\n"
EXAMPLE_LIST = [
    "JT  集团  (open cases 0)",
    "  JT-A  甲能源公司  (open cases 0)",
    "    JT-A-1  甲一厂  (open cases 0)",
    "      JT-A-1-1  甲一厂第一车间  (open cases 0)",
    "    JT-A-2  甲二厂  (open cases 0)",
    "  JT-B  乙制造公司  (open cases 0)",
    "    JT-B-1  乙一厂  (open cases 0)",
    "    JT-B-2  乙二厂  (open cases 0)",
]


@pytest.fixture
def deployment(env: dict[str, str], keys: tuple[Keyring, Path], monkeypatch) -> dict[str, str]:
    """The CLI's environment: the test's database and keyring, nothing else."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    return env


async def _cli(*args: str) -> int:
    # main() runs its own event loop (asyncio.run), so it gets a thread of its own.
    return await asyncio.to_thread(main, list(args))


async def _add_officer(name: str, role: str, unit: str, telegram: str) -> int:
    return await _cli(
        "officers", "add", name, "--role", role, "--unit", unit, "--telegram", telegram
    )


async def _state(env: dict[str, str], keyring: Keyring) -> dict[str, Any]:
    container = await build_container(load_settings(env), keyring=keyring, migrate=False)
    try:
        async with container.uow() as uow:
            tree = await uow.units.tree()
            return {
                "tree": tree,
                "units": {u.code: u for u in tree},
                "audit": [a for a in await uow.audit.list() if a["action"].startswith("unit.")],
            }
    finally:
        await container.close()


def _write(tmp_path: Path, text: str, name: str = "units.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def _open_case_at(env: dict[str, str], keyring: Keyring, code: str) -> None:
    container = await build_container(load_settings(env), keyring=keyring, migrate=False)
    try:
        async with container.uow() as uow:
            unit = (await uow.units.tree()).by_code(code)
        await seed_cases(container, [{"unit_id": unit.id, "origin_unit_id": unit.id}])
    finally:
        await container.close()


async def test_the_example_group_imports_as_a_tree_and_lists_indented(deployment, keys, capsys):
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    assert "added 8, updated 0, moved 0, retired 0; 0 unchanged" in capsys.readouterr().out
    state = await _state(deployment, keys[0])
    tree = state["tree"]
    assert tree.root.code == "JT" and len(tree.roots) == 1
    plant = state["units"]["JT-A-1"]
    assert [u.code for u in tree.ancestors(plant.id)] == ["JT-A-1", "JT-A", "JT"]
    assert tree.path_name(plant.id) == "甲能源公司/甲一厂"

    assert await _cli("units", "list") == 0
    assert capsys.readouterr().out.splitlines() == EXAMPLE_LIST

    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    assert "added 0, updated 0, moved 0, retired 0; 8 unchanged" in capsys.readouterr().out
    audit = (await _state(deployment, keys[0]))["audit"]
    assert [(a["action"], a["actor_role"], a["channel"]) for a in audit] == [
        ("unit.import", "system", "cli"),
        ("unit.import", "system", "cli"),
    ]
    assert audit[0]["detail"] == {"added": 8, "updated": 0, "moved": 0, "retired": 0}


async def test_a_bad_file_is_reported_by_line_and_changes_nothing(
    deployment, keys, tmp_path, capsys
):
    path = _write(
        tmp_path,
        "\ufeff" + HEADER + "JT,集团,\r\nJT-A,,JT\r\nJT-B,乙,NOPE\r\nJT2,另一个,\r\n",
    )
    assert await _cli("units", "import", str(path)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "units.csv: line 3: name is empty",
        "units.csv: line 4: the parent NOPE is neither in the file nor an existing unit",
        "units.csv: more than one root (a unit with no parent): JT (line 2), JT2 (line 5)",
        "nothing imported: 3 error(s)",
    ]
    state = await _state(deployment, keys[0])
    assert len(state["tree"]) == 0 and state["audit"] == []


async def test_a_dry_run_prints_the_plan_and_changes_nothing(deployment, keys, capsys):
    assert await _cli("units", "import", str(EXAMPLE_GROUP), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "add        JT-A-1  甲一厂  under JT-A" in out
    assert "would be: added 8, updated 0, moved 0, retired 0; nothing changed" in out
    state = await _state(deployment, keys[0])
    assert len(state["tree"]) == 0 and state["audit"] == []


async def test_the_files_root_takes_over_the_root_the_upgrade_made(deployment, keys, capsys):
    # What migration 0013 leaves: ROOT/本集团 with the old free-text units under it.
    assert await _cli("units", "add", "ROOT", "本集团") == 0
    assert await _cli("units", "add", "U001", "第一车间", "--parent", "ROOT") == 0
    assert await _add_officer("老王", "leader", "ROOT", "77") == 0
    before = (await _state(deployment, keys[0]))["units"]["ROOT"]
    capsys.readouterr()

    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    out = capsys.readouterr().out
    assert "the root ROOT 本集团 is now JT 集团" in out
    assert "added 7, updated 1, moved 0, retired 1" in out
    state = await _state(deployment, keys[0])
    root = state["tree"].root
    assert (root.id, root.code, root.name) == (before.id, "JT", "集团")
    assert "ROOT" not in state["units"] and state["units"]["U001"].retired
    assert state["audit"][-1]["detail"]["takeover"] == ["ROOT", "JT"]
    # The officer of the old root is the group's officer now: the same unit row.
    assert await _cli("officers", "list") == 0
    assert "JT 集团" in capsys.readouterr().out


async def test_a_reimport_retires_left_out_units_and_keeps_them_with_their_cases(
    deployment, keys, tmp_path, capsys
):
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    await _open_case_at(deployment, keys[0], "JT-B-2")
    smaller = EXAMPLE_GROUP.read_text(encoding="utf-8").replace("JT-B-2,乙二厂,JT-B\n", "")
    smaller = smaller.replace("JT-A-2,甲二厂,JT-A", "JT-A-2,甲第二厂,JT-B")
    capsys.readouterr()

    assert await _cli("units", "import", str(_write(tmp_path, smaller))) == 0
    out = capsys.readouterr().out
    assert "added 0, updated 1, moved 1, retired 1; 6 unchanged" in out
    assert "(1 of them have cases)" in out
    assert "warning: JT-B-2 乙二厂 was retired with 1 open case(s)" in out
    state = await _state(deployment, keys[0])
    assert state["units"]["JT-B-2"].retired  # never deleted
    assert state["tree"].get(state["units"]["JT-A-2"].parent_id).code == "JT-B"

    assert await _cli("units", "list") == 0
    assert "JT-B-2" not in capsys.readouterr().out
    assert await _cli("units", "list", "--all") == 0
    assert "    JT-B-2  乙二厂  (open cases 1)  已撤销" in capsys.readouterr().out.splitlines()

    # Named again, it is back in service.
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    assert "added 0, updated 2, moved 1, retired 0" in capsys.readouterr().out
    assert not (await _state(deployment, keys[0]))["units"]["JT-B-2"].retired


async def test_units_are_added_renamed_moved_and_retired_one_at_a_time_and_audited(
    deployment, keys, capsys
):
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    assert await _cli("units", "add", "JT-A-3", "甲三厂", "--parent", "JT-A") == 0
    assert await _cli("units", "rename", "JT-A-3", "甲第三厂") == 0
    assert await _cli("units", "move", "JT-A-3", "--parent", "JT-B") == 0
    assert await _cli("units", "retire", "JT-A-3") == 0
    out = capsys.readouterr().out
    assert "added JT-A-3 甲三厂 under JT-A" in out
    assert "renamed JT-A-3: 甲三厂 → 甲第三厂" in out
    assert "moved JT-A-3 甲第三厂: JT-A → JT-B" in out
    assert "retired JT-A-3 甲第三厂" in out
    state = await _state(deployment, keys[0])
    unit = state["units"]["JT-A-3"]
    assert (unit.name, state["tree"].get(unit.parent_id).code, unit.retired) == (
        "甲第三厂",
        "JT-B",
        True,
    )
    assert [a["action"] for a in state["audit"]] == [
        "unit.import",
        "unit.add",
        "unit.rename",
        "unit.move",
        "unit.retire",
    ]
    assert all(a["detail"]["unit_id"] == unit.id for a in state["audit"][1:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "JT-A", "又一个", "--parent", "JT"), "the code JT-A is taken by JT-A 甲能源公司"),
        (("add", "jt-a", "又一个", "--parent", "JT"), "the code jt-a is taken by JT-A"),
        (("add", "JT 9", "空格", "--parent", "JT"), "a code is 1–32 ASCII letters"),
        (("add", "JT-C", "丙", "--parent", "NOPE"), "no unit with the code 'NOPE'"),
        (("add", "X", "另一个集团"), "give --parent CODE: the group has its root already (JT"),
        (("add", "JT-C", " ", "--parent", "JT"), "the name is empty"),
        (("rename", "NOPE", "名"), "no unit with the code 'NOPE'"),
        (("move", "JT-A", "--parent", "JT-A-1-1"), "JT-A-1-1 is under JT-A: a unit cannot"),
        (("move", "JT-A", "--parent", "JT-A"), "JT-A is itself: a unit cannot move into"),
        (("move", "JT", "--parent", "JT-B"), "JT-B is under JT"),
        (("retire", "JT"), "JT is the root (the group itself) and cannot be retired"),
        (("retire", "JT-A"), "3 unit(s) in service are under JT-A (JT-A-1, JT-A-1-1, JT-A-2)"),
        (("retire", "NOPE"), "no unit with the code 'NOPE'"),
    ],
)
async def test_a_change_that_cannot_be_made_says_why_and_changes_nothing(
    deployment, keys, capsys, args, message
):
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    capsys.readouterr()
    assert await _cli("units", *args) == 2
    assert message in capsys.readouterr().err
    state = await _state(deployment, keys[0])
    assert [a["action"] for a in state["audit"]] == ["unit.import"]
    assert len(state["tree"]) == 8 and not any(u.retired for u in state["tree"])


async def test_retiring_a_unit_with_open_cases_or_officers_warns_with_their_counts(
    deployment, keys, capsys
):
    assert await _cli("units", "import", str(EXAMPLE_GROUP)) == 0
    await _open_case_at(deployment, keys[0], "JT-A-2")
    await _open_case_at(deployment, keys[0], "JT-A-2")
    assert await _add_officer("小李", "officer", "JT-A-2", "88") == 0
    capsys.readouterr()
    assert await _cli("units", "retire", "JT-A-2") == 0
    out = capsys.readouterr().out
    assert "warning: JT-A-2 甲二厂 has 2 open case(s)" in out
    assert "warning: 1 officer(s) belong to JT-A-2" in out
    assert (await _state(deployment, keys[0]))["units"]["JT-A-2"].retired
    # A retired unit takes no new officers.
    assert await _add_officer("小赵", "officer", "JT-A-2", "89") == 2
    assert "no unit in service with the code 'JT-A-2'" in capsys.readouterr().out


async def test_the_list_of_an_empty_database_says_how_to_start(deployment, keys, capsys):
    assert await _cli("migrate") == 0
    capsys.readouterr()
    assert await _cli("units", "list") == 0
    assert "xinfang units import FILE.csv" in capsys.readouterr().out


def test_the_help_of_import_says_units_are_never_deleted_and_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["units", "import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "never deleted" in text and "code,name,parent" in text
    assert "takes that root over" in text and "JT-A-1,甲一厂,JT-A" in text


async def test_local_mode_starts_with_the_example_group_and_officers_on_its_ladder(
    container: Container,
):
    logins = await seed_playground(container)
    async with container.uow() as uow:
        tree = await uow.units.tree()
        officers = {o.id: o for o in await uow.officers.list()}
        found = {one.login: await uow.web.credentials(one.login) for one in logins}
    assert [(u.code, tree.depth(u.id)) for u in tree] == [
        ("JT", 0),
        ("JT-A", 1),
        ("JT-A-1", 2),
        ("JT-A-1-1", 3),
        ("JT-A-2", 2),
        ("JT-B", 1),
        ("JT-B-1", 2),
        ("JT-B-2", 2),
    ]
    assert [(one.login, one.unit_code, one.unit_name, one.role) for one in logins] == [
        ("plant", "JT-A-1", "甲一厂", Role.OFFICER),
        ("company", "JT-A", "甲能源公司", Role.LEADER),
        ("group", "JT", "集团", Role.LEADER),
    ]
    for one in logins:
        officer_id, hashed = found[one.login]
        officer = officers[officer_id]
        assert tree.get(officer.unit_id).code == one.unit_code and officer.role is one.role
        assert verify_password(hashed, one.password)
    plant, company, group = (officers[found[n][0]] for n in ("plant", "company", "group"))
    # The ladder: the plant's case goes to the company for 复查 and to the group for 复核.
    plant_unit = plant.unit_id
    assert tree.above(plant_unit, 1).id == company.unit_id
    assert tree.above(plant_unit, 2).id == group.unit_id
    assert plant.scope == tree.subtree(plant_unit) and group.scope is None

    # The next start keeps the group and the officers and gives new passwords.
    again = await seed_playground(container)
    async with container.uow() as uow:
        assert len(await uow.units.tree()) == len(tree)
        assert len(await uow.officers.list()) == len(officers)
        for one, before in zip(again, logins, strict=True):
            officer_id, hashed = await uow.web.credentials(one.login)
            assert officer_id == found[one.login][0]
            assert one.password != before.password and verify_password(hashed, one.password)
        imports = [a for a in await uow.audit.list() if a["action"] == "unit.import"]
    assert len(imports) == 1


async def test_local_mode_leaves_a_group_of_ones_own_alone(container: Container, tmp_path):
    async with container.uow() as uow:
        await uow.units.add("MY", "我的集团", None, container.services.clock())
        await uow.commit()
    logins = await seed_playground(container)
    assert logins == []  # the example's units are not there: no ladder logins
    async with container.uow() as uow:
        assert [u.code for u in await uow.units.tree()] == ["MY"]
    assert len(PLAYGROUND_OFFICERS) == 3
