"""Find the message ids used in the code, with Babel's extractor.

``python -m i18n.extract`` lists ids that a catalog lacks or that no code uses; the
catalog test runs the same check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir

from i18n import DOMAIN, LOCALE_DIR, LOCALES, Translator

__all__ = ["KEYWORDS", "SOURCE_DIRS", "catalog_problems", "used_message_ids"]

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("handlers", "bot", "petitions", "storage")
# t(...) / tr(...) / turn.t(...) translate; N_(...) marks ids built at run time.
KEYWORDS = {"t": None, "tr": None, "N_": None}
_METHOD_MAP = [("**.py", "python")]


def used_message_ids(root: Path = ROOT) -> set[str]:
    """Return every message id passed to t(), tr() or N_() in the source packages."""
    ids: set[str] = set()
    for name in SOURCE_DIRS:
        directory = root / name
        if not directory.is_dir():
            continue
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(directory), _METHOD_MAP, keywords=KEYWORDS
        ):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


def catalog_problems(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """Return, per locale, ids missing from its catalog and ids no code uses."""
    used = used_message_ids(root)
    translator = Translator.load(LOCALE_DIR)
    problems: dict[str, dict[str, list[str]]] = {}
    for locale in LOCALES:
        have = set(translator.catalogs[locale])
        problems[locale] = {
            "missing": sorted(used - have),
            "unused": sorted(have - used),
        }
    return problems


def main() -> int:
    """Print catalog problems; exit 1 when there are any."""
    bad = False
    for locale, found in catalog_problems().items():
        for kind, ids in found.items():
            for message_id in ids:
                bad = True
                print(f"{locale}/{DOMAIN}.po: {kind}: {message_id}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
