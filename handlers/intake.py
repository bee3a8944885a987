"""The guided intake of a new petition: category → description → evidence → anonymity
(→ identity fields) → review → submit. State lives in the conversation table, so a
restart resumes where the employee stopped."""

from __future__ import annotations

import re
from typing import Any

from handlers.inbound import Button, Reply
from handlers.labels import CATEGORY
from handlers.notify import notify_admins
from handlers.ports import Contact
from handlers.text import clean_text
from handlers.turn import Turn
from i18n import N_
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_tracking_code, normalize_tracking_code
from petitions.deadlines import deadline_for
from petitions.roles import Role

__all__ = ["IDENTITY_FIELDS", "ask_current", "handle_intake", "start_intake"]

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


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.t("button.cancel"), "rv:cancel"),)


async def start_intake(turn: Turn) -> list[Reply]:
    """Begin a new petition, or resume the one in progress."""
    if turn.step.startswith("intake."):
        await turn.goto(turn.step)  # coming back is activity: the idle time starts again
        return [Reply(turn.t("intake.resuming")), *await ask_current(turn)]
    await turn.uow.attachments.delete_drafts(turn.inbound.channel, turn.inbound.sender_id)
    await turn.goto("intake.category", {})
    return await ask_current(turn)


async def ask_current(turn: Turn) -> list[Reply]:
    """Ask the question of the conversation's current step again."""
    step, t = turn.step, turn.t
    if step == "intake.category":
        cats = [Button(t(CATEGORY[c]), f"cat:{c.value}") for c in Category]
        rows = tuple(tuple(cats[i : i + 2]) for i in range(0, len(cats), 2))
        return [Reply(t("intake.ask_category"), (*rows, _cancel_row(turn)))]
    if step == "intake.description":
        return [Reply(t("intake.ask_description", min=turn.services.config.min_description))]
    if step == "intake.evidence":
        count = await turn.uow.attachments.count_drafts(
            turn.inbound.channel, turn.inbound.sender_id
        )
        return [
            Reply(
                t("intake.ask_evidence", count=count, max=turn.services.config.max_files),
                ((Button(t("button.evidence_done"), "ev:done"),), _cancel_row(turn)),
            )
        ]
    if step == "intake.anonymity":
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
    if step.startswith("intake.identity."):
        name = step.removeprefix("intake.identity.")
        for field, question, required, _max in IDENTITY_FIELDS:
            if field == name:
                choices: list[tuple[Button, ...]] = []
                if not required:
                    choices.append((Button(t("button.skip"), "id:skip"),))
                choices.append(_cancel_row(turn))
                return [Reply(t(question), tuple(choices))]
    if step == "intake.review":
        return [await _review(turn)]
    if step == "intake.edit":
        return [
            Reply(
                t("intake.ask_edit"),
                (
                    (Button(t("button.edit_category"), "ed:category"),),
                    (Button(t("button.edit_description"), "ed:description"),),
                    (Button(t("button.edit_evidence"), "ed:evidence"),),
                    (Button(t("button.edit_anonymity"), "ed:anonymity"),),
                    (Button(t("button.back"), "ed:back"),),
                ),
            )
        ]
    await turn.end()
    return [Reply(t("error.stale"))]


async def _review(turn: Turn) -> Reply:
    t, d = turn.t, turn.draft
    files = await turn.uow.attachments.count_drafts(turn.inbound.channel, turn.inbound.sender_id)
    if d.get("anonymous", True):
        who = t("intake.review_anonymous")
    else:
        given = [t(_FIELD_LABEL[f]) for f in d.get("identity", {})]
        who = t("intake.review_real_name", fields="、".join(given))
    text = t(
        "intake.review",
        category=t(CATEGORY[Category(d["category"])]),
        description=d["description"],
        files=files,
        identity=who,
    )
    return Reply(
        text,
        (
            (Button(t("button.submit"), "rv:submit"),),
            (Button(t("button.edit"), "rv:edit"), Button(t("button.cancel"), "rv:cancel")),
        ),
    )


async def _next(turn: Turn, step: str) -> list[Reply]:
    # While editing, each edited part returns to the review instead of going on.
    if turn.draft.get("editing") and step in _EDITABLE_NEXT:
        step = "intake.review"
    if step == "intake.review":
        turn.draft.pop("editing", None)
    await turn.goto(step)
    return await ask_current(turn)


_EDITABLE_NEXT = frozenset({"intake.description", "intake.evidence", "intake.anonymity"})


