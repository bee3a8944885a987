"""Cleaning typed text, splitting long messages, and keeping ids and bytes out of reprs."""

from __future__ import annotations

import pytest

from handlers.inbound import Button, FileIn, FileOut, Inbound
from handlers.ports import Contact
from handlers.text import clean_text, split_text


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("工资\u202e拖欠", "工资拖欠"),  # right-to-left override
        ("a\u200bb\u200cc\u200dd\u2060e\ufefff", "abcdef"),  # zero-width characters
        ("nul\x00 and bell\x07", "nul and bell"),
        ("\u2066isolate\u2069", "isolate"),
        ("private \ue000 use", "private  use"),
        ("  two\nlines\tand a tab  ", "two\nlines\tand a tab"),
        ("emoji 😀👍🏽 stays", "emoji 😀👍🏽 stays"),
        ("e\u0301", "\u00e9"),  # NFC
        ("\u200b\u202e", ""),
    ],
)
def test_clean_text_removes_invisible_and_control_characters(typed: str, kept: str):
    assert clean_text(typed) == kept


@pytest.mark.parametrize("limit", [1, 7, 50, 4096])
def test_split_text_respects_the_limit_and_keeps_every_word(limit: int):
    text = "\n".join(f"第{i}行 " + "字" * (i % 13) for i in range(300))
    parts = split_text(text, limit)
    assert all(1 <= len(p) <= limit for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_split_text_prefers_line_breaks():
    assert split_text("aaaa\nbbbb", 6) == ["aaaa", "bbbb"]
    assert split_text("short", 10) == ["short"]
    with pytest.raises(ValueError):
        split_text("x", 0)


def test_reprs_do_not_show_ids_text_or_file_bytes():
    inbound = Inbound(
        "telegram",
        "8123456789",
        "7712345601",
        text="张秘密 13912345678",
        file=FileIn("document", "秘密.pdf", "application/pdf", b"SECRET-BYTES"),
    )
    shown = repr(inbound) + repr(inbound.file) + repr(Contact("telegram", "8123456789"))
    shown += repr(FileOut("photo", "秘密.jpg", "image/jpeg", b"SECRET-BYTES"))
    for secret in ("8123456789", "7712345601", "张秘密", "13912345678", "SECRET", "秘密"):
        assert secret not in shown


def test_a_button_payload_over_telegrams_64_bytes_is_refused():
    Button("ok", "o:not_accept:" + "9" * 51)
    with pytest.raises(ValueError):
        Button("too long", "o:not_accept:" + "9" * 52)
    with pytest.raises(ValueError):
        Button("multibyte", "案" * 22)
