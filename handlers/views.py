"""How cases look to employees and to officers, and how outbox rows become messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.disclosure import render_disclosure_notice
from handlers.inbound import Button, FileOut, Reply
from handlers.labels import CATEGORY, OUTCOME, RATING, REDIRECT, ROLE, STATE
from handlers.payloads import CaseButton, encode
from handlers.ports import AttachmentInfo, CaseMessage, TimelineEntry, UnitOfWork
from handlers.reception_text import REMINDER as RECEPTION_REMINDER
from handlers.reception_text import render_reminder
from handlers.services import Translate
from handlers.urgent import URGENT_ALERT, render_urgent_alert, urgent_line
from handlers.warnings import (
    WARNING_KINDS,
    card_similar,
    render_warning,
    similar_buttons,
    similar_line,
)
from i18n import N_
from petitions.case import Case
from petitions.collective import LINKABLE_STATES
from petitions.deadlines import OFFICE_DEADLINE_STATES, is_overdue
from petitions.lifecycle import Action, allowed_actions, allowed_office_acts
from petitions.retention import destroyed_at
from petitions.roles import Role
from petitions.states import (
    LADDER_STATES,
    RECHECK_STATES,
    WITHDRAWABLE_STATES,
    CaseState,
    Outcome,
    Redirect,
)

__all__ = [
    "RATING",
    "admin_case_card",
    "admin_case_detail",
    "admin_card_header",
    "done_text",
    "employee_status",
    "finalized_text",
    "followup_buttons",
    "matter_line",
    "render_admin",
    "render_employee",
    "review_unit_line",
    "satisfaction_buttons",
]

# Timeline entries for staff only: who owns a case, ratings and follow-up answers, and a
# lower office's report to the unit that assigned the case down (上报).
STAFF_ONLY_EVENTS = frozenset({"assigned", "rated", "follow_up", "reported"})

_ZONE = ZoneInfo("Asia/Shanghai")
T = Callable[..., str]


def _date(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(_ZONE).strftime("%Y-%m-%d")


def _window_line(t: T, state: CaseState, deadline: datetime | str) -> str:
    """The deadline as the employee needs it: the office's, or their own window to ask for
    the next step (复查 after the answer, 复核 after the 复查)."""
    if state in OFFICE_DEADLINE_STATES:
        return t("view.deadline_office", date=_date(deadline))
    if state is CaseState.RESPONDED:
        return t("view.deadline_review_window", date=_date(deadline))
    if state is CaseState.REVIEWED:
        return t("view.deadline_recheck_window", date=_date(deadline))
    return ""


def _deadline_line(t: T, case: Case) -> str:
    if case.deadline_at is None:
        return ""
    return _window_line(t, case.state, case.deadline_at)


def review_unit_line(t: T, state: CaseState, unit: str | None) -> str | None:
    """Which unit decides the ladder step a case stands at ("由甲公司复查"), or None."""
    if not unit or state not in LADDER_STATES:
        return None
    key = N_("view.recheck_unit") if state in RECHECK_STATES else N_("view.review_unit")
    return t(key, unit=unit)


def finalized_text(t: T) -> str:
    """三级终结, said plainly: the petition channel for this matter has ended, and the legal
    channels that remain, by name."""
    return t(
        "view.finalized",
        arbitration=t(REDIRECT[Redirect.ARBITRATION]),
        court=t(REDIRECT[Redirect.COURT]),
        discipline=t(REDIRECT[Redirect.DISCIPLINE]),
    )


_SUBMITTED_CONFLICT = {
    "leadership": N_("timeline.submitted_leadership"),
    "discipline": N_("timeline.submitted_discipline"),
}


def _event_line(t: T, e: TimelineEntry) -> str:
    d = e.detail
    if e.kind == "submitted":
        # A conflict of interest (handlers/intake.py): why the case went above the unit.
        if d.get("conflict") in _SUBMITTED_CONFLICT:
            return t(_SUBMITTED_CONFLICT[d["conflict"]], date=_date(e.at))
        return t("timeline.submitted", date=_date(e.at))
    if e.kind == "info_added":
        return t("timeline.info_added", date=_date(e.at))
    if e.kind == "leader_reception":
        # That the reception took place; its outcome and the leader's note are staff's.
        return t("timeline.leader_reception", date=_date(e.at))
    if e.kind == "identity_disclosed":
        return t("timeline.identity_disclosed", date=_date(e.at))
    if e.kind == "supervised":
        # 督办: that a unit above supervises; the instruction is staff's (a case message).
        return t("timeline.supervised", date=_date(e.at))
    if e.kind == "assigned_down" and d.get("unit"):
        return t("timeline.assigned_down", date=_date(e.at), unit=d["unit"])
    if e.kind == "reported":
        return t("timeline.reported", date=_date(e.at))
    if e.kind == "collective_linked":  # 集体诉求: never how many, never who else
        return t("timeline.collective_linked", date=_date(e.at))
    if e.kind == "collective_left":
        return t("timeline.collective_left", date=_date(e.at))
    if e.kind == "urgent_cleared":
        return t("timeline.urgent_cleared", date=_date(e.at))
    if e.kind == "rated" and d.get("rating") in RATING:
        return t("timeline.rated", date=_date(e.at), rating=t(RATING[d["rating"]]))
    if e.kind == "follow_up" and "solved" in d:
        key = N_("timeline.follow_up_solved") if d["solved"] else N_("timeline.follow_up_unsolved")
        return t(key, date=_date(e.at))
    if e.kind == "assigned":
        owner = d.get("owner")
        if owner == "leaders":
            # Handed to the office deciding the 复查 / 复核 (by unit when there is a tree).
            recheck = d.get("step") == "recheck"
            if d.get("unit"):
                key = (
                    N_("timeline.assigned_recheck_unit")
                    if recheck
                    else N_("timeline.assigned_review_unit")
                )
                return t(key, date=_date(e.at), unit=d["unit"])
            if recheck:
                return t("timeline.assigned_recheck", date=_date(e.at))
            return t("timeline.assigned_leaders", date=_date(e.at))
        if d.get("reason"):
            return t("timeline.assigned_reason", date=_date(e.at), reason=d["reason"])
        return t("timeline.assigned", date=_date(e.at))
    if e.to_state is None:
        return t("timeline.other", date=_date(e.at))
    line = t("timeline.state", date=_date(e.at), state=t(STATE[e.to_state]))
    return "\n".join([line, *("   " + x for x in _detail_lines(t, d, e.to_state))])


def _detail_lines(t: T, d: Mapping[str, Any], state: CaseState | None = None) -> list[str]:
    """The facts of a transition shown to the employee: unit, days, right channel, reason."""
    lines = []
    if "unit" in d:
        lines.append(t("view.handled_by", unit=d["unit"]))
    deciding = review_unit_line(t, state, d.get("review_unit")) if state else None
    if deciding:
        lines.append(deciding)
    if "redirect" in d:
        lines.append(t("view.redirect", channel=t(REDIRECT[Redirect(d["redirect"])])))
    if "days" in d:
        lines.append(t("view.extended_days", days=d["days"]))
    if "reason" in d:
        lines.append(t("view.reason", reason=d["reason"]))
    return lines


def employee_status(
    t: T, case: Case, events: Sequence[TimelineEntry], messages: Sequence[CaseMessage]
) -> Reply:
    """The case as its employee sees it by tracking code: never officers' names or notes."""
    lines = [
        t("view.case_header", number=case.number or "—"),
        t("view.category", category=t(CATEGORY[case.category])),
        t("view.state", state=t(STATE[case.state])),
    ]
    if case.unit_name:
        lines.append(t("view.handled_by", unit=case.unit_name))
    deciding = review_unit_line(t, case.state, case.review_unit_name)
    if deciding:
        lines.append(deciding)
    deadline = _deadline_line(t, case)
    if deadline:
        lines.append(deadline)
    if case.state is CaseState.FINALIZED:
        lines.append(finalized_text(t))
    lines.append("")
    lines.append(t("view.timeline"))
    lines.extend(_event_line(t, e) for e in events if e.kind not in STAFF_ONLY_EVENTS)
    answers = [m for m in messages if m.kind == "answer"]
    if answers:
        lines.append("")
        lines.append(t("view.answers"))
        lines.extend(t("view.answer_line", date=_date(m.at), text=m.body) for m in answers)
    if case.outcome:
        lines.append(t("view.outcome", outcome=t(OUTCOME[case.outcome])))
    destroyed = destroyed_at(case.description)
    if destroyed is not None:
        lines.append(t("retention.destroyed", date=_date(destroyed)))
    if not case.contact_reachable:
        lines.append(t("view.unreachable_hint"))
    buttons: list[tuple[Button, ...]] = []
    if case.is_open and case.state is not CaseState.NOT_ACCEPTED:
        buttons.append((Button(t("button.add_info"), "cs:add"),))
    # The next lawful step up the ladder, and only that one: 复查 after the answer, 复核
    # after the 复查, nothing after the 复核 (三级终结). Both go through cs:review; the
    # case's state says which (handlers.feedback.request_review).
    if case.state is CaseState.RESPONDED:
        buttons.append((Button(t("button.request_review"), "cs:review"),))
    elif case.state is CaseState.REVIEWED:
        buttons.append((Button(t("button.request_recheck"), "cs:review"),))
    if case.state in WITHDRAWABLE_STATES:
        buttons.append((Button(t("button.withdraw"), "cs:withdraw"),))
    buttons.append((Button(t("button.done"), "cs:done"),))
    return Reply("\n".join(lines), tuple(buttons))


