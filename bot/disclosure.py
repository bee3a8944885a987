"""Recorded disclosure of a real-name identity: request, approval, opening (docs/custody.md).

The request and the approval are channel-neutral use cases (handlers/disclosure.py); this
module runs them for the command line and does the opening, which needs the custodians'
private keys and therefore runs where the keys are, never in the service. Every step is
audited by person before anything is decrypted: the audit rows of an opening are committed
before the sealed identity is touched, so an opening that then fails still left its trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from handlers.disclosure import DisclosureRefused, approve_disclosure, request_disclosure
from handlers.ports import DisclosureRequest, Officer, OutboxMessage
from i18n import N_, translator
from petitions.case import Case
from petitions.errors import CaseNotFound
from petitions.roles import Role
from storage.uow import SqlUnitOfWork, UnitOfWorkFactory
from storage.vault import Keyring, VaultError, open_identity_with, public_raw_of

__all__ = [
    "DisclosureError",
    "approve_identity",
    "open_identity_request",
    "request_identity",
]


class DisclosureError(Exception):
    """A disclosure step was refused or failed; the message says why (never the identity):
    in English, with ``code`` (a message id) and ``params`` for a UI to say it in its
    language; a refusal of handlers/disclosure.py comes worded already (no code)."""

    def __init__(self, message: str, code: str = "", /, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def _refused(refused: DisclosureRefused, locale: str) -> DisclosureError:
    params = {k: v for k, v in refused.params.items() if k != "why"}
    return DisclosureError(translator().t(refused.why, locale, **params))


async def _case(uow: SqlUnitOfWork, case_ref: str) -> Case:
    ref = case_ref.strip()
    case = await uow.cases.get(int(ref)) if ref.isdigit() else await uow.cases.by_number(ref)
    if case is None or case.id is None:
        raise CaseNotFound()
    return case


async def _officer(uow: SqlUnitOfWork, officer_id: int) -> Officer:
    officer = await uow.officers.get(officer_id)
    if officer is None:
        raise DisclosureError(
            f"no officer with id {officer_id}", N_("cli.identity.error_no_officer"), id=officer_id
        )
    return officer


async def request_identity(
    uow_factory: UnitOfWorkFactory,
    case_ref: str,
    officer_id: int,
    reason: str,
    scheme: str,
    now: datetime,
    *,
    admin_channels: Sequence[str] = (),
    locale: str = "zh_CN",
) -> tuple[DisclosureRequest, str]:
    """Record a custodian's request (audited); return it and the case number."""
    async with uow_factory() as uow:
        case = await _case(uow, case_ref)
        officer = await _officer(uow, officer_id)
        try:
            request = await request_disclosure(
                uow, officer, case, reason, scheme, now, admin_channels
            )
        except DisclosureRefused as refused:
            raise _refused(refused, locale) from None
        await uow.commit()
    return request, case.number or str(case.id)


async def approve_identity(
    uow_factory: UnitOfWorkFactory,
    request_id: int,
    officer_id: int,
    now: datetime,
    *,
    locale: str = "zh_CN",
) -> DisclosureRequest:
    """Record a second custodian's approval (audited)."""
    async with uow_factory() as uow:
        officer = await _officer(uow, officer_id)
        try:
            request = await approve_disclosure(uow, officer, request_id, now)
        except DisclosureRefused as refused:
            raise _refused(refused, locale) from None
        await uow.commit()
    return request


async def _audit(
    uow_factory: UnitOfWorkFactory,
    people: Sequence[int],
    action: str,
    request: DisclosureRequest,
    now: datetime,
    detail: dict[str, Any],
) -> None:
    """Commit one audit row per person, before anything is decrypted."""
    async with uow_factory() as uow:
        for person in people:
            await uow.audit.add(
                now,
                Role.CUSTODIAN,
                action,
                actor_officer_id=person,
                case_id=request.case_id,
                detail={"request": request.id, **detail},
            )
        await uow.commit()


def _key_ids(ring: Keyring, keys: Sequence[X25519PrivateKey]) -> dict[str, X25519PrivateKey]:
    by_kid: dict[str, X25519PrivateKey] = {}
    for key in keys:
        kid = ring.custodian_kid_of(public_raw_of(key))
        if kid is None:
            raise DisclosureError(
                "a key given is not a custodian key of this deployment (`xinfang keys show` "
                "lists them)",
                N_("cli.identity.error_foreign_key"),
                command="xinfang keys show",
            )
        by_kid[kid] = key
    return by_kid


