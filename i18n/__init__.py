"""Message catalogs (gettext .po files managed with Babel) and the ``t()`` lookup.

Message ids are stable keys such as ``intake.ask_category``; the catalogs under
``i18n/locales`` hold the texts, Chinese (zh_CN) first. Placeholders use ``{name}``.
Code that builds a key at run time marks every possible key with :func:`N_` so the
extractor and the catalog test see it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "N_", "Translator", "normalize_locale", "translator"]

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
DOMAIN = "xinfang"
LOCALE_DIR = Path(__file__).parent / "locales"


def N_(key: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a message id for extraction without translating it."""
    return key


def normalize_locale(code: str | None) -> str | None:
    """Map a channel's language code (``zh-hans``, ``en-US``, ``zh_CN``) to a catalog locale."""
    if not code:
        return None
    low = code.replace("-", "_").lower()
    if low.startswith("zh"):
        return "zh_CN"
    if low.startswith("en"):
        return "en"
    return None


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Translator:
    """Looks message ids up in the loaded catalogs, falling back to Chinese."""

    def __init__(self, catalogs: dict[str, dict[str, str]], default: str = DEFAULT_LOCALE):
        self.catalogs = catalogs
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALE_DIR) -> Translator:
        """Read every locale's .po file."""
        catalogs: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            catalogs[locale] = {
                str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy
            }
        return cls(catalogs)

    def t(self, key: str, locale: str | None = None, /, **params: Any) -> str:
        """Return the text of a message id in a locale, with ``{placeholders}`` filled."""
        loc = locale if locale in self.catalogs else self.default
        text = self.catalogs[loc].get(key) or self.catalogs[self.default].get(key) or key
        return text.format_map(_SafeDict(params)) if params else text


@lru_cache(maxsize=1)
def translator() -> Translator:
    """Return the process-wide translator over the packaged catalogs."""
    return Translator.load()
