"""The officers' use cases on one case (DESIGN.md §8: one function per use case).

:func:`perform_act` applies a formal act (受理, 答复, 办结 …): the domain rule, the save,
the timeline event, the audit entry and the push to the employee, in one place.
:func:`preview_act` builds the very push that :func:`perform_act` would queue, rendered by
the outbox's own renderer in the employee's language, and changes nothing.
:func:`send_message` is the informal message (回复职工), which changes no state.

Who decides what on the ladder (DESIGN.md §4): the handling unit's office takes the
handling acts (whoever may view the case); a review step (复查, 复核) is decided by the office
of the unit named in ``case.review_unit_id`` only (:func:`may_decide`).

The offices' acts that change no state (督办, 交办, 上报: petitions.lifecycle.OFFICE_ACTS) go
through the same three functions, so the chat's forms and the web's case page take them
alike; what each records and whom it tells is handlers/supervision.py's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from handlers.access import may_view
from handlers.feedback import SATISFACTION, open_question
from handlers.inbound import Reply
from handlers.notify import notify_employee, queue_admins, status_payload
from handlers.ports import Officer
from handlers.supervision import perform_office_act, preview_office_act
from handlers.turn import Turn
from handlers.views import admin_case_card, done_text, render_employee
from petitions.case import Case
from petitions.collective import MATTER_ACTS
from petitions.deadlines import DeadlinePolicy, step_unit_id
from petitions.errors import (
    CaseNotFound,
    DomainError,
    ExtensionAlreadyUsed,
    InvalidField,
    MissingField,
    NotPermitted,
)
from petitions.lifecycle import (
    DECISIONS,
    MAX_TEXT,
    OFFICE_ACTS,
    REVIEW_ACTS,
    Action,
    Fields,
    TransitionRecord,
    apply,
    rule_for,
)
from petitions.notices import notice_kind_for, notice_number
from petitions.roles import Role
from petitions.states import LADDER_STATES, TERMINAL_STATES, CaseState, Outcome, Redirect
from petitions.units import Unit, UnitTree

__all__ = [
    "FORMAL_ACTS",
    "MESSAGE_ROLES",
    "MatterMember",
    "MatterSplit",
    "UnknownUnit",
    "assign_targets",
    "check_act",
    "check_message",
    "fields_dict",
    "find_unit",
    "matter_note",
    "may_decide",
    "may_supervise",
    "perform_act",
    "preview_act",
    "resolve_case",
    "resolve_destination",
    "send_message",
    "transfer_targets",
]

# The acts officers take from a case card (the employee's own acts are not among them).
FORMAL_ACTS = (
    Action.ACCEPT,
    Action.NOT_ACCEPT,
    Action.TRANSFER,
    Action.START,
    Action.EXTEND,
    Action.RESPOND,
    Action.START_REVIEW,
    Action.COMPLETE_REVIEW,
    Action.START_RECHECK,
    Action.COMPLETE_RECHECK,
    Action.CLOSE,
    # No state change (petitions.lifecycle.OFFICE_ACTS): handlers/supervision.py.
    Action.SUPERVISE,
    Action.ASSIGN_DOWN,
    Action.REPORT,
)
_OFFICE = frozenset(rule.action for rule in OFFICE_ACTS)
# Who may write to an employee informally (custodians hold keys, not cases).
MESSAGE_ROLES = frozenset({Role.OFFICER, Role.LEADER, Role.DISCIPLINE})
_ANSWERS = DECISIONS
# Stands in for the rating token in a preview: the rating buttons are not offered there.
_PREVIEW_SURVEY = "preview"

# Satisfies every field rule, so a probe fails only on state, role or extension rules.
_PLACEHOLDER = Fields(
    reason="-",
    outcome=Outcome.EXPLAINED,
    extension_days=1,
    destination="-",
    redirect=Redirect.OTHER,
    text="-",
    days=1,
    instruction="-",
    report="-",
)


async def resolve_case(turn: Turn, officer: Officer, ref: str | None) -> Case:
    """The case a number or id names, locked for update, if this officer may see it."""
    case: Case | None = None
    if ref:
        ref = ref.strip()
        if ref.isdigit():
            case = await turn.uow.cases.get(int(ref), for_update=True)
        else:
            case = await turn.uow.cases.by_number(ref)
            if case is not None and case.id is not None:
                case = await turn.uow.cases.get(case.id, for_update=True)
    # A case this officer may not see is answered as one that does not exist: the answer
    # must not tell which numbers and ids are in use elsewhere in the group.
    if case is None or not may_view(officer, case):
        raise CaseNotFound()
    return case


def _policy(turn: Turn) -> DeadlinePolicy:
    return turn.services.config.policy


class UnknownUnit(DomainError):
    """The 转办 destination names no unit in service that this officer's office covers."""

    code = "unknown_unit"


