"""A unit file (``xinfang units import``): parse its CSV and plan what it changes.

Pure: the plan is computed from the parsed lines and the tree as it is now, and storage
carries it out in one transaction (storage.units.SqlUnits.apply). The file describes the
whole group: every unit it names is put in service (added, renamed, moved or brought
back), and a unit it leaves out is retired, never deleted (old cases keep their unit),
except a unit still needed above the units the file names. Every problem comes back at
once with its line number, and a file with any problem changes nothing. A problem is its
English text (a str) with a code and fields, for a UI to word it in its language.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from petitions.units import MAX_CODE, MAX_NAME, Unit, UnitTree, valid_code

__all__ = [
    "COLUMNS",
    "FileProblem",
    "ImportPlan",
    "NewUnit",
    "UnitChange",
    "UnitLine",
    "parse_units_csv",
    "plan_import",
    "read_import",
]

COLUMNS = ("code", "name", "parent")


class FileProblem(str):
    """One problem of a unit file. The str is its English text (``line N: ...`` when it is
    a line's), as it always was; ``line``, ``code`` and ``params`` let a UI word it in its
    language (this package has no catalogs). Codes: not_utf8 (byte), csv, empty, header
    (header), fields (count, header), code_empty, code_invalid (got, most), code_twice
    (unit, first), name_empty, name_long (most), no_units, case_differs (unit, other),
    parent_missing (parent), parent_retired (parent), cycle (shown), many_roots (in_file:
    (code, line) pairs, left_out: codes), no_root."""

    line: int | None
    code: str
    params: Mapping[str, object]

    def __new__(cls, line: int | None, code: str, text: str, /, **params: object) -> FileProblem:
        problem = super().__new__(cls, text if line is None else f"line {line}: {text}")
        problem.line, problem.code, problem.params = line, code, params
        return problem


@dataclass(frozen=True)
class UnitLine:
    """One line of a unit file, checked on its own: ``parent`` is None for the root."""

    line: int
    code: str
    name: str
    parent: str | None


@dataclass(frozen=True)
class NewUnit:
    """A unit the import adds; ``parent`` is its parent's code after the import."""

    line: int
    code: str
    name: str
    parent: str | None


@dataclass(frozen=True)
class UnitChange:
    """An existing unit the import changes; codes are as they will be after the import."""

    line: int
    unit: Unit
    code: str
    name: str
    parent: str | None
    moved: bool
    revived: bool

    @property
    def renamed(self) -> bool:
        """Whether its name changes."""
        return self.name != self.unit.name

    @property
    def recoded(self) -> bool:
        """Whether its code changes (only the root taken over by the file's root)."""
        return self.code != self.unit.code

    @property
    def updated(self) -> bool:
        """Whether it counts as updated: a new name or code, or back in service."""
        return self.renamed or self.recoded or self.revived


@dataclass(frozen=True)
class ImportPlan:
    """What an import does: units added (parents first), changed and retired."""

    added: tuple[NewUnit, ...] = ()
    changed: tuple[UnitChange, ...] = ()
    retired: tuple[Unit, ...] = ()
    # Units the file leaves out that stay in service, as parents of units it names.
    kept: tuple[Unit, ...] = ()
    # The database's root taken over by the file's root (its code and name change).
    takeover: UnitChange | None = None
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        """Whether the import changes nothing."""
        return not (self.added or self.changed or self.retired)

    @property
    def counts(self) -> dict[str, int]:
        """How many units are added, updated (renamed, recoded, back in service), moved
        and retired; a unit both renamed and moved counts in both."""
        return {
            "added": len(self.added),
            "updated": sum(1 for c in self.changed if c.updated),
            "moved": sum(1 for c in self.changed if c.moved),
            "retired": len(self.retired),
        }


def parse_units_csv(data: bytes) -> tuple[list[UnitLine], list[FileProblem]]:
    """Check a unit file line by line; return its lines and the line-numbered errors."""
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        why = f"the file is not UTF-8 (byte {exc.start}); in Excel save it as 'CSV UTF-8'"
        return [], [FileProblem(None, "not_utf8", why, byte=exc.start)]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [FileProblem(1, "csv", str(exc))]
    if header is None:
        return [], [FileProblem(None, "empty", "the file is empty")]
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(COLUMNS):
        wanted = ",".join(COLUMNS)
        return [], [FileProblem(1, "header", f"the header must be {wanted}", header=wanted)]
    lines: list[UnitLine] = []
    errors: list[FileProblem] = []
    first: dict[str, int] = {}  # casefolded code -> first line
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # an unclosed quote runs to the end of the file
            errors.append(FileProblem(reader.line_num, "csv", str(exc)))
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines (Excel leaves some at the end)
        if len(cells) != len(names):
            fields = f"{len(cells)} fields, the header has {len(names)}"
            errors.append(FileProblem(line, "fields", fields, count=len(cells), header=len(names)))
            continue
        values = {n: c.strip() for n, c in zip(names, cells, strict=True)}
        code, name, parent = values["code"], values["name"], values["parent"] or None
        problems: list[FileProblem] = []
        if not code:
            problems.append(FileProblem(line, "code_empty", "code is empty"))
        elif not valid_code(code):
            why = f"code {code!r} must be 1–{MAX_CODE} ASCII letters, digits, '-', '_' or '.'"
            problems.append(FileProblem(line, "code_invalid", why, got=repr(code), most=MAX_CODE))
        elif code.casefold() in first:
            earlier = first[code.casefold()]
            why = f"the code {code} is on line {earlier} too"
            problems.append(FileProblem(line, "code_twice", why, unit=code, first=earlier))
        else:
            first[code.casefold()] = line
            # Kept despite a bad name, so that the plan still knows the code and reports
            # the tree's problems in the same run instead of the next one.
            lines.append(UnitLine(line, code, name, parent))
        if not name:
            problems.append(FileProblem(line, "name_empty", "name is empty"))
        elif len(name) > MAX_NAME:
            why = f"name is longer than {MAX_NAME} characters"
            problems.append(FileProblem(line, "name_long", why, most=MAX_NAME))
        errors.extend(problems)
    if not lines and not errors:
        errors.append(FileProblem(None, "no_units", "no units in the file (only the header)"))
    return lines, errors


def read_import(data: bytes, tree: UnitTree) -> tuple[ImportPlan, list[FileProblem]]:
    """Parse a unit file and plan its import into this tree; every error of both, by line
    (none: the plan can be carried out)."""
    lines, errors = parse_units_csv(data)
    if not lines:
        return ImportPlan(), errors
    plan, more = plan_import(lines, tree)
    found = sorted(dict.fromkeys(errors + more), key=_line_number)
    return (plan if not found else ImportPlan()), found


def _line_number(error: FileProblem) -> int:
    # Errors of a line by its number (in the order found); the whole file's after them.
    return error.line if error.line is not None else sys.maxsize


def plan_import(lines: Sequence[UnitLine], tree: UnitTree) -> tuple[ImportPlan, list[FileProblem]]:
    """What importing these lines into this tree changes; the errors if it cannot."""
    errors: list[FileProblem] = []
    in_file = {ln.code: ln for ln in lines}
    existing = {u.code: u for u in tree}
    folded = {u.code.casefold(): u for u in tree}
    file_roots = [ln for ln in lines if ln.parent is None]
    takeover = _takeover_of(lines, tree, file_roots)
    # The existing unit each line names (the database's root for the file's root when
    # that root is taken over).
    target: dict[str, Unit] = {}
    for ln in lines:
        unit = existing.get(ln.code)
        if takeover is not None and ln.code == file_roots[0].code:
            unit = takeover
        if unit is not None:
            target[ln.code] = unit
        elif ln.code.casefold() in folded:
            other = folded[ln.code.casefold()].code
            why = f"the code {ln.code} differs from {other} only in case"
            errors.append(FileProblem(ln.line, "case_differs", why, unit=ln.code, other=other))

    def code_after(unit: Unit) -> str:
        if takeover is not None and unit.id == takeover.id:
            return file_roots[0].code
        return unit.code

    # Every unit's parent code after the import: the file's word for the units it names,
    # the database's for the others.
    parent_of: dict[str, str | None] = {}
    mapped = {u.id for u in target.values()}
    for unit in tree:
        if unit.id not in mapped:
            parent = tree.get(unit.parent_id)
            parent_of[code_after(unit)] = code_after(parent) if parent is not None else None
    for ln in lines:
        parent_of[ln.code] = ln.parent
    after: dict[str, Unit] = {code_after(u): u for u in tree if u.id not in mapped}

    for ln in lines:
        if ln.parent is None or ln.parent in in_file:
            continue
        parent_unit = after.get(ln.parent)
        if parent_unit is None:
            why = f"the parent {ln.parent} is neither in the file nor an existing unit"
            errors.append(FileProblem(ln.line, "parent_missing", why, parent=ln.parent))
        elif parent_unit.retired:
            why = f"the parent {ln.parent} is retired; put it in the file to bring it back"
            errors.append(FileProblem(ln.line, "parent_retired", why, parent=ln.parent))
    errors.extend(_cycles(lines, parent_of))

    named_roots = tuple((ln.code, ln.line) for ln in file_roots)
    left_out = tuple(code for code in after if parent_of[code] is None)
    roots = [f"{code} (line {line})" for code, line in named_roots]
    roots += [f"{code} (an existing unit the file leaves out)" for code in left_out]
    if len(roots) > 1:
        why = f"more than one root (a unit with no parent): {', '.join(roots)}"
        errors.append(FileProblem(None, "many_roots", why, in_file=named_roots, left_out=left_out))
    if not roots and len(tree) == 0:
        why = "the file has no root (a line with an empty parent) and there are no units yet"
        errors.append(FileProblem(None, "no_root", why))
    if errors:
        return ImportPlan(), errors

    # Units the file leaves out stay in service while a unit it names sits under them.
    needed: set[str] = set()
    for ln in lines:
        code = ln.parent
        while code is not None and code not in needed:
            if code in after:
                needed.add(code)
            code = parent_of.get(code)
    kept = tuple(after[c] for c in sorted(needed) if not after[c].retired)
    retired = tuple(u for code, u in sorted(after.items()) if code not in needed and not u.retired)
    placed = set(after) | set(target)
    added = tuple(_parents_first([ln for ln in lines if ln.code not in target], placed))
    changed: list[UnitChange] = []
    unchanged = 0
    taken: UnitChange | None = None
    for ln in lines:
        unit = target.get(ln.code)
        if unit is None:
            continue
        old_parent = tree.get(unit.parent_id)
        change = UnitChange(
            line=ln.line,
            unit=unit,
            code=ln.code,
            name=ln.name,
            parent=ln.parent,
            moved=(code_after(old_parent) if old_parent is not None else None) != ln.parent,
            revived=unit.retired,
        )
        if change.updated or change.moved:
            changed.append(change)
            if takeover is not None and unit.id == takeover.id:
                taken = change
        else:
            unchanged += 1
    return ImportPlan(added, tuple(changed), retired, kept, taken, unchanged), []


def _takeover_of(lines: Sequence[UnitLine], tree: UnitTree, roots: list[UnitLine]) -> Unit | None:
    """The database's root, when the file's root takes it over: a database with exactly
    one root, a file with one root under another code, and the old code used nowhere in
    the file (this is how the migrated ROOT/本集团 becomes the real group)."""
    if len(tree.roots) != 1 or len(roots) != 1:
        return None
    old, new = tree.roots[0], roots[0]
    if new.code == old.code or tree.by_code(new.code) is not None:
        return None
    if any(old.code in (ln.code, ln.parent) for ln in lines):
        return None
    return old


def _cycles(lines: Sequence[UnitLine], parent_of: dict[str, str | None]) -> list[FileProblem]:
    """One error per cycle of parents, on the first line of the units in it."""
    line_of = {ln.code: ln.line for ln in lines}
    errors: list[FileProblem] = []
    done: set[str] = set()
    for ln in lines:
        path: list[str] = []
        code: str | None = ln.code
        while code is not None and code not in done and code not in path:
            path.append(code)
            code = parent_of.get(code)
        if code is not None and code in path:
            loop = path[path.index(code) :]
            start = min(loop, key=lambda c: line_of.get(c, sys.maxsize))
            i = loop.index(start)
            shown = " → ".join([*loop[i:], *loop[:i], start])
            where = line_of.get(start, ln.line)
            why = f"a cycle of parents: {shown} (each under the next)"
            errors.append(FileProblem(where, "cycle", why, shown=shown))
        done.update(path)
    return errors


def _parents_first(new: list[UnitLine], existing: set[str]) -> list[NewUnit]:
    """The new units in an order where every parent comes before its children."""
    placed = set(existing)
    out: list[NewUnit] = []
    waiting = list(new)
    while waiting:
        still: list[UnitLine] = []
        for ln in waiting:
            if ln.parent is None or ln.parent in placed:
                out.append(NewUnit(ln.line, ln.code, ln.name, ln.parent))
                placed.add(ln.code)
            else:
                still.append(ln)
        if len(still) == len(waiting):  # unreachable after the checks; never loop forever
            raise ValueError("the new units' parents form a cycle")
        waiting = still
    return out
