"""Who may see a case: the one check behind commands, cards, feeds, pushes and evidence."""

from __future__ import annotations

from handlers.ports import Officer
from petitions.case import Case
from petitions.lifecycle import can_view

__all__ = ["may_view"]


def may_view(officer: Officer, case: Case) -> bool:
    """Whether this officer may see the case's content: their role allows it and the case
    does not keep them away (a complaint about how they handled it)."""
    return can_view(officer.role, case) and case.excluded_officer_id != officer.id
