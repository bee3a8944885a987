"""The deadline engine on the real storage with a controllable clock: reminders at the
configured points and overdue alerts exactly once each (across restarts and downtime),
extensions, automatic closing, the daily digest, and housekeeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.container import Container, build_container
from bot.scheduler import Scheduler
from bot.settings import load_settings
from handlers.ports import Conversation
from handlers.views import render_admin, render_employee
from petitions.roles import Role
from petitions.states import CaseState
from storage.models import NoticeRow, OutboxRow
from storage.vault import Keyring
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import Filed, add_officer, file_petition, load_case, queued

ALERT_KINDS = ("reminder", "overdue", "digest")


def employee(container: Container) -> ChatUser:
    return ChatUser(container.handlers, chat_id="10001", sender_id="10001")


async def alerts(container: Container) -> list[tuple[str, dict[str, Any]]]:
    """(kind, payload) of every reminder, overdue alert and digest queued, oldest first."""
    async with container.uow() as uow:
        rows = (await uow.session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars()
        return [(r.kind, uow.outbox.payload(r)) for r in rows if r.kind in ALERT_KINDS]


async def rendered(container: Container, payload: dict[str, Any], kind: str) -> str:
    async with container.uow() as uow:
        replies = await render_admin(
            uow, container.translator.t, "zh_CN", kind, payload, container.services.clock()
        )
    return text_of(replies)


def scheduler(container: Container, clock: FakeClock) -> Scheduler:
    return Scheduler(container.uow, container.services, clock)


@pytest.fixture
async def second(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[Any]:
    """Builds the service again on the same database: a restart."""
    made: list[Container] = []

    async def restart() -> Container:
        c = await build_container(load_settings(env), keyring=keys[0], clock=clock)
        made.append(c)
        return c

    yield restart
    for c in made:
        await c.close()


async def accepted_case(container: Container) -> tuple[Filed, ChatUser]:
    filed = await file_petition(container, employee(container))
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    return filed, officer


async def test_a_case_left_alone_gets_each_reminder_and_one_overdue_alert_across_restarts(
    container: Container, clock: FakeClock, second: Any
) -> None:
    start = clock()
    filed, _officer = await accepted_case(container)
    await add_officer(container, Role.LEADER, account="888", name="赵领导")
    case = await load_case(container, filed.case_id)
    assert case.deadline_at == start + timedelta(days=60)
    assert case.owner_officer_id is not None  # the accepting officer owns it from now on

    clock.now = start + timedelta(days=29, hours=23)
    await scheduler(container, clock).run_once(clock())
    assert await alerts(container) == []

    clock.now = start + timedelta(days=30, hours=1)  # half of the 60 days
    result = await scheduler(container, clock).run_once(clock())
    assert result.sent == {"remind": 1}
    await scheduler(container, clock).run_once(clock())  # the next pass sends nothing new
    [(kind, payload)] = await alerts(container)
    assert kind == "reminder" and payload["point"] == "50%"
    text = await rendered(container, payload, kind)
    assert filed.number in text and "2026-05-01" in text and "王专员" in text

    # A restart: a new process on the same database sends nothing again.
    restarted = await second()
    await scheduler(restarted, clock).run_once(clock())
    assert len(await alerts(restarted)) == 1

    # Down from day 50 to day 58: the "3 days before" reminder (day 57) comes once on start.
    clock.now = start + timedelta(days=58)
    again = await second()
    assert (await scheduler(again, clock).run_once(clock())).sent == {"remind": 1}
    await scheduler(again, clock).run_once(clock())
    kinds = [(k, p.get("point")) for k, p in await alerts(again) if k != "digest"]
    assert kinds == [("reminder", "50%"), ("reminder", "3d")]

    clock.now = start + timedelta(days=60, minutes=1)
    assert (await scheduler(again, clock).run_once(clock())).sent == {"overdue": 1}
    last = await second()
    clock.advance(days=3)
    assert (await scheduler(last, clock).run_once(clock())).sent == {}
    overdue = [(k, p) for k, p in await alerts(last) if k == "overdue"]
    assert len(overdue) == 1
    text = await rendered(last, overdue[0][1], "overdue")
    assert "超期" in text and filed.number in text and "赵领导" in text  # leaders named
    async with last.uow() as uow:
        keys = (await uow.session.execute(select(NoticeRow.kind))).scalars().all()
    assert sorted(k for k in keys if k != "digest") == ["overdue", "remind:3d", "remind:50%"]

    # Overdue cases are flagged in the officers' lists.
    officer = ChatUser(last.handlers, chat_id="-1001", sender_id="777", in_admin_chat=True)
    await officer.say("/cases overdue")
    assert filed.number in officer.text and "超期" in officer.text


async def test_a_reminder_missed_while_the_service_was_down_is_sent_once_on_start(
    container: Container, clock: FakeClock
) -> None:
    start = clock()
    filed, _officer = await accepted_case(container)
    clock.now = start + timedelta(days=45)  # down from day 1 to day 45
    assert (await scheduler(container, clock).run_once(clock())).sent == {"remind": 1}
    assert (await scheduler(container, clock).run_once(clock())).sent == {}
    # Down across the deadline too: only the overdue alert, no stale "3 days left".
    clock.now = start + timedelta(days=70)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"overdue": 1}
    assert [p.get("point") for k, p in await alerts(container) if k == "reminder"] == ["50%"]
    assert (await load_case(container, filed.case_id)).state is CaseState.ACCEPTED


async def test_an_extension_moves_the_deadline_tells_the_employee_and_cannot_be_repeated(
    container: Container, clock: FakeClock
) -> None:
    start = clock()
    filed, officer = await accepted_case(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    await officer.say(f"/begin {filed.number}")
    clock.now = start + timedelta(days=31)
    await scheduler(container, clock).run_once(clock())  # the 50% reminder of 60 days

    clock.now = start + timedelta(days=40)
    await leader.say(f"/extend {filed.number} 20 需要调取外地分公司的考勤记录")
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.EXTENDED
    assert case.deadline_at == start + timedelta(days=80)
    [*_, push] = await queued(container, filed.case_id, audience="employee")
    assert push.payload["state"] == "extended" and push.payload["days"] == 20
    text = render_employee(container.translator.t, push.kind, push.payload).text
    assert "延期" in text and "20" in text and "2026-05-21" in text

    await leader.say(f"/extend {filed.number} 10 还需要时间")
    assert leader.text == container.translator.t("error.extension_used", "zh_CN")
    assert (await load_case(container, filed.case_id)).deadline_at == start + timedelta(days=80)

    # The old deadline's "3 days before" and overdue never come; the extension has its own.
    clock.now = start + timedelta(days=61)
    assert (await scheduler(container, clock).run_once(clock())).sent == {}
    clock.now = start + timedelta(days=70, hours=1)  # half of the extension (days 60–80)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"remind": 1}
    clock.now = start + timedelta(days=80, hours=1)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"overdue": 1}
    reminders = [p for k, p in await alerts(container) if k == "reminder"]
    assert [(p["point"], p["deadline"][:10]) for p in reminders] == [
        ("50%", "2026-05-01"),
        ("50%", "2026-05-21"),
    ]


async def test_an_answered_case_closes_by_itself_when_the_review_window_passes(
    container: Container, clock: FakeClock
) -> None:
    start = clock()
    filed, officer = await accepted_case(container)
    await officer.say(f"/begin {filed.number}")
    await officer.say(f"/respond {filed.number} explained 已核实，按制度发放。")
    clock.now = start + timedelta(days=30)
    assert (await scheduler(container, clock).run_once(clock())).sent == {}
    clock.now = start + timedelta(days=30, minutes=1)
    assert (await scheduler(container, clock).run_once(clock())).sent == {"auto_close": 1}
    assert (await scheduler(container, clock).run_once(clock())).sent == {}
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.CLOSED and case.closed_at == clock()
    push = (await queued(container, filed.case_id, audience="employee"))[-1]
    assert push.payload["state"] == "closed" and push.payload["auto"] is True
    text = render_employee(container.translator.t, push.kind, push.payload).text
    assert "办结" in text and "未申请复查" in text
    async with container.uow() as uow:
        [*_, event] = await uow.cases.events(filed.case_id)
    assert event.actor_role is Role.SYSTEM and event.to_state is CaseState.CLOSED


async def test_the_daily_digest_lists_cases_due_soon_once_a_day(
    container: Container, clock: FakeClock
) -> None:
    start = clock()  # 2026-03-02 09:00 in Beijing: the digest hour
    filed, _officer = await accepted_case(container)
    clock.now = start + timedelta(days=58)
    await scheduler(container, clock).run_once(clock())
    await scheduler(container, clock).run_once(clock())
    digests = [p for k, p in await alerts(container) if k == "digest"]
    assert len(digests) == 1
    assert digests[0]["due_soon"] == 1 and digests[0]["overdue"] == 0
    text = await rendered(container, digests[0], "digest")
    assert filed.number in text and "王专员" in text
    clock.advance(days=2, hours=1)  # two days on, past the deadline
    await scheduler(container, clock).run_once(clock())
    digests = [p for k, p in await alerts(container) if k == "digest"]
    assert [(d["due_soon"], d["overdue"]) for d in digests] == [(1, 0), (0, 1)]
    assert "超期" in await rendered(container, digests[1], "digest")


async def test_the_scheduler_purges_expired_conversations_and_old_processed_updates(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    async with container.uow() as uow:
        await uow.conversations.save(
            "telegram",
            "5",
            Conversation("intake.category", updated_at=now, expires_at=now + timedelta(hours=1)),
        )
        await uow.processed.mark("telegram:update:1", now)
        await uow.commit()
    clock.advance(hours=2)
    assert (await scheduler(container, clock).run_once(clock())).purged_conversations == 1
    clock.advance(days=2)
    assert (await scheduler(container, clock).run_once(clock())).purged_updates == 1
