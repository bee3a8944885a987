"""Custodian key files: made off the server, the private half under a passphrase.

A custodian's private key file is a PEM-armoured envelope of our own format::

    -----BEGIN XINFANG CUSTODIAN KEY-----
    base64( version=1 | kdf=1 (scrypt) | log2 N | r | p | salt (16) | nonce (12)
            | public key (32) | AES-256-GCM(private key (32)) )
    -----END XINFANG CUSTODIAN KEY-----

The key encrypting the private key is scrypt(passphrase, salt, N=2^17, r=8, p=1) by default
(128 MiB and about half a second per guess); every byte before the ciphertext is bound as
associated data, so changing the parameters or the public key makes the file fail to open.
We do not use PKCS#8 ``BestAvailableEncryption``: in ``cryptography`` it is PBKDF2 with an
iteration count the caller cannot set, which a GPU guesses far faster than scrypt.

The public half is written as an ordinary ``PUBLIC KEY`` PEM (SubjectPublicKeyInfo), which
is all the server ever receives (``xinfang keys custodian-add``).
"""

from __future__ import annotations

import base64
import os
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from storage.vault import KeyringError, public_raw_of

__all__ = [
    "DEFAULT_LOG_N",
    "MIN_PASSPHRASE",
    "CustodyError",
    "decrypt_private_key",
    "encrypt_private_key",
    "find_private_keys",
    "is_encrypted_key",
    "load_private_key",
    "load_public_key",
    "new_custodian_files",
    "public_pem",
]

_ARMOR = "XINFANG CUSTODIAN KEY"
_BEGIN = f"-----BEGIN {_ARMOR}-----".encode()
_END = f"-----END {_ARMOR}-----".encode()
_FORMAT_VERSION = 1
_KDF_SCRYPT = 1
DEFAULT_LOG_N = 17  # scrypt N = 2^17, r = 8: 128 MiB per guess
_MIN_LOG_N, _MAX_LOG_N = 14, 22
MIN_PASSPHRASE = 12
_HEADER = 5 + 16 + 12 + 32  # version, kdf, log2 N, r, p; salt; nonce; public key


