"""WeCom callback encryption (the WXBizMsgCrypt scheme) implemented with `cryptography`.

Exception messages carry a fixed reason only, never message content, so they are safe to log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import xml.etree.ElementTree as ET  # noqa: S405 - DTDs are rejected before parsing
from typing import ClassVar

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeCom pads to 32 bytes (not the AES block size of 16) with PKCS#7-style bytes.
PAD_BLOCK = 32
RANDOM_PREFIX = 16
LENGTH_PREFIX = 4
DEFAULT_MAX_XML = 64 * 1024

_FORBIDDEN_XML = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SAFE_NONCE = re.compile(r"[0-9A-Za-z_\-]{1,64}")
_SAFE_TIMESTAMP = re.compile(r"[0-9]{1,20}")


class WeComCryptoError(Exception):
    """A WXBizMsgCrypt failure carrying the official numeric error code."""

    code: int = -40000
    reason: ClassVar[str] = "wecom crypto error"

    def __init__(self, code: int | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(f"{self.reason} ({self.code})")


class ValidateSignatureError(WeComCryptoError):
    code = -40001
    reason = "signature mismatch"


class ParseXmlError(WeComCryptoError):
    code = -40002
    reason = "xml could not be parsed"


class ComputeSignatureError(WeComCryptoError):
    code = -40003
    reason = "signature could not be computed"


class IllegalAesKey(WeComCryptoError):
    code = -40004
    reason = "illegal EncodingAESKey"


class ValidateCorpidError(WeComCryptoError):
    code = -40005
    reason = "receive id mismatch"


class EncryptAESError(WeComCryptoError):
    code = -40006
    reason = "aes encryption failed"


class DecryptAESError(WeComCryptoError):
    code = -40007
    reason = "aes decryption failed"


class IllegalBuffer(WeComCryptoError):
    code = -40008
    reason = "illegal plaintext buffer"


class EncodeBase64Error(WeComCryptoError):
    code = -40009
    reason = "base64 encoding failed"


class DecodeBase64Error(WeComCryptoError):
    code = -40010
    reason = "base64 decoding failed"


class GenReturnXmlError(WeComCryptoError):
    code = -40011
    reason = "reply xml could not be generated"


def parse_xml(body: bytes | str, *, max_size: int = DEFAULT_MAX_XML) -> ET.Element:
    """Parse untrusted XML, refusing DTDs/entities and bodies over `max_size` bytes."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > max_size:
        raise ParseXmlError()
    try:
        # Decoding first pins the parser to UTF-8, so a UTF-16 body cannot smuggle a DOCTYPE
        # past the byte check below.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseXmlError() from None
    if _FORBIDDEN_XML.search(raw):
        raise ParseXmlError()
    try:
        return ET.fromstring(text)  # noqa: S314 - DOCTYPE/ENTITY rejected above
    except ET.ParseError:
        raise ParseXmlError() from None


def compute_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return the SHA1 hex signature over the sorted concatenation of the four values."""
    try:
        joined = "".join(sorted([token, timestamp, nonce, encrypt])).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        raise ComputeSignatureError() from None
    return hashlib.sha1(joined).hexdigest()  # noqa: S324 - mandated by the WeCom protocol


def _pad(data: bytes) -> bytes:
    n = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptAESError()
    n = data[-1]
    if not 1 <= n <= PAD_BLOCK or n > len(data) or data[-n:] != bytes([n]) * n:
        raise DecryptAESError()
    return data[:-n]


def _decode_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise IllegalAesKey()
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise IllegalAesKey() from None
    if len(key) != 32:
        raise IllegalAesKey()
    return key


class WeComCrypto:
    """Signs, verifies, encrypts and decrypts WeCom callback payloads for one app."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ComputeSignatureError()
        self._token = token
        self._key = _decode_key(encoding_aes_key)
        self._receive_id = receive_id.encode("utf-8")
        # Built once: a Cipher hands out a fresh encryptor/decryptor context on every call.
        self._cipher_obj = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """Return the msg_signature WeCom would compute for these values."""
        return compute_signature(self._token, timestamp, nonce, encrypt)

    def check_signature(
        self, msg_signature: str, timestamp: str, nonce: str, encrypt: str
    ) -> None:
        """Raise ValidateSignatureError unless `msg_signature` matches, in constant time."""
        expected = self.signature(timestamp, nonce, encrypt).encode("ascii")
        if not hmac.compare_digest(expected, msg_signature.encode("utf-8", "replace")):
            raise ValidateSignatureError()

    def _cipher(self) -> Cipher[modes.CBC]:
        return self._cipher_obj

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        """Encrypt `message` into the base64 Encrypt field (random prefix injectable)."""
        prefix = secrets.token_bytes(RANDOM_PREFIX) if random16 is None else random16
        if len(prefix) != RANDOM_PREFIX:
            raise EncryptAESError()
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id
        try:
            encryptor = self._cipher().encryptor()
            ciphertext = encryptor.update(_pad(plain)) + encryptor.finalize()
        except ValueError:
            raise EncryptAESError() from None
        try:
            return base64.b64encode(ciphertext).decode("ascii")
        except (binascii.Error, ValueError):
            raise EncodeBase64Error() from None

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a base64 Encrypt field, checking padding, length and receive id."""
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeBase64Error() from None
        if not ciphertext or len(ciphertext) % 16:
            raise DecryptAESError()
        decryptor = self._cipher().decryptor()
        plain = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
        content = plain[RANDOM_PREFIX:]
        if len(content) < LENGTH_PREFIX:
            raise IllegalBuffer()
        (length,) = struct.unpack(">I", content[:LENGTH_PREFIX])
        end = LENGTH_PREFIX + length
        if end > len(content):
            raise IllegalBuffer()
        if not hmac.compare_digest(content[end:], self._receive_id):
            raise ValidateCorpidError()
        try:
            return content[LENGTH_PREFIX:end].decode("utf-8")
        except UnicodeDecodeError:
            raise IllegalBuffer() from None

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """Verify a URL-verification GET and return the plaintext to echo back."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        post_body_xml: bytes,
        *,
        max_size: int = DEFAULT_MAX_XML,
    ) -> str:
        """Verify and decrypt a callback POST body, returning the inner XML."""
        root = parse_xml(post_body_xml, max_size=max_size)
        encrypt = root.findtext("Encrypt")
        if not encrypt:
            raise ParseXmlError()
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_reply(
        self, xml: str, nonce: str, timestamp: str, random16: bytes | None = None
    ) -> str:
        """Encrypt `xml` and wrap it in the signed passive-reply envelope."""
        # Nonce and timestamp go into the envelope verbatim, so only plain tokens are allowed.
        if not _SAFE_NONCE.fullmatch(nonce) or not _SAFE_TIMESTAMP.fullmatch(timestamp):
            raise GenReturnXmlError()
        encrypt = self.encrypt(xml, random16)
        signature = self.signature(timestamp, nonce, encrypt)
        return build_reply_xml(encrypt, signature, timestamp, nonce)


def build_reply_xml(encrypt: str, signature: str, timestamp: str, nonce: str) -> str:
    """Return the passive-reply XML envelope in the layout of the official samples."""
    if "]]>" in encrypt + signature + nonce or not _SAFE_TIMESTAMP.fullmatch(timestamp):
        raise GenReturnXmlError()
    return (
        "<xml>\n"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
        f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
        f"<TimeStamp>{timestamp}</TimeStamp>\n"
        f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
        "</xml>"
    )
