"""``xinfang units import | list | add | rename | move | retire``: the group as a tree of
units (petitions.units). Units are never deleted: a unit that goes out of service is
retired, and its cases keep it. Every change is audited with channel ``cli`` and role
``system`` (the operator at the terminal is no officer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_
from petitions.roles import Role
from petitions.units import MAX_CODE, MAX_NAME, Unit, UnitTree, valid_code
from petitions.units_file import FileProblem, ImportPlan, read_import

__all__ = ["plan_lines", "register", "tree_lines"]

RETIRED_MARK = "已撤销"
# The plan's counts (ImportPlan.counts) by kind, as the summary names them.
_KINDS = {
    "added": N_("cli.units.kind_added"),
    "updated": N_("cli.units.kind_updated"),
    "moved": N_("cli.units.kind_moved"),
    "retired": N_("cli.units.kind_retired"),
}

# A unit file's problems (petitions.units_file.FileProblem codes) as the catalogs word them,
# with the fields the catalog texts add: the file's column names, formats.
_PROBLEMS: dict[str, tuple[str, dict[str, str]]] = {
    "not_utf8": (N_("cli.units.file_not_utf8"), {"utf8": "UTF-8", "format": "'CSV UTF-8'"}),
    "csv": (N_("cli.units.file_csv"), {}),
    "empty": (N_("cli.units.file_empty"), {}),
    "header": (N_("cli.units.file_header"), {}),
    "fields": (N_("cli.units.file_fields"), {}),
    "code_empty": (N_("cli.units.file_cell_empty"), {"column": "code"}),
    "code_invalid": (N_("cli.units.file_code_invalid"), {"column": "code"}),
    "code_twice": (N_("cli.units.file_code_twice"), {}),
    "name_empty": (N_("cli.units.file_cell_empty"), {"column": "name"}),
    "name_long": (N_("cli.units.file_name_long"), {"column": "name"}),
    "no_units": (N_("cli.units.file_no_units"), {}),
    "case_differs": (N_("cli.units.file_case_differs"), {}),
    "parent_missing": (N_("cli.units.file_parent_missing"), {}),
    "parent_retired": (N_("cli.units.file_parent_retired"), {}),
    "cycle": (N_("cli.units.file_cycle"), {}),
    "many_roots": (N_("cli.units.file_many_roots"), {}),
    "no_root": (N_("cli.units.file_no_root"), {}),
}

_EXAMPLE = "bot/cli/example-group.csv"
_LIST_ALL = "xinfang units list --all"
_OFFICERS_ADD = "xinfang officers add --unit CODE"


def _import_help() -> str:
    return t(
        "cli.units.import_description",
        utf8="UTF-8",
        format="CSV UTF-8",
        header="code,name,parent",
        c_code="code",
        c_name="name",
        c_parent="parent",
        max_code=MAX_CODE,
        max_name=MAX_NAME,
        list_all=_LIST_ALL,
        root="ROOT",
    )


def _import_epilog() -> str:
    return t(
        "cli.units.import_epilog",
        dry="xinfang units import bot/cli/example-group.csv --dry-run",
        plain="xinfang units import units.csv",
        header="code,name,parent",
        rows="  JT,集团,\n  JT-A,甲能源公司,JT\n  JT-A-1,甲一厂,JT-A",
    )


def _group_epilog() -> str:
    return t(
        "cli.units.epilog",
        imp=f"xinfang units import {_EXAMPLE}",
        lst="xinfang units list",
        add="xinfang units add JT-A-3 甲三厂 --parent JT-A",
        rename="xinfang units rename JT-A-3 甲第三厂",
        move="xinfang units move JT-A-3 --parent JT-B",
        retire="xinfang units retire JT-A-3",
        officers="xinfang officers add ... --unit CODE",
    )


def register(sub: Any) -> None:
    """Add ``units`` and its actions."""
    raw = argparse.RawDescriptionHelpFormatter
    units = sub.add_parser(
        "units",
        help=t("cli.units.help"),
        description=t("cli.units.description"),
        epilog=_group_epilog(),
        formatter_class=raw,
    )
    usub = units.add_subparsers(
        dest="units_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    imp = usub.add_parser(
        "import",
        help=t("cli.units.import_help"),
        description=_import_help(),
        epilog=_import_epilog(),
        formatter_class=raw,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--dry-run", action="store_true", help=t("cli.units.import_dry_run_help"))
    lst = usub.add_parser(
        "list",
        help=t("cli.units.list_help"),
        description=t("cli.units.list_description", mark=RETIRED_MARK, all="--all"),
        epilog=t("cli.units.example", example=_LIST_ALL),
        formatter_class=raw,
    )
    lst.add_argument("--all", action="store_true", help=t("cli.units.list_all_help"))
    code, name = t("cli.units.metavar_code"), t("cli.units.metavar_name")
    add = usub.add_parser(
        "add",
        help=t("cli.units.add_help"),
        description=t("cli.units.add_description", parent="--parent"),
        epilog=t(
            "cli.units.add_epilog",
            root="xinfang units add JT 集团",
            child="xinfang units add JT-A-3 甲三厂 --parent JT-A",
        ),
        formatter_class=raw,
    )
    add.add_argument("code", metavar=code, help=t("cli.units.add_code_help", max=MAX_CODE))
    add.add_argument("name", metavar=name, help=t("cli.units.add_name_help"))
    add.add_argument("--parent", metavar="CODE", help=t("cli.units.add_parent_help"))
    ren = usub.add_parser(
        "rename",
        help=t("cli.units.rename_help"),
        epilog=t("cli.units.example", example="xinfang units rename JT 某某能源集团"),
        formatter_class=raw,
    )
    ren.add_argument("code", metavar=code)
    ren.add_argument("name", metavar=name)
    mov = usub.add_parser(
        "move",
        help=t("cli.units.move_help"),
        description=t("cli.units.move_description"),
        epilog=t("cli.units.example", example="xinfang units move JT-A-2 --parent JT-B"),
        formatter_class=raw,
    )
    mov.add_argument("code", metavar=code)
    mov.add_argument(
        "--parent", metavar="CODE", required=True, help=t("cli.units.move_parent_help")
    )
    ret = usub.add_parser(
        "retire",
        help=t("cli.units.retire_help"),
        description=t("cli.units.retire_description"),
        epilog=t("cli.units.example", example="xinfang units retire JT-A-2"),
        formatter_class=raw,
    )
    ret.add_argument("code", metavar=code)
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


def _problem(problem: FileProblem) -> str:
    """A unit file's problem in the CLI's language (in English, the domain's own text)."""
    found = _PROBLEMS.get(problem.code)
    if found is None or cli_locale() == "en":
        return str(problem)
    key, extra = found
    params: dict[str, Any] = {**extra, **problem.params}
    if problem.code == "many_roots":
        named = [t("cli.units.file_root_in_file", code=c, line=n) for c, n in params["in_file"]]
        left = [t("cli.units.file_root_left_out", code=c) for c in params["left_out"]]
        params["roots"] = t("cli.units.list_sep").join(named + left)
    text = t(key, **params)
    return (
        text if problem.line is None else t("cli.units.file_line", line=problem.line, error=text)
    )


async def _import(uow: Any, args: argparse.Namespace, data: bytes) -> int:
    from bot.container import utc_now

    tree = await uow.units.tree()
    plan, errors = read_import(data, tree)
    if errors:
        for error in errors:
            print(f"{args.file.name}: {_problem(error)}", file=sys.stderr)
        print(t("cli.units.nothing_imported", count=len(errors)), file=sys.stderr)
        return 1
    counts = plan.counts
    summary = t("cli.units.list_sep").join(
        t("cli.units.count", kind=t(_KINDS[kind]) if kind in _KINDS else kind, n=n)
        for kind, n in counts.items()
    )
    if args.dry_run:
        for line in plan_lines(plan, tree):
            print(line)
        print(t("cli.units.would_be", summary=summary))
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
    print(t("cli.units.imported", summary=summary, unchanged=plan.unchanged))
    if plan.retired:
        print(t("cli.units.retired_kept", with_cases=len(with_cases), command=_LIST_ALL))
    staff = [o.unit_id for o in await uow.officers.list()]
    for unit in plan.retired:
        if open_cases.get(unit.id):
            print(
                t(
                    "cli.units.warn_retired_open",
                    code=unit.code,
                    name=unit.name,
                    count=open_cases[unit.id],
                )
            )
        if unit.id in staff:
            print(
                t(
                    "cli.units.warn_retired_staff",
                    count=staff.count(unit.id),
                    code=unit.code,
                    command=_OFFICERS_ADD,
                )
            )
    return 0


def _takeover_line(plan: ImportPlan) -> str:
    change = plan.takeover
    assert change is not None
    old = change.unit
    return t(
        "cli.units.takeover",
        old_code=old.code,
        old_name=old.name,
        code=change.code,
        name=change.name,
    )


def plan_lines(plan: ImportPlan, tree: UnitTree) -> list[str]:
    """The plan as lines for the terminal, one per change."""
    out: list[str] = []
    if plan.takeover is not None:
        out.append(t("cli.units.plan_takeover", line=_takeover_line(plan)))
    for new in plan.added:
        if new.parent:
            under = t("cli.units.plan_under", parent=new.parent)
        else:
            under = t("cli.units.plan_root")
        out.append(t("cli.units.plan_add", code=new.code, name=new.name, under=under))
    for change in plan.changed:
        if change.renamed and change is not plan.takeover:
            out.append(
                t("cli.units.plan_rename", code=change.code, old=change.unit.name, new=change.name)
            )
        if change.moved:
            old = tree.get(change.unit.parent_id)
            out.append(
                t(
                    "cli.units.plan_move",
                    code=change.code,
                    old=old.code if old else "-",
                    new=change.parent or "-",
                )
            )
        if change.revived:
            out.append(t("cli.units.plan_back", code=change.code, name=change.name))
    for unit in plan.retired:
        out.append(t("cli.units.plan_retire", code=unit.code, name=unit.name))
    for unit in plan.kept:
        out.append(t("cli.units.plan_keep", code=unit.code, name=unit.name))
    if plan.empty:
        out.append(t("cli.units.plan_empty"))
    return out


def tree_lines(tree: UnitTree, open_cases: dict[int, int], *, include_retired: bool) -> list[str]:
    """The tree, two spaces per level: ``code  name  (open cases N)``."""
    out: list[str] = []
    for unit in tree.walk():
        if unit.retired and not include_retired:
            continue
        mark = f"  {RETIRED_MARK}" if unit.retired else ""
        indent = "  " * tree.depth(unit.id)
        count = t("cli.units.open_cases", count=open_cases.get(unit.id, 0))
        out.append(f"{indent}{unit.code}  {unit.name}  {count}{mark}")
    return out


async def _list(uow: Any, args: argparse.Namespace) -> int:
    tree = await uow.units.tree()
    if not len(tree):
        print(t("cli.units.none_yet", command="xinfang units import FILE.csv", example=_EXAMPLE))
        return 0
    for line in tree_lines(tree, await uow.units.case_counts(), include_retired=args.all):
        print(line)
    return 0


def _unit(tree: UnitTree, code: str) -> Unit:
    unit = tree.by_code(code.strip())
    if unit is None:
        raise CliError(t("cli.units.no_unit", code=repr(code), command=_LIST_ALL))
    return unit


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CliError(t("cli.units.name_empty"))
    if len(name) > MAX_NAME:
        raise CliError(t("cli.units.name_too_long", max=MAX_NAME))
    return name


def _parent(tree: UnitTree, code: str) -> Unit:
    parent = _unit(tree, code)
    if parent.retired:
        raise CliError(t("cli.units.parent_retired", code=parent.code, name=parent.name))
    return parent


async def _change(uow: Any, args: argparse.Namespace) -> int:
    from bot.container import utc_now

    tree = await uow.units.tree()
    cmd = args.units_cmd
    if cmd == "add":
        unit = await _add(uow, tree, args)
        detail = {"unit_id": unit.id, "code": unit.code, "parent_id": unit.parent_id}
        if args.parent:
            done = t("cli.units.added_under", code=unit.code, name=unit.name, parent=args.parent)
        else:
            done = t("cli.units.added", code=unit.code, name=unit.name)
    elif cmd == "rename":
        unit = _unit(tree, args.code)
        name = _name(args.name)
        if name == unit.name:
            print(t("cli.units.same_name", code=unit.code, name=name))
            return 0
        await uow.units.update(unit.id, name=name)
        detail = {"unit_id": unit.id, "code": unit.code}
        done = t("cli.units.renamed", code=unit.code, old=unit.name, new=name)
    elif cmd == "move":
        unit = _unit(tree, args.code)
        parent = _parent(tree, args.parent)
        if tree.covers(unit.id, parent.id):
            if parent.id == unit.id:
                raise CliError(t("cli.units.move_into_itself", parent=parent.code))
            raise CliError(t("cli.units.move_into_subtree", parent=parent.code, code=unit.code))
        if unit.parent_id == parent.id:
            print(t("cli.units.same_parent", code=unit.code, parent=parent.code))
            return 0
        old = tree.get(unit.parent_id)
        await uow.units.update(unit.id, parent_id=parent.id, move=True)
        detail = {"unit_id": unit.id, "code": unit.code, "parent_id": parent.id}
        done = t(
            "cli.units.moved",
            code=unit.code,
            name=unit.name,
            old=old.code if old else "-",
            new=parent.code,
        )
    else:
        unit = _unit(tree, args.code)
        if unit.retired:
            print(t("cli.units.retired_already", code=unit.code))
            return 0
        await _check_retire(uow, tree, unit)
        await uow.units.update(unit.id, retired=True)
        detail = {"unit_id": unit.id, "code": unit.code}
        done = t("cli.units.retired", code=unit.code, name=unit.name, command=_LIST_ALL)
    await uow.audit.add(utc_now(), Role.SYSTEM, f"unit.{cmd}", channel="cli", detail=detail)
    await uow.commit()
    print(done)
    return 0


async def _add(uow: Any, tree: UnitTree, args: argparse.Namespace) -> Unit:
    from bot.container import utc_now

    code = args.code.strip()
    if not valid_code(code):
        raise CliError(t("cli.units.bad_code", max=MAX_CODE))
    for other in tree:
        if other.code.casefold() == code.casefold():
            retired = other.retired
            key = N_("cli.units.code_taken_retired") if retired else N_("cli.units.code_taken")
            raise CliError(t(key, code=code, other=other.code, name=other.name))
    name = _name(args.name)
    if args.parent is None:
        root = tree.root
        if root is not None:
            raise CliError(
                t("cli.units.root_exists", parent="--parent CODE", code=root.code, name=root.name)
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
        raise CliError(t("cli.units.retire_root", code=unit.code))
    below = [u for u in tree.walk(unit.id) if u.id != unit.id and not u.retired]
    if below:
        codes = ", ".join(u.code for u in below[:5]) + (", …" if len(below) > 5 else "")
        raise CliError(t("cli.units.retire_below", count=len(below), code=unit.code, codes=codes))
    open_cases = (await uow.units.case_counts()).get(unit.id, 0)
    if open_cases:
        print(t("cli.units.warn_open", code=unit.code, name=unit.name, count=open_cases))
    officers = [o for o in await uow.officers.list() if o.unit_id == unit.id]
    if officers:
        print(
            t(
                "cli.units.warn_staff",
                count=len(officers),
                code=unit.code,
                command=_OFFICERS_ADD,
            )
        )
