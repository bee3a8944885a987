"""Choosing the unit a petition concerns (issue 13): one level of the group at a time, or
by typing part of a unit's name, and where a conflict of interest sends the case.

Pure: it reads the tree (petitions.units) and the button payloads; the intake steps
(handlers/intake.py) ask the questions and keep the choice in the encrypted draft. Button
payloads are typed like handlers/payloads.py's and carry the unit id, so a button pressed
on an older message still means what it said.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from handlers.text import clean_text
from petitions.lifecycle import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP
from petitions.units import MAX_NAME, Unit, UnitTree

__all__ = [
    "CONFLICTS",
    "PAGE_SIZE",
    "ChooseUnit",
    "Level",
    "OpenUnit",
    "UnitPage",
    "UnitPayload",
    "choosable",
    "default_unit",
    "encode",
    "handling_unit",
    "level",
    "parse",
    "search",
    "start_level",
]

PAGE_SIZE = 8  # unit buttons per message: with the other buttons, three WeCom cards at most
CONFLICTS = (CONFLICT_LEADERSHIP, CONFLICT_DISCIPLINE)
_PREFIX = "un"
_MAX_BYTES = 64  # Telegram's callback_data limit


@dataclass(frozen=True)
class OpenUnit:
    """A unit's button: shows its own level (its units below), or chooses a unit that has
    none."""

    unit_id: int


@dataclass(frozen=True)
class ChooseUnit:
    """就是这个单位 (or a search result): this unit is the one."""

    unit_id: int


@dataclass(frozen=True)
class UnitPage:
    """上一页/下一页 within the level of this unit."""

    unit_id: int
    page: int


UnitPayload = OpenUnit | ChooseUnit | UnitPage


def encode(payload: UnitPayload) -> str:
    """Write a picker payload as button data (``un:…``, at most 64 bytes)."""
    match payload:
        case OpenUnit(unit_id):
            text = f"{_PREFIX}:o:{unit_id}"
        case ChooseUnit(unit_id):
            text = f"{_PREFIX}:ok:{unit_id}"
        case UnitPage(unit_id, page):
            text = f"{_PREFIX}:p:{unit_id}:{page}"
    if len(text.encode("utf-8")) > _MAX_BYTES:
        raise ValueError("button payload over 64 bytes")
    return text


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse(text: str) -> UnitPayload | None:
    """Read button data written by :func:`encode`; None for anything else."""
    parts = text.split(":")
    if len(parts) < 3 or parts[0] != _PREFIX:
        return None
    verb, numbers = parts[1], [_number(p) for p in parts[2:]]
    if any(n is None for n in numbers):
        return None
    if verb == "o" and len(numbers) == 1:
        return OpenUnit(numbers[0] or 0)
    if verb == "ok" and len(numbers) == 1:
        return ChooseUnit(numbers[0] or 0)
    if verb == "p" and len(numbers) == 2:
        return UnitPage(numbers[0] or 0, numbers[1] or 0)
    return None


def choosable(tree: UnitTree, unit_id: object) -> Unit | None:
    """The unit, when it exists and neither it nor a unit above it is retired."""
    if not isinstance(unit_id, int) or isinstance(unit_id, bool):
        return None
    chain = tree.ancestors(unit_id)
    if not chain or any(u.retired for u in chain):
        return None
    return chain[0]


def start_level(tree: UnitTree) -> Unit | None:
    """The unit whose level the picker opens on: the root, when units in service lie under
    it; None when there is nothing to choose (no tree, or only a root)."""
    root = tree.root
    if root is None or root.retired or not tree.children(root.id):
        return None
    return root


def default_unit(tree: UnitTree) -> int | None:
    """The unit of a case when there is nothing to choose: the root, or None."""
    root = tree.root
    return root.id if root is not None and not root.retired else None


@dataclass(frozen=True)
class Level:
    """One page of one level: the units under ``unit``, and how to move from there."""

    unit: Unit
    units: tuple[Unit, ...]
    branches: frozenset[int]  # the ids among ``units`` that have units under them
    page: int
    pages: int
    up: Unit | None  # 上一级: None on the level the picker opens on


def level(tree: UnitTree, unit: Unit, page: int = 0) -> Level:
    """The units under ``unit`` on ``page`` (clamped to the pages there are)."""
    below = tree.children(unit.id)
    pages = max(1, -(-len(below) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = below[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    start = start_level(tree)
    up = None
    if start is not None and unit.id != start.id and unit.parent_id is not None:
        up = tree.get(unit.parent_id)
    return Level(
        unit=unit,
        units=tuple(shown),
        branches=frozenset(u.id for u in shown if tree.children(u.id)),
        page=page,
        pages=pages,
        up=up,
    )


def search(tree: UnitTree, text: str, limit: int) -> list[Unit]:
    """Units in service whose name holds the typed text (or whose code it is), at most
    ``limit``; full-width letters and invisible characters do not get in the way."""
    typed = clean_text(text)
    if not typed or len(typed) > MAX_NAME:
        return []  # longer than any name: nothing can match, and nothing is searched
    # As typed (names may hold full-width brackets), and in the compatibility form (a code
    # typed in full-width letters).
    found: dict[int, Unit] = {}
    for query in dict.fromkeys((typed, unicodedata.normalize("NFKC", typed))):
        for unit in tree.search(query, limit=len(tree)):
            if unit.id not in found and choosable(tree, unit.id) is not None:
                found[unit.id] = unit
    return list(found.values())[:limit]


def handling_unit(tree: UnitTree, chosen: int, conflict: str | None) -> int:
    """The unit whose office handles the case: the chosen one, or the one above it when
    the matter concerns the chosen unit's leadership (the root stays the root)."""
    if conflict in CONFLICTS:
        above = tree.above(chosen, 1)
        if above is not None:
            return above.id
    return chosen
