"""``xinfang identity request | approve | open``: the recorded disclosure of a real-name
identity (docs/custody.md). Each step is audited by person before anything is decrypted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, config_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from bot.settings import Settings

__all__ = ["load_custodian_keys", "register"]


def register(sub: Any) -> None:
    """Add ``identity request``, ``identity approve`` and ``identity open``."""
    ident = sub.add_parser("identity", help="recorded disclosure of a real-name identity")
    isub = ident.add_subparsers(dest="identity_cmd", required=True, metavar="ACTION")
    req = isub.add_parser(
        "request",
        help="a custodian asks to open one case's identity (audited)",
        description="Record a custodian's request to open a case's real-name identity. The "
        "reason (at least 20 characters) names the article or matter it serves and is told "
        "to the employee when the identity is opened. Under XINFANG_DISCLOSURE=2of3 a "
        "second custodian must approve.",
    )
    req.add_argument("case", help="case number (XF-2026-000123) or id")
    req.add_argument("--custodian", type=int, required=True, help="your officer id")
    req.add_argument("--reason", required=True, help="why (told to the employee; - asks)")
    req.set_defaults(handler=_request)
    appr = isub.add_parser("approve", help="a second custodian approves a request (audited)")
    appr.add_argument("request", type=int, help="request number")
    appr.add_argument("--custodian", type=int, required=True, help="your officer id")
    appr.set_defaults(handler=_approve)
    opn = isub.add_parser(
        "open",
        help="open an approved request's identity with the custodians' keys (audited)",
        description="Open the identity of an approved request with the private keys of the "
        "requesting and the approving custodian (one key under 1of1). Each key file's "
        "passphrase is asked (or XINFANG_CUSTODIAN_PASSPHRASE, for automation).",
    )
    opn.add_argument("request", type=int, help="request number")
    opn.add_argument(
        "--key",
        type=Path,
        action="append",
        required=True,
        help="a custodian private key file (twice under 2of3)",
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
            return getpass.getpass(f"passphrase for {path.name}: ")

        keys.append(load_private_key(data, ask))
    return keys


def _reason(text: str) -> str:
    if text == "-":
        import getpass

        return getpass.getpass("reason: ")
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
    print(f"disclosure request {request.id} for case {number} recorded (audited)")
    if request.status == "pending":
        print(
            "a second custodian approves it with "
            f"`xinfang identity approve {request.id} --custodian ID` or /approve_disclosure "
            f"{request.id} in the admin chat; then `xinfang identity open {request.id} "
            "--key YOURS.pem --key THEIRS.pem`"
        )
    else:
        print(f"open it with `xinfang identity open {request.id} --key FILE`")
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
    print(f"disclosure request {request.id} approved (audited)")
    return 0


async def _open(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import open_identity_request

    settings = config_of(args)
    if len(set(args.key)) != len(args.key):
        raise CliError("the same key file was given twice")
    # Keys are read (and passphrases asked) before the database is touched.
    keys = load_custodian_keys(settings, args.key)
    container = await build_container(settings, migrate=False)
    try:
        number, identity = await open_identity_request(
            container.uow, container.vault.keyring, args.request, keys, utc_now()
        )
    finally:
        await container.close()
    print(f"identity of case {number} (this disclosure is audited and the employee is told):")
    for name, value in identity.items():
        print(f"  {name}: {value}")
    return 0
