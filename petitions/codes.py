"""Tracking codes (查询码) and public case numbers.

A tracking code is 80 random bits in Crockford base32, shown as ``XXXX-XXXX-XXXX-XXXX``.
It is the employee's only key back to an anonymous case, so it is never stored: storage
keeps an HMAC of :func:`normalize_tracking_code`'s output.
"""

from __future__ import annotations

import re
import secrets

from petitions.errors import InvalidTrackingCode

__all__ = [
    "CROCKFORD_ALPHABET",
    "format_case_number",
    "generate_button_token",
    "generate_tracking_code",
    "looks_like_tracking_code",
    "normalize_tracking_code",
    "parse_case_number",
]

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_BITS = 80
CODE_LENGTH = CODE_BITS // 5  # 16 symbols
_GROUP = 4
# Crockford's decoding rules: letters easily misread as digits are read as those digits.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―－_]+")
_CASE_NUMBER = re.compile(r"^XF-([0-9]{4})-([0-9]{6,})$")


def generate_tracking_code() -> str:
    """Return a new random tracking code, formatted for display."""
    value = secrets.randbits(CODE_BITS)
    symbols = []
    for _ in range(CODE_LENGTH):
        symbols.append(CROCKFORD_ALPHABET[value & 0x1F])
        value >>= 5
    raw = "".join(reversed(symbols))
    return "-".join(raw[i : i + _GROUP] for i in range(0, CODE_LENGTH, _GROUP))


def generate_button_token() -> str:
    """Return a random 80-bit token for buttons that act on a case from a push."""
    return generate_tracking_code().replace("-", "")


def normalize_tracking_code(text: str) -> str:
    """Return the canonical 16-symbol form of a typed code, or raise InvalidTrackingCode."""
    if len(text) > 64:  # no need to read a megabyte to know it is not a code
        raise InvalidTrackingCode()
    # Full-width letters and digits (common with Chinese input methods) become ASCII.
    ascii_text = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text)
    compact = _SEPARATORS.sub("", ascii_text.strip())
    if not compact.isascii():  # str.upper() would turn "ß" into "SS"
        raise InvalidTrackingCode()
    compact = compact.upper().translate(_CONFUSABLE)
    if len(compact) != CODE_LENGTH or any(c not in CROCKFORD_ALPHABET for c in compact):
        raise InvalidTrackingCode()
    return compact


def looks_like_tracking_code(text: str) -> bool:
    """Tell whether a bare message is probably a tracking code (used outside conversations)."""
    if len(text) > 40:
        return False
    try:
        normalize_tracking_code(text)
    except InvalidTrackingCode:
        return False
    return True


def format_case_number(year: int, sequence: int) -> str:
    """Return the public case number officers use, e.g. ``XF-2026-000123``."""
    if not 1000 <= year <= 9999 or sequence < 0:
        raise ValueError("case number out of range")
    return f"XF-{year:04d}-{sequence:06d}"


def parse_case_number(text: str) -> tuple[int, int] | None:
    """Return (year, sequence) of a case number typed by an officer, or None."""
    match = _CASE_NUMBER.match(text.strip().upper())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