async def handle_intake(turn: Turn) -> list[Reply]:
    """Handle one input during an intake."""
    step, inbound, t = turn.step, turn.inbound, turn.t
    button, text, file = inbound.button, inbound.text, inbound.file
    cfg = turn.services.config

    if button == "rv:cancel":
        await turn.uow.attachments.delete_drafts(inbound.channel, inbound.sender_id)
        await turn.end()
        return [Reply(t("intake.cancelled"))]

    if step == "intake.category":
        if button and button.startswith("cat:"):
            try:
                category = Category(button.removeprefix("cat:"))
            except ValueError:
                return await ask_current(turn)
            turn.draft["category"] = category.value
            replies = []
            if category.routes_to_discipline:
                replies.append(Reply(t("intake.discipline_note")))
            replies.extend(await _next(turn, "intake.description"))
            return replies
        return [Reply(t("intake.use_buttons")), *await ask_current(turn)]

    if step == "intake.description":
        if text is None:
            return [Reply(t("intake.need_text")), *await ask_current(turn)]
        body = clean_text(text)
        if len(body) < cfg.min_description:
            return [Reply(t("intake.too_short", min=cfg.min_description))]
        if len(body) > cfg.max_description:
            return [Reply(t("intake.too_long", length=len(body), max=cfg.max_description))]
        turn.draft["description"] = body
        return await _next(turn, "intake.evidence")

    if step == "intake.evidence":
        if file is not None:
            return await _add_draft_file(turn)
        if button == "ev:done":
            return await _next(turn, "intake.anonymity")
        if text is not None:
            # Text here adds to the description, so long accounts can come in parts.
            body = clean_text(text)
            before = turn.draft["description"]
            combined = f"{before}\n{body}" if body else before
            if len(combined) > cfg.max_description:
                return [Reply(t("intake.too_long", length=len(combined), max=cfg.max_description))]
            turn.draft["description"] = combined
            await turn.goto(step)
            return [Reply(t("intake.text_appended")), *await ask_current(turn)]
        return await ask_current(turn)

    if step == "intake.anonymity":
        if button == "anon:yes":
            turn.draft["anonymous"] = True
            turn.draft.pop("identity", None)
            return await _next(turn, "intake.review")
        if button == "anon:no":
            turn.draft["anonymous"] = False
            turn.draft["identity"] = {}
            await turn.goto(f"intake.identity.{IDENTITY_FIELDS[0][0]}")
            return [Reply(t("intake.real_name_note")), *await ask_current(turn)]
        return [Reply(t("intake.use_buttons")), *await ask_current(turn)]

    if step.startswith("intake.identity."):
        return await _identity_step(turn, step.removeprefix("intake.identity."))

    if step == "intake.review":
        if button == "rv:submit":
            return await _submit(turn)
        if button == "rv:edit":
            await turn.goto("intake.edit")
            return await ask_current(turn)
        return [Reply(t("intake.use_buttons")), *await ask_current(turn)]

    if step == "intake.edit":
        target = (button or "").removeprefix("ed:")
        if target == "back":
            await turn.goto("intake.review")
            return await ask_current(turn)
        if target in ("category", "description", "evidence", "anonymity"):
            turn.draft["editing"] = target
            await turn.goto(f"intake.{target}")
            return await ask_current(turn)
        return await ask_current(turn)

    return await ask_current(turn)


async def _add_draft_file(turn: Turn) -> list[Reply]:
    inbound, t, cfg = turn.inbound, turn.t, turn.services.config
    file = inbound.file
    assert file is not None
    count = await turn.uow.attachments.count_drafts(inbound.channel, inbound.sender_id)
    if count >= cfg.max_files:
        return [Reply(t("intake.too_many_files", max=cfg.max_files))]
    if len(file.data) > cfg.max_file_bytes:
        return [Reply(t("intake.file_too_big", max_mb=cfg.max_file_bytes // (1024 * 1024)))]
    if not file.mime.startswith(cfg.allowed_mime_prefixes):
        return [Reply(t("intake.file_type"))]
    await turn.uow.attachments.add_draft(inbound.channel, inbound.sender_id, file, turn.now)
    await turn.goto(turn.step)  # refresh the draft's expiry
    return [
        Reply(
            t("intake.file_received", count=count + 1, max=cfg.max_files),
            ((Button(t("button.evidence_done"), "ev:done"),),),
        )
    ]


async def _identity_step(turn: Turn, field: str) -> list[Reply]:
    t, inbound = turn.t, turn.inbound
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
    return await _next(turn, "intake.review")


async def _submit(turn: Turn) -> list[Reply]:
    t, inbound, d = turn.t, turn.inbound, turn.draft
    policy = turn.services.config.policy
    category = Category(d["category"])
    case = Case(
        category=category,
        description=d["description"],
        channel=inbound.channel,
        anonymous=bool(d.get("anonymous", True)),
        locale=turn.locale,
        created_at=turn.now,
        updated_at=turn.now,
        owner_unit=None,
        priority=1 if category.routes_to_discipline else 0,
    )
    case.deadline_at = deadline_for(case, policy)
    code = generate_tracking_code()
    identity = None if case.anonymous else dict(d.get("identity") or {}) or None
    await turn.uow.cases.add(
        case,
        normalize_tracking_code(code),
        Contact(inbound.channel, inbound.chat_id),
        identity,
    )
    assert case.id is not None
    files = await turn.uow.attachments.claim_drafts(inbound.channel, inbound.sender_id, case.id)
    await turn.uow.cases.add_event(
        case.id, "submitted", turn.now, Role.EMPLOYEE, to_state=case.state, detail={"files": files}
    )
    await turn.uow.audit.add(turn.now, Role.EMPLOYEE, "case.submit", case_id=case.id)
    await notify_admins(turn, case, "case_card", {})
    await turn.end()
    submitted = t(
        "intake.submitted", number=case.number, code=code, date=turn.date(case.deadline_at)
    )
    keep = t("intake.keep_code")
    return [Reply(f"{submitted}\n\n{keep}")]
