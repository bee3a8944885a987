"""The guided intake of a new petition, declared as a table of steps:

category → [unit the matter concerns → conflict of interest, when the group has units] →
description → evidence → anonymity (→ identity fields) → updates (pushed to
this chat, or by tracking code only) → [self-identifying details, anonymous only] →
review → submit.

Each step has a question (``ask``) and an answer handler (``handle``); the conversation
table keeps the step and the encrypted draft, so a restart resumes where the employee
stopped. Evidence is cleaned of identifying metadata before it is stored (or the employee
chooses, when it cannot be cleaned); anonymous texts are checked for details that give the
employee away, and the employee decides what to do with them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers import unit_picker
from handlers.inbound import Button, FileIn, Reply
from handlers.labels import CATEGORY, SCRUB_REMOVED, SELFID_KIND
from handlers.notify import notify_admins
from handlers.ports import Contact
from handlers.services import CleanedFile
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.urgent import hotline_text, mark_urgent, urgent_submitted
from handlers.warnings import link_similar
from i18n import N_
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_tracking_code, normalize_tracking_code
from petitions.deadlines import deadline_for
from petitions.lifecycle import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP
from petitions.roles import Role
from petitions.selfid import Finding, compile_staff_pattern, find_identifying, mask
from petitions.units import Unit, UnitTree
from petitions.warnings.urgent import SELF_HARM

__all__ = [
    "IDENTITY_FIELDS",
    "ask_current",
    "check_file",
    "evidence_reply",
    "handle_intake",
    "is_voice",
    "voice_note_due",
    "pending_file_reply",
    "removed_text",
    "selfid_findings",
    "selfid_lines",
    "start_intake",
]

# (field, message id of the question, required, max length)
IDENTITY_FIELDS: tuple[tuple[str, str, bool, int], ...] = (
    ("name", N_("intake.ask_name"), True, 50),
    ("staff_no", N_("intake.ask_staff_no"), False, 30),
    ("unit", N_("intake.ask_unit"), False, 100),
    ("phone", N_("intake.ask_phone"), False, 20),
)
_FIELD_LABEL = {
    "name": N_("identity.name"),
    "staff_no": N_("identity.staff_no"),
    "unit": N_("identity.unit"),
    "phone": N_("identity.phone"),
}
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
_OTHER_METADATA = N_("scrub.other")
_EDITABLE = ("category", "unit", "description", "evidence", "anonymity", "updates")

Replies = list[Reply]


@dataclass(frozen=True)
class Step:
    """One step of the intake: its question and what it does with an answer."""

    ask: Callable[[Turn], Awaitable[Replies]]
    handle: Callable[[Turn], Awaitable[Replies]]


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.t("button.cancel"), "rv:cancel"),)


async def start_intake(turn: Turn) -> Replies:
    """Begin a new petition, or resume the one in progress."""
    if turn.step.startswith("intake."):
        await turn.goto(turn.step)  # coming back is activity: the idle time starts again
        return [Reply(turn.t("intake.resuming")), *await ask_current(turn)]
    await turn.uow.attachments.delete_drafts(turn.inbound.channel, turn.inbound.sender_id)
    await turn.goto("intake.category", {})
    return await ask_current(turn)


async def ask_current(turn: Turn) -> Replies:
    """Ask the question of the conversation's current step again."""
    step = _STEPS.get(turn.step)
    if step is None and turn.step.startswith("intake.identity."):
        step = _IDENTITY_STEP
    if step is None:
        await turn.end()
        return [Reply(turn.t("error.stale"))]
    return await step.ask(turn)


async def handle_intake(turn: Turn) -> Replies:
    """Handle one input during an intake."""
    inbound = turn.inbound
    if inbound.button == "rv:cancel":
        await turn.uow.attachments.delete_drafts(inbound.channel, inbound.sender_id)
        await turn.end()
        return [Reply(turn.t("intake.cancelled"))]
    if inbound.button and inbound.button.startswith("pf:"):
        return await _pending_file_choice(turn, inbound.button)
    step = _STEPS.get(turn.step)
    if step is None and turn.step.startswith("intake.identity."):
        step = _IDENTITY_STEP
    if step is None:
        return await ask_current(turn)
    return await step.handle(turn)


