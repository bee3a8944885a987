"""Statistics over a period: pure computation on facts that hold no identity.

Definitions (docs/accountability.md has the reasoning):

- 及时受理率 (on-time acceptance): of the cases whose acceptance was decided, or whose
  acceptance deadline has passed undecided, the share decided by the deadline. Cases
  withdrawn before a decision are left out.
- 按期办结率 (on-time completion): of the accepted cases that were answered, or whose
  handling deadline (the one extension included) has passed unanswered, the share
  answered by the deadline. Cases not accepted, and cases withdrawn unanswered, are left
  out.
- 满意率 (satisfaction): (满意 + 基本满意) / cases rated; the latest rating of a case counts.
- Median handling time: days from registration to the answer, over answered cases.

Small numbers would single people out, so the category breakdown is made per unit and
any category with fewer than :data:`MIN_CELL` cases in a unit is merged; units with
fewer than :data:`MIN_CELL` cases are pooled first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from petitions.deadlines import DeadlinePolicy, add_days
from petitions.states import CaseState

__all__ = [
    "MERGED",
    "MIN_CELL",
    "OTHER_UNITS",
    "CaseFacts",
    "Rate",
    "Report",
    "compute_report",
    "merge_small",
]

MIN_CELL = 3
MERGED = "_merged"  # the category bucket that holds merged small categories
OTHER_UNITS = "_other_units"  # the pooled units with fewer than MIN_CELL cases
RATINGS = ("satisfied", "basic", "unsatisfied")


@dataclass(frozen=True)
class CaseFacts:
    """What statistics read of one case: dates, labels and answers, no identity."""

    category: str
    state: CaseState
    channel: str
    unit: str  # the owning unit (or a stand-in when none is known)
    owner: str  # the owner as staff know it (officer or unit), for overdue counts
    created_at: datetime
    decided_at: datetime | None = None
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    deadline_at: datetime | None = None
    extension_days: int | None = None
    review_requested: bool = False
    overdue: bool = False
    rating: str | None = None  # satisfied | basic | unsatisfied
    unsolved: bool = False
    retaliation: bool = False


@dataclass(frozen=True)
class Rate:
    """A share with its numerator and denominator (None when nothing was counted)."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        """hits / total, or None when total is 0."""
        return self.hits / self.total if self.total else None


@dataclass(frozen=True)
class Report:
    """The figures of a period."""

    start: datetime
    end: datetime
    as_of: datetime
    total: int
    by_category: dict[str, int]
    by_unit_category: list[tuple[str, str, int]]
    by_state: dict[str, int]
    by_channel: dict[str, int]
    on_time_acceptance: Rate
    on_time_completion: Rate
    satisfaction: Rate
    ratings: dict[str, int]
    median_handling_days: float | None
    overdue_by_owner: dict[str, int]
    overdue_total: int
    reviews: int
    retaliations: int
    unsolved: int
    notes: list[str] = field(default_factory=list)


def merge_small(counts: Mapping[str, int], minimum: int = MIN_CELL) -> dict[str, int]:
    """Merge cells smaller than ``minimum`` into :data:`MERGED`.

    A merged cell that is still too small takes in the smallest remaining cells until it
    is large enough (or holds everything), so no reported cell has 1 or 2 cases unless
    the whole group does.
    """
    keep = {k: n for k, n in counts.items() if n >= minimum}
    merged = sum(n for n in counts.values() if 0 < n < minimum)
    while 0 < merged < minimum and keep:
        smallest = min(keep, key=lambda k: (keep[k], k))
        merged += keep.pop(smallest)
    if merged:
        keep[MERGED] = keep.get(MERGED, 0) + merged
    return keep


def _unit_categories(facts: list[CaseFacts]) -> list[tuple[str, str, int]]:
    per_unit: dict[str, Counter[str]] = {}
    for f in facts:
        per_unit.setdefault(f.unit, Counter())[f.category] += 1
    pooled: Counter[str] = Counter()
    units: dict[str, Counter[str]] = {}
    for unit, counts in per_unit.items():
        if sum(counts.values()) < MIN_CELL:
            pooled.update(counts)
        else:
            units[unit] = counts
    if pooled:
        units[OTHER_UNITS] = pooled
    rows: list[tuple[str, str, int]] = []
    for unit in sorted(units, key=lambda u: (u == OTHER_UNITS, u)):
        merged = merge_small(units[unit])
        for category in sorted(merged, key=lambda c: (c == MERGED, -merged[c], c)):
            rows.append((unit, category, merged[category]))
    return rows


def _acceptance(f: CaseFacts, policy: DeadlinePolicy, as_of: datetime) -> bool | None:
    due = add_days(f.created_at, policy.accept_days, policy)
    if f.decided_at is not None:
        return f.decided_at <= due
    if f.state is CaseState.WITHDRAWN or as_of <= due:
        return None
    return False


def _completion(f: CaseFacts, policy: DeadlinePolicy, as_of: datetime) -> bool | None:
    if f.decided_at is None:
        return None
    not_accepted = f.state is CaseState.NOT_ACCEPTED or (
        f.state is CaseState.CLOSED and f.responded_at is None
    )
    if not_accepted:
        return None
    due = add_days(f.decided_at, policy.handle_days, policy)
    if f.extension_days:
        due = add_days(due, f.extension_days, policy)
    if f.responded_at is not None:
        return f.responded_at <= due
    if f.state is CaseState.WITHDRAWN or as_of <= due:
        return None
    return False


def _rate(results: Iterable[bool | None]) -> Rate:
    counted = [r for r in results if r is not None]
    return Rate(sum(1 for r in counted if r), len(counted))


def compute_report(
    facts: Iterable[CaseFacts],
    policy: DeadlinePolicy,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Report:
    """Compute the period's figures from its cases' facts."""
    cases = list(facts)
    unit_rows = _unit_categories(cases)
    by_category: Counter[str] = Counter()
    for _unit, category, n in unit_rows:
        by_category[category] += n
    ratings = Counter(f.rating for f in cases if f.rating in RATINGS)
    handling = [
        (f.responded_at - f.created_at).total_seconds() / 86400
        for f in cases
        if f.responded_at is not None
    ]
    overdue = Counter(f.owner for f in cases if f.overdue)
    return Report(
        start=start,
        end=end,
        as_of=as_of,
        total=len(cases),
        by_category=dict(by_category.most_common()),
        by_unit_category=unit_rows,
        by_state=dict(Counter(f.state.value for f in cases).most_common()),
        by_channel=dict(Counter(f.channel for f in cases).most_common()),
        on_time_acceptance=_rate(_acceptance(f, policy, as_of) for f in cases),
        on_time_completion=_rate(_completion(f, policy, as_of) for f in cases),
        satisfaction=Rate(ratings["satisfied"] + ratings["basic"], sum(ratings.values())),
        ratings={r: ratings[r] for r in RATINGS},
        median_handling_days=round(median(handling), 1) if handling else None,
        overdue_by_owner=dict(sorted(overdue.items(), key=lambda kv: (-kv[1], kv[0]))),
        overdue_total=sum(overdue.values()),
        reviews=sum(1 for f in cases if f.review_requested),
        retaliations=sum(1 for f in cases if f.retaliation),
        unsolved=sum(1 for f in cases if f.unsolved),
    )