_ACTION_LABEL = {
    Action.ACCEPT: N_("button.o.accept"),
    Action.NOT_ACCEPT: N_("button.o.not_accept"),
    Action.TRANSFER: N_("button.o.transfer"),
    Action.START: N_("button.o.start"),
    Action.EXTEND: N_("button.o.extend"),
    # "正式答复": clearly not the informal message (回复职工) next to it on the card.
    Action.RESPOND: N_("button.o.respond_formal"),
    Action.START_REVIEW: N_("button.o.start_review"),
    Action.COMPLETE_REVIEW: N_("button.o.complete_review"),
    Action.START_RECHECK: N_("button.o.start_recheck"),
    Action.COMPLETE_RECHECK: N_("button.o.complete_recheck"),
    Action.CLOSE: N_("button.o.close"),
    Action.SUPERVISE: N_("button.o.supervise"),
    Action.ASSIGN_DOWN: N_("button.o.assign_down"),
    Action.REPORT: N_("button.o.report"),
}
_MESSAGE_KIND = {
    "employee": N_("admin.msg_employee"),
    "answer": N_("admin.msg_answer"),
    "note": N_("admin.msg_note"),
    "feedback": N_("admin.msg_feedback"),
    # 督办's instruction, 交办's requirements, the lower office's report (staff only).
    "supervision": N_("admin.msg_supervision"),
    "assignment": N_("admin.msg_assignment"),
    "report": N_("admin.msg_report"),
}


