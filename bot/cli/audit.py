"""``xinfang audit verify | show``: check the audit trail's hash chain, list its entries.

Neither needs the keyring: the chain covers details as digests of their ciphertexts, and
``show`` prints who did what when to which case number, never a detail.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, config_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["register", "verify_trail"]

_PAGE = 1000


def register(sub: Any) -> None:
    """Add ``audit`` and its actions."""
    audit = sub.add_parser("audit", help="verify and read the audit trail (no keys needed)")
    asub = audit.add_subparsers(dest="audit_cmd", required=True, metavar="ACTION")
    verify = asub.add_parser(
        "verify",
        help="check the hash chain; exit 1 naming the first broken entry",
        description="Check every entry's hash and its link to the one before. Exit 0 when "
        "the trail is intact, 1 naming the first broken entry by its id. --head checks that "
        "a head published earlier (the leaders' digest shows it as ID:HASH) is still on "
        "the chain, which catches a removed tail.",
    )
    verify.add_argument("--head", metavar="ID:HASH", help="a head published earlier")
    verify.set_defaults(handler=_verify)
    show = asub.add_parser(
        "show",
        help="list entries: time, person, role, action, case number (never details)",
    )
    show.add_argument("--case", metavar="REF", help="a case number (XF-2026-000123) or id")
    show.add_argument("--officer", type=int, metavar="ID", help="acted or was acted on")
    show.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day")
    show.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (included)")
    show.add_argument("--limit", type=int, default=500, help="at most this many (500)")
    show.set_defaults(handler=_show)


async def verify_trail(session: AsyncSession, published: str | None = None) -> tuple[bool, str]:
    """Verify the chain (and a published head); return (intact, one line to print)."""
    from storage.audit_chain import ChainChecker, parse_head, short_head
    from storage.repositories import SqlAudit

    wanted = parse_head(published) if published else None
    audit = SqlAudit(session, None)
    checker = ChainChecker()
    found_published: tuple[int, str] | None = None
    after = None
    while True:
        page = await audit.chain(after, _PAGE)
        for entry in page:
            if not checker.feed(entry):
                break
            if wanted and found_published is None and entry.hash.startswith(wanted[1]):
                if wanted[0] is None or wanted[0] == entry.id:
                    found_published = (entry.id, entry.hash)
        if len(page) < _PAGE or checker.broken is not None:
            break
        after = page[-1].id
    head = await audit.head()
    verdict = checker.result(head)
    if verdict.ok and head is None and verdict.checked:
        verdict = checker._fail(verdict.head_id, "the head record is missing")
    if not verdict.ok:
        return False, f"audit trail broken at entry #{verdict.broken_id}: {verdict.reason}"
    if wanted is not None and found_published is None:
        if wanted[0] is not None and (verdict.head_id is None or wanted[0] > verdict.head_id):
            reason = "is gone: the trail was cut after it"
        else:
            reason = "is not on the chain: the trail was rewritten"
        name = f"#{wanted[0]}" if wanted[0] is not None else wanted[1]
        return False, f"audit trail broken at entry {name}: the published head {reason}"
    line = (
        f"audit trail intact: {verdict.checked} entries, head "
        f"{short_head(verdict.head_id, verdict.head_hash)}"
    )
    if verdict.rewrapped:
        line += f" ({verdict.rewrapped} details re-encrypted by key rotation)"
    if found_published:
        line += f"; published head #{found_published[0]} is on the chain"
    return True, line


async def _verify(args: argparse.Namespace) -> int:
    from storage.db import create_engine, session_factory

    settings = config_of(args)
    if args.head:
        from storage.audit_chain import parse_head

        try:
            parse_head(args.head)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            ok, line = await verify_trail(session, args.head)
    finally:
        await engine.dispose()
    print(line)
    return 0 if ok else 1


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{name} is a date like 2026-01-31, got {text!r}") from None


async def _show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from petitions.deadlines import OFFICE_ZONE
    from storage.db import create_engine, session_factory
    from storage.models import CaseRow
    from storage.repositories import SqlAudit

    settings = config_of(args)
    first, last = _day(args.start, "--from"), _day(args.end, "--to")
    start = datetime(first.year, first.month, first.day, tzinfo=OFFICE_ZONE) if first else None
    end = (
        datetime(last.year, last.month, last.day, tzinfo=OFFICE_ZONE) + timedelta(days=1)
        if last
        else None
    )
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            case_id = None
            if args.case:
                ref = args.case.strip()
                where = CaseRow.id == int(ref) if ref.isdigit() else CaseRow.number == ref.upper()
                case_id = (await session.execute(select(CaseRow.id).where(where))).scalar()
                if case_id is None:
                    raise CliError(f"no case {ref}")
            rows = await SqlAudit(session, None).entries(
                case_id=case_id,
                officer_id=args.officer,
                start=start,
                end=end,
                limit=max(1, args.limit),
            )
    finally:
        await engine.dispose()
    for row in rows:
        at = row["at"].astimezone(OFFICE_ZONE).strftime("%Y-%m-%d %H:%M:%S")
        person = f"#{row['officer_id']} {row['officer']}" if row["officer_id"] else "-"
        about = f" (officer #{row['subject_officer_id']})" if row["subject_officer_id"] else ""
        print(
            f"{row['id']:>7}  {at}  {person:<16}  {row['role']:<10}  "
            f"{row['action']}{about}  {row['case'] or '-'}  {row['channel'] or '-'}"
        )
    print(f"{len(rows)} entries")
    return 0
