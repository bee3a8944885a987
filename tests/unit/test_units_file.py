"""A unit file (petitions.units_file): parsing and the import plan, with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from petitions.units import Unit, UnitTree
from petitions.units_file import ImportPlan, parse_units_csv, plan_import, read_import

EXAMPLE = Path(__file__).resolve().parents[2] / "bot" / "cli" / "example-group.csv"
HEADER = "code,name,parent\n"
SMALL = HEADER + "JT,集团,\nJT-A,甲能源公司,JT\nJT-A-1,甲一厂,JT-A\nJT-B,乙制造公司,JT\n"


def _tree(*units: tuple[int, str, str, int | None] | tuple[int, str, str, int | None, bool]):
    return UnitTree(Unit(*u) for u in units)


def _applied(plan: ImportPlan, tree: UnitTree) -> UnitTree:
    """What storage.units.SqlUnits.apply makes of the tree, in memory."""
    units = {u.id: u for u in tree}
    ids = {u.code: u.id for u in tree}
    for change in plan.changed:
        if change.recoded:
            del ids[change.unit.code]
            ids[change.code] = change.unit.id
    for new in plan.added:
        unit_id = max(units, default=0) + 1
        parent = ids[new.parent] if new.parent else None
        units[unit_id] = Unit(unit_id, new.code, new.name, parent)
        ids[new.code] = unit_id
    for change in plan.changed:
        parent = ids[change.parent] if change.parent else None
        units[change.unit.id] = Unit(change.unit.id, change.code, change.name, parent, False)
    for unit in plan.retired:
        old = units[unit.id]
        units[unit.id] = Unit(old.id, old.code, old.name, old.parent_id, True)
    return UnitTree(units.values())


def _imported(text: str, tree: UnitTree | None = None) -> tuple[ImportPlan, UnitTree]:
    before = tree if tree is not None else UnitTree([])
    plan, errors = read_import(text.encode(), before)
    assert errors == []
    return plan, _applied(plan, before)


def _errors(text: str | bytes, tree: UnitTree | None = None) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    plan, errors = read_import(data, tree if tree is not None else UnitTree([]))
    assert plan.empty  # a file with errors plans nothing
    return errors


def test_a_bom_and_crlf_line_ends_read_like_a_plain_file() -> None:
    plain, errors = parse_units_csv(SMALL.encode())
    assert errors == []
    excel, errors = parse_units_csv(b"\xef\xbb\xbf" + SMALL.replace("\n", "\r\n").encode())
    assert errors == []
    assert excel == plain
    assert [(u.line, u.code, u.parent) for u in plain][:2] == [(2, "JT", None), (3, "JT-A", "JT")]


def test_a_quoted_name_keeps_its_comma_and_the_columns_may_come_in_any_order() -> None:
    lines, errors = parse_units_csv('parent,Code,NAME\n,JT,"集团,有限公司"\n'.encode())
    assert errors == []
    assert lines[0].name == "集团,有限公司" and lines[0].parent is None


def test_a_name_in_quotes_may_span_lines_and_the_line_numbers_follow_the_file() -> None:
    lines, errors = parse_units_csv((HEADER + 'JT,"集团\n总部",\nJT-A,,JT\n').encode())
    assert errors == ["line 4: name is empty"]
    assert [ln.line for ln in lines] == [3, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEADER + "JT,集团,\nJT A,甲,JT\n", "line 3: code 'JT A' must be 1–32 ASCII letters"),
        (HEADER + "JT,集团,\n甲,甲,JT\n", "line 3: code '甲' must be 1–32"),
        (HEADER + "JT,集团,\n" + "A" * 33 + ",甲,JT\n", "line 3: code 'AAAA"),
        (HEADER + "JT,集团,\n,甲,JT\n", "line 3: code is empty"),
        (HEADER + "JT,集团,\nJT-A,甲,JT\njt-a,乙,JT\n", "line 4: the code jt-a is on line 3 too"),
        (HEADER + "JT,集团,\nJT-A,,JT\n", "line 3: name is empty"),
        (HEADER + "JT,集团,\nJT-A," + "甲" * 101 + ",JT\n", "line 3: name is longer than 100"),
        (HEADER + "JT,集团,\nJT-A,甲,JT,x\n", "line 3: 4 fields, the header has 3"),
        (HEADER + "JT,集团,\nJT-A,甲,JT-X\n", "line 3: the parent JT-X is neither in the file"),
        (HEADER + "JT,集团,\nJT-A,甲,JT-A\n", "line 3: a cycle of parents: JT-A → JT-A"),
        (
            HEADER + "JT,集团,\nA,甲,B\nB,乙,C\nC,丙,A\n",
            "line 3: a cycle of parents: A → B → C → A",
        ),
        (
            HEADER + "JT,集团,\nJT2,另一个集团,\n",
            "more than one root (a unit with no parent): JT (line 2), JT2 (line 3)",
        ),
        (HEADER + "A,甲,B\nB,乙,A\n", "the file has no root"),
        ("code,name\nJT,集团\n", "line 1: the header must be code,name,parent"),
        (HEADER, "no units in the file (only the header)"),
        ("", "the file is empty"),
    ],
)
def test_each_problem_is_reported_with_its_line(text: str, expected: str) -> None:
    errors = _errors(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_file_that_is_not_utf8_says_so() -> None:
    assert "not UTF-8" in _errors(SMALL.encode("gbk"))[0]


def test_every_problem_of_a_file_comes_at_once_in_line_order() -> None:
    text = HEADER + "JT,集团,\nJT-A,,JT\nJT A,甲,JT\nJT-B,乙,NOPE\nJT-C,丙,JT-C\n"
    assert _errors(text) == [
        "line 3: name is empty",
        "line 4: code 'JT A' must be 1–32 ASCII letters, digits, '-', '_' or '.'",
        "line 5: the parent NOPE is neither in the file nor an existing unit",
        "line 6: a cycle of parents: JT-C → JT-C (each under the next)",
    ]


def test_a_parent_may_come_later_in_the_file_and_is_added_first() -> None:
    plan, tree = _imported(HEADER + "JT-A-1,甲一厂,JT-A\nJT-A,甲能源公司,JT\nJT,集团,\n")
    assert [u.code for u in plan.added] == ["JT", "JT-A", "JT-A-1"]
    assert tree.path_name(tree.by_code("JT-A-1").id) == "甲能源公司/甲一厂"


def test_a_parent_may_be_a_unit_that_exists_already_and_stays_in_service() -> None:
    _, tree = _imported(SMALL)
    plan, after = _imported(HEADER + "JT-A-2,甲二厂,JT-A\n", tree)
    assert [u.code for u in plan.added] == ["JT-A-2"]
    # JT-A and JT stay: the new plant sits under them; the rest the file leaves out goes.
    assert {u.code for u in plan.kept} == {"JT", "JT-A"}
    assert {u.code for u in plan.retired} == {"JT-A-1", "JT-B"}
    assert not after.by_code("JT-A").retired and after.by_code("JT-B").retired


def test_the_example_group_has_three_levels_under_one_root() -> None:
    plan, tree = _imported(EXAMPLE.read_text(encoding="utf-8"))
    assert plan.counts == {"added": len(tree), "updated": 0, "moved": 0, "retired": 0}
    root = tree.root
    assert root is not None and (root.code, root.name) == ("JT", "集团")
    companies = tree.children(root.id)
    assert [c.name for c in companies] == ["甲能源公司", "乙制造公司"]
    assert all(len(tree.children(c.id)) == 2 for c in companies)
    assert max(tree.depth(u.id) for u in tree) >= 2
    assert tree.above(tree.by_code("JT-A-1").id, 2) == root


def test_importing_the_same_file_again_changes_nothing() -> None:
    _, tree = _imported(EXAMPLE.read_text(encoding="utf-8"))
    plan, again = _imported(EXAMPLE.read_text(encoding="utf-8"), tree)
    assert plan.empty and plan.takeover is None
    assert plan.counts == {"added": 0, "updated": 0, "moved": 0, "retired": 0}
    assert plan.unchanged == len(tree)
    assert [(u.id, u.code, u.name, u.parent_id) for u in again] == [
        (u.id, u.code, u.name, u.parent_id) for u in tree
    ]


def test_a_reimport_renames_moves_retires_and_brings_back() -> None:
    _, tree = _imported(SMALL)
    # JT-A-1 renamed and moved under JT-B; JT-A left out (retired... but JT-A-1 is no
    # longer under it, so it goes); JT-C new.
    text = HEADER + "JT,集团,\nJT-B,乙公司,JT\nJT-A-1,甲一厂（新）,JT-B\nJT-C,丙公司,JT\n"
    plan, after = _imported(text, tree)
    assert plan.counts == {"added": 1, "updated": 2, "moved": 1, "retired": 1}
    assert [u.code for u in plan.retired] == ["JT-A"]
    assert after.get(after.by_code("JT-A-1").parent_id).code == "JT-B"
    assert after.by_code("JT-A").retired
    # Named again, the retired unit is back in service.
    plan, back = _imported(text + "JT-A,甲能源公司,JT\n", after)
    assert plan.counts == {"added": 0, "updated": 1, "moved": 0, "retired": 0}
    assert [c.code for c in plan.changed if c.revived] == ["JT-A"]
    assert not back.by_code("JT-A").retired


def test_the_files_root_takes_over_the_migrated_root() -> None:
    migrated = _tree((1, "ROOT", "本集团", None), (2, "U001", "第一车间", 1))
    plan, after = _imported(SMALL, migrated)
    assert plan.takeover is not None
    assert (plan.takeover.unit.code, plan.takeover.code, plan.takeover.name) == (
        "ROOT",
        "JT",
        "集团",
    )
    assert plan.counts == {"added": 3, "updated": 1, "moved": 0, "retired": 1}
    root = after.root
    assert root is not None and (root.id, root.code, root.name) == (1, "JT", "集团")
    assert after.by_code("ROOT") is None
    assert after.by_code("U001").retired and after.by_code("U001").parent_id == 1
    assert len(after.roots) == 1
    # And the next import of the same file is a no-op.
    plan, _ = _imported(SMALL, after)
    assert plan.empty


def test_a_file_keeping_the_old_root_by_code_is_no_takeover() -> None:
    migrated = _tree((1, "ROOT", "本集团", None))
    plan, after = _imported(HEADER + "ROOT,某某集团,\nJT-A,甲,ROOT\n", migrated)
    assert plan.takeover is None
    assert [c.name for c in plan.changed] == ["某某集团"]
    assert after.root.code == "ROOT"


def test_a_second_root_beside_a_root_the_file_still_uses_is_refused() -> None:
    existing = _tree((1, "ROOT", "本集团", None), (2, "U001", "车间", 1))
    errors = _errors(HEADER + "JT,集团,\nU002,车间二,ROOT\n", existing)
    assert errors == [
        "more than one root (a unit with no parent): JT (line 2), "
        "ROOT (an existing unit the file leaves out)"
    ]


def test_a_file_without_a_root_works_under_the_existing_root() -> None:
    _, tree = _imported(SMALL)
    plan, after = _imported(HEADER + "JT-A,甲能源公司,JT\nJT-A-1,甲一厂,JT-A\n", tree)
    assert [u.code for u in plan.kept] == ["JT"]
    assert [u.code for u in plan.retired] == ["JT-B"]
    assert after.root.code == "JT" and not after.root.retired


def test_a_move_into_the_units_own_subtree_is_a_cycle() -> None:
    _, tree = _imported(SMALL)
    errors = _errors(HEADER + "JT,集团,\nJT-A,甲能源公司,JT-A-1\nJT-A-1,甲一厂,JT-A\n", tree)
    assert errors == ["line 3: a cycle of parents: JT-A → JT-A-1 → JT-A (each under the next)"]


def test_a_code_differing_from_an_existing_one_only_in_case_is_refused() -> None:
    _, tree = _imported(SMALL)
    errors = _errors(SMALL.replace("JT-B,", "jt-b,"), tree)
    assert errors == ["line 5: the code jt-b differs from JT-B only in case"]


def test_a_retired_parent_the_file_leaves_out_is_refused() -> None:
    tree = _tree((1, "JT", "集团", None), (2, "JT-A", "甲", 1, True))
    errors = _errors(HEADER + "JT,集团,\nJT-A-1,甲一厂,JT-A\n", tree)
    assert errors == ["line 3: the parent JT-A is retired; put it in the file to bring it back"]


def test_parsing_and_planning_can_be_called_apart() -> None:
    lines, errors = parse_units_csv(SMALL.encode())
    assert errors == []
    plan, errors = plan_import(lines, UnitTree([]))
    assert errors == [] and plan.counts["added"] == 4
