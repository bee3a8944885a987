"""Splitting long texts into Telegram-sized messages without losing a character."""

from __future__ import annotations

__all__ = ["MAX_MESSAGE", "split_text", "utf16_len"]

# Telegram counts a message's length in UTF-16 code units, like entity offsets.
MAX_MESSAGE = 4096


def utf16_len(text: str) -> int:
    """Length of text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _hard_split(line: str, limit: int) -> list[str]:
    # A single line longer than a message: break at the last space that fits, else
    # between two characters (never inside a surrogate pair, since we count code points).
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for ch in line:
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > limit:
            chunk = "".join(current)
            cut = chunk.rfind(" ")
            if cut > 0:
                parts.append(chunk[: cut + 1])
                current = list(chunk[cut + 1 :])
                size = utf16_len(chunk[cut + 1 :])
            else:
                parts.append(chunk)
                current, size = [], 0
        current.append(ch)
        size += width
    if current:
        parts.append("".join(current))
    return parts


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split text into pieces of at most ``limit`` UTF-16 units, at line breaks if possible.

    Joining the pieces gives back the text exactly: nothing is cut or dropped.
    """
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if utf16_len(current) + utf16_len(line) <= limit:
            current += line
            continue
        if current:
            pieces.append(current)
            current = ""
        if utf16_len(line) <= limit:
            current = line
        else:
            *full, current = _hard_split(line, limit)
            pieces.extend(full)
    if current:
        pieces.append(current)
    return pieces
