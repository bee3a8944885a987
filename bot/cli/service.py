"""``xinfang run | playground | console | migrate``: the service and local modes."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, config_of
from petitions.roles import Role

if TYPE_CHECKING:
    from bot.container import Container

__all__ = [
    "EXAMPLE_GROUP",
    "PLAYGROUND_OFFICERS",
    "PlaygroundLogin",
    "register",
    "seed_playground",
]

# The three-level example group (bot/cli/example-group.csv): local mode starts with it.
EXAMPLE_GROUP = Path(__file__).resolve().parent / "example-group.csv"
# Local mode's officers on the ladder of the example group: the plant answers, the
# company's leader decides 复查, the group's leader 复核 (login, name, role, unit code).
# Names in Chinese only, as the demo leader's: the pages add the role in their language.
PLAYGROUND_OFFICERS = (
    ("plant", "甲一厂演示专员", Role.OFFICER, "JT-A-1"),
    ("company", "甲能源公司演示领导", Role.LEADER, "JT-A"),
    ("group", "集团演示领导", Role.LEADER, "JT"),
)

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
PLAYGROUND_HELP = """\
Local mode in the browser, for one person to try the whole flow without any token:
the web channel on 127.0.0.1 with the embedded database in the data directory
(XINFANG_DATA_DIR, default ./xinfang-data), an employee page, an officers' page and
both side by side at /local. A demo leader login is printed, with a password that is
new on every start. A database without units starts with the example group of
bot/cli/example-group.csv (集团 → 甲能源公司, 乙制造公司 → their plants), and three more
logins walk the ladder: "plant" (an officer of 甲一厂, who answers), "company" (a leader
of 甲能源公司, who decides 复查) and "group" (a leader of 集团, who decides 复核). A port
that is already taken is refused before anything is created. Ctrl-C stops; the data
stays in the data directory.
"""
CONSOLE_HELP = """\
Local mode in the terminal: type as the employee, switch to the officers' admin chat
with :officer (back with :employee), answer a numbered button by its number, leave
with :quit or Ctrl-D (Ctrl-C also stops). Uses the embedded database in the data
directory (XINFANG_DATA_DIR, default ./xinfang-data); nothing listens on the network.
"""
NO_CHANNEL_HELP = (
    "No chat channel is configured, so `xinfang run` starts local mode: the web channel on\n"
    "127.0.0.1 with the embedded defaults, for one person to try the whole flow.\n\n"
    + CHANNELS_HELP
)


def register(sub: Any) -> None:
    """Add the commands that run the service."""
    run = sub.add_parser(
        "run",
        help="run the bot: HTTP server, channels, delivery (local mode when none configured)",
        description="Run the service: the HTTP server, the configured channels and the\n"
        "outbox delivery. With no channel configured it starts local mode instead: the web\n"
        "channel on 127.0.0.1, the embedded defaults and a one-time demo officer login.",
        epilog=CHANNELS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(handler=_run)
    playground = sub.add_parser(
        "playground",
        help="local mode in the browser: employee and admin chat side by side, no token",
        description=PLAYGROUND_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    playground.add_argument(
        "--port",
        type=_port,
        help="the port on 127.0.0.1 (default: XINFANG_HTTP_PORT, else 8080; 0 picks a free one)",
    )
    playground.set_defaults(handler=_playground)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        handler=_migrate
    )
    sub.add_parser(
        "console",
        help="local mode: play employee and officer in the terminal, no token",
        description=CONSOLE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(handler=_console)


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("a port is a number from 0 to 65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is a number from 0 to 65535")
    return value


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (checked before anything is created)."""
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As aiohttp's own listener does: a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


