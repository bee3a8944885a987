"""The officers' side: routing of their commands and buttons, and the use cases that are
not formal acts (lists, views, ownership, notes, statistics).

Commands (in the admin chat, or in a private chat with the bot on channels without one):
``/cases [open|mine|unassigned|overdue|all]`` (or 在办|我的|未分配|超期|全部), ``/case REF``,
``/take REF [REASON]``, ``/accept REF``, ``/reject REF CHANNEL REASON``,
``/transfer REF UNIT REASON``, ``/begin REF``, ``/extend REF DAYS REASON``,
``/respond REF OUTCOME TEXT``, ``/reviewstart REF``, ``/reviewdone REF OUTCOME TEXT``,
``/recheckstart REF``, ``/recheckdone REF OUTCOME TEXT`` (复核; the review steps only by the
office of the unit deciding them), ``/close REF``, ``/note REF TEXT``, ``/answer REF TEXT``,
``/assign REF OFFICER_ID REASON``, ``/stats [FROM [TO]]``, ``/slots [新增 …]`` (领导接访,
leaders only: handlers/reception.py), ``/supervise REF DAYS TEXT`` (督办, leaders above the
office of the step), ``/assigndown REF UNIT DAYS REASON`` (交办 to a unit below) and
``/report REF TEXT`` (上报办理情况 to the unit that assigned it down; handlers/supervision.py),
``/warnings`` (四早: current clusters and spikes of the officer's part of the group;
handlers/warnings.py), ``/collective REF [REF …]`` (集体诉求: link the petitions as one
matter; one REF: with its similar petitions) and ``/separate REF`` (移出集体诉求;
handlers/collective.py), ``/noturgent REF`` (解除紧急, the leaders; handlers/urgent.py).
REF is a case number or id; values may be typed in Chinese or English
(``/respond XF-2026-000123 支持 …``). A complete command applies at once; one with fields
missing, and every case-card button, opens the act's guided form with a preview
(handlers/forms.py). Every action is checked against the officer's role and audited.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from handlers.access import may_view, scoped_filter
from handlers.acts import check_act, perform_act, resolve_case, send_message
from handlers.collective import (
    check_collective,
    link_alert,
    link_cases,
    link_similar_of,
    unlink_case,
)
from handlers.disclosure import DISCLOSURE_COMMANDS, handle_disclosure, is_disclosure_input
from handlers.forms import (
    FORMS,
    WrongValue,
    fields_from,
    handle_form,
    read_field,
    start_form,
    start_message,
)
from handlers.inbound import Button, Reply
from handlers.labels import CASE_LIST_ALIASES, CASE_LIST_WORD, CATEGORY, STATE, match_word
from handlers.payloads import (
    CaseButton,
    ListPage,
    MatterButton,
    Payload,
    ReceptionButton,
    encode,
    parse,
)
from handlers.ports import COUNT_CAP, CaseCursor, CaseFilter, Officer
from handlers.reception import STEP_PREFIX as RECEPTION_STEP
from handlers.reception import (
    handle_reception_button,
    handle_reception_text,
    handle_slots_command,
)
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.urgent import clear_urgent
from handlers.views import admin_case_detail
from handlers.warnings import viewer_similar, warnings_command
from i18n import LOCALES
from petitions.case import Case
from petitions.deadlines import OFFICE_DEADLINE_STATES, OFFICE_ZONE, is_overdue
from petitions.errors import InvalidField, MissingField, NotPermitted
from petitions.lifecycle import MAX_TEXT, Action, rule_for
from petitions.roles import Role
from petitions.states import TERMINAL_STATES, CaseState

__all__ = ["OFFICER_COMMANDS", "handle_officer", "parse_command", "stats_period"]

OFFICER_COMMANDS = (
    frozenset(
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
            "recheckstart",
            "recheckdone",
            "close",
            "note",
            "answer",
            "ohelp",
            "assign",
            "stats",
            "slots",  # 领导接访: handlers/reception.py
            "warnings",  # 四早: clusters and spikes (handlers/warnings.py)
            # 集体诉求: link petitions as one matter, take one out (handlers/collective.py)
            "collective",
            "separate",
            "noturgent",  # 解除紧急 (handlers/urgent.py)
            # 督办, 交办, 上报: handlers/supervision.py
            "supervise",
            "assigndown",
            "report",
        }
    )
    | DISCLOSURE_COMMANDS
)  # custodians: /disclosures, /approve_disclosure REQ

_COMMAND_ACTION = {
    "accept": Action.ACCEPT,
    "reject": Action.NOT_ACCEPT,
    "transfer": Action.TRANSFER,
    "begin": Action.START,
    "extend": Action.EXTEND,
    "respond": Action.RESPOND,
    "reviewstart": Action.START_REVIEW,
    "reviewdone": Action.COMPLETE_REVIEW,
    "recheckstart": Action.START_RECHECK,
    "recheckdone": Action.COMPLETE_RECHECK,
    "close": Action.CLOSE,
    "supervise": Action.SUPERVISE,
    "assigndown": Action.ASSIGN_DOWN,
    "report": Action.REPORT,
}
# Positional arguments after REF, in the order a command takes them (the last takes the
# rest of the line).
_COMMAND_ARGS: dict[Action, tuple[str, ...]] = {
    Action.NOT_ACCEPT: ("redirect", "reason"),
    Action.TRANSFER: ("destination", "reason"),
    Action.EXTEND: ("extension_days", "reason"),
    Action.RESPOND: ("outcome", "text"),
    Action.COMPLETE_REVIEW: ("outcome", "text"),
    Action.COMPLETE_RECHECK: ("outcome", "text"),
    Action.SUPERVISE: ("days", "instruction"),
    Action.ASSIGN_DOWN: ("destination", "days", "reason"),
    Action.REPORT: ("report",),
}
_OFFICER_BUTTONS = ("o:", "oo:", "or:")
# The petitions one /collective links at most (a cluster is rarely larger; a flood is not).
_MAX_LINKED = 50


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """Split ``/cmd@bot arg ...`` into the command name and its words."""
    if not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.split()


async def handle_officer(turn: Turn, officer: Officer) -> list[Reply]:
    """Handle one input from a registered officer."""
    inbound = turn.inbound
    parsed = parse_command(inbound.text.strip()) if inbound.text is not None else None
    if is_disclosure_input(parsed[0] if parsed else None, inbound.button):
        return await handle_disclosure(
            turn, officer, parsed[0] if parsed else None, parsed[1] if parsed else []
        )
    if inbound.button and inbound.button.startswith(_OFFICER_BUTTONS):
        payload = parse(inbound.button)
        if payload is None:
            return [Reply(turn.t("error.stale"))]
        return await _button(turn, officer, payload)
    text = inbound.text
    if text is not None:
        if parsed and parsed[0] == "cancel" and turn.step.startswith("officer."):
            await turn.end()
            return [Reply(turn.t("officer.cancelled"))]
        if parsed and parsed[0] in OFFICER_COMMANDS:
            return await _command(turn, officer, parsed[0], parsed[1])
        if turn.step.startswith(RECEPTION_STEP):
            return await handle_reception_text(turn, officer)
        if turn.step.startswith("officer."):
            return await handle_form(turn, officer, None)
        if inbound.case_ref is not None and inbound.in_admin_chat:
            # A reply to a case's message in the admin chat is an explicit (informal) answer.
            case = await resolve_case(turn, officer, str(inbound.case_ref))
            return await send_message(turn, officer, case, clean_text(text))
        if inbound.unmapped_reply and inbound.in_admin_chat:
            return [Reply(turn.t("officer.reply_not_sent"))]
    # Anything else in the admin chat is the officers' own conversation.
    return []


async def _button(turn: Turn, officer: Officer, payload: Payload) -> list[Reply]:
    if isinstance(payload, ListPage):
        after = CaseCursor.from_text(payload.cursor)
        if payload.which not in _LISTS or after is None:
            return [Reply(turn.t("error.stale"))]
        return [await _list(turn, officer, payload.which, after)]
    if isinstance(payload, ReceptionButton):
        return await handle_reception_button(turn, officer, payload)
    if isinstance(payload, MatterButton):
        return await link_alert(turn, officer, payload.alert_id)
    if not isinstance(payload, CaseButton):
        return await handle_form(turn, officer, payload)  # a form's own buttons
    case = await resolve_case(turn, officer, str(payload.case_id))
    if payload.verb == "view":
        return await _view(turn, officer, case)
    if payload.verb == "take":
        return await _take(turn, officer, case)
    if payload.verb == "message":
        return await start_message(turn, officer, case)
    if payload.verb == "link":
        return await link_similar_of(turn, officer, case)
    if payload.verb == "unlink":
        return await unlink_case(turn, officer, case)
    if payload.verb == "noturgent":
        return await clear_urgent(turn, officer, case)
    try:
        action = Action(payload.verb)
    except ValueError:
        return [Reply(turn.t("error.stale"))]
    if action not in FORMS:
        return [Reply(turn.t("error.stale"))]
    return await start_form(turn, officer, case, action)


async def _command(turn: Turn, officer: Officer, name: str, words: list[str]) -> list[Reply]:
    t = turn.t
    if name == "ohelp":
        lines = (
            t("officer.help"),
            t("officer.help_ladder"),
            t("officer.help_supervision"),
            t("warnings.help"),
            t("collective.help"),
        )
        return [Reply("\n".join(lines))]
    if name == "cases":
        which = _list_key(turn, words[0]) if words else "open"
        if which is None:
            return [Reply(t("officer.list_usage"))]
        return [await _list(turn, officer, which)]
    if name == "stats":
        return await _stats(turn, officer, words)
    if name == "slots":
        return await handle_slots_command(turn, officer, words)
    if name == "warnings":
        return await warnings_command(turn, officer)
    if not words:
        return [Reply(t("officer.need_ref"))]
    if name == "collective":
        check_collective(officer)
        cases = [await resolve_case(turn, officer, ref) for ref in words[:_MAX_LINKED]]
        if len(cases) == 1:
            return await link_similar_of(turn, officer, cases[0])
        return await link_cases(turn, officer, cases)
    case = await resolve_case(turn, officer, words[0])
    if name == "separate":
        return await unlink_case(turn, officer, case)
    if name == "noturgent":
        return await clear_urgent(turn, officer, case)
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
        return await send_message(turn, officer, case, body)
    return await _typed_act(turn, officer, case, _COMMAND_ACTION[name], rest)


async def _typed_act(
    turn: Turn, officer: Officer, case: Case, action: Action, words: list[str]
) -> list[Reply]:
    """A formal act typed as a command: applied at once when complete, else its form."""
    names = _COMMAND_ARGS.get(action, ())
    raw: dict[str, str] = {}
    for i, field in enumerate(names):
        if i == len(names) - 1:
            joined = " ".join(words[i:])
            if joined:
                raw[field] = joined
        elif i < len(words):
            raw[field] = words[i]
    # Who may act, and on a case in which state, before what they typed is judged.
    check_act(turn, officer, case, action)
    try:
        values = {field: read_field(turn, field, text) for field, text in raw.items()}
    except WrongValue as wrong:
        return [Reply(wrong.text)]
    fields = fields_from(values)
    if all(getattr(fields, f) not in (None, "") for f in rule_for(action).required):
        return await perform_act(turn, officer, case, action, fields)
    return await start_form(turn, officer, case, action, fields)


def _list_key(turn: Turn, word: str) -> str | None:
    """The list ``/cases WORD`` names, in Chinese or English."""
    options = {
        key: [key, *(turn.services.t(msg, loc) for loc in LOCALES), *CASE_LIST_ALIASES[key]]
        for key, msg in CASE_LIST_WORD.items()
    }
    return match_word(word, options)


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
    # The similar cases this officer may see (a count over the others would reveal them).
    similar = (await viewer_similar(uow, officer, [case.id])).get(case.id, ())
    return admin_case_detail(
        turn.t,
        case,
        await uow.cases.events(case.id),
        await uow.cases.messages(case.id),
        files,
        turn.now,
        similar,
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
        detail={"previous_owner": previous},  # the reason stays with the case's content
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
    if target is None or not target.active or not may_view(target, case):
        return [Reply(turn.t("officer.assign_unknown"))]
    previous = case.owner_officer_id
    case.owner_officer_id = target.id
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
        detail={"owner": target.id, "previous_owner": previous},
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
    # Figures of the officer's part of the group only (the root office's scope is None).
    return await reporter(
        turn.uow,
        period[0],
        period[1],
        turn.locale,
        turn.now,
        unit_id=officer.unit_id if officer.scope is not None else None,
        scope=officer.scope,
    )


async def _note(turn: Turn, officer: Officer, case: Case, body: str) -> list[Reply]:
    assert case.id is not None
    await turn.uow.cases.add_message(case.id, "note", body, turn.now, officer.id)
    await turn.uow.audit.add(
        turn.now, officer.role, "case.note", actor_officer_id=officer.id, case_id=case.id
    )
    return [Reply(turn.t("officer.noted", number=case.number), case_id=case.id)]


_LIST_PAGE = 30
_LISTS = frozenset({"open", "mine", "unassigned", "overdue", "all"})


def _list_filter(turn: Turn, officer: Officer, which: str) -> CaseFilter | None:
    """Which cases ``/cases WHICH`` shows this officer: who may see what is part of it, so
    the count and the pages are right (may_view, in SQL)."""
    open_states = frozenset(s for s in CaseState if s not in TERMINAL_STATES)
    flt = scoped_filter(officer, states=open_states, limit=_LIST_PAGE)
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
    # Counted up to the cap: past it the header says "more than 10,000" (any size, one cost).
    total = await turn.uow.cases.count(flt, cap=COUNT_CAP + 1)
    if total > COUNT_CAP:
        over = f"{COUNT_CAP:,}"
        if after:
            lines = [t("officer.list_header_more_over", count=over)]
        else:
            lines = [t("officer.list_header_over", count=over)]
    elif after:
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
        page = encode(ListPage(which, cursor))
        buttons = ((Button(t("officer.list_next"), page),),)
    return Reply("\n".join(lines), buttons)
