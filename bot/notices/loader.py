"""Notice templates: one text file per kind and locale, read and checked once at start.

A template file has three parts separated by lines of ``---``::

    title: 受理告知书
    number: 编号：{notice_number}
    to: 信访人：{petitioner}
    indent: 2
    ---
    Body paragraphs, separated by blank lines; the lines of a paragraph are joined.
    ## A heading line
    ---
    （印章）
    {unit}
    {date}

The header holds ``key: value`` lines (``title`` and ``number`` are required), the
body the paragraphs, the last part the lines set at the bottom right. Placeholders are
``{name}``; ``{{`` and ``}}`` are literal braces. ``labels.txt`` beside the templates
says how the petitioner is addressed. Every problem (an unknown placeholder, a missing
part, a misspelt file name) is found by :func:`load_templates`, never while a notice is
being rendered for an employee.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from bot.notices.layout import join_lines
from bot.notices.pdf import FONT, missing_glyphs, register_font
from i18n import LOCALES
from petitions.notices import NoticeKind, placeholders

__all__ = [
    "LABEL_KEYS",
    "SHIPPED_DIR",
    "Block",
    "NoticeTemplate",
    "NoticeTemplateError",
    "NoticeTemplates",
    "load_templates",
    "parse_template",
]

SHIPPED_DIR = Path(__file__).parent / "templates"
LABELS_FILE = "labels.txt"
FONT_FILES = ("font.ttf", "font.ttc")
LABEL_KEYS = ("anonymous", "real_name")
_HEADER_KEYS = ("title", "number", "to", "indent")
# A notice that does not say who issued it, when, or under which number is not a notice.
_MUST_USE = ("notice_number", "unit", "date")
_FORMATTER = string.Formatter()


class NoticeTemplateError(Exception):
    """A notice template is unusable; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Block:
    """One body element: a paragraph or a heading, with the template line it starts on."""

    text: str
    heading: bool = False
    line: int = 0


@dataclass(frozen=True)
class NoticeTemplate:
    """A parsed, checked template of one kind in one locale."""

    kind: NoticeKind
    locale: str
    source: Path
    title: str
    number: str
    to: str | None
    indent: int
    body: tuple[Block, ...]
    signature: tuple[str, ...]


@dataclass(frozen=True)
class NoticeTemplates:
    """Every kind's template and the addressing labels, for every locale."""

    templates: Mapping[tuple[NoticeKind, str], NoticeTemplate]
    labels: Mapping[str, Mapping[str, str]]
    font: str = FONT  # the built-in CID font, or a deployment's embedded TrueType font

    def get(self, kind: NoticeKind, locale: str) -> NoticeTemplate:
        """The template of a kind in a locale."""
        return self.templates[(kind, locale)]


def _read(path: Path) -> str:
    try:
        # utf-8-sig: Windows Notepad starts UTF-8 files with a byte order mark.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise NoticeTemplateError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise NoticeTemplateError(f"{path}: cannot be read: {exc.strerror}") from None


