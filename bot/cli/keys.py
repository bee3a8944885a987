"""``xinfang keys init | show | rotate | custodian-new | custodian-add``: the server's
keyring and the custodians' keys (made off the server; docs/custody.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import config_of, t

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.settings import Settings
    from storage.vault import Keyring

__all__ = ["audit_key_change", "register", "trial_warning"]


def register(sub: Any) -> None:
    """Add ``keys`` and its actions."""
    keys = sub.add_parser("keys", help=t("cli.keys.help"))
    ksub = keys.add_subparsers(
        dest="keys_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    kinit = ksub.add_parser(
        "init",
        help=t("cli.keys.init_help"),
        description=t(
            "cli.keys.init_description",
            option="--custodian-public FILE.pub.pem",
            new="keys custodian-new",
        ),
    )
    kinit.add_argument(
        "--custodian-public",
        type=Path,
        metavar=t("cli.keys.metavar_custodian_public"),
        help=t("cli.keys.custodian_public_help", file="FILE.pub.pem"),
    )
    kinit.add_argument(
        "--name", default="", metavar=t("cli.keys.metavar_name"), help=t("cli.keys.name_help")
    )
    kinit.add_argument(
        "--custodian-out",
        type=Path,
        metavar=t("cli.keys.metavar_custodian_out"),
        help=t("cli.keys.custodian_out_help"),
    )
    kinit.set_defaults(handler=_keys_init)
    ksub.add_parser("show", help=t("cli.keys.show_help")).set_defaults(handler=_keys_show)
    cnew = ksub.add_parser(
        "custodian-new",
        help=t("cli.keys.new_help"),
        description=t(
            "cli.keys.new_description",
            file="FILE",
            kdf="scrypt",
            cipher="AES-256-GCM",
            public="FILE.pub.pem",
            add="xinfang keys custodian-add",
        ),
    )
    cnew.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar=t("cli.keys.metavar_out"),
        help=t("cli.keys.out_help"),
    )
    cnew.add_argument(
        "--name",
        default="",
        metavar=t("cli.keys.metavar_name"),
        help=t("cli.keys.new_name_help"),
    )
    cnew.add_argument(
        "--scrypt-log-n",
        type=int,
        default=None,
        help=argparse.SUPPRESS,  # the work factor; tests lower it, people should not
    )
    cnew.set_defaults(handler=_custodian_new)
    cadd = ksub.add_parser(
        "custodian-add",
        help=t("cli.keys.add_help"),
        description=t(
            "cli.keys.add_description",
            new="keys custodian-new",
            scheme="XINFANG_DISCLOSURE=2of3",
            replaces="--replaces",
            rotate="keys rotate --custodian-key ...",
        ),
    )
    cadd.add_argument(
        "public",
        type=Path,
        metavar=t("cli.keys.metavar_public"),
        help=t("cli.keys.public_help", file="FILE.pub.pem"),
    )
    cadd.add_argument(
        "--name", required=True, metavar=t("cli.keys.metavar_name"), help=t("cli.keys.name_help")
    )
    cadd.add_argument(
        "--officer",
        type=int,
        metavar=t("cli.keys.metavar_officer"),
        help=t("cli.keys.officer_help"),
    )
    cadd.add_argument(
        "--replaces", metavar=t("cli.keys.metavar_key_id"), help=t("cli.keys.replaces_help")
    )
    cadd.set_defaults(handler=_custodian_add)
    krot = ksub.add_parser(
        "rotate",
        help=t("cli.keys.rotate_help"),
        description=t("cli.keys.rotate_description", run="xinfang run"),
    )
    krot.add_argument(
        "--custodian-key",
        type=Path,
        action="append",
        metavar=t("cli.keys.metavar_custodian_key"),
        help=t("cli.keys.custodian_key_help", scheme="2of3"),
    )
    krot.set_defaults(handler=_keys_rotate)


async def _keys_init(args: argparse.Namespace) -> int:
    import sys

    from bot.keys import create_keys
    from storage.custody import load_public_key

    settings = config_of(args)
    if args.custodian_public is not None:
        public = load_public_key(args.custodian_public.read_bytes())
        created = create_keys(
            settings.keyring_file, custodian_public=public, custodian_name=args.name
        )
        print(t("cli.keys.keyring_written", path=created.keyring_file))
        print(t("cli.keys.custodian_added", name=args.name or "-", kid=created.custodian_kid))
        return 0
    created = create_keys(settings.keyring_file, args.custodian_out, custodian_name=args.name)
    print(t("cli.keys.keyring_written", path=created.keyring_file))
    print(t("cli.keys.trial_written", path=created.custodian_private_file))
    print(trial_warning(created.custodian_private_file, created.custodian_kid), file=sys.stderr)
    return 0


def trial_warning(path: Path | None, kid: str) -> str:
    """bot.keys.TRIAL_WARNING in the command line's language."""
    return t(
        "cli.keys.trial_warning",
        path=path,
        kid=kid,
        new="xinfang keys custodian-new --out FILE",
        add=f"xinfang keys custodian-add FILE.pub.pem --name NAME --replaces {kid}",
        doc="docs/custody.md",
        run="xinfang run",
    )


