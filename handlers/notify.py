"""Outbox writers: every change that concerns someone not in this chat queues a message
in the same transaction as the change (DESIGN.md §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.ports import OutboxMessage, UnitOfWork
from handlers.services import HandlerConfig
from handlers.turn import Turn
from petitions.case import Case
from petitions.lifecycle import TransitionRecord

__all__ = [
    "notify_admins",
    "notify_employee",
    "queue_admins",
    "queue_employee",
    "queue_leaders",
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
) -> None:
    """Queue a message to every configured admin chat."""
    for channel in config.admin_channels:
        await uow.outbox.add(
            OutboxMessage(
                audience="admin",
                channel=channel,
                kind=kind,
                payload={"case_id": case_id, **payload},
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
    """Queue a message for the leaders: to the leaders' chat when one is configured,
    otherwise to the admin chats with the leaders named (``leaders`` in the payload)."""
    if not config.leaders_chats:
        await queue_admins(uow, config, case_id, kind, {**payload, "leaders": True}, now)
        return
    for channel, chat_id in config.leaders_chats:
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
    """Queue a message to every configured admin chat."""
    await queue_admins(turn.uow, turn.services.config, case.id, kind, payload, turn.now)