def satisfaction_buttons(t: T, token: str) -> tuple[tuple[Button, ...], ...]:
    """One-tap rating of an answer: 满意 / 基本满意 / 不满意."""
    return (
        (
            Button(t("rating.satisfied"), f"fb:{token}:s"),
            Button(t("rating.basic"), f"fb:{token}:b"),
            Button(t("rating.unsatisfied"), f"fb:{token}:u"),
        ),
    )


def followup_buttons(
    t: T, token: str, *, solved: bool = True, retaliation: bool = True
) -> tuple[tuple[Button, ...], ...]:
    """The follow-up's two questions (回头望): solved? retaliation? (those still open)."""
    rows: list[tuple[Button, ...]] = []
    if solved:
        rows.append(
            (
                Button(t("button.fu_solved"), f"fu:{token}:y"),
                Button(t("button.fu_unsolved"), f"fu:{token}:n"),
            )
        )
    if retaliation:
        rows.append(
            (
                Button(t("button.fu_no_retaliation"), f"fu:{token}:r0"),
                Button(t("button.fu_retaliation"), f"fu:{token}:r1"),
            )
        )
    return tuple(rows)


def _supervisable(case: Case, now: datetime) -> bool:
    # 督办 is offered on a card once the step is overdue or already supervised: on every
    # card it would crowd the handling office's own buttons.
    return is_overdue(case, now) or bool(case.supervision_level or case.supervised_until)


