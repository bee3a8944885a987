"""Outbox writers: every change that concerns someone not in this chat queues a message
in the same transaction as the change (DESIGN.md §6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handlers.ports import OutboxMessage, UnitOfWork
from handlers.services import HandlerConfig
from handlers.turn import Turn
from handlers.unit_chats import AdminRoute, admin_routes, leaders_targets
from petitions.case import Case
from petitions.lifecycle import TransitionRecord
from petitions.states import LADDER_STATES

__all__ = [
    "notify_admins",
    "notify_employee",
    "queue_admins",
    "queue_employee",
    "queue_leaders",
    "queue_on_duty_leaders",
    "queue_routes",
    "queue_unit_leaders",
    "status_payload",
]


def status_payload(case: Case, record: TransitionRecord) -> dict[str, Any]:
    """What the employee is told about a transition (no officer names, no identities)."""
    f = record.fields
    payload: dict[str, Any] = {
        "number": case.number,
        "state": record.to_state.value,
        "deadline": case.deadline_at.isoformat() if case.deadline_at else None,
    }
    if f.reason:
        payload["reason"] = f.reason
    if f.redirect:
        payload["redirect"] = f.redirect.value
    if f.destination:
        payload["unit"] = f.destination
    if f.extension_days:
        payload["days"] = f.extension_days
    if f.outcome:
        payload["outcome"] = f.outcome.value
    if f.text:
        payload["text"] = f.text
    if record.to_state in LADDER_STATES and case.review_unit_name:
        # Each step of the ladder names the unit deciding it, never an officer.
        payload["review_unit"] = case.review_unit_name
    return payload


async def queue_employee(
    uow: UnitOfWork, case: Case, kind: str, payload: dict[str, Any], now: datetime
) -> None:
    """Queue a message to the employee of a case, on their channel, in their language."""
    if case.id is None:
        raise ValueError("case has no id")
    await uow.outbox.add(
        OutboxMessage(
            audience="employee",
            channel=case.channel,
            kind=kind,
            payload={"locale": case.locale, **payload},
            created_at=now,
            case_id=case.id,
        )
    )


async def queue_admins(
    uow: UnitOfWork,
    config: HandlerConfig,
    case_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    case: Case | None = None,
    unit_id: int | None = None,
) -> None:
    """Queue a message to the admin chats that cover the case's unit (handlers/unit_chats.py),
    or ``unit_id`` when given (a unit above the case's: a review step's deciding unit);
    without units' chats configured, to every channel's admin chat. ``case`` spares a read."""
    route_unit = unit_id
    routes = [AdminRoute(channel, None) for channel in config.admin_channels]
    if config.unit_chats:
        if case_id is not None and (case is None or case.id != case_id):
            case = await uow.cases.get(case_id)
        unit_id = case.unit_id if case is not None and case_id is not None else None
        if route_unit is not None:
            unit_id = route_unit
        if case is not None and case.handled_by_discipline:
            # A unit's chat is read by its petition officers, who must not even learn that
            # a report about their unit came in: such cases stay in the root's chats.
            unit_id = None
        routes = admin_routes(config, await uow.units.tree(), unit_id)
    await queue_routes(uow, routes, case_id, kind, payload, now)


async def queue_routes(
    uow: UnitOfWork,
    routes: Sequence[AdminRoute],
    case_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue one admin row per route: a unit's chat is named by ``admin_chat`` in the
    payload, the unit whose cases a case-less row lists (the digest) by ``digest_unit``."""
    for route in routes:
        body: dict[str, Any] = {"case_id": case_id, **payload}
        if route.chat is not None:
            body["admin_chat"] = route.chat
        if route.unit_id is not None:
            body["digest_unit"] = route.unit_id
        await uow.outbox.add(
            OutboxMessage(
                audience="admin",
                channel=route.channel,
                kind=kind,
                payload=body,
                created_at=now,
                case_id=case_id,
            )
        )


