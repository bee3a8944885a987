"""Guided forms for the formal acts, in the admin chat (channel-neutral: Telegram, WeCom, web).

A case card's button opens the form of its act. The form first checks that this officer
may take the act on the case now (role, state, the one extension), then asks the act's
fields one at a time: choices by button (outcome, redirect channel, days), then the texts.
A 转办 offers the units the officer's office covers as buttons (nearest first, paged), or
takes a unit's code or name typed; a 不予受理 offers a one-button preset for a matter already
final (已三级终结). Then it shows a preview of exactly what the employee will receive,
rendered by the outbox's own renderer in the employee's language, under 确认发送 / 修改 /
取消. Only 确认发送 applies the act (:func:`handlers.acts.perform_act`); cancelling or
editing changes nothing.

Declared as tables, like handlers/intake.py: :data:`FORMS` (the fields of each act, in the
order asked) and ``_STEPS`` (conversation step → how it asks, how it reads the answer).
The informal message (回复职工) is a one-step form of its own.

督办, 交办 and 上报 change no state but are forms like the others (the same table, preview
and confirmation; handlers.acts sends them on to handlers/supervision.py): 督办 asks the
working deadline (3/5/10 days, or typed) and the instruction, 交办 the unit below (buttons
of the units inside the officer's subtree), the report's deadline and the requirements, 上报
the report. Their preview shows what the office decides above what the employee receives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.acts import (
    UnknownUnit,
    assign_targets,
    check_act,
    check_message,
    matter_note,
    perform_act,
    preview_act,
    resolve_case,
    resolve_destination,
    send_message,
    transfer_targets,
)
from handlers.inbound import Button, Reply
from handlers.labels import (
    ERRORS,
    FIELDS,
    OUTCOME,
    OUTCOME_ALIASES,
    OUTCOME_WORD,
    REDIRECT,
    REDIRECT_ALIASES,
    REDIRECT_WORD,
    match_word,
)
from handlers.payloads import (
    Confirm,
    Edit,
    Fix,
    FormCancel,
    Payload,
    Pick,
    PickPage,
    Preset,
    encode,
)
from handlers.ports import Officer
from handlers.supervision import office_act_summary
from handlers.text import clean_text
from handlers.turn import Turn
from i18n import LOCALES, N_
from petitions.case import Case
from petitions.errors import (
    CaseNotFound,
    ExtensionAlreadyUsed,
    InvalidTransition,
    NotPermitted,
)
from petitions.lifecycle import MAX_TEXT, OFFICE_ACTS, Action, Fields, order_days_max
from petitions.states import Outcome, Redirect

__all__ = [
    "ACT_NAME",
    "FORMS",
    "WrongValue",
    "fields_from",
    "handle_form",
    "read_field",
    "start_form",
    "start_message",
]

# The fields each act's form asks, in order: what is chosen by button first, then the texts.
FORMS: dict[Action, tuple[str, ...]] = {
    Action.ACCEPT: (),
    Action.NOT_ACCEPT: ("redirect", "reason"),
    Action.TRANSFER: ("destination", "reason"),
    Action.START: (),
    Action.EXTEND: ("extension_days", "reason"),
    Action.RESPOND: ("outcome", "text"),
    Action.START_REVIEW: (),
    Action.COMPLETE_REVIEW: ("outcome", "text"),
    Action.START_RECHECK: (),
    Action.COMPLETE_RECHECK: ("outcome", "text"),
    Action.CLOSE: (),
    Action.SUPERVISE: ("days", "instruction"),
    Action.ASSIGN_DOWN: ("destination", "days", "reason"),
    Action.REPORT: ("report",),
}

ACT_NAME: dict[Action, str] = {
    Action.ACCEPT: N_("button.o.accept"),
    Action.NOT_ACCEPT: N_("button.o.not_accept"),
    Action.TRANSFER: N_("button.o.transfer"),
    Action.START: N_("button.o.start"),
    Action.EXTEND: N_("button.o.extend"),
    Action.RESPOND: N_("button.o.respond"),
    Action.START_REVIEW: N_("button.o.start_review"),
    Action.COMPLETE_REVIEW: N_("button.o.complete_review"),
    Action.START_RECHECK: N_("button.o.start_recheck"),
    Action.COMPLETE_RECHECK: N_("button.o.complete_recheck"),
    Action.CLOSE: N_("button.o.close"),
    Action.SUPERVISE: N_("button.o.supervise"),
    Action.ASSIGN_DOWN: N_("button.o.assign_down"),
    Action.REPORT: N_("button.o.report"),
}

_PROMPT = {
    "reason": N_("officer.ask_reason"),
    "redirect": N_("officer.ask_redirect"),
    "destination": N_("officer.ask_destination"),
    "extension_days": N_("officer.ask_days"),
    "outcome": N_("officer.ask_outcome"),
    "text": N_("officer.ask_text"),
    "days": N_("officer.ask_supervise_days"),
    "instruction": N_("officer.ask_instruction"),
    "report": N_("officer.ask_report"),
}
# The same field asked in another act's words.
_ACT_PROMPT = {
    (Action.ASSIGN_DOWN, "destination"): N_("officer.ask_assign_unit"),
    (Action.ASSIGN_DOWN, "days"): N_("officer.ask_report_days"),
    (Action.ASSIGN_DOWN, "reason"): N_("officer.ask_assign_reason"),
}
_DAY_CHOICES = (10, 15, 30)
_ORDER_DAY_CHOICES = (3, 5, 10)  # a 督办's working deadline, a 交办's report
_OFFICE = frozenset(rule.action for rule in OFFICE_ACTS)
_UNITS_PER_PAGE = 8  # unit buttons of a 转办 per message
_TEXT_FIELDS = frozenset({"reason", "destination", "text", "instruction", "report"})
# Units people add to a typed number of days ("15天", "15 days").
_DAY_UNITS = ("天", "日", "days", "day")

PREVIEW = "officer.preview"
EDIT = "officer.edit"
MESSAGE = "officer.message"


class WrongValue(Exception):
    """A typed or picked value that is not one of the accepted ones; ``text`` says which
    are, in the officer's language."""

    def __init__(self, text: str) -> None:
        super().__init__("wrong value")
        self.text = text


