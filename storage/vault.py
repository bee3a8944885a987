"""All cryptography of xinfang (DESIGN.md §3).

- content (petition text, messages, attachments, drafts): AES-256-GCM, *content key*
- contact (channel + chat id) for pushes: AES-256-GCM, *delivery key*
- real-name identity: sealed to the custodian's X25519 public key
  (ephemeral X25519 + HKDF-SHA256 + AES-256-GCM); the server cannot open it. Under the
  two-person scheme (``XINFANG_DISCLOSURE=2of3``) each field is encrypted under a fresh
  data key, and the data key is sealed once for every pair of the three custodians,
  nested (to one, then the result to the other), so any two keys open it and no one key
  does (docs/custody.md)
- tracking codes and sender ids: HMAC-SHA256 blind indexes under the *pepper*

Every ciphertext starts with a version byte and the id of the key that made it, so
keys can rotate: new data uses the active key, old data stays readable until
``xinfang keys rotate`` re-encrypts it. The table, the row's key and the field are bound as
associated data (:func:`aad`), so a ciphertext cannot be moved to another column or row:
moving case 3's sealed identity into case 1 makes it fail to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DISCLOSURE_SCHEMES",
    "CustodianKey",
    "Keyring",
    "KeyringError",
    "Vault",
    "VaultError",
    "aad",
    "generate_custodian_key",
    "load_custodian_private_key",
    "open_identity",
    "open_identity_with",
    "open_sealed",
    "pack_identity",
    "public_raw_of",
    "reseal_fields",
    "reseal_identity",
    "seal_nested",
    "seal_to",
]

_VERSION = 1
_SEAL_INFO = b"xinfang identity v1"
# A field sealed for pairs of custodians starts with this byte (a v1 field starts with 1).
_NESTED_VERSION = 2
_NESTED_INFO = b"xinfang identity v2|"

DISCLOSURE_SCHEMES = ("1of1", "2of3")
"""``1of1``: one custodian opens alone; ``2of3``: any two of three custodians together."""


class VaultError(Exception):
    """A ciphertext could not be opened (wrong key, tampering, unknown key id)."""


class KeyringError(Exception):
    """The keyring file is missing, unreadable or malformed."""


def aad(table: str, key: object, field: str) -> str:
    """The associated data that binds a ciphertext to its table, row and field."""
    return f"{table}/{key}/{field}"


# Blind indexes of these purposes are worth caching (looked up on every update); secrets
# such as tracking codes, button tokens and session tokens are never kept in memory as
# plaintext keys, and cached ones live for seconds only.
_CACHED_PURPOSES = frozenset({"sender", "officer", "telegram.chat", "update"})
_CACHE_SECONDS = 30.0
_CACHE_SIZE = 4096


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _new_key_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


@dataclass
class Keyring:
    """The server's keys; the custodian's private key is never part of it."""

    content: dict[str, bytes]
    delivery: dict[str, bytes]
    active_content: str
    active_delivery: str
    pepper: bytes
    custodian_public: dict[str, bytes]
    active_custodian: str  # the one custodian of the 1of1 scheme
    # Names ("纪检") and officer ids of custodians, by key id; the custodians that identities
    # are sealed to under 2of3 (the first is also ``active_custodian``). Keys not in this
    # list are retired: kept only until ``xinfang keys rotate`` has re-sealed to the new ones.
    custodian_names: dict[str, str] = field(default_factory=dict)
    custodian_officers: dict[str, int] = field(default_factory=dict)
    active_custodians: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.active_custodians:
            self.active_custodians = [self.active_custodian]

    @classmethod
    def generate(cls, custodian_public: bytes, custodian_kid: str, name: str = "") -> Keyring:
        """Return a fresh keyring for a new deployment."""
        content_kid, delivery_kid = _new_key_id("c"), _new_key_id("d")
        return cls(
            content={content_kid: AESGCM.generate_key(256)},
            delivery={delivery_kid: AESGCM.generate_key(256)},
            active_content=content_kid,
            active_delivery=delivery_kid,
            pepper=secrets.token_bytes(32),
            custodian_public={custodian_kid: custodian_public},
            active_custodian=custodian_kid,
            custodian_names={custodian_kid: name} if name else {},
        )

    def add_custodian(
        self,
        public_raw: bytes,
        name: str,
        *,
        officer_id: int | None = None,
        replaces: str | None = None,
    ) -> str:
        """Add a custodian's public key (the private half stays with the custodian) and
        return its key id; ``replaces`` puts it in the place of a custodian who leaves."""
        if len(public_raw) != 32:
            raise KeyringError("a custodian public key is 32 bytes (X25519)")
        if self.custodian_kid_of(public_raw) is not None:
            raise KeyringError("this public key is already in the keyring")
        if replaces is not None and replaces not in self.active_custodians:
            raise KeyringError(f"{replaces!r} is not an active custodian key")
        kid = _new_key_id("k")
        self.custodian_public[kid] = public_raw
        if name:
            self.custodian_names[kid] = name
        if officer_id is not None:
            self.custodian_officers[kid] = officer_id
        if replaces is None:
            self.active_custodians.append(kid)
        else:
            self.active_custodians[self.active_custodians.index(replaces)] = kid
            if self.active_custodian == replaces:
                self.active_custodian = kid
        return kid

    def custodian_kid_of(self, public_raw: bytes) -> str | None:
        """The key id of a custodian public key, or None if it is not in the keyring."""
        for kid, raw in self.custodian_public.items():
            if hmac.compare_digest(raw, public_raw):
                return kid
        return None

    def sealing_custodians(self, scheme: str) -> list[str]:
        """The custodian key ids new identities are sealed to under ``scheme``."""
        if scheme == "1of1":
            return [self.active_custodian]
        if scheme == "2of3":
            if len(self.active_custodians) != 3:
                raise KeyringError(
                    "XINFANG_DISCLOSURE=2of3 needs exactly three active custodians in the "
                    f"keyring; it has {len(self.active_custodians)}. Add them with "
                    "`xinfang keys custodian-add PUBLIC.pem --name NAME` (see docs/custody.md)"
                )
            return list(self.active_custodians)
        raise KeyringError(f"unknown disclosure scheme {scheme!r} (1of1 or 2of3)")

    def retire_custodians(self) -> list[str]:
        """Drop custodian keys no identity is sealed to any more (after re-sealing)."""
        keep = set(self.active_custodians) | {self.active_custodian}
        gone = [kid for kid in self.custodian_public if kid not in keep]
        for kid in gone:
            del self.custodian_public[kid]
            self.custodian_names.pop(kid, None)
            self.custodian_officers.pop(kid, None)
        return gone

    def to_json(self) -> str:
        """Serialize for the keyring file."""
        return json.dumps(
            {
                "version": 1,
                "content": {k: _b64(v) for k, v in self.content.items()},
                "delivery": {k: _b64(v) for k, v in self.delivery.items()},
                "active_content": self.active_content,
                "active_delivery": self.active_delivery,
                "pepper": _b64(self.pepper),
                # Kept for readers of older keyrings; "custodians" adds names and officers.
                "custodian_public": {k: _b64(v) for k, v in self.custodian_public.items()},
                "active_custodian": self.active_custodian,
                "custodians": [
                    {
                        "id": kid,
                        "name": self.custodian_names.get(kid, ""),
                        "officer": self.custodian_officers.get(kid),
                        "public": _b64(raw),
                    }
                    for kid, raw in self.custodian_public.items()
                ],
                "active_custodians": list(self.active_custodians),
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        """Parse a keyring file's text; raises KeyringError with a reason, never key material."""
        try:
            data: dict[str, Any] = json.loads(text)
            custodians: list[dict[str, Any]] = data.get("custodians") or []
            publics = (
                {c["id"]: _unb64(c["public"]) for c in custodians}
                if custodians
                else {k: _unb64(v) for k, v in data["custodian_public"].items()}
            )
            ring = cls(
                content={k: _unb64(v) for k, v in data["content"].items()},
                delivery={k: _unb64(v) for k, v in data["delivery"].items()},
                active_content=data["active_content"],
                active_delivery=data["active_delivery"],
                pepper=_unb64(data["pepper"]),
                custodian_public=publics,
                active_custodian=data["active_custodian"],
                custodian_names={c["id"]: str(c["name"]) for c in custodians if c.get("name")},
                custodian_officers={
                    c["id"]: int(c["officer"]) for c in custodians if c.get("officer") is not None
                },
                active_custodians=list(data.get("active_custodians") or []),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"malformed keyring ({type(exc).__name__})") from None
        ring.validate()
        return ring

    def validate(self) -> None:
        """Check that active keys exist and have the right sizes."""
        for name, keys, active in (
            ("content", self.content, self.active_content),
            ("delivery", self.delivery, self.active_delivery),
        ):
            if active not in keys:
                raise KeyringError(f"active {name} key {active!r} is not in the keyring")
            if any(len(k) != 32 for k in keys.values()):
                raise KeyringError(f"{name} keys must be 32 bytes")
        if len(self.pepper) < 32:
            raise KeyringError("pepper must be at least 32 bytes")
        if self.active_custodian not in self.custodian_public:
            raise KeyringError("active custodian public key is not in the keyring")
        if any(kid not in self.custodian_public for kid in self.active_custodians):
            raise KeyringError("an active custodian public key is not in the keyring")
        if len(set(self.active_custodians)) != len(self.active_custodians):
            raise KeyringError("a custodian key is listed twice among the active ones")
        if any(len(raw) != 32 for raw in self.custodian_public.values()):
            raise KeyringError("custodian public keys must be 32 bytes")

    def save(self, path: Path) -> None:
        """Write the keyring with mode 0600 in a directory only its owner can enter,
        atomically."""
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read a keyring file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyringError(f"cannot read keyring {path}: {exc.strerror}") from None
        return cls.from_json(text)


