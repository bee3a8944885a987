"""``xinfang identity reveal``: the recorded disclosure of a real-name identity."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import config_of

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``identity reveal``."""
    ident = sub.add_parser("identity", help="recorded disclosure of a real-name identity")
    isub = ident.add_subparsers(dest="identity_cmd", required=True, metavar="ACTION")
    reveal = isub.add_parser("reveal", help="reveal one case's identity (audited)")
    reveal.add_argument("case", help="case number (XF-2026-000123) or id")
    reveal.add_argument("--key", type=Path, required=True, help="custodian private key file")
    reveal.add_argument("--reason", required=True, help="why (told to the employee; - asks)")
    reveal.set_defaults(handler=_identity_reveal)


async def _identity_reveal(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.disclosure import reveal_identity

    settings = config_of(args)
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