def may_supervise(officer: Officer, case: Case) -> bool:
    """Whether this officer's unit lies above the office that must meet the current step's
    deadline (the parent or higher: whoever the climbing overdue alert reaches); the root's
    office (and the one office without units) is the top of every climb."""
    if officer.scope is None:
        return True
    unit = step_unit_id(case)
    return unit is not None and unit in officer.scope and unit != officer.unit_id


def _may_assign_down(officer: Officer, case: Case) -> bool:
    # Only an office with units below it; without a unit tree there is nowhere down.
    if officer.scope is None:
        return officer.unit_id is not None or case.unit_id is not None
    return len(officer.scope) > 1


def _may_report(officer: Officer, case: Case) -> bool:
    # The office the case was assigned down to (or one below it) reports; the assigning
    # unit and the units above it receive the report.
    return officer.scope is not None and case.assigned_by_unit_id not in officer.scope


def may_decide(officer: Officer, case: Case, action: Action) -> bool:
    """Whether this officer's unit takes the act: a review step (复查, 复核) only by the
    office of the unit deciding it, never by the unit whose answer is examined; 督办 only
    from above the office of the step; 交办 only by an office with units below it; 上报 only
    below the assigning unit; every other act by whoever may view the case (checked when
    the case was resolved)."""
    if action is Action.SUPERVISE:
        return may_supervise(officer, case)
    if action is Action.ASSIGN_DOWN:
        return _may_assign_down(officer, case)
    if action is Action.REPORT:
        return _may_report(officer, case)
    if action not in REVIEW_ACTS:
        return True
    if case.review_unit_id is None:
        # No unit tree (or a review asked before there was one): the office that sees
        # every case decides, as the one office always did.
        return officer.scope is None
    return officer.unit_id == case.review_unit_id


class MatterSplit(DomainError):
    """The act would leave a collective matter's petitions with different offices."""

    code = "matter_split"


class MatterMember(DomainError):
    """交办 of one petition of a collective matter: take it out of the matter first."""

    code = "matter_member"


def _may(turn: Turn, officer: Officer, case: Case, action: Action) -> bool:
    try:
        check_act(turn, officer, case, action)
    except DomainError:
        return False
    return True


def check_act(turn: Turn, officer: Officer, case: Case, action: Action) -> None:
    """Refuse (raise) an act this officer may not take on the case now, before any question
    is asked: the role, the state, the one-extension rule and the deciding unit, never the
    fields."""
    if (
        action is Action.EXTEND
        and case.state is CaseState.EXTENDED
        and officer.role in rule_for(action).roles
    ):
        # The table extends only IN_PROGRESS cases, so a second extension would read as
        # "wrong state"; the one-extension rule is the reason the approver needs to hear.
        raise ExtensionAlreadyUsed()
    apply(replace(case), action, officer.role, _PLACEHOLDER, turn.now, _policy(turn))
    if not may_decide(officer, case, action):
        raise NotPermitted(action=action.value, role=officer.role.value)
    if action is Action.ASSIGN_DOWN and case.matter_id is not None:
        # 交办 moves one petition to another office: not a member of a matter, which one
        # office handles (the whole matter is moved by 转办).
        raise MatterMember(number=case.number)


