"""Builders for whole conversations on a real container: file a petition, register staff,
read what was queued in the outbox."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.container import Container
from handlers.inbound import Reply
from petitions.case import Case
from petitions.roles import Role
from storage.models import OutboxRow
from tests.helpers.chat import ChatUser
from tests.helpers.evidence import jpeg_with_gps, pdf_with_author

__all__ = [
    "CODE_RE",
    "DESCRIPTION",
    "NUMBER_RE",
    "PDF",
    "PHOTO",
    "Filed",
    "Queued",
    "add_officer",
    "admin_chat",
    "file_petition",
    "load_case",
    "queued",
]

CODE_RE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
NUMBER_RE = re.compile(r"XF-\d{4}-\d{6}")
DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，我们要求按规定补发。"
# Real files carrying GPS, a camera serial and an author (tests/helpers/evidence.py): what
# is stored is the cleaned copy, named 证据N.
PHOTO = (jpeg_with_gps(), "photo.jpg", "image/jpeg", "photo")
PDF = (pdf_with_author(), "payslip.pdf", "application/pdf", "document")
ADMIN_CHAT_ID = "-1001"


@dataclass(frozen=True)
class Filed:
    """A submitted petition as the employee and the officers know it."""

    code: str
    number: str
    case_id: int
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Queued:
    """An outbox row with its decrypted payload."""

    audience: str
    channel: str
    kind: str
    payload: dict[str, Any]
    case_id: int | None


async def file_petition(
    container: Container,
    user: ChatUser,
    *,
    category: str = "pay",
    description: str = DESCRIPTION,
    files: Sequence[tuple[bytes, str, str, str]] = (),
    identity: Mapping[str, str | None] | None = None,
    updates: str = "push",
    unit: str | None = None,
    conflict: str = "no",
) -> Filed:
    """Go from the menu to a submitted petition; ``identity`` (field → value, None to
    skip) makes it a real-name petition; ``updates`` is ``push`` or ``code`` (only).

    When the group has units, ``unit`` is typed to find the one the matter concerns (it
    must match exactly one; None chooses the root) and ``conflict`` answers the conflict
    of interest question (``no``, ``leadership`` or ``discipline``). Without units both
    are ignored: the intake does not ask."""
    replies: list[Reply] = []
    replies += await user.press("menu:new")
    replies += await user.press(f"cat:{category}")
    if any(p.startswith("un:") for p in user.buttons):
        if unit is None:
            replies += await user.press(next(p for p in user.buttons if p.startswith("un:ok:")))
        else:
            replies += await user.say(unit)
        assert f"cf:{conflict}" in user.buttons, user.text
        replies += await user.press(f"cf:{conflict}")
    replies += await user.say(description)
    assert "ev:done" in user.buttons, user.text
    for data, name, mime, kind in files:
        replies += await user.send_file(data, name=name, mime=mime, kind=kind)
    replies += await user.press("ev:done")
    if identity is None:
        replies += await user.press("anon:yes")
    else:
        replies += await user.press("anon:no")
        for field in ("name", "staff_no", "unit", "phone"):
            value = identity.get(field)
            replies += await (user.say(value) if value is not None else user.press("id:skip"))
    assert f"up:{updates}" in user.buttons, user.text
    replies += await user.press(f"up:{updates}")
    if "sid:keep" in user.buttons:  # the description names a phone, an ID card, ...
        replies += await user.press("sid:keep")
    assert "rv:submit" in user.buttons, user.text
    replies += await user.press("rv:submit")
    code = CODE_RE.search(user.text)
    number = NUMBER_RE.search(user.text)
    assert code and number, user.text
    async with container.uow() as uow:
        case = await uow.cases.by_number(number.group(0))
    assert case is not None and case.id is not None
    return Filed(code.group(0), number.group(0), case.id, tuple(replies))


async def add_officer(
    container: Container,
    role: Role = Role.OFFICER,
    account: str = "777",
    name: str = "王专员",
    *,
    channel: str = "telegram",
) -> ChatUser:
    """Register a member of staff and return them as a member of the admin chat."""
    async with container.uow() as uow:
        await uow.officers.add(name, role, container.services.clock(), accounts={channel: account})
        await uow.commit()
    return admin_chat(container, account, channel=channel)


def admin_chat(container: Container, sender_id: str, *, channel: str = "telegram") -> ChatUser:
    """Someone writing in the admin chat (registered or not)."""
    return ChatUser(
        container.handlers,
        channel=channel,
        chat_id=ADMIN_CHAT_ID,
        sender_id=sender_id,
        in_admin_chat=True,
    )


async def load_case(container: Container, case_id: int) -> Case:
    """Read a case afresh from the database."""
    async with container.uow() as uow:
        case = await uow.cases.get(case_id)
    assert case is not None
    return case


async def queued(
    container: Container, case_id: int, *, audience: str | None = None
) -> list[Queued]:
    """The outbox rows of a case, oldest first, payloads decrypted."""
    async with container.uow() as uow:
        rows: Sequence[OutboxRow] = await uow.outbox.for_case(case_id)
        return [
            Queued(r.audience, r.channel, r.kind, uow.outbox.payload(r), r.case_id)
            for r in rows
            if audience is None or r.audience == audience
        ]
