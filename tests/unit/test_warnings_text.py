"""Petition text normalised for comparison: one form for traditional, full-width and
mixed-English writing, noise that could identify someone left out."""

from __future__ import annotations

from petitions.warnings.text import grams, normalise, tokens


def test_traditional_characters_read_as_simplified() -> None:
    assert grams("加班費一直沒發") == grams("加班费一直没发")


def test_full_width_letters_and_digits_read_as_ascii() -> None:
    assert normalise("３月份ＯＴ费") == normalise("3月份OT费")


def test_english_words_employees_mix_in_become_the_chinese_word() -> None:
    assert "加班费" in normalise("三月的 overtime pay 没发")
    assert normalise("OT费") == "加班费"
    assert "加班" not in normalise("hotel")  # only whole words


def test_phone_numbers_links_and_emails_are_left_out() -> None:
    text = "请打13812345678或写信到 a.b@example.com 看 https://x.cn/1"
    assert tokens(text) == list("请打或写信到看")


def test_an_ascii_word_is_one_token_and_punctuation_is_dropped() -> None:
    assert tokens("HR说：明天！") == list("人事说明天")
    assert tokens("salary, bonus") == list("工资奖金")
    assert tokens("abc def") == ["abc", "def"]


def test_grams_are_two_and_three_token_windows() -> None:
    assert set(grams("加班费")) == {"加\x1f班", "班\x1f费", "加\x1f班\x1f费"}
    assert grams("好") == {"好": 1}
    assert grams("！！") == {}
