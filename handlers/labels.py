"""Message ids for the names of domain values, marked for extraction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TypeVar

from i18n import N_
from petitions.categories import Category
from petitions.roles import Role
from petitions.states import CaseState, Outcome, Redirect

__all__ = [
    "CASE_LIST_ALIASES",
    "CASE_LIST_WORD",
    "CATEGORY",
    "CHANNEL",
    "ERRORS",
    "FIELDS",
    "OUTCOME",
    "OUTCOME_ALIASES",
    "OUTCOME_WORD",
    "REDIRECT_ALIASES",
    "REDIRECT_WORD",
    "RATING",
    "REDIRECT",
    "ROLE",
    "SCRUB_REMOVED",
    "SELFID_KIND",
    "STATE",
    "match_word",
    "normalize_word",
]

STATE: dict[CaseState, str] = {
    CaseState.REGISTERED: N_("state.registered"),
    CaseState.ACCEPTED: N_("state.accepted"),
    CaseState.NOT_ACCEPTED: N_("state.not_accepted"),
    CaseState.TRANSFERRED: N_("state.transferred"),
    CaseState.IN_PROGRESS: N_("state.in_progress"),
    CaseState.EXTENDED: N_("state.extended"),
    CaseState.RESPONDED: N_("state.responded"),
    CaseState.REVIEW_REQUESTED: N_("state.review_requested"),
    CaseState.REVIEWING: N_("state.reviewing"),
    CaseState.REVIEWED: N_("state.reviewed"),
    CaseState.RECHECK_REQUESTED: N_("state.recheck_requested"),
    CaseState.RECHECKING: N_("state.rechecking"),
    CaseState.FINALIZED: N_("state.finalized"),
    CaseState.CLOSED: N_("state.closed"),
    CaseState.WITHDRAWN: N_("state.withdrawn"),
}

CATEGORY: dict[Category, str] = {
    Category.PAY: N_("category.pay"),
    Category.LABOR: N_("category.labor"),
    Category.INSURANCE: N_("category.insurance"),
    Category.SAFETY: N_("category.safety"),
    Category.RESTRUCTURING: N_("category.restructuring"),
    Category.CONDUCT: N_("category.conduct"),
    Category.DISCIPLINE: N_("category.discipline"),
    Category.SUGGESTION: N_("category.suggestion"),
    Category.OTHER: N_("category.other"),
}

OUTCOME: dict[Outcome, str] = {
    Outcome.SUPPORTED: N_("outcome.supported"),
    Outcome.EXPLAINED: N_("outcome.explained"),
    Outcome.NOT_SUPPORTED: N_("outcome.not_supported"),
}

REDIRECT: dict[Redirect, str] = {
    Redirect.ARBITRATION: N_("redirect.arbitration"),
    Redirect.COURT: N_("redirect.court"),
    Redirect.DISCIPLINE: N_("redirect.discipline"),
    Redirect.ADMINISTRATIVE: N_("redirect.administrative"),
    Redirect.OTHER: N_("redirect.other"),
}

ROLE: dict[Role, str] = {
    Role.EMPLOYEE: N_("role.employee"),
    Role.OFFICER: N_("role.officer"),
    Role.LEADER: N_("role.leader"),
    Role.CUSTODIAN: N_("role.custodian"),
    Role.DISCIPLINE: N_("role.discipline"),
    Role.SYSTEM: N_("role.system"),
}

ERRORS: dict[str, str] = {
    "nothing_to_link": N_("error.nothing_to_link"),
    "not_in_matter": N_("error.not_in_matter"),
    "matter_split": N_("error.matter_split"),
    "matter_member": N_("error.matter_member"),
    "invalid_transition": N_("error.invalid_transition"),
    "not_permitted": N_("error.not_permitted"),
    "missing_field": N_("error.missing_field"),
    "invalid_field": N_("error.invalid_field"),
    "extension_used": N_("error.extension_used"),
    "review_window_closed": N_("error.review_window_closed"),
    "recheck_window_closed": N_("error.recheck_window_closed"),
    "unknown_unit": N_("error.unknown_unit"),
    "no_report_owed": N_("error.no_report_owed"),
    "invalid_tracking_code": N_("error.invalid_tracking_code"),
    "case_not_found": N_("error.case_not_found"),
    "domain": N_("error.domain"),
}

FIELDS: dict[str, str] = {
    "reason": N_("field.reason"),
    "outcome": N_("field.outcome"),
    "extension_days": N_("field.extension_days"),
    "destination": N_("field.destination"),
    "redirect": N_("field.redirect"),
    "text": N_("field.text"),
    "days": N_("field.days"),
    "instruction": N_("field.instruction"),
    "report": N_("field.report"),
}

# The channels a petition came in by (``Case.channel``); an unknown one is shown as is.
CHANNEL: dict[str, str] = {
    "telegram": N_("ledger.channel.telegram"),
    "wecom": N_("ledger.channel.wecom"),
    "web": N_("ledger.channel.web"),
    "console": N_("ledger.channel.console"),  # the local console (xinfang console)
}

RATING: dict[str, str] = {
    "satisfied": N_("rating.satisfied"),
    "basic": N_("rating.basic"),
    "unsatisfied": N_("rating.unsatisfied"),
}

# What evidence cleaning removed (storage.scrub codes); unknown codes read "other metadata".
SCRUB_REMOVED: dict[str, str] = {
    "location": N_("scrub.location"),
    "device": N_("scrub.device"),
    "author": N_("scrub.author"),
    "comments": N_("scrub.comments"),
    "tracked_changes": N_("scrub.tracked_changes"),
    "thumbnail": N_("scrub.thumbnail"),
    "document_properties": N_("scrub.document_properties"),
    "file_name": N_("scrub.file_name"),
    "xmp": N_("scrub.xmp"),
    "text_chunks": N_("scrub.text_chunks"),
    "exif": N_("scrub.exif"),
    "dates": N_("scrub.dates"),
    "comment_authors": N_("scrub.comments"),
    "revision_ids": N_("scrub.revision_ids"),
    "iptc": N_("scrub.iptc"),
    "embedded_media_metadata": N_("scrub.embedded_media"),
}

# Kinds of self-identifying details (petitions.selfid.Kind values).
SELFID_KIND: dict[str, str] = {
    "mobile": N_("selfid.mobile"),
    "landline": N_("selfid.landline"),
    "id_card": N_("selfid.id_card"),
    "email": N_("selfid.email"),
    "bank_card": N_("selfid.bank_card"),
    "staff_no": N_("selfid.staff_no"),
    "name": N_("selfid.name"),
}


# -- words officers type for values (``/respond REF 支持 …``, ``/cases 我的``) -------------
# The *_WORD message ids are the one word per value shown in lists of accepted values, in the
# officer's language; every locale's word, the value's label, the English value itself and
# the aliases below are all accepted, whatever the officer's language.

OUTCOME_WORD: dict[Outcome, str] = {
    Outcome.SUPPORTED: N_("word.outcome.supported"),
    Outcome.EXPLAINED: N_("word.outcome.explained"),
    Outcome.NOT_SUPPORTED: N_("word.outcome.not_supported"),
}

REDIRECT_WORD: dict[Redirect, str] = {
    Redirect.ARBITRATION: N_("word.redirect.arbitration"),
    Redirect.COURT: N_("word.redirect.court"),
    Redirect.DISCIPLINE: N_("word.redirect.discipline"),
    Redirect.ADMINISTRATIVE: N_("word.redirect.administrative"),
    Redirect.OTHER: N_("word.redirect.other"),
}

CASE_LIST_WORD: dict[str, str] = {
    "open": N_("word.cases.open"),
    "mine": N_("word.cases.mine"),
    "unassigned": N_("word.cases.unassigned"),
    "overdue": N_("word.cases.overdue"),
    "all": N_("word.cases.all"),
}

# Input vocabulary, not UI text: other words people in a petition office use for a value.
OUTCOME_ALIASES: dict[Outcome, tuple[str, ...]] = {
    Outcome.SUPPORTED: ("support", "予以支持"),
    Outcome.EXPLAINED: ("explain", "解释", "说明"),
    Outcome.NOT_SUPPORTED: ("not supported", "不支持"),
}

REDIRECT_ALIASES: dict[Redirect, tuple[str, ...]] = {
    Redirect.ARBITRATION: ("劳动仲裁", "劳动争议仲裁", "劳动人事争议仲裁"),
    Redirect.COURT: ("人民法院", "诉讼", "起诉"),
    Redirect.DISCIPLINE: ("纪检监察", "纪委", "监委"),
    Redirect.ADMINISTRATIVE: ("行政", "主管部门", "行政复议"),
    Redirect.OTHER: ("其它",),
}

CASE_LIST_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("未办结", "未结", "在办"),
    "mine": ("我负责的",),
    "unassigned": ("无人负责",),
    "overdue": ("逾期", "超时"),
    "all": ("所有",),
}

_V = TypeVar("_V")
# Spaces, underscores, hyphens and slashes (half and full width) do not tell words apart.
_SEPARATORS = re.compile(r"[\s_\-/／－—　]+")


def normalize_word(text: str) -> str:
    """A typed word in the form it is compared in: case-folded, without separators."""
    return _SEPARATORS.sub("", text.strip()).casefold()


def match_word(raw: str, options: Mapping[_V, Iterable[str]]) -> _V | None:
    """The value one of whose words is ``raw`` (see :func:`normalize_word`), or None."""
    wanted = normalize_word(raw)
    if not wanted:
        return None
    for value, words in options.items():
        if any(normalize_word(w) == wanted for w in words):
            return value
    return None
