"""``xinfang units import | list | add | rename | move | retire``: the group as a tree of
units (petitions.units). Units are never deleted: a unit that goes out of service is
retired, and its cases keep it. Every change is audited with channel ``cli`` and role
``system`` (the operator at the terminal is no officer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, config_of
from petitions.roles import Role
from petitions.units import MAX_CODE, MAX_NAME, Unit, UnitTree, valid_code
from petitions.units_file import ImportPlan, read_import

__all__ = ["plan_lines", "register", "tree_lines"]

RETIRED_MARK = "已撤销"

_IMPORT_HELP = f"""\
Import the group's units from a CSV file (UTF-8, with or without BOM; Excel: save as
'CSV UTF-8'). Header: code,name,parent. code: 1–{MAX_CODE} ASCII letters, digits, '-', '_'
or '.'; name: the unit's Chinese name (at most {MAX_NAME} characters); parent: the parent's
code, empty for the root (the group itself). A parent may come later in the file, or be
a unit that exists already.

The file describes the whole group. Importing it again updates names and parents and
brings retired units it names back into service. A unit the file leaves out is retired,
never deleted (its cases keep it; `xinfang units list --all` shows it), unless units the
file names still sit under it. When the database has one root and the file's root has
another code, the file's root takes that root over (its code and name change): this is
how the 本集团 (ROOT) made by the upgrade becomes your group.

All or nothing: every problem is reported with its line number and nothing is changed.
"""
_IMPORT_EPILOG = """\
examples:
  xinfang units import bot/cli/example-group.csv --dry-run    see what it would change
  xinfang units import units.csv

  code,name,parent
  JT,集团,
  JT-A,甲能源公司,JT
  JT-A-1,甲一厂,JT-A
"""
_GROUP_EPILOG = """\
examples:
  xinfang units import bot/cli/example-group.csv   a three-level example group
  xinfang units list
  xinfang units add JT-A-3 甲三厂 --parent JT-A
  xinfang units rename JT-A-3 甲第三厂
  xinfang units move JT-A-3 --parent JT-B
  xinfang units retire JT-A-3

