"""The scoping world of issue 13 (item 3) and its one expected-visibility oracle.

A group of two companies (one with two plants), officers of every role at several levels,
and cases that tell the rules apart: an ordinary case at each plant and at a company, a 纪检
report at a plant, a petition its employee sent to 纪检 because it concerns the plant's
leaders (``conflict="discipline"``, handled at the company), and a case that keeps one
officer away. :func:`may_see` is the rule written out by hand from the issue's words (role,
subtree, exclusion), independent of ``handlers/access.py``, so the table-driven tests
compare the code with the rule, not with itself. :func:`build_world` seeds it all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.container import Container
from bot.web.passwords import hash_password
from handlers.inbound import FileIn
from petitions.roles import Role
from storage.models import CaseEventRow, CaseMessageRow, CaseRow, OutboxRow
from storage.vault import aad
from tests.helpers.seeding import seed_cases

__all__ = [
    "CASES",
    "PASSWORD",
    "PEOPLE",
    "UNITS",
    "CaseSpec",
    "Person",
    "World",
    "build_world",
    "covers",
    "may_see",
    "restore",
    "snapshot",
    "unrelated_units",
]

PASSWORD = "correct horse battery"

# code, name, parent code: 本集团 → 甲公司 → 甲一厂, 甲二厂; 本集团 → 乙公司 → 乙一厂.
UNITS: tuple[tuple[str, str, str | None], ...] = (
    ("JT", "本集团", None),
    ("JT-A", "甲公司", "JT"),
    ("JT-A-1", "甲一厂", "JT-A"),
    ("JT-A-2", "甲二厂", "JT-A"),
    ("JT-B", "乙公司", "JT"),
    ("JT-B-1", "乙一厂", "JT-B"),
)
_PARENT = {code: parent for code, _name, parent in UNITS}
UNIT_NAME = {code: name for code, name, _parent in UNITS}


@dataclass(frozen=True)
class Person:
    """A member of staff: role, unit code (None: no unit) and their chat account."""

    key: str
    name: str
    role: Role
    unit: str | None
    account: str  # telegram user id; the web login is ``key``


PEOPLE: tuple[Person, ...] = (
    Person("plant_a1", "甲一厂专员", Role.OFFICER, "JT-A-1", "9101"),
    Person("plant_a2", "甲二厂专员", Role.OFFICER, "JT-A-2", "9102"),
    Person("company_a", "甲公司专员", Role.OFFICER, "JT-A", "9103"),
    Person("leader_a", "甲公司领导", Role.LEADER, "JT-A", "9104"),
    Person("jijian_a1", "甲一厂纪检", Role.DISCIPLINE, "JT-A-1", "9105"),
    Person("jijian_a", "甲公司纪检", Role.DISCIPLINE, "JT-A", "9106"),
    Person("keeper", "保管人", Role.CUSTODIAN, None, "9107"),
    Person("root", "集团专员", Role.OFFICER, "JT", "9108"),
    Person("nounit", "无单位专员", Role.OFFICER, None, "9109"),
)
PERSON = {p.key: p for p in PEOPLE}


@dataclass(frozen=True)
class CaseSpec:
    """A seeded case: its handling unit, category, conflict route and who it keeps away."""

    key: str
    unit: str
    description: str
    category: str = "pay"
    conflict: str | None = None
    origin: str | None = None  # the unit the matter concerns (default: ``unit``)
    excluded: str | None = None  # a Person key
    owner: str | None = None  # a Person key
    overdue: bool = True


CASES: tuple[CaseSpec, ...] = (
    CaseSpec("a1", "JT-A-1", "甲一厂拖欠加班费案情", owner="plant_a1"),
    CaseSpec("a2", "JT-A-2", "甲二厂宿舍漏水案情", overdue=False),
    CaseSpec("a_company", "JT-A", "甲公司食堂卫生案情"),
    # Owned by the plant A-1 officer once, then handled at plant B-1 (transferred away).
    CaseSpec("b1", "JT-B-1", "乙一厂夜班补贴案情", owner="plant_a1"),
    CaseSpec("a1_jijian", "JT-A-1", "举报甲一厂处长收礼案情", category="discipline"),
    CaseSpec(
        "a_conflict",
        "JT-A",
        "甲一厂厂长打压职工案情",
        conflict="discipline",
        origin="JT-A-1",
    ),
    CaseSpec("a1_excluded", "JT-A-1", "投诉甲一厂专员态度案情", excluded="plant_a1"),
)
CASE = {c.key: c for c in CASES}


def covers(unit: str, case_unit: str) -> bool:
    """Whether ``unit`` is ``case_unit`` or one of the units above it."""
    at: str | None = case_unit
    while at is not None:
        if at == unit:
            return True
        at = _PARENT[at]
    return False


def unrelated_units(person: Person) -> set[str]:
    """The codes of units a person's answers must never name: neither in their subtree nor
    above their unit (whose names appear in their own unit's path name)."""
    if person.unit is None or _PARENT[person.unit] is None:
        return set()
    return {
        code
        for code, _name, _parent in UNITS
        if not covers(person.unit, code) and not covers(code, person.unit)
    }


def may_see(person: Person, case: CaseSpec) -> bool:
    """The rule of issue 13: officers and leaders see ordinary cases, 纪检 officers (only)
    the cases 纪检 handles (a discipline category or an employee's discipline route),
    custodians none; each within their unit's subtree (no unit, or the root: every unit);
    never a case that keeps them away."""
    discipline = case.category == "discipline" or case.conflict == "discipline"
    by_role = {
        Role.OFFICER: not discipline,
        Role.DISCIPLINE: discipline,
        Role.LEADER: not discipline,
        Role.CUSTODIAN: False,
    }[person.role]
    in_subtree = person.unit is None or covers(person.unit, case.unit)
    return by_role and in_subtree and case.excluded != person.key


@dataclass
class World:
    """Ids of what :func:`build_world` seeded."""

    units: dict[str, int]
    officers: dict[str, int]
    cases: dict[str, int]
    numbers: dict[str, str]
    evidence: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)

    def case_key(self, case_id: int) -> str:
        """The key of a seeded case by id."""
        return next(k for k, v in self.cases.items() if v == case_id)