def transfer_targets(tree: UnitTree, officer: Officer, case: Case) -> list[Unit]:
    """The units this officer may transfer (转办) the case to: in service, covered by their
    office, other than the case's own; the nearest levels first, their own unit last."""
    own = tree.get(officer.unit_id)
    units = tree.walk(own.id) if own is not None else tree.walk()
    base = tree.depth(own.id) if own is not None else 0
    found = [
        u
        for u in units
        if not u.retired
        and u.id != case.unit_id
        and (officer.scope is None or u.id in officer.scope)
    ]
    # Stable: within a level, the tree's own order (by code).
    return sorted(found, key=lambda u: (u.id == officer.unit_id, tree.depth(u.id) - base))


def assign_targets(tree: UnitTree, officer: Officer, case: Case) -> list[Unit]:
    """The units this officer's office may assign the case down to (交办): in service,
    strictly inside its own subtree, other than the case's own; the nearest levels first."""
    own = tree.get(officer.unit_id)
    units = tree.walk(own.id) if own is not None else tree.walk()
    base = tree.depth(own.id) if own is not None else 0
    found = [
        u
        for u in units
        if not u.retired
        and u.id != case.unit_id
        and (u.id != own.id if own is not None else u.parent_id is not None)
        and (officer.scope is None or u.id in officer.scope)
    ]
    return sorted(found, key=lambda u: tree.depth(u.id) - base)


def find_unit(tree: UnitTree, units: list[Unit], text: str) -> Unit | None:
    """The one unit among ``units`` that ``text`` names: by code, by exact name (when no
    other unit has it), or by path name (甲公司/一厂, with or without the root's name)."""
    raw = "".join(text.split())
    if not raw:
        return None
    for unit in units:
        if unit.code.casefold() == raw.casefold():
            return unit
    named = [u for u in units if u.name == raw]
    if len(named) == 1:
        return named[0]
    for unit in units:
        full = "/".join(u.name for u in reversed(tree.ancestors(unit.id)))
        if raw in (tree.path_name(unit.id), full):
            return unit
    return None