def _officer_buttons(t: T, case: Case, now: datetime) -> tuple[tuple[Button, ...], ...]:
    actions: list[Action] = []
    for role in (Role.OFFICER, Role.DISCIPLINE, Role.LEADER):
        for action in allowed_actions(case, role):
            if action in _ACTION_LABEL and action not in actions:
                actions.append(action)
    for role in (Role.OFFICER, Role.DISCIPLINE, Role.LEADER):
        for action in allowed_office_acts(case, role):
            if action is Action.SUPERVISE and not _supervisable(case, now):
                continue
            if action not in actions:
                actions.append(action)
    ref = case.id or 0
    acts = [Button(t(_ACTION_LABEL[a]), encode(CaseButton(a.value, ref))) for a in actions]
    rows = [tuple(acts[i : i + 3]) for i in range(0, len(acts), 3)]
    # The formal acts above; below them, on a row of its own, the informal message (which
    # changes nothing about the case) and the details.
    last = [Button(t("button.o.view"), encode(CaseButton("view", ref)))]
    if not case.state.is_terminal:
        last.insert(0, Button(t("button.o.message"), encode(CaseButton("message", ref))))
    rows.append(tuple(last))
    return tuple(rows)


def _content(t: T, case: Case) -> str:
    """The petition text, or the date its content was destroyed under the retention period."""
    destroyed = destroyed_at(case.description)
    if destroyed is None:
        return case.description
    return t("retention.destroyed", date=_date(destroyed))


def admin_card_header(t: T, case: Case) -> str:
    """A card's title: "new" only while the case is new, its state once it has moved on."""
    if case.state is CaseState.REGISTERED:
        return t("admin.card_header", number=case.number)
    return t("admin.card_header_state", number=case.number, state=t(STATE[case.state]))


def _deadline_lines(t: T, case: Case) -> list[str]:
    # No deadline (a closed case) is no line at all, never "办理期限：—".
    return [t("admin.deadline", date=_date(case.deadline_at))] if case.deadline_at else []


def done_text(t: T, number: str | None, state: CaseState, deadline: datetime | None) -> str:
    """The officer's confirmation of a formal act, with the deadline only when there is one
    (a closed case has none: "办结。", not "办结，期限 —。")."""
    if deadline is None:
        return t("officer.done_no_deadline", number=number, state=t(STATE[state]))
    return t("officer.done", number=number, state=t(STATE[state]), deadline=_date(deadline))


