"""``xinfang keys init | show | rotate | custodian-new | custodian-add``: the server's
keyring and the custodians' keys (made off the server; docs/custody.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import config_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.settings import Settings
    from storage.vault import Keyring

__all__ = ["audit_key_change", "register"]


def register(sub: Any) -> None:
    """Add ``keys`` and its actions."""
    keys = sub.add_parser("keys", help="create, inspect and rotate encryption keys")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True, metavar="ACTION")
    kinit = ksub.add_parser(
        "init",
        help="create a keyring (with a custodian's public key, or a trial key pair)",
        description="Create the server's keyring. Give the public half of a custodian key "
        "made off the server (--custodian-public FILE.pub.pem, see `keys custodian-new`); "
        "without it a trial custodian key pair is made here, for trying only.",
    )
    kinit.add_argument(
        "--custodian-public", type=Path, help="a custodian public key (FILE.pub.pem)"
    )
    kinit.add_argument("--name", default="", help="the custodian's name, e.g. 纪检")
    kinit.add_argument(
        "--custodian-out", type=Path, help="where to write a trial custodian private key"
    )
    kinit.set_defaults(handler=_keys_init)
    ksub.add_parser(
        "show", help="list key ids, the disclosure scheme and the custodians (no key material)"
    ).set_defaults(handler=_keys_show)
    cnew = ksub.add_parser(
        "custodian-new",
        help="make a custodian key pair on any machine (private half under a passphrase)",
        description="Make a custodian key pair: FILE (the private key, encrypted under a "
        "passphrase with scrypt and AES-256-GCM, mode 0600) and FILE.pub.pem (the public "
        "key, for `xinfang keys custodian-add`). Run it on the custodian's own offline "
        "machine; the private key never goes to the server.",
    )
    cnew.add_argument("--out", type=Path, required=True, help="the private key file to write")
    cnew.add_argument("--name", default="", help="whose key, e.g. 纪检 (printed only)")
    cnew.add_argument(
        "--scrypt-log-n",
        type=int,
        default=None,
        help=argparse.SUPPRESS,  # the work factor; tests lower it, people should not
    )
    cnew.set_defaults(handler=_custodian_new)
    cadd = ksub.add_parser(
        "custodian-add",
        help="add a custodian's public key to the keyring",
        description="Add the public half of a custodian key (made with `keys "
        "custodian-new`). Under XINFANG_DISCLOSURE=2of3 the keyring needs three. "
        "--replaces puts the new key in the place of a custodian who leaves; `keys rotate "
        "--custodian-key ...` then re-seals the identities and retires the old key.",
    )
    cadd.add_argument("public", type=Path, help="the custodian's FILE.pub.pem")
    cadd.add_argument("--name", required=True, help="the custodian's name, e.g. 纪检")
    cadd.add_argument(
        "--officer", type=int, help="the officer id (role custodian) who holds this key"
    )
    cadd.add_argument("--replaces", metavar="KEY_ID", help="the key id this one replaces")
    cadd.set_defaults(handler=_custodian_add)
    krot = ksub.add_parser(
        "rotate",
        help="re-encrypt everything under new keys (stop the service first)",
        description="Re-encrypt everything under new keys and retire the old ones. The "
        "service must be stopped: rotation refuses while `xinfang run` holds the service "
        "lock, since the running service writes with the keys it loaded at start.",
    )
    krot.add_argument(
        "--custodian-key",
        type=Path,
        action="append",
        help="a current custodian private key (twice under 2of3): re-seal every identity "
        "to the custodians now in the keyring and retire replaced custodian keys",
    )
    krot.set_defaults(handler=_keys_rotate)


async def _keys_init(args: argparse.Namespace) -> int:
    import sys

    from bot.keys import TRIAL_WARNING, create_keys
    from storage.custody import load_public_key

    settings = config_of(args)
    if args.custodian_public is not None:
        public = load_public_key(args.custodian_public.read_bytes())
        created = create_keys(
            settings.keyring_file, custodian_public=public, custodian_name=args.name
        )
        print(f"keyring written to {created.keyring_file} (mode 0600)")
        print(f"custodian {args.name or '-'} added with key id {created.custodian_kid}")
        return 0
    created = create_keys(settings.keyring_file, args.custodian_out, custodian_name=args.name)
    print(f"keyring written to {created.keyring_file} (mode 0600)")
    print(f"trial custodian private key written to {created.custodian_private_file}")
    print(
        TRIAL_WARNING.format(path=created.custodian_private_file, kid=created.custodian_kid),
        file=sys.stderr,
    )
    return 0


async def _keys_show(args: argparse.Namespace) -> int:
    from bot.keys import load_keyring

    settings = config_of(args)
    ring = load_keyring(settings.keyring_file)
    print(f"content keys:   {', '.join(ring.content)} (active {ring.active_content})")
    print(f"delivery keys:  {', '.join(ring.delivery)} (active {ring.active_delivery})")
    scheme = settings.disclosure
    if scheme == "2of3":
        print("disclosure:     2of3 (any two of the three custodians open an identity together)")
    else:
        print("disclosure:     1of1 (the one active custodian opens an identity alone)")
    sealing = set(ring.sealing_custodians(scheme)) if _ready(ring, scheme) else set()
    print("custodians:")
    for kid in ring.custodian_public:
        name = ring.custodian_names.get(kid) or "(unnamed)"
        officer = ring.custodian_officers.get(kid)
        holder = f", officer {officer}" if officer is not None else ""
        if kid in sealing:
            state = "seals new identities"
        elif kid in ring.active_custodians or kid == ring.active_custodian:
            state = "active, unused by this scheme"
        else:
            state = "retired: re-seal with `keys rotate --custodian-key ...`"
        print(f"  {kid}  {name}{holder}  ({state})")
    if not _ready(ring, scheme):
        print(
            f"WARNING: {scheme} needs three active custodians, the keyring has "
            f"{len(ring.active_custodians)}: add them with `xinfang keys custodian-add`"
        )
    return 0


def _ready(ring: Keyring, scheme: str) -> bool:
    from storage.vault import KeyringError

    try:
        ring.sealing_custodians(scheme)
    except KeyringError:
        return False
    return True


async def _custodian_new(args: argparse.Namespace) -> int:
    import getpass
    import os

    from storage.custody import DEFAULT_LOG_N, MIN_PASSPHRASE, CustodyError, new_custodian_files

    settings = config_of(args)
    passphrase = settings.custodian_passphrase
    if passphrase is None:
        print(
            f"Choose a passphrase of at least {MIN_PASSPHRASE} characters (six random words "
            "are better); only you should know it. It cannot be recovered."
        )
        passphrase = getpass.getpass("passphrase: ")
        if getpass.getpass("again: ") != passphrase:
            raise CustodyError("the two passphrases differ; nothing was written")
    out_dir = args.out.parent if str(args.out.parent) else Path(".")
    if not out_dir.exists():
        os.makedirs(out_dir, mode=0o700)
    private, public = new_custodian_files(
        args.out, passphrase, log_n=args.scrypt_log_n or DEFAULT_LOG_N
    )
    who = f" for {args.name}" if args.name else ""
    print(f"custodian key{who}: private key {private} (encrypted, mode 0600)")
    print(f"public key {public}: give this one to the operator for `xinfang keys custodian-add`")
    print("Keep the private key offline (an encrypted USB stick in a safe); never on the server.")
    return 0


async def _custodian_add(args: argparse.Namespace) -> int:
    from bot.keys import load_keyring
    from storage.custody import load_public_key

    settings = config_of(args)
    ring = load_keyring(settings.keyring_file)
    public = load_public_key(args.public.read_bytes())
    kid = ring.add_custodian(public, args.name, officer_id=args.officer, replaces=args.replaces)
    ring.validate()
    ring.save(settings.keyring_file)
    print(f"custodian {args.name} added with key id {kid}")
    if args.replaces:
        print(
            f"it replaces {args.replaces} for new identities; re-seal the existing ones and "
            "retire the old key with `xinfang keys rotate --custodian-key ...` (the keys "
            "that open them now: one under 1of1, two under 2of3)"
        )
    print("restart the service so that new identities are sealed to it")
    return 0


async def _keys_rotate(args: argparse.Namespace) -> int:
    from bot.cli.identity import load_custodian_keys
    from bot.keys import check_keyring, load_keyring
    from storage.db import create_engine
    from storage.lock import service_lock

    settings = config_of(args)
    ring = load_keyring(settings.keyring_file)
    old_private = None
    if args.custodian_key:
        old_private = _custodian_keys_by_id(
            ring, load_custodian_keys(settings, args.custodian_key)
        )
    engine = create_engine(settings.database_url)
    try:
        # The running service writes with the active keys it loaded at start; rotating
        # beside it would retire them and leave what it writes meanwhile unreadable. So
        # rotation takes the service lock exclusively and refuses while the service runs.
        async with service_lock(engine, exclusive=True):
            await check_keyring(engine, ring, settings.keyring_file)
            result = await _rotate(args, settings, ring, old_private, engine)
            if result == 0:
                await audit_key_change(engine, settings.keyring_file, "keys.rotate")
            return result
    finally:
        await engine.dispose()


def _custodian_keys_by_id(
    ring: Keyring, keys: list[X25519PrivateKey]
) -> dict[str, X25519PrivateKey]:
    from storage.vault import KeyringError, public_raw_of

    by_kid = {}
    for key in keys:
        kid = ring.custodian_kid_of(public_raw_of(key))
        if kid is None:
            raise KeyringError("a --custodian-key is not a custodian key of this keyring")
        by_kid[kid] = key
    return by_kid


async def _rotate(
    args: argparse.Namespace,
    settings: Settings,
    ring: Keyring,
    old_private: dict[str, X25519PrivateKey] | None,
    engine: AsyncEngine,
) -> int:
    import secrets

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from storage.db import session_factory
    from storage.rotation import reencrypt_all, reseal_all_identities
    from storage.vault import Vault

    # 1. add new keys and make them active, keeping the old ones until rewrapping is done,
    #    so an interruption leaves everything readable; rerunning finishes the job.
    content_kid, delivery_kid = f"c{secrets.token_hex(4)}", f"d{secrets.token_hex(4)}"
    ring.content[content_kid] = AESGCM.generate_key(256)
    ring.delivery[delivery_kid] = AESGCM.generate_key(256)
    ring.active_content, ring.active_delivery = content_kid, delivery_kid
    ring.save(settings.keyring_file)
    sessions = session_factory(engine)
    # Identities are re-sealed to the custodians the scheme names now (custodian-add
    # --replaces changed them beforehand); the keys given must open every identity.
    vault = Vault(ring, disclosure=settings.disclosure)

    def progress(column: str, done: int) -> None:
        print(f"  {column}: {done} re-encrypted", end="\r", flush=True)

    print("re-encrypting content and contacts under the new keys...")
    counts = await reencrypt_all(sessions, vault, progress)
    print()
    for column, n in counts.items():
        print(f"  {column}: {n}")
    if old_private is not None:
        n = await reseal_all_identities(sessions, vault, old_private)
        sealed_to = ", ".join(ring.sealing_custodians(settings.disclosure))
        print(f"  identities re-sealed ({settings.disclosure}) to custodian keys {sealed_to}: {n}")
    # 2. retire the old keys.
    ring.content = {content_kid: ring.content[content_kid]}
    ring.delivery = {delivery_kid: ring.delivery[delivery_kid]}
    if old_private is not None:
        for kid in ring.retire_custodians():
            print(f"  custodian key {kid} retired")
    ring.save(settings.keyring_file)
    print(f"done: active keys {content_kid} (content), {delivery_kid} (delivery)")
    if old_private is None:
        print(
            "custodian keys unchanged (to replace one: `keys custodian-add NEW.pub.pem "
            "--replaces OLD_ID`, then rotate with --custodian-key for the keys that open now)"
        )
    return 0


async def audit_key_change(
    engine: AsyncEngine, keyring_file: Path, action: str, detail: dict[str, Any] | None = None
) -> None:
    """Append an audit entry (channel ``cli``) after the keyring changed: the key ids now
    in force, never key material."""
    from bot.container import utc_now
    from bot.keys import load_keyring
    from petitions.roles import Role
    from storage.db import session_factory
    from storage.uow import SqlUnitOfWork
    from storage.vault import Vault

    ring = load_keyring(keyring_file)
    facts = {
        "content": ring.active_content,
        "delivery": ring.active_delivery,
        "custodians": sorted(ring.custodian_public),
        **(detail or {}),
    }
    async with SqlUnitOfWork(session_factory(engine), Vault(ring)) as uow:
        await uow.audit.add(utc_now(), Role.SYSTEM, action, channel="cli", detail=facts)
        await uow.commit()
