"""The officers' side: list and view cases, take actions, notes and answers.

Commands (in the admin chat, or in a private chat with the bot on channels without one):
``/cases [open|mine|unassigned|overdue|all]``, ``/case REF``, ``/take REF``,
``/accept REF``, ``/reject REF CHANNEL REASON``, ``/transfer REF UNIT REASON``,
``/begin REF``, ``/extend REF DAYS REASON``, ``/respond REF OUTCOME TEXT``,
``/reviewstart REF``, ``/reviewdone REF OUTCOME TEXT``, ``/close REF``,
``/note REF TEXT``, ``/answer REF TEXT``, ``/assign REF OFFICER_ID REASON``,
``/take REF [REASON]``, ``/stats [FROM [TO]]``. REF is a case number or id. Buttons on case
cards start the same actions and ask for missing fields one at a time. Every action is
checked against the officer's role and audited.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from handlers.access import may_view
from handlers.disclosure import DISCLOSURE_COMMANDS, handle_disclosure, is_disclosure_input
from handlers.feedback import SATISFACTION, open_question
from handlers.inbound import Button, Reply
from handlers.labels import CATEGORY, ERRORS, FIELDS, OUTCOME, REDIRECT, STATE
from handlers.notify import notify_employee, status_payload
from handlers.ports import CaseCursor, CaseFilter, Officer
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.views import admin_case_detail
from i18n import N_
from petitions.case import Case
from petitions.categories import Category
from petitions.deadlines import OFFICE_DEADLINE_STATES, OFFICE_ZONE, DeadlinePolicy, is_overdue
from petitions.errors import (
    CaseNotFound,
    ExtensionAlreadyUsed,
    InvalidField,
    InvalidTransition,
    MissingField,
    NotPermitted,
)
from petitions.lifecycle import MAX_TEXT, Action, Fields, apply, can_view, rule_for
from petitions.roles import Role
from petitions.states import TERMINAL_STATES, CaseState, Outcome, Redirect

__all__ = ["OFFICER_COMMANDS", "handle_officer"]

OFFICER_COMMANDS = frozenset(
    {
        "cases",
        "case",
        "take",
        "accept",
        "reject",
        "transfer",
        "begin",
        "extend",
        "respond",
        "reviewstart",
        "reviewdone",
        "close",
        "note",
        "answer",
        "ohelp",
        "assign",
        "stats",
    }
) | DISCLOSURE_COMMANDS  # custodians: /disclosures, /approve_disclosure REQ

_COMMAND_ACTION = {
    "accept": Action.ACCEPT,
    "reject": Action.NOT_ACCEPT,
    "transfer": Action.TRANSFER,
    "begin": Action.START,
    "extend": Action.EXTEND,
    "respond": Action.RESPOND,
    "reviewstart": Action.START_REVIEW,
    "reviewdone": Action.COMPLETE_REVIEW,
    "close": Action.CLOSE,
}
# Positional arguments after REF, in the order a command takes them.
_COMMAND_ARGS: dict[Action, tuple[str, ...]] = {
    Action.NOT_ACCEPT: ("redirect", "reason"),
    Action.TRANSFER: ("destination", "reason"),
    Action.EXTEND: ("extension_days", "reason"),
    Action.RESPOND: ("outcome", "text"),
    Action.COMPLETE_REVIEW: ("outcome", "text"),
}
_PROMPT = {
    "reason": N_("officer.ask_reason"),
    "redirect": N_("officer.ask_redirect"),
    "destination": N_("officer.ask_destination"),
    "extension_days": N_("officer.ask_days"),
    "outcome": N_("officer.ask_outcome"),
    "text": N_("officer.ask_text"),
}

def parse_command(text: str) -> tuple[str, list[str]] | None:
    """Split ``/cmd@bot arg ...`` into the command name and its words."""
    if not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.split()


async def _resolve(turn: Turn, officer: Officer, ref: str | None) -> Case:
    case: Case | None = None
    if ref:
        ref = ref.strip()
        if ref.isdigit():
            case = await turn.uow.cases.get(int(ref), for_update=True)
        else:
            case = await turn.uow.cases.by_number(ref)
            if case is not None and case.id is not None:
                case = await turn.uow.cases.get(case.id, for_update=True)
    if case is None:
        raise CaseNotFound()
    if not may_view(officer, case):
        raise NotPermitted(action="view", role=officer.role.value)
    return case


async def handle_officer(turn: Turn, officer: Officer) -> list[Reply]:
    """Handle one input from a registered officer."""
    inbound = turn.inbound
    parsed = parse_command(inbound.text.strip()) if inbound.text is not None else None
    if is_disclosure_input(parsed[0] if parsed else None, inbound.button):
        return await handle_disclosure(
            turn, officer, parsed[0] if parsed else None, parsed[1] if parsed else []
        )
    if inbound.button and inbound.button.startswith(("o:", "oo:", "or:")):
        return await _button(turn, officer, inbound.button)
    text = inbound.text
    if text is not None:
        if parsed and parsed[0] == "cancel" and turn.step.startswith("officer."):
            await turn.end()
            return [Reply(turn.t("officer.cancelled"))]
        if parsed and parsed[0] in OFFICER_COMMANDS:
            return await _command(turn, officer, parsed[0], parsed[1])
        if turn.step.startswith("officer."):
            return await _continue(turn, officer, clean_text(text))
        if inbound.case_ref is not None and inbound.in_admin_chat:
            # A reply to a case's message in the admin chat is an explicit answer.
            case = await _resolve(turn, officer, str(inbound.case_ref))
            return await _answer(turn, officer, case, clean_text(text))
        if inbound.unmapped_reply and inbound.in_admin_chat:
            return [Reply(turn.t("officer.reply_not_sent"))]
    # Anything else in the admin chat is the officers' own conversation.
    return []


async def _command(turn: Turn, officer: Officer, name: str, words: list[str]) -> list[Reply]:
    t = turn.t
    if name == "ohelp":
        return [Reply(t("officer.help"))]
    if name == "cases":
        return [await _list(turn, officer, words[0] if words else "open")]
    if name == "stats":
        return await _stats(turn, officer, words)
    if not words:
        return [Reply(t("officer.need_ref"))]
    case = await _resolve(turn, officer, words[0])
    rest = words[1:]
    if name == "case":
        return await _view(turn, officer, case)
    if name == "take":
        return await _take(turn, officer, case, clean_text(" ".join(rest)) or None)
    if name == "assign":
        return await _assign(turn, officer, case, rest)
    if name in ("note", "answer"):
        body = clean_text(" ".join(rest))
        if not body:
            raise MissingField(field="text")
        if len(body) > MAX_TEXT:
            raise InvalidField(field="text", max=MAX_TEXT)
        if name == "note":
            return await _note(turn, officer, case, body)
        return await _answer(turn, officer, case, body)
    action = _COMMAND_ACTION[name]
    names = _COMMAND_ARGS.get(action, ())
    values: dict[str, Any] = {}
    for i, field in enumerate(names):
        if i == len(names) - 1:
            joined = " ".join(rest[i:])
            if joined:
                values[field] = joined
        elif i < len(rest):
            values[field] = rest[i]
    return await _act(turn, officer, case, action, _parse_fields(values))


def _parse_fields(values: dict[str, Any]) -> Fields:
    def enum(kind: type[Outcome] | type[Redirect], field: str) -> Any:
        raw = values.get(field)
        if raw is None:
            return None
        try:
            return kind(str(raw).lower())
        except ValueError:
            raise InvalidField(field=field) from None

    days = values.get("extension_days")
    if days is not None:
        try:
            days = int(days)
        except (TypeError, ValueError):
            raise InvalidField(field="extension_days") from None
    return Fields(
        reason=values.get("reason"),
        outcome=enum(Outcome, "outcome"),
        extension_days=days,
        destination=values.get("destination"),
        redirect=enum(Redirect, "redirect"),
        text=values.get("text"),
    )


async def _act(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> list[Reply]:
    """Apply an action, or ask for the first missing field."""
    if (
        action is Action.EXTEND
        and case.state is CaseState.EXTENDED
        and officer.role in rule_for(action).roles
    ):
        # The table extends only IN_PROGRESS cases, so a second extension would read as
        # "wrong state"; the one-extension rule is the reason the approver needs to hear.
        raise ExtensionAlreadyUsed()
    missing = [f for f in rule_for(action).required if getattr(fields, f) in (None, "")]
    if missing:
        # Check the role and state before asking questions the officer cannot use.
        probe = replace(case)
        apply(probe, action, officer.role, _PLACEHOLDER, turn.now, _policy(turn))
        draft = {"case_id": case.id, "action": action.value, "values": _fields_dict(fields)}
        await turn.goto(f"officer.{missing[0]}", draft)
        return [_prompt(turn, missing[0], case)]
    assert case.id is not None
    record = apply(case, action, officer.role, fields, turn.now, _policy(turn))
    assigned = action is Action.ACCEPT and case.owner_officer_id is None
    if assigned:
        # From acceptance on every case has an owner: the officer who accepted it.
        case.owner_officer_id = officer.id
        case.owner_unit = case.owner_unit or officer.unit
    await turn.uow.cases.save(case)
    detail = {k: v for k, v in _fields_dict(fields).items() if v is not None}
    employee_detail = {k: v for k, v in detail.items() if k != "text"}
    await turn.uow.cases.add_event(
        case.id,
        "transition",
        turn.now,
        officer.role,
        actor_officer_id=officer.id,
        from_state=record.from_state,
        to_state=record.to_state,
        detail=_timeline_detail(employee_detail),
    )
    if assigned:
        await turn.uow.cases.add_event(
            case.id,
            "assigned",
            turn.now,
            officer.role,
            actor_officer_id=officer.id,
            detail={"owner": officer.id, "reason": turn.t("officer.reason_accepted")},
        )
    if fields.text and action in (Action.RESPOND, Action.COMPLETE_REVIEW):
        await turn.uow.cases.add_message(case.id, "answer", fields.text, turn.now, officer.id)
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        f"case.{action.value}",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail=detail,
    )
    payload = status_payload(case, record)
    if action in (Action.RESPOND, Action.COMPLETE_REVIEW):
        # The answer comes with one-tap rating buttons (满意 / 基本满意 / 不满意).
        payload["survey"] = await open_question(turn.uow, case, SATISFACTION, turn.now)
    await notify_employee(turn, case, "status", payload)
    if turn.step.startswith("officer."):
        await turn.end()
    return [
        Reply(
            turn.t(
                "officer.done",
                number=case.number,
                state=turn.t(STATE[case.state]),
                deadline=turn.date(case.deadline_at),
            ),
            case_id=case.id,
        )
    ]


def _timeline_detail(detail: dict[str, Any]) -> dict[str, Any]:
    # The employee's timeline shows these under stable names.
    out: dict[str, Any] = {}
    if "reason" in detail:
        out["reason"] = detail["reason"]
    if "redirect" in detail:
        out["redirect"] = detail["redirect"]
    if "destination" in detail:
        out["unit"] = detail["destination"]
    if "extension_days" in detail:
        out["days"] = detail["extension_days"]
    if "outcome" in detail:
        out["outcome"] = detail["outcome"]
    return out


# Satisfies every field rule, so a probe fails only on state, role or extension rules.
_PLACEHOLDER = Fields(
    reason="-",
    outcome=Outcome.EXPLAINED,
    extension_days=1,
    destination="-",
    redirect=Redirect.OTHER,
    text="-",
)


def _fields_dict(fields: Fields) -> dict[str, Any]:
    return {
        "reason": fields.reason,
        "outcome": fields.outcome.value if fields.outcome else None,
        "extension_days": fields.extension_days,
        "destination": fields.destination,
        "redirect": fields.redirect.value if fields.redirect else None,
        "text": fields.text,
    }


def _policy(turn: Turn) -> DeadlinePolicy:
    return turn.services.config.policy


def _prompt(turn: Turn, field: str, case: Case) -> Reply:
    t = turn.t
    cancel = (Button(t("button.cancel"), "o:cancel:0"),)
    if field == "outcome":
        row = tuple(Button(t(OUTCOME[o]), f"oo:{o.value}") for o in Outcome)
        return Reply(t(_PROMPT[field], number=case.number), (row, cancel))
    if field == "redirect":
        rows = tuple((Button(t(REDIRECT[r]), f"or:{r.value}"),) for r in Redirect)
        return Reply(t(_PROMPT[field], number=case.number), (*rows, cancel))
    return Reply(t(_PROMPT[field], number=case.number), (cancel,))


async def _continue(turn: Turn, officer: Officer, value: str, *, raw: Any = None) -> list[Reply]:
    try:
        return await _continue_action(turn, officer, value, raw)
    except (CaseNotFound, ExtensionAlreadyUsed, InvalidTransition, NotPermitted) as error:
        # The case moved on (another officer acted) while this one was answering; the
        # question cannot be used any more, so it is dropped instead of being asked forever.
        # Nothing was written: apply() refuses before any change.
        await turn.end()
        return [Reply(turn.t(ERRORS[error.code]))]


async def _continue_action(turn: Turn, officer: Officer, value: str, raw: Any) -> list[Reply]:
    field = turn.step.removeprefix("officer.")
    d = turn.draft
    case = await _resolve(turn, officer, str(d.get("case_id")))
    values: dict[str, Any] = dict(d.get("values") or {})
    values[field] = raw if raw is not None else value
    if not value and raw is None:
        return [_prompt(turn, field, case)]
    try:
        fields = _parse_fields(values)
    except InvalidField:
        error = Reply(turn.t("error.invalid_field", field=turn.t(FIELDS[field])))
        return [error, _prompt(turn, field, case)]
    return await _act(turn, officer, case, Action(d["action"]), fields)


async def _button(turn: Turn, officer: Officer, payload: str) -> list[Reply]:
    if payload.startswith(("oo:", "or:")):
        if not turn.step.startswith("officer."):
            return [Reply(turn.t("error.stale"))]
        value = payload[3:]
        return await _continue(turn, officer, value, raw=value)
    _, verb, ref = (payload.split(":", 2) + ["", ""])[:3]
    if verb == "cancel":
        await turn.end()
        return [Reply(turn.t("officer.cancelled"))]
    if verb == "list":  # o:list:WHICH:CURSOR, the next page of a list
        which, _, text = ref.partition(":")
        after = CaseCursor.from_text(text)
        if which not in _LISTS or after is None:
            return [Reply(turn.t("error.stale"))]
        return [await _list(turn, officer, which, after)]
    case = await _resolve(turn, officer, ref)
    if verb == "view":
        return await _view(turn, officer, case)
    if verb == "take":
        return await _take(turn, officer, case)
    try:
        action = Action(verb)
    except ValueError:
        return [Reply(turn.t("error.stale"))]
    return await _act(turn, officer, case, action, Fields())


async def _view(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    assert case.id is not None
    uow = turn.uow
    # Reading a petition's full text and evidence is audited, by person.
    await uow.audit.add(
        turn.now, officer.role, "case.view", actor_officer_id=officer.id, case_id=case.id
    )
    files = []
    for info in await uow.attachments.list(case.id):
        item = await uow.attachments.data(info.id)
        if item is not None:
            files.append(item)
    return admin_case_detail(
        turn.t,
        case,
        await uow.cases.events(case.id),
        await uow.cases.messages(case.id),
        files,
        turn.now,
    )


async def _take(
    turn: Turn, officer: Officer, case: Case, reason: str | None = None
) -> list[Reply]:
    assert case.id is not None
    if case.state in TERMINAL_STATES:
        raise NotPermitted(action="take", role=officer.role.value)
    previous = case.owner_officer_id
    case.owner_officer_id = officer.id
    case.updated_at = turn.now
    await turn.uow.cases.save(case)
    detail: dict[str, Any] = {"owner": officer.id, "previous_owner": previous}
    if reason:
        detail["reason"] = reason
    await turn.uow.cases.add_event(
        case.id, "assigned", turn.now, officer.role, actor_officer_id=officer.id, detail=detail
    )
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        "case.take",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail={"previous_owner": previous, **({"reason": reason} if reason else {})},
    )
    return [Reply(turn.t("officer.taken", number=case.number), case_id=case.id)]


async def _assign(turn: Turn, officer: Officer, case: Case, words: list[str]) -> list[Reply]:
    """Hand a case to another officer, with a reason; recorded, never silent."""
    assert case.id is not None
    if len(words) < 2 or not words[0].isdigit():
        return [Reply(turn.t("officer.assign_usage"))]
    reason = clean_text(" ".join(words[1:]))
    if len(reason) > MAX_TEXT:
        raise InvalidField(field="reason", max=MAX_TEXT)
    if officer.role not in (Role.OFFICER, Role.LEADER, Role.DISCIPLINE):
        raise NotPermitted(action="assign", role=officer.role.value)
    if case.state in TERMINAL_STATES:
        raise NotPermitted(action="assign", role=officer.role.value)
    target = await turn.uow.officers.get(int(words[0]))
    if (
        target is None
        or not target.active
        or not can_view(target.role, case)
        or target.id == case.excluded_officer_id
    ):
        return [Reply(turn.t("officer.assign_unknown"))]
    previous = case.owner_officer_id
    case.owner_officer_id = target.id
    case.owner_unit = target.unit or case.owner_unit
    case.updated_at = turn.now
    await turn.uow.cases.save(case)
    detail = {"owner": target.id, "previous_owner": previous, "reason": reason}
    await turn.uow.cases.add_event(
        case.id, "assigned", turn.now, officer.role, actor_officer_id=officer.id, detail=detail
    )
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        "case.assign",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail=detail,
    )
    text = turn.t("officer.assigned", number=case.number, name=target.name)
    return [Reply(text, case_id=case.id)]


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def stats_period(
    words: list[str], now: datetime, min_days: int = 1
) -> tuple[datetime, datetime] | None:
    """Read ``[FROM [TO]]`` (local dates, inclusive) into [start, end) in UTC.

    Without dates: from the first of January of this year to today, or the last
    ``min_days`` days while this year is younger than that.
    """
    zone = OFFICE_ZONE
    today = now.astimezone(zone).date()
    default_first = min(date(today.year, 1, 1), today - timedelta(days=min_days - 1))
    first = _parse_day(words[0]) if words else default_first
    last = _parse_day(words[1]) if len(words) > 1 else today
    if first is None or last is None or last < first:
        return None
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    return start, end


async def _stats(turn: Turn, officer: Officer, words: list[str]) -> list[Reply]:
    if officer.role not in (Role.OFFICER, Role.LEADER, Role.DISCIPLINE):
        raise NotPermitted(action="stats", role=officer.role.value)
    min_days = turn.services.config.stats_min_days
    period = stats_period(words, turn.now, min_days)
    if period is None:
        return [Reply(turn.t("officer.stats_usage"))]
    if (period[1] - period[0]) // timedelta(days=1) < min_days:
        # Over a day or a week a count of one is a person: see docs/accountability.md.
        return [Reply(turn.t("officer.stats_too_short", days=min_days))]
    reporter = turn.services.stats
    if reporter is None:
        return [Reply(turn.t("officer.stats_unavailable"))]
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        "stats.view",
        actor_officer_id=officer.id,
        detail={"from": period[0].isoformat(), "to": period[1].isoformat()},
    )
    return await reporter(turn.uow, period[0], period[1], turn.locale, turn.now)


async def _note(turn: Turn, officer: Officer, case: Case, body: str) -> list[Reply]:
    assert case.id is not None
    await turn.uow.cases.add_message(case.id, "note", body, turn.now, officer.id)
    await turn.uow.audit.add(
        turn.now, officer.role, "case.note", actor_officer_id=officer.id, case_id=case.id
    )
    return [Reply(turn.t("officer.noted", number=case.number), case_id=case.id)]


async def _answer(turn: Turn, officer: Officer, case: Case, body: str) -> list[Reply]:
    assert case.id is not None
    if not body:
        raise MissingField(field="text")
    if len(body) > MAX_TEXT:
        raise InvalidField(field="text", max=MAX_TEXT)
    if case.state in TERMINAL_STATES:
        return [Reply(turn.t("officer.case_closed", number=case.number), case_id=case.id)]
    if officer.role not in (Role.OFFICER, Role.LEADER, Role.DISCIPLINE):
        raise NotPermitted(action="answer", role=officer.role.value)
    await turn.uow.cases.add_message(case.id, "answer", body, turn.now, officer.id)
    await turn.uow.cases.add_event(
        case.id, "answered", turn.now, officer.role, actor_officer_id=officer.id
    )
    await turn.uow.audit.add(
        turn.now, officer.role, "case.answer", actor_officer_id=officer.id, case_id=case.id
    )
    await notify_employee(turn, case, "answer", {"number": case.number, "text": body})
    return [Reply(turn.t("officer.answer_sent", number=case.number), case_id=case.id)]


_LIST_PAGE = 30
_LISTS = frozenset({"open", "mine", "unassigned", "overdue", "all"})
# A stand-in case for asking the one visibility rule (can_view) about each category.
_PROBE = Case(
    category=Category.OTHER,
    description="",
    channel="",
    anonymous=True,
    locale="zh_CN",
    created_at=datetime(2000, 1, 1, tzinfo=UTC),
)


def _visible_categories(role: Role) -> frozenset[str] | None:
    """The categories this role may see, by petitions.lifecycle.can_view; None for all."""
    seen = frozenset(c.value for c in Category if can_view(role, replace(_PROBE, category=c)))
    return None if len(seen) == len(Category) else seen


def _list_filter(turn: Turn, officer: Officer, which: str) -> CaseFilter | None:
    """Which cases ``/cases WHICH`` shows this officer: who may see what is part of it, so
    the count and the pages are right (may_view, in SQL)."""
    open_states = frozenset(s for s in CaseState if s not in TERMINAL_STATES)
    flt = CaseFilter(
        states=open_states,
        categories=_visible_categories(officer.role),
        viewer_officer_id=officer.id,
        limit=_LIST_PAGE,
    )
    if which == "mine":
        return replace(flt, owner_officer_id=officer.id)
    if which == "unassigned":
        return replace(flt, unassigned=True)
    if which == "overdue":
        return replace(flt, states=OFFICE_DEADLINE_STATES, overdue_at=turn.now)
    if which == "all":
        return replace(flt, states=None)
    return flt if which == "open" else None


async def _list(
    turn: Turn, officer: Officer, which: str, after: CaseCursor | None = None
) -> Reply:
    t = turn.t
    flt = _list_filter(turn, officer, which)
    if flt is None:
        return Reply(t("officer.list_usage"))
    # One more than a page tells whether there is a next one.
    cases = list(await turn.uow.cases.list(replace(flt, after=after, limit=flt.limit + 1)))
    if not cases:
        return Reply(t("officer.list_end") if after else t("officer.list_empty"))
    more, cases = len(cases) > flt.limit, cases[: flt.limit]
    total = await turn.uow.cases.count(flt)
    if after:
        lines = [t("officer.list_header_more", count=total)]
    else:
        lines = [t("officer.list_header", count=total)]
    for c in cases:
        flag = t("admin.overdue_flag") if is_overdue(c, turn.now) else ""
        lines.append(
            t(
                "officer.list_line",
                number=c.number,
                category=t(CATEGORY[c.category]),
                state=t(STATE[c.state]),
                deadline=turn.date(c.deadline_at),
                flag=flag,
            )
        )
    buttons: tuple[tuple[Button, ...], ...] = ()
    if more:
        last = cases[-1]
        assert last.id is not None
        cursor = CaseCursor(last.deadline_at, last.id).to_text()
        buttons = ((Button(t("officer.list_next"), f"o:list:{which}:{cursor}"),),)
    return Reply("\n".join(lines), buttons)
