"""``xinfang officers add | import | web | list | remove | totp``: the people who handle
cases. Every change of who may do what is audited with channel ``cli``, role ``system``
(the operator at the terminal is no officer) and the officer it concerned."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.cli.common import CliError, config_of
from petitions.roles import STAFF_ROLES, Role
from petitions.units import valid_code

__all__ = ["IMPORT_COLUMNS", "ROLE_NAMES", "ImportRow", "parse_officers_csv", "register"]

# The header of an import file, in this order (the order is not checked).
IMPORT_COLUMNS = ("name", "role", "unit", "telegram", "wecom", "web_login")
# Roles as a personnel department writes them, in Chinese or English.
ROLE_NAMES = {
    "信访专员": Role.OFFICER,
    "officer": Role.OFFICER,
    "领导": Role.LEADER,
    "leader": Role.LEADER,
    "纪检": Role.DISCIPLINE,
    "discipline": Role.DISCIPLINE,
    "保管人": Role.CUSTODIAN,
    "custodian": Role.CUSTODIAN,
}
_MAX_NAME = 100  # officers.name is VARCHAR(100)
_MAX_WECOM_USERID = 64  # WeCom's limit for a userid


def register(sub: Any) -> None:
    """Add ``officers`` and its actions."""
    off = sub.add_parser("officers", help="manage the people who handle cases")
    osub = off.add_subparsers(dest="officers_cmd", required=True, metavar="ACTION")
    add = osub.add_parser("add", help="register an officer")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=sorted(r.value for r in STAFF_ROLES), help="role"
    )
    add.add_argument(
        "--unit",
        metavar="CODE",
        help="the code of the officer's unit (xinfang units list); they see its subtree's "
        "cases. Without it: the root unit, which sees every case",
    )
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
    imp = osub.add_parser(
        "import",
        help="register many officers from a CSV file (all or nothing)",
        description="Register officers from a CSV file (UTF-8, with or without BOM; Excel:\n"
        "save as 'CSV UTF-8'). Header: name,role,unit,telegram,wecom,web_login. Roles:\n"
        "信访专员/officer, 领导/leader, 纪检/discipline, 保管人/custodian. unit: the CODE of\n"
        "the officer's unit (xinfang units list), who then sees its subtree's cases; empty:\n"
        "the root unit, which sees every case. Each row needs a telegram user id, a wecom\n"
        "userid or a web_login. One transaction: any bad row (an unknown unit code too) is\n"
        "reported with its line number and nothing is changed. Web passwords are generated\n"
        "and written to a file readable only by you (mode 0600), never shown.",
        epilog="example:\n"
        "  name,role,unit,telegram,wecom,web_login\n"
        "  张三,信访专员,JT-A-1,4201,,\n"
        "  李四,领导,JT-A,,LiSi,lisi\n\n"
        "  xinfang officers import staff.csv --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--passwords-out",
        type=Path,
        metavar="FILE",
        help="where the generated web passwords go (default: FILE-web-passwords.csv beside "
        "the input; never overwritten)",
    )
    imp.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip (and report) rows whose account or web login is already registered, "
        "instead of refusing the file",
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="check the file and report; change nothing"
    )
    lst = osub.add_parser("list", help="list officers")
    lst.add_argument("--all", action="store_true", help="include removed officers")
    rm = osub.add_parser("remove", help="remove an officer (kept in the audit trail)")
    rm.add_argument("id", type=int)
    totp = osub.add_parser(
        "totp",
        help="enrol an officer's web sign-in in TOTP (required for custodians)",
        description="Make a new TOTP secret for the officer's web sign-in and print its "
        "otpauth:// URI once, to scan into an authenticator app; the old one stops working. "
        "Custodians cannot sign in on the web without it.",
    )
    totp.add_argument("id", type=int)
    totp.add_argument("--off", action="store_true", help="remove the officer's TOTP instead")

    off.set_defaults(handler=_officers)


async def _unit_id(uow: Any, code: str | None) -> int | None | Literal[False]:
    """The id of the unit in service a code names; None for no code; False for an unknown
    or retired one."""
    if not code:
        return None
    unit = (await uow.units.tree()).by_code(code.strip())
    return unit.id if unit is not None and not unit.retired else False


async def _unknown_units(uow: Any, rows: Sequence[ImportRow]) -> list[str]:
    """Line-numbered errors for rows whose unit code names no unit in service."""
    tree = await uow.units.tree()
    errors = []
    for row in rows:
        if row.unit is None:
            continue
        unit = tree.by_code(row.unit)
        if unit is None:
            errors.append(
                f"line {row.line}: no unit with the code {row.unit!r} (xinfang units list)"
            )
        elif unit.retired:
            errors.append(f"line {row.line}: the unit {row.unit} is retired")
    return errors


async def _officers(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now

    if args.officers_cmd == "import":
        return await _import(args)
    if args.officers_cmd == "totp":
        return await _totp(args)
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
                unit_id = await _unit_id(uow, args.unit)
                if unit_id is False:
                    print(
                        f"no unit in service with the code {args.unit!r}: see xinfang units list"
                    )
                    return 2
                password = _web_password() if args.web else None
                officer = await uow.officers.add(
                    args.name, Role(args.role), utc_now(), unit_id=unit_id, accounts=accounts
                )
                if password is not None:
                    await _set_web_login(uow, officer.id, login, password)
                await uow.audit.add(
                    utc_now(),
                    Role.SYSTEM,
                    "officer.add",
                    subject_officer_id=officer.id,
                    channel="cli",
                    detail={"officer_id": officer.id, "role": officer.role.value},
                )
                if password is not None:
                    await uow.audit.add(
                        utc_now(),
                        Role.SYSTEM,
                        "officer.web_password",
                        subject_officer_id=officer.id,
                        channel="cli",
                    )
                await uow.commit()
                print(f"added officer #{officer.id} {officer.name} ({officer.role.value})")
                if password is not None:
                    _print_web_login(login, password)
            elif args.officers_cmd == "web":
                target = await uow.officers.get(args.id)
                if target is None or not target.active:
                    print(f"no active officer #{args.id}")
                    return 1
                login = (args.login or target.name).strip()
                found = await uow.web.credentials(login)
                if found is not None and found[0] != target.id:
                    print(f"the web login {login!r} is taken: choose another with --login")
                    return 2
                password = _web_password()
                await _set_web_login(uow, target.id, login, password)
                await uow.audit.add(
                    utc_now(),
                    Role.SYSTEM,
                    "officer.web_password",
                    subject_officer_id=target.id,
                    channel="cli",
                    detail={"officer_id": target.id},
                )
                await uow.commit()
                _print_web_login(login, password)
            elif args.officers_cmd == "list":
                officers = await uow.officers.list(include_inactive=args.all)
                tree = await uow.units.tree()
                if not officers:
                    print("no officers yet: xinfang officers add NAME --role officer ...")
                for o in officers:
                    channels = ",".join(await uow.officers.channels_of(o.id)) or "-"
                    state = "" if o.active else " (removed)"
                    home = tree.get(o.unit_id)
                    unit = f"{home.code} {home.name}" if home else "-"
                    print(f"#{o.id}\t{o.name}\t{o.role.value}\t{unit}\t{channels}{state}")
            else:
                if not await uow.officers.deactivate(args.id):
                    print(f"no active officer #{args.id}")
                    return 1
                await uow.audit.add(
                    utc_now(),
                    Role.SYSTEM,
                    "officer.remove",
                    subject_officer_id=args.id,
                    channel="cli",
                    detail={"officer_id": args.id},
                )
                await uow.commit()
                print(f"removed officer #{args.id} (kept in the audit trail)")
    finally:
        await container.close()
    return 0


async def _totp(args: argparse.Namespace) -> int:
    import pyotp

    from bot.container import build_container, utc_now

    container = await build_container(config_of(args), migrate=False)
    try:
        async with container.uow() as uow:
            officer = await uow.officers.get(args.id)
            if officer is None or not officer.active:
                print(f"no active officer #{args.id}")
                return 1
            secret = None if args.off else pyotp.random_base32()
            await uow.web.set_totp(officer.id, secret)
            await uow.audit.add(
                utc_now(),
                Role.SYSTEM,
                "officer.totp_off" if args.off else "officer.totp",
                subject_officer_id=officer.id,
                channel="cli",
            )
            await uow.commit()
    finally:
        await container.close()
    if secret is None:
        print(f"TOTP removed for officer #{args.id}")
        if officer.role is Role.CUSTODIAN:
            print("a custodian without TOTP cannot sign in on the web")
        return 0
    uri = pyotp.TOTP(secret).provisioning_uri(name=f"officer-{officer.id}", issuer_name="xinfang")
    print("Scan this into the officer's authenticator app now; it is not shown again:")
    print(uri)
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


@dataclass(frozen=True)
class ImportRow:
    """One officer of an import file, checked."""

    line: int
    name: str
    role: Role
    unit: str | None  # the unit's code
    accounts: dict[str, str] = field(default_factory=dict)  # channel -> account id
    web_login: str | None = None


def parse_officers_csv(data: bytes) -> tuple[list[ImportRow], list[str]]:
    """Check an import file; return its rows and the line-numbered errors (none: usable)."""
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        # The byte offset, not a line: the undecodable bytes have no lines yet.
        return [], [f"the file is not UTF-8 (byte {exc.start}); in Excel save it as 'CSV UTF-8'"]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], ["the file is empty"]
    names = [h.strip().lower() for h in header]
    missing = [c for c in IMPORT_COLUMNS if c not in names]
    unknown = [h for h in names if h not in IMPORT_COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        wanted = ",".join(IMPORT_COLUMNS)
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "",
                "a column twice" if len(set(names)) != len(names) else "",
            )
            if part
        )
        return [], [f"line 1: the header must be {wanted} ({detail})"]
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}  # (channel, account or login) -> first line
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines (Excel leaves some at the end)
        if len(cells) != len(names):
            errors.append(f"line {line}: {len(cells)} fields, the header has {len(names)}")
            continue
        values = {n: c.strip() for n, c in zip(names, cells, strict=True)}
        row, problems = _import_row(line, values)
        errors.extend(f"line {line}: {p}" for p in problems)
        if row is None:
            continue
        keys = [(ch, acc) for ch, acc in row.accounts.items()]
        if row.web_login:
            keys.append(("web login", row.web_login.casefold()))
        for key in keys:
            if key in seen:
                errors.append(f"line {line}: the same {key[0]} as line {seen[key]}")
            else:
                seen[key] = line
        rows.append(row)
    if not rows and not errors:
        errors.append("no officers in the file (only the header)")
    return rows, errors


def _import_row(line: int, v: dict[str, str]) -> tuple[ImportRow | None, list[str]]:
    problems = []
    name, unit = v["name"], v["unit"] or None
    if not name:
        problems.append("name is empty")
    elif len(name) > _MAX_NAME:
        problems.append(f"name is longer than {_MAX_NAME} characters")
    if unit is not None and not valid_code(unit):
        problems.append(f"unit {unit!r} is not a unit code (xinfang units list)")
    role = ROLE_NAMES.get(v["role"]) or ROLE_NAMES.get(v["role"].lower())
    if role is None:
        choices = "信访专员/officer, 领导/leader, 纪检/discipline, 保管人/custodian"
        problems.append(f"role {v['role']!r} is not one of {choices}")
    telegram, wecom, web_login = v["telegram"], v["wecom"], v["web_login"] or None
    if telegram and not (telegram.isascii() and telegram.isdigit()):
        # Only the column is named: a wrong value may still be someone's account.
        problems.append("telegram must be the numeric Telegram user id")
    if wecom and (len(wecom) > _MAX_WECOM_USERID or any(c.isspace() for c in wecom)):
        problems.append(f"wecom must be a WeCom userid (no spaces, at most {_MAX_WECOM_USERID})")
    if web_login is not None and len(web_login) > _MAX_NAME:
        problems.append(f"web_login is longer than {_MAX_NAME} characters")
    if not (telegram or wecom or web_login):
        problems.append("give at least one of telegram, wecom, web_login")
    if problems or role is None:
        return None, problems
    accounts = {ch: acc for ch, acc in (("telegram", telegram), ("wecom", wecom)) if acc}
    return ImportRow(line, name, role, unit, accounts, web_login), []


async def _taken(uow: Any, rows: Sequence[ImportRow]) -> dict[int, str]:
    """Rows whose account or web login is registered already: line -> why."""
    found: dict[int, str] = {}
    for row in rows:
        for channel, account in row.accounts.items():
            officer = await uow.officers.by_account(channel, account)
            if officer is not None:
                found[row.line] = f"the {channel} account already belongs to officer #{officer.id}"
                break
        else:
            if row.web_login and await uow.web.login_taken(row.web_login):
                found[row.line] = f"the web login {row.web_login!r} is taken"
    return found


async def _import(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.web.passwords import generate_password, hash_password

    rows, errors = parse_officers_csv(args.file.read_bytes())
    if errors:
        for error in errors:
            print(f"{args.file.name}: {error}", file=sys.stderr)
        print(f"nothing imported: {len(errors)} error(s)", file=sys.stderr)
        return 1
    container = await build_container(config_of(args), migrate=True)
    try:
        async with container.uow() as uow:
            # Checked before anything is written (the passwords file included).
            unknown = await _unknown_units(uow, rows)
            taken = await _taken(uow, rows)
        if unknown:
            for error in unknown:
                print(f"{args.file.name}: {error}", file=sys.stderr)
            print(f"nothing imported: {len(unknown)} error(s)", file=sys.stderr)
            return 1
        for line, why in sorted(taken.items()):
            verb = "skipped" if args.skip_existing else "already registered"
            print(f"{args.file.name}: line {line}: {verb}: {why}", file=sys.stderr)
        if taken and not args.skip_existing:
            print(
                f"nothing imported: {len(taken)} row(s) already registered "
                "(--skip-existing imports the others)",
                file=sys.stderr,
            )
            return 1
        rows = [r for r in rows if r.line not in taken]
        if args.dry_run or not rows:
            print(f"{len(rows)} officer(s) to add, {len(taken)} skipped; nothing changed")
            return 0
        # Argon2 takes a while per password: hash before the write transaction, which
        # on the embedded database holds the running bot's writes while it is open.
        secrets: dict[int, tuple[str, str]] = {}
        for row in rows:
            if row.web_login:
                password = generate_password()
                secrets[row.line] = (password, await asyncio.to_thread(hash_password, password))
        out = args.passwords_out or args.file.with_name(f"{args.file.stem}-web-passwords.csv")
        handle = _create_private(out) if secrets else None
        try:
            added = await _add_rows(
                uow_factory=container.uow,
                rows=rows,
                secrets=secrets,
                skipped=len(taken),
                now=utc_now(),
                handle=handle,
            )
        except BaseException:
            if handle is not None:
                handle.close()
                out.unlink(missing_ok=True)
            raise
    finally:
        await container.close()
    print(f"added {len(added)} officer(s): #{added[0]}–#{added[-1]}; {len(taken)} skipped")
    if secrets:
        print(
            f"web passwords of {len(secrets)} login(s) written to {out} (mode 0600): hand each "
            "officer their own, then delete the file; only Argon2id hashes are kept"
        )
    return 0


def _create_private(path: Path) -> io.TextIOWrapper:
    """Open a new file that only this user can read; never replace an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(
            f"refusing to overwrite {path}: move it away or give --passwords-out"
        ) from None
    return open(fd, "w", encoding="utf-8-sig", newline="")  # BOM: Excel reads it as UTF-8