def admin_case_card(
    t: T,
    case: Case,
    attachments: Sequence[AttachmentInfo],
    now: datetime,
    similar: Sequence[tuple[int, str]] = (),
) -> Reply:
    """The case card posted to the admin chat: content, never identity or contact;
    ``similar``: the similar cases (id, number) its reader may see (handlers/warnings.py)."""
    if case.handled_by_discipline:
        if case.deadline_at is None:
            text = t(
                "admin.card_discipline_no_deadline",
                number=case.number,
                date=_date(case.created_at),
            )
        else:
            text = t(
                "admin.card_discipline",
                number=case.number,
                date=_date(case.created_at),
                deadline=_date(case.deadline_at),
            )
        text = "\n".join([text, *_urgent_lines(t, case)])
        view = Button(t("button.o.view"), encode(CaseButton("view", case.id or 0)))
        return Reply(text, ((view,),), case_id=case.id)
    lines = [
        admin_card_header(t, case),
        *_urgent_lines(t, case),
        t("view.category", category=t(CATEGORY[case.category])),
        t("view.state", state=t(STATE[case.state])),
        *_deadline_lines(t, case),
    ]
    if is_overdue(case, now):
        lines.append(t("admin.overdue"))
    if case.unit_name:
        lines.append(t("view.handled_by", unit=case.unit_name))
    lines.extend(_order_lines(t, case))
    if destroyed_at(case.description) is None:
        # A purged case's sealed identity went with its content: no line about sealing.
        lines.append(t("admin.real_name") if case.has_identity else t("admin.anonymous"))
    if attachments:
        lines.append(t("admin.evidence", count=len(attachments)))
    if case.matter_id is not None:
        lines.append(matter_line(t, case))
    if similar:  # 四早: "相似案件 N 件", the numbers, and buttons opening the first ones
        lines.append(similar_line(t, similar))
    lines.extend(["", _content(t, case)])
    buttons = (
        _officer_buttons(t, case, now)
        + similar_buttons(t, similar)
        + _matter_buttons(t, case, bool(similar))
        + _urgent_buttons(t, case)
    )
    return Reply("\n".join(lines), buttons, case_id=case.id)


def matter_line(t: T, case: Case) -> str:
    """集体诉求: how many petitions, the lead and the others' numbers (when read whole)."""
    if not case.matter_cases:
        return t("collective.card_line_short")
    numbers = [n for _i, n in case.matter_cases]
    return t(
        "collective.card_line",
        count=len(numbers),
        lead=numbers[0],
        numbers="、".join(numbers[1:]),
    )


def _matter_buttons(t: T, case: Case, has_similar: bool) -> tuple[tuple[Button, ...], ...]:
    """移出集体诉求 on a member (until it ends); 合并为集体诉求 on a petition with similar
    ones that may still be linked (handlers/collective.py)."""
    ref = case.id or 0
    if case.matter_id is not None:
        if case.state.is_terminal:
            return ()
        return ((Button(t("button.o.unlink"), encode(CaseButton("unlink", ref))),),)
    if has_similar and case.state in LINKABLE_STATES and not case.handled_by_discipline:
        return ((Button(t("button.o.link"), encode(CaseButton("link", ref))),),)
    return ()


def _urgent_buttons(t: T, case: Case) -> tuple[tuple[Button, ...], ...]:
    """解除紧急 on an open urgent case (the leaders may take it: handlers/urgent.py)."""
    if not case.urgent or case.state.is_terminal:
        return ()
    return ((Button(t("button.o.noturgent"), encode(CaseButton("noturgent", case.id or 0))),),)


def _urgent_lines(t: T, case: Case) -> list[str]:
    """紧急 and the kinds of danger sign, right under the title (handlers/urgent.py)."""
    line = urgent_line(t, case)
    return [line] if line else []


def _order_lines(t: T, case: Case) -> list[str]:
    """督办's working deadline and 交办's report due, for staff (never the employee's)."""
    lines = []
    if case.supervised_until is not None:
        lines.append(
            t(
                "admin.supervised_line",
                date=_date(case.supervised_until),
                count=case.supervision_count,
            )
        )
    if case.report_due_at is not None:
        by = case.assigned_by_unit_name or t("admin.unit_above")
        lines.append(t("admin.report_due_line", unit=by, date=_date(case.report_due_at)))
    return lines


