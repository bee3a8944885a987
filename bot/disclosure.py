"""Recorded disclosure of a real-name identity with the custodian's private key."""

from __future__ import annotations

from datetime import datetime

from handlers.ports import OutboxMessage
from petitions.errors import CaseNotFound
from petitions.roles import Role
from storage.uow import UnitOfWorkFactory
from storage.vault import VaultError, load_custodian_private_key, open_identity

__all__ = ["DisclosureError", "reveal_identity"]


class DisclosureError(Exception):
    """The identity could not be revealed; the message says why (never the identity)."""


async def reveal_identity(
    uow_factory: UnitOfWorkFactory,
    case_ref: str,
    private_key_pem: bytes,
    reason: str,
    now: datetime,
) -> tuple[str, dict[str, str]]:
    """Open a case's sealed identity, audit it and tell the employee; return (number, fields)."""
    reason = reason.strip()
    if len(reason) < 5:
        raise DisclosureError("a written reason of at least 5 characters is required")
    private = load_custodian_private_key(private_key_pem)
    async with uow_factory() as uow:
        case = (
            await uow.cases.get(int(case_ref))
            if case_ref.isdigit()
            else await uow.cases.by_number(case_ref)
        )
        if case is None or case.id is None:
            raise CaseNotFound()
        try:
            sealed = await uow.cases.sealed_identity(case.id)
        except VaultError:
            sealed, moved = None, True
        else:
            moved = False
    if moved:
        # The sealed identity does not belong to this row: it was moved from another case.
        async with uow_factory() as uow:
            await uow.audit.add(now, Role.CUSTODIAN, "identity.reveal_failed", case_id=case.id)
            await uow.commit()
        raise DisclosureError(
            f"the sealed identity stored with case {case.number} was made for another case "
            "(the database was altered); nothing was opened"
        )
    if sealed is None:
        raise DisclosureError(f"case {case.number} is anonymous: there is no identity")
    try:
        identity = open_identity(private, sealed)
    except VaultError:
        async with uow_factory() as uow:
            await uow.audit.add(now, Role.CUSTODIAN, "identity.reveal_failed", case_id=case.id)
            await uow.commit()
        raise DisclosureError("this private key cannot open the case's identity") from None
    async with uow_factory() as uow:
        await uow.audit.add(
            now, Role.CUSTODIAN, "identity.reveal", case_id=case.id, detail={"reason": reason}
        )
        await uow.cases.add_event(
            case.id, "identity_disclosed", now, Role.CUSTODIAN, detail={"reason": reason}
        )
        await uow.outbox.add(
            OutboxMessage(
                audience="employee",
                channel=case.channel,
                kind="disclosure",
                payload={
                    "locale": case.locale,
                    "number": case.number,
                    "at": now.isoformat(),
                    "role": Role.CUSTODIAN.value,
                    "reason": reason,
                },
                created_at=now,
                case_id=case.id,
            )
        )
        await uow.commit()
    return case.number or "", identity