@dataclass(frozen=True)
class CustodianKey:
    """A custodian key pair: the private half leaves the server."""

    kid: str
    private_pem: bytes
    public_raw: bytes


def generate_custodian_key() -> CustodianKey:
    """Create a custodian X25519 key pair."""
    private = X25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return CustodianKey(_new_key_id("k"), pem, public)


def load_custodian_private_key(data: bytes) -> X25519PrivateKey:
    """Parse a custodian private key file (PEM, PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyringError("not a custodian private key (expected PEM PKCS#8 X25519)") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyringError("not an X25519 key")
    return key


def _split(blob: bytes) -> tuple[str, bytes]:
    if len(blob) < 3 or blob[0] != _VERSION:
        raise VaultError("unknown ciphertext format")
    n = blob[1]
    kid = blob[2 : 2 + n].decode("ascii", "replace")
    return kid, blob[2 + n :]


def _frame(kid: str, body: bytes) -> bytes:
    k = kid.encode("ascii")
    return bytes([_VERSION, len(k)]) + k + body


@dataclass
class Vault:
    """Encrypts, decrypts and indexes with a keyring; the only place that touches keys."""

    keyring: Keyring
    disclosure: str = "1of1"  # XINFANG_DISCLOSURE: how identities are sealed
    _index_cache: OrderedDict[str, tuple[float, str]] = field(
        default_factory=OrderedDict, repr=False
    )

    def __post_init__(self) -> None:
        # Fails at start (not at the first real-name petition) when the keyring lacks the
        # custodians the scheme needs.
        self.keyring.sealing_custodians(self.disclosure)

    # -- symmetric --------------------------------------------------------------------
    def _seal(self, keys: Mapping[str, bytes], kid: str, data: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(12)
        ct = AESGCM(keys[kid]).encrypt(nonce, data, purpose.encode())
        return _frame(kid, nonce + ct)

    def _open(self, keys: Mapping[str, bytes], blob: bytes, purpose: str) -> bytes:
        kid, body = _split(blob)
        key = keys.get(kid)
        if key is None:
            raise VaultError(f"no key {kid!r} in the keyring")
        if len(body) < 12 + 16:  # nonce and tag; AESGCM would raise a bare ValueError
            raise VaultError("ciphertext is truncated")
        try:
            return AESGCM(key).decrypt(body[:12], body[12:], purpose.encode())
        except InvalidTag:
            raise VaultError("ciphertext failed authentication") from None

    def encrypt(self, data: bytes, purpose: str) -> bytes:
        """Encrypt content (petitions, messages, files, drafts) with the content key."""
        return self._seal(self.keyring.content, self.keyring.active_content, data, purpose)

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        """Decrypt content."""
        return self._open(self.keyring.content, blob, purpose)

    def encrypt_text(self, text: str, purpose: str) -> bytes:
        """Encrypt a string with the content key."""
        return self.encrypt(text.encode("utf-8"), purpose)

    def decrypt_text(self, blob: bytes, purpose: str) -> str:
        """Decrypt a string encrypted with :meth:`encrypt_text`."""
        return self.decrypt(blob, purpose).decode("utf-8")

    def encrypt_json(self, value: Any, purpose: str) -> bytes:
        """Encrypt a JSON-serializable value with the content key."""
        return self.encrypt(json.dumps(value, ensure_ascii=False).encode("utf-8"), purpose)

    def decrypt_json(self, blob: bytes, purpose: str) -> Any:
        """Decrypt a value encrypted with :meth:`encrypt_json`."""
        return json.loads(self.decrypt(blob, purpose))

    def seal_contact(self, contact: Mapping[str, str], purpose: str) -> bytes:
        """Encrypt where to push updates (channel, chat id) with the delivery key."""
        data = json.dumps(dict(contact), sort_keys=True).encode()
        return self._seal(self.keyring.delivery, self.keyring.active_delivery, data, purpose)

    def open_contact(self, blob: bytes, purpose: str) -> dict[str, str]:
        """Decrypt a contact; only the delivery worker calls this."""
        result: dict[str, str] = json.loads(self._open(self.keyring.delivery, blob, purpose))
        return result

    def rewrap(self, blob: bytes, purpose: str, kind: str) -> bytes | None:
        """Re-encrypt a ciphertext under the active key of its kind, or None if it already is.

        ``kind`` is ``content`` or ``delivery``; used by ``xinfang keys rotate``.
        """
        if kind == "content":
            keys, active = self.keyring.content, self.keyring.active_content
        elif kind == "delivery":
            keys, active = self.keyring.delivery, self.keyring.active_delivery
        else:
            raise ValueError(f"unknown key kind {kind!r}")
        if _split(blob)[0] == active:
            return None
        return self._seal(keys, active, self._open(keys, blob, purpose), purpose)

    def key_id_of(self, blob: bytes) -> str:
        """Return the id of the key that made a ciphertext."""
        return _split(blob)[0]

    # -- identity sealed to the custodian ---------------------------------------------
    def seal_field(self, name: str, value: str) -> str:
        """Seal one identity field to the custodian's public key; the server cannot open it.

        Fields are sealed one by one as the employee types them, so no draft ever holds a
        readable identity; the result is text so it can travel in a JSON draft. Under
        ``2of3`` each field is sealed for the pairs of the three custodians
        (:func:`seal_nested`), so a draft holds nothing one key opens either.
        """
        ring = self.keyring
        kids = ring.sealing_custodians(self.disclosure)
        if self.disclosure == "2of3":
            publics = {
                kid: X25519PublicKey.from_public_bytes(ring.custodian_public[kid]) for kid in kids
            }
            return _b64(seal_nested(publics, name, value.encode("utf-8")))
        kid = kids[0]
        recipient = X25519PublicKey.from_public_bytes(ring.custodian_public[kid])
        blob = seal_to(recipient, kid, value.encode("utf-8"), aad=name.encode())
        return _b64(blob)

    # -- blind indexes ----------------------------------------------------------------
    def blind_index(self, purpose: str, value: str) -> str:
        """Return HMAC-SHA256(pepper, purpose:value) as hex: a lookup key that reveals nothing."""
        key = f"{purpose}:{value}"
        if purpose not in _CACHED_PURPOSES:
            return hmac.new(self.keyring.pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()
        now = time.monotonic()
        hit = self._index_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        digest = hmac.new(self.keyring.pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()
        self._index_cache[key] = (now + _CACHE_SECONDS, digest)
        self._index_cache.move_to_end(key)
        while self._index_cache and (
            len(self._index_cache) > _CACHE_SIZE
            or next(iter(self._index_cache.values()))[0] <= now
        ):
            self._index_cache.popitem(last=False)
        return digest


def pack_identity(sealed_fields: Mapping[str, str]) -> bytes:
    """Store a case's sealed identity fields as one column value."""
    return json.dumps(dict(sealed_fields), sort_keys=True).encode("ascii")