# -- reading values ---------------------------------------------------------------------


def _all_locales(turn: Turn, key: str) -> list[str]:
    return [turn.services.t(key, loc) for loc in LOCALES]


def _outcome_words(turn: Turn) -> dict[Outcome, list[str]]:
    return {
        o: [
            o.value,
            *_all_locales(turn, OUTCOME_WORD[o]),
            *_all_locales(turn, OUTCOME[o]),
            *OUTCOME_ALIASES.get(o, ()),
        ]
        for o in Outcome
    }


def _redirect_words(turn: Turn) -> dict[Redirect, list[str]]:
    return {
        r: [
            r.value,
            *_all_locales(turn, REDIRECT_WORD[r]),
            *_all_locales(turn, REDIRECT[r]),
            *REDIRECT_ALIASES.get(r, ()),
        ]
        for r in Redirect
    }


def _wrong_choice(turn: Turn, field: str, words: list[str]) -> WrongValue:
    choices = turn.t("form.separator").join(turn.t(w) for w in words)
    return WrongValue(turn.t("form.wrong_choice", field=turn.t(FIELDS[field]), choices=choices))


def read_field(turn: Turn, field: str, raw: str) -> Any:
    """Read one field's value from what the officer typed or picked (Chinese or English
    words alike); raise :class:`WrongValue` naming the accepted values otherwise."""
    if field == "outcome":
        outcome = match_word(raw, _outcome_words(turn))
        if outcome is None:
            raise _wrong_choice(turn, field, [OUTCOME_WORD[o] for o in Outcome])
        return outcome
    if field == "redirect":
        redirect = match_word(raw, _redirect_words(turn))
        if redirect is None:
            raise _wrong_choice(turn, field, [REDIRECT_WORD[r] for r in Redirect])
        return redirect
    if field == "extension_days":
        return _read_days(turn, raw)
    if field == "days":
        most = order_days_max(turn.services.config.policy)
        return _read_days(turn, raw, most, N_("form.wrong_order_days"))
    text = clean_text(raw)
    if len(text) > MAX_TEXT:
        raise WrongValue(
            turn.t("form.too_long", field=turn.t(FIELDS[field]), max=MAX_TEXT, count=len(text))
        )
    return text


