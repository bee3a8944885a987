"""Statistics of a period computed by the database: GROUP BY and conditional sums over
the cases registered in [start, end), read through the ``cases(created_at)`` index.

No id list, no decryption, no loop over cases in Python: the answer is one row per group
(owner, unit, category, state, channel, overdue or not), turned into
:class:`petitions.statistics.PeriodCounts`; merging and masking stay in the pure layer.
The totals and the rates are grouped by the handling unit (``cases.unit_id``): one row
per unit (a few hundred at most) gives both the per-unit counts and, summed, the
period's totals, so the per-unit figures cost one more group key, not another scan.
A scope (an officer's subtree) is ``cases.unit_id IN (…)``: unit ids, never case ids.

Deadlines are worked out in SQL from the policy in force when the figures are asked for,
exactly as :mod:`petitions.deadlines` counts them, so a policy change needs no backfill.
A deadline keeps the time of day and moves the date by some number of days (UTC has no
daylight saving time, and the office's zone is UTC+8 all year):

- calendar days: N days. On SQLite datetimes are ``YYYY-MM-DD HH:MM:SS.ffffff`` text, so
  the moved date is glued to the original time text and compared as text, exact to the
  microsecond (SQLite's own date parsing would round to milliseconds); on PostgreSQL
  ``N * 24 hours`` is added, whatever the session's time zone.
- working days: whatever calendar the policy uses (Monday to Friday, or the official
  holidays and 调休), asked of the policy itself in Python for the few hundred dates the
  period touches (:func:`working_day_table`) and handed to the query as one value: the
  N-th working day after a date d is the working day numbered cum(d) + N, two look-ups
  (arrays on PostgreSQL, temporary tables keyed by their primary key on SQLite). The
  extension adds to the handling days (a then b working days is a + b when a ≥ 1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Interval,
    and_,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.selectable import FromClause

from petitions.deadlines import OFFICE_DEADLINE_STATES, OFFICE_ZONE, DeadlinePolicy
from petitions.states import CaseState
from petitions.statistics import (
    CHANNELS,
    NO_OWNER,
    RATINGS,
    PeriodCounts,
    Rate,
    UnitCounts,
    handling_days,
    median_days,
)
from petitions.units import UnitTree
from storage.models import CaseRow, OfficerRow, UTCDateTime
from storage.units import SqlUnits
from storage.vault import Vault

__all__ = ["SqlStatistics", "working_day_table"]

_OFFICE_STATES = sorted(s.value for s in OFFICE_DEADLINE_STATES)
_EPOCH = date(1970, 1, 1)
# Constants written into the statement, not bound: the statement stays the same whatever
# the policy, with a handful of parameters.
_0 = literal_column("0", Integer)
_1 = literal_column("1", Integer)


# A rate's tally per case: 0 left out, 1 counted, _HIT counted and on time. Summed, the
# low 32 bits count the cases and the high bits the ones on time, so each deadline is
# worked out once per case (for 4 billion cases at most).
_ON_TIME = 1 << 32
_HIT = literal_column(str(_ON_TIME + 1), Integer)
# The columns of a (unit, category) group that add up per unit and in all.
_SUMMED = (
    "n",
    "accept",
    "complete",
    "answered",
    "reviews",
    "reviewed",
    "rechecks",
    "rechecked",
    "overdue",
    "conflicts",
    "reviews_changed",
    "rechecks_changed",
    "supervised",
    # The feedback kept on the case (migration 0018): each case's latest rating, and the
    # cases whose follow-up was answered unsolved / with retaliation.
    *(f"rating:{r}" for r in RATINGS),
    "unsolved",
    "harmed",
)
# The states and channels counted in the same scan, as conditional sums ("state:…",
# "channel:…" columns): a separate GROUP BY each read the period's rows again (~100 ms
# each at a million cases). A value outside these lists (the console's cases) is found by
# the sums falling short of the total, and then counted by its own GROUP BY.
_STATES = tuple(s.value for s in CaseState)
_FOLDED = (
    *(f"state:{s}" for s in _STATES),
    *(f"channel:{ch}" for ch in CHANNELS),
    "in_matters",
)


def _one(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, _1), else_=_0)


def _rate(tally: int) -> Rate:
    hits, counted = divmod(tally, _ON_TIME)
    return Rate(hits, counted)


def _satisfaction(sums: dict[str, int]) -> Rate:
    """满意率: satisfied or basically satisfied, over the rated cases."""
    rated = sum(sums[f"rating:{r}"] for r in RATINGS)
    return Rate(sums["rating:satisfied"] + sums["rating:basic"], rated)


def _day_number(day: date) -> int:
    return day.toordinal() - _EPOCH.toordinal()


def _local_day(at: datetime) -> date:
    return at.astimezone(OFFICE_ZONE).date()


def working_day_table(
    policy: DeadlinePolicy, first: date, last: date, ahead: int
) -> list[tuple[int, int, int]]:
    """(day number, working days after ``first - 1`` up to that day, 1 if working) for
    every local date from ``first - 1`` until ``ahead`` working days after ``last``.

    The working days are the policy's own: each is ``policy.add_days`` of the one before.
    """
    before = first - timedelta(days=1)
    rows = [(_day_number(before), 0, 0)]
    at = datetime.combine(before, time(12), OFFICE_ZONE)
    count = beyond = 0
    day = before
    while day < last or beyond < ahead:
        at = policy.add_days(at, 1)
        working = _local_day(at)
        while day + timedelta(days=1) < working:  # the days off in between
            day += timedelta(days=1)
            rows.append((_day_number(day), count, 0))
        day = working
        count += 1
        if day > last:
            beyond += 1
        rows.append((_day_number(day), count, 1))
    return rows


_SQLITE_CALENDAR = (
    "CREATE TEMP TABLE IF NOT EXISTS xf_stat_days (day INTEGER PRIMARY KEY, cum INTEGER NOT NULL)",
    "CREATE TEMP TABLE IF NOT EXISTS xf_stat_numbered"
    " (cum INTEGER PRIMARY KEY, day INTEGER NOT NULL)",
    "DELETE FROM temp.xf_stat_days",
    "DELETE FROM temp.xf_stat_numbered",
    "INSERT INTO temp.xf_stat_days SELECT json_extract(value, '$[0]'),"
    " json_extract(value, '$[1]') FROM json_each(:calendar)",
    "INSERT INTO temp.xf_stat_numbered SELECT json_extract(value, '$[1]'),"
    " json_extract(value, '$[0]') FROM json_each(:calendar) WHERE json_extract(value, '$[2]')",
)
_SQLITE_DAYS = table("xf_stat_days", column("day", Integer), column("cum", Integer))
_SQLITE_NUMBERED = table("xf_stat_numbered", column("cum", Integer), column("day", Integer))


class _Dates:
    """Date arithmetic written for one database, exact to the microsecond."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        self.sqlite = session.get_bind().dialect.name == "sqlite"

    def plus_days(self, at: Any, days: Any) -> ColumnElement[Any]:
        """``at`` plus ``days`` whole days (a number or an integer expression)."""
        if self.sqlite:
            # The date part moves, the time text (with its microseconds) is kept as is.
            moved = func.date(func.substr(at, 1, 10), func.printf("%+d days", days))
            return moved.concat(func.substr(at, 11))
        hours = func.make_interval(0, 0, 0, 0, cast(days, Integer) * 24, type_=Interval)
        return at + hours  # type: ignore[no-any-return]

    def day_number(self, at: Any) -> ColumnElement[Any]:
        """The office's local date of ``at`` (UTC+8) as days since 1970-01-01."""
        if self.sqlite:
            # Whole seconds only, so that no rounding can move a time across midnight;
            # julianday of a date is N.5 exactly, so the difference is a whole number.
            local_date = func.date(func.substr(at, 1, 19), "+8 hours")
            return cast(func.julianday(local_date) - 2440587.5, Integer)
        local = func.timezone("UTC", at) + literal_column("interval '8 hours'")
        return cast(local, Date) - literal_column("DATE '1970-01-01'")

    def span(self, start: Any, end: Any) -> ColumnElement[Any]:
        """``end - start`` as an orderable value, exact to the microsecond."""
        if self.sqlite:

            def seconds(at: Any) -> ColumnElement[int]:
                return cast(func.strftime("%s", func.substr(at, 1, 19)), Integer)

            def micros(at: Any) -> ColumnElement[int]:
                return cast(func.substr(at, 21, 6), Integer)

            whole: ColumnElement[Any] = (seconds(end) - seconds(start)) * 1_000_000
            return whole + (micros(end) - micros(start))
        difference: ColumnElement[Any] = end - start
        return difference

    async def working(self, rows: Sequence[tuple[int, int, int]]) -> _WorkingDays:
        """Look-ups in the working-day table, sent as one value (never a list of ids)."""
        if self.sqlite:
            # Temporary tables keyed by their integer primary key: each look-up is one
            # b-tree probe (SQLite would scan a CTE for every case). They belong to this
            # connection and are refilled for each request.
            for statement in _SQLITE_CALENDAR:
                await self._s.execute(text(statement), {"calendar": json.dumps(rows)})
            return _WorkingDays(self, rows[0][0], None, None)
        cums = [cum for _day, cum, _working in rows]
        numbered = [day for day, _cum, working in rows if working]
        # In parentheses: PostgreSQL subscripts ``($1::INTEGER[])[i]``, not ``$1::INTEGER[][i]``.
        return _WorkingDays(
            self,
            rows[0][0],
            Grouping(bindparam("cums", cums, type_=ARRAY(Integer))),
            Grouping(bindparam("numbered", numbered, type_=ARRAY(Integer))),
        )


