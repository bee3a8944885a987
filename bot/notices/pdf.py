"""A filled notice set on A4 pages as a PDF (ReportLab, no external service).

The font is ReportLab's built-in Adobe CID font STSong-Light (宋体, Adobe-GB1): it needs
no font file, so nothing has to be installed for Chinese to print. It is not embedded:
PDF readers draw it with their own Song typeface (every reader in use in China has one).
Lines are broken by :mod:`bot.notices.layout` and drawn one by one, so that text
extraction (search, copy, pypdf) reads the notice in order.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, KeepTogether, PageTemplate

from bot.notices.layout import break_lines

__all__ = ["FONT", "FilledNotice", "missing_glyphs", "register_font", "render_pdf"]

FONT = "STSong-Light"
BODY_SIZE = 16.0  # 三号, the body size of GB/T 9704 (党政机关公文格式)
BODY_LEADING = 28.0  # 22 lines on a page, as GB/T 9704 asks
TITLE_SIZE = 22.0  # 二号
NUMBER_SIZE = 14.0
PAGE_NUMBER_SIZE = 12.0
# GB/T 9704: a 156 × 225 mm type area, 37 mm from the top and 28 mm from the left.
MARGINS = {"top": 37 * mm, "bottom": 35 * mm, "left": 28 * mm, "right": 26 * mm}


@dataclass(frozen=True)
class FilledNotice:
    """A notice with every placeholder filled, ready to be set."""

    title: str
    number: str
    to: str | None
    indent: int  # first-line indent of body paragraphs, in characters
    body: tuple[tuple[str, bool], ...]  # (text, is a heading)
    signature: tuple[str, ...]
    author: str  # the issuing unit, for the PDF's metadata
    lang: str  # zh-CN or en
    font: str = FONT  # a name from register_font() to embed a deployment's font


@lru_cache(maxsize=1)
def _cid_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def register_font(path: Path) -> str:
    """Register a TrueType font (a .ttf, or the first face of a .ttc) and return its name.

    Unlike the built-in CID font it is embedded (as a subset) in every notice, so the
    notice looks the same in every reader; the deployment must hold a licence for it.
    """
    name = "notice-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            raise ValueError(f"{path}: not a usable TrueType font ({exc})") from None
    return name


def missing_glyphs(font: str, chars: Iterable[str]) -> list[str]:
    """The characters a registered TrueType font cannot draw (none for the CID font)."""
    face = getattr(pdfmetrics.getFont(font), "face", None)
    if face is None:
        return []
    return sorted({c for c in chars if not c.isspace() and ord(c) not in face.charToGlyph})


class _Lines(Flowable):
    """Paragraphs broken into lines by our kinsoku rules, splittable across pages."""

    def __init__(
        self,
        texts: list[str],
        *,
        size: float = BODY_SIZE,
        leading: float = BODY_LEADING,
        align: str = "justify",
        first_indent: float = 0.0,
        right_indent: float = 0.0,
        bold: bool = False,
        keep: bool = False,
        space_before: float = 0.0,
        space_after: float = 0.0,
        lines: list[tuple[str, bool, bool]] | None = None,
        font: str = FONT,
    ) -> None:
        super().__init__()
        self.font = font
        self.texts = texts
        self.size = size
        self.leading = leading
        self.align = align
        self.first_indent = first_indent
        self.right_indent = right_indent
        self.bold = bold
        self.keep = keep
        self.spaceBefore = space_before
        self.spaceAfter = space_after
        # (text, starts a paragraph, ends a paragraph) once broken
        self.lines = lines

    def _measure(self, text: str) -> float:
        return float(pdfmetrics.stringWidth(text, self.font, self.size))

    def _copy(self, lines: list[tuple[str, bool, bool]], **changes: Any) -> _Lines:
        params: dict[str, Any] = {
            "size": self.size,
            "leading": self.leading,
            "align": self.align,
            "first_indent": self.first_indent,
            "right_indent": self.right_indent,
            "bold": self.bold,
            "keep": self.keep,
            "space_before": self.spaceBefore,
            "space_after": self.spaceAfter,
            "font": self.font,
        }
        params.update(changes)
        return _Lines(self.texts, lines=lines, **params)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        if self.lines is None:
            self.lines = []
            for text in self.texts:
                broken = break_lines(
                    text,
                    avail_width - self.right_indent,
                    self._measure,
                    first_indent=self.first_indent,
                ) or [""]
                last = len(broken) - 1
                self.lines.extend((line, i == 0, i == last) for i, line in enumerate(broken))
        self.height = len(self.lines) * self.leading
        return avail_width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        self.wrap(avail_width, avail_height)
        assert self.lines is not None  # noqa: S101 - wrap() has just set them
        fits = int((avail_height + 1e-6) // self.leading)
        total = len(self.lines)
        if self.keep or fits < 1 or fits >= total:
            return []
        if fits > 1 and total - fits == 1:
            fits -= 1  # no single last line alone at the top of a page (a widow)
        if fits == 1 and total > 1 and self.lines[0][1]:
            return []  # nor a paragraph's first line alone at the bottom (an orphan)
        return [
            self._copy(self.lines[:fits], space_after=0.0),
            self._copy(self.lines[fits:], space_before=0.0),
        ]

    def draw(self) -> None:
        canvas: Canvas = self.canv
        assert self.lines is not None  # noqa: S101 - drawn only after wrap()
        for row, (line, starts, ends) in enumerate(self.lines):
            baseline = self.height - (row + 1) * self.leading + (self.leading - self.size) / 2
            baseline += self.size * 0.12  # the descent of the Song face
            width = self._measure(line)
            indent = self.first_indent if starts else 0.0
            usable = self.width - self.right_indent - indent
            if self.align == "center":
                x = (self.width - width) / 2
            elif self.align == "right":
                x = self.width - self.right_indent - width
            else:
                x = indent
            text = canvas.beginText(x, baseline)
            text.setFont(self.font, self.size)
            if self.bold:
                # The CID font has no bold face: fill and stroke the glyphs instead.
                text.setTextRenderMode(2)
                canvas.setLineWidth(self.size * 0.035)
            # Justify (两端对齐) full lines of Chinese; a line with spaces is Latin text,
            # which reads better ragged than with letters pulled apart.
            if self.align == "justify" and not ends and " " not in line and len(line) > 1:
                spacing = (usable - width) / (len(line) - 1)
                if 0 < spacing < self.size * 0.25:  # wider gaps read worse than ragged
                    text.setCharSpace(spacing)
            text.textOut(line)
            canvas.drawText(text)


class _NoticeDoc(BaseDocTemplate):
    """A notice's document: it carries the font its page numbers are drawn in."""

    notice_font: str