def reseal_identity(
    private: X25519PrivateKey, blob: bytes, recipient: X25519PublicKey, kid: str
) -> bytes:
    """Open a case's sealed identity with the old custodian key and seal it to a new one."""
    fields = open_identity(private, blob)
    return pack_identity(
        {
            name: _b64(seal_to(recipient, kid, value.encode("utf-8"), aad=name.encode()))
            for name, value in fields.items()
        }
    )


def open_identity(private: X25519PrivateKey, blob: bytes) -> dict[str, str]:
    """Open every sealed field of a case's identity with the custodian's private key."""
    try:
        sealed: dict[str, str] = json.loads(blob)
    except ValueError:
        raise VaultError("not a sealed identity") from None
    return {
        name: open_sealed(private, _unb64(token), aad=name.encode()).decode("utf-8")
        for name, token in sealed.items()
    }


def public_raw_of(private: X25519PrivateKey) -> bytes:
    """The raw public half of a custodian private key (to find its key id)."""
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _pair_aad(name: str, first: str, second: str) -> bytes:
    return _NESTED_INFO + f"{name}|{first},{second}".encode()


def seal_nested(publics: Mapping[str, X25519PublicKey], name: str, plaintext: bytes) -> bytes:
    """Seal one identity field so that any two of the given custodians open it together.

    A fresh data key encrypts the value; for every pair (A, B) the data key is sealed to A
    and that result to B. Each layer alone yields only ciphertext, so a single key opens
    nothing. Three custodians make three pairs.
    """
    if len(publics) < 2:
        raise KeyringError("a two-person seal needs at least two custodians")
    data_key = AESGCM.generate_key(256)
    nonce = secrets.token_bytes(12)
    ct = AESGCM(data_key).encrypt(nonce, plaintext, _NESTED_INFO + name.encode())
    pairs = []
    for first, second in itertools.combinations(list(publics), 2):
        bound = _pair_aad(name, first, second)
        inner = seal_to(publics[first], first, data_key, aad=bound)
        outer = seal_to(publics[second], second, inner, aad=bound)
        pairs.append([[first, second], _b64(outer)])
    header = {"pairs": pairs, "nonce": _b64(nonce), "ct": _b64(ct)}
    return bytes([_NESTED_VERSION]) + json.dumps(header, sort_keys=True).encode("ascii")


