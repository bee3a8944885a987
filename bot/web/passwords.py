"""Officers' web passwords: Argon2id hashes (argon2-cffi), generated passwords."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_LENGTH", "generate_password", "hash_password", "needs_rehash", "verify_password"]

MIN_LENGTH = 10
# Crockford-like alphabet without look-alikes, so a printed password can be typed back.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

# argon2-cffi's defaults are RFC 9106's second recommendation (Argon2id, 64 MiB, t=3).
_HASHER = PasswordHasher()


def generate_password(groups: int = 4, size: int = 4) -> str:
    """A random password like ``k7qm-3xda-w9te-pz4h`` (about 79 bits)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))


def hash_password(password: str) -> str:
    """Hash a password with Argon2id and a random salt."""
    return _HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_hex(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; an unknown login costs the same time as a wrong password."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than the current ones."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False
