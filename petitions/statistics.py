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

:class:`Report` holds exact figures and is never shown as it is: :func:`shown` turns it
into :class:`Shown`, where every count is a :class:`Cell` (exact from :data:`MIN_CELL` up,
otherwise only "fewer than :data:`MIN_CELL`") and every rate needs :data:`MIN_CELL` cases
in its denominator. Every renderer (text, CSV, XLSX, chart) reads :class:`Shown` only, so
a one-case change below the threshold (0 → 1, 1 → 2) changes nothing staff can see.
Statistics cover at least :data:`MIN_PERIOD_DAYS` days (configurable), checked with
:func:`period_days` where a period is asked for.

Storage computes :class:`PeriodCounts` by aggregation (GROUP BY in SQL, nothing per case
in Python) and :func:`report_from_counts` makes the report; :func:`compute_report` does
the same from per-case :class:`CaseFacts` and is the reference the SQL is tested against.

Per unit: :class:`UnitCounts` are the counts of the cases one unit handles (``cases.
unit_id``), one SQL group per unit; :func:`rollup` adds each unit's subtree up the tree
(Python over a few hundred rows). :func:`unit_overview` (a unit and each child subtree)
and :func:`unit_table` (every unit of a scope, own or rolled up) make the rows staff see;
a row of fewer than :data:`MIN_CELL` cases is pooled into :data:`OTHER_UNITS`, and
:func:`shown_units` masks the rows as :func:`shown` masks the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from statistics import median

from petitions.deadlines import DeadlinePolicy, add_days
from petitions.states import CaseState
from petitions.units import UnitTree

__all__ = [
    "CHANNELS",
    "MERGED",
    "MIN_CELL",
    "MIN_PERIOD_DAYS",
    "NO_OWNER",
    "OTHER_OWNERS",
    "OTHER_UNITS",
    "RATINGS",
    "UNIT_RATES",
    "CaseFacts",
    "Cell",
    "PeriodCounts",
    "Rate",
    "Report",
    "Shown",
    "ShownRate",
    "ShownUnitLine",
    "UnitCounts",
    "UnitLine",
    "compute_report",
    "counts_from_facts",
    "handling_days",
    "median_days",
    "merge_small",
    "period_days",
    "report_from_counts",
    "rollup",
    "shown",
    "shown_units",
    "suppress",
    "unit_overview",
    "unit_table",
]

MIN_CELL = 3
MIN_PERIOD_DAYS = 28  # the default shortest period (XINFANG_STATS_MIN_DAYS)
MERGED = "_merged"  # the category bucket that holds merged small categories
OTHER_UNITS = "_other_units"  # the pooled units with fewer than MIN_CELL cases
OTHER_OWNERS = "_other_owners"  # the pooled owners with fewer than MIN_CELL overdue cases
NO_OWNER = "_none"  # the unit and owner of a case that has neither
RATINGS = ("satisfied", "basic", "unsatisfied")
# Always listed, so that a channel's first case does not show by its name appearing.
CHANNELS = ("telegram", "wecom", "web")


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
    unit_id: int | None = None  # the handling unit (cases.unit_id), for per-unit counts
    reviewed: bool = False  # 复查 decided
    recheck_requested: bool = False  # 复核 requested
    rechecked: bool = False  # 复核 decided
    conflict: bool = False  # routed above the chosen unit (conflict of interest)
    review_changed: bool = False  # the 复查 decided another outcome than the answer
    recheck_changed: bool = False  # the 复核 decided another outcome than the 复查
    supervised: bool = False  # had at least one 督办
    # 集体诉求 (petitions/collective.py): the matter's lead id; None: handled alone.
    matter_id: int | None = None


