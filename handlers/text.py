"""Cleaning what people type before it is stored or shown."""

from __future__ import annotations

import unicodedata

__all__ = ["clean_text", "split_text"]

# Control and formatting characters that can hide or reorder text (bidi overrides,
# zero-width joiners used to smuggle content); newlines and tabs stay.
_KEEP = {"\n", "\t"}


def clean_text(text: str) -> str:
    """Return text in NFC with control and invisible formatting characters removed."""
    normalized = unicodedata.normalize("NFC", text)
    kept = [
        ch
        for ch in normalized
        if ch in _KEEP or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    ]
    return "".join(kept).strip()


def split_text(text: str, limit: int) -> list[str]:
    """Split text into parts of at most ``limit`` characters, at line breaks where possible."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    half = max(1, limit // 2)  # a cut at 0 would never shorten the rest (limit 1 looped)
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < half:
            cut = rest.rfind(" ", 0, limit)
        if cut < half:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n") if rest[cut : cut + 1] == "\n" else rest[cut:]
    parts.append(rest)
    return parts