def _check_keys(
    ring: Keyring, request: DisclosureRequest, by_kid: dict[str, X25519PrivateKey]
) -> DisclosureError | None:
    """Why these keys may not open this request, or None."""
    needed = 2 if request.scheme == "2of3" else 1
    if len(by_kid) < needed:
        if needed == 2:
            options = "--key A.pem --key B.pem"
            return DisclosureError(
                f"two different custodians' keys are needed ({options})",
                N_("cli.identity.error_two_keys"),
                options=options,
            )
        return DisclosureError(
            "a custodian key is needed (--key FILE)",
            N_("cli.identity.error_one_key"),
            options="--key FILE",
        )
    parties = {request.requester_officer_id, request.approver_officer_id}
    for kid in by_kid:
        holder = ring.custodian_officers.get(kid)
        if holder is not None and holder not in parties:
            return DisclosureError(
                f"key {kid} belongs to a custodian who neither made nor approved request "
                f"{request.id}",
                N_("cli.identity.error_not_party"),
                kid=kid,
                id=request.id,
            )
    return None


async def open_identity_request(
    uow_factory: UnitOfWorkFactory,
    ring: Keyring,
    request_id: int,
    keys: Sequence[X25519PrivateKey],
    now: datetime,
) -> tuple[str, dict[str, str]]:
    """Open the identity of an approved request with the custodians' keys; audit first,
    then decrypt, then tell the employee. Return (case number, fields)."""
    async with uow_factory() as uow:
        request = await uow.disclosures.get(request_id)
        if request is None:
            raise DisclosureError(
                f"no disclosure request {request_id}",
                N_("disclosure.no_request"),
                request=request_id,
            )
        case = await uow.cases.get(request.case_id)
        if case is None or case.id is None:
            raise CaseNotFound()
    people = [request.requester_officer_id]
    if request.approver_officer_id not in (None, request.requester_officer_id):
        people.append(request.approver_officer_id)
    why: DisclosureError | None = None
    by_kid: dict[str, X25519PrivateKey] = {}
    if request.status == "pending":
        why = DisclosureError(
            f"request {request.id} waits for a second custodian's approval",
            N_("cli.identity.error_pending"),
            id=request.id,
        )
    elif request.status != "approved":
        why = DisclosureError(
            f"request {request.id} was already used; make a new request",
            N_("cli.identity.error_used"),
            id=request.id,
        )
    else:
        try:
            by_kid = _key_ids(ring, keys)
        except DisclosureError as exc:
            why = exc
        else:
            why = _check_keys(ring, request, by_kid)
    if why is not None:
        # The trail keeps the English reason, as it always has.
        detail = {"why": str(why)}
        await _audit(uow_factory, people, "identity.open_refused", request, now, detail)
        raise why
    # The trail first: these rows are committed before the sealed identity is read.
    await _audit(uow_factory, people, "identity.open", request, now, {"keys": sorted(by_kid)})
    try:
        async with uow_factory() as uow:
            sealed = await uow.cases.sealed_identity(case.id)
    except VaultError:
        # The sealed identity does not belong to this row: it was moved from another case.
        await _audit(uow_factory, people, "identity.open_failed", request, now, {})
        raise DisclosureError(
            f"the sealed identity stored with case {case.number} was made for another case "
            "(the database was altered); nothing was opened",
            N_("cli.identity.error_moved"),
            number=case.number,
        ) from None
    if sealed is None:
        raise DisclosureError(
            f"case {case.number} is anonymous: there is no identity",
            N_("disclosure.anonymous"),
            number=case.number,
        )
    try:
        identity = open_identity_with(by_kid, sealed)
    except VaultError:
        await _audit(uow_factory, people, "identity.open_failed", request, now, {})
        raise DisclosureError(
            "these keys cannot open the case's identity (under 2of3: the keys of two "
            "different custodians it was sealed to are needed)",
            N_("cli.identity.error_cannot_open"),
            scheme="2of3",
        ) from None
    async with uow_factory() as uow:
        await uow.disclosures.mark_opened(request.id, now)
        await uow.audit.add(
            now,
            Role.CUSTODIAN,
            "identity.reveal",
            actor_officer_id=request.requester_officer_id,
            case_id=case.id,
            detail={
                "request": request.id,
                "approver": request.approver_officer_id,
                "reason": request.reason,
            },
        )
        await uow.cases.add_event(
            case.id,
            "identity_disclosed",
            now,
            Role.CUSTODIAN,
            actor_officer_id=request.requester_officer_id,
            detail={"reason": request.reason},
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
                    "reason": request.reason,
                },
                created_at=now,
                case_id=case.id,
            )
        )
        await uow.commit()
    return case.number or "", identity