@dataclass(frozen=True)
class Rate:
    """A share with its numerator and denominator (None when nothing was counted)."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        """hits / total, or None when total is 0."""
        return self.hits / self.total if self.total else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.hits + other.hits, self.total + other.total)


_NO_RATE = Rate(0, 0)


def _plus(a: int | None, b: int | None) -> int | None:
    # A count that is not recorded (None) stays unrecorded; one side recorded counts.
    return None if a is None and b is None else (a or 0) + (b or 0)


@dataclass(frozen=True)
class UnitCounts:
    """The exact counts of the cases one unit handles in a period, or of a subtree.

    ``reviews_changed``, ``rechecks_changed`` and ``supervisions`` count cases (not acts:
    a case supervised twice is one, as every figure here counts cases), from plain columns
    the acts write (migration 0015). None would mean "not counted" (renderers leave out such
    a figure rather than print a zero meaning "unknown"); storage counts them all, and an
    empty unit has 0 like every other figure, so no row shows whether a unit had cases.
    """

    cases: int = 0
    on_time_acceptance: Rate = _NO_RATE
    on_time_completion: Rate = _NO_RATE
    satisfaction: Rate = _NO_RATE
    reviews: int = 0  # 复查 requested
    reviews_decided: int = 0
    rechecks: int = 0  # 复核 requested
    rechecks_decided: int = 0
    overdue: int = 0  # open, past the office's deadline now
    conflicts: int = 0  # routed above the chosen unit (conflict of interest)
    reviews_changed: int | None = 0  # a 复查 that changed the answer's outcome
    rechecks_changed: int | None = 0  # a 复核 that changed the 复查's outcome
    supervisions: int | None = 0  # cases with at least one 督办

    def __add__(self, other: UnitCounts) -> UnitCounts:
        values: dict[str, object] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = a + b if isinstance(a, Rate) else _plus(a, b)
        return UnitCounts(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Report:
    """The exact figures of a period: staff see them only through :func:`shown`."""

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
    answered: int = 0  # cases with an answer: the median's sample
    by_unit: dict[int | None, UnitCounts] = field(default_factory=dict)  # exact, per unit
    # 集体诉求: the petitions in collective matters and how many matters they make; the
    # matters (事项) count each collective matter once: total - in_matters + matters.
    in_matters: int = 0
    matters: int = 0

    @property
    def distinct_matters(self) -> int:
        """事项数: each collective matter once, each petition handled alone once."""
        return self.total - self.in_matters + self.matters


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


@dataclass(frozen=True)
class PeriodCounts:
    """The aggregated counts of a period, before merging and masking: what storage
    computes with GROUP BY (no case, no text), and what :func:`report_from_counts` reads.

    The rates count cases as :func:`compute_report`'s docstring defines them; ratings are
    the latest rating of each case; the median is already rounded to one decimal.
    """

    total: int
    by_unit_category: Mapping[tuple[str, str], int]  # (unit, category) → cases
    by_state: Mapping[str, int]
    by_channel: Mapping[str, int]
    on_time_acceptance: Rate
    on_time_completion: Rate
    ratings: Mapping[str, int]
    median_handling_days: float | None
    answered: int
    overdue_by_owner: Mapping[str, int]
    reviews: int
    retaliations: int
    unsolved: int
    # The counts of each handling unit (None: cases without one), for the per-unit rows.
    by_unit: Mapping[int | None, UnitCounts] = field(default_factory=dict)
    # 集体诉求: petitions in collective matters, and how many matters (see Report).
    in_matters: int = 0
    matters: int = 0


def _unit_categories(counts: Mapping[tuple[str, str], int]) -> list[tuple[str, str, int]]:
    per_unit: dict[str, Counter[str]] = {}
    for (unit, category), n in counts.items():
        if n:
            per_unit.setdefault(unit, Counter())[category] += n
    pooled: Counter[str] = Counter()
    units: dict[str, Counter[str]] = {}
    for unit, cells in per_unit.items():
        if sum(cells.values()) < MIN_CELL:
            pooled.update(cells)
        else:
            units[unit] = cells
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


def handling_days(created_at: datetime, responded_at: datetime) -> float:
    """Days from registration to the answer, as the median counts them."""
    return (responded_at - created_at).total_seconds() / 86400


def median_days(values: Sequence[float]) -> float | None:
    """The median of handling times rounded to one decimal (None for none).

    Storage passes only the one or two middle values of the sorted sample, which have
    the same median as the whole sample.
    """
    return round(median(values), 1) if values else None


def _by_size(counts: Mapping[str, int]) -> dict[str, int]:
    # Largest first, ties by key: the same order whatever order the counts came in.
    return dict(sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0])))


def counts_from_facts(
    facts: Iterable[CaseFacts], policy: DeadlinePolicy, as_of: datetime
) -> PeriodCounts:
    """Count a period's cases one by one: the definitions, and the reference for SQL."""
    cases = list(facts)
    by_unit: dict[int | None, UnitCounts] = {}
    for f in cases:
        rated = f.rating in RATINGS
        one = UnitCounts(
            cases=1,
            on_time_acceptance=_rate([_acceptance(f, policy, as_of)]),
            on_time_completion=_rate([_completion(f, policy, as_of)]),
            satisfaction=Rate(int(f.rating in ("satisfied", "basic")), int(rated)),
            reviews=int(f.review_requested),
            reviews_decided=int(f.reviewed),
            rechecks=int(f.recheck_requested),
            rechecks_decided=int(f.rechecked),
            overdue=int(f.overdue),
            conflicts=int(f.conflict),
            reviews_changed=int(f.review_changed),
            rechecks_changed=int(f.recheck_changed),
            supervisions=int(f.supervised),
        )
        by_unit[f.unit_id] = by_unit[f.unit_id] + one if f.unit_id in by_unit else one
    ratings = Counter(f.rating for f in cases if f.rating in RATINGS)
    handling = [
        handling_days(f.created_at, f.responded_at) for f in cases if f.responded_at is not None
    ]
    return PeriodCounts(
        total=len(cases),
        by_unit_category=Counter((f.unit, f.category) for f in cases),
        by_state=Counter(f.state.value for f in cases),
        by_channel=Counter(f.channel for f in cases),
        on_time_acceptance=_rate(_acceptance(f, policy, as_of) for f in cases),
        on_time_completion=_rate(_completion(f, policy, as_of) for f in cases),
        ratings={r: ratings[r] for r in RATINGS},
        median_handling_days=median_days(handling),
        answered=len(handling),
        overdue_by_owner=Counter(f.owner for f in cases if f.overdue),
        reviews=sum(1 for f in cases if f.review_requested),
        retaliations=sum(1 for f in cases if f.retaliation),
        unsolved=sum(1 for f in cases if f.unsolved),
        by_unit=by_unit,
        in_matters=sum(1 for f in cases if f.matter_id is not None),
        matters=len({f.matter_id for f in cases if f.matter_id is not None}),
    )