def admin_case_detail(
    t: T,
    case: Case,
    events: Sequence[TimelineEntry],
    messages: Sequence[CaseMessage],
    attachments: Sequence[tuple[AttachmentInfo, bytes]],
    now: datetime,
    similar: Sequence[tuple[int, str]] = (),
) -> list[Reply]:
    """Everything about a case for staff who may view it: card, timeline, messages, files
    (``similar``: the similar cases this viewer may see)."""
    card = admin_case_card(t, case, [a for a, _ in attachments], now, similar)
    if case.handled_by_discipline:
        lines = [
            admin_card_header(t, case),
            t("view.category", category=t(CATEGORY[case.category])),
            t("view.state", state=t(STATE[case.state])),
            *_deadline_lines(t, case),
            "",
            _content(t, case),
        ]
        card = Reply("\n".join(lines), _officer_buttons(t, case, now), case_id=case.id)
    lines = [t("view.timeline")]
    for e in events:
        who = t(ROLE[e.actor_role])
        lines.append(f"{_event_line(t, e)} ({who})")
    for m in messages:
        lines.append(t(_MESSAGE_KIND[m.kind], date=_date(m.at), text=m.body))
    files = tuple(
        FileOut(a.kind, a.name, a.mime, data, attachment_id=a.id, size=a.size)
        for a, data in attachments
    )
    return [card, Reply("\n".join(lines), files=files, case_id=case.id)]


def render_employee(t: Translate, kind: str, payload: dict[str, Any]) -> Reply:
    """Turn an employee outbox row into the message to send, in the employee's language."""
    loc = payload.get("locale")

    def tr(key: str, **params: Any) -> str:
        return t(key, loc, **params)

    number = payload.get("number", "—")
    if kind == "answer":
        return Reply(tr("push.answer", number=number, text=payload["text"]))
    if kind == "follow_up":
        return Reply(
            tr("push.follow_up", number=number), followup_buttons(tr, str(payload["token"]))
        )
    if kind == RECEPTION_REMINDER:  # 领导接访, the day before (handlers/reception.py)
        return render_reminder(tr, payload)
    if kind == "supervised":
        # 督办: that a unit above supervises the case; not the instruction, not the
        # office's working deadline (the statutory one the employee knows stays).
        return Reply("\n".join((tr("push.supervised", number=number), tr("push.check_hint"))))
    if kind in ("collective", "collective_left"):
        # 集体诉求: handled together with others of the same matter (or alone again); the
        # employee's code, rating and review rights stay theirs. Nothing about the others.
        key = N_("push.collective") if kind == "collective" else N_("push.collective_left")
        return Reply("\n".join((tr(key, number=number), tr("push.check_hint"))))
    if kind == "assigned_down":  # 交办: the unit now handling the case, by name
        text = tr("push.assigned_down", number=number, unit=payload.get("unit") or "—")
        return Reply("\n".join((text, tr("push.check_hint"))))
    if kind == "disclosure":
        return Reply(
            tr(
                "push.disclosure",
                number=number,
                date=_date(payload["at"]),
                role=tr(ROLE[Role(payload["role"])]),
                reason=payload["reason"],
            )
        )
    state = CaseState(payload["state"])
    lines = [tr("push.status", number=number, state=tr(STATE[state]))]
    lines.extend(_detail_lines(tr, payload, state))
    if "outcome" in payload:
        lines.append(tr("view.outcome", outcome=tr(OUTCOME[Outcome(payload["outcome"])])))
    if "text" in payload:
        lines.append(tr("push.answer_text", text=payload["text"]))
    if payload.get("deadline"):
        window = _window_line(tr, state, payload["deadline"])
        if window:
            lines.append(window)
    if state is CaseState.FINALIZED:
        lines.append(finalized_text(tr))
    if payload.get("auto"):
        lines.append(tr("push.auto_closed"))
    lines.append(tr("push.check_hint"))
    if payload.get("survey"):
        lines.append(tr("push.rate_hint"))
        return Reply("\n".join(lines), satisfaction_buttons(tr, str(payload["survey"])))
    return Reply("\n".join(lines))


