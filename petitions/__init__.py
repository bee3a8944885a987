"""The petition domain: pure Python, no I/O (DESIGN.md §2)."""

from petitions.case import Case
from petitions.categories import Category
from petitions.codes import (
    format_case_number,
    generate_tracking_code,
    looks_like_tracking_code,
    normalize_tracking_code,
)
from petitions.deadlines import DeadlinePolicy, deadline_for, is_overdue
from petitions.errors import (
    CaseNotFound,
    DomainError,
    ExtensionAlreadyUsed,
    InvalidField,
    InvalidTrackingCode,
    InvalidTransition,
    MissingField,
    NotPermitted,
    ReviewWindowClosed,
    XinfangError,
)
from petitions.lifecycle import (
    TRANSITIONS,
    Action,
    Fields,
    TransitionRecord,
    allowed_actions,
    apply,
)
from petitions.roles import Role
from petitions.states import CaseState, Outcome, Redirect

__all__ = [
    "TRANSITIONS",
    "Action",
    "Case",
    "CaseNotFound",
    "CaseState",
    "Category",
    "DeadlinePolicy",
    "DomainError",
    "ExtensionAlreadyUsed",
    "Fields",
    "InvalidField",
    "InvalidTrackingCode",
    "InvalidTransition",
    "MissingField",
    "NotPermitted",
    "Outcome",
    "Redirect",
    "ReviewWindowClosed",
    "Role",
    "TransitionRecord",
    "XinfangError",
    "allowed_actions",
    "apply",
    "deadline_for",
    "format_case_number",
    "generate_tracking_code",
    "is_overdue",
    "looks_like_tracking_code",
    "normalize_tracking_code",
]