def report_from_counts(
    counts: PeriodCounts, *, start: datetime, end: datetime, as_of: datetime
) -> Report:
    """Make the period's report from its aggregated counts (merging small categories)."""
    unit_rows = _unit_categories(counts.by_unit_category)
    by_category: Counter[str] = Counter()
    for _unit, category, n in unit_rows:
        by_category[category] += n
    ratings = {r: counts.ratings.get(r, 0) for r in RATINGS}
    overdue = {o: n for o, n in counts.overdue_by_owner.items() if n}
    return Report(
        start=start,
        end=end,
        as_of=as_of,
        total=counts.total,
        by_category=_by_size(by_category),
        by_unit_category=unit_rows,
        by_state=_by_size(counts.by_state),
        by_channel=_by_size(counts.by_channel),
        on_time_acceptance=counts.on_time_acceptance,
        on_time_completion=counts.on_time_completion,
        satisfaction=Rate(ratings["satisfied"] + ratings["basic"], sum(ratings.values())),
        ratings=ratings,
        median_handling_days=counts.median_handling_days,
        overdue_by_owner=_by_size(overdue),
        overdue_total=sum(overdue.values()),
        reviews=counts.reviews,
        retaliations=counts.retaliations,
        unsolved=counts.unsolved,
        answered=counts.answered,
        by_unit={k: v for k, v in counts.by_unit.items() if v.cases},
        in_matters=counts.in_matters,
        matters=counts.matters,
    )


