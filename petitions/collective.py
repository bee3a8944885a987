"""集体诉求: several petitions about one matter handled as one (issue 16, item 2).

Officers link petitions that early warning (or they themselves) found to be about the same
matter. A collective matter has one handling office and one owner; the handling acts taken
on any of its petitions (受理, 转办, 开始办理, 延期, 答复, 不予受理) apply to every member
in a state that allows them, so one formal answer reaches every petitioner. Each petition
keeps its own tracking code, its own rating and its own review rights: what follows the
answer (评价, 复查, 复核, 办结) is each petition's own. Statistics count the matter once and
the petitions individually.

The matter is named by its lead petition's id (``Case.matter_id`` of every member,
the lead's included). Pure rules only: storage and handlers carry them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from petitions.case import Case
from petitions.errors import DomainError
from petitions.lifecycle import Action
from petitions.states import CaseState

__all__ = [
    "LINKABLE_STATES",
    "MATTER_ACTS",
    "MIN_MEMBERS",
    "LinkPlan",
    "REFUSED_ANSWERED",
    "REFUSED_DISCIPLINE",
    "REFUSED_OTHER",
    "REFUSED_STATE",
    "REFUSED_UNIT",
    "NotInMatter",
    "NothingToLink",
    "UnlinkPlan",
    "plan_link",
    "plan_unlink",
]

# Before the answer: the matter is still being handled as one.
LINKABLE_STATES = frozenset(
    {
        CaseState.REGISTERED,
        CaseState.ACCEPTED,
        CaseState.TRANSFERRED,
        CaseState.IN_PROGRESS,
        CaseState.EXTENDED,
    }
)
# The acts that apply to every member of a matter; every other act is each petition's own.
MATTER_ACTS = frozenset(
    {
        Action.ACCEPT,
        Action.NOT_ACCEPT,
        Action.TRANSFER,
        Action.START,
        Action.EXTEND,
        Action.RESPOND,
    }
)
MIN_MEMBERS = 2

# Why a petition could not join (LinkPlan.refused): its state is past the answer (or
# ended), 纪检 handles it, another office handles it, it belongs to another matter.
REFUSED_STATE = "state"
REFUSED_DISCIPLINE = "discipline"
REFUSED_UNIT = "unit"
REFUSED_OTHER = "other_matter"
# The matter was answered already: a newcomer would miss the answer that was given.
REFUSED_ANSWERED = "answered"


class NothingToLink(DomainError):
    """Fewer than two petitions could form (or join) the matter; ``refused`` names those
    left out and why (as LinkPlan.refused)."""

    code = "nothing_to_link"

    def __init__(self, refused: tuple[tuple[int, str], ...] = ()) -> None:
        super().__init__()
        self.refused = refused


class NotInMatter(DomainError):
    """The petition belongs to no collective matter (or no longer can leave one)."""

    code = "not_in_matter"


@dataclass(frozen=True)
class LinkPlan:
    """What linking does: the matter (its lead's id), its owner, the petitions that join
    it now, those already in it, and those refused with the reason."""

    matter_id: int
    owner_officer_id: int | None
    joining: tuple[int, ...]
    members: tuple[int, ...]
    refused: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class UnlinkPlan:
    """What taking one petition out does: the matter id each remaining member gets (None:
    the matter dissolves, fewer than two remain)."""

    removed: int
    remaining: tuple[int, ...]
    matter_id: int | None


def _why_not(case: Case, lead: Case, matter_id: int, open_matter: bool) -> str | None:
    if case.handled_by_discipline:
        return REFUSED_DISCIPLINE
    if case.matter_id is not None and case.matter_id != matter_id:
        return REFUSED_OTHER
    if case.matter_id == matter_id:
        return None  # a member already
    if case.state not in LINKABLE_STATES:
        return REFUSED_STATE
    if not open_matter:
        return REFUSED_ANSWERED
    if case.unit_id != lead.unit_id:
        return REFUSED_UNIT
    return None


def plan_link(cases: Sequence[Case], officer_id: int | None) -> LinkPlan:
    """Link these petitions as one matter (or add them to the matter one of them is in).

    The matter is the first existing matter among them; else the earliest petition that
    may be linked leads a new one. Its handling unit is the lead's; its owner the lead's
    owner, else the officer linking. Raises NothingToLink when fewer than two petitions
    would be in the matter."""
    ordered = sorted((c for c in cases if c.id is not None), key=lambda c: c.id or 0)
    unique = list({c.id: c for c in ordered}.values())
    in_matter = [c for c in unique if c.matter_id is not None]
    lead: Case | None = None
    if in_matter:
        matter_id = in_matter[0].matter_id
        lead = next((c for c in unique if c.id == matter_id), in_matter[0])
    else:
        lead = next(
            (c for c in unique if not c.handled_by_discipline and c.state in LINKABLE_STATES),
            None,
        )
    if lead is None or lead.id is None:
        raise NothingToLink(tuple((c.id or 0, REFUSED_STATE) for c in unique))
    matter_id = lead.matter_id if lead.matter_id is not None else lead.id
    # A matter takes newcomers while one of its live members is still before the answer
    # (its lead may have been withdrawn meanwhile).
    open_matter = lead.matter_id is None or any(
        c.state in LINKABLE_STATES for c in unique if c.matter_id == matter_id
    )
    joining: list[int] = []
    members: list[int] = []
    refused: list[tuple[int, str]] = []
    for case in unique:
        assert case.id is not None
        why = _why_not(case, lead, matter_id, open_matter)
        if why is not None:
            refused.append((case.id, why))
        elif case.matter_id == matter_id:
            members.append(case.id)
        else:
            joining.append(case.id)
    if not joining or len(joining) + len(members) < MIN_MEMBERS:
        raise NothingToLink(tuple(refused))
    owner = lead.owner_officer_id if lead.owner_officer_id is not None else officer_id
    return LinkPlan(matter_id, owner, tuple(joining), tuple(members), tuple(refused))


def plan_unlink(case: Case, members: Sequence[int]) -> UnlinkPlan:
    """Take one petition out of its matter. ``members``: the ids of every member, this
    one included. The matter keeps its id unless its lead leaves (then the earliest
    remaining leads); with fewer than two left it dissolves."""
    if case.id is None or case.matter_id is None:
        raise NotInMatter()
    remaining = tuple(sorted(i for i in set(members) if i != case.id))
    if len(remaining) < MIN_MEMBERS:
        return UnlinkPlan(case.id, remaining, None)
    matter_id = case.matter_id if case.matter_id in remaining else remaining[0]
    return UnlinkPlan(case.id, remaining, matter_id)
