"""Formal written notices (告知书 / 意见书): their kinds, numbers and the fields each needs.

The rendering (templates, PDF) lives in ``bot/notices``; this module only says what a
notice is made of, so that every channel fills it the same way. A notice is addressed
to the petitioner without naming them: the office does not know who they are, and
:class:`NoticeData` has no field that could carry an identity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType

from petitions.categories import Category
from petitions.codes import parse_case_number
from petitions.deadlines import OFFICE_ZONE
from petitions.errors import InvalidField, MissingField
from petitions.lifecycle import MAX_TEXT, Action
from petitions.states import Outcome, Redirect

__all__ = [
    "COMMON_PLACEHOLDERS",
    "NoticeData",
    "NoticeKind",
    "check_notice_data",
    "issue_date",
    "notice_kind_for",
    "notice_number",
    "parse_notice_number",
    "placeholders",
    "required_fields",
]


class NoticeKind(StrEnum):
    """Which formal notice; the value names its template file."""

    ACCEPTANCE = "acceptance"  # 受理告知书
    NON_ACCEPTANCE = "non_acceptance"  # 不予受理告知书
    EXTENSION = "extension"  # 延期告知书
    ANSWER = "answer"  # 答复意见书
    REVIEW = "review"  # 复查意见书
    RECHECK = "recheck"  # 复核意见书

    @property
    def number_suffix(self) -> str:
        """The short Chinese name that ends the notice's number (``…-受理``)."""
        return _SUFFIX[self]


# The suffix is Chinese in every locale: a document number is an identifier, printed
# the same on the Chinese and the English notice and searchable in the ledger.
_SUFFIX: Mapping[NoticeKind, str] = MappingProxyType(
    {
        NoticeKind.ACCEPTANCE: "受理",
        NoticeKind.NON_ACCEPTANCE: "不予受理",
        NoticeKind.EXTENSION: "延期",
        NoticeKind.ANSWER: "答复",
        NoticeKind.REVIEW: "复查",
        NoticeKind.RECHECK: "复核",
    }
)
_BY_SUFFIX = {suffix: kind for kind, suffix in _SUFFIX.items()}

# Placeholders every template may use, whatever its kind.
COMMON_PLACEHOLDERS = frozenset(
    {
        "notice_number",  # XF-2026-000123-受理
        "case_number",  # XF-2026-000123
        "date",  # the day the notice is issued (Asia/Shanghai)
        "unit",  # the handling unit's name
        "category",  # the petition's category, translated
        "petitioner",  # 信访人：（匿名） or 实名（身份封存）, never a name
        "received_date",  # the day the petition was registered
    }
)

# The decision placeholders of each kind, and the NoticeData fields they come from.
_DECISION: Mapping[NoticeKind, Mapping[str, str]] = MappingProxyType(
    {
        NoticeKind.ACCEPTANCE: {"due_date": "due_on"},
        NoticeKind.NON_ACCEPTANCE: {"reason": "reason", "redirect": "redirect"},
        NoticeKind.EXTENSION: {
            "extension_days": "extension_days",
            "reason": "reason",
            "due_date": "due_on",
        },
        NoticeKind.ANSWER: {
            "outcome": "outcome",
            "text": "text",
            "review_request_days": "review_request_days",
        },
        NoticeKind.REVIEW: {
            "outcome": "outcome",
            "text": "text",
            "review_request_days": "review_request_days",
            "review_unit": "review_unit",
        },
        NoticeKind.RECHECK: {"outcome": "outcome", "text": "text", "review_unit": "review_unit"},
    }
)

_NUMBER = re.compile(r"^(XF-[0-9]{4}-[0-9]{6,})-([\u4e00-\u9fff]+)(?:-([0-9]+))?$")


@dataclass(frozen=True)
class NoticeData:
    """What a notice is filled from: the case, the unit and the decision, never a person.

    ``anonymous`` only chooses between the two ways of addressing the petitioner; a
    real-name identity stays sealed to the custodians and never reaches a notice.
    Decision fields a kind does not use stay ``None``.
    """

    case_number: str
    unit: str
    category: Category
    received_on: date
    issued_on: date
    anonymous: bool = True
    outcome: Outcome | None = None
    text: str | None = None
    reason: str | None = None
    redirect: Redirect | None = None
    extension_days: int | None = None
    due_on: date | None = None  # the answer deadline (after an extension: the new one)
    review_request_days: int = 30  # the window for asking for 复查 / 复核
    # The unit that decided the 复查 / 复核 (the parent / the parent's parent of the
    # handling unit), by its path name; the one that seals a review or recheck notice.
    review_unit: str | None = None
    issue: int = 1  # 2, 3, … when a corrected notice replaces an earlier one


