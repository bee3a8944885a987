"""Outbox writers: every change that concerns someone not in this chat queues a message
in the same transaction as the change (DESIGN.md §6)."""

from __future__ import annotations

from typing import Any

from handlers.ports import OutboxMessage
from handlers.turn import Turn
from petitions.case import Case
from petitions.lifecycle import TransitionRecord

__all__ = ["notify_admins", "notify_employee", "status_payload"]


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


async def notify_employee(turn: Turn, case: Case, kind: str, payload: dict[str, Any]) -> None:
    """Queue a message to the employee who filed the case, on the channel they used."""
    if case.id is None:
        raise ValueError("case has no id")
    await turn.uow.outbox.add(
        OutboxMessage(
            audience="employee",
            channel=case.channel,
            kind=kind,
            payload={"locale": case.locale, **payload},
            created_at=turn.now,
            case_id=case.id,
        )
    )


async def notify_admins(turn: Turn, case: Case, kind: str, payload: dict[str, Any]) -> None:
    """Queue a message to every configured admin chat."""
    for channel in turn.services.config.admin_channels:
        await turn.uow.outbox.add(
            OutboxMessage(
                audience="admin",
                channel=channel,
                kind=kind,
                payload={"case_id": case.id, **payload},
                created_at=turn.now,
                case_id=case.id,
            )
        )
