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

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_
from petitions.roles import Role

if TYPE_CHECKING:
    from bot.container import Container

__all__ = [
    "EXAMPLE_GROUP",
    "channels_help",
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


def channels_help() -> str:
    """How to configure a channel for real (the epilog of ``run``, and local mode's banner)."""
    return t(
        "cli.service.channels_help",
        toml="TOML",
        config="--config",
        config_env="XINFANG_CONFIG",
        telegram="Telegram",
        bot_env="TELEGRAM_BOT_TOKEN",
        botfather="@BotFather",
        admin="TELEGRAM_ADMIN_CHAT_ID",
        webhook="TELEGRAM_WEBHOOK_URL + TELEGRAM_WEBHOOK_SECRET",
        wecom_ids="WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_SECRET,",
        wecom_keys="WECOM_TOKEN, WECOM_AES_KEY",
        api="API",
        web="XINFANG_WEB=true",
        add="xinfang officers add NAME --role officer --telegram USER_ID [--web]",
        readme="README.md",
        playground="xinfang playground",
        console="xinfang console",
    )


def _no_channel_help() -> str:
    return t("cli.service.no_channel", run="xinfang run", host="127.0.0.1") + channels_help()


def register(sub: Any) -> None:
    """Add the commands that run the service."""
    run = sub.add_parser(
        "run",
        help=t("cli.service.run_help", http="HTTP"),
        description=t("cli.service.run_description", http="HTTP", host="127.0.0.1"),
        epilog=channels_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(handler=_run)
    playground = sub.add_parser(
        "playground",
        help=t("cli.service.playground_help"),
        description=t(
            "cli.service.playground_description",
            host="127.0.0.1",
            env="XINFANG_DATA_DIR",
            default="./xinfang-data",
            local="/local",
            file="bot/cli/example-group.csv",
            plant="plant",
            company="company",
            group="group",
            stop="Ctrl-C",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    playground.add_argument(
        "--port",
        type=_port,
        metavar=t("cli.service.metavar_port"),
        help=t("cli.service.port_help", host="127.0.0.1", env="XINFANG_HTTP_PORT"),
    )
    playground.set_defaults(handler=_playground)
    sub.add_parser("migrate", help=t("cli.service.migrate_help")).set_defaults(handler=_migrate)
    sub.add_parser(
        "console",
        help=t("cli.service.console_help"),
        description=t(
            "cli.service.console_description",
            officer=":officer",
            employee=":employee",
            quit=":quit",
            eof="Ctrl-D",
            stop="Ctrl-C",
            env="XINFANG_DATA_DIR",
            default="./xinfang-data",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(handler=_console)


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(t("cli.service.bad_port")) from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(t("cli.service.bad_port"))
    return value


# Channels in another language than English (Telegram is a name in every language).
_CHANNEL_NAMES = {"wecom": N_("cli.service.channel_wecom"), "web": N_("cli.service.channel_web")}


def _channels(names: Any) -> str:
    if cli_locale() == "en":
        return ", ".join(names)
    shown = [t(_CHANNEL_NAMES[n]) if n in _CHANNEL_NAMES else n.capitalize() for n in names]
    return t("cli.service.channel_separator").join(shown)


def _role(role: Role) -> str:
    return role.value if cli_locale() == "en" else t(f"role.{role.value}")


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
        print(_no_channel_help(), file=sys.stderr)
        return await _local(args)
    # Outside local mode a custodian private key must not sit next to the data.
    refuse_private_keys_on_server(settings)
    container = await build_container(settings)
    try:
        channels = build_channels(container)
        channels_shown = _channels(settings.channels)
        print(
            t(
                "cli.service.serving",
                prog="xinfang",
                channels=channels_shown,
                path=settings.data_dir,
            )
        )
        url = f"http://{settings.http_host}:{settings.http_port}"
        print(t("cli.service.listening", http="HTTP", url=url, stop="Ctrl-C"))
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
        print(t("cli.service.embedded_only", prog="xinfang"), file=sys.stderr)
        print(t("cli.service.embedded_hint", env="XINFANG_DATABASE_URL"), file=sys.stderr)
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
        address = f"127.0.0.1:{local.http_port}"
        print(t("cli.service.port_taken", prog="xinfang", address=address), file=sys.stderr)
        print(
            t("cli.service.port_hint", option="--port", env="XINFANG_HTTP_PORT"), file=sys.stderr
        )
        return 1
    container = await build_container(local)
    try:
        password = await ensure_demo_officer(container)
        ladder = await seed_playground(container)

        def started(urls: list[str]) -> None:
            base = urls[0] if urls else f"http://127.0.0.1:{local.http_port}"
            print(t("cli.service.local_banner", prog="xinfang", path=local.data_dir))
            print(t("cli.service.local_open", url=f"{base}/local"))
            print(t("cli.service.local_pages", employee=f"{base}/", admin=f"{base}/admin"))
            print(t("cli.service.local_demo", login=DEMO_LOGIN, password=password))
            for one in ladder:
                print(t("cli.service.local_login", login=one.login, password=one.password))
            if ladder:
                units = t("cli.service.local_separator").join(
                    t(
                        "cli.service.local_unit",
                        login=one.login,
                        unit=one.unit_name,
                        code=one.unit_code,
                        role=_role(one.role),
                    )
                    for one in ladder
                )
                print(t("cli.service.local_units", units=units, demo=DEMO_LOGIN))
            print(t("cli.service.local_stop", stop="Ctrl-C"), flush=True)

        try:
            await run_service(container, build_channels(container), started=started)
        except OSError as exc:
            address = f"127.0.0.1:{local.http_port}"
            print(
                t("cli.service.cannot_listen", prog="xinfang", address=address, error=exc.strerror)
            )
            print(t("cli.service.listen_hint", env="XINFANG_HTTP_PORT"), file=sys.stderr)
            return 1
    finally:
        await container.close()
    print(t("cli.service.stopped_kept", path=local.data_dir))
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
        print(t("cli.service.up_to_date", revision=after))
    else:
        start = before or t("cli.service.empty")
        print(t("cli.service.migrated", start=start, end=after, head=head_revision()))
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
            _leave_now(t("cli.service.stopped"))


def _leave_now(message: str) -> None:
    """End the process at once, the data already closed: the prompt's thread is blocked
    reading the terminal, and a normal exit would wait for Enter (or abort on the stdin
    lock that thread holds)."""
    print(f"\n{message}", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
