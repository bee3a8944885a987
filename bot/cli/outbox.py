"""``xinfang outbox failed | retry ID...|--all``: messages the delivery worker gave up on.

The listing shows the plain columns only (id, channel, audience, kind, attempts, last
error, created): payloads are never decrypted and no recipient is named.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from bot.cli.common import config_of, t

__all__ = ["register"]

# A platform's error text could quote a numeric chat or user id (Telegram's are 7 digits
# and more); error codes (WeCom's errcode, HTTP statuses) are shorter and stay readable.
_LONG_NUMBER = re.compile(r"-?\d{7,}")


def register(sub: Any) -> None:
    """Add ``outbox`` and its actions."""
    out = sub.add_parser(
        "outbox",
        help=t("cli.outbox.help"),
        description=t("cli.outbox.description"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    osub = out.add_subparsers(
        dest="outbox_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    lst = osub.add_parser("failed", help=t("cli.outbox.failed_help"))
    lst.add_argument(
        "--limit",
        type=int,
        default=200,
        metavar=t("cli.metavar.limit"),
        help=t("cli.outbox.limit_help"),
    )
    retry = osub.add_parser("retry", help=t("cli.outbox.retry_help"))
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "ids", nargs="*", type=int, default=[], metavar="ID", help=t("cli.outbox.ids_help")
    )
    which.add_argument("--all", action="store_true", help=t("cli.outbox.all_help"))
    out.set_defaults(handler=_outbox)


async def _outbox(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now

    if args.outbox_cmd == "retry" and not args.all and not args.ids:
        print(t("cli.outbox.retry_which", command="xinfang outbox retry ID [ID ...]", all="--all"))
        return 2
    container = await build_container(config_of(args), migrate=False)
    try:
        async with container.uow() as uow:
            if args.outbox_cmd == "failed":
                return await _list(uow.session, args.limit)
            return await _retry(uow, None if args.all else args.ids, utc_now())
    finally:
        await container.close()


async def _list(session: Any, limit: int) -> int:
    from petitions.deadlines import OFFICE_ZONE
    from storage.outbox_admin import failed_rows

    limit = max(limit, 1)
    rows = await failed_rows(session, limit=limit + 1)  # one more tells that more exist
    if not rows:
        print(t("cli.outbox.none"))
        return 0
    shown = rows[:limit]
    print(t("cli.outbox.columns"))
    for row in shown:
        created = row.created_at.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d %H:%M")
        error = _LONG_NUMBER.sub("…", row.last_error or "-").replace("\t", " ")
        print(
            f"{row.id}\t{row.channel}\t{row.audience}\t{row.kind}\t{row.attempts}\t"
            f"{created}\t{error}"
        )
    more = t("cli.outbox.more", limit="--limit") if len(rows) > len(shown) else ""
    command = "xinfang outbox retry ID ... | --all"
    print(t("cli.outbox.count", count=len(shown), more=more, command=command))
    return 0


async def _retry(uow: Any, ids: list[int] | None, now: Any) -> int:
    from petitions.roles import Role
    from storage.outbox_admin import retry_failed

    retried = await retry_failed(uow.session, now, ids)
    if ids is not None:
        missing = sorted(set(ids) - set(retried))
        if missing:
            # Nothing is changed when one id is wrong: the operator meant that exact set.
            print(t("cli.outbox.not_failed", ids=", ".join(map(str, missing))))
            return 1
    if not retried:
        print(t("cli.outbox.none"))
        return 0
    await uow.audit.add(
        now,
        Role.SYSTEM,
        "outbox.retry",
        detail={"outbox_ids": retried[:1000], "count": len(retried), "all": ids is None},
    )
    await uow.commit()
    print(t("cli.outbox.retried", count=len(retried)))
    return 0
