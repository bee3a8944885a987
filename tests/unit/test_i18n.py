"""The message catalogs: complete, consistent between languages, and used by the code."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from i18n import DOMAIN, LOCALE_DIR, LOCALES, Translator, normalize_locale, translator
from i18n.extract import ROOT, SOURCE_DIRS, catalog_problems, used_message_ids


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message."""
    return {field for _lit, field, _spec, _conv in string.Formatter().parse(text) if field}


@pytest.fixture(scope="module")
def catalogs() -> dict[str, dict[str, str]]:
    return Translator.load().catalogs


def test_every_message_id_used_in_code_is_in_every_catalog_and_every_catalog_id_is_used():
    problems = catalog_problems()
    assert set(problems) == set(LOCALES)
    assert problems == {locale: {"missing": [], "unused": []} for locale in LOCALES}


def test_the_extractor_sees_ids_passed_directly_and_through_n_marks():
    used = used_message_ids()
    assert {"intake.ask_category", "state.registered", "error.invalid_transition"} <= used
    assert len(used) > 150


def test_english_and_chinese_have_the_same_message_ids(catalogs):
    assert set(catalogs["en"]) == set(catalogs["zh_CN"])


def test_no_catalog_entry_is_empty_or_fuzzy():
    for locale in LOCALES:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        for message in catalog:
            if not message.id:
                continue
            assert message.string and str(message.string).strip(), (locale, message.id)
            assert not message.fuzzy, (locale, message.id)


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "zh_CN"])
def test_each_translation_has_the_same_placeholders_as_the_chinese_text(catalogs, locale):
    wrong = {
        key: (sorted(placeholders(text)), sorted(placeholders(catalogs["zh_CN"][key])))
        for key, text in catalogs[locale].items()
        if placeholders(text) != placeholders(catalogs["zh_CN"].get(key, ""))
    }
    assert wrong == {}


def test_every_message_is_a_valid_format_string(catalogs):
    for locale, messages in catalogs.items():
        for key, text in messages.items():
            names = placeholders(text)  # raises on an unbalanced brace
            assert all(n.isidentifier() for n in names), (locale, key, names)
            text.format(**{n: "x" for n in names})


def _literal_calls() -> list[tuple[str, int, str, set[str]]]:
    """(file, line, message id, keyword names) of t()/tr()/x.t() calls with a literal id."""
    calls = []
    for name in SOURCE_DIRS:
        for path in sorted((ROOT / name).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                callee = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if callee not in ("t", "tr") or not isinstance(first, ast.Constant):
                    continue
                if not isinstance(first.value, str):
                    continue
                if any(k.arg is None for k in node.keywords):
                    continue  # **params: not checkable here
                keywords = {k.arg for k in node.keywords if k.arg}
                calls.append(
                    (str(Path(path).relative_to(ROOT)), node.lineno, first.value, keywords)
                )
    return calls


def test_every_call_with_a_literal_id_fills_every_placeholder_of_its_message(catalogs):
    calls = _literal_calls()
    assert len(calls) > 50
    unfilled = [
        f"{file}:{line} {key} lacks {sorted(placeholders(catalogs['zh_CN'][key]) - given)}"
        for file, line, key, given in calls
        if key in catalogs["zh_CN"] and placeholders(catalogs["zh_CN"][key]) - given
    ]
    assert unfilled == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh", "zh_CN"),
        ("zh-hans", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("ZH-TW", "zh_CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("fr", None),
        ("ru-RU", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_locale_maps_channel_language_codes_to_catalogs(code, expected):
    assert normalize_locale(code) == expected


def test_lookups_fill_placeholders_and_fall_back_to_chinese():
    tr = Translator({"zh_CN": {"a": "你好 {name}", "b": "仅中文"}, "en": {"a": "Hello {name}"}})
    assert tr.t("a", "en", name="Li") == "Hello Li"
    assert tr.t("b", "en") == "仅中文"
    assert tr.t("a", "fr", name="Li") == "你好 Li"
    assert tr.t("a", None) == "你好 {name}"
    assert tr.t("a", "en", other="x") == "Hello {name}"  # a missing value stays visible
    assert tr.t("missing.id", "en") == "missing.id"


def test_the_packaged_translator_speaks_both_languages():
    tr = translator()
    assert tr.t("state.registered", "zh_CN") == "已登记"
    assert tr.t("state.registered", "en") == "registered"