async def _use_buttons(turn: Turn) -> Replies:
    return [Reply(turn.t("intake.use_buttons")), *await ask_current(turn)]


async def _next(turn: Turn, step: str) -> Replies:
    # While editing, each edited part returns to the review instead of going on.
    if turn.draft.get("editing") and step in _RETURNS_TO_REVIEW:
        step = "intake.review"
    if step == "intake.review":
        turn.draft.pop("editing", None)
        step = _before_review(turn)
    await turn.goto(step)
    return await ask_current(turn)


_RETURNS_TO_REVIEW = frozenset(
    {"intake.unit", "intake.description", "intake.evidence", "intake.anonymity", "intake.updates"}
)


# -- category ---------------------------------------------------------------------------


async def _ask_category(turn: Turn) -> Replies:
    t = turn.t
    cats = [Button(t(CATEGORY[c]), f"cat:{c.value}") for c in Category]
    rows = tuple(tuple(cats[i : i + 2]) for i in range(0, len(cats), 2))
    return [Reply(t("intake.ask_category"), (*rows, _cancel_row(turn)))]


async def _on_category(turn: Turn) -> Replies:
    button = turn.inbound.button
    if not (button and button.startswith("cat:")):
        return await _use_buttons(turn)
    try:
        category = Category(button.removeprefix("cat:"))
    except ValueError:
        return await ask_current(turn)
    turn.draft["category"] = category.value
    replies = []
    if category.routes_to_discipline:
        replies.append(Reply(turn.t("intake.discipline_note")))
    replies.extend(await _next(turn, await _after_category(turn)))
    return replies


async def _after_category(turn: Turn) -> str:
    # Only a group with units below its root asks which one the matter concerns.
    tree = await turn.uow.units.tree()
    return "intake.unit" if unit_picker.start_level(tree) else "intake.description"


# -- the unit the matter concerns -------------------------------------------------------
#
# Nothing here is logged: which unit an employee chose narrows down who they are.


async def _ask_unit(turn: Turn) -> Replies:
    t, d = turn.t, turn.draft
    tree = await turn.uow.units.tree()
    start = unit_picker.start_level(tree)
    if start is None:  # the units went out of service since the category was chosen
        d.pop("unit", None)
        d.pop("conflict", None)
        return await _next(turn, "intake.description")
    at = unit_picker.choosable(tree, d.get("unit_level"))
    if at is None or not tree.children(at.id):
        at = start
    lv = unit_picker.level(tree, at, int(d.get("unit_page") or 0))
    rows: list[tuple[Button, ...]] = []
    for unit in lv.units:
        label = t("intake.unit_more", name=unit.name) if unit.id in lv.branches else unit.name
        rows.append((Button(label, unit_picker.encode(unit_picker.OpenUnit(unit.id))),))
    this = unit_picker.encode(unit_picker.ChooseUnit(lv.unit.id))
    rows.append((Button(t("button.unit_this"), this),))
    paging: list[Button] = []
    if lv.page > 0:
        back = unit_picker.UnitPage(lv.unit.id, lv.page - 1)
        paging.append(Button(t("button.unit_prev"), unit_picker.encode(back)))
    if lv.page + 1 < lv.pages:
        forward = unit_picker.UnitPage(lv.unit.id, lv.page + 1)
        paging.append(Button(t("button.unit_next"), unit_picker.encode(forward)))
    if paging:
        rows.append(tuple(paging))
    if lv.up is not None:
        up = unit_picker.encode(unit_picker.OpenUnit(lv.up.id))
        rows.append((Button(t("button.unit_up"), up),))
    rows.append(_cancel_row(turn))
    where = tree.path_name(lv.unit.id)
    if lv.pages > 1:
        where = t("intake.unit_page", unit=where, page=lv.page + 1, pages=lv.pages)
    return [Reply(t("intake.unit_ask", unit=where), tuple(rows))]