async def render_admin(
    uow: UnitOfWork,
    t: Translate,
    locale: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    with_file_data: bool = True,
) -> list[Reply]:
    """Turn an admin outbox row into messages for the admin chat (without evidence bytes
    when ``with_file_data`` is false: the channel fetches files by attachment id)."""

    def tr(key: str, **params: Any) -> str:
        return t(key, locale, **params)

    if kind == "digest":
        return [_digest(tr, payload)]
    case_id = payload.get("case_id")
    case = await uow.cases.get(int(case_id)) if case_id is not None else None
    if case is None:
        return []
    named = payload.get("leaders")
    mention = await _leaders_line(uow, tr, named) if named else None
    if kind in WARNING_KINDS:  # 四早: a cluster or a spike (handlers/warnings.py)
        alert = render_warning(tr, kind, payload)
        return [replace(alert, text=_with(alert.text, mention))]
    if kind == URGENT_ALERT:  # 四早: a danger sign at submission (handlers/urgent.py)
        alert = render_urgent_alert(tr, case, payload)
        return [replace(alert, text=_with(alert.text, mention))]
    number = case.number
    if kind == "case_card":
        infos = await uow.attachments.list(case.id or 0)
        card = admin_case_card(tr, case, infos, now, await card_similar(uow, case))
        if case.handled_by_discipline:
            return [card]  # evidence of a report stays with the discipline role
        files = []
        for info in infos:
            if not with_file_data:
                # A reference only: the bytes are neither decrypted nor held in memory.
                ref = FileOut(info.kind, info.name, info.mime, b"", info.id, info.size)
                files.append(ref)
                continue
            item = await uow.attachments.data(info.id)
            if item is not None:
                data = item[1]
                files.append(FileOut(info.kind, info.name, info.mime, data, info.id, len(data)))
        return [replace(card, files=tuple(files))]
    if kind == "disclosure_request":
        return [render_disclosure_notice(t, locale, payload, number or "—")]
    if kind == "case_info":
        return [Reply(tr("admin.info_added", number=number), case_id=case.id)]
    if kind == "case_withdrawn":
        return [Reply(tr("admin.withdrawn", number=number), case_id=case.id)]
    if kind == "review_requested":
        return [Reply(_with(_review_requested(tr, payload, number), mention), case_id=case.id)]
    if kind in ("reminder", "overdue"):
        key = N_("admin.reminder") if kind == "reminder" else N_("admin.overdue_alert")
        text = tr(
            key,
            number=number,
            state=tr(STATE[CaseState(payload["state"])]),
            deadline=_date(payload["deadline"]),
            owner=payload.get("owner") or tr("admin.owner_none"),
        )
        # The leaders an overdue alert reaches may 督办 from it.
        buttons = _supervise_button(tr, case) if kind == "overdue" else ()
        return [Reply(_with(text, mention), buttons, case_id=case.id)]
    if kind in _ORDER_KINDS:
        return [_order_message(tr, kind, payload, case, mention)]
    if kind == "retaliation":
        if "source" in payload:
            text = tr("admin.retaliation", number=number, source=payload["source"])
        else:
            text = tr("admin.retaliation_hidden", number=number)
        return [Reply(_with(text, mention), case_id=case.id)]
    if kind == "unsolved":
        return [Reply(_with(tr("admin.unsolved", number=number), mention), case_id=case.id)]
    if kind == "rated":
        rating = tr(RATING.get(str(payload.get("rating")), "rating.unsatisfied"))
        return [Reply(tr("admin.rated", number=number, rating=rating), case_id=case.id)]
    if kind == "feedback_comment":
        return [Reply(tr("admin.feedback_comment", number=number), case_id=case.id)]
    return [Reply(tr("admin.case_changed", number=number), case_id=case.id)]


_ORDER_KINDS = frozenset(
    {"supervised", "supervision_overdue", "assigned_down", "reported", "report_overdue"}
)


