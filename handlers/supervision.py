"""督办, 交办 and 上报: the offices' acts that change no state (petitions.lifecycle.OFFICE_ACTS).

One function per use case (DESIGN.md §8), reached through handlers.acts.perform_act and
preview_act after their checks (role, state, unit, fields, the 交办's destination):

- :func:`supervise` (督办): a leader above the office of the current step records an
  instruction with a working deadline for that office. The instruction is staff's (a case
  message like a note, never in the audit log, never pushed); the employee learns only
  that a unit above supervises the case. The statutory deadline does not move.
- :func:`assign_down` (交办): an office sends a case down to a unit inside its subtree with
  its requirements and a report-back deadline; the employee learns which unit handles it.
- :func:`report_back` (上报办理情况): the lower office reports; the assigning unit's chats
  (which cover the lower unit's) get the report.

The scheduler's alerts when their deadlines pass are handlers/scheduling.py's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from handlers.inbound import Reply
from handlers.notify import queue_admins, queue_employee, queue_routes
from handlers.ports import Officer, UnitOfWork
from handlers.services import HandlerConfig
from handlers.turn import Turn
from handlers.unit_chats import AdminRoute, admin_routes
from handlers.views import admin_case_card, render_employee
from petitions.case import Case
from petitions.deadlines import OFFICE_ZONE
from petitions.lifecycle import Action, Fields, apply

__all__ = [
    "assign_down",
    "office_act_summary",
    "perform_office_act",
    "preview_office_act",
    "queue_unit_admins",
    "report_back",
    "supervise",
]


def _date(value: datetime | None) -> str:
    # As handlers/views.py shows dates: the office's local date.
    return "—" if value is None else value.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d")


async def perform_office_act(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> list[Reply]:
    """Apply a 督办, 交办 or 上报 already checked by handlers.acts.perform_act; confirm it
    with the case's next acts as buttons."""
    if action is Action.SUPERVISE:
        text = await supervise(turn, officer, case, fields)
    elif action is Action.ASSIGN_DOWN:
        text = await assign_down(turn, officer, case, fields)
    else:
        text = await report_back(turn, officer, case, fields)
    if turn.step.startswith("officer."):
        await turn.end()
    next_steps = admin_case_card(turn.t, case, (), turn.now).buttons
    return [Reply(text, next_steps, case_id=case.id)]


async def _apply(turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields) -> str:
    """Apply the domain rule and save; return the acting office's unit, by name."""
    apply(case, action, officer.role, fields, turn.now, turn.services.config.policy)
    tree = await turn.uow.units.tree()
    if action is Action.ASSIGN_DOWN:
        case.assigned_by_unit_id = officer.unit_id
        case.assigned_by_unit_name = tree.path_name(officer.unit_id) or None
        if fields.unit_id is not None:
            case.unit_name = fields.destination  # for the card and push below (a path name)
    await turn.uow.cases.save(case)
    return tree.path_name(officer.unit_id)


async def supervise(turn: Turn, officer: Officer, case: Case, fields: Fields) -> str:
    """督办: record the instruction and the office's working deadline, tell the handling
    office's chats and the employee (that it is supervised, nothing more)."""
    assert case.id is not None and fields.instruction and fields.days
    uow, now = turn.uow, turn.now
    by = await _apply(turn, officer, case, Action.SUPERVISE, fields)
    until = case.supervised_until.isoformat() if case.supervised_until else None
    await uow.cases.add_message(case.id, "supervision", fields.instruction, now, officer.id)
    await uow.cases.add_event(
        case.id,
        "supervised",
        now,
        officer.role,
        actor_officer_id=officer.id,
        detail={"until": until, "days": fields.days, "by": by},
    )
    # The audit log keeps the decision (days, the working deadline), never the instruction.
    await uow.audit.add(
        now,
        officer.role,
        "case.supervise",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"days": fields.days, "until": until, "count": case.supervision_count},
    )
    notice = {"text": fields.instruction, "until": until, "by": by}
    await queue_admins(uow, turn.services.config, case.id, "supervised", notice, now, case=case)
    await queue_employee(uow, case, "supervised", {"number": case.number}, now)
    return turn.t("officer.supervised", number=case.number, date=_date(case.supervised_until))


