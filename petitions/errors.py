"""The domain's error hierarchy.

Every error carries a stable ``code`` that adapters map to a translated message
(``i18n`` key ``error.<code>``) and optional ``params`` for that message. Messages
never contain identities, chat ids or tracking codes.

    XinfangError
    └── DomainError
        ├── InvalidTransition      the action is not possible from the case's state
        ├── NotPermitted           the actor's role may not perform the action
        ├── MissingField           a required field (reason, outcome, ...) is absent
        ├── InvalidField           a field has a value outside its rules
        ├── ExtensionAlreadyUsed   a case may be extended once
        ├── ReviewWindowClosed     a review was requested after its window
        ├── InvalidTrackingCode    the text is not a well-formed tracking code
        └── CaseNotFound           no case matches (also used for wrong tracking codes)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CaseNotFound",
    "DomainError",
    "ExtensionAlreadyUsed",
    "InvalidField",
    "InvalidTrackingCode",
    "InvalidTransition",
    "MissingField",
    "NotPermitted",
    "ReviewWindowClosed",
    "XinfangError",
]


class XinfangError(Exception):
    """Base of every error raised on purpose by xinfang."""

    code = "internal"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = params
        super().__init__(self.code, *(f"{k}={v}" for k, v in sorted(params.items())))


class DomainError(XinfangError):
    """A rule of the petition domain was broken; safe to show to the user, translated."""

    code = "domain"


class InvalidTransition(DomainError):
    """The action cannot be taken from the case's current state."""

    code = "invalid_transition"


class NotPermitted(DomainError):
    """The actor's role may not take this action."""

    code = "not_permitted"


class MissingField(DomainError):
    """A field required by the action is missing."""

    code = "missing_field"


class InvalidField(DomainError):
    """A field's value breaks its rule (for example an extension over 30 days)."""

    code = "invalid_field"


class ExtensionAlreadyUsed(DomainError):
    """The one extension a case may have was already granted."""

    code = "extension_used"


class ReviewWindowClosed(DomainError):
    """A review was requested after the review window had passed."""

    code = "review_window_closed"


class InvalidTrackingCode(DomainError):
    """The text does not have the shape of a tracking code."""

    code = "invalid_tracking_code"


class CaseNotFound(DomainError):
    """No case matches; for tracking codes the answer does not say whether it exists."""

    code = "case_not_found"
