"""``xinfang officers add | web | list | remove``: the people who handle cases."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from bot.cli.common import CliError, config_of
from petitions.roles import STAFF_ROLES, Role

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``officers`` and its actions."""
    off = sub.add_parser("officers", help="manage the people who handle cases")
    osub = off.add_subparsers(dest="officers_cmd", required=True, metavar="ACTION")
    add = osub.add_parser("add", help="register an officer")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=sorted(r.value for r in STAFF_ROLES), help="role"
    )
    add.add_argument("--unit", help="the officer's unit")
    add.add_argument("--telegram", metavar="USER_ID", help="Telegram numeric user id")
    add.add_argument("--wecom", metavar="USERID", help="WeCom userid")
    add.add_argument(
        "--web",
        action="store_true",
        help="give a web login (password prompted, or generated and printed once)",
    )
    add.add_argument("--web-login", metavar="LOGIN", help="web login name (default: NAME)")
    webp = osub.add_parser("web", help="give an existing officer a web login or new password")
    webp.add_argument("id", type=int)
    webp.add_argument("--login", help="web login name (default: the officer's name)")
    lst = osub.add_parser("list", help="list officers")
    lst.add_argument("--all", action="store_true", help="include removed officers")
    rm = osub.add_parser("remove", help="remove an officer (kept in the audit trail)")
    rm.add_argument("id", type=int)

    off.set_defaults(handler=_officers)


async def _officers(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now

    container = await build_container(config_of(args), migrate=args.officers_cmd == "add")
    try:
        async with container.uow() as uow:
            if args.officers_cmd == "add":
                accounts = {
                    ch: value
                    for ch, value in (("telegram", args.telegram), ("wecom", args.wecom))
                    if value
                }
                if not accounts and not args.web:
                    print("give at least one account: --telegram USER_ID, --wecom USERID or --web")
                    return 2
                for channel, account in accounts.items():
                    if await uow.officers.by_account(channel, account):
                        print(f"that {channel} account already belongs to an officer")
                        return 2
                login = (args.web_login or args.name).strip()
                if args.web and await uow.web.login_taken(login):
                    print(f"the web login {login!r} is taken: choose another with --web-login")
                    return 2
                password = _web_password() if args.web else None
                officer = await uow.officers.add(
                    args.name, Role(args.role), utc_now(), unit=args.unit, accounts=accounts
                )
                if password is not None:
                    await _set_web_login(uow, officer.id, login, password)
                await uow.audit.add(
                    utc_now(), Role.SYSTEM, "officer.add", detail={"officer_id": officer.id}
                )
                await uow.commit()
                print(f"added officer #{officer.id} {officer.name} ({officer.role.value})")
                if password is not None:
                    _print_web_login(login, password)
            elif args.officers_cmd == "web":
                officer = await uow.officers.get(args.id)
                if officer is None or not officer.active:
                    print(f"no active officer #{args.id}")
                    return 1
                login = (args.login or officer.name).strip()
                found = await uow.web.credentials(login)
                if found is not None and found[0] != officer.id:
                    print(f"the web login {login!r} is taken: choose another with --login")
                    return 2
                password = _web_password()
                await _set_web_login(uow, officer.id, login, password)
                await uow.audit.add(
                    utc_now(),
                    Role.SYSTEM,
                    "officer.web_password",
                    detail={"officer_id": officer.id},
                )
                await uow.commit()
                _print_web_login(login, password)
            elif args.officers_cmd == "list":
                officers = await uow.officers.list(include_inactive=args.all)
                if not officers:
                    print("no officers yet: xinfang officers add NAME --role officer ...")
                for o in officers:
                    channels = ",".join(await uow.officers.channels_of(o.id)) or "-"
                    state = "" if o.active else " (removed)"
                    unit = o.unit or "-"
                    print(f"#{o.id}\t{o.name}\t{o.role.value}\t{unit}\t{channels}{state}")
            else:
                if not await uow.officers.deactivate(args.id):
                    print(f"no active officer #{args.id}")
                    return 1
                await uow.audit.add(
                    utc_now(), Role.SYSTEM, "officer.remove", detail={"officer_id": args.id}
                )
                await uow.commit()
                print(f"removed officer #{args.id} (kept in the audit trail)")
    finally:
        await container.close()
    return 0


def _web_password() -> str:
    """Ask for a web password on a terminal (empty: generate one); generate otherwise."""
    from bot.web.passwords import MIN_LENGTH, generate_password

    if not sys.stdin.isatty():
        return generate_password()
    typed = getpass.getpass("web password (empty: generate one): ")
    if not typed:
        return generate_password()
    if len(typed) < MIN_LENGTH:
        raise CliError(f"a web password needs at least {MIN_LENGTH} characters")
    if getpass.getpass("again: ") != typed:
        raise CliError("the two passwords differ")
    return typed


async def _set_web_login(uow: Any, officer_id: int, login: str, password: str) -> None:
    from bot.container import utc_now
    from bot.web.passwords import hash_password

    hashed = await asyncio.to_thread(hash_password, password)
    await uow.web.set_login(officer_id, login, hashed, utc_now())


def _print_web_login(login: str, password: str) -> None:
    print(f"web login: {login}")
    print(f"web password: {password}")
    print("(shown this once: only an Argon2id hash is kept; sign in at /admin)")