def _supervise_button(tr: T, case: Case) -> tuple[tuple[Button, ...], ...]:
    label = tr(_ACTION_LABEL[Action.SUPERVISE])
    return ((Button(label, encode(CaseButton(Action.SUPERVISE.value, case.id or 0))),),)


def _order_message(
    tr: T, kind: str, payload: Mapping[str, Any], case: Case, mention: str | None
) -> Reply:
    """督办 and 交办 in the admin chats (handlers/supervision.py, handlers/scheduling.py)."""
    number = case.number
    by = payload.get("by") or tr("admin.unit_above")
    text = str(payload.get("text") or "")
    buttons: tuple[tuple[Button, ...], ...] = ()
    if kind == "supervised":
        body = tr(
            "admin.supervised", number=number, by=by, date=_date(payload.get("until")), text=text
        )
    elif kind == "supervision_overdue":
        body = tr(
            "admin.supervision_overdue",
            number=number,
            state=tr(STATE[CaseState(payload["state"])]),
            until=_date(payload.get("until")),
            deadline=_date(payload.get("deadline")),
            owner=payload.get("owner") or tr("admin.owner_none"),
        )
        buttons = _supervise_button(tr, case)
    elif kind == "assigned_down":
        unit = payload.get("unit") or "—"
        date = _date(payload.get("due"))
        body = tr("admin.assigned_down", number=number, by=by, unit=unit, date=date, text=text)
        label = tr(_ACTION_LABEL[Action.REPORT])
        buttons = ((Button(label, encode(CaseButton(Action.REPORT.value, case.id or 0))),),)
    elif kind == "reported":
        body = tr("admin.reported", number=number, by=by, text=text)
    else:
        unit = payload.get("unit") or "—"
        body = tr("admin.report_overdue", number=number, unit=unit, date=_date(payload.get("due")))
    return Reply(_with(body, mention), buttons, case_id=case.id)


def _review_requested(tr: T, payload: Mapping[str, Any], number: str | None) -> str:
    # Which step was asked for, and which unit's office decides it (no unit: the one office).
    unit = payload.get("review_unit")
    if payload.get("step") == "recheck":
        if unit:
            return tr("admin.recheck_requested_unit", number=number, unit=unit)
        return tr("admin.recheck_requested", number=number)
    if unit:
        return tr("admin.review_requested_unit", number=number, unit=unit)
    return tr("admin.review_requested", number=number)


def _with(text: str, mention: str | None) -> str:
    return f"{text}\n{mention}" if mention else text


async def _leaders_line(uow: UnitOfWork, tr: T, units: object) -> str:
    """The "请领导关注：…" line: the active leaders of the units the message is for (a list
    of unit ids), or every leader (True: rows of a deployment without units, or older)."""
    wanted = {int(u) for u in units} if isinstance(units, list) else None
    names = [
        o.name
        for o in await uow.officers.list()
        if o.role is Role.LEADER and o.active and (wanted is None or o.unit_id in wanted)
    ]
    if not names:
        return tr("admin.leaders_role")
    return tr("admin.leaders_named", names="、".join(names))


def _digest(tr: T, payload: dict[str, Any]) -> Reply:
    items = list(payload.get("items") or [])
    lines = [
        tr(
            "admin.digest_header",
            date=str(payload.get("date", "")),
            due=int(payload.get("due_soon", 0)),
            overdue=int(payload.get("overdue", 0)),
        )
    ]
    for item in items:
        lines.append(
            tr(
                "admin.digest_line",
                number=item["number"],
                state=tr(STATE[CaseState(item["state"])]),
                deadline=_date(item["deadline"]),
                owner=item.get("owner") or tr("admin.owner_none"),
                flag=tr("admin.overdue_flag") if item.get("overdue") else "",
            )
        )
    if payload.get("audit_head"):
        lines.append(tr("admin.digest_audit_head", head=str(payload["audit_head"])))
    return Reply("\n".join(lines))