Officers belong to a unit (xinfang officers add ... --unit CODE) and see the cases of its
subtree; the root's officers see every case.
"""


def register(sub: Any) -> None:
    """Add ``units`` and its actions."""
    raw = argparse.RawDescriptionHelpFormatter
    units = sub.add_parser(
        "units",
        help="the group's units: import, list, add, rename, move, retire",
        description="The enterprise group as a tree of units (集团 → 二级单位 → 三级单位 …).\n"
        "A case is handled by a unit; 复查 is decided by its parent unit, 复核 by the\n"
        "parent's parent. Units are never deleted, only retired.",
        epilog=_GROUP_EPILOG,
        formatter_class=raw,
    )
    usub = units.add_subparsers(dest="units_cmd", required=True, metavar="ACTION")
    imp = usub.add_parser(
        "import",
        help="import the whole tree from a CSV file (all or nothing; never deletes)",
        description=_IMPORT_HELP,
        epilog=_IMPORT_EPILOG,
        formatter_class=raw,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--dry-run", action="store_true", help="check the file and print the plan; change nothing"
    )
    lst = usub.add_parser(
        "list",
        help="print the tree with each unit's open cases",
        description="Print the tree, two spaces per level: code, name and the open cases the "
        f"unit itself handles. Retired units are marked {RETIRED_MARK} and shown with --all.",
        epilog="example:\n  xinfang units list --all",
        formatter_class=raw,
    )
    lst.add_argument("--all", action="store_true", help="include retired units")
    add = usub.add_parser(
        "add",
        help="add one unit",
        description="Add a unit in service under a parent. Without --parent it becomes the "
        "root, which only works while there are no units.",
        epilog="examples:\n"
        "  xinfang units add JT 集团                      the root, in an empty database\n"
        "  xinfang units add JT-A-3 甲三厂 --parent JT-A",
        formatter_class=raw,
    )
    add.add_argument("code", help=f"the new code (1–{MAX_CODE} ASCII letters, digits, - _ .)")
    add.add_argument("name", help="the unit's name, e.g. 甲三厂")
    add.add_argument("--parent", metavar="CODE", help="the parent unit's code")
    ren = usub.add_parser(
        "rename",
        help="give a unit a new name (its code stays)",
        epilog="example:\n  xinfang units rename JT 某某能源集团",
        formatter_class=raw,
    )
    ren.add_argument("code")
    ren.add_argument("name")
    mov = usub.add_parser(
        "move",
        help="put a unit (with everything under it) under another parent",
        description="Move a unit and its subtree under another unit. Its cases move with it: "
        "from now on 复查 and 复核 go to the new parent and the one above it, and officers "
        "of the old parent no longer see them.",
        epilog="example:\n  xinfang units move JT-A-2 --parent JT-B",
        formatter_class=raw,
    )
    mov.add_argument("code")
    mov.add_argument("--parent", metavar="CODE", required=True, help="the new parent's code")
    ret = usub.add_parser(
        "retire",
        help="take a unit out of service (never deleted; its cases keep it)",
        description="Retire a unit: employees can no longer choose it and nothing new goes to "
        "it; its cases and their history keep it. Refused for the root and for a unit with "
        "units in service under it (retire or move those first). A unit with open cases can "
        "be retired, with a warning: transfer those cases.",
        epilog="example:\n  xinfang units retire JT-A-2",
        formatter_class=raw,
    )
    ret.add_argument("code")
    units.set_defaults(handler=_units)


async def _units(args: argparse.Namespace) -> int:
    from bot.container import build_container

    data = args.file.read_bytes() if args.units_cmd == "import" else b""
    container = await build_container(config_of(args), migrate=args.units_cmd in ("import", "add"))
    try:
        async with container.uow() as uow:
            if args.units_cmd == "import":
                return await _import(uow, args, data)
            if args.units_cmd == "list":
                return await _list(uow, args)
            return await _change(uow, args)
    finally:
        await container.close()


async def _import(uow: Any, args: argparse.Namespace, data: bytes) -> int:
    from bot.container import utc_now

    tree = await uow.units.tree()
    plan, errors = read_import(data, tree)
    if errors:
        for error in errors:
            print(f"{args.file.name}: {error}", file=sys.stderr)
        print(f"nothing imported: {len(errors)} error(s)", file=sys.stderr)
        return 1
    counts = plan.counts
    summary = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    if args.dry_run:
        for line in plan_lines(plan, tree):
            print(line)
        print(f"would be: {summary}; nothing changed (dry run)")
        return 0
    open_cases = await uow.units.case_counts()
    with_cases = [u for u in plan.retired if await uow.units.has_cases(u.id)]
    await uow.units.apply(plan, utc_now())
    detail: dict[str, Any] = dict(counts)
    if plan.takeover is not None:
        detail["takeover"] = [plan.takeover.unit.code, plan.takeover.code]
    await uow.audit.add(utc_now(), Role.SYSTEM, "unit.import", channel="cli", detail=detail)
    await uow.commit()
    if plan.takeover is not None:
        print(_takeover_line(plan))
    print(f"{summary}; {plan.unchanged} unchanged")
    if plan.retired:
        print(
            f"retired units are kept, never deleted ({len(with_cases)} of them have cases): "
            "xinfang units list --all"
        )
    staff = [o.unit_id for o in await uow.officers.list()]
    for unit in plan.retired:
        if open_cases.get(unit.id):
            print(
                f"warning: {unit.code} {unit.name} was retired with "
                f"{open_cases[unit.id]} open case(s): transfer them to a unit in service"
            )
        if unit.id in staff:
            print(
                f"warning: {staff.count(unit.id)} officer(s) belong to the retired {unit.code}: "
                "register them again with xinfang officers add --unit CODE"
            )
    return 0


def _takeover_line(plan: ImportPlan) -> str:
    change = plan.takeover
    assert change is not None
    old = change.unit
    return (
        f"the root {old.code} {old.name} is now {change.code} {change.name} "
        "(the file's root took it over, with its cases and officers)"
    )


def plan_lines(plan: ImportPlan, tree: UnitTree) -> list[str]:
    """The plan as lines for the terminal, one per change."""
    out: list[str] = []
    if plan.takeover is not None:
        out.append(f"take over  {_takeover_line(plan)}")
    for new in plan.added:
        under = f"  under {new.parent}" if new.parent else "  (the root)"
        out.append(f"add        {new.code}  {new.name}{under}")
    for change in plan.changed:
        if change.renamed and change is not plan.takeover:
            out.append(f"rename     {change.code}  {change.unit.name} → {change.name}")
        if change.moved:
            old = tree.get(change.unit.parent_id)
            out.append(
                f"move       {change.code}  {old.code if old else '-'} → {change.parent or '-'}"
            )
        if change.revived:
            out.append(f"back       {change.code}  {change.name}  (back in service)")
    for unit in plan.retired:
        out.append(f"retire     {unit.code}  {unit.name}")
    for unit in plan.kept:
        out.append(
            f"keep       {unit.code}  {unit.name}  (not in the file; units in it are under it)"
        )
    if plan.empty:
        out.append("no changes: the units are as the file says")
    return out


def tree_lines(tree: UnitTree, open_cases: dict[int, int], *, include_retired: bool) -> list[str]:
    """The tree, two spaces per level: ``code  name  (open cases N)``."""
    out: list[str] = []
    for unit in tree.walk():
        if unit.retired and not include_retired:
            continue
        mark = f"  {RETIRED_MARK}" if unit.retired else ""
        indent = "  " * tree.depth(unit.id)
        out.append(
            f"{indent}{unit.code}  {unit.name}  (open cases {open_cases.get(unit.id, 0)}){mark}"
        )
    return out


async def _list(uow: Any, args: argparse.Namespace) -> int:
    tree = await uow.units.tree()
    if not len(tree):
        print(
            "no units yet: xinfang units import FILE.csv"
            " (an example: bot/cli/example-group.csv)"
        )
        return 0
    for line in tree_lines(tree, await uow.units.case_counts(), include_retired=args.all):
        print(line)
    return 0


def _unit(tree: UnitTree, code: str) -> Unit:
    unit = tree.by_code(code.strip())
    if unit is None:
        raise CliError(f"no unit with the code {code!r}: see xinfang units list --all")
    return unit


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CliError("the name is empty")
    if len(name) > MAX_NAME:
        raise CliError(f"the name is longer than {MAX_NAME} characters")
    return name


def _parent(tree: UnitTree, code: str) -> Unit:
    parent = _unit(tree, code)
    if parent.retired:
        raise CliError(f"the unit {parent.code} {parent.name} is retired: choose one in service")
    return parent


async def _change(uow: Any, args: argparse.Namespace) -> int:
    from bot.container import utc_now

    tree = await uow.units.tree()
    cmd = args.units_cmd
    if cmd == "add":
        unit = await _add(uow, tree, args)
        detail = {"unit_id": unit.id, "code": unit.code, "parent_id": unit.parent_id}
        done = f"added {unit.code} {unit.name}" + (f" under {args.parent}" if args.parent else "")
    elif cmd == "rename":
        unit = _unit(tree, args.code)
        name = _name(args.name)
        if name == unit.name:
            print(f"{unit.code} is called {name} already; nothing changed")
            return 0
        await uow.units.update(unit.id, name=name)
        detail = {"unit_id": unit.id, "code": unit.code}
        done = f"renamed {unit.code}: {unit.name} → {name}"
    elif cmd == "move":
        unit = _unit(tree, args.code)
        parent = _parent(tree, args.parent)
        if tree.covers(unit.id, parent.id):
            where = "itself" if parent.id == unit.id else f"under {unit.code}"
            raise CliError(f"{parent.code} is {where}: a unit cannot move into its own subtree")
        if unit.parent_id == parent.id:
            print(f"{unit.code} is under {parent.code} already; nothing changed")
            return 0
        old = tree.get(unit.parent_id)
        await uow.units.update(unit.id, parent_id=parent.id, move=True)
        detail = {"unit_id": unit.id, "code": unit.code, "parent_id": parent.id}
        done = f"moved {unit.code} {unit.name}: {old.code if old else '-'} → {parent.code}"
    else:
        unit = _unit(tree, args.code)
        if unit.retired:
            print(f"{unit.code} is retired already; nothing changed")
            return 0
        await _check_retire(uow, tree, unit)
        await uow.units.update(unit.id, retired=True)
        detail = {"unit_id": unit.id, "code": unit.code}
        done = f"retired {unit.code} {unit.name} (kept with its cases; xinfang units list --all)"
    await uow.audit.add(utc_now(), Role.SYSTEM, f"unit.{cmd}", channel="cli", detail=detail)
    await uow.commit()
    print(done)
    return 0


async def _add(uow: Any, tree: UnitTree, args: argparse.Namespace) -> Unit:
    from bot.container import utc_now

    code = args.code.strip()
    if not valid_code(code):
        raise CliError(f"a code is 1–{MAX_CODE} ASCII letters, digits, '-', '_' or '.'")
    for other in tree:
        if other.code.casefold() == code.casefold():
            state = " (retired)" if other.retired else ""
            raise CliError(f"the code {code} is taken by {other.code} {other.name}{state}")
    name = _name(args.name)
    if args.parent is None:
        root = tree.root
        if root is not None:
            raise CliError(
                f"give --parent CODE: the group has its root already ({root.code} {root.name})"
            )
        parent_id = None
    else:
        parent_id = _parent(tree, args.parent).id
    unit: Unit = await uow.units.add(code, name, parent_id, utc_now())
    return unit


async def _check_retire(uow: Any, tree: UnitTree, unit: Unit) -> None:
    """Refuse to retire the root or a unit with units in service under it; warn about the
    open cases and officers it still has."""
    if unit.parent_id is None:
        raise CliError(
            f"{unit.code} is the root (the group itself) and cannot be retired: rename it, "
            "or import a file whose root takes it over"
        )
    below = [u for u in tree.walk(unit.id) if u.id != unit.id and not u.retired]
    if below:
        codes = ", ".join(u.code for u in below[:5]) + (", …" if len(below) > 5 else "")
        raise CliError(
            f"{len(below)} unit(s) in service are under {unit.code} ({codes}): retire or move "
            "them first"
        )
    open_cases = (await uow.units.case_counts()).get(unit.id, 0)
    if open_cases:
        print(
            f"warning: {unit.code} {unit.name} has {open_cases} open case(s); they stay with "
            "it: transfer them to a unit in service"
        )
    officers = [o for o in await uow.officers.list() if o.unit_id == unit.id]
    if officers:
        print(
            f"warning: {len(officers)} officer(s) belong to {unit.code}: register them again "
            "with xinfang officers add --unit CODE"
        )
