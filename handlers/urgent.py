"""Urgent petitions (四早, issue 16 item 4; docs/early-warning.md): a danger sign in the text
at submission (petitions/warnings/urgent.py) marks the case 紧急, shortens the deadline to
accept it, raises its priority and alerts the on-duty leaders in the transaction that
stores it; a self-harm sign also gives the employee the deployment's hotlines at once.

What leaves here names the kinds of sign (人身安全 / 群体性行动 / 自伤风险), never the words
that matched, and nothing about a match is logged: the audit entry holds the kinds only.
The leaders' alert shows the case number, the unit, the kinds and the petition's opening
masked by the self-identification detector (handlers.warnings.matter_of), never identity;
for a case 纪检 handles it shows no text at all, and goes to the root's leaders only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from handlers.inbound import Button, Reply
from handlers.notify import queue_on_duty_leaders
from handlers.payloads import CaseButton, encode
from handlers.ports import Officer, UnitOfWork
from handlers.services import HandlerConfig
from handlers.turn import Turn
from handlers.warnings import matter_of
from i18n import N_
from petitions.case import Case
from petitions.deadlines import OFFICE_ZONE, deadline_for
from petitions.errors import NotPermitted
from petitions.retention import destroyed_at
from petitions.roles import Role
from petitions.warnings.urgent import GROUP_ACTION, LIFE_SAFETY, SELF_HARM, DangerSign, check

__all__ = [
    "URGENT_ALERT",
    "URGENT_KIND",
    "URGENT_PRIORITY",
    "clear_urgent",
    "hotline_text",
    "may_clear_urgent",
    "kinds_of",
    "kinds_text",
    "mark_urgent",
    "render_urgent_alert",
    "urgent_line",
    "urgent_submitted",
]

URGENT_ALERT = "urgent"  # outbox kind of the leaders' alert (rendered by render_urgent_alert)
# Above every ordinary case (0) and beside a retaliation report (handlers/feedback.py).
URGENT_PRIORITY = 2
URGENT_KIND: dict[str, str] = {
    LIFE_SAFETY: N_("urgent.kind.life_safety"),
    GROUP_ACTION: N_("urgent.kind.group_action"),
    SELF_HARM: N_("urgent.kind.self_harm"),
}

T = Callable[..., str]


def mark_urgent(case: Case, signs: Sequence[DangerSign]) -> list[str]:
    """Check the description for danger signs; on any, mark the case urgent (its kinds,
    sorted) and raise its priority. Call before the deadline is computed. Returns the kinds."""
    kinds = sorted({m.kind for m in check(case.description, signs)})
    if kinds:
        case.urgent = ",".join(kinds)
        case.priority = max(case.priority, URGENT_PRIORITY)
    return kinds


def kinds_of(urgent: str | None) -> list[str]:
    """The known kinds of a case's ``urgent`` value, in stored order."""
    return [k for k in (urgent or "").split(",") if k in URGENT_KIND]


def kinds_text(t: T, urgent: str | Sequence[str] | None) -> str:
    """The kinds as people read them: 人身安全、自伤风险."""
    kinds = kinds_of(urgent) if urgent is None or isinstance(urgent, str) else list(urgent)
    return "、".join(t(URGENT_KIND[k]) for k in kinds if k in URGENT_KIND)


def urgent_line(t: T, case: Case) -> str | None:
    """The card's 紧急 line, or None for a case that is not urgent."""
    if not case.urgent:
        return None
    return t("admin.urgent_line", kinds=kinds_text(t, case.urgent))


def may_clear_urgent(officer: Officer, case: Case) -> bool:
    """Whether this member of staff may take the 紧急 mark off: the leaders who were alerted
    (纪检 for the cases it handles), on a case still open."""
    lead = Role.DISCIPLINE if case.handled_by_discipline else Role.LEADER
    return officer.role is lead and not case.state.is_terminal


async def clear_urgent(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    """解除紧急: a danger sign that was not one (keyword signs catch look-alikes). The case
    gets the ordinary deadline of its stage again and its ordinary priority; audited with
    the kinds it had. Only what :func:`may_clear_urgent` allows."""
    if not may_clear_urgent(officer, case):
        raise NotPermitted(action="clear_urgent", role=officer.role.value)
    if not case.urgent:
        return [Reply(turn.t("urgent.not_marked", number=case.number), case_id=case.id)]
    assert case.id is not None
    kinds = kinds_of(case.urgent)
    case.urgent = None
    if case.priority == URGENT_PRIORITY:
        case.priority = 0
    case.deadline_at = deadline_for(case, turn.services.config.policy)
    case.updated_at = turn.now
    await turn.uow.cases.save(case)
    await turn.uow.cases.add_event(
        case.id, "urgent_cleared", turn.now, officer.role, actor_officer_id=officer.id
    )
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        "case.urgent_cleared",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"kinds": kinds},
    )
    deadline = _date(case.deadline_at) if case.deadline_at else "—"
    text = turn.t("urgent.cleared", number=case.number, deadline=deadline)
    return [Reply(text, case_id=case.id)]


async def urgent_submitted(
    uow: UnitOfWork, config: HandlerConfig, case: Case, now: datetime
) -> None:
    """Audit an urgent submission (kinds only) and queue the on-duty leaders' alert, in the
    caller's transaction: it goes out in the next delivery pass."""
    kinds = kinds_of(case.urgent)
    if not kinds:
        return
    await uow.audit.add(
        now, Role.EMPLOYEE, "case.urgent", case_id=case.id, detail={"kinds": kinds}
    )
    await queue_on_duty_leaders(uow, config, case, URGENT_ALERT, {"kinds": kinds}, now)


def hotline_text(t: T, hotlines: Sequence[tuple[str, str]]) -> str:
    """The kind words and numbers an employee who wrote of self-harm is given at once: the
    deployment's hotlines (XINFANG_HOTLINES), and 110 / 120 for an emergency."""
    if not hotlines:
        return t("urgent.hotlines_none")
    lines = "\n".join(
        t("urgent.hotline_line", name=name, number=number) for name, number in hotlines
    )
    return t("urgent.hotlines", lines=lines)


def _date(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d")
    return "—"


def render_urgent_alert(tr: T, case: Case, payload: Mapping[str, Any]) -> Reply:
    """The leaders' alert: number, unit, kinds, deadline to accept and, unless 纪检 handles
    the case or its content was destroyed, its masked opening; never identity."""
    raw = payload.get("kinds")
    kinds = [str(k) for k in raw] if isinstance(raw, list) else kinds_of(case.urgent)
    lines = [
        tr(
            "admin.urgent_alert",
            number=case.number or "—",
            kinds=kinds_text(tr, kinds),
            unit=case.unit_name or "—",
            deadline=_date(case.deadline_at),
        )
    ]
    if not case.handled_by_discipline and destroyed_at(case.description) is None:
        lines.append(tr("admin.urgent_opening", text=matter_of(case.description)))
    view = Button(tr("button.o.view"), encode(CaseButton("view", case.id or 0)))
    return Reply("\n".join(lines), ((view,),), case_id=case.id)
