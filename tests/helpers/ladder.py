"""The ladder walked end to end (issue 13): one group, one table of steps, shared by the
Telegram, WeCom and web tests (tests/e2e/test_ladder_*.py).

The group is 集团 JT → 甲能源公司 JT-A → 甲一厂 JT-A-1, with a petition officer at the plant
and at the company, and a leader at the company and at the root. A petition at the plant is
answered by the plant, its 复查 decided by the company, its 复核 by the group; then the
matter is final (三级终结). Each channel test performs the steps of :data:`LADDER` through
its own interface (commands in the officers' chats, or the case page's forms) and checks
what the employee is shown after each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.container import Container
from bot.scheduler import PassResult, Scheduler
from petitions.case import Case
from petitions.lifecycle import Action
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.clock import FakeClock
from tests.helpers.flow import load_case

__all__ = [
    "ANSWER_TEXT",
    "COMPANY",
    "DESCRIPTION",
    "FINAL",
    "INSTRUCTION",
    "LADDER",
    "PLANT_REFUSED",
    "PLANT",
    "RECHECK_REASON",
    "REVIEW_REASON",
    "ROOT",
    "STAFF",
    "SUPERVISE",
    "SUPERVISE_DAYS",
    "Group",
    "Member",
    "Step",
    "by_number",
    "command",
    "form",
    "past",
    "scheduler_pass",
    "seed_group",
    "until_state",
    "zh",
]

ROOT, COMPANY, PLANT = "JT", "JT-A", "JT-A-1"
UNITS = ((ROOT, "集团", None), (COMPANY, "甲能源公司", ROOT), (PLANT, "甲一厂", COMPANY))

DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，要求补发。"
ANSWER_TEXT = "加班费已按制度核算，差额已说明。"
REVIEW_REASON = "加班记录漏了两周。"
RECHECK_REASON = "复查没有核对考勤原始记录。"
INSTRUCTION = "请五日内作出复核意见。"
SUPERVISE_DAYS = 5
# 三级终结, as the employee must read it: the channel has ended, the legal ones named.
FINAL = (
    "本事项已经复查、复核，信访程序终结（三级终结）；如仍有异议，可依法通过"
    "劳动人事争议仲裁、人民法院诉讼或向纪检监察机关反映等途径解决。"
)


@dataclass(frozen=True)
class Member:
    """A member of staff of the group: who they are in the table, their unit and role."""

    key: str  # plant | company | company_leader | root_leader
    unit: str  # the unit's code
    role: Role
    name: str


# In this order on a fresh database (the web test names the root leader's officer id in its
# settings before the officers exist: tests/e2e/test_ladder_web.py).
STAFF = (
    Member("plant", PLANT, Role.OFFICER, "一厂专员"),
    Member("company", COMPANY, Role.OFFICER, "甲能源专员"),
    Member("company_leader", COMPANY, Role.LEADER, "甲能源领导"),
    Member("root_leader", ROOT, Role.LEADER, "集团领导"),
)


@dataclass(frozen=True)
class Step:
    """One officer's act of the ladder: who does it, as a command and as a web form, and
    the state the case is in before and after."""

    actor: str  # a Member.key
    action: Action
    before: CaseState
    after: CaseState
    args: str = ""  # after the case number, as typed in a chat
    fields: Mapping[str, str] = field(default_factory=dict)  # the case page's form


_COMMANDS = {
    Action.ACCEPT: "accept",
    Action.START: "begin",
    Action.RESPOND: "respond",
    Action.START_REVIEW: "reviewstart",
    Action.COMPLETE_REVIEW: "reviewdone",
    Action.START_RECHECK: "recheckstart",
    Action.COMPLETE_RECHECK: "recheckdone",
    Action.SUPERVISE: "supervise",
}

S = CaseState
# The ladder by phase: the plant answers, the company decides the 复查, the group the 复核.
LADDER: dict[str, tuple[Step, ...]] = {
    "answer": (
        Step("plant", Action.ACCEPT, S.REGISTERED, S.ACCEPTED),
        Step("plant", Action.START, S.ACCEPTED, S.IN_PROGRESS),
        Step(
            "plant",
            Action.RESPOND,
            S.IN_PROGRESS,
            S.RESPONDED,
            f"解释说明 {ANSWER_TEXT}",
            {"outcome": "解释说明", "text": ANSWER_TEXT},
        ),
    ),
    "review": (
        Step("company", Action.START_REVIEW, S.REVIEW_REQUESTED, S.REVIEWING),
        Step(
            "company",
            Action.COMPLETE_REVIEW,
            S.REVIEWING,
            S.REVIEWED,
            "不予支持 经复查，原答复正确。",
            {"outcome": "不予支持", "text": "经复查，原答复正确。"},
        ),
    ),
    "recheck": (
        Step("root_leader", Action.START_RECHECK, S.RECHECK_REQUESTED, S.RECHECKING),
        Step(
            "root_leader",
            Action.COMPLETE_RECHECK,
            S.RECHECKING,
            S.FINALIZED,
            "不予支持 经复核，维持复查意见。",
            {"outcome": "不予支持", "text": "经复核，维持复查意见。"},
        ),
    ),
}
# 督办 by the group's leader of a late 复核 request: the state does not change.
SUPERVISE = Step(
    "root_leader",
    Action.SUPERVISE,
    S.RECHECK_REQUESTED,
    S.RECHECK_REQUESTED,
    f"{SUPERVISE_DAYS} {INSTRUCTION}",
    {"days": str(SUPERVISE_DAYS), "instruction": INSTRUCTION},
)
# What the plant's office tries in vain at each state of the 复查 (its own answer is what
# is examined): refused as not permitted, the case unchanged.
PLANT_REFUSED = {
    S.REVIEW_REQUESTED: Step("plant", Action.START_REVIEW, S.REVIEW_REQUESTED, S.REVIEW_REQUESTED),
    S.REVIEWING: Step(
        "plant",
        Action.COMPLETE_REVIEW,
        S.REVIEWING,
        S.REVIEWING,
        "支持 应补发",
        {"outcome": "支持", "text": "应补发"},
    ),
}


def command(step: Step, number: str) -> str:
    """The step typed as an officer's command."""
    return f"/{_COMMANDS[step.action]} {number} {step.args}".rstrip()


