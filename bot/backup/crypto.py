"""The encryption of a backup file: a passphrase, scrypt, and AES-256-GCM in chunks.

Layout: ``XFBACKUP`` · header length (4 bytes) · header (JSON: KDF parameters, salt,
nonce prefix, chunk size, a passphrase check value) · records, each a 4-byte length and
one AES-256-GCM chunk. Every chunk is bound to the header (associated data), to its
position (the nonce counts chunks) and to whether it is the last one (the nonce's final
byte), so a chunk cannot be altered, dropped, reordered, or the file cut short without
the reader noticing (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár).

The check value lets a wrong passphrase be told apart from a damaged file; it helps an
offline guesser no more than trying to open the first chunk would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "BackupError",
    "DamagedBackup",
    "DecryptingReader",
    "EncryptingWriter",
    "WrongPassphrase",
]

MAGIC = b"XFBACKUP"
FORMAT = 1
CHUNK = 1 << 20  # 1 MiB: memory stays small however large the database is
# scrypt at 2**17 × 8 uses 128 MiB and about half a second: costly for a guesser, bearable
# for an operator. Readers accept up to 2**20 so a future writer may raise it.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 17, 8, 1
_MAX_N, _MAX_HEADER = 1 << 20, 1 << 16
_CHECK = b"xinfang backup passphrase check\x00"


class BackupError(Exception):
    """A backup cannot be written or read; the message says why in one line (English),
    ``code`` and ``params`` let a UI say it in its language."""

    def __init__(self, message: str, code: str = "", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class WrongPassphrase(BackupError):
    """The passphrase is not the one the backup was made with."""


class DamagedBackup(BackupError):
    """The file was cut short, altered or is not a backup."""


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    raw = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return raw[:32], hashlib.sha256(_CHECK + raw[32:]).digest()


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


class EncryptingWriter:
    """A write-only file object that encrypts what is written to ``out`` in chunks."""

    def __init__(self, out: BinaryIO, passphrase: str, *, chunk: int = CHUNK) -> None:
        salt, prefix = os.urandom(16), os.urandom(7)
        key, check = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        header = json.dumps(
            {
                "format": FORMAT,
                "cipher": "AES-256-GCM",
                "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode(),
                "nonce_prefix": base64.b64encode(prefix).decode(),
                "chunk": chunk,
                "check": base64.b64encode(check).decode(),
            },
            sort_keys=True,
        ).encode()
        out.write(MAGIC + len(header).to_bytes(4, "big") + header)
        self._out, self._aad, self._prefix = out, MAGIC + header, prefix
        self._aes, self._chunk = AESGCM(key), chunk
        self._buf = bytearray()
        self._index = 0
        self.written = 0  # plaintext bytes so far, for progress
        self._closed = False

    def write(self, data: bytes) -> int:
        """Buffer ``data`` and encrypt every full chunk."""
        if self._closed:
            raise ValueError("write to a closed backup")
        self._buf += data
        self.written += len(data)
        # Strictly more than a chunk: the last chunk (flagged final) is written by close().
        while len(self._buf) > self._chunk:
            self._emit(bytes(self._buf[: self._chunk]), final=False)
            del self._buf[: self._chunk]
        return len(data)

    def _emit(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aes.encrypt(_nonce(self._prefix, self._index, final), plain, self._aad)
        self._out.write(len(sealed).to_bytes(4, "big") + sealed)
        self._index += 1

    def close(self) -> None:
        """Write the final chunk (the output file itself stays open)."""
        if not self._closed:
            self._emit(bytes(self._buf), final=True)
            self._buf.clear()
            self._closed = True


class DecryptingReader:
    """A read-only file object over a backup file: checks the passphrase at once, then
    yields plaintext chunk by chunk, each authenticated before any of it is returned."""

    def __init__(self, src: BinaryIO, passphrase: str) -> None:
        if src.read(len(MAGIC)) != MAGIC:
            raise DamagedBackup("not an xinfang backup file", "not_backup")
        size = int.from_bytes(_exactly(src, 4), "big")
        if size > _MAX_HEADER:
            raise DamagedBackup("the backup file is damaged (header)", "damaged_header")
        header_bytes = _exactly(src, size)
        try:
            header: dict[str, Any] = json.loads(header_bytes)
            kdf = header["kdf"]
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            salt = base64.b64decode(header["salt"])
            prefix = base64.b64decode(header["nonce_prefix"])
            check = base64.b64decode(header["check"])
            chunk = int(header["chunk"])
            version = header["format"]
        except (ValueError, KeyError, TypeError):
            raise DamagedBackup("the backup file is damaged (header)", "damaged_header") from None
        if version != FORMAT:
            raise BackupError(
                f"backup format {version} is not known to this xinfang version",
                "unknown_format",
                version=version,
            )
        # Bounds, so a crafted header cannot make the reader allocate without limit.
        if kdf.get("name") != "scrypt" or not (2 <= n <= _MAX_N) or n & (n - 1):
            raise DamagedBackup("the backup file is damaged (key derivation)", "damaged_kdf")
        if not (1 <= r <= 32 and 1 <= p <= 16 and 1 <= chunk <= 64 * CHUNK and len(prefix) == 7):
            raise DamagedBackup("the backup file is damaged (header)", "damaged_header")
        key, expected = _derive(passphrase, salt, n, r, p)
        if not hmac.compare_digest(expected, check):
            raise WrongPassphrase("wrong passphrase for this backup", "wrong_passphrase")
        self._src, self._aad, self._prefix = src, MAGIC + header_bytes, prefix
        self._aes, self._chunk = AESGCM(key), chunk
        self._buf = bytearray()
        self._index = 0
        self.done = False  # the final chunk was read and nothing follows it

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of plaintext (all the rest when negative)."""
        while not self.done and (size < 0 or len(self._buf) < size):
            self._next()
        if size < 0:
            size = len(self._buf)
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def finish(self) -> None:
        """Read to the end, so a file cut after the last member is noticed too."""
        while not self.done:
            self._next()
            self._buf.clear()

    def _next(self) -> None:
        head = self._src.read(4)
        if len(head) < 4:
            raise DamagedBackup("the backup file is incomplete (cut short)", "cut_short")
        size = int.from_bytes(head, "big")
        if size < 16 or size > self._chunk + 16:
            raise DamagedBackup("the backup file is damaged or was altered", "altered")
        sealed = self._src.read(size)
        if len(sealed) < size:
            raise DamagedBackup("the backup file is incomplete (cut short)", "cut_short")
        for final in (False, True):
            try:
                plain = self._aes.decrypt(
                    _nonce(self._prefix, self._index, final), sealed, self._aad
                )
            except InvalidTag:
                continue
            self._index += 1
            self._buf += plain
            if final:
                if self._src.read(1):
                    raise DamagedBackup(
                        "the backup file has data after its end (altered)", "trailing_data"
                    )
                self.done = True
            return
        raise DamagedBackup("the backup file is damaged or was altered", "altered")


def _exactly(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) < n:
        raise DamagedBackup("not an xinfang backup file (too short)")
    return data
