"""Fill a notice template from the case and render it to PDF."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date

from bot.notices.layout import clean_text
from bot.notices.loader import NoticeTemplates, load_templates
from bot.notices.pdf import FilledNotice, render_pdf
from i18n import DEFAULT_LOCALE, LOCALES, normalize_locale, translator
from petitions.notices import NoticeData, NoticeKind, check_notice_data, notice_number

__all__ = ["NoticeRenderer", "notice_values", "render_notice"]


def _date(day: date, locale: str) -> str:
    # zh_CN: 2026年1月5日 (the form GB/T 9704 prints); en: January 5, 2026.
    return format_date(day, format="long", locale=locale)


def notice_values(
    kind: NoticeKind, data: NoticeData, locale: str, labels: dict[str, str]
) -> dict[str, str]:
    """The text of every placeholder a notice of this kind may use, in a locale."""
    t = translator().t
    values = {
        "notice_number": notice_number(data.case_number, kind, data.issue),
        "case_number": data.case_number.strip().upper(),
        "date": _date(data.issued_on, locale),
        "unit": data.unit.strip(),
        "category": t(f"category.{data.category.value}", locale),
        "petitioner": labels["anonymous" if data.anonymous else "real_name"],
        "received_date": _date(data.received_on, locale),
        "review_request_days": str(data.review_request_days),
        # Without a unit tree the one office decided the review steps too.
        "review_unit": (data.review_unit or "").strip() or data.unit.strip(),
    }
    if data.outcome is not None:
        values["outcome"] = t(f"outcome.{data.outcome.value}", locale)
    if data.redirect is not None:
        values["redirect"] = t(f"redirect.{data.redirect.value}", locale)
    if data.text is not None:
        values["text"] = data.text.strip()
    if data.reason is not None:
        values["reason"] = data.reason.strip()
    if data.extension_days is not None:
        values["extension_days"] = str(data.extension_days)
    if data.due_on is not None:
        values["due_date"] = _date(data.due_on, locale)
    return values


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


class NoticeRenderer:
    """Renders notices from a loaded set of templates (built once, at start)."""

    def __init__(self, templates: NoticeTemplates) -> None:
        self.templates = templates

    @classmethod
    def from_folder(cls, folder: Path | None = None) -> NoticeRenderer:
        """Load and check the templates: a deployment's folder over the shipped ones."""
        return cls(load_templates(folder))

    def render(self, kind: NoticeKind, data: NoticeData, locale: str | None) -> bytes:
        """Return the PDF of a notice; MissingField / InvalidField when data is lacking."""
        check_notice_data(kind, data)
        loc = normalize_locale(locale) or DEFAULT_LOCALE
        if loc not in LOCALES:
            loc = DEFAULT_LOCALE
        template = self.templates.get(kind, loc)
        values = notice_values(kind, data, loc, dict(self.templates.labels[loc]))
        body: list[tuple[str, bool]] = []
        for block in template.body:
            filled = clean_text(block.text.format_map(values))
            if block.heading:
                body.append((_one_line(filled), True))
                continue
            # A multi-paragraph answer fills one placeholder: keep its paragraphs.
            body.extend((part.strip(), False) for part in filled.split("\n") if part.strip())
        notice = FilledNotice(
            title=_one_line(template.title.format_map(values)),
            number=_one_line(template.number.format_map(values)),
            to=_one_line(template.to.format_map(values)) if template.to else None,
            indent=template.indent,
            body=tuple(body),
            signature=tuple(_one_line(line.format_map(values)) for line in template.signature),
            author=values["unit"],
            lang="zh-CN" if loc == "zh_CN" else loc,
            font=self.templates.font,
        )
        return render_pdf(notice)


@lru_cache(maxsize=1)
def _shipped() -> NoticeRenderer:
    return NoticeRenderer.from_folder(None)


def render_notice(
    kind: NoticeKind,
    data: NoticeData,
    locale: str | None,
    *,
    renderer: NoticeRenderer | None = None,
) -> bytes:
    """Return the PDF of a notice, from the shipped templates unless a renderer is given."""
    return (renderer or _shipped()).render(kind, data, locale)