def _check_placeholders(
    text: str, allowed: frozenset[str], where: str, kind: NoticeKind | None
) -> set[str]:
    used: set[str] = set()
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise NoticeTemplateError(
            f"{where}: {exc}; write {{{{ and }}}} for literal braces"
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            if kind is None:
                accepted = "none here"
            else:
                accepted = ", ".join("{" + n + "}" for n in sorted(allowed))
            what = kind.value if kind is not None else "this"
            shown = "{" + name + "}" if name else "{}"
            raise NoticeTemplateError(
                f"{where}: unknown placeholder {shown}; a {what} notice may use: {accepted}"
            )
        if spec or conversion:
            raise NoticeTemplateError(
                f"{where}: write the placeholder as {{{name}}}, without ':' or '!' formatting"
            )
        used.add(name)
    return used


def _split_parts(text: str, path: Path) -> list[list[tuple[int, str]]]:
    parts: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "---":
            parts.append([])
        else:
            parts[-1].append((number, line.rstrip()))
    if len(parts) != 3:
        raise NoticeTemplateError(
            f"{path}: expected three parts separated by lines of '---' "
            f"(header, body, signature), found {len(parts)}"
        )
    return parts


def _header(lines: list[tuple[int, str]], path: Path) -> dict[str, tuple[int, str]]:
    header: dict[str, tuple[int, str]] = {}
    for number, line in lines:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in _HEADER_KEYS:
            raise NoticeTemplateError(
                f"{path}:{number}: the header takes 'key: value' lines with the keys "
                f"{', '.join(_HEADER_KEYS)}; got {line.strip()!r}"
            )
        if key in header:
            raise NoticeTemplateError(f"{path}:{number}: '{key}' is given twice")
        header[key] = (number, value.strip())
    for key in ("title", "number"):
        if not header.get(key, (0, ""))[1]:
            raise NoticeTemplateError(f"{path}: the header needs a '{key}:' line")
    return header


def _body(lines: list[tuple[int, str]]) -> list[tuple[int, list[str], bool]]:
    # (first line number, lines, heading?) per block; blank lines end a paragraph.
    blocks: list[tuple[int, list[str], bool]] = []
    current: list[str] = []
    start = 0
    for number, line in lines:
        if line.lstrip().startswith("## "):
            if current:
                blocks.append((start, current, False))
                current = []
            blocks.append((number, [line.lstrip()[3:]], True))
        elif not line.strip():
            if current:
                blocks.append((start, current, False))
                current = []
        else:
            if not current:
                start = number
            current.append(line)
    if current:
        blocks.append((start, current, False))
    return blocks


def parse_template(kind: NoticeKind, locale: str, path: Path) -> NoticeTemplate:
    """Read one template file and check it; raise NoticeTemplateError naming the fault."""
    allowed = placeholders(kind)
    head_lines, body_lines, sign_lines = _split_parts(_read(path), path)
    header = _header(head_lines, path)
    used: set[str] = set()
    for _key, (number, value) in header.items():
        used |= _check_placeholders(value, allowed, f"{path}:{number}", kind)
    indent_line, indent_raw = header.get("indent", (0, "0"))
    if not indent_raw.isdigit() or int(indent_raw) > 8:
        raise NoticeTemplateError(
            f"{path}:{indent_line}: indent is the first-line indent in characters, 0 to 8"
        )
    blocks = []
    for number, lines, heading in _body(body_lines):
        for offset, line in enumerate(lines):
            used |= _check_placeholders(line, allowed, f"{path}:{number + offset}", kind)
        blocks.append(Block(join_lines(lines), heading=heading, line=number))
    if not blocks:
        raise NoticeTemplateError(f"{path}: the body (between the two '---' lines) is empty")
    signature = []
    for number, line in sign_lines:
        if line.strip():
            used |= _check_placeholders(line, allowed, f"{path}:{number}", kind)
            signature.append(line.strip())
    missing = [name for name in _MUST_USE if name not in used]
    if missing:
        raise NoticeTemplateError(
            f"{path}: a notice must show {', '.join('{' + n + '}' for n in missing)}"
        )
    return NoticeTemplate(
        kind=kind,
        locale=locale,
        source=path,
        title=header["title"][1],
        number=header["number"][1],
        to=header["to"][1] if "to" in header else None,
        indent=int(indent_raw),
        body=tuple(blocks),
        signature=tuple(signature),
    )


def _parse_labels(path: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in LABEL_KEYS:
            raise NoticeTemplateError(
                f"{path}:{number}: expected 'key: value' with the keys "
                f"{', '.join(LABEL_KEYS)}; got {line.strip()!r}"
            )
        _check_placeholders(value, frozenset(), f"{path}:{number}", None)
        labels[key] = value.strip()
    return labels


def _check_folder(folder: Path) -> None:
    # A misspelt file would silently fall back to the shipped text: refuse it instead.
    if not folder.is_dir():
        raise NoticeTemplateError(f"{folder}: not a folder of notice templates")
    known = {f"{kind.value}.txt" for kind in NoticeKind} | {LABELS_FILE}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if entry.name not in LOCALES:
                raise NoticeTemplateError(
                    f"{entry}: not a locale folder; expected one of {', '.join(LOCALES)}"
                )
            for file in sorted(entry.iterdir()):
                if file.suffix == ".txt" and file.name not in known:
                    raise NoticeTemplateError(
                        f"{file}: not a notice template; the names are {', '.join(sorted(known))}"
                    )
        elif entry.suffix == ".txt":
            raise NoticeTemplateError(
                f"{entry}: templates go in a locale folder ({', '.join(LOCALES)}/)"
            )
        elif entry.suffix in (".otf", ".ttf", ".ttc") and entry.name not in FONT_FILES:
            raise NoticeTemplateError(
                f"{entry}: name the font file font.ttf or font.ttc (TrueType outlines; "
                "an .otf with PostScript outlines cannot be embedded)"
            )


def _literal_chars(template: NoticeTemplate) -> set[str]:
    texts = [template.title, template.number, template.to or "", *template.signature]
    texts += [block.text for block in template.body]
    chars: set[str] = set()
    for text in texts:
        for literal, _name, _spec, _conversion in _FORMATTER.parse(text):
            chars.update(literal)
    return chars


def _load_font(folder: Path, templates: Mapping[tuple[NoticeKind, str], NoticeTemplate]) -> str:
    path = next((folder / n for n in FONT_FILES if (folder / n).is_file()), None)
    if path is None:
        return FONT
    try:
        font = register_font(path)
    except ValueError as exc:
        raise NoticeTemplateError(str(exc)) from None
    # A font without 汉字 would print boxes: say so now, not on an employee's notice.
    for template in templates.values():
        missing = missing_glyphs(font, _literal_chars(template))
        if missing:
            raise NoticeTemplateError(
                f"{path}: has no glyph for {''.join(missing[:10])!r}, used in "
                f"{template.source}; choose a font that covers Chinese (GB 18030)"
            )
    return font


def load_templates(folder: Path | None = None) -> NoticeTemplates:
    """Load every template, a deployment's folder first and the shipped ones for the rest."""
    if folder is not None:
        _check_folder(folder)
    templates: dict[tuple[NoticeKind, str], NoticeTemplate] = {}
    labels: dict[str, Mapping[str, str]] = {}

    def pick(locale: str, name: str) -> Path:
        if folder is not None and (folder / locale / name).is_file():
            return folder / locale / name
        return SHIPPED_DIR / locale / name

    for locale in LOCALES:
        for kind in NoticeKind:
            templates[(kind, locale)] = parse_template(
                kind, locale, pick(locale, f"{kind.value}.txt")
            )
        merged = _parse_labels(SHIPPED_DIR / locale / LABELS_FILE)
        merged.update(_parse_labels(pick(locale, LABELS_FILE)))
        labels[locale] = MappingProxyType(merged)
    font = _load_font(folder, templates) if folder is not None else FONT
    return NoticeTemplates(MappingProxyType(templates), MappingProxyType(labels), font)
