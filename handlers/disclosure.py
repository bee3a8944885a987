"""Disclosure of a real-name identity as custodians see it: a request with a written reason,
a second custodian's approval (under 2of3), both recorded by person (docs/custody.md).

Opening needs the custodians' private keys, which never reach the server; it is a command
run where the keys are (``xinfang identity open``, bot/disclosure.py). In the admin chat a
custodian lists pending requests (``/disclosures``) and approves one
(``/approve_disclosure REQ`` or the button under the list).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handlers.inbound import Button, Reply
from handlers.ports import DisclosureRequest, Officer, OutboxMessage, UnitOfWork
from handlers.services import Translate
from handlers.text import clean_text
from handlers.turn import Turn
from i18n import N_
from petitions.case import Case
from petitions.errors import DomainError
from petitions.roles import Role

__all__ = [
    "APPROVE_BUTTON",
    "DISCLOSURE_COMMANDS",
    "MIN_REASON",
    "DisclosureRefused",
    "approve_disclosure",
    "handle_disclosure",
    "is_disclosure_input",
    "render_disclosure_notice",
    "request_disclosure",
]

MIN_REASON = 20
"""A reason must be written out: at least this many characters, naming the matter."""

DISCLOSURE_COMMANDS = frozenset({"approve_disclosure", "disclosures"})
APPROVE_BUTTON = "o:approve_disclosure:"


class DisclosureRefused(DomainError):
    """A disclosure step was refused; ``why`` is the message id that says why."""

    code = "disclosure_refused"

    def __init__(self, why: str, **params: Any) -> None:
        super().__init__(why=why, **params)
        self.why = why


def _custodian(officer: Officer) -> None:
    if officer.role is not Role.CUSTODIAN or not officer.active:
        raise DisclosureRefused(N_("disclosure.not_custodian"))


async def request_disclosure(
    uow: UnitOfWork,
    officer: Officer,
    case: Case,
    reason: str,
    scheme: str,
    now: datetime,
    admin_channels: Sequence[str] = (),
) -> DisclosureRequest:
    """Record a custodian's request to open a case's identity, audited by person; under
    2of3 the admin chats are told that a second custodian's approval is awaited."""
    _custodian(officer)
    reason = clean_text(reason)
    if len(reason) < MIN_REASON:
        raise DisclosureRefused(N_("disclosure.reason_short"), min=MIN_REASON)
    if case.id is None or not case.has_identity:
        raise DisclosureRefused(N_("disclosure.anonymous"), number=case.number or "—")
    request = await uow.disclosures.add(case.id, scheme, officer.id, reason, now)
    await uow.audit.add(
        now,
        Role.CUSTODIAN,
        "identity.request",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"request": request.id, "scheme": scheme, "reason": reason},
    )
    if request.status == "pending":
        for channel in admin_channels:
            await uow.outbox.add(
                OutboxMessage(
                    audience="admin",
                    channel=channel,
                    kind="disclosure_request",
                    payload={"case_id": case.id, "request_id": request.id},
                    created_at=now,
                    case_id=case.id,
                )
            )
    return request


async def approve_disclosure(
    uow: UnitOfWork, officer: Officer, request_id: int, now: datetime
) -> DisclosureRequest:
    """Record a second custodian's approval of a pending request, audited by person."""
    _custodian(officer)
    request = await uow.disclosures.get(request_id, for_update=True)
    if request is None:
        raise DisclosureRefused(N_("disclosure.no_request"), request=request_id)
    if request.status != "pending":
        raise DisclosureRefused(N_("disclosure.not_pending"), request=request_id)
    if request.requester_officer_id == officer.id:
        # Two people, not one person twice: the approval is the second pair of eyes.
        raise DisclosureRefused(N_("disclosure.same_custodian"))
    await uow.audit.add(
        now,
        Role.CUSTODIAN,
        "identity.approve",
        actor_officer_id=officer.id,
        case_id=request.case_id,
        detail={"request": request.id},
    )
    await uow.disclosures.approve(request.id, officer.id, now)
    approved = await uow.disclosures.get(request.id)
    assert approved is not None
    return approved


def is_disclosure_input(command: str | None, button: str | None) -> bool:
    """True for a disclosure command or button from an officer."""
    return (command in DISCLOSURE_COMMANDS) or (button or "").startswith(APPROVE_BUTTON)


async def handle_disclosure(
    turn: Turn, officer: Officer, command: str | None, words: Sequence[str]
) -> list[Reply]:
    """``/disclosures``, ``/approve_disclosure REQ`` and the approve button."""
    button = turn.inbound.button or ""
    if button.startswith(APPROVE_BUTTON):
        command, words = "approve_disclosure", [button.removeprefix(APPROVE_BUTTON)]
    try:
        if command == "disclosures":
            return await _list(turn, officer)
        if not words or not words[0].lstrip("#").isdigit():
            return [Reply(turn.t("disclosure.need_request"))]
        request = await approve_disclosure(turn.uow, officer, int(words[0].lstrip("#")), turn.now)
    except DisclosureRefused as refused:
        params = {k: v for k, v in refused.params.items() if k != "why"}
        return [Reply(turn.t(refused.why, **params))]
    case = await turn.uow.cases.get(request.case_id)
    number = case.number if case is not None and case.number else str(request.case_id)
    return [Reply(turn.t("disclosure.approved", request=request.id, number=number))]


async def _list(turn: Turn, officer: Officer) -> list[Reply]:
    _custodian(officer)
    pending = await turn.uow.disclosures.pending()
    if not pending:
        return [Reply(turn.t("disclosure.none_pending"))]
    lines = [turn.t("disclosure.pending_header")]
    buttons = []
    for request in pending[:20]:
        case = await turn.uow.cases.get(request.case_id)
        requester = await turn.uow.officers.get(request.requester_officer_id)
        lines.append(
            turn.t(
                "disclosure.pending_line",
                request=request.id,
                number=case.number if case is not None and case.number else "—",
                requester=requester.name if requester is not None else "—",
                reason=request.reason,
            )
        )
        if request.requester_officer_id != officer.id:
            label = turn.t("disclosure.button_approve", request=request.id)
            buttons.append((Button(label, f"{APPROVE_BUTTON}{request.id}"),))
    return [Reply("\n".join(lines), tuple(buttons))]


def render_disclosure_notice(
    t: Translate, locale: str, payload: dict[str, Any], number: str
) -> Reply:
    """The admin chat's notice of a new request, with the approve button (no reason: the
    reason is shown to custodians by ``/disclosures``)."""
    request = int(payload["request_id"])
    label = t("disclosure.button_approve", locale, request=request)
    return Reply(
        t("disclosure.notice", locale, request=request, number=number),
        ((Button(label, f"{APPROVE_BUTTON}{request}"),),),
    )
