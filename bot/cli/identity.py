"""``xinfang identity request | approve | open``: the recorded disclosure of a real-name
identity (docs/custody.md). Each step is audited by person before anything is decrypted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, cli_locale, config_of, t
from i18n import N_

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from bot.settings import Settings

__all__ = ["load_custodian_keys", "register"]

# The fields of a sealed identity (handlers/intake.py seals them) as the chats name them;
# in English the CLI prints the field names as it always has.
_FIELDS = {
    "name": N_("identity.name"),
    "staff_no": N_("identity.staff_no"),
    "unit": N_("identity.unit"),
    "phone": N_("identity.phone"),
}


def register(sub: Any) -> None:
    """Add ``identity request``, ``identity approve`` and ``identity open``."""
    ident = sub.add_parser("identity", help=t("cli.identity.help"))
    isub = ident.add_subparsers(
        dest="identity_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    custodian = t("cli.metavar.custodian")
    request = t("cli.metavar.request")
    req = isub.add_parser(
        "request",
        help=t("cli.identity.request_help"),
        description=t("cli.identity.request_description", env="XINFANG_DISCLOSURE=2of3"),
    )
    req.add_argument("case", metavar=t("cli.metavar.case"), help=t("cli.identity.case_help"))
    req.add_argument(
        "--custodian",
        type=int,
        required=True,
        metavar=custodian,
        help=t("cli.identity.custodian_help"),
    )
    req.add_argument(
        "--reason",
        required=True,
        metavar=t("cli.metavar.reason"),
        help=t("cli.identity.reason_help"),
    )
    req.set_defaults(handler=_request)
    appr = isub.add_parser("approve", help=t("cli.identity.approve_help"))
    appr.add_argument("request", type=int, metavar=request, help=t("cli.identity.request_number"))
    appr.add_argument(
        "--custodian",
        type=int,
        required=True,
        metavar=custodian,
        help=t("cli.identity.custodian_help"),
    )
    appr.set_defaults(handler=_approve)
    opn = isub.add_parser(
        "open",
        help=t("cli.identity.open_help"),
        description=t(
            "cli.identity.open_description",
            scheme="1of1",
            env="XINFANG_CUSTODIAN_PASSPHRASE",
        ),
    )
    opn.add_argument("request", type=int, metavar=request, help=t("cli.identity.request_number"))
    opn.add_argument(
        "--key",
        type=Path,
        action="append",
        required=True,
        metavar=t("cli.metavar.key"),
        help=t("cli.identity.key_help", scheme="2of3"),
    )
    opn.set_defaults(handler=_open)


def load_custodian_keys(settings: Settings, files: list[Path]) -> list[X25519PrivateKey]:
    """Read custodian key files, asking each one's passphrase (or taking it from
    XINFANG_CUSTODIAN_PASSPHRASE)."""
    import getpass

    from storage.custody import load_private_key

    keys = []
    for path in files:
        data = path.read_bytes()

        def ask(path: Path = path) -> str:
            if settings.custodian_passphrase is not None:
                return settings.custodian_passphrase
            return getpass.getpass(t("cli.identity.ask_passphrase", file=path.name))

        keys.append(load_private_key(data, ask))
    return keys


def _reason(text: str) -> str:
    if text == "-":
        import getpass

        return getpass.getpass(t("cli.identity.ask_reason"))
    return text


async def _request(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import request_identity

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    try:
        request, number = await request_identity(
            container.uow,
            args.case,
            args.custodian,
            _reason(args.reason),
            settings.disclosure,
            utc_now(),
            admin_channels=container.services.config.admin_channels,
            locale=settings.default_locale,
        )
    finally:
        await container.close()
    print(t("cli.identity.recorded", id=request.id, number=number))
    if request.status == "pending":
        print(
            t(
                "cli.identity.next_approve",
                approve=f"xinfang identity approve {request.id} --custodian ID",
                chat=f"/approve_disclosure {request.id}",
                open=f"xinfang identity open {request.id} --key YOURS.pem --key THEIRS.pem",
            )
        )
    else:
        print(t("cli.identity.next_open", open=f"xinfang identity open {request.id} --key FILE"))
    return 0


async def _approve(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import approve_identity

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    try:
        request = await approve_identity(
            container.uow, args.request, args.custodian, utc_now(), locale=settings.default_locale
        )
    finally:
        await container.close()
    print(t("cli.identity.approved", id=request.id))
    return 0


async def _open(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import open_identity_request

    settings = config_of(args)
    if len(set(args.key)) != len(args.key):
        raise CliError(t("cli.identity.same_key"))
    # Keys are read (and passphrases asked) before the database is touched.
    keys = load_custodian_keys(settings, args.key)
    container = await build_container(settings, migrate=False)
    try:
        number, identity = await open_identity_request(
            container.uow, container.vault.keyring, args.request, keys, utc_now()
        )
    finally:
        await container.close()
    print(t("cli.identity.opened", number=number))
    for name, value in identity.items():
        key = _FIELDS.get(name)
        label = t(key) if key and cli_locale() != "en" else name
        print(t("cli.identity.field", label=label, value=value))
    return 0