def compute_report(
    facts: Iterable[CaseFacts],
    policy: DeadlinePolicy,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Report:
    """Compute the period's figures from its cases' facts."""
    counts = counts_from_facts(facts, policy, as_of)
    return report_from_counts(counts, start=start, end=end, as_of=as_of)


def period_days(start: datetime, end: datetime) -> int:
    """The number of whole days in [start, end) (local dates, both ends included)."""
    return (end - start) // timedelta(days=1)


# -- what staff may see --------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A count as staff see it: ``exact`` from :data:`MIN_CELL` up, else None ("<3").

    0 is masked too: showing it would let a change from 0 to 1 be seen.
    """

    exact: int | None

    @property
    def masked(self) -> bool:
        """True when only "fewer than MIN_CELL" may be shown."""
        return self.exact is None


def suppress(count: int, minimum: int = MIN_CELL) -> Cell:
    """The shown form of a count: exact when at least ``minimum``, masked otherwise."""
    return Cell(count if count >= minimum else None)


@dataclass(frozen=True)
class ShownRate:
    """A rate as staff see it: no value unless its denominator has MIN_CELL cases."""

    value: float | None
    hits: Cell
    total: Cell


@dataclass(frozen=True)
class Shown:
    """The figures of a period as staff may see them (every renderer reads this)."""

    start: datetime
    end: datetime
    as_of: datetime
    total: Cell
    by_category: dict[str, Cell]
    by_unit_category: list[tuple[str, str, Cell]]
    by_state: dict[str, Cell]
    by_channel: dict[str, Cell]
    on_time_acceptance: ShownRate
    on_time_completion: ShownRate
    satisfaction: ShownRate
    ratings: dict[str, Cell]
    median_handling_days: float | None
    overdue_by_owner: dict[str, Cell]
    overdue_total: Cell
    reviews: Cell
    retaliations: Cell
    unsolved: Cell
    # 集体诉求: 事项数 (each collective matter once), the matters, the petitions in them.
    distinct_matters: Cell = Cell(None)
    matters: Cell = Cell(None)
    in_matters: Cell = Cell(None)


def _shown_rate(rate: Rate) -> ShownRate:
    value = rate.value if rate.total >= MIN_CELL else None
    return ShownRate(value, suppress(rate.hits), suppress(rate.total))


def _fixed(counts: Mapping[str, int], keys: Iterable[str]) -> dict[str, Cell]:
    # Every key of a fixed list is shown, 0 included, so no key appears with its first
    # case; exact cells come first (largest first), masked ones after in the fixed
    # order, so the order says nothing about the sizes below MIN_CELL.
    every = list(dict.fromkeys([*keys, *sorted(counts)]))
    cells = {k: suppress(counts.get(k, 0)) for k in every}
    big = sorted((k for k in every if not cells[k].masked), key=lambda k: (-counts[k], k))
    return {k: cells[k] for k in [*big, *(k for k in every if cells[k].masked)]}


def shown(report: Report, *, channels: Iterable[str] = CHANNELS) -> Shown:
    """Mask a report for staff: every count below MIN_CELL becomes "<3"."""
    r = report
    # Category cells are already merged to MIN_CELL per unit; only a pooled group that
    # is small as a whole stays small, and it is masked. The pooled rows and the merged
    # bucket are always listed, so their first case does not show by their appearing.
    units = [(u, c, suppress(n)) for u, c, n in r.by_unit_category]
    if not any(u == OTHER_UNITS for u, _c, _n in r.by_unit_category):
        units.append((OTHER_UNITS, MERGED, suppress(0)))
    categories = _fixed(r.by_category, [MERGED])
    # Owners with fewer than MIN_CELL overdue cases are pooled: a name listed as "<3"
    # would still say that its first case went overdue (a hidden case's owner, too).
    owners = {o: suppress(n) for o, n in r.overdue_by_owner.items() if n >= MIN_CELL}
    owners[OTHER_OWNERS] = suppress(sum(n for n in r.overdue_by_owner.values() if n < MIN_CELL))
    answered_enough = r.answered >= MIN_CELL
    return Shown(
        start=r.start,
        end=r.end,
        as_of=r.as_of,
        total=suppress(r.total),
        by_category=categories,
        by_unit_category=units,
        by_state=_fixed(r.by_state, [s.value for s in CaseState]),
        by_channel=_fixed(r.by_channel, channels),
        on_time_acceptance=_shown_rate(r.on_time_acceptance),
        on_time_completion=_shown_rate(r.on_time_completion),
        satisfaction=_shown_rate(r.satisfaction),
        ratings=_fixed(r.ratings, RATINGS),
        # One or two handling times would be those cases' own durations.
        median_handling_days=r.median_handling_days if answered_enough else None,
        overdue_by_owner=owners,
        overdue_total=suppress(r.overdue_total),
        reviews=suppress(r.reviews),
        retaliations=suppress(r.retaliations),
        unsolved=suppress(r.unsolved),
        distinct_matters=suppress(r.distinct_matters),
        matters=suppress(r.matters),
        in_matters=suppress(r.in_matters),
    )


# -- per unit ------------------------------------------------------------------------------

# The rates a unit chart can rank by (the attribute of UnitCounts and of ShownUnitLine).
UNIT_RATES = ("on_time_acceptance", "on_time_completion", "satisfaction")
_EMPTY = UnitCounts()


def rollup(by_unit: Mapping[int | None, UnitCounts], tree: UnitTree) -> dict[int, UnitCounts]:
    """Each unit's counts together with every unit under it (children before parents:
    one addition per unit, whatever the number of cases)."""
    out: dict[int, UnitCounts] = {}
    for unit in reversed(tree.walk()):
        total = by_unit.get(unit.id, _EMPTY)
        for child in tree.children(unit.id, include_retired=True):
            total = total + out.get(child.id, _EMPTY)
        out[unit.id] = total
    return out


def _stray(by_unit: Mapping[int | None, UnitCounts], tree: UnitTree) -> UnitCounts:
    # Cases whose handling unit is unknown to the tree (none, or a deleted id).
    total = _EMPTY
    for unit_id, counts in by_unit.items():
        if tree.get(unit_id) is None:
            total = total + counts
    return total


@dataclass(frozen=True)
class UnitLine:
    """One row of per-unit figures (exact): a unit's own cases, a unit with everything
    under it (``rolled``), the cases without a unit (:data:`NO_OWNER`) or the pooled
    small rows (:data:`OTHER_UNITS`)."""

    code: str
    name: str
    rolled: bool
    counts: UnitCounts
    unit_id: int | None = None


def _pool(lines: Sequence[UnitLine], *, always: bool = True) -> list[UnitLine]:
    """Rows of fewer than MIN_CELL cases summed into one OTHER_UNITS row at the end
    (listed even when empty, so that its first case does not show by its appearing)."""
    keep = [line for line in lines if line.counts.cases >= MIN_CELL]
    small = [line for line in lines if line.counts.cases < MIN_CELL]
    pooled = _EMPTY
    for line in small:
        pooled = pooled + line.counts
    if small or always:
        keep.append(UnitLine(OTHER_UNITS, "", False, pooled))
    return keep


def unit_overview(
    by_unit: Mapping[int | None, UnitCounts], tree: UnitTree, top: int | None
) -> tuple[UnitLine, list[UnitLine]]:
    """A unit with everything under it (the first line), and the rows that make it up:
    the unit's own cases and each child subtree rolled up, small rows pooled.

    ``top`` None is the whole group: the root when there is one (the cases without a
    known unit count in it as a row of their own), else every root as a row.
    """
    rolled = rollup(by_unit, tree)
    roots = tree.roots
    stray = _stray(by_unit, tree) if top is None else _EMPTY
    if top is None and len(roots) == 1:
        top = roots[0].id
    rows: list[UnitLine] = []
    unit = tree.get(top)
    if top is not None and unit is None:  # a unit that is gone: nothing to show
        return UnitLine("", "", True, _EMPTY, top), _pool([])
    if unit is not None:
        total = rolled.get(unit.id, _EMPTY) + stray
        head = UnitLine(unit.code, tree.path_name(unit.id) or unit.name, True, total, unit.id)
        own = by_unit.get(unit.id, _EMPTY)
        rows.append(UnitLine(unit.code, unit.name, False, own, unit.id))
        children = tree.children(unit.id, include_retired=True)
    else:
        total = stray
        for root in roots:
            total = total + rolled.get(root.id, _EMPTY)
        head = UnitLine("", "", True, total, None)
        children = roots
    for child in children:
        counts = rolled.get(child.id, _EMPTY)
        rows.append(UnitLine(child.code, tree.path_name(child.id), True, counts, child.id))
    if stray.cases:
        rows.append(UnitLine(NO_OWNER, "", False, stray, None))
    return head, _pool(rows)


def unit_table(
    by_unit: Mapping[int | None, UnitCounts],
    tree: UnitTree,
    top: int | None,
    *,
    rolled: bool,
) -> list[UnitLine]:
    """Every unit under ``top`` (the whole tree for None), parents first: its own cases,
    or (``rolled``) its subtree's; units of fewer than MIN_CELL cases pooled.

    Rolled up, a small subtree is pooled once, at its highest small unit (the units under
    it are inside it), so the pooled row counts no case twice.
    """
    units = tree.walk(top)
    lines: list[UnitLine] = []
    if rolled:
        totals = rollup(by_unit, tree)
        small: set[int] = set()
        pooled = _EMPTY
        for unit in units:  # parents first
            counts = totals.get(unit.id, _EMPTY)
            if counts.cases >= MIN_CELL:
                lines.append(UnitLine(unit.code, tree.path_name(unit.id), True, counts, unit.id))
                continue
            if unit.parent_id not in small:
                pooled = pooled + counts
            small.add(unit.id)
        if top is None:
            stray = _stray(by_unit, tree)
            if stray.cases >= MIN_CELL:
                lines.append(UnitLine(NO_OWNER, "", False, stray))
            else:
                pooled = pooled + stray
        lines.append(UnitLine(OTHER_UNITS, "", True, pooled))
        return lines
    for unit in units:
        counts = by_unit.get(unit.id, _EMPTY)
        lines.append(UnitLine(unit.code, tree.path_name(unit.id), False, counts, unit.id))
    if top is None:
        stray = _stray(by_unit, tree)
        if stray.cases:
            lines.append(UnitLine(NO_OWNER, "", False, stray))
    return _pool(lines)


@dataclass(frozen=True)
class ShownUnitLine:
    """A per-unit row as staff may see it: counts below MIN_CELL masked, rates only over
    MIN_CELL cases; a figure nothing records (None in :class:`UnitCounts`) stays None."""

    code: str
    name: str
    rolled: bool
    unit_id: int | None
    cases: Cell
    on_time_acceptance: ShownRate
    on_time_completion: ShownRate
    satisfaction: ShownRate
    reviews: Cell
    reviews_decided: Cell
    rechecks: Cell
    rechecks_decided: Cell
    overdue: Cell
    conflicts: Cell
    reviews_changed: Cell | None
    rechecks_changed: Cell | None
    supervisions: Cell | None


def _maybe(count: int | None) -> Cell | None:
    return None if count is None else suppress(count)


def shown_units(lines: Iterable[UnitLine]) -> list[ShownUnitLine]:
    """Mask per-unit rows for staff (the same rule as :func:`shown`)."""
    out = []
    for line in lines:
        c = line.counts
        out.append(
            ShownUnitLine(
                code=line.code,
                name=line.name,
                rolled=line.rolled,
                unit_id=line.unit_id,
                cases=suppress(c.cases),
                on_time_acceptance=_shown_rate(c.on_time_acceptance),
                on_time_completion=_shown_rate(c.on_time_completion),
                satisfaction=_shown_rate(c.satisfaction),
                reviews=suppress(c.reviews),
                reviews_decided=suppress(c.reviews_decided),
                rechecks=suppress(c.rechecks),
                rechecks_decided=suppress(c.rechecks_decided),
                overdue=suppress(c.overdue),
                conflicts=suppress(c.conflicts),
                reviews_changed=_maybe(c.reviews_changed),
                rechecks_changed=_maybe(c.rechecks_changed),
                supervisions=_maybe(c.supervisions),
            )
        )
    return out
