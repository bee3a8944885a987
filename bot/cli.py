"""The ``xinfang`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.settings import Settings, SettingsError, load_settings
from petitions.errors import DomainError
from petitions.roles import STAFF_ROLES, Role
from storage.vault import KeyringError, VaultError

__all__ = ["main"]

log = logging.getLogger("xinfang")

CHANNELS_HELP = """\
To run for real, configure at least one channel (environment variables, or the same keys
in a TOML file given with --config / XINFANG_CONFIG):

  Telegram   TELEGRAM_BOT_TOKEN        the token from @BotFather
             TELEGRAM_ADMIN_CHAT_ID    the officers' supergroup, e.g. -1001234567890
             (optional) TELEGRAM_WEBHOOK_URL + TELEGRAM_WEBHOOK_SECRET for webhook mode

  WeCom      WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_SECRET,
             WECOM_TOKEN, WECOM_AES_KEY    from the self-built app's API settings

  Web        XINFANG_WEB=true          the employee page and the officers' page (intranet)

Then register officers:  xinfang officers add NAME --role officer --telegram USER_ID [--web]
See README.md, "Configuration". Local modes without any token: xinfang playground (the
browser), xinfang console (the terminal).
"""
NO_CHANNEL_HELP = (
    "No chat channel is configured, so `xinfang run` starts local mode: the web channel on\n"
    "127.0.0.1 with the embedded defaults, for one person to try the whole flow.\n\n"
    + CHANNELS_HELP
)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_file=args.config)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Request URLs of these libraries contain the bot token; keep them out of INFO logs.
    for noisy in ("httpx", "httpcore", "telegram.ext", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


# -- run / migrate --------------------------------------------------------------------------
async def _run(args: argparse.Namespace) -> int:
    from bot.container import build_container
    from bot.runner import build_channels, run_service

    settings = _settings(args)
    if not settings.channels:
        print(NO_CHANNEL_HELP, file=sys.stderr)
        return await _local(args)
    container = await build_container(settings)
    try:
        channels = build_channels(container)
        print(f"xinfang: channels {', '.join(settings.channels)}; data in {settings.data_dir}")
        print(f"HTTP on http://{settings.http_host}:{settings.http_port} — Ctrl-C stops")
        await run_service(container, channels)
    finally:
        await container.close()
    return 0


async def _local(args: argparse.Namespace) -> int:
    """Local mode in the browser: the web channel on 127.0.0.1 with a demo officer."""
    from dataclasses import replace

    from bot.container import build_container
    from bot.runner import build_channels, run_service
    from bot.settings import WebSettings
    from bot.web.local import DEMO_LOGIN, ensure_demo_officer

    settings = _settings(args)
    if not settings.embedded:
        # A demo leader with a printed password has no place in a real database.
        print("xinfang: local mode runs on the embedded database only", file=sys.stderr)
        print("(unset XINFANG_DATABASE_URL, or configure a channel)", file=sys.stderr)
        return 2
    local = replace(
        settings,
        http_host="127.0.0.1",
        telegram=None,
        wecom=None,
        web=replace(settings.web or WebSettings(), local=True),
    )
    container = await build_container(local)
    try:
        password = await ensure_demo_officer(container)

        def started(urls: list[str]) -> None:
            base = urls[0] if urls else f"http://127.0.0.1:{local.http_port}"
            print(f"xinfang local mode — data in {local.data_dir}")
            print(f"  open {base}/local   employee chat and admin chat side by side")
            print(f"  employee page {base}/   officers' page {base}/admin")
            print(f"  officer login: {DEMO_LOGIN}   password: {password}   (new on every start)")
            print("Ctrl-C stops; the data stays in the data directory.", flush=True)

        try:
            await run_service(container, build_channels(container), started=started)
        except OSError as exc:
            print(f"xinfang: cannot listen on 127.0.0.1:{local.http_port}: {exc.strerror}")
            print("(another program uses the port? set XINFANG_HTTP_PORT)", file=sys.stderr)
            return 1
    finally:
        await container.close()
    print(f"stopped; data kept in {local.data_dir}")
    return 0


async def _playground(args: argparse.Namespace) -> int:
    return await _local(args)


async def _migrate(args: argparse.Namespace) -> int:
    from bot.keys import ensure_keys
    from storage.db import create_engine
    from storage.migrate import current_revision, head_revision, upgrade
    from storage.vault import Vault

    settings = _settings(args)
    vault = Vault(ensure_keys(settings.keyring_file, embedded=settings.embedded))
    engine = create_engine(settings.database_url)
    try:
        before = await current_revision(engine)
        await upgrade(engine, vault=vault)
        after = await current_revision(engine)
    finally:
        await engine.dispose()
    if before == after:
        print(f"database is up to date (revision {after})")
    else:
        print(f"migrated database from {before or 'empty'} to {after} (head {head_revision()})")
    return 0


async def _console(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bot.console import run_console
    from bot.container import build_container

    settings = _settings(args)
    # Local mode delivers case cards to the console's admin chat.
    container = await build_container(
        replace(settings, telegram=None, wecom=None), admin_channels=("console",)
    )
    try:
        return await run_console(container)
    finally:
        await container.close()


# -- keys -------------------------------------------------------------------------------------
async def _keys_init(args: argparse.Namespace) -> int:
    from bot.keys import create_keys

    settings = _settings(args)
    created = create_keys(settings.keyring_file, args.custodian_out)
    print(f"keyring written to {created.keyring_file} (mode 0600)")
    print(f"custodian private key written to {created.custodian_private_file} (mode 0600)")
    print(
        "Move the custodian private key to offline storage (for example an encrypted USB "
        "drive kept by the custodian) and delete it from this server: the service never "
        "needs it, and whoever holds it can reveal real-name petitioners."
    )
    return 0


async def _keys_show(args: argparse.Namespace) -> int:
    from bot.keys import load_keyring

    ring = load_keyring(_settings(args).keyring_file)
    print(f"content keys:   {', '.join(ring.content)} (active {ring.active_content})")
    print(f"delivery keys:  {', '.join(ring.delivery)} (active {ring.active_delivery})")
    print(f"custodian keys: {', '.join(ring.custodian_public)} (active {ring.active_custodian})")
    return 0


async def _keys_rotate(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from bot.keys import load_keyring, write_private_key
    from storage.db import create_engine, session_factory
    from storage.rotation import reencrypt_all, reseal_identities
    from storage.vault import Vault, generate_custodian_key, load_custodian_private_key

    settings = _settings(args)
    ring = load_keyring(settings.keyring_file)
    old_private = None
    if args.custodian_key is not None:
        old_private = load_custodian_private_key(args.custodian_key.read_bytes())
    # 1. add new keys and make them active, keeping the old ones until rewrapping is done,
    #    so an interruption leaves everything readable; rerunning finishes the job.
    import secrets

    content_kid, delivery_kid = f"c{secrets.token_hex(4)}", f"d{secrets.token_hex(4)}"
    ring.content[content_kid] = AESGCM.generate_key(256)
    ring.delivery[delivery_kid] = AESGCM.generate_key(256)
    ring.active_content, ring.active_delivery = content_kid, delivery_kid
    new_custodian = None
    if old_private is not None:
        new_custodian = generate_custodian_key()
        out = args.custodian_out or settings.keyring_file.parent / (
            f"custodian-{new_custodian.kid}.private.pem"
        )
        write_private_key(out, new_custodian)
        ring.custodian_public[new_custodian.kid] = new_custodian.public_raw
        ring.active_custodian = new_custodian.kid
        print(f"new custodian private key written to {out}: move it offline")
    ring.save(settings.keyring_file)
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        vault = Vault(ring)

        def progress(column: str, done: int) -> None:
            print(f"  {column}: {done} re-encrypted", end="\r", flush=True)

        print("re-encrypting content and contacts under the new keys...")
        counts = await reencrypt_all(sessions, vault, progress)
        print()
        for column, n in counts.items():
            print(f"  {column}: {n}")
        if old_private is not None and new_custodian is not None:
            recipient = X25519PublicKey.from_public_bytes(new_custodian.public_raw)
            n = await reseal_identities(sessions, vault, old_private, recipient, new_custodian.kid)
            print(f"  identities re-sealed to custodian key {new_custodian.kid}: {n}")
    finally:
        await engine.dispose()
    # 2. retire the old keys.
    ring.content = {content_kid: ring.content[content_kid]}
    ring.delivery = {delivery_kid: ring.delivery[delivery_kid]}
    if new_custodian is not None:
        ring.custodian_public = {new_custodian.kid: new_custodian.public_raw}
    ring.save(settings.keyring_file)
    print(f"done: active keys {content_kid} (content), {delivery_kid} (delivery)")
    if old_private is None:
        print("custodian key unchanged (give --custodian-key OLD.pem to rotate it too)")
    return 0


# -- identity ---------------------------------------------------------------------------------
async def _identity_reveal(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import reveal_identity

    settings = _settings(args)
    container = await build_container(settings, migrate=False)
    try:
        number, identity = await reveal_identity(
            container.uow, args.case, args.key.read_bytes(), args.reason, utc_now()
        )
    finally:
        await container.close()
    print(f"identity of case {number} (this disclosure is audited and the employee is told):")
    for name, value in identity.items():
        print(f"  {name}: {value}")
    return 0


# -- stats ------------------------------------------------------------------------------------
async def _stats(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.stats import build_report, report_csv, report_text, report_xlsx
    from handlers.officer import stats_period
    from petitions.deadlines import OFFICE_ZONE
    from petitions.statistics import period_days, shown

    settings = _settings(args)
    container = await build_container(settings, migrate=False)
    locale = args.lang or settings.default_locale

    def tr(key: str, **params: Any) -> str:
        return container.translator.t(key, locale, **params)

    try:
        now = utc_now()
        words = [w for w in (args.start, args.end) if w]
        if args.end and not args.start:
            words = [f"{now.astimezone(OFFICE_ZONE).year}-01-01", args.end]
        period = stats_period(words, now, settings.stats_min_days)
        if period is None:
            print("xinfang: --from and --to are dates like 2026-01-31, --from first")
            return 2
        if period_days(*period) < settings.stats_min_days:
            # The same rule as /stats: a short period would single people out.
            message = tr("officer.stats_too_short", days=settings.stats_min_days)
            print(f"xinfang: {message}", file=sys.stderr)
            return 2
        async with container.uow() as uow:
            # Only the masked figures leave this function (text, CSV, XLSX, chart).
            report = shown(await build_report(uow, period[0], period[1], now, settings.policy))
    finally:
        await container.close()

    print(report_text(report, tr, settings.policy))
    if args.csv:
        args.csv.write_bytes(report_csv(report, tr, settings.policy))
        print(f"CSV written to {args.csv}")
    if args.xlsx:
        args.xlsx.write_bytes(report_xlsx(report, tr, settings.policy))
        print(f"XLSX written to {args.xlsx}")
    if args.chart:
        from bot.stats_chart import render_chart

        args.chart.write_bytes(render_chart(report, tr, settings.policy))
        print(f"chart written to {args.chart}")
    return 0


# -- officers ---------------------------------------------------------------------------------
async def _officers(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now

    container = await build_container(_settings(args), migrate=args.officers_cmd == "add")
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


class _PasswordError(Exception):
    """The typed web password was refused."""


def _web_password() -> str:
    """Ask for a web password on a terminal (empty: generate one); generate otherwise."""
    from bot.web.passwords import MIN_LENGTH, generate_password

    if not sys.stdin.isatty():
        return generate_password()
    typed = getpass.getpass("web password (empty: generate one): ")
    if not typed:
        return generate_password()
    if len(typed) < MIN_LENGTH:
        raise _PasswordError(f"a web password needs at least {MIN_LENGTH} characters")
    if getpass.getpass("again: ") != typed:
        raise _PasswordError("the two passwords differ")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="xinfang",
        description="xinfang — a petition (信访) chatbot for Telegram and WeCom.",
        epilog="Configuration comes from XINFANG_*, TELEGRAM_* and WECOM_* environment "
        "variables, or a TOML file (--config). See README.md.",
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--version", action="version", version="xinfang 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "run",
        help="run the bot: HTTP server, channels, delivery (local mode when none configured)",
        description="Run the service: the HTTP server, the configured channels and the\n"
        "outbox delivery. With no channel configured it starts local mode instead: the web\n"
        "channel on 127.0.0.1, the embedded defaults and a one-time demo officer login.",
        epilog=CHANNELS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_parser(
        "playground",
        help="local mode in the browser: employee and admin chat side by side, no token",
    )
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser(
        "console", help="local mode: play employee and officer in the terminal, no token"
    )

    keys = sub.add_parser("keys", help="create, inspect and rotate encryption keys")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True, metavar="ACTION")
    kinit = ksub.add_parser("init", help="create a keyring and a custodian key pair")
    kinit.add_argument(
        "--custodian-out", type=Path, help="where to write the custodian private key"
    )
    ksub.add_parser("show", help="list key ids (never key material)")
    krot = ksub.add_parser("rotate", help="re-encrypt everything under new keys")
    krot.add_argument(
        "--custodian-key",
        type=Path,
        help="the current custodian private key, to rotate the custodian key too",
    )
    krot.add_argument("--custodian-out", type=Path, help="where to write the new private key")

    ident = sub.add_parser("identity", help="recorded disclosure of a real-name identity")
    isub = ident.add_subparsers(dest="identity_cmd", required=True, metavar="ACTION")
    reveal = isub.add_parser("reveal", help="reveal one case's identity (audited)")
    reveal.add_argument("case", help="case number (XF-2026-000123) or id")
    reveal.add_argument("--key", type=Path, required=True, help="custodian private key file")
    reveal.add_argument("--reason", required=True, help="why (told to the employee)")

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

    st = sub.add_parser(
        "stats",
        help="statistics of a period: rates, counts, overdue cases (no identities)",
        description="Print the statistics of the cases registered in a period (local dates,\n"
        "both included; default: this year so far, at least XINFANG_STATS_MIN_DAYS days).\n"
        "So that nobody can be singled out, every count below 3 is shown as \"<3\", small\n"
        "categories are merged per unit, and shorter periods are refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day")
    st.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (default: today)")
    st.add_argument("--lang", choices=("zh_CN", "en"), help="language of the labels")
    st.add_argument("--csv", type=Path, metavar="FILE", help="also write the figures as CSV")
    st.add_argument("--xlsx", type=Path, metavar="FILE", help="also write an XLSX workbook")
    st.add_argument("--chart", type=Path, metavar="FILE", help="also draw the chart (PNG)")
    return parser


_COMMANDS = {
    "run": _run,
    "migrate": _migrate,
    "console": _console,
    "playground": _playground,
    "officers": _officers,
    "identity": _identity_reveal,
    "stats": _stats,
}
_KEYS = {"init": _keys_init, "show": _keys_show, "rotate": _keys_rotate}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xinfang`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "identity" and args.identity_cmd == "reveal" and args.reason == "-":
        args.reason = getpass.getpass("reason: ")
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"xinfang: configuration error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    handler = _KEYS[args.keys_cmd] if args.command == "keys" else _COMMANDS[args.command]
    try:
        return asyncio.run(handler(args))
    except KeyboardInterrupt:
        return 130
    except (SettingsError, KeyringError, VaultError, _PasswordError) as exc:
        print(f"xinfang: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"xinfang: {exc.code.replace('_', ' ')}", file=sys.stderr)
        return 1
    except Exception as exc:  # a clean message instead of a traceback full of locals
        from bot.disclosure import DisclosureError

        if isinstance(exc, DisclosureError):
            print(f"xinfang: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):
            print(f"xinfang: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