def form(step: Step) -> dict[str, Any]:
    """The step as the case page posts it (``/api/officer/cases/{id}/act``)."""
    return {"action": step.action.value, "fields": dict(step.fields), "state": step.before.value}


@dataclass(frozen=True)
class Group:
    """The seeded group: unit ids by code, officer ids by Member.key."""

    units: dict[str, int]
    officers: dict[str, int]


async def seed_group(
    container: Container, accounts: Mapping[str, Mapping[str, str]] | None = None
) -> Group:
    """Create the units and the staff of :data:`STAFF`; ``accounts`` gives each member's
    chat accounts by Member.key (channel → account id)."""
    now = container.services.clock()
    units: dict[str, int] = {}
    officers: dict[str, int] = {}
    async with container.uow() as uow:
        for code, name, parent in UNITS:
            unit = await uow.units.add(code, name, units[parent] if parent else None, now)
            units[code] = unit.id
        for member in STAFF:
            officer = await uow.officers.add(
                member.name,
                member.role,
                now,
                unit_id=units[member.unit],
                accounts=dict((accounts or {}).get(member.key, {})),
            )
            officers[member.key] = officer.id
        await uow.commit()
    return Group(units, officers)


def zh(container: Container, key: str, **params: Any) -> str:
    """A zh_CN catalog text."""
    return container.translator.t(key, "zh_CN", **params)


async def by_number(container: Container, number: str) -> Case:
    """The case of this number, read afresh."""
    async with container.uow() as uow:
        found = await uow.cases.by_number(number)
    assert found is not None and found.id is not None
    return await load_case(container, found.id)


async def scheduler_pass(container: Container, clock: FakeClock) -> PassResult:
    """One scheduler pass at the clock's time: reminders, overdue alerts, digests."""
    return await Scheduler(container.uow, container.services, clock).run_once(clock())


def past(deadline: datetime | None) -> datetime:
    """A minute after a deadline."""
    assert deadline is not None
    return deadline + timedelta(minutes=1)


async def until_state(
    container: Container, number: str, state: CaseState, wait: float = 10.0
) -> Case:
    """Wait until the case is in this state (acts arrive through a channel); the case."""
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while (case := await by_number(container, number)).state is not state:
        if loop.time() > end:
            raise AssertionError(f"case in {case.state}, not {state}")
        await asyncio.sleep(0.02)
    return case
