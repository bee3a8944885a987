"""``xinfang audit verify | show``: check the audit trail's hash chain, list its entries.

Neither needs the keyring: the chain covers details as digests of their ciphertexts, and
``show`` prints who did what when to which case number, never a detail.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["register", "verify_trail"]

_PAGE = 1000
# storage/audit_chain.py says why a chain is broken (and why a head cannot be read) in
# English for logs, and as a code for the CLI to say it in its language.
_REASONS = {
    "not_following": N_("cli.audit.reason_not_following"),
    "content_differs": N_("cli.audit.reason_content_differs"),
    "detail_removed": N_("cli.audit.reason_detail_removed"),
    "detail_added": N_("cli.audit.reason_detail_added"),
    "detail_changed": N_("cli.audit.reason_detail_changed"),
    "tail_removed": N_("cli.audit.reason_tail_removed"),
    "head_form": N_("cli.audit.head_form"),
    "head_hash": N_("cli.audit.head_hash"),
}


def _worded(english: str, code: str, params: Any) -> str:
    """A reason of storage/audit_chain.py in the CLI's language."""
    key = _REASONS.get(code)
    if key is None or cli_locale() == "en":
        return english
    if code == "not_following":
        after = params.get("after")
        return t("cli.audit.reason_not_start" if after is None else key, id=after)
    return t(key, **params, form="ID:HASH")


def register(sub: Any) -> None:
    """Add ``audit`` and its actions."""
    audit = sub.add_parser("audit", help=t("cli.audit.help"))
    asub = audit.add_subparsers(
        dest="audit_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    verify = asub.add_parser(
        "verify",
        help=t("cli.audit.verify_help"),
        description=t("cli.audit.verify_description", head="--head", form="ID:HASH"),
    )
    verify.add_argument("--head", metavar="ID:HASH", help=t("cli.audit.head_help"))
    verify.set_defaults(handler=_verify)
    show = asub.add_parser("show", help=t("cli.audit.show_help"))
    show.add_argument("--case", metavar=t("cli.audit.metavar_ref"), help=t("cli.audit.case_help"))
    show.add_argument("--officer", type=int, metavar="ID", help=t("cli.audit.officer_help"))
    show.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help=t("cli.audit.from_help"))
    show.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help=t("cli.audit.to_help"))
    show.add_argument(
        "--limit",
        type=int,
        default=500,
        metavar=t("cli.metavar.limit"),
        help=t("cli.audit.limit_help"),
    )
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
        verdict = checker._fail(verdict.head_id, t("cli.audit.head_missing"))
    if not verdict.ok:
        reason = _worded(verdict.reason, verdict.code, verdict.params)
        return False, t("cli.audit.broken", id=verdict.broken_id, reason=reason)
    if wanted is not None and found_published is None:
        name = f"#{wanted[0]}" if wanted[0] is not None else wanted[1]
        if wanted[0] is not None and (verdict.head_id is None or wanted[0] > verdict.head_id):
            return False, t("cli.audit.head_gone", name=name)
        return False, t("cli.audit.head_rewritten", name=name)
    line = t(
        "cli.audit.intact",
        count=verdict.checked,
        head=short_head(verdict.head_id, verdict.head_hash),
    )
    if verdict.rewrapped:
        line += t("cli.audit.rewrapped", count=verdict.rewrapped)
    if found_published:
        line += t("cli.audit.published_on_chain", id=found_published[0])
    return True, line


async def _verify(args: argparse.Namespace) -> int:
    from storage.db import create_engine, session_factory

    settings = config_of(args)
    if args.head:
        from storage.audit_chain import HeadError, parse_head

        try:
            parse_head(args.head)
        except HeadError as exc:
            raise CliError(_worded(str(exc), exc.code, exc.params)) from None
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
        raise CliError(t("cli.audit.bad_date", name=name, text=repr(text))) from None


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
                    raise CliError(t("cli.audit.no_case", ref=ref))
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
        subject = row["subject_officer_id"]
        about = t("cli.audit.about_officer", id=subject) if subject else ""
        print(
            f"{row['id']:>7}  {at}  {person:<16}  {row['role']:<10}  "
            f"{row['action']}{about}  {row['case'] or '-'}  {row['channel'] or '-'}"
        )
    print(t("cli.audit.count", count=len(rows)))
    return 0