async def _run(args: argparse.Namespace) -> int:
    from bot.container import build_container
    from bot.keys import refuse_private_keys_on_server
    from bot.runner import build_channels, run_service

    settings = config_of(args)
    if not settings.channels:
        print(NO_CHANNEL_HELP, file=sys.stderr)
        return await _local(args)
    # Outside local mode a custodian private key must not sit next to the data.
    refuse_private_keys_on_server(settings)
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

    settings = config_of(args)
    if not settings.embedded:
        # A demo leader with a printed password has no place in a real database.
        print("xinfang: local mode runs on the embedded database only", file=sys.stderr)
        print("(unset XINFANG_DATABASE_URL, or configure a channel)", file=sys.stderr)
        return 2
    port = getattr(args, "port", None)
    local = replace(
        settings,
        http_host="127.0.0.1",
        http_port=settings.http_port if port is None else port,
        telegram=None,
        wecom=None,
        web=replace(settings.web or WebSettings(), local=True),
    )
    if not port_is_free(local.http_host, local.http_port):
        # Refused before the data directory, the database or any key is created.
        print(f"xinfang: 127.0.0.1:{local.http_port} is already in use", file=sys.stderr)
        print("(choose another with --port, or set XINFANG_HTTP_PORT)", file=sys.stderr)
        return 1
    container = await build_container(local)
    try:
        password = await ensure_demo_officer(container)
        ladder = await seed_playground(container)

        def started(urls: list[str]) -> None:
            base = urls[0] if urls else f"http://127.0.0.1:{local.http_port}"
            print(f"xinfang local mode — data in {local.data_dir}")
            print(f"  open {base}/local   employee chat and admin chat side by side")
            print(f"  employee page {base}/   officers' page {base}/admin")
            print(f"  officer login: {DEMO_LOGIN}   password: {password}   (new on every start)")
            for one in ladder:
                print(f"  officer login: {one.login}   password: {one.password}")
            if ladder:
                units = "; ".join(
                    f"{one.login}: {one.unit_name} ({one.unit_code}, {one.role.value})"
                    for one in ladder
                )
                print(f"  logins by unit: {units}; {DEMO_LOGIN}: every unit")
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


@dataclass(frozen=True)
class PlaygroundLogin:
    """A web login of local mode's ladder, with its password of this start."""

    login: str
    password: str
    role: Role
    unit_code: str
    unit_name: str


async def seed_playground(
    container: Container, example: Path = EXAMPLE_GROUP
) -> list[PlaygroundLogin]:
    """Import the example group into a database without units, then give the ladder's
    officers (PLAYGROUND_OFFICERS) web logins with passwords new on every start."""
    from bot.web.passwords import generate_password, hash_password
    from petitions.units_file import read_import

    now = container.services.clock()
    data = await asyncio.to_thread(lambda: example.read_bytes() if example.is_file() else None)
    async with container.uow() as uow:
        tree = await uow.units.tree()
        if not len(tree) and data is not None:
            plan, errors = read_import(data, tree)
            if errors:  # the shipped file is checked by the tests: this is a broken checkout
                raise CliError(f"{example}: {errors[0]}")
            await uow.units.apply(plan, now)
            detail = {**plan.counts, "example": example.name}
            await uow.audit.add(now, Role.SYSTEM, "unit.import", channel="cli", detail=detail)
            await uow.commit()
    passwords = [generate_password() for _ in PLAYGROUND_OFFICERS]
    # Argon2id takes a while and a lot of memory per hash: side by side in threads.
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, p) for p in passwords))
    logins: list[PlaygroundLogin] = []
    async with container.uow() as uow:
        tree = await uow.units.tree()
        for (login, name, role, code), password, hashed in zip(
            PLAYGROUND_OFFICERS, passwords, hashes, strict=True
        ):
            unit = tree.by_code(code)
            if unit is None or unit.retired:
                continue  # a group of one's own, without the example's units
            found = await uow.web.credentials(login)
            if found is not None:
                officer_id = found[0]
            elif await uow.web.login_taken(login):
                continue  # the login of a removed officer: not handed out again
            else:
                officer = await uow.officers.add(name, role, now, unit_id=unit.id)
                officer_id = officer.id
                await uow.audit.add(
                    now,
                    Role.SYSTEM,
                    "officer.add",
                    subject_officer_id=officer_id,
                    channel="cli",
                    detail={"officer_id": officer_id, "role": role.value},
                )
            await uow.web.set_login(officer_id, login, hashed, now)
            logins.append(PlaygroundLogin(login, password, role, unit.code, unit.name))
        await uow.commit()
    return logins


async def _migrate(args: argparse.Namespace) -> int:
    from bot.keys import open_keyring
    from storage.db import create_engine
    from storage.migrate import current_revision, head_revision, upgrade
    from storage.vault import Vault

    settings = config_of(args)
    engine = create_engine(settings.database_url)
    try:
        # New keys only for a database without data: never a second keyring for old rows.
        ring = await open_keyring(settings.keyring_file, engine, embedded=settings.embedded)
        vault = Vault(ring)
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

    settings = config_of(args)
    # Local mode delivers case cards to the console's admin chat.
    container = await build_container(
        replace(settings, telegram=None, wecom=None), admin_channels=("console",)
    )
    interrupted = False
    try:
        return await run_console(container)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        interrupted = True
        raise
    finally:
        await container.close()
        if interrupted:
            _leave_now("stopped")


def _leave_now(message: str) -> None:
    """End the process at once, the data already closed: the prompt's thread is blocked
    reading the terminal, and a normal exit would wait for Enter (or abort on the stdin
    lock that thread holds)."""
    print(f"\n{message}", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
