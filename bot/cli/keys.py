"""``xinfang keys init | show | rotate``: the server's keyring and the custodian key."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import config_of

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``keys`` and its actions."""
    keys = sub.add_parser("keys", help="create, inspect and rotate encryption keys")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True, metavar="ACTION")
    kinit = ksub.add_parser("init", help="create a keyring and a custodian key pair")
    kinit.add_argument(
        "--custodian-out", type=Path, help="where to write the custodian private key"
    )
    kinit.set_defaults(handler=_keys_init)
    ksub.add_parser("show", help="list key ids (never key material)").set_defaults(
        handler=_keys_show
    )
    krot = ksub.add_parser("rotate", help="re-encrypt everything under new keys")
    krot.add_argument(
        "--custodian-key",
        type=Path,
        help="the current custodian private key, to rotate the custodian key too",
    )
    krot.add_argument("--custodian-out", type=Path, help="where to write the new private key")
    krot.set_defaults(handler=_keys_rotate)


async def _keys_init(args: argparse.Namespace) -> int:
    from bot.keys import create_keys

    settings = config_of(args)
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

    ring = load_keyring(config_of(args).keyring_file)
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

    settings = config_of(args)
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
