"""Satisfaction, review and follow-up (回头望) through the handlers on the real storage:
one-tap ratings on the answer, 不满意 → 复查 → result, the follow-up's questions, and a
retaliation report that becomes a linked case the original owner cannot see."""

from __future__ import annotations

from datetime import timedelta

from bot.container import Container
from bot.scheduler import Scheduler
from handlers.ports import Contact
from handlers.views import render_admin, render_employee
from petitions.categories import Category
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.chat import ChatUser, buttons_of, text_of
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import NUMBER_RE, add_officer, file_petition, load_case, queued


def employee(container: Container) -> ChatUser:
    return ChatUser(container.handlers, chat_id="10001", sender_id="10001")


def zh(container: Container, key: str, **params: object) -> str:
    return container.translator.t(key, "zh_CN", **params)


async def last_push(container: Container, case_id: int) -> tuple[str, dict[str, object], str]:
    """The newest employee push of a case: kind, payload and what the employee sees."""
    row = (await queued(container, case_id, audience="employee"))[-1]
    reply = render_employee(container.translator.t, row.kind, row.payload)
    return row.kind, row.payload, reply.text + "\n" + str(buttons_of([reply]))


async def answered_case(container: Container) -> tuple[int, str, ChatUser, ChatUser]:
    user = employee(container)
    filed = await file_petition(container, user)
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    await officer.say(f"/begin {filed.number}")
    await officer.say(f"/respond {filed.number} not_supported 经核实，考勤记录无误。")
    return filed.case_id, filed.number, user, officer