async def _on_unit(turn: Turn) -> Replies:
    inbound, d = turn.inbound, turn.draft
    tree = await turn.uow.units.tree()
    if inbound.button is not None:
        payload = unit_picker.parse(inbound.button)
        if payload is None:
            return await ask_current(turn)
        unit = unit_picker.choosable(tree, payload.unit_id)
        if unit is None:  # retired, or never there: a stale button
            return [Reply(turn.t("error.stale")), *await ask_current(turn)]
        match payload:
            case unit_picker.ChooseUnit():
                return await _choose_unit(turn, unit)
            case unit_picker.OpenUnit() if not tree.children(unit.id):
                return await _choose_unit(turn, unit)
            case unit_picker.OpenUnit():
                d["unit_level"], d["unit_page"] = unit.id, 0
            case unit_picker.UnitPage(page=page):
                d["unit_level"], d["unit_page"] = unit.id, page
        await turn.goto(turn.step)
        return await ask_current(turn)
    if inbound.text is not None and inbound.file is None:  # a caption is no search
        return await _search_unit(turn, tree, inbound.text)
    return [Reply(turn.t("intake.unit_use")), *await ask_current(turn)]


async def _search_unit(turn: Turn, tree: UnitTree, text: str) -> Replies:
    t = turn.t
    found = unit_picker.search(tree, text, unit_picker.PAGE_SIZE + 1)
    if not found:
        return [Reply(t("intake.unit_none")), *await ask_current(turn)]
    if len(found) == 1:
        return await _choose_unit(turn, found[0])
    shown = found[: unit_picker.PAGE_SIZE]
    rows: list[tuple[Button, ...]] = [
        (Button(tree.path_name(u.id), unit_picker.encode(unit_picker.ChooseUnit(u.id))),)
        for u in shown
    ]
    start = unit_picker.start_level(tree)
    if start is not None:
        browse = unit_picker.encode(unit_picker.OpenUnit(start.id))
        rows.append((Button(t("button.unit_browse"), browse),))
    rows.append(_cancel_row(turn))
    if len(found) > len(shown):
        text = t("intake.unit_found_more", count=len(shown))
    else:
        text = t("intake.unit_found", count=len(shown))
    return [Reply(text, tuple(rows))]


async def _choose_unit(turn: Turn, unit: Unit) -> Replies:
    turn.draft["unit"] = unit.id
    turn.draft.pop("conflict", None)  # a question about this unit's leaders: asked again
    await turn.goto("intake.conflict")
    return await ask_current(turn)


async def _chosen(turn: Turn) -> tuple[UnitTree, Unit | None]:
    tree = await turn.uow.units.tree()
    return tree, unit_picker.choosable(tree, turn.draft.get("unit"))


async def _ask_conflict(turn: Turn) -> Replies:
    t = turn.t
    tree, unit = await _chosen(turn)
    if unit is None:
        await turn.goto("intake.unit")
        return await ask_current(turn)
    name = tree.path_name(unit.id)
    rows: list[tuple[Button, ...]] = [(Button(t("button.conflict_no"), "cf:no"),)]
    if unit.parent_id is not None:
        # The root has no unit above it: its leaders' matters can only go to 纪检.
        rows.append((Button(t("button.conflict_leadership"), "cf:leadership"),))
    rows.append((Button(t("button.conflict_discipline"), "cf:discipline"),))
    rows.append(_cancel_row(turn))
    return [Reply(t("intake.conflict_ask", unit=name), tuple(rows))]


async def _on_conflict(turn: Turn) -> Replies:
    t, d, button = turn.t, turn.draft, turn.inbound.button
    tree, unit = await _chosen(turn)
    if unit is None:
        return await ask_current(turn)
    replies: Replies = []
    if button == "cf:no":
        d["conflict"] = None
    elif button == "cf:leadership" and unit.parent_id is not None:
        d["conflict"] = CONFLICT_LEADERSHIP
        above = tree.path_name(unit_picker.handling_unit(tree, unit.id, CONFLICT_LEADERSHIP))
        replies.append(Reply(t("intake.conflict_leadership_note", unit=above)))
    elif button == "cf:discipline":
        d["conflict"] = CONFLICT_DISCIPLINE
        above = tree.path_name(unit_picker.handling_unit(tree, unit.id, CONFLICT_DISCIPLINE))
        replies.append(Reply(t("intake.conflict_discipline_note", unit=above)))
    else:
        return await _use_buttons(turn)
    # While the unit is being edited, this returns to the review (_RETURNS_TO_REVIEW).
    return replies + await _next(turn, "intake.description")


