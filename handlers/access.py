"""Who may see a case: the one check behind commands, cards, feeds, pushes, evidence and
every list (the same rule, as a CaseFilter, in SQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from handlers.ports import CaseFilter, Officer
from petitions.case import Case
from petitions.categories import Category
from petitions.lifecycle import can_view
from petitions.roles import Role

__all__ = ["in_scope", "may_view", "role_conditions", "scoped_filter"]


def in_scope(officer: Officer, case: Case) -> bool:
    """Whether the case is handled in the officer's part of the group: a unit of their
    unit's subtree (the root office, or a deployment without units, sees every case)."""
    return officer.scope is None or case.unit_id in officer.scope


def may_view(officer: Officer, case: Case) -> bool:
    """Whether this officer may see the case's content: their role and unit allow it and
    the case does not keep them away (a complaint about how they handled it)."""
    return (
        can_view(officer.role, case)
        and in_scope(officer, case)
        and case.excluded_officer_id != officer.id
    )


_PROBE = Case(
    category=Category.OTHER,
    description="",
    channel="",
    anonymous=True,
    locale="zh_CN",
    created_at=datetime(2000, 1, 1, tzinfo=UTC),
)


_DISCIPLINE_PROBE = replace(_PROBE, category=Category.DISCIPLINE)


def role_conditions(role: Role) -> dict[str, Any]:
    """The role's part of :func:`may_view` as CaseFilter conditions, asked of the one rule
    (petitions.lifecycle.can_view): all cases, only or none of those 纪检 handles, or none."""
    sees_discipline = can_view(role, _DISCIPLINE_PROBE)
    sees_others = can_view(role, _PROBE)
    if sees_discipline and sees_others:
        return {}
    if sees_discipline or sees_others:
        return {"discipline": sees_discipline}
    return {"categories": frozenset()}


def scoped_filter(officer: Officer, **conditions: Any) -> CaseFilter:
    """A list filter holding :func:`may_view` for this officer (role, unit subtree and
    exclusion), plus the given conditions (``categories`` narrows further)."""
    for name, value in role_conditions(officer.role).items():
        conditions.setdefault(name, value)
    return CaseFilter(viewer_officer_id=officer.id, scope=officer.scope, **conditions)
