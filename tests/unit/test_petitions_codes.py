"""Tracking codes (查询码) and public case numbers."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from petitions.codes import (
    CROCKFORD_ALPHABET,
    format_case_number,
    generate_tracking_code,
    looks_like_tracking_code,
    normalize_tracking_code,
    parse_case_number,
)
from petitions.errors import DomainError, InvalidTrackingCode

SYMBOL = "[0-9A-HJKMNP-TV-Z]"
DISPLAY_FORM = re.compile(rf"^{SYMBOL}{{4}}(-{SYMBOL}{{4}}){{3}}$")
CANONICAL = "7K3M9QXZ0A1B2C4D"  # a valid 16-symbol code used by the input tests
DISPLAYED = "7K3M-9QXZ-0A1B-2C4D"
ONE_MEGABYTE = 1_000_000


def to_full_width(text: str) -> str:
    """What a Chinese input method in full-width mode types for ASCII letters and digits."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# --- the alphabet and generation ------------------------------------------------------------


def test_the_alphabet_is_crockford_base32_without_ilou() -> None:
    assert len(CROCKFORD_ALPHABET) == len(set(CROCKFORD_ALPHABET)) == 32
    assert CROCKFORD_ALPHABET == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert not set("ILOU") & set(CROCKFORD_ALPHABET)


def test_generated_codes_have_the_display_form() -> None:
    for _ in range(2000):
        code = generate_tracking_code()
        assert DISPLAY_FORM.fullmatch(code), code


def test_ten_thousand_generated_codes_are_all_different() -> None:
    codes = [generate_tracking_code() for _ in range(10_000)]
    assert len(set(codes)) == len(codes)


def test_the_first_symbol_covers_the_whole_alphabet_because_codes_carry_80_bits() -> None:
    # 80 bits are exactly 16 symbols of 5 bits: the first symbol is not stuck at a few values.
    # The chance that 20,000 fair draws miss one of 32 symbols is about 32 * (31/32)**20000.
    codes = [generate_tracking_code() for _ in range(20_000)]
    first = Counter(code[0] for code in codes)
    last = Counter(code[-1] for code in codes)
    assert set(first) == set(CROCKFORD_ALPHABET)
    assert set(last) == set(CROCKFORD_ALPHABET)
    # Roughly uniform: each symbol expected 625 times; 400 is more than 9 sigma away.
    assert min(first.values()) > 400


# --- normalization --------------------------------------------------------------------------


def test_a_generated_code_normalizes_to_its_symbols_and_back_to_its_display_form() -> None:
    for _ in range(500):
        code = generate_tracking_code()
        canonical = normalize_tracking_code(code)
        assert canonical == code.replace("-", "")
        assert "-".join(canonical[i : i + 4] for i in range(0, 16, 4)) == code
        assert normalize_tracking_code(canonical) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        DISPLAYED,
        CANONICAL,
        DISPLAYED.lower(),
        "7k3M-9qXz-0a1B-2c4D",
        "7K3M 9QXZ 0A1B 2C4D",
        "  7K3M-9QXZ-0A1B-2C4D  ",
        "7K3M--9QXZ - 0A1B  2C4D",
        "7 K 3 M 9 Q X Z 0 A 1 B 2 C 4 D",
        "7K3M–9QXZ–0A1B–2C4D",  # en dashes, as phones auto-correct
        "7K3M—9QXZ—0A1B—2C4D",  # em dashes
        "7K3M\u30009QXZ\u30000A1B\u30002C4D",  # ideographic spaces
        "7K3M\n9QXZ\t0A1B\r\n2C4D",
        to_full_width(DISPLAYED),
        to_full_width(DISPLAYED.lower()),
        to_full_width(CANONICAL[:8]) + "-" + CANONICAL[8:],
    ],
)
def test_typed_variants_of_a_code_normalize_to_the_same_symbols(typed: str) -> None:
    assert normalize_tracking_code(typed) == CANONICAL


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("OOOO-OOOO-OOOO-OOOO", "0" * 16),
        ("oooo-oooo-oooo-oooo", "0" * 16),
        ("IIII-IIII-IIII-IIII", "1" * 16),
        ("iiii-iiii-iiii-iiii", "1" * 16),
        ("LLLL-LLLL-LLLL-LLLL", "1" * 16),
        ("llll-llll-llll-llll", "1" * 16),
        ("7K3M-9QXZ-OAIB-2C4D", "7K3M9QXZ0A1B2C4D"),
        ("7K3M-9QXZ-OALB-2C4D", "7K3M9QXZ0A1B2C4D"),
        (to_full_width("OILO-OILO-OILO-OILO"), "0110" * 4),
    ],
)
def test_letters_misread_as_digits_are_read_as_those_digits(typed: str, expected: str) -> None:
    assert normalize_tracking_code(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        " ",
        "----",
        "-" * 19,
        "7K3M-9QXZ-0A1B-2C4U",  # U is not in the alphabet
        "7K3M-9QXZ-0A1B-2C4u",
        "UUUU-UUUU-UUUU-UUUU",
        CANONICAL[:15],  # one symbol short
        CANONICAL + "7",  # one symbol too many
        DISPLAYED + "-7K3M",
        "7K3M",
        "7K3M-9QXZ-0A1B-2C4😀",
        "😀" * 16,
        "7K3M-9QXZ-0A1B-2C4*",
        "7K3M.9QXZ.0A1B.2C4D",
        "我的查询码是7K3M9QXZ0A1B2C4D",
        "工资拖欠三个月了怎么办啊啊啊啊",
        "\x00" * 16,
    ],
)
def test_text_that_is_not_a_code_raises_invalid_tracking_code(typed: str) -> None:
    with pytest.raises(InvalidTrackingCode) as raised:
        normalize_tracking_code(typed)
    assert isinstance(raised.value, DomainError)
    assert raised.value.code == "invalid_tracking_code"


