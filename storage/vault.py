"""All cryptography of xinfang (DESIGN.md §3).

- content (petition text, messages, attachments, drafts): AES-256-GCM, *content key*
- contact (channel + chat id) for pushes: AES-256-GCM, *delivery key*
- real-name identity: sealed to the custodian's X25519 public key
  (ephemeral X25519 + HKDF-SHA256 + AES-256-GCM); the server cannot open it
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
    "CustodianKey",
    "Keyring",
    "KeyringError",
    "Vault",
    "VaultError",
    "aad",
    "generate_custodian_key",
    "load_custodian_private_key",
    "open_identity",
    "open_sealed",
    "pack_identity",
    "reseal_identity",
    "seal_to",
]

_VERSION = 1
_SEAL_INFO = b"xinfang identity v1"


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
    active_custodian: str

    @classmethod
    def generate(cls, custodian_public: bytes, custodian_kid: str) -> Keyring:
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
        )

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
                "custodian_public": {k: _b64(v) for k, v in self.custodian_public.items()},
                "active_custodian": self.active_custodian,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        """Parse a keyring file's text; raises KeyringError with a reason, never key material."""
        try:
            data: dict[str, Any] = json.loads(text)
            ring = cls(
                content={k: _unb64(v) for k, v in data["content"].items()},
                delivery={k: _unb64(v) for k, v in data["delivery"].items()},
                active_content=data["active_content"],
                active_delivery=data["active_delivery"],
                pepper=_unb64(data["pepper"]),
                custodian_public={k: _unb64(v) for k, v in data["custodian_public"].items()},
                active_custodian=data["active_custodian"],
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
    _index_cache: OrderedDict[str, tuple[float, str]] = field(
        default_factory=OrderedDict, repr=False
    )

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
        readable identity; the result is text so it can travel in a JSON draft.
        """
        kid = self.keyring.active_custodian
        recipient = X25519PublicKey.from_public_bytes(self.keyring.custodian_public[kid])
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
