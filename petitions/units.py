"""The enterprise group as a tree of units (集团 → 二级单位 → 三级单位 …).

Pure: the tree is built from rows storage loaded, and answers the questions scoping and
the ladder ask: which units lie under this one (an office sees its subtree), which unit
is N levels above (复查 by the parent, 复核 by the grandparent), how a unit is named in
full (集团/甲公司/一厂).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["MAX_CODE", "MAX_NAME", "Unit", "UnitTree", "valid_code"]

MAX_CODE = 32
MAX_NAME = 100


def valid_code(code: str) -> bool:
    """A unit code is 1–32 characters of ASCII letters, digits, ``-``, ``_`` or ``.``."""
    return 0 < len(code) <= MAX_CODE and all(
        c.isascii() and (c.isalnum() or c in "-_.") for c in code
    )


@dataclass(frozen=True)
class Unit:
    """One unit of the group; ``parent_id`` is None for the root."""

    id: int
    code: str
    name: str
    parent_id: int | None
    retired: bool = False


class UnitTree:
    """An immutable view of every unit, retired ones included (old cases keep them)."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._by_id: dict[int, Unit] = {}
        self._by_code: dict[str, Unit] = {}
        self._children: dict[int | None, list[Unit]] = {}
        for unit in units:
            self._by_id[unit.id] = unit
            self._by_code[unit.code] = unit
        for unit in sorted(self._by_id.values(), key=lambda u: (u.code, u.id)):
            parent = unit.parent_id if unit.parent_id in self._by_id else None
            self._children.setdefault(parent, []).append(unit)
        self._subtrees: dict[int, frozenset[int]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.walk())

    def get(self, unit_id: int | None) -> Unit | None:
        """The unit with this id, or None."""
        return None if unit_id is None else self._by_id.get(unit_id)

    def by_code(self, code: str) -> Unit | None:
        """The unit with this code, or None."""
        return self._by_code.get(code)

    @property
    def roots(self) -> Sequence[Unit]:
        """The units without a parent (one for a well-formed group)."""
        return tuple(self._children.get(None, ()))

    @property
    def root(self) -> Unit | None:
        """The group itself: the first root."""
        roots = self.roots
        return roots[0] if roots else None

    def children(self, unit_id: int | None, *, include_retired: bool = False) -> Sequence[Unit]:
        """The units directly under this one (the roots for None), by code."""
        found = self._children.get(unit_id, [])
        return tuple(u for u in found if include_retired or not u.retired)

    def walk(self, start: int | None = None) -> list[Unit]:
        """Every unit under ``start`` (the whole tree for None), parents before children."""
        out: list[Unit] = []
        stack = list(reversed(self._children.get(start, [])))
        if start is not None and start in self._by_id:
            stack = [self._by_id[start]]
        seen: set[int] = set()
        while stack:
            unit = stack.pop()
            if unit.id in seen:  # a cycle in bad data must not hang the service
                continue
            seen.add(unit.id)
            out.append(unit)
            stack.extend(reversed(self._children.get(unit.id, [])))
        return out

    def depth(self, unit_id: int) -> int:
        """0 for a root, 1 for its children, and so on."""
        return len(self.ancestors(unit_id)) - 1

    def ancestors(self, unit_id: int) -> list[Unit]:
        """The unit and the units above it, nearest first, up to the root."""
        out: list[Unit] = []
        seen: set[int] = set()
        unit = self._by_id.get(unit_id)
        while unit is not None and unit.id not in seen:
            seen.add(unit.id)
            out.append(unit)
            unit = self._by_id.get(unit.parent_id) if unit.parent_id is not None else None
        return out

    def above(self, unit_id: int, levels: int) -> Unit | None:
        """The unit ``levels`` steps above this one; the root when the tree is shallower."""
        chain = self.ancestors(unit_id)
        if not chain:
            return None
        return chain[min(levels, len(chain) - 1)]

    def subtree(self, unit_id: int) -> frozenset[int]:
        """The ids of this unit and every unit under it."""
        cached = self._subtrees.get(unit_id)
        if cached is None:
            cached = (
                frozenset(u.id for u in self.walk(unit_id))
                if unit_id in self._by_id
                else frozenset()
            )
            self._subtrees[unit_id] = cached
        return cached

    def covers(self, unit_id: int, other_id: int | None) -> bool:
        """Whether ``other_id`` lies in the subtree of ``unit_id``."""
        return other_id is not None and other_id in self.subtree(unit_id)

    def path_name(self, unit_id: int | None, sep: str = "/") -> str:
        """The unit's name with its ancestors', from the top (集团/甲公司/一厂); the root's
        own name is left out below it, as people say it."""
        chain = self.ancestors(unit_id) if unit_id is not None else []
        if not chain:
            return ""
        names = [u.name for u in reversed(chain)]
        if len(names) > 1:
            names = names[1:]
        return sep.join(names)

    def search(self, text: str, limit: int = 20) -> list[Unit]:
        """Units in service whose name or code contains the text (case-insensitive)."""
        needle = "".join(text.split()).casefold()
        if not needle:
            return []
        found = [
            u
            for u in self.walk()
            if not u.retired and (needle in u.name.casefold() or needle == u.code.casefold())
        ]
        return found[:limit]
