"""Formal written notices (告知书 / 意见书) rendered to PDF from replaceable templates.

The kinds, numbers and required fields are domain rules in :mod:`petitions.notices`;
this package reads the templates (``templates/<locale>/<kind>.txt``, replaceable by a
deployment with ``XINFANG_NOTICE_TEMPLATES``) and sets the PDF. See docs/notices.md.
"""

from __future__ import annotations

from bot.notices.loader import (
    SHIPPED_DIR,
    NoticeTemplate,
    NoticeTemplateError,
    NoticeTemplates,
    load_templates,
)
from bot.notices.render import NoticeRenderer, notice_values, render_notice
from petitions.notices import NoticeData, NoticeKind, notice_number

__all__ = [
    "SHIPPED_DIR",
    "NoticeData",
    "NoticeKind",
    "NoticeRenderer",
    "NoticeTemplate",
    "NoticeTemplateError",
    "NoticeTemplates",
    "load_templates",
    "notice_number",
    "notice_values",
    "render_notice",
]
