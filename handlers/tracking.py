"""Everything an employee does with a tracking code: status, adding information,
asking for a review, withdrawing, booking a leader's reception (handlers/reception.py).
Wrong codes are throttled per sender."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from handlers.feedback import request_review, requested_text, review_texts
from handlers.inbound import Button, Reply
from handlers.intake import (
    check_file,
    pending_file_reply,
    removed_text,
    selfid_findings,
    selfid_lines,
    voice_note_due,
)
from handlers.labels import ERRORS
from handlers.notify import notify_admins
from handlers.ports import TimelineEntry
from handlers.reception import booking_status, handle_booking, is_booking_input
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.views import employee_status
from petitions.case import Case
from petitions.codes import normalize_tracking_code
from petitions.deadlines import DeadlinePolicy
from petitions.errors import InvalidTrackingCode, InvalidTransition, ReviewWindowClosed
from petitions.lifecycle import TRANSITIONS, Action, Fields, apply
from petitions.notices import NoticeKind, notice_kind_for, notice_number
from petitions.roles import Role
from petitions.selfid import mask
from petitions.states import CaseState

__all__ = ["ask_code", "handle_tracking", "lookup"]


def _failure_key(turn: Turn) -> str:
    return f"track-fail:{turn.inbound.channel}:{turn.inbound.sender_id}"


async def ask_code(turn: Turn) -> list[Reply]:
    """Ask for a tracking code."""
    await turn.goto("track.code", {})
    return [Reply(turn.t("track.ask_code"))]


async def lookup(turn: Turn, typed: str) -> list[Reply]:
    """Show a case's status by tracking code, or say clearly why not."""
    cfg = turn.services.config
    key = _failure_key(turn)
    try:
        code: str | None = normalize_tracking_code(typed)
    except InvalidTrackingCode:
        code = None
    case = None
    if code is None:
        failures = await turn.uow.limits.count(key, cfg.tracking_window, turn.now)
    else:  # the sender's failures and the case in one read: this runs for every look-up
        failures, case = await turn.uow.cases.lookup(code, key, cfg.tracking_window, turn.now)
    # Throttled first, whatever was typed: a sender over the limit learns nothing more.
    if failures >= cfg.tracking_failures:
        minutes = int(cfg.tracking_window.total_seconds() // 60)
        return [Reply(turn.t("track.throttled", minutes=minutes))]
    if code is None:
        await turn.uow.limits.hit(key, cfg.tracking_window, turn.now)
        return [Reply(turn.t("track.malformed"))]
    if case is None:
        used = await turn.uow.limits.hit(key, cfg.tracking_window, turn.now)
        left = cfg.tracking_failures - used
        return [Reply(turn.t("track.not_found", left=max(left, 0)))]
    await turn.goto("track.case", {"case_id": case.id})
    return [await _status(turn, case)]


# The state each notice-issuing act leaves a case in: a transition into it on the timeline
# means the notice was issued (bot/notices/issue.py reads the timeline the same way).
_NOTICE_OF_STATE: dict[CaseState, NoticeKind] = {
    rule.target: kind for rule in TRANSITIONS if (kind := notice_kind_for(rule.action)) is not None
}
# Channels whose chat shows the issued notices as download links under the status of a
# case opened by its code (bot/web/employee.py, ``_notices``). Telegram and WeCom have no
# such path: there the employee is sent to the petition office.
_NOTICE_LINK_CHANNELS = frozenset({"web"})


async def _status(turn: Turn, case: Case) -> Reply:
    assert case.id is not None
    # Timeline, messages and booking in one read: this runs for every look-up by code.
    history = await turn.uow.cases.history(case.id)
    events = history.events
    status = employee_status(turn.t, case, events, history.messages)
    status = await _with_reception(turn, case, status, history.booked_slot_id)
    line = _notices_line(turn, case, events)
    if line is None:
        return status
    # After the facts and answers, before the buttons: where the written notices are.
    return replace(status, text=f"{status.text}\n{line}")


async def _with_reception(
    turn: Turn, case: Case, status: Reply, booked_slot_id: int | None
) -> Reply:
    """领导接访 (handlers/reception.py): the active booking's line, and the button to book
    or to cancel it, above 完成."""
    line, row = await booking_status(turn, case, booked_slot_id)
    text = f"{status.text}\n{line}" if line else status.text
    buttons = (*status.buttons[:-1], row, *status.buttons[-1:]) if row else status.buttons
    return replace(status, text=text, buttons=buttons)


def _notices_line(turn: Turn, case: Case, events: Sequence[TimelineEntry]) -> str | None:
    """Where a "code only" petitioner obtains the notices issued for the case; None when
    nothing was issued or the notices were pushed with the status messages."""
    if case.push_updates or case.number is None:
        return None
    kinds: list[NoticeKind] = []
    for event in events:
        kind = _NOTICE_OF_STATE.get(event.to_state) if event.to_state else None
        if event.kind == "transition" and kind is not None and kind not in kinds:
            kinds.append(kind)
    if not kinds:
        return None
    t = turn.t
    notices = t("form.separator").join(notice_number(case.number, k) for k in kinds)
    if turn.inbound.channel in _NOTICE_LINK_CHANNELS:
        return t("track.notices_below", notices=notices)
    return t("track.notices_ask", notices=notices, number=case.number)


async def handle_tracking(turn: Turn) -> list[Reply]:
    """Handle input while the employee has a case open by its code."""
    t, inbound, step = turn.t, turn.inbound, turn.step
    if step == "track.code":
        if inbound.text is None:
            return [Reply(t("track.ask_code"))]
        return await lookup(turn, inbound.text)

    case_id = turn.draft.get("case_id")
    case = await turn.uow.cases.get(int(case_id), for_update=True) if case_id else None
    if case is None:
        await turn.end()
        return [Reply(t("error.stale"))]
    button = inbound.button

    if button == "cs:done":
        await turn.end()
        return [Reply(t("track.closed_view"))]
    if button == "cs:back":
        await turn.goto("track.case")
        return [await _status(turn, case)]
    if is_booking_input(turn):
        return await handle_booking(turn, case)

    if step == "track.case":
        if button == "cs:add":
            if not case.is_open:
                return [Reply(t("track.case_closed"))]
            await turn.goto("track.add")
            return [Reply(t("track.ask_info"), ((Button(t("button.back"), "cs:back"),),))]
        if button == "cs:withdraw":
            await turn.goto("track.withdraw")
            return [
                Reply(
                    t("track.confirm_withdraw"),
                    (
                        (Button(t("button.withdraw_confirm"), "cs:withdraw_yes"),),
                        (Button(t("button.back"), "cs:back"),),
                    ),
                )
            ]
        if button == "cs:review":
            await turn.goto("track.review")
            # 复查 after the answer, 复核 after the 复查: the question names the step.
            ask = review_texts(case.state)[0]
            return [Reply(t(ask), ((Button(t("button.back"), "cs:back"),),))]
        return [await _status(turn, case)]

    if step in ("track.add", "track.selfid"):
        return await _add_info(turn, case)

    if step == "track.withdraw" and button == "cs:withdraw_yes":
        record = apply(case, Action.WITHDRAW, Role.EMPLOYEE, Fields(), turn.stamp, _policy(turn))
        await _record(turn, case, record.from_state, "withdraw")
        await notify_admins(turn, case, "case_withdrawn", {})
        await turn.end()
        return [Reply(t("track.withdrawn", number=case.number))]

    if step == "track.review":
        if inbound.text is None:
            return [Reply(t(review_texts(case.state)[0]))]
        reason = clean_text(inbound.text)
        try:
            await request_review(turn, case, reason)
        except (InvalidTransition, ReviewWindowClosed) as error:
            # No reason can make this request possible: back to the case, not the question.
            await turn.goto("track.case")
            return [Reply(t(ERRORS[error.code]))]
        await turn.goto("track.case")
        return [Reply(requested_text(turn, case))]

    return [await _status(turn, case)]


def _policy(turn: Turn) -> DeadlinePolicy:
    return turn.services.config.policy


async def _record(
    turn: Turn,
    case: Case,
    from_state: CaseState,
    action: str,
    detail: dict[str, str] | None = None,
) -> None:
    assert case.id is not None
    await turn.uow.cases.save(case)
    await turn.uow.cases.add_event(
        case.id,
        "transition",
        turn.stamp,
        Role.EMPLOYEE,
        from_state=from_state,
        to_state=case.state,
        detail=detail,
    )
    await turn.uow.audit.add(turn.stamp, Role.EMPLOYEE, f"case.{action}", case_id=case.id)


async def _add_info(turn: Turn, case: Case) -> list[Reply]:
    t, inbound, cfg = turn.t, turn.inbound, turn.services.config
    assert case.id is not None
    if not case.is_open:
        await turn.end()
        return [Reply(t("track.case_closed"))]
    if inbound.button and inbound.button.startswith("pf:"):
        return await _pending_file(turn, case, inbound.button)
    if inbound.button and inbound.button.startswith("sid:"):
        return await _selfid_choice(turn, case, inbound.button)
    if inbound.file is not None:
        existing = len(await turn.uow.attachments.list(case.id))
        if existing >= cfg.max_files * 2:
            return [Reply(t("intake.too_many_files", max=cfg.max_files * 2))]
        checked = await check_file(turn, inbound.file, existing + 1)
        if isinstance(checked, Reply):
            return [checked]
        pending = checked.status == "unscrubbable"
        attachment_id = await turn.uow.attachments.add(
            case.id, checked.file, turn.stamp, pending=pending
        )
        if pending:
            note = voice_note_due(turn, inbound.file)
            await turn.goto("track.add")
            return [pending_file_reply(turn, attachment_id, note)]
        return await _info_recorded(turn, case, removed=checked.removed)
    if inbound.text is not None:
        body = clean_text(inbound.text)
        if not body:
            return [Reply(t("track.ask_info"))]
        if len(body) > cfg.max_message:
            return [Reply(t("intake.too_long", length=len(body), max=cfg.max_message))]
        findings = selfid_findings(turn, body) if case.anonymous else []
        if findings:
            # Held in the (encrypted) draft until the employee decides what to do.
            await turn.goto("track.selfid", {"case_id": case.id, "text": body})
            return [_selfid_question(turn, body)]
        await turn.uow.cases.add_message(case.id, "employee", body, turn.stamp, None)
        await turn.uow.search.index(case.id, body)  # the ledger's search
        return await _info_recorded(turn, case)
    return [Reply(t("track.ask_info"))]


def _selfid_question(turn: Turn, body: str) -> Reply:
    t = turn.t
    return Reply(
        t("selfid.found", items=selfid_lines(turn, body, selfid_findings(turn, body))),
        (
            (Button(t("button.selfid_mask"), "sid:mask"),),
            (Button(t("button.selfid_edit"), "sid:edit"),),
            (Button(t("button.selfid_keep"), "sid:keep"),),
        ),
    )


async def _selfid_choice(turn: Turn, case: Case, button: str) -> list[Reply]:
    assert case.id is not None
    body = str(turn.draft.get("text") or "")
    if turn.step != "track.selfid" or not body:
        return [Reply(turn.t("error.stale"))]
    if button == "sid:edit":
        await turn.goto("track.add", {"case_id": case.id})
        return [Reply(turn.t("track.ask_info"), ((Button(turn.t("button.back"), "cs:back"),),))]
    if button == "sid:mask":
        body = mask(body, selfid_findings(turn, body))
    elif button != "sid:keep":
        return [_selfid_question(turn, body)]
    await turn.uow.cases.add_message(case.id, "employee", body, turn.stamp, None)
    await turn.uow.search.index(case.id, body)  # the ledger's search
    return await _info_recorded(turn, case)


async def _pending_file(turn: Turn, case: Case, payload: str) -> list[Reply]:
    _, raw_id, choice = (payload.split(":") + ["", ""])[:3]
    if not raw_id.isdigit() or choice not in ("k", "d"):
        return [Reply(turn.t("error.stale"))]
    if await turn.uow.attachments.pending_of_case(int(raw_id)) != case.id:
        return [Reply(turn.t("error.stale"))]
    await turn.uow.attachments.resolve_pending(int(raw_id), keep=choice == "k")
    if choice == "d":
        await turn.goto("track.add", {"case_id": case.id})
        return [Reply(turn.t("scrub.dropped"), ((Button(turn.t("button.done"), "cs:back"),),))]
    return await _info_recorded(turn, case, kept=True)


async def _info_recorded(
    turn: Turn, case: Case, *, removed: tuple[str, ...] = (), kept: bool = False
) -> list[Reply]:
    t = turn.t
    assert case.id is not None
    await turn.uow.cases.add_event(case.id, "info_added", turn.stamp, Role.EMPLOYEE)
    await turn.uow.audit.add(turn.stamp, Role.EMPLOYEE, "case.add_info", case_id=case.id)
    await notify_admins(turn, case, "case_info", {})
    await turn.goto("track.add", {"case_id": case.id})
    lines = [t("track.info_added")]
    if kept:
        lines.insert(0, t("scrub.kept"))
    if removed:
        lines.append(t("scrub.removed", what=removed_text(turn, removed)))
    return [Reply("\n".join(lines), ((Button(t("button.done"), "cs:back"),),))]
