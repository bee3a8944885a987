"""Typed payloads of the officers' buttons, like aiogram's ``CallbackData`` (DESIGN.md §8).

Each kind of button is a frozen dataclass; :func:`encode` writes it as ``o:…`` text of at
most 64 bytes (Telegram's callback_data limit, also fine for WeCom keys) and :func:`parse`
reads any such text back, or returns None for anything it does not know. Handlers match on
the dataclasses and never slice strings. Every payload starts with ``o:`` so the router and
the channels know an officer pressed it. ``oo:VALUE`` and ``or:VALUE``, which older
messages in the chats still carry, are read as the picks they were.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CARD_VERBS",
    "CaseButton",
    "Confirm",
    "Edit",
    "Fix",
    "FormCancel",
    "ListPage",
    "MatterButton",
    "PRESETS",
    "Payload",
    "Pick",
    "PickPage",
    "Preset",
    "RECEPTION_VERBS",
    "ReceptionButton",
    "encode",
    "parse",
]

# What a case card's button may do besides the formal acts (petitions.lifecycle.Action).
# link / unlink: 合并为集体诉求 (with its similar ones) / 移出集体诉求 (handlers/collective.py).
# noturgent: 解除紧急 (handlers/urgent.py).
CARD_VERBS = frozenset({"view", "take", "message", "link", "unlink", "noturgent"})
_FORM_FIELDS = frozenset(
    {
        "reason",
        "outcome",
        "extension_days",
        "destination",
        "redirect",
        "text",
        # 督办 / 交办 / 上报 (handlers/supervision.py)
        "days",
        "instruction",
        "report",
    }
)
_MAX_BYTES = 64
# Presets a form offers: values for several fields at once. ``finalized``: a new petition
# on a matter already final (三级终结) is not accepted, in one action.
PRESETS = frozenset({"finalized"})


@dataclass(frozen=True)
class CaseButton:
    """A case card's button: a formal act (an Action value), ``view``, ``take`` or
    ``message`` (the informal message to the employee)."""

    verb: str
    case_id: int


@dataclass(frozen=True)
class Pick:
    """A value chosen by button inside a form (outcome, redirect channel, days)."""

    field: str
    value: str


@dataclass(frozen=True)
class PickPage:
    """The next (or previous) page of a field's choice buttons (the units of a 转办)."""

    field: str
    offset: int


@dataclass(frozen=True)
class Preset:
    """A form's one-button answer filling several fields (see :data:`PRESETS`)."""

    name: str


@dataclass(frozen=True)
class Confirm:
    """确认发送 under a preview: applies exactly that preview (case and revision)."""

    case_id: int
    rev: int


@dataclass(frozen=True)
class Edit:
    """修改 under a preview: choose which field to change."""

    case_id: int
    rev: int


@dataclass(frozen=True)
class Fix:
    """The field to change, chosen after 修改."""

    field: str


@dataclass(frozen=True)
class FormCancel:
    """取消: leave the form; ``case_id`` 0 cancels whatever form is open."""

    case_id: int = 0


@dataclass(frozen=True)
class ListPage:
    """The next page of ``/cases WHICH`` after a keyset cursor."""

    which: str
    cursor: str


@dataclass(frozen=True)
class MatterButton:
    """合并为集体诉求 under a cluster alert: link that alert's petitions (the presser's
    visible ones) as one collective matter (handlers/collective.py)."""

    alert_id: int


@dataclass(frozen=True)
class ReceptionButton:
    """A 领导接访 button (handlers/reception.py): ``verb`` and a slot, booking, case id or
    value (0 when none); see :data:`RECEPTION_VERBS`."""

    verb: str
    ref: int


# list, new (form), quit (form), min/cap/online/publish (the form's steps), held (a
# booking's outcome), reso/cont (已解决/继续办理 of a booking), take (包案 of a case).
RECEPTION_VERBS = frozenset(
    {"list", "new", "quit", "min", "cap", "online", "publish", "held", "reso", "cont", "take"}
)

Payload = (
    CaseButton
    | Pick
    | PickPage
    | Preset
    | Confirm
    | Edit
    | Fix
    | FormCancel
    | ListPage
    | MatterButton
    | ReceptionButton
)


def encode(payload: Payload) -> str:
    """Write a payload as button data (at most 64 bytes)."""
    match payload:
        case CaseButton(verb, case_id):
            text = f"o:{verb}:{case_id}"
        case Pick(field, value):
            text = f"o:pick:{field}:{value}"
        case PickPage(field, offset):
            text = f"o:page:{field}:{offset}"
        case Preset(name):
            text = f"o:preset:{name}"
        case Confirm(case_id, rev):
            text = f"o:ok:{case_id}:{rev}"
        case Edit(case_id, rev):
            text = f"o:edit:{case_id}:{rev}"
        case Fix(field):
            text = f"o:fix:{field}"
        case FormCancel(case_id):
            text = f"o:cancel:{case_id}"
        case ListPage(which, cursor):
            text = f"o:list:{which}:{cursor}"
        case MatterButton(alert_id):
            text = f"o:mx:{alert_id}"
        case ReceptionButton(verb, ref):
            text = f"o:rc:{verb}:{ref}"
    if len(text.encode("utf-8")) > _MAX_BYTES:
        raise ValueError("button payload over 64 bytes")
    return text


def _id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse(text: str) -> Payload | None:
    """Read button data written by :func:`encode` (or an older ``oo:``/``or:`` pick)."""
    if text.startswith("oo:"):
        return Pick("outcome", text[3:]) if text[3:] else None
    if text.startswith("or:"):
        return Pick("redirect", text[3:]) if text[3:] else None
    head, _, rest = text.partition(":")
    if head != "o":
        return None
    verb, _, rest = rest.partition(":")
    if verb == "list":
        which, _, cursor = rest.partition(":")
        return ListPage(which, cursor) if which else None
    if verb == "pick":
        field, _, value = rest.partition(":")
        return Pick(field, value) if field in _FORM_FIELDS and value else None
    if verb == "fix":
        return Fix(rest) if rest in _FORM_FIELDS else None
    if verb == "page":
        field, _, offset = rest.partition(":")
        number = _id(offset)
        return PickPage(field, number) if field in _FORM_FIELDS and number is not None else None
    if verb == "preset":
        return Preset(rest) if rest in PRESETS else None
    if verb == "rc":
        name, _, ref = rest.partition(":")
        number = _id(ref)
        if name not in RECEPTION_VERBS or number is None:
            return None
        return ReceptionButton(name, number)
    if verb == "mx":
        alert_id = _id(rest)
        return MatterButton(alert_id) if alert_id is not None else None
    if verb in ("ok", "edit"):
        ref, _, rev_text = rest.partition(":")
        case_id, rev = _id(ref), _id(rev_text)
        if case_id is None or rev is None:
            return None
        return Confirm(case_id, rev) if verb == "ok" else Edit(case_id, rev)
    case_id = _id(rest)
    if case_id is None:
        return None
    if verb == "cancel":
        return FormCancel(case_id)
    return CaseButton(verb, case_id) if verb else None
