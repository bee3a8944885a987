"""Outbox sender for WeCom: pushes to employees, and case cards to officers on WeCom.

Employee and officer rows carry the recipient's userid in ``Delivery.chat_id``. An
employee's files (the notices, 告知书) are uploaded with ``media/upload`` and sent as
``file`` messages after the row's text; the delivery worker gives a notice a row of its
own (``notices_apart``), so a retry never repeats the status text. An admin
row about a case goes to the active officers registered on WeCom whose scope covers the
case (their unit's subtree; everyone without a unit tree), in one ``message/send`` call,
and, when ``WECOM_ADMIN_CHAT_ID`` is set, as a short alert to that app group chat (the
root unit's). An admin row about no case (the digest) goes to the officers of its unit
(``chat_id`` ``unit:<id>``), or of the root. A unit's app group chat (XINFANG_UNIT_CHATS)
gets the short alert only. Admin rows are rendered from case content only, so an
employee's userid never reaches them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from bot.channels import Delivery, Rejected, RetryLater, Unreachable
from bot.wecom.client import (
    HTTP_ERRCODE,
    TOKEN_ERRCODES,
    Upload,
    WeComApiError,
    WeComClient,
)
from bot.wecom.render import Outgoing, PendingChoices, render_reply
from handlers.access import in_scope
from handlers.inbound import FileOut, Reply
from handlers.ports import Officer
from storage.uow import UnitOfWorkFactory

__all__ = [
    "RETRY_AFTER",
    "UNREACHABLE_ERRCODES",
    "WeComSender",
    "classify_error",
    "send_file",
    "send_outgoing",
]

log = logging.getLogger(__name__)

# userid not found; user outside the app's visible range (可见范围)
UNREACHABLE_ERRCODES = frozenset({60111, 81013})
# API frequency limit: wait out the minute; concurrency limit / system busy: back off briefly.
# 0 lets the delivery worker choose its own jittered backoff.
RETRY_AFTER: dict[int, float] = {45009: 60.0, 45033: 5.0, HTTP_ERRCODE: 0.0}
# Credentials or token trouble is not this message's fault: keep the row, try again later.
_RETRY_ALSO = TOKEN_ERRCODES | {40001, 40013, 41001}

ClientSource = Callable[[], Awaitable[WeComClient]]


def classify_error(exc: WeComApiError) -> RetryLater | Unreachable | Rejected:
    """Map a WeCom API failure to what the delivery worker should do with the row."""
    code = exc.errcode
    if code in UNREACHABLE_ERRCODES:
        return Unreachable(f"wecom errcode {code}")
    if code in RETRY_AFTER or exc.retryable or (exc.http_status or 0) >= 500:
        return RetryLater(RETRY_AFTER.get(code, 0.0), f"wecom errcode {code}")
    if code in _RETRY_ALSO:
        return RetryLater(300.0, f"wecom errcode {code}")
    # Only the code: WeCom's errmsg may quote the userid it refused.
    return Rejected(f"wecom errcode {code}")


async def send_outgoing(
    client: WeComClient, touser: str, message: Outgoing, choices: PendingChoices | None = None
) -> dict[str, Any]:
    """Send one rendered message to ``touser`` (``a|b`` for several members)."""
    if message.msgtype == "template_card":
        answer = await client.send_template_card(touser, message.payload)
    else:
        answer = await client.send_message(touser, message.msgtype, message.payload)
    if message.options and choices is not None:
        for member in touser.split("|"):
            choices.offer(member, message.options)
    return answer


async def send_file(client: WeComClient, touser: str, file: FileOut) -> dict[str, Any]:
    """Upload ``file`` as temporary media and send it to ``touser`` as a file message.

    Uploaded again on every send: a media id lives three days, a retry may come later.
    """
    media_id = await client.upload_media(Upload(file.data, file.name, file.mime))
    return await client.send_file(touser, media_id)


class WeComSender:
    """Sends outbox rows on WeCom; raises RetryLater, Unreachable or Rejected."""

    channel = "wecom"
    # A notice is a file message after the status text, two platform calls that one outbox
    # row cannot mark apart: the delivery worker gives the file a row of its own.
    notices_apart = True

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        client: ClientSource,
        *,
        admin_chat_id: str | None = None,
        choices: PendingChoices | None = None,
        memory: int = 1000,
    ) -> None:
        self._uow = uow
        self._client = client
        self._admin_chat_id = admin_chat_id
        self._choices = choices
        # Parts of a row already accepted by WeCom, so a retry after a partial failure does
        # not repeat them (in this process; a restart may repeat, see bot/delivery.py).
        self._done: OrderedDict[int, set[str]] = OrderedDict()
        self._memory = memory

    async def send(self, delivery: Delivery) -> None:
        """Send one outbox row."""
        client = await self._client()
        done = self._done.setdefault(delivery.row_id, set())
        self._done.move_to_end(delivery.row_id)
        while len(self._done) > self._memory:
            self._done.popitem(last=False)
        chat = delivery.chat_id
        if delivery.audience == "admin" and chat and not _unit_audience(delivery):
            # A unit's app group chat (XINFANG_UNIT_CHATS): the one-line heads-up only.
            await self._alert(client, chat, delivery.replies, done)
        elif delivery.audience != "admin" and chat is not None:
            await self._to_members(client, [chat], delivery, done, single=True)
        else:
            await self._to_officers(client, delivery, done)
        self._done.pop(delivery.row_id, None)
        log.debug("wecom outbox row %s (%s) sent", delivery.row_id, delivery.kind)

    async def _to_officers(self, client: WeComClient, delivery: Delivery, done: set[str]) -> None:
        """An admin row to the officers on WeCom it concerns: about a case, those whose
        scope covers it (the case card's content rules are render_admin's); about no case
        (the digest), those of the row's unit, or of the root for the root's row."""
        chat = delivery.chat_id
        unit = chat.removeprefix("unit:") if chat and chat.startswith("unit:") else None
        if unit is None and self._admin_chat_id:
            await self._alert(client, self._admin_chat_id, delivery.replies, done)
        case_id = delivery.case_id
        if case_id is None:
            case_id = next((r.case_id for r in delivery.replies if r.case_id is not None), None)
        async with self._uow() as uow:
            accounts = await uow.officers.accounts("wecom")
            case = await uow.cases.get(case_id) if case_id is not None else None
        # SqlOfficers.accounts' return annotation names its own `list` method (a typo
        # for the builtin that mypy reads as such): spell the type out here.
        pairs: list[tuple[Officer, str]] = list(accounts)
        if case is not None:
            wanted = [
                userid
                for officer, userid in pairs
                if in_scope(officer, case) and case.excluded_officer_id != officer.id
            ]
        elif unit is not None:
            wanted = [userid for officer, userid in pairs if str(officer.unit_id) == unit]
        else:  # the root's row, or a case gone since (the root office sees every case)
            wanted = [userid for officer, userid in pairs if officer.scope is None]
        members = sorted(set(wanted))
        if members:
            await self._to_members(client, members, delivery, done, single=False)
        elif unit is None and not self._admin_chat_id and case is None:
            log.warning("outbox row %s: no officer is registered on WeCom", delivery.row_id)

    async def _to_members(
        self,
        client: WeComClient,
        members: Sequence[str],
        delivery: Delivery,
        done: set[str],
        *,
        single: bool,
    ) -> None:
        wait = max(client.limiter.delay(m) for m in members)
        if wait > 0:  # let the worker hold the row instead of blocking it here
            raise RetryLater(wait, "wecom per-member limit")
        touser = "|".join(members[:1000])
        # An employee's files (the notices, 告知书) are uploaded and sent as file messages
        # after the text; a reference without bytes cannot be uploaded and is left out.
        # Officers' evidence stays named in the text (docs/wecom.md, Limitations).
        employee = delivery.audience == "employee"
        for r, reply in enumerate(delivery.replies):
            uploads = [f for f in reply.files if f.data] if employee else []
            shown = replace(reply, files=()) if employee else reply
            for m, message in enumerate(render_reply(shown)):
                step = f"m{r}.{m}"
                if step in done:
                    continue
                try:
                    answer = await send_outgoing(client, touser, message, self._choices)
                except WeComApiError as exc:
                    raise classify_error(exc) from None
                _check_invalid(answer, single)
                done.add(step)
            for f, file in enumerate(uploads):
                step = f"f{r}.{f}"
                if step in done:
                    continue
                try:
                    answer = await send_file(client, touser, file)
                except WeComApiError as exc:
                    raise classify_error(exc) from None
                _check_invalid(answer, single)
                done.add(step)

    async def _alert(
        self, client: WeComClient, chatid: str, replies: Sequence[Reply], done: set[str]
    ) -> None:
        if "alert" in done:
            return
        # App group chats take no template cards: a one-line heads-up, details in the app.
        lines = [r.text.strip().partition("\n")[0] for r in replies if r.text.strip()]
        if not lines:
            return
        try:
            await client.appchat_send(chatid, "text", {"content": "\n".join(lines)})
        except WeComApiError as exc:
            outcome = classify_error(exc)
            if isinstance(outcome, RetryLater):
                raise outcome from None
            # A wrong or dissolved group chat must not stop the cards to the officers.
            log.error("wecom admin chat alert refused (errcode %d)", exc.errcode)
        done.add("alert")


def _check_invalid(answer: dict[str, Any], single: bool) -> None:
    invalid = [u for u in str(answer.get("invaliduser") or "").split("|") if u]
    if invalid and single:
        raise Unreachable("wecom invaliduser")
    if invalid:
        log.warning("wecom: %d officer account(s) no longer valid", len(invalid))


def _unit_audience(delivery: Delivery) -> bool:
    """An admin row for a unit's own officers (bot.delivery.admin_address ``unit:<id>``)."""
    return bool(delivery.chat_id and delivery.chat_id.startswith("unit:"))
