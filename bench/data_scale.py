"""Data-scale benchmark (issue 12): a million cases, and what operators feel at that size.

    .venv/bin/python -m bench.data_scale --backend postgres            # 1,000,000 cases
    .venv/bin/python -m bench.data_scale --backend sqlite              # 100,000 cases
    .venv/bin/python -m bench.data_scale --backend sqlite --cases 200 --runs 1   # smoke

Seeds a new database (SQLite in a temporary directory; PostgreSQL: a new database on
``--pg-url``'s server, dropped at the end) with ``--cases`` cases registered over three
years: a group of 200 units in three levels (本集团 → 20 companies → ~9 plants each; cases
handled mostly by plants, some by companies, 1 % sent up for a conflict of interest, 8 %
of answers taken to 复查 and a third of those to 复核), 50 officers, about 4 timeline
events per case, about 15 % open (most of them recent, some old stragglers overdue),
states, outcomes, satisfaction ratings and follow-ups (回头望) mixed, deadlines and
``next_notice_at`` computed by the domain's own functions, the overdue alerts and
follow-ups already sent recorded as notices. Every ciphertext is a real one made by the
vault and bound to its row (storage.vault.aad), and every description is indexed for the
ledger's search (storage/search.py). Rows go in with bulk Core inserts (SQLite) or COPY
(PostgreSQL, via asyncpg, with the bulk tables' indexes rebuilt afterwards).

Then it measures, on the service's own code paths (units of work of
``bot.container.build_container``, repositories, handlers), each a few runs: statistics
for a year as ``/stats`` makes them (the report and the per-unit figures rolled up the
tree; calendar and working days; the whole group and one company's subtree), a scheduler
pass with nothing due and with 1 % of the open cases due, an officer's first and 100th
page of ``/cases`` and of the web ledger, a text search, a tracking-code look-up
(``/status CODE``), and the event loop's worst stall seen by a probe task (1 ms sleeps)
running during all of the measurements.

Prints the seeding time and a table of figures against the targets of issue 12. Progress
goes to stderr. Not a test: pytest collects tests/ only.

To measure again without seeding: ``--keep`` keeps the PostgreSQL database and writes its
keyring and what was seeded (not the tracking codes) to ``$TMPDIR/xf-scale-NAME``; then
``--reuse NAME --phases lists,search`` measures only those phases on it (the look-up
phase needs the codes, so it is skipped on a reused database).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import pickle
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from bench.pg import create_database, drop_database  # noqa: E402
from bot.container import Container, build_container  # noqa: E402
from bot.heap import settle  # noqa: E402
from bot.keys import create_keys  # noqa: E402
from bot.scheduler import Scheduler, schedule_fingerprint  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.stats import build_report, unit_figures  # noqa: E402
from bot.web.ledger import _cursor, _names, _row, apply_search, parse_query  # noqa: E402
from handlers.inbound import Inbound  # noqa: E402
from handlers.ports import (  # noqa: E402
    COUNT_CAP,
    SEARCH_COUNT_CAP,
    CaseCursor,
    CaseFilter,
    Officer,
)
from petitions.case import Case  # noqa: E402
from petitions.categories import Category  # noqa: E402
from petitions.codes import (  # noqa: E402
    format_case_number,
    generate_tracking_code,
    normalize_tracking_code,
)
from petitions.deadlines import WorkingDaysPolicy, deadline_for  # noqa: E402
from petitions.roles import Role  # noqa: E402
from petitions.schedule import FOLLOW_UP, OVERDUE, next_notice_at  # noqa: E402
from petitions.states import TERMINAL_STATES, CaseState, Outcome  # noqa: E402
from petitions.units import UnitTree  # noqa: E402
from storage.models import (  # noqa: E402
    CaseEventRow,
    CaseMessageRow,
    CaseRow,
    FeedbackRow,
    NoticeRow,
    SearchTokenRow,
)
from storage.search import text_tokens  # noqa: E402
from storage.vault import Keyring, aad  # noqa: E402

__all__ = ["TARGETS", "main", "run"]

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
# "Now" for the whole run: the seeded years end here and every measurement sees this time.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
YEARS = 3
CHUNK = 5_000  # cases generated and written at a time
SAMPLE_CODES = 20  # cases whose tracking codes are kept (in memory only) for look-ups
PAGES = 100
RARE_EVERY = 1_000  # one case in this many mentions the rare phrase searched for
COMPANIES = 20  # the group's second level; the other units are their plants
COMPANY_SHARE = 0.04  # cases about a company itself, handled by its office
CONFLICT_SHARE = 0.01  # cases routed from a plant to its company (conflict of interest)
REVIEW_SHARE = 0.08  # answered cases taken to 复查 by the parent unit
RECHECK_SHARE = 0.3  # of those, taken on to 复核
# (label, target in seconds) per figure; the ledger's figures share one target.
TARGETS = {
    "stats_calendar": ("statistics + per-unit rollup, a year (calendar)", 1.0),
    "stats_working": ("statistics + per-unit rollup, a year (working days)", 1.0),
    "stats_company": ("statistics + per-unit, a company's subtree", 1.0),
    "pass_idle": ("scheduler pass, nothing due", 0.050),
    "pass_due": ("scheduler pass, 1 % of open cases due", None),
    "list_first": ("/cases (SqlCases.list): first page", 0.100),
    "list_100th": ("/cases (SqlCases.list): 100th page", 0.100),
    "ledger_first": ("web ledger (/api/officer/cases): first page", 0.100),
    "ledger_100th": ("web ledger (/api/officer/cases): 100th page", 0.100),
    "search_common": ("web ledger search, common word", 0.100),
    "search_rare": ("web ledger search, rare phrase", 0.100),
    # The same for a leader of the group's office, who sees every unit's cases (~144,000
    # open at 1,000,000): their counts are the capped ones ("more than 10,000").
    "list_group": ("/cases first page, a group-wide leader", 0.100),
    "ledger_group": ("web ledger first page, a group-wide leader", 0.100),
    "search_group": ("web ledger search, common word, group-wide", 0.100),
    "lookup_turn": ("tracking look-up (/status CODE, whole turn)", None),
    "lookup_repo": ("tracking look-up (cases.by_tracking_code)", 0.005),
    "stall": ("event loop's worst stall (probe, all of the above)", 0.050),
}
# The share of the cases registered this many days ago that are still open (the rest of
# the intake is handled within weeks; a few stragglers stay open for long): about 15 %.
OPEN_SHARE_BY_AGE = ((100, 0.97), (170, 0.6), (365, 0.06), (10_000, 0.01))
OPEN_STATE_BY_AGE: tuple[tuple[float, tuple[tuple[CaseState, float], ...]], ...] = (
    (10, ((CaseState.REGISTERED, 0.75), (CaseState.ACCEPTED, 0.25))),
    (
        55,
        (
            (CaseState.ACCEPTED, 0.1),
            (CaseState.IN_PROGRESS, 0.65),
            (CaseState.TRANSFERRED, 0.05),
            (CaseState.RESPONDED, 0.2),
        ),
    ),
    (
        100,
        (
            (CaseState.EXTENDED, 0.35),
            (CaseState.IN_PROGRESS, 0.1),
            (CaseState.RESPONDED, 0.35),
            (CaseState.REVIEW_REQUESTED, 0.1),
            (CaseState.REVIEWING, 0.1),
        ),
    ),
    (
        170,
        ((CaseState.RESPONDED, 0.4), (CaseState.REVIEWING, 0.3), (CaseState.EXTENDED, 0.3)),
    ),
    (
        10_000,
        ((CaseState.REVIEWING, 0.2), (CaseState.EXTENDED, 0.5), (CaseState.IN_PROGRESS, 0.3)),
    ),
)
CATEGORIES = (
    (Category.PAY, 30),
    (Category.LABOR, 15),
    (Category.INSURANCE, 12),
    (Category.SAFETY, 8),
    (Category.RESTRUCTURING, 5),
    (Category.CONDUCT, 8),
    (Category.DISCIPLINE, 5),
    (Category.SUGGESTION, 10),
    (Category.OTHER, 7),
)
SUBJECTS = ("车间", "班组", "项目部", "食堂", "仓库", "调度中心", "机修厂", "财务科", "宿舍区")
PROBLEMS = (
    "三个月没有发加班费",
    "社保缴费基数按最低标准申报",
    "夜班补贴被无故扣减",
    "劳动合同到期后没有续签也没有通知",
    "安全帽和防护手套长期不发放",
    "年休假申请一直不批",
    "改制后的安置费没有说清楚",
    "主任在会上辱骂职工",
    "高温津贴没有按规定发放",
    "绩效考核结果不公开",
    "住房公积金停缴了半年",
    "工伤认定材料迟迟不报",
)
REQUESTS = (
    "要求按规定补发",
    "希望公司尽快给个说法",
    "请领导过问一下",
    "要求公开依据",
    "请求核实后纠正",
    "希望有关部门调查处理",
)
RARE = "食堂承包商以次充好"
SEARCH_COMMON = "加班费"
SEARCH_RARE = "以次充好"
PHASES = ("statistics", "scheduler", "lists", "search", "look-up")


def say(message: str) -> None:
    """Progress to stderr (stdout carries only the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- seeding


@dataclass
class Shape:
    """What was seeded, for the measurements and the report."""

    cases: int = 0
    open: int = 0
    overdue: int = 0
    events: int = 0
    messages: int = 0
    feedback: int = 0
    notices: int = 0
    tokens: int = 0
    officers: list[Officer] = field(default_factory=list)
    group: Group | None = None
    open_ids: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # never printed
    seconds: float = 0.0


@dataclass
class Group:
    """The seeded unit tree: a root, its companies, and their plants (ids)."""

    root: int
    companies: list[int]
    plants: list[int]
    parent: dict[int, int]  # plant → company, company → root
    codes: dict[int, str]


async def seed_group(uow: Any, units: int) -> Group:
    """A three-level group of ``units`` units: 本集团 → 20 companies → the rest as plants
    (about 9 per company), through ``uow.units`` as ``xinfang units`` adds them."""
    root = await uow.units.add("JT", "本集团", None, NOW - _days(4 * 365))
    n_companies = max(1, min(COMPANIES, (units - 1) // 2))
    companies: list[int] = []
    parent: dict[int, int] = {}
    codes = {root.id: root.code}
    for c in range(n_companies):
        unit = await uow.units.add(f"C{c + 1:02d}", f"第{c + 1:02d}公司", root.id, NOW)
        companies.append(unit.id)
        parent[unit.id] = root.id
        codes[unit.id] = unit.code
    plants: list[int] = []
    for k in range(max(units - 1 - n_companies, n_companies)):
        company = k % n_companies
        number = k // n_companies + 1
        unit = await uow.units.add(
            f"C{company + 1:02d}-P{number:02d}", f"第{number:02d}厂", companies[company], NOW
        )
        plants.append(unit.id)
        parent[unit.id] = companies[company]
        codes[unit.id] = unit.code
    return Group(root.id, companies, plants, parent, codes)


def _days(n: float) -> timedelta:
    return timedelta(days=n)


def _pick(rng: random.Random, table: tuple[tuple[Any, float], ...]) -> Any:
    x, acc = rng.random() * sum(w for _, w in table), 0.0
    for value, weight in table:
        acc += weight
        if x < acc:
            return value
    return table[-1][0]


class Generator:
    """Makes the rows of cases ``[first, first + count)`` and everything hanging off them."""

    def __init__(self, container: Container, officers: list[Officer], group: Group, seed: int):
        self.vault = container.vault
        self.policy = container.settings.policy
        self.schedule = container.settings.schedule
        self.rng = random.Random(seed)
        self.staff = [o for o in officers if o.role is Role.OFFICER]
        self.group = group
        self.units = group.plants
        # A few big plants and a long tail, as in a real group company.
        self.unit_weights = list(
            itertools.accumulate(1 / (k + 1) ** 0.8 for k in range(len(self.units)))
        )
        self.next_event = self.next_message = self.next_feedback = self.next_notice = 1
        self._tokens: dict[str, list[int]] = {}

    def token_hashes(self, description: str, search: Any) -> list[int]:
        """A description's hashed tokens (cached per distinct text)."""
        found = self._tokens.get(description)
        if found is None:
            found = sorted({search.token_hash(t) for t in text_tokens(description)})
            self._tokens[description] = found
        return found

    def unit(self) -> int:
        """A plant, big ones more often."""
        x = self.rng.random() * self.unit_weights[-1]
        return self.units[bisect.bisect_left(self.unit_weights, x)]

    def place(self) -> tuple[int, int, str | None]:
        """(handling unit, unit the matter concerns, conflict): mostly a plant's own case;
        some handled by its company (the company's own matters, and conflict-of-interest
        routings that went up from the plant)."""
        plant = self.unit()
        company = self.group.parent[plant]
        x = self.rng.random()
        if x < CONFLICT_SHARE:
            return company, plant, "leadership"
        if x < CONFLICT_SHARE + COMPANY_SHARE:
            return company, company, None
        return plant, plant, None

    def description(self) -> str:
        """A petition text from the pool (a rare phrase now and then)."""
        rng = self.rng
        body = f"{rng.choice(SUBJECTS)}{rng.choice(PROBLEMS)}，{rng.choice(REQUESTS)}。"
        return f"{RARE}，{body}" if rng.randrange(RARE_EVERY) == 0 else body

    def rows(
        self, ids: range, created: list[datetime], codes: dict[int, str], search: Any, shape: Shape
    ) -> dict[str, list[dict[str, Any]]]:
        """The rows of one chunk of cases, per table."""
        out: dict[str, list[dict[str, Any]]] = {
            "cases": [],
            "case_events": [],
            "case_messages": [],
            "feedback": [],
            "notices": [],
            "search_tokens": [],
        }
        for case_id, at in zip(ids, created, strict=True):
            self._case(case_id, at, codes.get(case_id), search, out, shape)
        return out

    def _case(
        self,
        case_id: int,
        created: datetime,
        code: str | None,
        search: Any,
        out: dict[str, list[dict[str, Any]]],
        shape: Shape,
    ) -> None:
        rng, vault = self.rng, self.vault
        age = (NOW - created) / _days(1)
        share = next(p for limit, p in OPEN_SHARE_BY_AGE if age < limit)
        is_open = rng.random() < share
        latest = NOW - timedelta(hours=1)
        description = self.description()
        case = Case(
            category=_pick(rng, CATEGORIES),
            description=description,
            channel=_pick(rng, (("telegram", 5), ("wecom", 4), ("web", 1))),
            anonymous=rng.random() < 0.6,
            locale="zh_CN" if rng.random() < 0.95 else "en",
            created_at=created,
            id=case_id,
        )
        case.unit_id, origin, conflict = self.place()
        above = self.group.parent.get(case.unit_id, case.unit_id)
        review_unit: int | None = None
        officer = rng.choice(self.staff)
        events: list[tuple[datetime, str, Role, CaseState | None, CaseState | None, Any]] = [
            (created, "submitted", Role.EMPLOYEE, None, CaseState.REGISTERED, {"files": 0})
        ]

        def step(after: datetime, lo: float, hi: float) -> datetime:
            # Some days later, never later than an hour ago.
            return min(after + _days(rng.uniform(lo, hi)), latest)

        def go(at: datetime, to: CaseState, role: Role = Role.OFFICER, detail: Any = None) -> None:
            events.append((at, "transition", role, case.state, to, detail))
            case.state = to

        if is_open:
            shape.open += 1
            for limit, table in OPEN_STATE_BY_AGE:
                if age < limit:
                    target = _pick(rng, table)
                    break
            if target is not CaseState.REGISTERED:
                case.decided_at = step(created, 0.3, min(8.0, max(0.4, age * 0.3)))
                case.owner_officer_id = officer.id
                go(case.decided_at, CaseState.ACCEPTED)
            elif rng.random() < 0.3:
                case.owner_officer_id = officer.id
            if target in (CaseState.IN_PROGRESS, CaseState.EXTENDED):
                go(step(case.decided_at, 0, 2), CaseState.IN_PROGRESS)  # type: ignore[arg-type]
            if target is CaseState.TRANSFERRED:
                go(step(case.decided_at, 0, 2), CaseState.TRANSFERRED)  # type: ignore[arg-type]
            if target is CaseState.EXTENDED:
                case.extension_days = 30
                go(step(case.decided_at, 40, 59), CaseState.EXTENDED)  # type: ignore[arg-type]
            if target is CaseState.RESPONDED:
                assert case.decided_at is not None
                case.responded_at = max(case.decided_at, NOW - _days(rng.uniform(0.1, 29)))
                case.outcome = _pick(rng, tuple((o, 1.0) for o in Outcome))
                go(case.responded_at, CaseState.RESPONDED, detail={"outcome": case.outcome.value})
            if target in (CaseState.REVIEW_REQUESTED, CaseState.REVIEWING):
                assert case.decided_at is not None
                # Asked within the last weeks (an older request would be overdue).
                asked = max(case.decided_at, NOW - _days(rng.uniform(0.5, 28)))
                case.responded_at = min(step(case.decided_at, 5, 30), asked)
                case.outcome = Outcome.NOT_SUPPORTED
                go(case.responded_at, CaseState.RESPONDED, detail={"outcome": "not_supported"})
                case.review_requested_at = asked
                review_unit = above  # 复查 is decided by the parent unit's office
                go(case.review_requested_at, CaseState.REVIEW_REQUESTED, Role.EMPLOYEE)
                if target is CaseState.REVIEWING:
                    go(step(case.review_requested_at, 0, 3), CaseState.REVIEWING)
        else:
            path = rng.random()
            span = max(NOW - created - timedelta(hours=2), timedelta(hours=1)) / _days(1)
            if path < 0.03:  # withdrawn by the employee
                case.closed_at = created + _days(min(span, rng.uniform(0.1, 10)))
                go(case.closed_at, CaseState.WITHDRAWN, Role.EMPLOYEE)
            elif path < 0.10:  # not accepted, closed when the review window passed
                plan = [rng.uniform(0.5, 8), 30.0]
                k = min(1.0, span / sum(plan))
                case.decided_at = created + _days(plan[0] * k)
                case.owner_officer_id = officer.id
                go(case.decided_at, CaseState.NOT_ACCEPTED)
                case.closed_at = case.decided_at + _days(plan[1] * k)
                go(case.closed_at, CaseState.CLOSED, Role.SYSTEM)
            else:  # accepted, answered, closed (by the employee's rating or the window)
                # Some answers are taken to 复查 (by the parent unit), a few of those to
                # 复核 (the recheck columns only: the ladder's states are not seeded).
                reviewed = rng.random() < REVIEW_SHARE
                rechecked = reviewed and rng.random() < RECHECK_SHARE
                plan = [rng.uniform(0.5, 8), rng.uniform(3, 55)]
                if reviewed:
                    plan += [rng.uniform(1, 30), rng.uniform(5, 30)]
                if rechecked:
                    plan += [rng.uniform(1, 30), rng.uniform(5, 30)]
                plan.append(rng.uniform(1, 30))
                k = min(1.0, span / sum(plan))
                marks = iter(itertools.accumulate(_days(p * k) for p in plan))
                case.decided_at = created + next(marks)
                case.owner_officer_id = officer.id
                go(case.decided_at, CaseState.ACCEPTED)
                case.responded_at = created + next(marks)
                case.outcome = _pick(
                    rng,
                    (
                        (Outcome.SUPPORTED, 45),
                        (Outcome.EXPLAINED, 40),
                        (Outcome.NOT_SUPPORTED, 15),
                    ),
                )
                go(case.responded_at, CaseState.RESPONDED, detail={"outcome": case.outcome.value})
                if reviewed:
                    review_unit = above
                    case.review_requested_at = created + next(marks)
                    go(case.review_requested_at, CaseState.REVIEW_REQUESTED, Role.EMPLOYEE)
                    go(case.review_requested_at, CaseState.REVIEWING, Role.LEADER)
                    case.reviewed_at = created + next(marks)
                    if rng.random() < 0.25:  # the 复查 changed the answer
                        case.outcome = Outcome.SUPPORTED
                    go(
                        case.reviewed_at,
                        CaseState.REVIEWED,
                        Role.LEADER,
                        detail={"outcome": case.outcome.value},
                    )
                if rechecked:
                    review_unit = self.group.parent.get(above, above)
                    case.recheck_requested_at = created + next(marks)
                    case.rechecked_at = created + next(marks)
                case.closed_at = created + next(marks)
                go(case.closed_at, CaseState.CLOSED, Role.SYSTEM)
        case.updated_at = events[-1][0]
        case.deadline_at = deadline_for(case, self.policy)
        due = next_notice_at(case, self.policy, self.schedule, NOW)
        push = rng.random() < 0.65
        keep_until = (
            case.closed_at + _days(self.policy.contact_keep_days) if case.closed_at else None
        )
        erased = keep_until is not None and keep_until <= NOW
        row = {c.name: None for c in CaseRow.__table__.columns}
        row.update(
            id=case_id,
            number=format_case_number(created.year, case_id),
            tracking_index=vault.blind_index("tracking", code or f"seeded-{case_id}"),
            category=case.category.value,
            state=case.state.value,
            channel=case.channel,
            anonymous=case.anonymous,
            locale=case.locale,
            description_ct=vault.encrypt_text(description, aad("cases", case_id, "description")),
            contact_ct=(
                vault.seal_contact(
                    {"channel": case.channel, "chat_id": str(90_000_000 + case_id)},
                    aad("cases", case_id, "contact"),
                )
                if push and not erased
                else None
            ),
            contact_reachable=push,
            contact_mode="push" if push else "code",
            contact_erase_at=keep_until if push and not erased else None,
            owner_officer_id=case.owner_officer_id,
            unit_id=case.unit_id,
            origin_unit_id=origin,
            review_unit_id=review_unit,
            conflict=conflict,
            priority=0,
            outcome=case.outcome.value if case.outcome else None,
            extension_days=case.extension_days,
            created_at=created,
            updated_at=case.updated_at,
            decided_at=case.decided_at,
            responded_at=case.responded_at,
            review_requested_at=case.review_requested_at,
            reviewed_at=case.reviewed_at,
            recheck_requested_at=case.recheck_requested_at,
            rechecked_at=case.rechecked_at,
            closed_at=case.closed_at,
            deadline_at=case.deadline_at,
            next_notice_at=due,
        )
        out["cases"].append(row)
        if is_open:
            shape.open_ids.append(case_id)
        for at, kind, role, before, after, detail in events:
            event_id, self.next_event = self.next_event, self.next_event + 1
            out["case_events"].append(
                {
                    "id": event_id,
                    "case_id": case_id,
                    "at": at,
                    "kind": kind,
                    "actor_role": role.value,
                    "actor_officer_id": officer.id if role is Role.OFFICER else None,
                    "from_state": before.value if before else None,
                    "to_state": after.value if after else None,
                    "detail_ct": (
                        vault.encrypt_json(
                            detail, aad("case_events", f"{event_id}.{case_id}", "detail")
                        )
                        if detail
                        else None
                    ),
                }
            )
        if case.responded_at is not None and rng.random() < 0.3:
            message_id, self.next_message = self.next_message, self.next_message + 1
            out["case_messages"].append(
                {
                    "id": message_id,
                    "case_id": case_id,
                    "at": case.responded_at,
                    "kind": "answer",
                    "author_officer_id": officer.id,
                    "body_ct": vault.encrypt_text(
                        "经核实，已按规定处理，详见答复意见书。",
                        aad("case_messages", f"{message_id}.{case_id}", "body"),
                    ),
                }
            )
        if case.responded_at is not None:
            answered = rng.random() < 0.65
            self._feedback(
                out,
                case_id,
                "satisfaction",
                case.responded_at,
                answered,
                rating=_pick(rng, (("satisfied", 70), ("basic", 20), ("unsatisfied", 10))),
            )
        if case.state is CaseState.CLOSED and case.closed_at and self.schedule.follow_up:
            follow = case.closed_at + _days(self.policy.followup_days)
            if follow <= NOW:
                self._notice(out, case_id, FOLLOW_UP, case.closed_at, follow)
                self._feedback(out, case_id, "follow_up", follow, rng.random() < 0.4)
        if (
            case.state not in TERMINAL_STATES
            and case.deadline_at is not None
            and case.deadline_at < NOW
            and due is None
        ):
            shape.overdue += 1  # its overdue alert (or automatic close) went out already
            self._notice(out, case_id, OVERDUE, case.deadline_at, case.deadline_at)
        hashes = self.token_hashes(description, search)
        out["search_tokens"].extend({"token": h, "case_id": case_id} for h in hashes)

    def _feedback(
        self,
        out: dict[str, list[dict[str, Any]]],
        case_id: int,
        kind: str,
        at: datetime,
        answered: bool,
        rating: str | None = None,
    ) -> None:
        feedback_id, self.next_feedback = self.next_feedback, self.next_feedback + 1
        rng = self.rng
        row = {
            "id": feedback_id,
            "case_id": case_id,
            "kind": kind,
            "token_index": uuid.uuid4().hex + uuid.uuid4().hex,
            "created_at": at,
            "answered_at": min(at + _days(rng.uniform(0, 5)), NOW) if answered else None,
            "rating": rating if answered and kind == "satisfaction" else None,
            "comment_ct": None,
            "solved": (rng.random() < 0.8) if answered and kind == "follow_up" else None,
            "retaliation": False if answered and kind == "follow_up" else None,
            "linked_case_id": None,
        }
        out["feedback"].append(row)
        # What the case keeps of its feedback, as SqlFeedback.save writes it (migration
        # 0018): the case's row is the chunk's last, and its feedback comes in id order.
        case = out["cases"][-1]
        assert case["id"] == case_id
        if row["rating"]:
            case["feedback_rating"] = row["rating"]
        if answered and kind == "follow_up":
            case["feedback_unsolved"] = bool(case["feedback_unsolved"]) or not row["solved"]
            case["feedback_retaliation"] = bool(case["feedback_retaliation"]) or bool(
                row["retaliation"]
            )

    def _notice(
        self,
        out: dict[str, list[dict[str, Any]]],
        case_id: int,
        kind: str,
        key: datetime,
        sent: datetime,
    ) -> None:
        notice_id, self.next_notice = self.next_notice, self.next_notice + 1
        out["notices"].append(
            {
                "id": notice_id,
                "case_id": case_id,
                "scope": f"case:{case_id}",
                "kind": kind,
                "due_key": key.isoformat(),
                "sent_at": min(sent, NOW),
            }
        )


TABLES = {
    "cases": CaseRow,
    "case_events": CaseEventRow,
    "case_messages": CaseMessageRow,
    "feedback": FeedbackRow,
    "notices": NoticeRow,
    "search_tokens": SearchTokenRow,
}


class SqliteWriter:
    """Bulk Core inserts through the service's engine (aiosqlite's worker thread)."""

    def __init__(self, container: Container) -> None:
        self.engine = container.engine

    async def __aenter__(self) -> SqliteWriter:
        return self

    async def write(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Insert one chunk in one transaction."""
        async with self.engine.begin() as conn:
            for name, model in TABLES.items():
                if rows[name]:
                    await conn.execute(insert(model), rows[name])

    async def __aexit__(self, *exc: object) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


class PostgresWriter:
    """COPY through one asyncpg connection, with the bulk tables' indexes and constraints
    dropped before and built again after (a sorted build beats a million index inserts),
    and foreign-key triggers off meanwhile (every reference is made consistent here)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None
        self.restore: list[str] = []

    async def __aenter__(self) -> PostgresWriter:
        import asyncpg

        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.execute("SET session_replication_role = replica")
        await self.conn.execute("SET maintenance_work_mem = '512MB'")
        names = list(TABLES)
        constraints = await self.conn.fetch(
            "SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def"
            " FROM pg_constraint c WHERE conrelid::regclass::text = ANY($1::text[])"
            " AND (contype = 'u' OR contype = 'p' AND NOT EXISTS (SELECT 1 FROM pg_constraint f"
            " WHERE f.contype = 'f' AND f.confrelid = c.conrelid))",
            names,
        )
        indexes = await self.conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY($1::text[])"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            names,
        )
        for row in indexes:
            await self.conn.execute(f'DROP INDEX "{row["indexname"]}"')
            self.restore.append(row["indexdef"])
        for row in constraints:
            await self.conn.execute(f'ALTER TABLE {row["tab"]} DROP CONSTRAINT "{row["conname"]}"')
            self.restore.insert(
                0, f'ALTER TABLE {row["tab"]} ADD CONSTRAINT "{row["conname"]}" {row["def"]}'
            )
        return self

    async def write(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """COPY one chunk."""
        for name, model in TABLES.items():
            batch = rows[name]
            if not batch:
                continue
            columns = [c.name for c in model.__table__.columns]
            records = [tuple(r[c] for c in columns) for r in batch]
            await self.conn.copy_records_to_table(name, records=records, columns=columns)

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                say(f"building {len(self.restore)} indexes and constraints again")
                for statement in self.restore:
                    await self.conn.execute(statement)
                for name in TABLES:
                    await self.conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                        f" (SELECT max(id) FROM {name}))"
                        if name != "search_tokens"
                        else "SELECT 1"
                    )
                say("ANALYZE")
                await self.conn.execute("ANALYZE")
        finally:
            await self.conn.close()


async def seed(container: Container, opts: argparse.Namespace, dsn: str | None) -> Shape:
    """Officers through the repository, then cases and the rest in bulk."""
    shape = Shape()
    started = time.perf_counter()
    rng = random.Random(opts.seed)
    async with container.uow() as uow:
        group = await seed_group(uow, opts.units)
        shape.group = group
        for k in range(opts.officers):
            role = Role.LEADER if k < 3 else Role.DISCIPLINE if k < 5 else Role.OFFICER
            # Leaders and 纪检 at the group's office, the others at companies and plants.
            where = [group.root, *group.companies, *group.plants]
            officer = await uow.officers.add(
                f"办理人{k:02d}",
                role,
                NOW - _days(4 * 365),
                unit_id=where[(k * 4) % len(where)] if k >= 5 else None,
                accounts={"telegram": str(20_000_000 + k)},
            )
            shape.officers.append(officer)
        cfg = container.services.config
        # The stored next-notice times are those of the running configuration.
        await uow.cases.set_schedule_fingerprint(
            schedule_fingerprint(cfg.policy, cfg.schedule), NOW
        )
        await uow.commit()
    gen = Generator(container, shape.officers, group, opts.seed)
    n = opts.cases
    span = YEARS * 365 * 86400.0
    created = sorted(rng.random() * span for _ in range(n))
    code_ids = set(rng.sample(range(1, n + 1), min(SAMPLE_CODES, n)))
    codes: dict[int, str] = {}
    for case_id in sorted(code_ids):
        code = normalize_tracking_code(generate_tracking_code())
        codes[case_id] = code
        shape.codes.append(code)
    start = NOW - timedelta(seconds=span)
    writer: Any = PostgresWriter(dsn) if dsn else SqliteWriter(container)
    async with container.uow() as uow, writer:
        search = uow.search  # only its token_hash (the pepper's HMAC)
        for first in range(1, n + 1, CHUNK):
            ids = range(first, min(n, first + CHUNK - 1) + 1)
            times = [start + timedelta(seconds=created[i - 1]) for i in ids]
            rows = gen.rows(ids, times, codes, search, shape)
            shape.events += len(rows["case_events"])
            shape.messages += len(rows["case_messages"])
            shape.feedback += len(rows["feedback"])
            shape.notices += len(rows["notices"])
            shape.tokens += len(rows["search_tokens"])
            await writer.write(rows)
            shape.cases = ids[-1]
            if ids[-1] % (CHUNK * 20) == 0 or ids[-1] == n:
                rate = shape.cases / (time.perf_counter() - started)
                say(f"seeded {shape.cases:,} of {n:,} cases ({rate:,.0f}/s)")
    shape.seconds = time.perf_counter() - started
    return shape


# --------------------------------------------------------------------------- measuring


class Probe:
    """A task that sleeps 1 ms at a time and records the worst lateness of its wake-ups,
    overall and per phase."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.phase = "start"
        self.by_phase: dict[str, float] = {}
        self.wakeups = 0

    async def run(self) -> None:
        """Sleep, wake, note how late."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - asked - 0.001
            self.wakeups += 1
            self.worst = max(self.worst, late)
            self.by_phase[self.phase] = max(self.by_phase.get(self.phase, 0.0), late)


@asynccontextmanager
async def probing() -> AsyncIterator[Probe]:
    """Run a probe for the block's duration."""
    probe = Probe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)
    try:
        yield probe
    finally:
        task.cancel()


@dataclass
class Figures:
    """Wall times per figure (seconds)."""

    times: dict[str, list[float]] = field(default_factory=dict)
    stall_phases: dict[str, float] = field(default_factory=dict)

    async def time(self, key: str, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run and time one piece of work."""
        started = time.perf_counter()
        result = await work()
        self.times.setdefault(key, []).append(time.perf_counter() - started)
        return result


class Clock:
    """The service's clock, moved by the benchmark."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _stats(container: Container, working: bool, unit: int | None = None) -> Any:
    """What ``/stats`` computes for a year: the report of the asking officer's scope (the
    whole group, or one company's subtree) and its per-unit figures rolled up the tree."""
    policy = container.settings.policy
    if working:
        policy = WorkingDaysPolicy(**{k: getattr(policy, k) for k in policy.__dataclass_fields__})
    start = NOW - _days(365)
    async with container.uow() as uow:
        tree = await uow.units.tree()
        scope = tree.subtree(unit) if unit is not None else None
        report = await build_report(uow, start, NOW, NOW, policy, scope=scope)
        # As /stats does (bot/stats.py): the rollup of the units runs in a worker thread.
        return report, await asyncio.to_thread(unit_figures, report, tree, unit)


async def _walk_list(container: Container, flt: CaseFilter, figures: Figures) -> int:
    """Page through /cases' list 100 pages deep; time the first and the last."""
    seen = 0
    for page in range(1, PAGES + 1):
        started = time.perf_counter()
        async with container.uow() as uow:
            cases = await uow.cases.list(flt)
            if page == 1:
                # /cases says how many in all (up to the cap: "more than 10,000").
                await uow.cases.count(flt, cap=COUNT_CAP + 1)
        took = time.perf_counter() - started
        if page in (1, PAGES):
            figures.times.setdefault("list_first" if page == 1 else "list_100th", []).append(took)
        if not cases:
            break
        seen += len(cases)
        last = cases[-1]
        assert last.id is not None
        flt = replace(flt, after=CaseCursor(last.deadline_at, last.id))
    return seen


async def _list_page(container: Container, flt: CaseFilter) -> Any:
    """/cases' first page as the chat shows it: a page and one more, and the capped count."""
    async with container.uow() as uow:
        cases = await uow.cases.list(replace(flt, limit=flt.limit + 1))
        return cases, await uow.cases.count(flt, cap=COUNT_CAP + 1)


async def _ledger_page(container: Container, officer: Officer, query: dict[str, str]) -> Any:
    """What ``GET /api/officer/cases`` does, less the HTTP: parse, search, page, count,
    names, rows (bot/web/ledger.py LedgerRoutes.cases)."""
    parsed = parse_query(query, officer, NOW, UnitTree(()))
    flt = parsed.flt
    t = container.translator.t
    async with container.uow() as uow:
        flt, _notice = await apply_search(uow, flt, parsed.text)
        page = list(await uow.cases.ledger(replace(flt, limit=flt.limit + 1)))
        cap = SEARCH_COUNT_CAP if flt.search_tokens else COUNT_CAP
        total = await uow.cases.count(flt, cap=cap + 1)
        names = await _names(uow, page[: flt.limit])
    rows = [_row(t, "zh_CN", c, names, NOW) for c in page[: flt.limit]]
    return rows, total, (_cursor(flt, page[flt.limit - 1]) if len(page) > flt.limit else None)


async def _ledger_100th_cursor(container: Container, officer: Officer) -> str | None:
    """The cursor the 99th page's "next" link carries."""
    query: dict[str, str] = {}
    for _ in range(PAGES - 1):
        parsed = parse_query(query, officer, NOW, UnitTree(()))
        async with container.uow() as uow:
            page = await uow.cases.ledger(parsed.flt)
        if len(page) < parsed.flt.limit:
            return None
        query = {"after": _cursor(parsed.flt, page[-1])}
    return query["after"]


async def _mark_due(container: Container, ids: list[int], at: datetime) -> None:
    async with container.uow() as uow:
        for i in range(0, len(ids), 1000):
            await uow.session.execute(
                update(CaseRow).where(CaseRow.id.in_(ids[i : i + 1000])).values(next_notice_at=at)
            )
        await uow.commit()


async def measure(
    container: Container,
    shape: Shape,
    runs: int,
    clock: Clock,
    phases: set[str] | frozenset[str] = frozenset(PHASES),
) -> Figures:
    """Every figure of ``phases``, ``runs`` times, with the probe running."""
    figures = Figures()
    rng = random.Random(7)
    settings = container.settings
    scheduler = Scheduler(container.uow, container.services, clock, retention=settings.retention)
    viewer = next(o for o in shape.officers if o.role is Role.OFFICER)
    open_states = frozenset(s for s in CaseState if s not in TERMINAL_STATES)
    from handlers.access import scoped_filter

    list_filter = scoped_filter(viewer, states=open_states, limit=10)  # /cases: 10 a page
    leader = next((o for o in shape.officers if o.role is Role.LEADER and o.scope is None), None)
    # Warm-up pass outside the figures: the day's digest and anything the seeding left due.
    if "scheduler" in phases:
        say("warm-up scheduler pass")
        warm = await scheduler.run_once(NOW)
        say(f"warm-up pass: {dict(warm.sent)} digest={warm.digest} failed={warm.failed}")
    cursor_100 = await _ledger_100th_cursor(container, viewer) if "lists" in phases else None
    settle()  # as run_service does once it has started (bot/heap.py)
    async with probing() as probe:
        for run in range(1, runs + 1):
            say(f"run {run} of {runs}")
            clock.now = NOW + timedelta(seconds=run)
            if "statistics" in phases:
                probe.phase = "statistics"
                await figures.time("stats_calendar", lambda: _stats(container, False))
                await figures.time("stats_working", lambda: _stats(container, True))
                company = shape.group.companies[0] if shape.group else None
                await figures.time("stats_company", lambda u=company: _stats(container, False, u))
            if "scheduler" in phases:
                probe.phase = "scheduler"
                await figures.time("pass_idle", lambda: scheduler.run_once(clock.now))
                due = rng.sample(shape.open_ids, max(1, len(shape.open_ids) // 100))
                await _mark_due(container, due, clock.now - timedelta(minutes=1))
                result = await figures.time("pass_due", lambda: scheduler.run_once(clock.now))
                if result.failed:
                    say(f"  {result.failed} cases failed in the pass")
            if "lists" in phases:
                probe.phase = "lists"
                await _walk_list(container, list_filter, figures)
                await figures.time("ledger_first", lambda: _ledger_page(container, viewer, {}))
                if cursor_100 is not None:
                    deep = {"after": cursor_100}
                    await figures.time(
                        "ledger_100th", lambda q=deep: _ledger_page(container, viewer, q)
                    )
                if leader is not None:
                    wide = scoped_filter(leader, states=open_states, limit=10)
                    await figures.time("list_group", lambda f=wide: _list_page(container, f))
                    await figures.time(
                        "ledger_group", lambda o=leader: _ledger_page(container, o, {})
                    )
            if "search" in phases:
                probe.phase = "search"
                for key, words in (
                    ("search_common", SEARCH_COMMON),
                    ("search_rare", SEARCH_RARE),
                ):
                    await figures.time(
                        key, lambda w=words: _ledger_page(container, viewer, {"q": w})
                    )
                if leader is not None:
                    await figures.time(
                        "search_group",
                        lambda o=leader: _ledger_page(container, o, {"q": SEARCH_COMMON}),
                    )
            # The tracking codes are known only to the run that seeded them (not kept).
            probe.phase = "look-up"
            for k, code in enumerate(shape.codes if "look-up" in phases else ()):
                inbound = Inbound(
                    "telegram", str(70_000_000 + k), str(70_000_000 + k), text=f"/status {code}"
                )
                await figures.time("lookup_turn", lambda i=inbound: container.handlers.handle(i))

                async def repo(c: str = code) -> Any:
                    async with container.uow() as uow:
                        return await uow.cases.by_tracking_code(c)

                found = await figures.time("lookup_repo", repo)
                assert found is not None, "a seeded tracking code was not found"
        figures.times["stall"] = [probe.worst]
        worst_phase = max(probe.by_phase.items(), key=lambda kv: kv[1], default=("", 0.0))
        say(f"probe: {probe.wakeups} wake-ups, worst in {worst_phase[0]}")
        figures.stall_phases = dict(probe.by_phase)
    return figures


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def report(opts: argparse.Namespace, shape: Shape, figures: Figures) -> dict[str, Any]:
    """Print the table; return the figures as data."""
    n = max(shape.cases, 1)
    print()
    print(f"Data-scale benchmark: {opts.backend}, {shape.cases:,} cases, {opts.runs} runs")
    print(
        f"seeded in {shape.seconds:,.1f} s "
        f"({shape.cases / max(shape.seconds, 1e-9):,.0f} cases/s): "
        f"{shape.open:,} open ({shape.open / n:.1%}), {shape.overdue:,} overdue, "
        f"{shape.events:,} events ({shape.events / n:.2f}/case), {shape.messages:,} messages, "
        f"{shape.feedback:,} feedback, {shape.notices:,} notices, {shape.tokens:,} search tokens"
    )
    print()
    header = f"{'figure':<52} {'median':>11} {'max':>11} {'target':>9}"
    print(header)
    print("-" * (len(header) + 3))
    data: dict[str, Any] = {
        "backend": opts.backend,
        "cases": shape.cases,
        "seed_seconds": round(shape.seconds, 1),
        "open": shape.open,
        "events": shape.events,
        "figures": {},
    }
    for key, (label, target) in TARGETS.items():
        values = figures.times.get(key)
        if not values:
            print(f"{label:<52} {'—':>11} {'—':>11}")
            continue
        median, worst = statistics.median(values), max(values)
        mark = "" if target is None else ("✓" if worst <= target else "✗")
        shown = "—" if target is None else _ms(target)
        print(f"{label:<52} {_ms(median):>11} {_ms(worst):>11} {shown:>9} {mark}")
        data["figures"][key] = {"median": median, "max": worst, "target": target}
    phases = figures.stall_phases
    if phases:
        worst_by = ", ".join(f"{k} {_ms(v)}" for k, v in phases.items() if k != "start")
        print(f"\nworst stall by phase: {worst_by}")
        data["stall_by_phase"] = phases
    return data


# --------------------------------------------------------------------------- main


@asynccontextmanager
async def database(opts: argparse.Namespace, work: Path) -> AsyncIterator[tuple[str, str | None]]:
    """A new, empty database: (SQLAlchemy URL, asyncpg DSN or None); dropped afterwards.
    With ``--reuse NAME``, that kept database as it is (never dropped)."""
    if opts.backend == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'data' / 'xinfang.db'}", None
        return
    admin = opts.pg_url.replace("postgresql+asyncpg://", "postgresql://")
    base = opts.pg_url.rpartition("/")[0]
    if opts.reuse:
        yield f"{base}/{opts.reuse}", f"{admin.rpartition('/')[0]}/{opts.reuse}"
        return
    name = opts.db_name
    await create_database(opts.pg_url, name)
    say(f"created database {name}")
    try:
        yield f"{base}/{name}", f"{admin.rpartition('/')[0]}/{name}"
    finally:
        if opts.keep:
            say(f"kept database {name} (its keys and shape in {work}; --reuse {name})")
        else:
            await drop_database(opts.pg_url, name)
            say(f"dropped database {name}")


def _save_shape(shape: Shape, path: Path) -> None:
    """Keep what was seeded for --reuse, less the tracking codes (never written to disk);
    plain data, so that it loads whichever way this module was run."""
    fields = {k: v for k, v in vars(shape).items() if k not in ("codes", "group")}
    group = vars(shape.group) if shape.group else None
    path.write_bytes(pickle.dumps({"shape": fields, "group": group}))


def _load_shape(path: Path) -> Shape:
    """What :func:`_save_shape` kept."""
    kept = pickle.loads(path.read_bytes())
    group = Group(**kept["group"]) if kept["group"] else None
    return Shape(**kept["shape"], group=group)


def _kept_dir(name: str) -> Path:
    """Where a kept PostgreSQL database's keyring and seeded shape stay (for --reuse)."""
    return Path(tempfile.gettempdir()) / f"xf-scale-{name}"


@asynccontextmanager
async def _work_dir(opts: argparse.Namespace) -> AsyncIterator[Path]:
    """A temporary directory, or the kept database's directory (--keep, --reuse)."""
    if opts.backend == "postgres" and (opts.keep or opts.reuse):
        work = _kept_dir(opts.reuse or opts.db_name)
        if opts.reuse and not (work / "shape.pickle").exists():
            raise SystemExit(f"--reuse: nothing kept in {work} (seed with --keep first)")
        work.mkdir(mode=0o700, parents=True, exist_ok=True)
        yield work
        return
    with tempfile.TemporaryDirectory(prefix="xf-scale-") as tmp:
        yield Path(tmp)


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Seed (or reuse a kept database), measure, report."""
    if opts.cases is None:
        opts.cases = 1_000_000 if opts.backend == "postgres" else 100_000
    opts.db_name = f"xf_bench_{uuid.uuid4().hex[:10]}"
    async with _work_dir(opts) as work, database(opts, work) as (url, dsn):
        if opts.reuse:
            keyring_file = work / "keys" / "keyring.json"
        else:
            keyring_file = create_keys(
                work / "keys" / "keyring.json", work / "custodian.pem"
            ).keyring_file
        env = {
            "XINFANG_DATA_DIR": str(work / "data"),
            "XINFANG_DATABASE_URL": url,
            "XINFANG_KEYRING_FILE": str(keyring_file),
            "TELEGRAM_BOT_TOKEN": "123:BENCH",
            "TELEGRAM_ADMIN_CHAT_ID": "-1001",
        }
        clock = Clock(NOW)
        keyring = Keyring.load(keyring_file)
        container = await build_container(load_settings(env), keyring=keyring, clock=clock)
        try:
            if opts.reuse:
                # The seeding's shape, less the tracking codes (never written to disk).
                shape = _load_shape(work / "shape.pickle")
                say(f"reusing database {opts.reuse}: {shape.cases:,} cases")
            else:
                say(f"seeding {opts.cases:,} cases on {opts.backend}")
                shape = await seed(container, opts, dsn)
                say(f"seeded in {shape.seconds:,.1f} s")
                if opts.keep and dsn:
                    _save_shape(shape, work / "shape.pickle")
            async with container.uow() as uow:
                count = (
                    await uow.session.execute(select(func.count()).select_from(CaseRow))
                ).scalar_one()
            assert count == shape.cases, (count, shape.cases)
            phases = set(opts.phases.split(","))
            figures = await measure(container, shape, opts.runs, clock, phases)
        finally:
            await container.close()
        data = report(opts, shape, figures)
    if opts.json:
        Path(opts.json).write_text(json.dumps(data, indent=2, default=str))  # noqa: ASYNC240
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Example: .venv/bin/python -m bench.data_scale --backend postgres --cases 300000",
    )
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument(
        "--cases", type=int, help="cases to seed (default 1,000,000 on postgres, 100,000 sqlite)"
    )
    p.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server's maintenance database")
    p.add_argument("--runs", type=int, default=3, help="times each figure is measured")
    p.add_argument("--officers", type=int, default=50)
    p.add_argument("--units", type=int, default=200)
    p.add_argument("--seed", type=int, default=1, help="random seed of the data")
    p.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument(
        "--reuse",
        metavar="NAME",
        help="measure a database kept by --keep (PostgreSQL) instead of seeding one",
    )
    p.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated phases to measure (default all: {','.join(PHASES)})",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    opts = _parser().parse_args(argv)
    if opts.backend == "postgres" and opts.officers < 6:
        raise SystemExit("--officers must be at least 6 (3 leaders, 2 discipline, officers)")
    asyncio.run(run(opts))


if __name__ == "__main__":
    main()