async def resolve_destination(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> Fields:
    """A 转办's (or 交办's) destination as a unit of the tree: its id in ``unit_id`` and its
    path name in ``destination`` (what the employee reads: a name, never a code). Raise
    UnknownUnit when it names no unit the officer may send the case to. Without a unit
    tree a 转办's typed destination stays as it is; a 交办 has nowhere to go."""
    if action not in (Action.TRANSFER, Action.ASSIGN_DOWN) or not fields.destination:
        return fields
    tree = await turn.uow.units.tree()
    if len(tree) == 0:
        if action is Action.ASSIGN_DOWN:
            raise UnknownUnit()
        return fields
    targets = (assign_targets if action is Action.ASSIGN_DOWN else transfer_targets)(
        tree, officer, case
    )
    unit = find_unit(tree, targets, fields.destination)
    if unit is None:
        raise UnknownUnit()
    return replace(fields, unit_id=unit.id, destination=tree.path_name(unit.id) or unit.name)


def check_message(officer: Officer, case: Case) -> None:
    """Refuse an informal message this officer may not send on the case."""
    if officer.role not in MESSAGE_ROLES:
        raise NotPermitted(action="answer", role=officer.role.value)


def fields_dict(fields: Fields) -> dict[str, Any]:
    """The fields as plain values (enum values as text), None where not given."""
    return {
        "reason": fields.reason,
        "outcome": fields.outcome.value if fields.outcome else None,
        "extension_days": fields.extension_days,
        "destination": fields.destination,
        "redirect": fields.redirect.value if fields.redirect else None,
        "text": fields.text,
        "days": fields.days,
        "instruction": fields.instruction,
        "report": fields.report,
    }


def _employee_render(turn: Turn, case: Case, payload: dict[str, Any]) -> Reply:
    # Exactly what the delivery worker renders for the row notify_employee queues.
    return render_employee(turn.services.t, "status", {"locale": case.locale, **payload})


async def preview_act(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> str:
    """The text the employee would receive if the act were applied now; nothing changes.

    Raises what :func:`perform_act` would raise (role, state, fields, unknown unit)."""
    check_act(turn, officer, case, action)
    fields = await resolve_destination(turn, officer, case, action, fields)
    if action in _OFFICE:
        return await preview_office_act(turn, officer, case, action, fields)
    probe = replace(case)
    record = apply(probe, action, officer.role, fields, turn.now, _policy(turn))
    payload = status_payload(probe, record)
    if action in _ANSWERS:
        payload["survey"] = _PREVIEW_SURVEY  # the rating hint shows; its buttons do not
    return _employee_render(turn, case, payload).text


async def perform_act(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> list[Reply]:
    """Apply a formal act: change, timeline, audit, the employee's push; confirm it."""
    assert case.id is not None
    check_act(turn, officer, case, action)
    fields = await resolve_destination(turn, officer, case, action, fields)
    if action in _OFFICE:
        return await perform_office_act(turn, officer, case, action, fields)
    # 集体诉求: the matter's other petitions, read (and locked) before any change.
    others = await _matter_others(turn, officer, case, action)
    if action is Action.TRANSFER:
        # The matter moves as one (one handling office): all of it, or none.
        stuck = [o.number or "" for o in others if not _may(turn, officer, o, action)]
        if stuck:
            raise MatterSplit(numbers="、".join(stuck))
    await _apply_one(turn, officer, case, action, fields)
    joined, skipped = [], []
    for other in others:
        try:
            check_act(turn, officer, other, action)
        except DomainError:
            # Not in a state for this act (answered, or still to be accepted): left as it
            # is, and named to the officer.
            skipped.append(other.number or "")
            continue
        await _apply_one(turn, officer, other, action, fields)
        joined.append(other.number or "")
    if turn.step.startswith("officer."):
        await turn.end()
    text = done_text(turn.t, case.number, case.state, case.deadline_at)
    if joined:
        text += "\n" + turn.t("collective.applied", count=len(joined), numbers="、".join(joined))
    if skipped:
        text += "\n" + turn.t("collective.skipped", numbers="、".join(skipped))
    # The confirmation offers the case's next lawful acts, so a case can be handled from
    # one button to the next without typing a command.
    next_steps = admin_case_card(turn.t, case, (), turn.now).buttons
    return [Reply(text, next_steps, case_id=case.id)]


async def matter_note(turn: Turn, officer: Officer, case: Case, action: Action) -> str | None:
    """For a preview: that the act applies to the matter's other petitions too (and an
    answer's text reaches every petitioner); None outside a collective matter."""
    if case.matter_id is None or action not in MATTER_ACTS:
        return None
    others = await _matter_others(turn, officer, case, action, lock=False)
    if not others:
        return None
    return turn.t("collective.preview_note", count=len(others))


async def _matter_others(
    turn: Turn, officer: Officer, case: Case, action: Action, *, lock: bool = True
) -> list[Case]:
    """The other petitions of the case's collective matter an act applies to as well (of
    its handling unit: a member elsewhere is not this office's to act on)."""
    if case.matter_id is None or action not in MATTER_ACTS:
        return []
    members = await turn.uow.cases.matter_members(case.matter_id, for_update=lock)
    # A member that ended (withdrawn by its employee) takes no more acts: left out quietly.
    return [
        m
        for m in members
        if m.id != case.id
        and not m.state.is_terminal
        and m.unit_id == case.unit_id
        and may_view(officer, m)
    ]


async def _apply_one(
    turn: Turn, officer: Officer, case: Case, action: Action, fields: Fields
) -> None:
    """One petition's part of a formal act: the change, the timeline, the answer's message,
    the audit entry and the employee's push (with its own rating question and notice)."""
    assert case.id is not None
    record = apply(case, action, officer.role, fields, turn.now, _policy(turn))
    if action is Action.TRANSFER and fields.unit_id is not None:
        case.unit_name = fields.destination  # for the card and push below (a path name)
    assigned = action is Action.ACCEPT and case.owner_officer_id is None
    if assigned:
        # From acceptance on every case has an owner: the officer who accepted it.
        case.owner_officer_id = officer.id
        if case.unit_id is None:
            case.unit_id = officer.unit_id
    await turn.uow.cases.save(case)
    detail = {k: v for k, v in fields_dict(fields).items() if v is not None}
    employee_detail = {k: v for k, v in detail.items() if k != "text"}
    if record.to_state in LADDER_STATES and case.review_unit_name:
        # The step's deciding unit, by name, as the act recorded it (the notice reads it).
        employee_detail["review_unit"] = case.review_unit_name
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
    if fields.text and action in _ANSWERS:
        await turn.uow.cases.add_message(case.id, "answer", fields.text, turn.now, officer.id)
    # The audit trail is never purged (its hash chain would break): it records the decision
    # (outcome, channel, days, unit), never the free texts, which go with the case's content.
    await turn.uow.audit.add(
        turn.now,
        officer.role,
        f"case.{action.value}",
        actor_officer_id=officer.id,
        case_id=case.id,
        detail=_audit_detail(detail, fields),
    )
    await notify_employee(turn, case, "status", await _push_payload(turn, case, record))
    if action is Action.TRANSFER and fields.unit_id is not None:
        # The receiving unit's office learns of the case from its own chats (the card is
        # posted again where it was already seen, now naming the new unit).
        cfg = turn.services.config
        await queue_admins(turn.uow, cfg, case.id, "case_card", {}, turn.now, case=case)


# Never in audit details (see perform_act).
_FREE_TEXT = frozenset({"text", "reason", "instruction", "report"})


def _audit_detail(detail: dict[str, Any], fields: Fields) -> dict[str, Any]:
    out = {k: v for k, v in detail.items() if k not in _FREE_TEXT}
    if fields.unit_id is not None:
        out["unit_id"] = fields.unit_id  # a transfer's destination, as it stays identifiable
    return out


async def _push_payload(turn: Turn, case: Case, record: TransitionRecord) -> dict[str, Any]:
    payload = status_payload(case, record)
    kind = notice_kind_for(record.action)
    if kind is not None and case.number:
        # Data, not bytes: the delivery worker renders the PDF and attaches it (the
        # handlers stay pure; bot/delivery.py).
        payload["notice"] = {"kind": kind.value, "number": notice_number(case.number, kind)}
    if record.action in _ANSWERS:
        # The answer comes with one-tap rating buttons (满意 / 基本满意 / 不满意).
        payload["survey"] = await open_question(turn.uow, case, SATISFACTION, turn.now)
    return payload


def _timeline_detail(detail: dict[str, Any]) -> dict[str, Any]:
    # The employee's timeline shows these under stable names.
    names = {
        "reason": "reason",
        "redirect": "redirect",
        "destination": "unit",
        "extension_days": "days",
        "outcome": "outcome",
        "review_unit": "review_unit",
    }
    return {out: detail[k] for k, out in names.items() if k in detail}


async def send_message(turn: Turn, officer: Officer, case: Case, body: str) -> list[Reply]:
    """The informal message to the employee (回复职工): no formal answer, no state change."""
    assert case.id is not None
    if not body:
        raise MissingField(field="text")
    if len(body) > MAX_TEXT:
        raise InvalidField(field="text", max=MAX_TEXT)
    if case.state in TERMINAL_STATES:
        return [Reply(turn.t("officer.case_closed", number=case.number), case_id=case.id)]
    check_message(officer, case)
    await turn.uow.cases.add_message(case.id, "answer", body, turn.now, officer.id)
    await turn.uow.cases.add_event(
        case.id, "answered", turn.now, officer.role, actor_officer_id=officer.id
    )
    await turn.uow.audit.add(
        turn.now, officer.role, "case.answer", actor_officer_id=officer.id, case_id=case.id
    )
    await notify_employee(turn, case, "answer", {"number": case.number, "text": body})
    return [Reply(turn.t("officer.answer_sent", number=case.number), case_id=case.id)]