def _open_nested(keys: Mapping[str, X25519PrivateKey], blob: bytes, name: str) -> bytes:
    try:
        header: dict[str, Any] = json.loads(blob[1:])
        pairs = [(str(a), str(b), _unb64(sealed)) for (a, b), sealed in header["pairs"]]
        nonce, ct = _unb64(header["nonce"]), _unb64(header["ct"])
    except (ValueError, KeyError, TypeError):
        raise VaultError("not a sealed identity") from None
    for first, second, outer in pairs:
        if first in keys and second in keys:
            bound = _pair_aad(name, first, second)
            inner = open_sealed(keys[second], outer, aad=bound)
            data_key = open_sealed(keys[first], inner, aad=bound)
            try:
                return AESGCM(data_key).decrypt(nonce, ct, _NESTED_INFO + name.encode())
            except (InvalidTag, ValueError):
                raise VaultError("the sealed identity failed authentication") from None
    raise VaultError("these keys cannot open the sealed identity: two custodians are needed")


def _open_field(keys: Mapping[str, X25519PrivateKey], token: str, name: str) -> bytes:
    blob = _unb64(token)
    if blob[:1] == bytes([_NESTED_VERSION]):
        return _open_nested(keys, blob, name)
    kid, _body = _split(blob)
    # A one-custodian field names its key; a key file given under another id (an older
    # keyring) is still tried, since only the right private key opens it anyway.
    candidates = [keys[kid]] if kid in keys else list(keys.values())
    for private in candidates:
        try:
            return open_sealed(private, blob, aad=name.encode())
        except VaultError:
            continue
    raise VaultError("these keys cannot open the sealed identity")


