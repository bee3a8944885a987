"""集体诉求: link petitions as one collective matter, take one out (petitions/collective.py).

:func:`link_cases` links the petitions an officer names (``/collective REF REF …``, the
合并为集体诉求 button of a case card with similar cases, or of a cluster alert);
:func:`unlink_case` takes one out (移出集体诉求). The acts that then apply to every member
are carried out by handlers/acts.py (:data:`petitions.collective.MATTER_ACTS`).

Each employee is told, in their own chat and without a word about the others, that their
petition is now handled together with others of the same matter and that their code,
rating and review rights stay theirs; and again when it is handled alone once more.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.access import may_view
from handlers.inbound import Reply
from handlers.notify import notify_employee
from handlers.ports import Officer
from handlers.turn import Turn
from i18n import N_
from petitions.case import Case
from petitions.collective import (
    REFUSED_ANSWERED,
    REFUSED_DISCIPLINE,
    REFUSED_OTHER,
    REFUSED_STATE,
    REFUSED_UNIT,
    NothingToLink,
    NotInMatter,
    plan_link,
    plan_unlink,
)
from petitions.errors import CaseNotFound, NotPermitted
from petitions.roles import Role

__all__ = [
    "COLLECTIVE_ROLES",
    "check_collective",
    "link_alert",
    "link_cases",
    "link_similar_of",
    "unlink_case",
]

# Who links and unlinks: the offices handling petitions (纪检's cases never join a matter).
COLLECTIVE_ROLES = frozenset({Role.OFFICER, Role.LEADER})

# A cluster alert names a handful of petitions; more is not a matter one office answers.
_MAX_ALERT_CASES = 50

_REFUSED = {
    REFUSED_STATE: N_("collective.refused_state"),
    REFUSED_DISCIPLINE: N_("collective.refused_discipline"),
    REFUSED_UNIT: N_("collective.refused_unit"),
    REFUSED_OTHER: N_("collective.refused_other"),
    REFUSED_ANSWERED: N_("collective.refused_answered"),
}


def check_collective(officer: Officer) -> None:
    """Refuse an officer whose role does not link or unlink petitions."""
    if officer.role not in COLLECTIVE_ROLES:
        raise NotPermitted(action="collective", role=officer.role.value)


async def link_cases(turn: Turn, officer: Officer, cases: Sequence[Case]) -> list[Reply]:
    """Link these petitions (all visible to the officer) as one collective matter, or add
    them to the matter one of them is in; tell each joining employee; confirm."""
    check_collective(officer)
    visible = [c for c in cases if c.id is not None and may_view(officer, c)]
    # The members already in a matter named here take part in the plan (its lead above all).
    pool: dict[int, Case] = {c.id: c for c in visible if c.id is not None}
    for matter_id in sorted({c.matter_id for c in visible if c.matter_id is not None}):
        for member in await turn.uow.cases.matter_members(matter_id, for_update=True):
            if member.id is not None and member.id not in pool and may_view(officer, member):
                pool[member.id] = member
    t = turn.t
    try:
        plan = plan_link(list(pool.values()), officer.id)
    except NothingToLink as nothing:
        # Say why each one could not be linked, under the rule.
        lines = [t("error.nothing_to_link")]
        lines += [t(_REFUSED[why], number=pool[i].number) for i, why in nothing.refused]
        return [Reply("\n".join(lines))]
    lead = pool.get(plan.matter_id)
    if lead is None:
        # The matter's lead is not this officer's to see: neither is the matter.
        raise CaseNotFound()
    for case_id in plan.joining:
        case = pool[case_id]
        case.matter_id = plan.matter_id
        # The matter's owner, unless they are kept away from this petition (the owner a
        # retaliation report names never sees it): it keeps its own owner then.
        owner_changed = (
            plan.owner_officer_id is not None
            and case.owner_officer_id != plan.owner_officer_id
            and case.excluded_officer_id != plan.owner_officer_id
        )
        if owner_changed:
            case.owner_officer_id = plan.owner_officer_id
        case.updated_at = turn.now
        await turn.uow.cases.save(case)
        await turn.uow.cases.add_event(
            case_id,
            "collective_linked",
            turn.now,
            officer.role,
            actor_officer_id=officer.id,
            detail={"lead": lead.number},
        )
        if owner_changed:
            await turn.uow.cases.add_event(
                case_id,
                "assigned",
                turn.now,
                officer.role,
                actor_officer_id=officer.id,
                detail={
                    "owner": plan.owner_officer_id,
                    "reason": t("collective.owner_reason", lead=lead.number),
                },
            )
        await turn.uow.audit.add(
            turn.now,
            officer.role,
            "case.collective_link",
            actor_officer_id=officer.id,
            case_id=case_id,
            detail={"matter_id": plan.matter_id},
        )
        await notify_employee(turn, case, "collective", {"number": case.number})
    members = [*plan.members, *plan.joining]
    numbers = [pool[i].number or "" for i in sorted(members, key=lambda i: (i != lead.id, i))]
    lines = [
        t(
            "collective.linked",
            lead=lead.number,
            count=len(members),
            joined=len(plan.joining),
            numbers="、".join(numbers),
        )
    ]
    if plan.owner_officer_id is not None:
        owner = await _owner_name(turn, officer, plan.owner_officer_id)
        lines.append(t("collective.owner", owner=owner))
    for case_id, why in plan.refused:
        lines.append(t(_REFUSED[why], number=pool[case_id].number))
    lines.append(t("collective.acts_apply"))
    return [Reply("\n".join(lines), case_id=lead.id)]


async def _owner_name(turn: Turn, officer: Officer, owner_id: int) -> str:
    if owner_id == officer.id:
        return officer.name
    owner = await turn.uow.officers.get(owner_id)
    return owner.name if owner is not None else turn.t("admin.owner_none")


async def link_similar_of(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    """合并为集体诉求 from a case card: the case and the similar petitions this officer may
    see (early warning's links), linked as one matter."""
    from handlers.warnings import viewer_similar  # the warnings module imports views

    check_collective(officer)
    assert case.id is not None
    similar = (await viewer_similar(turn.uow, officer, [case.id])).get(case.id, ())
    cases = [case]
    for other_id, _number in similar:
        other = await turn.uow.cases.get(other_id, for_update=True)
        if other is not None:
            cases.append(other)
    if len(cases) < 2:
        raise NothingToLink()
    return await link_cases(turn, officer, cases)


async def link_alert(turn: Turn, officer: Officer, alert_id: int) -> list[Reply]:
    """合并为集体诉求 under a cluster alert: that alert's petitions this officer may see."""
    check_collective(officer)
    alert = await turn.uow.warnings.alert(alert_id)
    if alert is None or alert.kind != "cluster":
        return [Reply(turn.t("error.stale"))]
    cases = []
    for case_id in alert.case_ids[:_MAX_ALERT_CASES]:
        case = await turn.uow.cases.get(case_id, for_update=True)
        if case is not None and may_view(officer, case):
            cases.append(case)
    return await link_cases(turn, officer, cases)


async def unlink_case(turn: Turn, officer: Officer, case: Case) -> list[Reply]:
    """移出集体诉求: the petition is handled alone again; the matter keeps the others (a
    new lead when its lead left), or dissolves when fewer than two remain."""
    check_collective(officer)
    if case.id is None or case.matter_id is None or case.state.is_terminal:
        # Not a member, or one that ended: its past (and the statistics) stay as they were.
        raise NotInMatter()
    members = list(await turn.uow.cases.matter_members(case.matter_id, for_update=True))
    plan = plan_unlink(case, [m.id for m in members if m.id is not None])
    t = turn.t
    for member in members:
        if member.id == plan.removed:
            member.matter_id = None
        elif member.matter_id != plan.matter_id:
            member.matter_id = plan.matter_id
        else:
            continue
        member.updated_at = turn.now
        await turn.uow.cases.save(member)
        if member.matter_id is None:
            assert member.id is not None
            await turn.uow.cases.add_event(
                member.id, "collective_left", turn.now, officer.role, actor_officer_id=officer.id
            )
            await turn.uow.audit.add(
                turn.now,
                officer.role,
                "case.collective_unlink",
                actor_officer_id=officer.id,
                case_id=member.id,
                detail={"matter_id": case.matter_id},
            )
            await notify_employee(turn, member, "collective_left", {"number": member.number})
    if plan.matter_id is None:
        text = t("collective.dissolved", number=case.number)
    else:
        lead = next(m for m in members if m.id == plan.matter_id)
        text = t(
            "collective.unlinked",
            number=case.number,
            lead=lead.number,
            count=len(plan.remaining),
        )
    return [Reply(text, case_id=case.id)]