async def build_world(container: Container, *, web: bool = False) -> World:
    """Seed the units, the people (telegram accounts; web logins too when ``web``) and the
    cases, each with its own text and one evidence file."""
    now = container.services.clock()
    units: dict[str, int] = {}
    async with container.uow() as uow:
        for code, name, parent in UNITS:
            unit = await uow.units.add(code, name, units[parent] if parent else None, now)
            units[code] = unit.id
        await uow.commit()
    hashed = await asyncio.to_thread(hash_password, PASSWORD) if web else ""
    officers: dict[str, int] = {}
    async with container.uow() as uow:
        for p in PEOPLE:
            officer = await uow.officers.add(
                p.name,
                p.role,
                now,
                unit_id=units[p.unit] if p.unit else None,
                accounts={"telegram": p.account},
            )
            officers[p.key] = officer.id
            if web:
                await uow.web.set_login(officer.id, p.key, hashed, now)
        await uow.commit()
    if web:
        from tests.helpers.web import TOTP_SECRET

        async with container.uow() as uow:
            for p in PEOPLE:
                if p.role is Role.CUSTODIAN:  # custodians sign in with a second factor
                    await uow.web.set_totp(officers[p.key], TOTP_SECRET)
            await uow.commit()
    day = timedelta(days=1)
    rows: list[Mapping[str, Any]] = [
        {
            "unit_id": units[c.unit],
            "origin_unit_id": units[c.origin or c.unit],
            "category": c.category,
            "conflict": c.conflict,
            "excluded_officer_id": officers[c.excluded] if c.excluded else None,
            "owner_officer_id": officers[c.owner] if c.owner else None,
            "created_at": now - 20 * day,
            "deadline_at": now - day if c.overdue else now + 10 * day,
        }
        for c in CASES
    ]
    ids = await seed_cases(container, rows)
    cases = {c.key: case_id for c, case_id in zip(CASES, ids, strict=True)}
    vault = container.uow.vault
    evidence: dict[str, int] = {}
    numbers: dict[str, str] = {}
    async with container.uow() as uow:
        for c in CASES:
            case_id = cases[c.key]
            ct = vault.encrypt_text(c.description, aad("cases", case_id, "description"))
            await uow.session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(description_ct=ct)
            )
            await uow.search.index(case_id, c.description)
            data = f"{c.key} evidence".encode()
            file = FileIn("document", f"{c.key}.txt", "text/plain", data)
            evidence[c.key] = await uow.attachments.add(case_id, file, now)
            found = await uow.cases.get(case_id)
            assert found is not None and found.number is not None
            numbers[c.key] = found.number
        await uow.commit()
    return World(units, officers, cases, numbers, evidence)


async def snapshot(container: Container, case_id: int) -> dict[str, Any]:
    """A case's row and how many events, messages and outbox rows it has (one query)."""

    def count(model: Any) -> Any:
        return (
            select(func.count())
            .select_from(model)
            .where(model.case_id == case_id)
            .scalar_subquery()
            .label(f"n_{model.__tablename__}")
        )

    counted = (count(CaseEventRow), count(CaseMessageRow), count(OutboxRow))
    stmt = select(CaseRow.__table__, *counted).where(CaseRow.id == case_id)
    async with container.uow() as uow:
        found = dict((await uow.session.execute(stmt)).one()._mapping)
    numbers = {key: found.pop(key) for key in [c.key for c in counted]}
    return {"row": found, **numbers}


async def restore(container: Container, snap: dict[str, Any]) -> None:
    """Put a case's row back as it was (an allowed act changed it; the next row of the
    table starts from the seeded case again)."""
    values = dict(snap["row"])
    case_id = values.pop("id")
    async with container.uow() as uow:
        await uow.session.execute(update(CaseRow).where(CaseRow.id == case_id).values(**values))
        await uow.commit()