def open_identity_with(keys: Mapping[str, X25519PrivateKey], blob: bytes) -> dict[str, str]:
    """Open a case's sealed identity with custodian private keys by key id: one key for a
    field sealed to one custodian, the keys of two custodians for a field sealed to pairs."""
    try:
        sealed: dict[str, str] = json.loads(blob)
    except ValueError:
        raise VaultError("not a sealed identity") from None
    if not isinstance(sealed, dict):
        raise VaultError("not a sealed identity")
    try:
        return {
            name: _open_field(keys, token, name).decode("utf-8") for name, token in sealed.items()
        }
    except (ValueError, TypeError):  # base64 or UTF-8 damage
        raise VaultError("not a sealed identity") from None


def reseal_fields(keys: Mapping[str, X25519PrivateKey], blob: bytes, vault: Vault) -> bytes:
    """Open a case's sealed identity with the given custodian keys and seal it again to
    the custodians the vault's scheme names now (``xinfang keys rotate``)."""
    return pack_identity(
        {
            name: vault.seal_field(name, value)
            for name, value in open_identity_with(keys, blob).items()
        }
    )


def seal_to(recipient: X25519PublicKey, kid: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt to an X25519 public key (ephemeral ECDH + HKDF-SHA256 + AES-256-GCM)."""
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    rec_pub = recipient.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _derive(ephemeral.exchange(recipient), eph_pub, rec_pub)
    nonce = secrets.token_bytes(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, _SEAL_INFO + aad)
    return _frame(kid, eph_pub + nonce + ct)


def open_sealed(private: X25519PrivateKey, blob: bytes, aad: bytes = b"") -> bytes:
    """Open a sealed identity with the custodian's private key."""
    _kid, body = _split(blob)
    eph_pub, nonce, ct = body[:32], body[32:44], body[44:]
    rec_pub = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        return AESGCM(_derive(shared, eph_pub, rec_pub)).decrypt(nonce, ct, _SEAL_INFO + aad)
    except (InvalidTag, ValueError):
        raise VaultError("this key cannot open the sealed identity") from None


def _derive(shared: bytes, eph_pub: bytes, rec_pub: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=eph_pub + rec_pub, info=_SEAL_INFO).derive(
        shared
    )