async def test_unsatisfied_leads_to_a_leader_owned_review_whose_result_is_pushed_back(
    container: Container, clock: FakeClock
) -> None:
    case_id, number, user, officer = await answered_case(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    kind, payload, seen = await last_push(container, case_id)
    token = str(payload["survey"])
    assert "满意" in seen and "基本满意" in seen and "不满意" in seen
    assert {f"fb:{token}:s", f"fb:{token}:b", f"fb:{token}:u"} <= set(
        buttons_of([render_employee(container.translator.t, kind, payload)])
    )

    clock.advance(days=3)
    await user.press(f"fb:{token}:u")
    assert zh(container, "feedback.unsatisfied", date="2026-04-01") in user.text
    assert f"fb:{token}:r" in user.buttons and f"fb:{token}:c" in user.buttons
    await user.press(f"fb:{token}:s")  # one rating per answer
    assert user.text == zh(container, "feedback.already_rated", rating="不满意")

    await user.press(f"fb:{token}:r")
    assert user.text == zh(container, "track.ask_review_reason")
    await user.say("加班记录漏了两周，请重新核对。")
    case = await load_case(container, case_id)
    assert case.state is CaseState.REVIEW_REQUESTED
    assert case.owner_officer_id is None  # the leaders own the review
    assert case.deadline_at == clock() + timedelta(days=30)
    assert zh(container, "track.review_requested", date="2026-04-04") in user.text
    async with container.uow() as uow:
        events = await uow.cases.events(case_id)
        [answer] = await uow.feedback.for_cases([case_id])
    assert answer.rating == "unsatisfied"
    assert ("assigned", {"owner": "leaders", "previous_owner": officer_id(events)}) in [
        (e.kind, dict(e.detail)) for e in events
    ]
    admin = [q.kind for q in await queued(container, case_id, audience="admin")]
    assert admin[-2:] == ["rated", "review_requested"]

    # The office deciding the review takes it (one office here: no unit tree; which unit
    # decides on a tree is tests/integration/test_ladder.py's): an officer starts it, a
    # leader decides it, and the result goes to the employee.
    await officer.say(f"/reviewstart {number}")
    assert (await load_case(container, case_id)).state is CaseState.REVIEWING
    await leader.say(f"/reviewdone {number} supported 复查确认漏记两周加班，予以补发。")
    assert (await load_case(container, case_id)).state is CaseState.REVIEWED
    kind, payload, seen = await last_push(container, case_id)
    assert payload["state"] == "reviewed" and "复查确认漏记两周加班" in seen
    assert payload["survey"] != token  # the review's result can be rated too


def officer_id(events: object) -> int | None:
    for e in events:  # type: ignore[attr-defined]
        if e.kind == "assigned" and e.detail.get("owner") != "leaders":
            return int(e.detail["owner"])
    return None


async def test_a_satisfied_rating_takes_an_optional_comment(container: Container) -> None:
    case_id, _number, user, officer = await answered_case(container)
    _kind, payload, _seen = await last_push(container, case_id)
    token = payload["survey"]
    await user.press(f"fb:{token}:b")
    assert user.text == zh(container, "feedback.thanks")
    await user.press(f"fb:{token}:c")
    await user.say("处理及时，但希望解释更详细。")
    assert user.text == zh(container, "feedback.comment_saved")
    async with container.uow() as uow:
        [answer] = await uow.feedback.for_cases([case_id])
    assert (answer.rating, answer.comment) == ("basic", "处理及时，但希望解释更详细。")
    await officer.say(f"/case {case_id}")
    assert "基本满意" in officer.text and "希望解释更详细" in officer.text


async def test_a_forged_or_stale_token_changes_nothing(container: Container) -> None:
    case_id, _n, user, _officer = await answered_case(container)
    await user.press("fb:AAAAAAAAAAAAAAAA:u")
    assert user.text == zh(container, "error.stale")
    async with container.uow() as uow:
        [answer] = await uow.feedback.for_cases([case_id])
    assert answer.rating is None


async def test_the_follow_up_records_not_solved_and_opens_a_hidden_retaliation_case(
    container: Container, clock: FakeClock
) -> None:
    start = clock()
    case_id, number, user, officer = await answered_case(container)
    await officer.say(f"/close {number}")
    discipline = await add_officer(container, Role.DISCIPLINE, account="999", name="纪检孙")
    scheduler = Scheduler(container.uow, container.services, clock)

    clock.now = start + timedelta(days=29, hours=23)
    assert (await scheduler.run_once(clock())).sent == {}
    clock.now = start + timedelta(days=30, minutes=5)
    assert (await scheduler.run_once(clock())).sent == {"follow_up": 1}
    assert (await scheduler.run_once(clock())).sent == {}
    kind, payload, seen = await last_push(container, case_id)
    assert kind == "follow_up" and "回头望" in seen and "打击报复" in seen
    token = payload["token"]

    await user.press(f"fu:{token}:n")
    assert zh(container, "followup.solved_recorded") in user.text
    assert f"fu:{token}:r1" in user.buttons and f"fu:{token}:y" not in user.buttons
    unsolved = [q for q in await queued(container, case_id, audience="admin")][-1]
    assert unsolved.kind == "unsolved" and unsolved.payload["leaders"] is True

    await user.press(f"fu:{token}:r1")
    found = NUMBER_RE.search(user.text)
    assert found is not None and found.group(0) != number
    assert zh(container, "followup.thanks") in user.text
    async with container.uow() as uow:
        linked = await uow.cases.by_number(found.group(0))
        assert linked is not None and linked.id is not None
        assert await uow.cases.contact(linked.id) == Contact("telegram", "10001")
        [answer] = [f for f in await uow.feedback.for_cases([case_id]) if f.kind == "follow_up"]
    original = await load_case(container, case_id)
    assert linked.category is Category.DISCIPLINE and linked.priority == 2
    assert linked.linked_case_id == case_id
    assert linked.excluded_officer_id == original.owner_officer_id is not None
    assert (answer.solved, answer.retaliation, answer.linked_case_id) == (False, True, linked.id)

    # The original owner neither sees it nor finds it; the discipline role does.
    await officer.say(f"/case {linked.number}")
    assert zh(container, "error.case_not_found") in officer.text
    await officer.say("/cases all")
    assert str(linked.number) not in officer.text
    await discipline.say(f"/case {linked.number}")
    assert number in discipline.text and "打击报复" in discipline.text
    # The admin chat is told a report came in, never from which case.
    async with container.uow() as uow:
        rows = await uow.outbox.for_case(linked.id)
        texts = [
            text_of(
                await render_admin(
                    uow, container.translator.t, "zh_CN", r.kind, uow.outbox.payload(r), clock()
                )
            )
            for r in rows
            if r.audience == "admin"
        ]
    assert texts and all(number not in t for t in texts)
    # The new case is tracked like any other: its own deadlines, its own reminders. It was
    # filed by the employee's answer, so its time is stored to the hour.
    filed_at = clock().replace(minute=0, second=0, microsecond=0)
    assert linked.created_at == filed_at
    assert linked.deadline_at == filed_at + timedelta(days=15)


async def test_answering_both_follow_up_questions_no_ends_it(
    container: Container, clock: FakeClock
) -> None:
    case_id, number, user, officer = await answered_case(container)
    await officer.say(f"/close {number}")
    clock.advance(days=31)
    await Scheduler(container.uow, container.services, clock).run_once(clock())
    _kind, payload, _seen = await last_push(container, case_id)
    await user.press(f"fu:{payload['token']}:r0")
    await user.press(f"fu:{payload['token']}:y")
    assert zh(container, "followup.thanks") in user.text
    await user.press(f"fu:{payload['token']}:r1")  # a second answer is not taken
    assert zh(container, "followup.already_answered") in user.text
    async with container.uow() as uow:
        cases = await uow.cases.created_between(clock() - timedelta(days=400), clock())
    assert len(cases) == 1