async def _keys_show(args: argparse.Namespace) -> int:
    from bot.keys import load_keyring

    settings = config_of(args)
    ring = load_keyring(settings.keyring_file)
    content, delivery = ", ".join(ring.content), ", ".join(ring.delivery)
    print(t("cli.keys.show_content", keys=content, active=ring.active_content))
    print(t("cli.keys.show_delivery", keys=delivery, active=ring.active_delivery))
    scheme = settings.disclosure
    if scheme == "2of3":
        print(t("cli.keys.show_2of3", scheme=scheme))
    else:
        print(t("cli.keys.show_1of1", scheme="1of1"))
    sealing = set(ring.sealing_custodians(scheme)) if _ready(ring, scheme) else set()
    print(t("cli.keys.show_custodians"))
    for kid in ring.custodian_public:
        name = ring.custodian_names.get(kid) or t("cli.keys.unnamed")
        officer = ring.custodian_officers.get(kid)
        holder = t("cli.keys.holder", officer=officer) if officer is not None else ""
        if kid in sealing:
            state = t("cli.keys.state_sealing")
        elif kid in ring.active_custodians or kid == ring.active_custodian:
            state = t("cli.keys.state_unused")
        else:
            state = t("cli.keys.state_retired", rotate="keys rotate --custodian-key ...")
        print(t("cli.keys.show_custodian", kid=kid, name=name, holder=holder, state=state))
    if not _ready(ring, scheme):
        print(
            t(
                "cli.keys.show_not_ready",
                scheme=scheme,
                count=len(ring.active_custodians),
                add="xinfang keys custodian-add",
            )
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
        print(t("cli.keys.choose_passphrase", min=MIN_PASSPHRASE))
        passphrase = getpass.getpass(t("cli.keys.passphrase_prompt"))
        if getpass.getpass(t("cli.keys.again_prompt")) != passphrase:
            raise CustodyError(t("cli.keys.passphrases_differ"))
    out_dir = args.out.parent if str(args.out.parent) else Path(".")
    if not out_dir.exists():
        os.makedirs(out_dir, mode=0o700)
    private, public = new_custodian_files(
        args.out, passphrase, log_n=args.scrypt_log_n or DEFAULT_LOG_N
    )
    if args.name:
        print(t("cli.keys.new_private_of", name=args.name, path=private))
    else:
        print(t("cli.keys.new_private", path=private))
    print(t("cli.keys.new_public", path=public, add="xinfang keys custodian-add"))
    print(t("cli.keys.keep_offline"))
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
    print(t("cli.keys.custodian_added", name=args.name, kid=kid))
    if args.replaces:
        rotate = "xinfang keys rotate --custodian-key ..."
        print(t("cli.keys.replaces", old=args.replaces, rotate=rotate, one="1of1", two="2of3"))
    print(t("cli.keys.restart"))
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
            raise KeyringError(t("cli.keys.not_custodian_key", option="--custodian-key"))
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
        print(t("cli.keys.progress", column=column, done=done), end="\r", flush=True)

    print(t("cli.keys.reencrypting"))
    counts = await reencrypt_all(sessions, vault, progress)
    print()
    for column, n in counts.items():
        print(f"  {column}: {n}")
    if old_private is not None:
        n = await reseal_all_identities(sessions, vault, old_private)
        sealed_to = ", ".join(ring.sealing_custodians(settings.disclosure))
        print(t("cli.keys.resealed", scheme=settings.disclosure, kids=sealed_to, count=n))
    # 2. retire the old keys.
    ring.content = {content_kid: ring.content[content_kid]}
    ring.delivery = {delivery_kid: ring.delivery[delivery_kid]}
    if old_private is not None:
        for kid in ring.retire_custodians():
            print(t("cli.keys.retired", kid=kid))
    ring.save(settings.keyring_file)
    print(t("cli.keys.done", content=content_kid, delivery=delivery_kid))
    if old_private is None:
        add = "keys custodian-add NEW.pub.pem --replaces OLD_ID"
        print(t("cli.keys.custodians_unchanged", add=add, option="--custodian-key"))
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
