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

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_
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
    off = sub.add_parser("officers", help=t("cli.officers.help"))
    osub = off.add_subparsers(
        dest="officers_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    officer_id = t("cli.officers.metavar_id")
    add = osub.add_parser("add", help=t("cli.officers.add_help"))
    add.add_argument("name", metavar=t("cli.officers.metavar_name"))
    add.add_argument(
        "--role",
        required=True,
        choices=sorted(r.value for r in STAFF_ROLES),
        help=t("cli.officers.role_help"),
    )
    add.add_argument(
        "--unit",
        metavar="CODE",
        help=t("cli.officers.unit_help", command="xinfang units list"),
    )
    add.add_argument(
        "--telegram",
        metavar=t("cli.officers.metavar_user_id"),
        help=t("cli.officers.telegram_help", telegram="Telegram"),
    )
    add.add_argument(
        "--wecom", metavar=t("cli.officers.metavar_userid"), help=t("cli.officers.wecom_help")
    )
    add.add_argument("--web", action="store_true", help=t("cli.officers.web_help"))
    add.add_argument(
        "--web-login",
        metavar=t("cli.officers.metavar_login"),
        help=t("cli.officers.web_login_help"),
    )
    webp = osub.add_parser("web", help=t("cli.officers.web_cmd_help"))
    webp.add_argument("id", type=int, metavar=officer_id)
    webp.add_argument(
        "--login", metavar=t("cli.officers.metavar_login"), help=t("cli.officers.login_help")
    )
    example = (
        "  name,role,unit,telegram,wecom,web_login\n"
        "  张三,信访专员,JT-A-1,4201,,\n"
        "  李四,领导,JT-A,,LiSi,lisi\n\n"
        "  xinfang officers import staff.csv --dry-run"
    )
    imp = osub.add_parser(
        "import",
        help=t("cli.officers.import_help"),
        description=t(
            "cli.officers.import_description",
            format="'CSV UTF-8'",
            utf8="UTF-8",
            bom="BOM",
            header=",".join(IMPORT_COLUMNS),
            roles="信访专员/officer, 领导/leader, 纪检/discipline, 保管人/custodian",
            unit="unit",
            command="xinfang units list",
            telegram="telegram",
            wecom="wecom",
            web_login="web_login",
        ),
        epilog=t("cli.officers.import_epilog", example=example),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--passwords-out",
        type=Path,
        metavar="FILE",
        help=t("cli.officers.passwords_out_help", file="FILE-web-passwords.csv"),
    )
    imp.add_argument(
        "--skip-existing", action="store_true", help=t("cli.officers.skip_existing_help")
    )
    imp.add_argument("--dry-run", action="store_true", help=t("cli.officers.dry_run_help"))
    lst = osub.add_parser("list", help=t("cli.officers.list_help"))
    lst.add_argument("--all", action="store_true", help=t("cli.officers.all_help"))
    rm = osub.add_parser("remove", help=t("cli.officers.remove_help"))
    rm.add_argument("id", type=int, metavar=officer_id)
    totp = osub.add_parser(
        "totp",
        help=t("cli.officers.totp_help", totp="TOTP"),
        description=t("cli.officers.totp_description", totp="TOTP", scheme="otpauth://"),
    )
    totp.add_argument("id", type=int, metavar=officer_id)
    totp.add_argument("--off", action="store_true", help=t("cli.officers.off_help", totp="TOTP"))

    off.set_defaults(handler=_officers)


def _role(role: Role) -> str:
    """A role as the command line names it: its value in English, its name otherwise."""
    return role.value if cli_locale() == "en" else t(f"role.{role.value}")


# The names of accounts in another language than English (where they are the channel's
# own word, as the import file's columns).
_ACCOUNT_NAMES = {
    "wecom": N_("cli.officers.account_wecom"),
    "web login": N_("cli.officers.account_web"),
    "web": N_("cli.officers.account_web_channel"),
}


def _account(channel: str) -> str:
    """What kind of account a channel's is, in the command line's language."""
    if cli_locale() == "en":
        return channel
    if channel == "telegram":
        return "Telegram"
    key = _ACCOUNT_NAMES.get(channel)
    return t(key) if key else channel


def _line(line: int, error: str) -> str:
    return t("cli.officers.line", line=line, error=error)


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
            no_unit = t("cli.officers.no_unit", code=repr(row.unit), command="xinfang units list")
            errors.append(_line(row.line, no_unit))
        elif unit.retired:
            errors.append(_line(row.line, t("cli.officers.unit_retired", code=row.unit)))
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
                    print(
                        t(
                            "cli.officers.no_account",
                            telegram="--telegram USER_ID",
                            wecom="--wecom USERID",
                            web="--web",
                        )
                    )
                    return 2
                for channel, account in accounts.items():
                    if await uow.officers.by_account(channel, account):
                        print(t("cli.officers.account_taken", account=_account(channel)))
                        return 2
                login = (args.web_login or args.name).strip()
                if args.web and await uow.web.login_taken(login):
                    print(t("cli.officers.login_taken", login=repr(login), option="--web-login"))
                    return 2
                unit_id = await _unit_id(uow, args.unit)
                if unit_id is False:
                    print(
                        t(
                            "cli.officers.no_unit_in_service",
                            code=repr(args.unit),
                            command="xinfang units list",
                        )
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
                print(
                    t(
                        "cli.officers.added",
                        id=officer.id,
                        name=officer.name,
                        role=_role(officer.role),
                    )
                )
                if password is not None:
                    _print_web_login(login, password)
            elif args.officers_cmd == "web":
                target = await uow.officers.get(args.id)
                if target is None or not target.active:
                    print(t("cli.officers.no_active", id=args.id))
                    return 1
                login = (args.login or target.name).strip()
                found = await uow.web.credentials(login)
                if found is not None and found[0] != target.id:
                    print(t("cli.officers.login_taken", login=repr(login), option="--login"))
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
                    print(
                        t(
                            "cli.officers.none",
                            command="xinfang officers add NAME --role officer ...",
                        )
                    )
                for o in officers:
                    owned = await uow.officers.channels_of(o.id)
                    channels = ",".join(_account(ch) for ch in owned) or "-"
                    state = "" if o.active else t("cli.officers.removed_mark")
                    home = tree.get(o.unit_id)
                    unit = f"{home.code} {home.name}" if home else "-"
                    print(f"#{o.id}\t{o.name}\t{_role(o.role)}\t{unit}\t{channels}{state}")
            else:
                if not await uow.officers.deactivate(args.id):
                    print(t("cli.officers.no_active", id=args.id))
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
                print(t("cli.officers.removed", id=args.id))
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
                print(t("cli.officers.no_active", id=args.id))
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
        print(t("cli.officers.totp_removed", totp="TOTP", id=args.id))
        if officer.role is Role.CUSTODIAN:
            print(t("cli.officers.totp_needed", totp="TOTP"))
        return 0
    uri = pyotp.TOTP(secret).provisioning_uri(name=f"officer-{officer.id}", issuer_name="xinfang")
    print(t("cli.officers.scan"))
    print(uri)
    return 0


def _web_password() -> str:
    """Ask for a web password on a terminal (empty: generate one); generate otherwise."""
    from bot.web.passwords import MIN_LENGTH, generate_password

    if not sys.stdin.isatty():
        return generate_password()
    typed = getpass.getpass(t("cli.officers.password_prompt"))
    if not typed:
        return generate_password()
    if len(typed) < MIN_LENGTH:
        raise CliError(t("cli.officers.password_short", min=MIN_LENGTH))
    if getpass.getpass(t("cli.officers.again_prompt")) != typed:
        raise CliError(t("cli.officers.passwords_differ"))
    return typed


async def _set_web_login(uow: Any, officer_id: int, login: str, password: str) -> None:
    from bot.container import utc_now
    from bot.web.passwords import hash_password

    hashed = await asyncio.to_thread(hash_password, password)
    await uow.web.set_login(officer_id, login, hashed, utc_now())


def _print_web_login(login: str, password: str) -> None:
    print(t("cli.officers.web_login", login=login))
    print(t("cli.officers.web_password", password=password))
    print(t("cli.officers.shown_once", hash="Argon2id"))


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
        return [], [t("cli.officers.not_utf8", utf8="UTF-8", byte=exc.start, format="'CSV UTF-8'")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], [t("cli.officers.empty")]
    names = [h.strip().lower() for h in header]
    missing = [c for c in IMPORT_COLUMNS if c not in names]
    unknown = [h for h in names if h not in IMPORT_COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        wanted = ",".join(IMPORT_COLUMNS)
        detail = t("cli.officers.separator").join(
            part
            for part in (
                t("cli.officers.missing", columns=", ".join(missing)) if missing else "",
                t("cli.officers.unknown", columns=", ".join(unknown)) if unknown else "",
                t("cli.officers.twice") if len(set(names)) != len(names) else "",
            )
            if part
        )
        return [], [_line(1, t("cli.officers.bad_header", header=wanted, detail=detail))]
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}  # (channel, account or login) -> first line
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines (Excel leaves some at the end)
        if len(cells) != len(names):
            fields = t("cli.officers.fields", count=len(cells), header=len(names))
            errors.append(_line(line, fields))
            continue
        values = {n: c.strip() for n, c in zip(names, cells, strict=True)}
        row, problems = _import_row(line, values)
        errors.extend(_line(line, p) for p in problems)
        if row is None:
            continue
        keys = [(ch, acc) for ch, acc in row.accounts.items()]
        if row.web_login:
            keys.append(("web login", row.web_login.casefold()))
        for key in keys:
            if key in seen:
                same = t("cli.officers.same", account=_account(key[0]), line=seen[key])
                errors.append(_line(line, same))
            else:
                seen[key] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(t("cli.officers.no_rows"))
    return rows, errors


def _import_row(line: int, v: dict[str, str]) -> tuple[ImportRow | None, list[str]]:
    problems = []
    name, unit = v["name"], v["unit"] or None
    if not name:
        problems.append(t("cli.officers.name_empty", column="name"))
    elif len(name) > _MAX_NAME:
        problems.append(t("cli.officers.too_long", column="name", max=_MAX_NAME))
    if unit is not None and not valid_code(unit):
        problems.append(
            t(
                "cli.officers.bad_unit",
                column="unit",
                code=repr(unit),
                command="xinfang units list",
            )
        )
    role = ROLE_NAMES.get(v["role"]) or ROLE_NAMES.get(v["role"].lower())
    if role is None:
        choices = "信访专员/officer, 领导/leader, 纪检/discipline, 保管人/custodian"
        problems.append(
            t("cli.officers.bad_role", column="role", role=repr(v["role"]), choices=choices)
        )
    telegram, wecom, web_login = v["telegram"], v["wecom"], v["web_login"] or None
    if telegram and not (telegram.isascii() and telegram.isdigit()):
        # Only the column is named: a wrong value may still be someone's account.
        problems.append(t("cli.officers.bad_telegram", column="telegram", telegram="Telegram"))
    if wecom and (len(wecom) > _MAX_WECOM_USERID or any(c.isspace() for c in wecom)):
        problems.append(t("cli.officers.bad_wecom", column="wecom", max=_MAX_WECOM_USERID))
    if web_login is not None and len(web_login) > _MAX_NAME:
        problems.append(t("cli.officers.too_long", column="web_login", max=_MAX_NAME))
    if not (telegram or wecom or web_login):
        problems.append(t("cli.officers.no_columns", columns="telegram, wecom, web_login"))
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
                found[row.line] = t(
                    "cli.officers.account_of", account=_account(channel), id=officer.id
                )
                break
        else:
            if row.web_login and await uow.web.login_taken(row.web_login):
                found[row.line] = t("cli.officers.login_is_taken", login=repr(row.web_login))
    return found


async def _import(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.web.passwords import generate_password, hash_password

    rows, errors = parse_officers_csv(args.file.read_bytes())
    if errors:
        for error in errors:
            print(f"{args.file.name}: {error}", file=sys.stderr)
        print(t("cli.officers.not_imported", count=len(errors)), file=sys.stderr)
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
            print(t("cli.officers.not_imported", count=len(unknown)), file=sys.stderr)
            return 1
        for line, why in sorted(taken.items()):
            if args.skip_existing:
                verdict = t("cli.officers.skipped", why=why)
            else:
                verdict = t("cli.officers.registered", why=why)
            print(f"{args.file.name}: {_line(line, verdict)}", file=sys.stderr)
        if taken and not args.skip_existing:
            print(
                t("cli.officers.not_imported_taken", count=len(taken), option="--skip-existing"),
                file=sys.stderr,
            )
            return 1
        rows = [r for r in rows if r.line not in taken]
        if args.dry_run or not rows:
            print(t("cli.officers.dry_run", count=len(rows), skipped=len(taken)))
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
    first, last = added[0], added[-1]
    print(t("cli.officers.imported", count=len(added), first=first, last=last, skipped=len(taken)))
    if secrets:
        print(t("cli.officers.passwords_written", count=len(secrets), path=out, hash="Argon2id"))
    return 0


def _create_private(path: Path) -> io.TextIOWrapper:
    """Open a new file that only this user can read; never replace an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(
            t("cli.officers.no_overwrite", path=path, option="--passwords-out")
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
        writer.writerow(t("cli.officers.passwords_header").split(","))
    added: list[int] = []
    async with uow_factory() as uow:
        # Checked again inside the write transaction: another command may have added one.
        taken = await _taken(uow, rows)
        if taken:
            line, why = min(taken.items())
            raise CliError(t("cli.officers.taken_meanwhile", error=_line(line, why)))
        for row in rows:
            unit_id = await _unit_id(uow, row.unit)
            if unit_id is False:
                no_unit = t("cli.officers.no_unit_code", code=repr(row.unit))
                raise CliError(t("cli.officers.unit_gone", error=_line(row.line, no_unit)))
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