def _read_days(
    turn: Turn, raw: str, most: int | None = None, wrong: str = N_("form.wrong_days")
) -> int:
    if most is None:
        most = turn.services.config.policy.extension_max_days
    text = raw.strip().lower()
    for unit in _DAY_UNITS:
        text = text.removesuffix(unit).strip()
    try:
        days = int(text)  # full-width digits (１５) read as well
    except ValueError:
        days = 0
    if not 1 <= days <= most:
        raise WrongValue(turn.t(wrong, max=most))
    return days


def fields_from(values: dict[str, Any]) -> Fields:
    """Fields from read values (or their stored form: enum values as text)."""
    outcome = values.get("outcome")
    redirect = values.get("redirect")
    days = values.get("extension_days")
    order_days = values.get("days")
    return Fields(
        reason=values.get("reason") or None,
        outcome=Outcome(outcome) if outcome else None,
        extension_days=int(days) if days is not None else None,
        destination=values.get("destination") or None,
        redirect=Redirect(redirect) if redirect else None,
        text=values.get("text") or None,
        days=int(order_days) if order_days is not None else None,
        instruction=values.get("instruction") or None,
        report=values.get("report") or None,
    )


def _stored(value: Any) -> Any:
    # The draft is JSON: enums are kept as their values.
    return value.value if isinstance(value, Outcome | Redirect) else value


# -- starting ---------------------------------------------------------------------------


async def start_form(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields | None = None
) -> list[Reply]:
    """Open the form of an act on a case (with any fields already given): the role and
    state are checked before anything is asked."""
    assert case.id is not None
    check_act(turn, officer, case, action)
    given = fields or Fields()
    values = {
        f: _stored(getattr(given, f)) for f in FORMS[action] if getattr(given, f) is not None
    }
    draft = {"case_id": case.id, "action": action.value, "values": values, "rev": 0}
    return await _next(turn, officer, case, draft)