class _WorkingDays:
    """The due time of a stage counted in working days, as an SQL expression."""

    def __init__(self, dates: _Dates, first: int, cums: Any, numbered: Any) -> None:
        self._dates = dates
        self._first = first
        self._cums = cums
        self._numbered = numbered

    def due(
        self, source: FromClause, at: Any, days: Any, name: str
    ) -> tuple[FromClause, Any, Any]:
        """``at`` plus ``days`` working days, the source joined to what that needs, and
        the number of days added (NULL when the table does not reach that far)."""
        dates = self._dates
        day = dates.day_number(at)
        if self._cums is None:  # SQLite: two primary-key joins
            start, end = _SQLITE_DAYS.alias(f"{name}_from"), _SQLITE_NUMBERED.alias(f"{name}_to")
            source = source.outerjoin(start, start.c.day == day).outerjoin(
                end, end.c.cum == start.c.cum + days
            )
            delta = end.c.day - start.c.day
        else:  # PostgreSQL: two array subscripts (arrays count from 1)
            cum = self._cums[day - (self._first - 1)]
            delta = self._numbered[cum + days] - day
        return source, dates.plus_days(at, delta), delta


class SqlStatistics:
    """Aggregated figures of a period, computed by the database."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session

    async def period_counts(
        self,
        start: datetime,
        end: datetime,
        as_of: datetime,
        policy: DeadlinePolicy,
        *,
        scope: frozenset[int] | None = None,
    ) -> PeriodCounts:
        """Count the cases registered in [start, end) as they stand at ``as_of``; with a
        scope, only the cases handled by those units (an officer's subtree)."""
        c = CaseRow.__table__.c
        period = and_(
            c.created_at >= literal(start, UTCDateTime()),
            c.created_at < literal(end, UTCDateTime()),
        )
        if scope is not None:
            period = and_(period, c.unit_id.in_(sorted(scope)) if scope else false())
        if not self._sqlite:
            # One aggregate over many rows: room to hash the groups in memory rather
            # than sort them on disk (4 MB by default), for this transaction only.
            await self._s.execute(text("SET LOCAL work_mem = '64MB'"))
        calendar = None
        if policy.working_days:
            # The dates a deadline can start from: registration in the period, decision
            # by as_of (a year later still, for figures as of a past day). A case outside
            # them (decided later, a longer extension) shows in "unplaced", and the table
            # is then made from the dates the cases have.
            first = _local_day(start)
            last = max(_local_day(end), _local_day(as_of)) + timedelta(days=366)
            ahead = max(policy.accept_days, policy.handle_days + policy.extension_max_days)
            calendar = working_day_table(policy, first, last, ahead)
        groups = await self._totals(period, as_of, policy, calendar)
        if sum(int(g["unplaced"] or 0) for g in groups):
            calendar = await self._working_days(period, start, end, as_of, policy)
            groups = await self._totals(period, as_of, policy, calendar)
        # One row per (unit, category): at most units × categories rows, summed here per
        # unit and in all. The rates' tallies add as they are (see _ON_TIME).
        tree = await SqlUnits(self._s).tree()
        per_unit: dict[int | None, dict[str, int]] = {}
        by_unit_category: dict[tuple[str, str], int] = {}
        folded = dict.fromkeys(_FOLDED, 0)
        for g in groups:
            sums = per_unit.setdefault(g["unit_id"], dict.fromkeys(_SUMMED, 0))
            for k in _SUMMED:
                sums[k] += int(g[k] or 0)
            for k in _FOLDED:
                folded[k] += int(g[k] or 0)
            key = (tree.path_name(g["unit_id"]) or NO_OWNER, str(g["category"]))
            by_unit_category[key] = by_unit_category.get(key, 0) + int(g["n"])
        total = {k: sum(u[k] for u in per_unit.values()) for k in _SUMMED}
        by_state = {s: folded[f"state:{s}"] for s in _STATES if folded[f"state:{s}"]}
        if sum(by_state.values()) != total["n"]:
            by_state = await self._count_by(period, CaseRow.__table__.c.state)
        by_channel = {ch: folded[f"channel:{ch}"] for ch in CHANNELS if folded[f"channel:{ch}"]}
        if sum(by_channel.values()) != total["n"]:
            by_channel = await self._count_by(period, CaseRow.__table__.c.channel)
        overdue_by_owner = await self._overdue_by_owner(period, as_of, tree)
        by_unit = {
            unit_id: UnitCounts(
                cases=u["n"],
                on_time_acceptance=_rate(u["accept"]),
                on_time_completion=_rate(u["complete"]),
                satisfaction=_satisfaction(u),
                reviews=u["reviews"],
                reviews_decided=u["reviewed"],
                rechecks=u["rechecks"],
                rechecks_decided=u["rechecked"],
                overdue=u["overdue"],
                conflicts=u["conflicts"],
                reviews_changed=u["reviews_changed"],
                rechecks_changed=u["rechecks_changed"],
                supervisions=u["supervised"],
            )
            for unit_id, u in per_unit.items()
        }
        return PeriodCounts(
            total=total["n"],
            by_unit_category=by_unit_category,
            by_state=by_state,
            by_channel=by_channel,
            on_time_acceptance=_rate(total["accept"]),
            on_time_completion=_rate(total["complete"]),
            ratings={r: total[f"rating:{r}"] for r in RATINGS},
            median_handling_days=await self._median(period, total["answered"]),
            answered=total["answered"],
            overdue_by_owner=overdue_by_owner,
            reviews=total["reviews"],
            retaliations=total["harmed"],
            unsolved=total["unsolved"],
            by_unit=by_unit,
            in_matters=folded["in_matters"],
            matters=await self._matters(period) if folded["in_matters"] else 0,
        )

    @property
    def _sqlite(self) -> bool:
        return self._s.get_bind().dialect.name == "sqlite"

    async def _totals(
        self,
        period: ColumnElement[bool],
        as_of: datetime,
        policy: DeadlinePolicy,
        calendar: Sequence[tuple[int, int, int]] | None,
    ) -> Sequence[Any]:
        """The period's totals with the rates' tallies (see :data:`_ON_TIME`): one row
        per handling unit and category."""
        c = CaseRow.__table__.c
        dates = _Dates(self._s)
        now = literal(as_of, UTCDateTime())
        source: FromClause = CaseRow.__table__
        extension: ColumnElement[Any] = func.coalesce(c.extension_days, _0)
        unplaced: ColumnElement[Any] = _0
        if calendar is not None:
            working = await dates.working(calendar)
            # add_days skips a negative extension when it counts working days.
            extension = case((extension > _0, extension), else_=_0)
            source, accept_due, accept_days = working.due(
                source, c.created_at, policy.accept_days, "accept"
            )
            source, handle_due, handle_days = working.due(
                source, c.decided_at, policy.handle_days + extension, "handle"
            )
            # A date outside the table: no deadline found (SQLite's printf would even read
            # the missing number as 0), so the table must grow.
            unplaced = _one(
                or_(accept_days.is_(None), and_(c.decided_at.is_not(None), handle_days.is_(None)))
            )
        else:
            accept_due = dates.plus_days(c.created_at, policy.accept_days)
            handle_due = dates.plus_days(c.decided_at, policy.handle_days + extension)

        # 及时受理: decided by the acceptance deadline; undecided past it counts as late,
        # undecided and not yet due or withdrawn is left out.
        decided = c.decided_at.is_not(None)
        withdrawn = c.state == CaseState.WITHDRAWN.value
        accept = case(
            (and_(decided, c.decided_at <= accept_due), _HIT),
            (decided, _1),
            (or_(withdrawn, now <= accept_due), _0),
            else_=_1,
        )
        # 按期办结: over accepted cases; the one extension moves the handling deadline.
        answered = c.responded_at.is_not(None)
        left_out = or_(
            c.decided_at.is_(None),
            c.state == CaseState.NOT_ACCEPTED.value,
            and_(c.state == CaseState.CLOSED.value, c.responded_at.is_(None)),
        )
        complete = case(
            (left_out, _0),
            (and_(answered, c.responded_at <= handle_due), _HIT),
            (answered, _1),
            (or_(withdrawn, now <= handle_due), _0),
            else_=_1,
        )
        overdue = and_(
            c.state.in_(_OFFICE_STATES), c.deadline_at.is_not(None), c.deadline_at < now
        )
        stmt = (
            select(
                c.unit_id.label("unit_id"),
                c.category.label("category"),
                func.count().label("n"),
                func.sum(accept).label("accept"),
                func.sum(complete).label("complete"),
                func.sum(_one(answered)).label("answered"),
                func.sum(_one(c.review_requested_at.is_not(None))).label("reviews"),
                func.sum(_one(c.reviewed_at.is_not(None))).label("reviewed"),
                func.sum(_one(c.recheck_requested_at.is_not(None))).label("rechecks"),
                func.sum(_one(c.rechecked_at.is_not(None))).label("rechecked"),
                func.sum(_one(overdue)).label("overdue"),
                func.sum(_one(c.conflict.is_not(None))).label("conflicts"),
                # Plain columns the acts write (migration 0015): a changed outcome, 督办.
                func.sum(_one(c.review_changed.is_(True))).label("reviews_changed"),
                func.sum(_one(c.recheck_changed.is_(True))).label("rechecks_changed"),
                func.sum(_one(c.supervision_count > _0)).label("supervised"),
                *(func.sum(_one(c.state == s)).label(f"state:{s}") for s in _STATES),
                *(func.sum(_one(c.channel == ch)).label(f"channel:{ch}") for ch in CHANNELS),
                # The feedback kept on the case (migration 0018): no join with feedback.
                *(func.sum(_one(c.feedback_rating == r)).label(f"rating:{r}") for r in RATINGS),
                func.sum(_one(c.feedback_unsolved.is_(True))).label("unsolved"),
                func.sum(_one(c.feedback_retaliation.is_(True))).label("harmed"),
                func.sum(unplaced).label("unplaced"),
                # 集体诉求 (migration 0019): the petitions in collective matters.
                func.sum(_one(c.matter_id.is_not(None))).label("in_matters"),
            )
            .select_from(source)
            .where(period)
            .group_by(c.unit_id, c.category)
        )
        return (await self._s.execute(stmt)).mappings().all()

    async def _matters(self, period: ColumnElement[bool]) -> int:
        """How many collective matters the period's linked petitions make (read through
        ix_cases_matter_id: only the linked rows, asked only when there are some)."""
        c = CaseRow.__table__.c
        stmt = select(func.count(func.distinct(c.matter_id))).where(
            c.matter_id.is_not(None), period
        )
        return int((await self._s.execute(stmt)).scalar_one())

    async def _count_by(self, period: ColumnElement[bool], column: Any) -> dict[str, int]:
        """The period's cases per value of a column (states, channels) by GROUP BY."""
        rows = await self._s.execute(select(column, func.count()).where(period).group_by(column))
        return {str(value): int(n) for value, n in rows}

    async def _overdue_by_owner(
        self, period: ColumnElement[bool], as_of: datetime, tree: UnitTree
    ) -> dict[str, int]:
        """The period's cases open past their office deadline, per owner (officer, or unit
        when none)."""
        c = CaseRow.__table__.c
        o = OfficerRow.__table__.c
        now = literal(as_of, UTCDateTime())
        overdue = and_(
            period, c.state.in_(_OFFICE_STATES), c.deadline_at.is_not(None), c.deadline_at < now
        )
        overdue_by_owner: dict[str, int] = {}
        joined = CaseRow.__table__.outerjoin(OfficerRow.__table__, o.id == c.owner_officer_id)
        rows = await self._s.execute(
            select(o.name, c.unit_id, func.count())
            .select_from(joined)
            .where(overdue)
            .group_by(o.name, c.unit_id)
        )
        for officer_name, unit_id, n in rows:
            owner = officer_name or tree.path_name(unit_id) or NO_OWNER
            overdue_by_owner[owner] = overdue_by_owner.get(owner, 0) + int(n)
        return overdue_by_owner

    async def _working_days(
        self,
        period: ColumnElement[bool],
        start: datetime,
        end: datetime,
        as_of: datetime,
        policy: DeadlinePolicy,
    ) -> list[tuple[int, int, int]]:
        """The working-day table covering every date the period's deadlines start from,
        as the cases have them, and the longest stage after the last one."""
        c = CaseRow.__table__.c
        stmt = select(
            func.min(c.decided_at), func.max(c.decided_at), func.max(c.extension_days)
        ).where(period)
        first_decided, last_decided, longest = (await self._s.execute(stmt)).one()
        first = min(_local_day(d) for d in (start, first_decided or start))
        last = max(_local_day(d) for d in (end, as_of, last_decided or end))
        ahead = max(policy.accept_days, policy.handle_days + max(longest or 0, 0))
        return working_day_table(policy, first, last, ahead)

    async def _median(self, period: ColumnElement[bool], answered: int) -> float | None:
        """The median handling time: the one or two middle answers, found by the database
        (ORDER BY the exact duration, OFFSET to the middle), averaged as Python does."""
        if not answered:
            return None
        c = CaseRow.__table__.c
        span = _Dates(self._s).span(c.created_at, c.responded_at)
        stmt = (
            select(c.created_at, c.responded_at)
            .where(period, c.responded_at.is_not(None))
            .order_by(span, c.id)
            .offset((answered - 1) // 2)
            .limit(1 if answered % 2 else 2)
        )
        middle = [handling_days(a, b) for a, b in (await self._s.execute(stmt)).all()]
        return median_days(middle)
