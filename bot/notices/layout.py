"""Line breaking for Chinese text mixed with Latin words (禁则: kinsoku rules).

ReportLab's own CJK wrap lets a full-width comma or a closing quote start a line; a
formal notice must not. Here a line may break between two Chinese characters, between
Chinese and Latin text and at spaces, but never before closing punctuation nor after
opening punctuation, and a Latin word (a case number, a name of a law in English) stays
whole unless it is longer than a line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

__all__ = ["CANNOT_END", "CANNOT_START", "break_lines", "clean_text", "is_wide", "join_lines"]

# May not begin a line: closing brackets and quotes, stops, commas, ellipses, dashes.
CANNOT_START = frozenset("，。、；：！？）】》」』〕〉〗｝］”’…—～·％‰°℃,.;:!?)]}%'\"")
# May not end a line: opening brackets and quotes.
CANNOT_END = frozenset("（【《「『〔〈〖｛［“‘([{")


def is_wide(char: str) -> bool:
    """True for a character set like Chinese: a line may break on either side of it."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def clean_text(text: str) -> str:
    """Tabs to spaces, control characters out, characters the font lacks shown as □."""
    out = []
    for char in text:
        if char == "\t":
            out.append(" ")
        elif char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            continue
        elif ord(char) > 0xFFFF:
            # The CID font covers the Basic Multilingual Plane only (GB 18030 level 1).
            out.append("□")
        else:
            out.append(char)
    return "".join(out)


def join_lines(lines: list[str]) -> str:
    """Join a template paragraph's lines: a space between Latin words, none next to Chinese."""
    text = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if text and not is_wide(text[-1]) and not is_wide(line[0]):
            text += " "
        text += line
    return text


def _tokens(text: str) -> list[str]:
    # A wide character, a run of spaces, or a run of narrow non-space characters.
    tokens: list[str] = []
    for char in text:
        space = unicodedata.category(char) == "Zs"
        if tokens and not is_wide(char) and not space:
            last = tokens[-1]
            if not is_wide(last[-1]) and unicodedata.category(last[-1]) != "Zs":
                tokens[-1] += char
                continue
        if tokens and space and unicodedata.category(tokens[-1][-1]) == "Zs":
            tokens[-1] += char
            continue
        tokens.append(char)
    return tokens


def _clusters(text: str) -> list[str]:
    # Units that may not be split by a line break; a cluster of spaces is a break point.
    clusters: list[str] = []
    for token in _tokens(text):
        if unicodedata.category(token[0]) == "Zs":
            clusters.append(" ")
            continue
        last = clusters[-1] if clusters else " "
        if last != " " and (token[0] in CANNOT_START or last[-1] in CANNOT_END):
            clusters[-1] = last + token
        else:
            clusters.append(token)
    return clusters


def _hard_split(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    # A cluster wider than the line (a long URL, a run of digits): cut where it fills.
    pieces: list[str] = []
    current = ""
    for char in text:
        if current and measure(current + char) > width:
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces


def break_lines(
    text: str,
    width: float,
    measure: Callable[[str], float],
    *,
    first_indent: float = 0.0,
) -> list[str]:
    """Break one paragraph into lines no wider than ``width`` (the first one less indent)."""
    lines: list[str] = []
    line = ""
    pending_space = False

    def avail() -> float:
        return width - (first_indent if not lines else 0.0)

    for cluster in _clusters(text):
        if cluster == " ":
            pending_space = bool(line)
            continue
        candidate = line + (" " if pending_space else "") + cluster
        pending_space = False
        if measure(candidate) <= avail():
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        if measure(cluster) <= avail():
            line = cluster
            continue
        pieces = _hard_split(cluster, avail(), measure)
        # Only the first piece can need the narrower first line; the rest are full lines.
        lines.append(pieces[0])
        rest = "".join(pieces[1:])
        pieces = _hard_split(rest, width, measure) if rest else []
        lines.extend(pieces[:-1])
        line = pieces[-1] if pieces else ""
    if line:
        lines.append(line)
    return lines