async def _add_rows(
    *,
    uow_factory: Any,
    rows: Sequence[ImportRow],
    secrets: dict[int, tuple[str, str]],
    skipped: int,
    now: Any,
    handle: io.TextIOWrapper | None,
) -> list[int]:
    """Insert every row in one transaction; write the passwords file before committing."""
    writer = csv.writer(handle) if handle is not None else None
    if writer is not None:
        writer.writerow(["line", "officer_id", "name", "web_login", "password"])
    added: list[int] = []
    async with uow_factory() as uow:
        # Checked again inside the write transaction: another command may have added one.
        taken = await _taken(uow, rows)
        if taken:
            line, why = min(taken.items())
            raise CliError(f"nothing imported: line {line}: {why} (registered meanwhile)")
        for row in rows:
            unit_id = await _unit_id(uow, row.unit)
            if unit_id is False:
                raise CliError(
                    f"nothing imported: line {row.line}: no unit with the code {row.unit!r}"
                )
            officer = await uow.officers.add(
                row.name, row.role, now, unit_id=unit_id, accounts=row.accounts
            )
            added.append(officer.id)
            detail = {"officer_id": officer.id, "via": "import"}
            await uow.audit.add(
                now,
                Role.SYSTEM,
                "officer.add",
                subject_officer_id=officer.id,
                channel="cli",
                detail=detail,
            )
            if row.web_login and writer is not None:
                password, hashed = secrets[row.line]
                await uow.web.set_login(officer.id, row.web_login, hashed, now)
                await uow.audit.add(
                    now,
                    Role.SYSTEM,
                    "officer.web_password",
                    subject_officer_id=officer.id,
                    channel="cli",
                    detail=detail,
                )
                writer.writerow([row.line, officer.id, row.name, row.web_login, password])
        await uow.audit.add(
            now,
            Role.SYSTEM,
            "officer.import",
            channel="cli",
            detail={"added": added, "skipped": skipped},
        )
        if handle is not None:
            # On disk before the commit: a commit without the file would leave logins
            # nobody knows the password of.
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        await uow.commit()
    return added
