"""Petition text made comparable: one normal form and its character n-grams.

Chinese needs no word segmentation here: overlapping 2- and 3-character grams carry the
words (加班费 → 加班, 班费, 加班费) and survive a typo in a neighbouring character. Before
that the text is put into one form:

- NFKC, so full-width letters, digits and punctuation (ＯＴ, ３) are the ASCII ones;
- traditional → simplified characters (OpenCC ``t2s``): 加班費 and 加班费 are one word;
- lower case, and a short glossary for English words employees mix in (OT, salary, HR…);
- URLs, e-mail addresses and long digit runs (phone numbers, ids) removed: they say
  nothing about the matter and must not make two petitions look alike;
- punctuation, spaces and symbols removed; ASCII words and digit runs kept as one token
  each (a gram of "salary" is the word, not s-a-l).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Protocol

__all__ = ["GLOSSARY", "grams", "normalise", "simplified", "tokens"]

# English words seen in petitions, as the Chinese word they stand for. Longest first in
# the pattern, so "overtime pay" wins over "overtime".
GLOSSARY: Mapping[str, str] = {
    "overtime pay": "加班费",
    "overtime": "加班",
    "ot": "加班",
    "salary": "工资",
    "wage": "工资",
    "wages": "工资",
    "pay": "工资",
    "bonus": "奖金",
    "hr": "人事",
    "dorm": "宿舍",
    "dormitory": "宿舍",
    "canteen": "食堂",
    "boss": "领导",
    "leader": "领导",
    "manager": "经理",
    "shuttle bus": "班车",
    "bus": "班车",
    "contract": "合同",
    "shift": "班次",
    "safety": "安全",
    "helmet": "安全帽",
}

_URL = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.]+", re.ASCII)
_LONG_DIGITS = re.compile(r"\d{5,}")
_TOKEN = re.compile(r"[a-z]+|\d+|[\u3400-\u9fff\uf900-\ufaff]")


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@lru_cache(maxsize=1)
def _t2s() -> _Converter:
    import opencc

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


def simplified(text: str) -> str:
    """Traditional characters as simplified ones (OpenCC ``t2s``)."""
    return _t2s().convert(text)


@lru_cache(maxsize=8)
def _glossary_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ordered) + r")\b", re.ASCII)


def normalise(text: str, glossary: Mapping[str, str] = GLOSSARY) -> str:
    """NFKC, simplified, lower case, glossary applied, URLs and long numbers removed."""
    text = unicodedata.normalize("NFKC", text)
    text = simplified(text).lower()
    text = _URL.sub(" ", text)
    text = _LONG_DIGITS.sub(" ", text)
    if glossary:
        pattern = _glossary_pattern(tuple(glossary))
        text = pattern.sub(lambda m: glossary[m.group(0)], text)
    return text


def tokens(text: str, glossary: Mapping[str, str] = GLOSSARY) -> list[str]:
    """The normalised text as tokens: each Han character, each ASCII word or number."""
    return _TOKEN.findall(normalise(text, glossary))


def grams(
    text: str,
    sizes: Sequence[int] = (2, 3),
    glossary: Mapping[str, str] = GLOSSARY,
) -> dict[str, int]:
    """Counts of the token n-grams of ``text`` for each size in ``sizes``.

    A text shorter than the smallest size gives its tokens joined as one gram, so a
    one-character petition still has something to compare.
    """
    toks = tokens(text, glossary)
    out: dict[str, int] = {}
    for n in sizes:
        for i in range(len(toks) - n + 1):
            gram = "\x1f".join(toks[i : i + n]) if n > 1 else toks[i]
            out[gram] = out.get(gram, 0) + 1
    if not out and toks:
        out["\x1f".join(toks)] = 1
    return out