async def start_message(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    """Open the informal message to the employee (回复职工): not a formal answer."""
    assert case.id is not None
    if case.state.is_terminal:
        return [Reply(turn.t("officer.case_closed", number=case.number), case_id=case.id)]
    check_message(officer, case)
    await turn.goto(MESSAGE, {"case_id": case.id})
    return await _STEPS[MESSAGE].ask(turn, officer, case)


async def _next(turn: Turn, officer: Officer, case: Case, draft: dict[str, Any]) -> list[Reply]:
    """Ask the first field still missing, or show the preview when none is."""
    values = draft["values"]
    missing = [f for f in FORMS[Action(draft["action"])] if values.get(f) in (None, "")]
    step = f"officer.{missing[0]}" if missing else PREVIEW
    await turn.goto(step, draft)
    return await _STEPS[step].ask(turn, officer, case)


# -- handling ---------------------------------------------------------------------------


async def handle_form(turn: Turn, officer: Officer, payload: Payload | None) -> list[Reply]:
    """Handle a form's button (``payload``) or typed answer (``payload`` None)."""
    if isinstance(payload, FormCancel):
        other_case = payload.case_id and payload.case_id != turn.draft.get("case_id")
        if not turn.step.startswith("officer.") or other_case:
            return [Reply(turn.t("error.stale"))]
        await turn.end()
        return [Reply(turn.t("officer.cancelled"))]
    step = _STEPS.get(turn.step)
    if step is None:
        # A form's button after the form ended (applied, cancelled, expired).
        return [Reply(turn.t("error.stale"))]
    try:
        case = await resolve_case(turn, officer, str(turn.draft.get("case_id")))
        if "action" in turn.draft:
            # Checked at every step, so a form whose case moved on ends at the next answer.
            check_act(turn, officer, case, Action(turn.draft["action"]))
        return await step.handle(turn, officer, case, payload)
    except (CaseNotFound, ExtensionAlreadyUsed, InvalidTransition, NotPermitted) as error:
        # The case moved on (another officer acted) while this one was filling the form;
        # the form cannot be used any more, so it is dropped instead of being asked forever.
        # Nothing was written: the act refuses before any change.
        await turn.end()
        return [Reply(turn.t(ERRORS[error.code]))]


Ask = Callable[[Turn, Officer, Case], Awaitable[list[Reply]]]
Handle = Callable[[Turn, Officer, Case, Payload | None], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Step:
    """One step of a form: what it asks, and how it reads the answer."""

    ask: Ask
    handle: Handle


def _cancel(turn: Turn, case: Case) -> Button:
    return Button(turn.t("button.cancel"), encode(FormCancel(case.id or 0)))


def _prompt(turn: Turn, field: str) -> str:
    action = turn.draft.get("action")
    key = _ACT_PROMPT.get((Action(action), field)) if action else None
    return key or _PROMPT[field]


def _field_step(field: str) -> Step:
    async def ask(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
        t = turn.t
        text = t(_prompt(turn, field), number=case.number)
        cancel = (_cancel(turn, case),)
        if field == "outcome":
            row = tuple(Button(t(OUTCOME[o]), encode(Pick(field, o.value))) for o in Outcome)
            return [Reply(text, (row, cancel))]
        if field == "redirect":
            rows = tuple((Button(t(REDIRECT[r]), encode(Pick(field, r.value))),) for r in Redirect)
            # A new petition on a matter already final: reason and channel in one press.
            preset = (Button(t("button.o.preset_finalized"), encode(Preset("finalized"))),)
            return [Reply(text, (*rows, preset, cancel))]
        if field == "extension_days":
            most = turn.services.config.policy.extension_max_days
            days = tuple(
                Button(t("form.days", days=d), encode(Pick(field, str(d))))
                for d in _DAY_CHOICES
                if d <= most
            )
            return [Reply(text, (days, cancel) if days else (cancel,))]
        if field == "days":
            most = order_days_max(turn.services.config.policy)
            days = tuple(
                Button(t("form.days", days=d), encode(Pick(field, str(d))))
                for d in _ORDER_DAY_CHOICES
                if d <= most
            )
            return [Reply(text, (days, cancel) if days else (cancel,))]
        return [Reply(text, (cancel,))]

    async def handle(
        turn: Turn, officer: Officer, case: Case, payload: Payload | None
    ) -> list[Reply]:
        if isinstance(payload, Preset) and field == "redirect":
            return await _apply_preset(turn, officer, case, payload.name)
        if payload is not None and not (isinstance(payload, Pick) and payload.field == field):
            return [Reply(turn.t("error.stale")), *await ask(turn, officer, case)]
        raw = payload.value if isinstance(payload, Pick) else turn.inbound.text or ""
        if field in _TEXT_FIELDS and not clean_text(raw):
            return await ask(turn, officer, case)
        try:
            value = read_field(turn, field, raw)
        except WrongValue as wrong:
            return [Reply(wrong.text), *await ask(turn, officer, case)]
        draft = dict(turn.draft)
        draft["values"] = {**draft.get("values", {}), field: _stored(value)}
        return await _next(turn, officer, case, draft)

    return Step(ask, handle)


async def _apply_preset(turn: Turn, officer: Officer, case: Case, name: str) -> list[Reply]:
    # Only "finalized" exists (payloads.PRESETS): the matter was decided up the whole ladder
    # (三级终结), so the new petition is not accepted and the remaining legal channels named.
    # The reason goes to the employee: it is written in their language.
    assert name == "finalized"
    loc = case.locale

    def tr(key: str) -> str:
        return turn.services.t(key, loc)

    reason = turn.services.t(
        "form.finalized_reason",
        loc,
        arbitration=tr(REDIRECT[Redirect.ARBITRATION]),
        court=tr(REDIRECT[Redirect.COURT]),
        discipline=tr(REDIRECT[Redirect.DISCIPLINE]),
    )
    draft = dict(turn.draft)
    values = {**draft.get("values", {}), "redirect": Redirect.OTHER.value, "reason": reason}
    draft["values"] = values
    return await _next(turn, officer, case, draft)


def _destination_step() -> Step:
    """The 转办's destination: the units the officer's office covers, as buttons (nearest
    levels first, paged), or a unit's code or name typed. Without a unit tree, free text.
    A 交办's: the units inside the officer's subtree, the same way."""
    field = "destination"

    def action_of(turn: Turn) -> Action:
        raw = turn.draft.get("action")
        return Action(raw) if raw else Action.TRANSFER

    async def ask_page(turn: Turn, officer: Officer, case: Case, offset: int) -> list[Reply]:
        t = turn.t
        text = t(_prompt(turn, field), number=case.number)
        cancel = (_cancel(turn, case),)
        tree = await turn.uow.units.tree()
        if len(tree) == 0:
            return [Reply(text, (cancel,))]
        down = action_of(turn) is Action.ASSIGN_DOWN
        targets = (assign_targets if down else transfer_targets)(tree, officer, case)
        offset = max(0, min(offset, len(targets) - 1)) if targets else 0
        page = targets[offset : offset + _UNITS_PER_PAGE]
        rows: list[tuple[Button, ...]] = [
            (Button(tree.path_name(u.id) or u.name, encode(Pick(field, u.code))),) for u in page
        ]
        nav: list[Button] = []
        if offset > 0:
            back = max(0, offset - _UNITS_PER_PAGE)
            nav.append(Button(t("form.units_previous"), encode(PickPage(field, back))))
        if offset + _UNITS_PER_PAGE < len(targets):
            more = offset + _UNITS_PER_PAGE
            nav.append(Button(t("form.units_more"), encode(PickPage(field, more))))
        if nav:
            rows.append(tuple(nav))
        rows.append(cancel)
        return [Reply("\n".join((text, t("form.ask_unit_hint"))), tuple(rows))]

    async def ask(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
        return await ask_page(turn, officer, case, 0)

    async def handle(
        turn: Turn, officer: Officer, case: Case, payload: Payload | None
    ) -> list[Reply]:
        if isinstance(payload, PickPage) and payload.field == field:
            return await ask_page(turn, officer, case, payload.offset)
        if payload is not None and not (isinstance(payload, Pick) and payload.field == field):
            return [Reply(turn.t("error.stale")), *await ask(turn, officer, case)]
        raw = payload.value if isinstance(payload, Pick) else turn.inbound.text or ""
        if not clean_text(raw):
            return await ask(turn, officer, case)
        try:
            value = read_field(turn, field, raw)
            given = Fields(destination=value)
            action = action_of(turn)
            resolved = await resolve_destination(turn, officer, case, action, given)
        except WrongValue as wrong:
            return [Reply(wrong.text), *await ask(turn, officer, case)]
        except UnknownUnit:
            return [Reply(turn.t(ERRORS["unknown_unit"])), *await ask(turn, officer, case)]
        if resolved.unit_id is not None:
            # Kept as the unit's code: unambiguous, and resolved again when applied.
            tree = await turn.uow.units.tree()
            unit = tree.get(resolved.unit_id)
            value = unit.code if unit is not None else value
        draft = dict(turn.draft)
        draft["values"] = {**draft.get("values", {}), field: value}
        return await _next(turn, officer, case, draft)

    return Step(ask, handle)


def _draft_act(turn: Turn) -> tuple[Action, Fields]:
    draft = turn.draft
    return Action(draft["action"]), fields_from(dict(draft.get("values") or {}))


async def _ask_preview(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    t = turn.t
    action, fields = _draft_act(turn)
    # preview_act resolves a destination code: the employee reads the unit's name.
    employee_text = await preview_act(turn, officer, case, action, fields)
    # Each preview has its own revision: only the buttons under the newest one apply, so
    # what is confirmed is always what was last shown.
    rev = int(turn.draft.get("rev", 0)) + 1
    await turn.goto(PREVIEW, {**turn.draft, "rev": rev})
    assert case.id is not None
    row = [Button(t("button.form.confirm"), encode(Confirm(case.id, rev)))]
    if FORMS[action]:
        row.append(Button(t("button.form.edit"), encode(Edit(case.id, rev))))
    row.append(_cancel(turn, case))
    intro = t("form.preview", act=t(ACT_NAME[action]), number=case.number)
    note = await matter_note(turn, officer, case, action)
    if note:  # 集体诉求: the act applies to every member; the answer reaches them all
        intro = "\n".join((intro, note))
    if action in _OFFICE:
        # What the office decides (deadline, instruction, unit), above the employee's part.
        resolved = await resolve_destination(turn, officer, case, action, fields)
        intro = "\n".join((intro, office_act_summary(turn, case, action, resolved)))
    return [Reply(intro), Reply(employee_text, (tuple(row),))]


async def _on_preview(
    turn: Turn, officer: Officer, case: Case, payload: Payload | None
) -> list[Reply]:
    rev, case_id = turn.draft.get("rev"), turn.draft.get("case_id")
    if payload is None:
        # Officers also talk in the admin chat: one short reminder, not the preview again.
        return [Reply(turn.t("form.use_buttons"))]
    if isinstance(payload, Confirm | Edit) and (payload.case_id, payload.rev) == (case_id, rev):
        if isinstance(payload, Edit):
            await turn.goto(EDIT)
            return await _ask_edit(turn, officer, case)
        action, fields = _draft_act(turn)
        return await perform_act(turn, officer, case, action, fields)
    return [Reply(turn.t("error.stale"))]


async def _ask_edit(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    t = turn.t
    action, _ = _draft_act(turn)
    row = tuple(Button(t(FIELDS[f]), encode(Fix(f))) for f in FORMS[action])
    return [Reply(t("form.ask_fix", number=case.number), (row, (_cancel(turn, case),)))]


async def _on_edit(
    turn: Turn, officer: Officer, case: Case, payload: Payload | None
) -> list[Reply]:
    action, _ = _draft_act(turn)
    if payload is None:
        return [Reply(turn.t("form.use_buttons"))]
    if not (isinstance(payload, Fix) and payload.field in FORMS[action]):
        return [Reply(turn.t("error.stale"))]
    # The chosen field is asked again; the others are all filled, so its answer leads
    # straight back to the preview.
    await turn.goto(f"officer.{payload.field}")
    return await _STEPS[f"officer.{payload.field}"].ask(turn, officer, case)


async def _ask_message(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    text = turn.t("form.ask_message", number=case.number)
    return [Reply(text, ((_cancel(turn, case),),))]


async def _on_message(
    turn: Turn, officer: Officer, case: Case, payload: Payload | None
) -> list[Reply]:
    if payload is not None:
        return [Reply(turn.t("error.stale"))]
    body = clean_text(turn.inbound.text or "")
    if not body:
        return await _ask_message(turn, officer, case)
    if len(body) > MAX_TEXT:
        too_long = turn.t(
            "form.too_long", field=turn.t(FIELDS["text"]), max=MAX_TEXT, count=len(body)
        )
        return [Reply(too_long), *await _ask_message(turn, officer, case)]
    replies = await send_message(turn, officer, case, body)
    await turn.end()
    return replies


_STEPS: dict[str, Step] = {
    **{f"officer.{f}": _field_step(f) for f in _PROMPT},
    "officer.destination": _destination_step(),
    PREVIEW: Step(_ask_preview, _on_preview),
    EDIT: Step(_ask_edit, _on_edit),
    MESSAGE: Step(_ask_message, _on_message),
}
