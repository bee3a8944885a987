"""What the end-to-end privacy tests of every channel (Telegram, WeCom, web) share: the
evidence files they send, and checks of what the server kept (addresses, evidence, audit,
outbox, statistics) after a channel carried a petition through."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.container import Container
from bot.scheduler import PassResult, Scheduler
from bot.stats import build_report
from petitions.statistics import Report
from storage.models import CaseRow
from tests.helpers.clock import FakeClock
from tests.helpers.evidence import (
    docx_with_author,
    heic_with_gps,
    jpeg_with_gps,
    pdf_with_author,
    surviving_markers,
    xlsx_with_author,
)
from tests.helpers.flow import load_case
from tests.helpers.plaintext import decrypted_database, raw_database

__all__ = [
    "DESCRIPTION",
    "DOCX",
    "EVIDENCE",
    "HEIC",
    "JPEG",
    "MACRO_MIME",
    "NEUTRAL_NAME",
    "PDF",
    "XLSX",
    "Evidence",
    "assert_clean_files",
    "assert_erased_at_keep_time",
    "case_id_of",
    "closing_commands",
    "audit_actions",
    "contact_ct",
    "eventually",
    "mentions",
    "outbox_states",
    "run_scheduler",
    "statistics",
    "stored_evidence",
]

# No phone, ID card, e-mail or name in it: the self-identification step does not come up.
DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，我们要求按规定补发。"
NEUTRAL_NAME = re.compile(r"^证据\d+\.[a-z0-9]+$")
MACRO_MIME = "application/vnd.ms-word.document.macroEnabled.12"


@dataclass(frozen=True)
class Evidence:
    """A real file with identifying metadata, as an employee's phone or computer sends it;
    ``told`` is the message id of one thing the employee must hear was removed."""

    data: bytes
    name: str  # the original name: it must not survive anywhere
    mime: str
    told: str
    stored_as: str  # the neutral name it is stored and shown under


JPEG = Evidence(jpeg_with_gps(), "IMG_20260302_093000.jpg", "image/jpeg", "scrub.location", "jpg")
HEIC = Evidence(heic_with_gps(), "IMG_4711.HEIC", "image/heic", "scrub.location", "jpg")
PDF = Evidence(pdf_with_author(), "zhangsan-payslip.pdf", "application/pdf", "scrub.author", "pdf")
DOCX = Evidence(
    docx_with_author(),
    "zhangsan-statement.docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "scrub.author",
    "docx",
)
XLSX = Evidence(
    xlsx_with_author(),
    "zhangsan-hours.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "scrub.author",
    "xlsx",
)
EVIDENCE = (JPEG, HEIC, PDF, DOCX, XLSX)


def closing_commands(number: str) -> tuple[str, ...]:
    """The officer's commands that take a case from registered to closed."""
    return (
        f"/accept {number}",
        f"/begin {number}",
        f"/respond {number} supported 经核实，已安排财务本月补发。",
        f"/close {number}",
    )


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109
) -> None:
    """Wait until an asynchronous check (a database read) holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def case_id_of(container: Container, number: str) -> int:
    """The id of the case with this public number."""
    async with container.uow() as uow:
        case = await uow.cases.by_number(number)
    assert case is not None and case.id is not None
    return case.id


async def contact_ct(container: Container, case_id: int) -> bytes | None:
    """The case's encrypted push address as stored (None: there is none)."""
    async with container.uow() as uow:
        stmt = select(CaseRow.contact_ct).where(CaseRow.id == case_id)
        value: bytes | None = (await uow.session.execute(stmt)).scalar_one()
        return value


async def mentions(container: Container, *needles: str) -> list[str]:
    """The needles found anywhere in the database, decrypted with the server keys or raw."""
    opened = await decrypted_database(container)
    raw = await raw_database(container)
    return [
        needle
        for needle in needles
        if any(needle.encode() in blob for blob in opened) or any(needle in v for v in raw)
    ]


async def audit_actions(container: Container, case_id: int) -> list[str]:
    """The audited actions on a case, oldest first."""
    async with container.uow() as uow:
        return [entry["action"] for entry in await uow.audit.list(case_id)]


async def outbox_states(
    container: Container, case_id: int, audience: str = "employee"
) -> list[tuple[str, str]]:
    """(kind, status) of a case's outbox rows for one audience, oldest first."""
    async with container.uow() as uow:
        rows = await uow.outbox.for_case(case_id)
        return [(r.kind, r.status) for r in rows if r.audience == audience]


async def stored_evidence(container: Container, case_id: int) -> list[tuple[str, bytes]]:
    """(name, decrypted bytes) of a case's stored evidence, in the order it was sent."""
    async with container.uow() as uow:
        found = []
        for info in await uow.attachments.list(case_id):
            item = await uow.attachments.data(info.id)
            assert item is not None
            found.append((item[0].name, item[1]))
        return found


def assert_clean_files(files: Iterable[tuple[str | None, bytes]], expected: list[str]) -> None:
    """Every file carries a neutral name (in this order) and none of the markers."""
    files = list(files)
    assert [name for name, _ in files] == expected
    originals = [e.name for e in EVIDENCE]
    for name, data in files:
        assert name is not None and NEUTRAL_NAME.match(name), name
        assert not any(o in name for o in originals)
        assert surviving_markers(data) == [], name


async def run_scheduler(container: Container, now: datetime) -> PassResult:
    """One scheduler pass at ``now``, as ``xinfang run`` does it every minute."""
    scheduler = Scheduler(container.uow, container.services, container.services.clock)
    return await scheduler.run_once(now)


async def statistics(container: Container, since: datetime, now: datetime) -> Report:
    """The exact figures of the cases registered from ``since`` (as ``xinfang stats``)."""
    async with container.uow() as uow:
        return await build_report(
            uow, since - timedelta(days=1), now + timedelta(days=1), now, container.settings.policy
        )


async def assert_erased_at_keep_time(
    container: Container, clock: FakeClock, case_id: int, *needles: str
) -> None:
    """A closed case's address stays until ``contact_keep_days`` after closing and is gone
    (audited, and none of ``needles`` left anywhere) at the first pass after that."""
    case = await load_case(container, case_id)
    keep = timedelta(days=container.settings.policy.contact_keep_days)
    assert case.closed_at is not None and case.contact_erase_at == case.closed_at + keep
    clock.now = case.contact_erase_at - timedelta(hours=1)
    assert (await run_scheduler(container, clock())).erased_contacts == 0
    assert await contact_ct(container, case_id) is not None
    clock.advance(hours=2)
    assert (await run_scheduler(container, clock())).erased_contacts == 1
    assert await contact_ct(container, case_id) is None
    assert await mentions(container, *needles) == []
    assert "case.contact_erased" in await audit_actions(container, case_id)
