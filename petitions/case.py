"""The case entity as the domain sees it: plaintext, no storage or channel concerns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from petitions.categories import Category
from petitions.states import WITHDRAWABLE_STATES, CaseState, Outcome

__all__ = ["CONFLICT_DISCIPLINE", "CONFLICT_LEADERSHIP", "Case"]

# Case.conflict values: the matter concerns the chosen unit's leadership, so the case went
# to the parent unit (leadership) or to discipline inspection, 纪检 (discipline).
CONFLICT_LEADERSHIP = "leadership"
CONFLICT_DISCIPLINE = "discipline"


@dataclass
class Case:
    """A petition and where it stands; identity and contact are never part of it."""

    category: Category
    description: str
    channel: str
    anonymous: bool
    locale: str
    created_at: datetime
    state: CaseState = CaseState.REGISTERED
    id: int | None = None
    number: str | None = None
    owner_officer_id: int | None = None
    # The unit whose office handles the case (承办单位, petitions.units); None only for a
    # deployment without a unit tree, where the one office sees everything.
    unit_id: int | None = None
    # The unit the matter concerns, as the employee chose it; differs from ``unit_id``
    # after a conflict-of-interest routing or a transfer.
    origin_unit_id: int | None = None
    # The unit deciding the current review step (复查: the parent, 复核: the grandparent).
    review_unit_id: int | None = None
    # Why the case went above the chosen unit: leadership (the matter concerns that
    # unit's leaders) or discipline (the employee asked for 纪检); None otherwise.
    conflict: str | None = None
    decided_at: datetime | None = None
    responded_at: datetime | None = None
    review_requested_at: datetime | None = None
    reviewed_at: datetime | None = None
    recheck_requested_at: datetime | None = None
    rechecked_at: datetime | None = None
    closed_at: datetime | None = None
    extension_days: int | None = None
    outcome: Outcome | None = None
    deadline_at: datetime | None = None
    priority: int = 0
    linked_case_id: int | None = None
    # Staff who may not see the case (the original owner of a retaliation report).
    excluded_officer_id: int | None = None
    contact_reachable: bool = True
    # The employee chose pushes to their chat (the address is kept until contact_erase_at)
    # or "code only" (no address is stored; progress only by tracking code).
    push_updates: bool = True
    contact_erase_at: datetime | None = None
    has_identity: bool = False
    # 督办 (docs/ladder.md): how many levels above the office of the current step the
    # overdue alert has reached (0: none yet), the working deadline the last 督办 gave that
    # office (the statutory ``deadline_at`` never moves for it) and how many 督办 the case
    # had. A new step (another deadline) starts the level and the working deadline afresh.
    supervision_level: int = 0
    supervised_until: datetime | None = None
    supervision_count: int = 0
    # Whether the 复查 / 复核 decided an outcome other than the one before it (None: not
    # decided), for the statistics.
    review_changed: bool | None = None
    recheck_changed: bool | None = None
    # 交办: the unit that assigned the case down to ``unit_id``, and when the report back
    # (上报办理情况) is due (None: no report owed).
    assigned_by_unit_id: int | None = None
    report_due_at: datetime | None = None
    # The kinds of danger sign found at submission (petitions.warnings.urgent: life_safety,
    # group_action, self_harm), sorted and joined by commas; None: not urgent.
    urgent: str | None = None
    # 集体诉求 (petitions/collective.py): the id of the lead petition of the collective
    # matter this one belongs to (the lead's own id for the lead); None: handled alone.
    matter_id: int | None = None
    updated_at: datetime | None = field(default=None, compare=False)
    # How staff and the employee see the units named (filled by storage from the tree).
    unit_name: str | None = field(default=None, compare=False)
    review_unit_name: str | None = field(default=None, compare=False)
    assigned_by_unit_name: str | None = field(default=None, compare=False)
    # The members of its collective matter as (id, number), lead first (filled by storage
    # when a single case is read; empty otherwise).
    matter_cases: tuple[tuple[int, str], ...] = field(default=(), compare=False)

    @property
    def handled_by_discipline(self) -> bool:
        """Whether discipline inspection (纪检) handles the case in the officers' place: a
        report of violations, or a petition its employee sent to 纪检 because it concerns
        their unit's leaders. Officers neither see its content nor act on it."""
        return self.category.routes_to_discipline or self.conflict == CONFLICT_DISCIPLINE

    @property
    def is_open(self) -> bool:
        """An open case is still being handled: it takes information and may be withdrawn.

        A case not accepted is decided, not open: the answer names the right channel.
        """
        return self.state in WITHDRAWABLE_STATES