class CustodyError(KeyringError):
    """A custodian key file cannot be made or opened; the message says why (English, no key
    bytes); ``code`` and ``params`` let a UI say it in its language."""

    def __init__(self, message: str, code: str = "", /, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def _kdf(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    # NFC so that the same passphrase typed on another system derives the same key.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=2**log_n, r=r, p=p).derive(secret)


def encrypt_private_key(
    private: X25519PrivateKey, passphrase: str, *, log_n: int = DEFAULT_LOG_N
) -> bytes:
    """Return the private key as a passphrase-encrypted PEM-armoured envelope."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise CustodyError(
            f"the passphrase must have at least {MIN_PASSPHRASE} characters "
            "(a sentence or six random words; see docs/custody.md)",
            "passphrase_short",
            min=MIN_PASSPHRASE,
            doc="docs/custody.md",
        )
    if not _MIN_LOG_N <= log_n <= _MAX_LOG_N:
        raise CustodyError(
            f"scrypt work factor 2^{log_n} is out of range",
            "work_factor",
            kdf="scrypt",
            log_n=log_n,
            least=_MIN_LOG_N,
            most=_MAX_LOG_N,
        )
    r, p = 8, 1
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = bytes([_FORMAT_VERSION, _KDF_SCRYPT, log_n, r, p]) + salt + nonce
    header += public_raw_of(private)
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    ct = AESGCM(_kdf(passphrase, salt, log_n, r, p)).encrypt(nonce, raw, header)
    body = base64.encodebytes(header + ct)
    return _BEGIN + b"\n" + body + _END + b"\n"


def is_encrypted_key(data: bytes) -> bool:
    """True for a passphrase-encrypted custodian key file of this format."""
    return _BEGIN in data


def decrypt_private_key(data: bytes, passphrase: str) -> X25519PrivateKey:
    """Open a passphrase-encrypted custodian key file."""
    try:
        start = data.index(_BEGIN) + len(_BEGIN)
        blob = base64.b64decode(data[start : data.index(_END, start)])
    except ValueError:
        raise CustodyError("not a custodian key file", "not_key_file") from None
    if len(blob) < _HEADER + 32 + 16 or blob[0] != _FORMAT_VERSION:
        raise CustodyError("unknown custodian key file version", "unknown_version")
    if blob[1] != _KDF_SCRYPT:
        raise CustodyError("unknown key derivation in the custodian key file", "unknown_kdf")
    log_n, r, p = blob[2], blob[3], blob[4]
    if not (_MIN_LOG_N <= log_n <= _MAX_LOG_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise CustodyError(
            "the custodian key file has out-of-range scrypt parameters", "bad_kdf", kdf="scrypt"
        )
    salt, nonce, public = blob[5:21], blob[21:33], blob[33:_HEADER]
    try:
        raw = AESGCM(_kdf(passphrase, salt, log_n, r, p)).decrypt(
            nonce, blob[_HEADER:], blob[:_HEADER]
        )
    except InvalidTag:
        raise CustodyError(
            "wrong passphrase (or the key file was altered)", "wrong_passphrase"
        ) from None
    private = X25519PrivateKey.from_private_bytes(raw)
    if public_raw_of(private) != public:
        raise CustodyError("the custodian key file is inconsistent", "inconsistent")
    return private


def load_private_key(data: bytes, passphrase: Callable[[], str]) -> X25519PrivateKey:
    """Load a custodian private key: our encrypted format (asks ``passphrase()``), or an
    unencrypted PKCS#8 PEM (a local-mode trial key), or an encrypted PKCS#8 PEM."""
    if is_encrypted_key(data):
        return decrypt_private_key(data, passphrase())
    password = passphrase().encode("utf-8") if b"ENCRYPTED PRIVATE KEY" in data else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError):
        raise CustodyError(
            "not a custodian private key (or a wrong passphrase for an encrypted PKCS#8 file)",
            "not_private_key",
            format="PKCS#8",
        ) from None
    if not isinstance(key, X25519PrivateKey):
        raise CustodyError("not an X25519 custodian key", "not_x25519", algorithm="X25519")
    return key


def public_pem(public_raw: bytes) -> bytes:
    """The public half as a standard ``PUBLIC KEY`` PEM."""
    return X25519PublicKey.from_public_bytes(public_raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> bytes:
    """Read a custodian public key PEM and return its raw 32 bytes; refuses private keys."""
    if b"PRIVATE KEY" in data or is_encrypted_key(data):
        raise CustodyError(
            "this is a PRIVATE key: give the server only the .pub.pem file, and keep the "
            "private key off the server",
            "private_given",
            file=".pub.pem",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise CustodyError("not a public key PEM", "not_public_pem", format="PEM") from None
    if not isinstance(key, X25519PublicKey):
        raise CustodyError(
            "not an X25519 public key (make one with `xinfang keys custodian-new`)",
            "not_x25519_public",
            algorithm="X25519",
            command="xinfang keys custodian-new",
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)


def new_custodian_files(
    out: Path, passphrase: str, *, log_n: int = DEFAULT_LOG_N
) -> tuple[Path, Path]:
    """Make a custodian key pair: ``out`` (private, encrypted, mode 0600) and
    ``out.pub.pem`` (public); never overwrites a file."""
    public_path = out.with_name(out.name + ".pub.pem")
    for path in (out, public_path):
        if path.exists():
            raise CustodyError(
                f"{path} already exists; refusing to overwrite it", "exists", path=path
            )
    private = X25519PrivateKey.generate()
    envelope = encrypt_private_key(private, passphrase, log_n=log_n)
    _write_new(out, envelope, 0o600)
    _write_new(public_path, public_pem(public_raw_of(private)), 0o644)
    return out, public_path


_MAX_SCAN_BYTES = 1 << 20
_PEM_PRIVATE = (b"PRIVATE KEY-----", _BEGIN)


def find_private_keys(directories: Iterable[Path]) -> list[Path]:
    """Files under ``directories`` that hold a private key: ``custodian-*.private.pem`` or
    any PEM private key (files over 1 MiB, such as databases, are not read)."""
    found: set[Path] = set()
    for top in directories:
        if not top.is_dir():
            continue
        for root, _dirs, files in os.walk(top):
            for name in files:
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                if name.startswith("custodian-") and name.endswith(".private.pem"):
                    found.add(path)
                    continue
                try:
                    if path.stat().st_size > _MAX_SCAN_BYTES:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(marker in data for marker in _PEM_PRIVATE):
                    found.add(path)
    return sorted(found)
