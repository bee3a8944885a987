"""No English in the Chinese catalog: every zh_CN text is scanned for Latin words, and only
what a Chinese UI writes in Latin letters too is allowed (case numbers, command names,
file types, units, placeholders, URLs)."""

from __future__ import annotations

import re

import pytest

from i18n import Translator

# Stripped before the scan: these are not words a reader should see translated.
ALLOWED_PATTERNS = (
    re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}"),  # {placeholders}
    re.compile(r"https?://\S+"),  # URLs
    re.compile(r"(?<![A-Za-z0-9])/[a-z_]+"),  # command names: /cases, /approve_disclosure
    re.compile(r"\bXF-\d{4}-\d+\b"),  # case numbers
    re.compile(r"\b[0-9A-Z]{3,4}(?:-[0-9A-Z]{4}){3}\b"),  # tracking codes and their pattern
    re.compile(r"(?<![A-Za-z0-9])\.[a-z0-9]{2,5}\b"),  # file extensions: .docx
)
# Words Chinese software writes in Latin letters as well: formats, units, product names.
ALLOWED_WORDS = frozenset(
    {"XF", "PDF", "CSV", "XLSX", "MB", "KB", "GB", "IP", "Office", "Word", "Excel"}
)
# The language switch names both languages in their own script, so that a reader of either
# can find it.
BILINGUAL_IDS = frozenset({"menu.choose_language"})
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def latin_words(text: str) -> list[str]:
    """The Latin words of a text that are not on the allow-list."""
    for pattern in ALLOWED_PATTERNS:
        text = pattern.sub(" ", text)
    return [w for w in LATIN_WORD.findall(text) if w not in ALLOWED_WORDS]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("用法：/cases [在办|我的] 编号 XF-2026-000123 的 {number}", []),
        ("例如 7K3M-Q9XD-2F8H-WB4T，或 XXXX-XXXX-XXXX-XXXX", []),
        ("请另存为 PDF 或 .docx 后发送，见 https://example.org/a?b=c", []),
        ("/reject 编号 途径 理由（途径：arbitration/court）", ["arbitration", "court"]),
        ("结论：supported", ["supported"]),
        ("经办人ID", ["ID"]),
    ],
)
def test_the_scan_finds_english_words_and_passes_what_is_allowed(text, found):
    assert latin_words(text) == found


def test_no_chinese_text_in_the_catalog_contains_english_words():
    catalog = Translator.load().catalogs["zh_CN"]
    assert len(catalog) > 300
    leaks = {
        key: words
        for key, text in sorted(catalog.items())
        if key not in BILINGUAL_IDS and (words := latin_words(text))
    }
    assert leaks == {}