async def assign_down(turn: Turn, officer: Officer, case: Case, fields: Fields) -> str:
    """交办: move the case to a unit below, with the requirements (staff's) and the report's
    deadline; the receiving office's chats get the card, the employee the unit's name."""
    assert case.id is not None and fields.reason and fields.days
    uow, now, cfg = turn.uow, turn.now, turn.services.config
    by = await _apply(turn, officer, case, Action.ASSIGN_DOWN, fields)
    unit = case.unit_name or fields.destination
    due = case.report_due_at.isoformat() if case.report_due_at else None
    await uow.cases.add_message(case.id, "assignment", fields.reason, now, officer.id)
    await uow.cases.add_event(
        case.id,
        "assigned_down",
        now,
        officer.role,
        actor_officer_id=officer.id,
        detail={"unit": unit, "days": fields.days, "by": by},
    )
    await uow.audit.add(
        now,
        officer.role,
        "case.assign_down",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"unit_id": fields.unit_id, "days": fields.days, "report_due": due},
    )
    # The chats covering the new unit (the lower office's and those above, the assigning
    # unit's among them): the requirements, then the card to act from.
    notice = {"text": fields.reason, "unit": unit, "by": by, "due": due}
    await queue_admins(uow, cfg, case.id, "assigned_down", notice, now, case=case)
    await queue_admins(uow, cfg, case.id, "case_card", {}, now, case=case)
    await queue_employee(uow, case, "assigned_down", {"number": case.number, "unit": unit}, now)
    return turn.t(
        "officer.assigned_down",
        number=case.number,
        unit=unit or "—",
        date=_date(case.report_due_at),
    )


async def report_back(turn: Turn, officer: Officer, case: Case, fields: Fields) -> str:
    """上报办理情况: record the report and send it to the chats covering the case, the
    assigning unit's among them; no report is owed any more."""
    assert case.id is not None and fields.report
    uow, now = turn.uow, turn.now
    by = await _apply(turn, officer, case, Action.REPORT, fields)
    await uow.cases.add_message(case.id, "report", fields.report, now, officer.id)
    await uow.cases.add_event(
        case.id, "reported", now, officer.role, actor_officer_id=officer.id, detail={"by": by}
    )
    await uow.audit.add(
        now, officer.role, "case.report", actor_officer_id=officer.id, case_id=case.id
    )
    notice = {"text": fields.report, "by": by, "to": case.assigned_by_unit_name}
    await queue_admins(uow, turn.services.config, case.id, "reported", notice, now, case=case)
    return turn.t("officer.reported", number=case.number, unit=case.assigned_by_unit_name or "—")


async def preview_office_act(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> str:
    """What the employee would receive for the act (nothing, for a 上报); nothing changes.
    Raises what :func:`perform_office_act` would."""
    probe = replace(case)
    apply(probe, action, officer.role, fields, turn.now, turn.services.config.policy)
    payload: dict[str, Any] = {"locale": case.locale, "number": case.number}
    if action is Action.SUPERVISE:
        return render_employee(turn.services.t, "supervised", payload).text
    if action is Action.ASSIGN_DOWN:
        payload["unit"] = fields.destination
        return render_employee(turn.services.t, "assigned_down", payload).text
    return turn.t("form.no_employee_push")


def office_act_summary(turn: Turn, case: Case, action: Action, fields: Fields) -> str:
    """What staff decide in the act, for the preview (the employee's part is shown apart):
    the working or report deadline and the text that goes to the office."""
    t, policy = turn.t, turn.services.config.policy
    days = fields.days or 0
    if action is Action.SUPERVISE:
        until = policy.add_days(turn.now, days)
        return t("form.summary_supervise", date=_date(until), text=fields.instruction or "")
    if action is Action.ASSIGN_DOWN:
        due = policy.add_days(turn.now, days)
        unit = fields.destination or "—"
        return t("form.summary_assign", unit=unit, date=_date(due), text=fields.reason or "")
    return t("form.summary_report", text=fields.report or "")


async def queue_unit_admins(
    uow: UnitOfWork,
    config: HandlerConfig,
    unit_id: int | None,
    case_id: int,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a message about a case to the admin chats covering ``unit_id`` (not the case's
    own unit): a late report to the unit that asked for it. Without units' chats, to every
    channel's admin chat."""
    routes = [AdminRoute(channel, None) for channel in config.admin_channels]
    if config.unit_chats:
        routes = admin_routes(config, await uow.units.tree(), unit_id)
    await queue_routes(uow, routes, case_id, kind, payload, now)
