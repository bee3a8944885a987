"""The rules of 集体诉求 (petitions/collective.py), without storage: who may join a matter,
which petition leads it, who owns it, and what taking one out leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from petitions.case import CONFLICT_DISCIPLINE, Case
from petitions.categories import Category
from petitions.collective import (
    MATTER_ACTS,
    REFUSED_DISCIPLINE,
    REFUSED_OTHER,
    REFUSED_STATE,
    REFUSED_UNIT,
    NothingToLink,
    NotInMatter,
    plan_link,
    plan_unlink,
)
from petitions.lifecycle import Action
from petitions.states import CaseState

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
PLANT, OTHER = 3, 4


def case(
    case_id: int,
    state: CaseState = CaseState.REGISTERED,
    *,
    unit: int = PLANT,
    matter: int | None = None,
    owner: int | None = None,
    conflict: str | None = None,
) -> Case:
    return Case(
        category=Category.PAY,
        description="加班费",
        channel="telegram",
        anonymous=True,
        locale="zh_CN",
        created_at=AT,
        state=state,
        id=case_id,
        number=f"XF-2026-{case_id:06d}",
        unit_id=unit,
        matter_id=matter,
        owner_officer_id=owner,
        conflict=conflict,
    )


def test_the_earliest_linkable_petition_leads_and_the_linking_officer_owns_a_new_matter() -> None:
    plan = plan_link([case(9), case(5, CaseState.ACCEPTED), case(7)], officer_id=42)
    assert plan.matter_id == 5
    assert plan.joining == (5, 7, 9) and plan.members == () and plan.refused == ()
    assert plan.owner_officer_id == 42


def test_the_leads_owner_stays_the_owner() -> None:
    plan = plan_link([case(5, owner=11), case(7)], officer_id=42)
    assert plan.owner_officer_id == 11


@pytest.mark.parametrize(
    "other, why",
    [
        (case(8, CaseState.RESPONDED), REFUSED_STATE),
        (case(8, CaseState.CLOSED), REFUSED_STATE),
        (case(8, conflict=CONFLICT_DISCIPLINE), REFUSED_DISCIPLINE),
        (case(8, unit=OTHER), REFUSED_UNIT),
    ],
)
def test_a_petition_that_cannot_join_is_named_with_its_reason(other: Case, why: str) -> None:
    plan = plan_link([case(5), case(6), other], officer_id=1)
    assert plan.joining == (5, 6)
    assert plan.refused == ((8, why),)


def test_an_existing_matter_is_joined_and_keeps_its_lead() -> None:
    members = [case(5, matter=5, owner=11), case(6, matter=5, owner=11)]
    plan = plan_link([*members, case(3)], officer_id=42)
    assert plan.matter_id == 5 and plan.members == (5, 6) and plan.joining == (3,)
    assert plan.owner_officer_id == 11


def test_a_member_of_another_matter_stays_there() -> None:
    named = [case(5, matter=5), case(6, matter=5), case(7), case(8, matter=99)]
    plan = plan_link(named, officer_id=1)
    assert plan.joining == (7,) and plan.refused == ((8, REFUSED_OTHER),)


def test_an_answered_matter_takes_no_newcomer() -> None:
    members = [case(5, CaseState.RESPONDED, matter=5), case(6, CaseState.RESPONDED, matter=5)]
    with pytest.raises(NothingToLink):
        plan_link([*members, case(8)], officer_id=1)


def test_fewer_than_two_petitions_are_no_matter() -> None:
    with pytest.raises(NothingToLink):
        plan_link([case(5)], officer_id=1)
    with pytest.raises(NothingToLink):
        plan_link([case(5), case(6, unit=OTHER)], officer_id=1)
    with pytest.raises(NothingToLink):
        plan_link([case(5, CaseState.RESPONDED), case(6, CaseState.CLOSED)], officer_id=1)


def test_taking_out_a_member_keeps_the_matter_or_dissolves_it() -> None:
    lead = case(5, matter=5)
    assert plan_unlink(case(6, matter=5), [5, 6, 7]).matter_id == 5
    moved = plan_unlink(lead, [5, 6, 7])
    assert (moved.remaining, moved.matter_id) == ((6, 7), 6)  # the earliest remaining leads
    gone = plan_unlink(case(6, matter=5), [5, 6])
    assert (gone.remaining, gone.matter_id) == ((5,), None)
    with pytest.raises(NotInMatter):
        plan_unlink(case(8), [8])


def test_the_acts_applied_to_every_member_end_with_the_answer() -> None:
    assert Action.RESPOND in MATTER_ACTS and Action.ACCEPT in MATTER_ACTS
    for own in (Action.CLOSE, Action.REQUEST_REVIEW, Action.START_REVIEW, Action.WITHDRAW):
        assert own not in MATTER_ACTS


def test_a_transferred_petition_may_join_and_a_withdrawn_lead_leaves_the_matter_open() -> None:
    plan = plan_link([case(5), case(6, CaseState.TRANSFERRED)], officer_id=1)
    assert plan.joining == (5, 6)
    members = [case(5, CaseState.WITHDRAWN, matter=5), case(6, matter=5)]
    assert plan_link([*members, case(8)], officer_id=1).joining == (8,)


def test_nothing_to_link_names_each_refusal() -> None:
    with pytest.raises(NothingToLink) as raised:
        plan_link([case(5), case(6, unit=OTHER)], officer_id=1)
    assert raised.value.refused == ((6, REFUSED_UNIT),)