def _page_number(canvas: Canvas, doc: _NoticeDoc) -> None:
    # GB/T 9704: the page number between two dashes, centred under the text. Drawn when
    # the page ends, so that text extraction reads it after the page's text.
    canvas.saveState()
    canvas.setFont(doc.notice_font, PAGE_NUMBER_SIZE)
    canvas.drawCentredString(A4[0] / 2, 14 * mm, f"— {doc.page} —")
    canvas.restoreState()


def render_pdf(notice: FilledNotice) -> bytes:
    """Set a filled notice on A4 pages and return the PDF's bytes."""
    _cid_font()  # registered on first use; a TrueType font was registered at load time
    font = notice.font
    indent = notice.indent * BODY_SIZE
    story: list[Flowable] = [
        _Lines(
            [notice.title],
            font=font,
            size=TITLE_SIZE,
            leading=TITLE_SIZE * 1.5,
            align="center",
            bold=True,
            space_after=6,
        ),
        _Lines(
            [notice.number],
            font=font,
            size=NUMBER_SIZE,
            leading=NUMBER_SIZE * 1.6,
            align="right",
            space_after=BODY_LEADING * 0.75,
        ),
    ]
    if notice.to:
        story.append(_Lines([notice.to], font=font, align="left"))
    for text, heading in notice.body:
        if heading:
            story.append(
                _Lines([text], font=font, align="left", bold=True, space_before=BODY_LEADING / 4)
            )
        else:
            # Without a first-line indent (English) a gap tells the paragraphs apart.
            gap = 0.0 if indent else BODY_LEADING * 0.4
            story.append(_Lines([text], font=font, first_indent=indent, space_after=gap))
    if notice.signature:
        # Room above the signature for the seal; the signature never stands alone on a
        # page: the last paragraph (特此告知。) goes over with it.
        signature = _Lines(
            list(notice.signature),
            font=font,
            align="right",
            right_indent=2 * BODY_SIZE,
            keep=True,
            space_before=BODY_LEADING * 1.5,
        )
        story[-1:] = [KeepTogether([story[-1], signature])]
    buffer = io.BytesIO()
    doc = _NoticeDoc(
        buffer,
        pagesize=A4,
        topMargin=MARGINS["top"],
        bottomMargin=MARGINS["bottom"],
        leftMargin=MARGINS["left"],
        rightMargin=MARGINS["right"],
        title=f"{notice.title} {notice.number}",
        author=notice.author,
        creator="xinfang",
        lang=notice.lang,
        # The same notice gives the same bytes (no clock, no random id in the file), so
        # a stored hash of an issued notice can be checked by rendering it again.
        invariant=True,
    )
    doc.notice_font = font
    frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        id="text",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="notice", frames=[frame], onPageEnd=_page_number)])
    doc.build(story)
    return buffer.getvalue()