async def queue_leaders(
    uow: UnitOfWork,
    config: HandlerConfig,
    case_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a message for the leaders of the case's parent unit (:func:`queue_unit_leaders`);
    without a case or units, to the leaders' chat, else the admin chats, leaders named."""
    case = await uow.cases.get(case_id) if case_id is not None else None
    if case is not None:
        await queue_unit_leaders(uow, config, case, kind, payload, now)
        return
    if not config.leaders_chats:
        await queue_admins(uow, config, case_id, kind, {**payload, "leaders": True}, now)
        return
    await _queue_leader_chats(uow, config.leaders_chats, case_id, kind, payload, now)


async def queue_unit_leaders(
    uow: UnitOfWork,
    config: HandlerConfig,
    case: Case,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    levels_up: int = 1,
    *,
    also_root: bool = False,
) -> None:
    """Queue a message for the leaders of the unit ``levels_up`` above the case's handling
    unit (clamped at the root; 督办 climbs by asking one level more): to that unit's leaders'
    chat, or the nearest one above it; with none configured, to the admin chats covering
    that unit, leaders named (``leaders`` in the payload). No units: the one leaders' chat."""
    tree = await uow.units.tree()
    above = tree.above(case.unit_id, levels_up) if case.unit_id is not None else None
    unit_id = above.id if above is not None else None
    chats = leaders_targets(config, tree, unit_id)
    if chats:
        await _queue_leader_chats(uow, chats, case.id, kind, payload, now)
        return
    routes = [AdminRoute(channel, None) for channel in config.admin_channels]
    if config.unit_chats and not case.handled_by_discipline:  # see queue_admins
        routes = admin_routes(config, tree, unit_id)
    # Name the leaders of that unit only (a list of unit ids; True: every leader, when the
    # deployment has no units).
    named: list[int] | bool = [unit_id] if unit_id is not None else True
    if also_root and isinstance(named, list) and tree.root is not None:
        named.append(tree.root.id)  # the on-duty leaders: the unit's and the group's
    await queue_routes(uow, routes, case.id, kind, {**payload, "leaders": named}, now)


async def queue_on_duty_leaders(
    uow: UnitOfWork,
    config: HandlerConfig,
    case: Case,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a message for the leaders on duty for a case (an urgent petition): those of its
    handling unit and of the root, each leaders' chat once; with none configured, the admin
    chats covering the unit, leaders named (:func:`queue_unit_leaders`). A case 纪检 handles
    reaches the root's leaders only (see queue_admins)."""
    tree = await uow.units.tree()
    unit_id = None if case.handled_by_discipline else case.unit_id
    chats = leaders_targets(config, tree, unit_id)
    if unit_id is not None:
        chats += [c for c in leaders_targets(config, tree, None) if c not in chats]
    if chats:
        await _queue_leader_chats(uow, chats, case.id, kind, payload, now)
        return
    await queue_unit_leaders(uow, config, case, kind, payload, now, levels_up=0, also_root=True)


async def _queue_leader_chats(
    uow: UnitOfWork,
    chats: Sequence[tuple[str, str]],
    case_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    for channel, chat_id in chats:
        # The "officer" audience is addressed by payload chat_id (bot/delivery.py).
        await uow.outbox.add(
            OutboxMessage(
                audience="officer",
                channel=channel,
                kind=kind,
                payload={"case_id": case_id, "chat_id": chat_id, **payload},
                created_at=now,
                case_id=case_id,
            )
        )


async def notify_employee(turn: Turn, case: Case, kind: str, payload: dict[str, Any]) -> None:
    """Queue a message to the employee who filed the case, on the channel they used."""
    await queue_employee(turn.uow, case, kind, payload, turn.now)


async def notify_admins(turn: Turn, case: Case, kind: str, payload: dict[str, Any]) -> None:
    """Queue a message about the case to the admin chats that cover its unit."""
    await queue_admins(turn.uow, turn.services.config, case.id, kind, payload, turn.now, case=case)