# -- description ------------------------------------------------------------------------


async def _ask_description(turn: Turn) -> Replies:
    return [Reply(turn.t("intake.ask_description", min=turn.services.config.min_description))]


async def _on_description(turn: Turn) -> Replies:
    cfg, t, text = turn.services.config, turn.t, turn.inbound.text
    if text is None:
        return [Reply(t("intake.need_text")), *await ask_current(turn)]
    body = clean_text(text)
    if len(body) < cfg.min_description:
        return [Reply(t("intake.too_short", min=cfg.min_description))]
    if len(body) > cfg.max_description:
        return [Reply(t("intake.too_long", length=len(body), max=cfg.max_description))]
    turn.draft["description"] = body
    return await _next(turn, "intake.evidence")


# -- evidence ---------------------------------------------------------------------------


async def _ask_evidence(turn: Turn) -> Replies:
    t = turn.t
    count = await turn.uow.attachments.count_drafts(turn.inbound.channel, turn.inbound.sender_id)
    return [
        Reply(
            t("intake.ask_evidence", count=count, max=turn.services.config.max_files),
            ((Button(t("button.evidence_done"), "ev:done"),), _cancel_row(turn)),
        )
    ]


async def _on_evidence(turn: Turn) -> Replies:
    inbound, cfg, t = turn.inbound, turn.services.config, turn.t
    replies: Replies = []
    if inbound.text is not None:
        # Text here (or a file's caption) adds to the description, so long accounts can
        # come in parts.
        body = clean_text(inbound.text)
        before = turn.draft["description"]
        combined = f"{before}\n{body}" if body else before
        if len(combined) > cfg.max_description:
            return [Reply(t("intake.too_long", length=len(combined), max=cfg.max_description))]
        turn.draft["description"] = combined
        await turn.goto(turn.step)
        if inbound.file is None:
            return [Reply(t("intake.text_appended")), *await ask_current(turn)]
        replies.append(Reply(t("intake.text_appended")))
    if inbound.file is not None:
        return replies + await _add_draft_file(turn, inbound.file)
    if inbound.button == "ev:done":
        return await _next(turn, "intake.anonymity")
    return await ask_current(turn)


def removed_text(turn: Turn, removed: tuple[str, ...]) -> str:
    labels: list[str] = []
    for code in removed:
        label = turn.t(SCRUB_REMOVED.get(code, _OTHER_METADATA))
        if label not in labels:
            labels.append(label)
    return "、".join(labels)


def evidence_reply(turn: Turn, removed: tuple[str, ...], count: int, limit: int) -> Reply:
    """Acknowledge a stored file, saying in one line what was removed from it."""
    t = turn.t
    text = t("intake.file_received", count=count, max=limit)
    if removed:
        text += "\n" + t("scrub.removed", what=removed_text(turn, removed))
    return Reply(text, ((Button(t("button.evidence_done"), "ev:done"),),))