def placeholders(kind: NoticeKind) -> frozenset[str]:
    """The ``{placeholders}`` a template of this kind may use."""
    return COMMON_PLACEHOLDERS | frozenset(_DECISION[kind])


# Decision fields a notice can do without: a deployment without a unit tree has no
# deciding unit apart from its one office (the renderer then names the handling unit).
_OPTIONAL = frozenset({"review_unit"})


def required_fields(kind: NoticeKind) -> tuple[str, ...]:
    """The NoticeData decision fields a notice of this kind cannot be issued without."""
    return tuple(f for f in dict.fromkeys(_DECISION[kind].values()) if f not in _OPTIONAL)


def check_notice_data(kind: NoticeKind, data: NoticeData) -> None:
    """Raise MissingField / InvalidField when the data cannot make a notice of this kind."""
    if parse_case_number(data.case_number) is None:
        raise InvalidField(field="case_number")
    if not data.unit.strip():
        raise MissingField(field="unit")
    for name in required_fields(kind):
        value = getattr(data, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MissingField(field=name)
    for name in ("text", "reason"):
        value = getattr(data, name)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise InvalidField(field=name, max=MAX_TEXT)
    if data.extension_days is not None and data.extension_days < 1:
        raise InvalidField(field="extension_days")
    if data.review_request_days < 1:
        raise InvalidField(field="review_request_days")
    if data.issue < 1:
        raise InvalidField(field="issue")


def notice_number(case_number: str, kind: NoticeKind, issue: int = 1) -> str:
    """The notice's own number: the case number, the kind, and the issue when reissued.

    Each kind is issued at most once per case (a case is accepted, extended, answered,
    reviewed and re-checked once), so the pair is unique without a stored sequence;
    a corrected notice gets ``-2``, ``-3`` ….
    """
    if parse_case_number(case_number) is None:
        raise InvalidField(field="case_number")
    if issue < 1:
        raise InvalidField(field="issue")
    number = f"{case_number.strip().upper()}-{kind.number_suffix}"
    return number if issue == 1 else f"{number}-{issue}"


def parse_notice_number(text: str) -> tuple[str, NoticeKind, int] | None:
    """Split a notice number into case number, kind and issue; None if it is not one."""
    match = _NUMBER.match(text.strip().upper())
    if match is None or match.group(2) not in _BY_SUFFIX:
        return None
    issue = int(match.group(3) or "1")
    if issue < 1 or (match.group(3) is not None and issue == 1):
        return None  # the first issue has no suffix: one spelling per notice
    return match.group(1), _BY_SUFFIX[match.group(2)], issue


def issue_date(now: datetime) -> date:
    """The office's calendar day (Asia/Shanghai) of an instant; naive times are UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(OFFICE_ZONE).date()


def notice_kind_for(action: Action, *, review_level: int = 1) -> NoticeKind | None:
    """The notice a lifecycle action issues (None for actions without one).

    复查意见书 for COMPLETE_REVIEW, 复核意见书 for COMPLETE_RECHECK. ``review_level`` 2
    still reads a COMPLETE_REVIEW as a 复核 decision, as it did before the lifecycle had
    the two levels apart (kept for callers of that time).
    """
    if action is Action.COMPLETE_REVIEW and review_level >= 2:
        return NoticeKind.RECHECK
    return _FOR_ACTION.get(action)


_FOR_ACTION: Mapping[Action, NoticeKind] = MappingProxyType(
    {
        Action.ACCEPT: NoticeKind.ACCEPTANCE,
        Action.NOT_ACCEPT: NoticeKind.NON_ACCEPTANCE,
        Action.EXTEND: NoticeKind.EXTENSION,
        Action.RESPOND: NoticeKind.ANSWER,
        Action.COMPLETE_REVIEW: NoticeKind.REVIEW,
        Action.COMPLETE_RECHECK: NoticeKind.RECHECK,
    }
)