def test_an_invalid_code_is_not_repeated_in_the_error() -> None:
    typed = "7K3M-9QXZ-0A1B-2C4U"
    with pytest.raises(InvalidTrackingCode) as raised:
        normalize_tracking_code(typed)
    assert typed not in str(raised.value)
    assert typed not in repr(raised.value)
    assert raised.value.params == {}


@pytest.mark.parametrize("filler", ["A", "7", "-", " ", "字", "😀"])
def test_a_megabyte_of_text_is_refused_quickly(filler: str) -> None:
    text = filler * ONE_MEGABYTE
    started = time.perf_counter()
    with pytest.raises(InvalidTrackingCode):
        normalize_tracking_code(text)
    assert not looks_like_tracking_code(text)
    assert time.perf_counter() - started < 2.0


# --- recognizing a bare code ----------------------------------------------------------------


def test_a_generated_code_looks_like_a_tracking_code() -> None:
    for _ in range(200):
        code = generate_tracking_code()
        assert looks_like_tracking_code(code)
        assert looks_like_tracking_code(code.lower())
        assert looks_like_tracking_code(code.replace("-", " "))


@pytest.mark.parametrize(
    "text",
    [
        "你好，我想反映一下我们车间的加班费问题。",
        "我要查询我的信访进度",
        "请问怎么撤回我的信访件",
        "领导好，我们单位已经三个月没有发工资了，希望能尽快处理。",
        "谢谢",
        "hello",
        "/start",
        "",
        "工号12345678的同事被打击报复",
    ],
)
def test_ordinary_messages_do_not_look_like_tracking_codes(text: str) -> None:
    assert not looks_like_tracking_code(text)


def test_long_text_never_looks_like_a_tracking_code_even_if_it_contains_one() -> None:
    text = "我的查询码是 " + DISPLAYED + "，麻烦帮我查一下进度，谢谢您，辛苦了。"
    assert len(text) > 40
    assert not looks_like_tracking_code(text)
    assert not looks_like_tracking_code(" " * 30 + DISPLAYED)


# --- case numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "sequence", "expected"),
    [
        (2026, 123, "XF-2026-000123"),
        (2026, 1, "XF-2026-000001"),
        (2027, 999_999, "XF-2027-999999"),
        (2027, 1_234_567, "XF-2027-1234567"),  # a busy year does not wrap around
    ],
)
def test_case_numbers_have_the_public_format(year: int, sequence: int, expected: str) -> None:
    assert format_case_number(year, sequence) == expected


@pytest.mark.parametrize("sequence", [1, 9, 123, 100_000, 999_999, 1_000_000, 12_345_678])
def test_a_formatted_case_number_parses_back(sequence: int) -> None:
    assert parse_case_number(format_case_number(2026, sequence)) == (2026, sequence)


@pytest.mark.parametrize(
    "typed", ["XF-2026-000123", "xf-2026-000123", "  XF-2026-000123\n", "Xf-2026-000123"]
)
def test_officers_may_type_case_numbers_loosely(typed: str) -> None:
    assert parse_case_number(typed) == (2026, 123)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "XF",
        "XF-2026",
        "XF-2026-",
        "XF-2026-12345",  # too few sequence digits
        "XF-26-000123",
        "XF-20266-000123",
        "XY-2026-000123",
        "XF2026000123",
        "XF-2026-000123-1",
        "XF-2026-000123 extra",
        "case XF-2026-000123",
        "XF-2026-00012A",
        "XF_2026_000123",
        "XF-2026--00123",
        DISPLAYED,
        "案件编号XF-2026-000123",
        "x" * 10_000,
    ],
)
def test_garbage_is_not_a_case_number(typed: str) -> None:
    assert parse_case_number(typed) is None