async def check_file(turn: Turn, file: FileIn, number: int) -> Reply | CleanedFile:
    """Check a file's size and type and clean it: a Reply refuses it; an ``unscrubbable``
    result could not be cleaned and waits for the employee's choice."""
    cfg, t = turn.services.config, turn.t
    if len(file.data) > cfg.max_file_bytes:
        return Reply(t("intake.file_too_big", max_mb=cfg.max_file_bytes // (1024 * 1024)))
    # Cleaning reads the real type from the bytes: a macro document is refused with its own
    # reason whatever it was called; the allowed types are checked on what it really is.
    cleaned = await turn.services.scrub(file, number)
    if cleaned.status == "refused":
        if cleaned.reason == "macro_format":
            return Reply(t("scrub.refused_macro"))
        return Reply(t("intake.file_type"))
    mime = cleaned.file.mime if cleaned.status == "clean" else file.mime
    if not mime.startswith(cfg.allowed_mime_prefixes) and file.kind != "voice":
        return Reply(t("intake.file_type"))
    return cleaned


def pending_file_reply(turn: Turn, attachment_id: int, voice: bool) -> Reply:
    """Ask whether to keep a file whose hidden details could not be removed."""
    t = turn.t
    text = t("scrub.unscrubbable")
    if voice:
        text = t("scrub.voice_note") + "\n" + text
    return Reply(
        text,
        (
            (Button(t("button.file_keep"), f"pf:{attachment_id}:k"),),
            (Button(t("button.file_drop"), f"pf:{attachment_id}:d"),),
        ),
    )


async def _add_draft_file(turn: Turn, file: FileIn) -> Replies:
    inbound, cfg = turn.inbound, turn.services.config
    count = await turn.uow.attachments.count_drafts(inbound.channel, inbound.sender_id)
    if count >= cfg.max_files:
        return [Reply(turn.t("intake.too_many_files", max=cfg.max_files))]
    checked = await check_file(turn, file, count + 1)
    if isinstance(checked, Reply):
        return [checked]
    pending = checked.status == "unscrubbable"
    attachment_id = await turn.uow.attachments.add_draft(
        inbound.channel, inbound.sender_id, checked.file, turn.stamp, pending=pending
    )
    note = pending and voice_note_due(turn, file)
    await turn.goto(turn.step)  # refresh the draft's expiry (and keep the note's flag)
    if pending:
        return [pending_file_reply(turn, attachment_id, note)]
    return [evidence_reply(turn, checked.removed, count + 1, cfg.max_files)]


def voice_note_due(turn: Turn, file: FileIn) -> bool:
    """Whether to say (once per conversation) that voices can be recognised."""
    if not is_voice(file) or turn.draft.get("voice_noted"):
        return False
    turn.draft["voice_noted"] = True
    return True


def is_voice(file: FileIn) -> bool:
    """A recording of someone's voice (which people can recognise)."""
    return file.kind == "voice" or file.mime.startswith("audio/")


async def _pending_file_choice(turn: Turn, payload: str) -> Replies:
    _, raw_id, choice = (payload.split(":") + ["", ""])[:3]
    if not raw_id.isdigit() or choice not in ("k", "d"):
        return [Reply(turn.t("error.stale"))]
    attachment_id = int(raw_id)
    info = await turn.uow.attachments.pending(attachment_id)
    owned = info is not None and await turn.uow.attachments.is_draft_of(
        attachment_id, turn.inbound.channel, turn.inbound.sender_id
    )
    if not owned:
        return [Reply(turn.t("error.stale"))]
    await turn.uow.attachments.resolve_pending(attachment_id, keep=choice == "k")
    await turn.goto(turn.step)
    done = turn.t("scrub.kept") if choice == "k" else turn.t("scrub.dropped")
    return [Reply(done), *await ask_current(turn)]


# -- anonymity and identity -------------------------------------------------------------


async def _ask_anonymity(turn: Turn) -> Replies:
    t = turn.t
    return [
        Reply(
            t("intake.ask_anonymity"),
            (
                (Button(t("button.anonymous"), "anon:yes"),),
                (Button(t("button.real_name"), "anon:no"),),
                _cancel_row(turn),
            ),
        )
    ]


async def _on_anonymity(turn: Turn) -> Replies:
    button = turn.inbound.button
    if button == "anon:yes":
        turn.draft["anonymous"] = True
        turn.draft.pop("identity", None)
        return await _next(turn, "intake.updates")
    if button == "anon:no":
        turn.draft["anonymous"] = False
        turn.draft["identity"] = {}
        await turn.goto(f"intake.identity.{IDENTITY_FIELDS[0][0]}")
        return [Reply(turn.t("intake.real_name_note")), *await ask_current(turn)]
    return await _use_buttons(turn)


async def _ask_identity(turn: Turn) -> Replies:
    name = turn.step.removeprefix("intake.identity.")
    for field, question, required, _max in IDENTITY_FIELDS:
        if field == name:
            choices: list[tuple[Button, ...]] = []
            if not required:
                choices.append((Button(turn.t("button.skip"), "id:skip"),))
            choices.append(_cancel_row(turn))
            return [Reply(turn.t(question), tuple(choices))]
    await turn.end()
    return [Reply(turn.t("error.stale"))]


async def _on_identity(turn: Turn) -> Replies:
    t, inbound = turn.t, turn.inbound
    field = turn.step.removeprefix("intake.identity.")
    names = [f for f, *_ in IDENTITY_FIELDS]
    if field not in names:
        return await ask_current(turn)
    _f, _q, required, max_len = IDENTITY_FIELDS[names.index(field)]
    identity: dict[str, Any] = turn.draft.setdefault("identity", {})
    if inbound.button == "id:skip" and not required:
        pass
    elif inbound.text is not None:
        value = clean_text(inbound.text)
        if not value or len(value) > max_len:
            return [Reply(t("intake.identity_invalid", max=max_len))]
        if field == "phone" and not _PHONE.match(value):
            return [Reply(t("intake.phone_invalid"))]
        # Sealed to the custodian now: the draft never holds a readable identity.
        identity[field] = turn.services.seal(field, value)
    else:
        return await ask_current(turn)
    following = names.index(field) + 1
    if following < len(names):
        await turn.goto(f"intake.identity.{names[following]}")
        return await ask_current(turn)
    return await _next(turn, "intake.updates")


# -- how updates reach the employee -----------------------------------------------------


async def _ask_updates(turn: Turn) -> Replies:
    t = turn.t
    return [
        Reply(
            t("intake.ask_updates"),
            (
                (Button(t("button.updates_push"), "up:push"),),
                (Button(t("button.updates_code"), "up:code"),),
                _cancel_row(turn),
            ),
        )
    ]


async def _on_updates(turn: Turn) -> Replies:
    button = turn.inbound.button
    if button in ("up:push", "up:code"):
        turn.draft["updates"] = button.removeprefix("up:")
        return await _next(turn, "intake.review")
    return await _use_buttons(turn)


# -- self-identifying details in an anonymous text --------------------------------------


def selfid_findings(turn: Turn, text: str) -> list[Finding]:
    """Details in a text that could identify its anonymous author."""
    pattern = turn.services.config.staff_no_pattern
    staff = compile_staff_pattern(pattern) if pattern else None
    return find_identifying(text, staff_no=staff)


def selfid_lines(turn: Turn, text: str, findings: list[Finding]) -> str:
    """One line per finding: what kind of detail, and the detail itself."""
    return "\n".join(
        turn.t("selfid.line", kind=turn.t(SELFID_KIND[f.kind]), text=text[f.start : f.end])
        for f in findings
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _before_review(turn: Turn) -> str:
    """The review, or first the self-identification check for an anonymous text."""
    d = turn.draft
    if not d.get("anonymous", True) or d.get("selfid_kept") == _digest(d["description"]):
        return "intake.review"
    return "intake.selfid" if selfid_findings(turn, d["description"]) else "intake.review"


async def _ask_selfid(turn: Turn) -> Replies:
    t, text = turn.t, turn.draft["description"]
    findings = selfid_findings(turn, text)
    if not findings:
        await turn.goto("intake.review")
        return await ask_current(turn)
    return [
        Reply(
            t("selfid.found", items=selfid_lines(turn, text, findings)),
            (
                (Button(t("button.selfid_mask"), "sid:mask"),),
                (Button(t("button.selfid_edit"), "sid:edit"),),
                (Button(t("button.selfid_keep"), "sid:keep"),),
            ),
        )
    ]


async def _on_selfid(turn: Turn) -> Replies:
    d, button = turn.draft, turn.inbound.button
    if button == "sid:mask":
        findings = selfid_findings(turn, d["description"])
        d["description"] = mask(d["description"], findings)
        await turn.goto("intake.review")
        return [Reply(turn.t("selfid.masked", count=len(findings))), *await ask_current(turn)]
    if button == "sid:edit":
        d["editing"] = "description"
        await turn.goto("intake.description")
        return await ask_current(turn)
    if button == "sid:keep":
        d["selfid_kept"] = _digest(d["description"])
        await turn.goto("intake.review")
        return await ask_current(turn)
    return await _use_buttons(turn)


# -- review, edit, submit ---------------------------------------------------------------


async def _ask_review(turn: Turn) -> Replies:
    t, d = turn.t, turn.draft
    files = await turn.uow.attachments.count_drafts(turn.inbound.channel, turn.inbound.sender_id)
    if d.get("anonymous", True):
        who = t("intake.review_anonymous")
    else:
        given = [t(_FIELD_LABEL[f]) for f in d.get("identity", {})]
        who = t("intake.review_real_name", fields="、".join(given))
    code_only = d.get("updates") == "code"
    updates = t(N_("intake.review_code") if code_only else N_("intake.review_push"))
    text = t(
        "intake.review",
        category=t(CATEGORY[Category(d["category"])]),
        description=d["description"],
        files=files,
        identity=who,
        updates=updates,
    )
    unit_lines = await _review_unit_lines(turn)
    if unit_lines:
        text = "\n".join([text, *unit_lines])
    return [
        Reply(
            text,
            (
                (Button(t("button.submit"), "rv:submit"),),
                (Button(t("button.edit"), "rv:edit"), Button(t("button.cancel"), "rv:cancel")),
            ),
        )
    ]


async def _review_unit_lines(turn: Turn) -> list[str]:
    """涉及单位 and, for a conflict of interest, where the case goes instead."""
    t, conflict = turn.t, turn.draft.get("conflict")
    tree, unit = await _chosen(turn)
    if unit is None:
        return []
    lines = [t("intake.review_unit", unit=tree.path_name(unit.id))]
    if conflict in unit_picker.CONFLICTS:
        handler = tree.path_name(unit_picker.handling_unit(tree, unit.id, conflict))
        key = (
            N_("intake.review_conflict_leadership")
            if conflict == CONFLICT_LEADERSHIP
            else N_("intake.review_conflict_discipline")
        )
        lines.append(t(key, unit=handler))
    return lines


async def _on_review(turn: Turn) -> Replies:
    button = turn.inbound.button
    if button == "rv:submit":
        if "updates" not in turn.draft:  # a draft from before this question existed
            await turn.goto("intake.updates")
            return await ask_current(turn)
        missing = await _missing_unit_step(turn)
        if missing is not None:
            turn.draft["editing"] = "unit"  # back to this review once answered
            await turn.goto(missing)
            return await ask_current(turn)
        return await _submit(turn)
    if button == "rv:edit":
        await turn.goto("intake.edit")
        return await ask_current(turn)
    return await _use_buttons(turn)


async def _ask_edit(turn: Turn) -> Replies:
    t = turn.t
    rows: list[tuple[Button, ...]] = [(Button(t("button.edit_category"), "ed:category"),)]
    if unit_picker.start_level(await turn.uow.units.tree()) is not None:
        rows.append((Button(t("button.edit_unit"), "ed:unit"),))
    rows.extend(
        (
            (Button(t("button.edit_description"), "ed:description"),),
            (Button(t("button.edit_evidence"), "ed:evidence"),),
            (Button(t("button.edit_anonymity"), "ed:anonymity"),),
            (Button(t("button.edit_updates"), "ed:updates"),),
            (Button(t("button.back"), "ed:back"),),
        )
    )
    return [Reply(t("intake.ask_edit"), tuple(rows))]


async def _on_edit(turn: Turn) -> Replies:
    target = (turn.inbound.button or "").removeprefix("ed:")
    if target == "back":
        await turn.goto("intake.review")
        return await ask_current(turn)
    if target in _EDITABLE:
        turn.draft["editing"] = target
        await turn.goto(f"intake.{target}")
        return await ask_current(turn)
    return await ask_current(turn)


async def _missing_unit_step(turn: Turn) -> str | None:
    """The unit question still to answer before submitting: a draft from before the group
    had units, or whose unit has since been retired."""
    tree, unit = await _chosen(turn)
    if unit_picker.start_level(tree) is None:
        return None
    if unit is None:
        return "intake.unit"
    return None if "conflict" in turn.draft else "intake.conflict"


async def _routing(turn: Turn) -> tuple[int | None, int | None, str | None]:
    """(handling unit, unit the matter concerns, conflict) for the new case."""
    tree, unit = await _chosen(turn)
    if unit is None:  # nothing to choose (_missing_unit_step): the root, or no unit at all
        root = unit_picker.default_unit(tree)
        return root, root, None
    conflict = turn.draft.get("conflict")
    conflict = conflict if conflict in unit_picker.CONFLICTS else None
    return unit_picker.handling_unit(tree, unit.id, conflict), unit.id, conflict


async def _submit(turn: Turn) -> Replies:
    t, inbound, d = turn.t, turn.inbound, turn.draft
    policy = turn.services.config.policy
    category = Category(d["category"])
    push = d.get("updates") != "code"
    unit_id, origin_unit_id, conflict = await _routing(turn)
    case = Case(
        category=category,
        description=d["description"],
        channel=inbound.channel,
        anonymous=bool(d.get("anonymous", True)),
        locale=turn.locale,
        created_at=turn.stamp,
        updated_at=turn.stamp,
        priority=1 if category.routes_to_discipline else 0,
        push_updates=push,
        unit_id=unit_id,
        origin_unit_id=origin_unit_id,
        conflict=conflict,
    )
    # 四早: danger signs mark the case 紧急 before its deadline is set (handlers/urgent.py).
    kinds = mark_urgent(case, turn.services.config.danger_signs)
    case.deadline_at = deadline_for(case, policy)
    code = generate_tracking_code()
    identity = None if case.anonymous else dict(d.get("identity") or {}) or None
    # "Code only": no address of any kind is stored with the case.
    contact = Contact(inbound.channel, inbound.chat_id) if push else None
    await turn.uow.cases.add(case, normalize_tracking_code(code), contact, identity)
    assert case.id is not None
    await turn.uow.search.index(case.id, case.description)  # the ledger's search
    files = await turn.uow.attachments.claim_drafts(inbound.channel, inbound.sender_id, case.id)
    await turn.uow.cases.add_event(
        case.id,
        "submitted",
        turn.stamp,
        Role.EMPLOYEE,
        to_state=case.state,
        # The reason the case went above the chosen unit stays in its history.
        detail={"files": files, **({"conflict": conflict} if conflict else {})},
    )
    await turn.uow.audit.add(turn.stamp, Role.EMPLOYEE, "case.submit", case_id=case.id)
    # 四早: similar recent petitions, linked for the card and the ledger (handlers/warnings.py).
    await link_similar(turn.uow, turn.services, case, turn.stamp)
    await urgent_submitted(turn.uow, turn.services.config, case, turn.stamp)
    await notify_admins(turn, case, "case_card", {})
    await turn.end()
    submitted = t(
        "intake.submitted", number=case.number, code=code, date=turn.date(case.deadline_at)
    )
    keep = t(N_("intake.keep_code") if push else N_("intake.keep_code_only"))
    # Self-harm: the hotlines come first, before the case number and the code.
    care = [Reply(hotline_text(t, turn.services.config.hotlines))] if SELF_HARM in kinds else []
    return [*care, Reply(f"{submitted}\n\n{keep}")]


_STEPS: dict[str, Step] = {
    "intake.category": Step(_ask_category, _on_category),
    "intake.unit": Step(_ask_unit, _on_unit),
    "intake.conflict": Step(_ask_conflict, _on_conflict),
    "intake.description": Step(_ask_description, _on_description),
    "intake.evidence": Step(_ask_evidence, _on_evidence),
    "intake.anonymity": Step(_ask_anonymity, _on_anonymity),
    "intake.updates": Step(_ask_updates, _on_updates),
    "intake.selfid": Step(_ask_selfid, _on_selfid),
    "intake.review": Step(_ask_review, _on_review),
    "intake.edit": Step(_ask_edit, _on_edit),
}
_IDENTITY_STEP = Step(_ask_identity, _on_identity)
