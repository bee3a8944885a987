"""What the scheduler does for one case, or for the daily digest, in one unit of work.

Which notices are due is decided by :mod:`petitions.schedule` (pure). Here each due
notice is claimed in the notices table and its message queued in the outbox in the same
transaction: a notice is sent exactly once however often (or late) passes run.

督办 (docs/ladder.md): a step's overdue alert goes to the leaders one level above the office
of the step (the handling unit's, or the unit deciding a 复查 / 复核); each 督办 deadline that
passes with the case still at the step sends it one level higher (``supervision_level``
records how high it went). A late report of a 交办 alerts the assigning unit's chats.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from handlers.feedback import FOLLOW_UP, open_question
from handlers.notify import (
    queue_admins,
    queue_employee,
    queue_routes,
    queue_unit_leaders,
    status_payload,
)
from handlers.ports import CaseFilter, UnitOfWork
from handlers.services import Services
from handlers.supervision import queue_unit_admins
from handlers.unit_chats import AdminRoute, digest_routes
from petitions.case import Case
from petitions.deadlines import OFFICE_DEADLINE_STATES, is_overdue, step_level, step_unit_id
from petitions.lifecycle import Action, Fields, apply
from petitions.roles import Role
from petitions.schedule import (
    AUTO_CLOSE,
    OVERDUE,
    REPORT_OVERDUE,
    SUPERVISION_OVERDUE,
    Notice,
    digest_key,
    due_notices,
    next_notice_at,
)
from petitions.schedule import (
    FOLLOW_UP as FOLLOW_UP_NOTICE,
)

__all__ = ["DIGEST", "owner_label", "process_case", "send_digest"]

DIGEST = "digest"


async def owner_label(uow: UnitOfWork, case: Case) -> str | None:
    """The case's owner as staff know it: the officer's name (and unit), or the unit; at a
    复查 or 复核 step, the office of the unit deciding it (not the examined unit)."""
    unit = case.unit_name
    if step_level(case.state) and case.review_unit_name:
        unit = case.review_unit_name
    if case.owner_officer_id is not None:
        officer = await uow.officers.get(case.owner_officer_id)
        if officer is not None:
            return f"{officer.name}（{unit}）" if unit else officer.name
    return unit


async def process_case(
    uow: UnitOfWork, services: Services, case_id: int, now: datetime
) -> list[str]:
    """Send what is due for one case and store when the scheduler must look at it next;
    return the kinds of the notices sent now."""
    case = await uow.cases.get(case_id, for_update=True)
    if case is None or case.id is None:
        return []
    policy, schedule = services.config.policy, services.config.schedule
    done: list[str] = []
    notices = due_notices(case, policy, schedule, now)
    if notices:
        scope = f"case:{case.id}"
        sent = await uow.notices.sent(scope)
        for notice in notices:
            if (notice.kind, notice.key_text) in sent:
                continue
            if not await uow.notices.claim(scope, notice.kind, notice.key_text, now, case.id):
                continue  # another pass got there first
            await _act(uow, services, case, notice, now)
            done.append(notice.kind)
    # Everything due by now is sent (or was before), in this transaction: the next look is
    # when something new falls due, for the case as it is now (an automatic close moved it).
    await uow.cases.set_next_notice_at(case.id, next_notice_at(case, policy, schedule, now))
    return done


async def _act(
    uow: UnitOfWork, services: Services, case: Case, notice: Notice, now: datetime
) -> None:
    assert case.id is not None
    cfg = services.config
    if notice.is_reminder or notice.kind in (OVERDUE, SUPERVISION_OVERDUE):
        alert: dict[str, Any] = {
            "state": case.state.value,
            "deadline": case.deadline_at.isoformat() if case.deadline_at else None,
            "owner": await owner_label(uow, case),
        }
        if notice.is_reminder:
            alert["point"] = notice.point
            # The reminder goes to the office that must meet the step's deadline: at 复查
            # and 复核 the deciding unit's chats, not the examined unit's.
            await queue_admins(
                uow, cfg, case.id, "reminder", alert, now, case=case, unit_id=step_unit_id(case)
            )
        else:
            await _alert_above(uow, services, case, notice, alert, now)
        return
    if notice.kind == REPORT_OVERDUE:
        # To the unit that asked for the report (and those covering it), not the late one.
        late: dict[str, Any] = {"unit": case.unit_name, "due": notice.key_text}
        await queue_unit_admins(
            uow, cfg, case.assigned_by_unit_id, case.id, "report_overdue", late, now
        )
        return
    if notice.kind == AUTO_CLOSE:
        record = apply(case, Action.CLOSE, Role.SYSTEM, Fields(), now, cfg.policy)
        await uow.cases.save(case)
        await uow.cases.add_event(
            case.id,
            "transition",
            now,
            Role.SYSTEM,
            from_state=record.from_state,
            to_state=record.to_state,
        )
        await uow.audit.add(now, Role.SYSTEM, "case.close", case_id=case.id, detail={"auto": True})
        payload = {**status_payload(case, record), "auto": True}
        await queue_employee(uow, case, "status", payload, now)
        return
    if notice.kind == FOLLOW_UP_NOTICE:
        token = await open_question(uow, case, FOLLOW_UP, now)
        await uow.audit.add(now, Role.SYSTEM, "case.follow_up_asked", case_id=case.id)
        await queue_employee(uow, case, "follow_up", {"number": case.number, "token": token}, now)


async def _alert_above(
    uow: UnitOfWork,
    services: Services,
    case: Case,
    notice: Notice,
    alert: dict[str, Any],
    now: datetime,
) -> None:
    """The overdue alert (to the leaders one level above the office of the step) or its
    climb when a 督办 deadline passed (one level higher than it reached); the level is
    recorded on the case."""
    assert case.id is not None
    if notice.kind == OVERDUE:
        level, kind = max(case.supervision_level, 1), "overdue"
    else:
        level, kind = case.supervision_level + 1, SUPERVISION_OVERDUE
        alert["until"] = notice.key_text
    # Counted from the handling unit: the office of a 复查 is one level above it, of a 复核 two.
    levels_up = step_level(case.state) + level
    await queue_unit_leaders(
        uow, services.config, case, kind, {**alert, "level": level}, now, levels_up=levels_up
    )
    if level != case.supervision_level:
        case.supervision_level = level
        await uow.cases.save(case)


async def send_digest(uow: UnitOfWork, services: Services, now: datetime) -> bool:
    """Queue today's digest of cases due soon (and overdue) once per admin chat, each
    listing the cases its unit covers; True if any was queued.

    The root's chats (and every chat of a deployment without units) share the claim
    ``all``; a unit's chats share ``unit:<id>``: each chat gets its digest exactly once.
    """
    cfg = services.config
    day = digest_key(now, cfg.schedule)
    if day is None:
        return False
    tree = await uow.units.tree()
    groups: dict[int | None, list[AdminRoute]] = {
        None: [AdminRoute(channel, None) for channel in cfg.admin_channels]
    }
    if len(tree):
        officers = await uow.officers.list() if "wecom" in cfg.admin_channels else ()
        groups = digest_routes(cfg, tree, officers)
    queued = False
    for unit_id, routes in groups.items():
        claim = "all" if unit_id is None else f"unit:{unit_id}"
        if not await uow.notices.claim(claim, DIGEST, day.isoformat(), now):
            continue
        scope = None if unit_id is None else tree.subtree(unit_id)
        payload = await _digest(uow, services, now, day.isoformat(), scope)
        if payload is None:
            continue  # nothing due: no message, and the day is marked done
        await queue_routes(uow, routes, None, DIGEST, payload, now)
        queued = True
    return queued


async def _digest(
    uow: UnitOfWork,
    services: Services,
    now: datetime,
    day: str,
    scope: frozenset[int] | None,
) -> dict[str, Any] | None:
    """The digest of the cases of ``scope`` (None: all), or None when nothing is due."""
    horizon = now + timedelta(days=services.config.policy.digest_window_days)
    # A unit's chat is read by its petition officers: the cases 纪检 handles are listed in
    # the root's digest only (handlers/notify.py keeps their cards there too).
    flt = CaseFilter(
        states=OFFICE_DEADLINE_STATES,
        overdue_at=horizon,
        limit=200,
        scope=scope,
        discipline=None if scope is None else False,
    )
    items: list[dict[str, Any]] = []
    overdue = 0
    for case in await uow.cases.list(flt):
        late = is_overdue(case, now)
        overdue += late
        items.append(
            {
                "number": case.number,
                "state": case.state.value,
                "deadline": case.deadline_at.isoformat() if case.deadline_at else None,
                "owner": await owner_label(uow, case),
                "overdue": late,
            }
        )
    if not items:
        return None
    payload: dict[str, Any] = {
        "date": day,
        "items": items,
        "overdue": overdue,
        "due_soon": len(items) - overdue,
    }
    # The audit chain's head goes outside the database with the digest, so a later edit or
    # a cut tail shows (`xinfang audit verify --head ID:HASH`); the same form as
    # storage.audit_chain.short_head.
    head = await uow.audit.last()
    if head is not None:
        payload["audit_head"] = f"{head[0]}:{head[1][:16]}"
    return payload
