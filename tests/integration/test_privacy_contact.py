"""What the server keeps about who petitioned, and for how long: no address at all for a
"code only" petition, a pushed petition's address erased after closing and the follow-up,
throttling rows purged after their window, employees' times stored to the hour, private
files on disk."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.scheduler import Scheduler
from bot.settings import load_settings
from handlers.notify import queue_employee
from storage.db import create_engine
from storage.models import AuditRow, CaseEventRow, CaseRow, ConversationRow, RateLimitRow
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer, file_petition, load_case, queued
from tests.helpers.plaintext import decrypted_database, raw_database

CHAT = "8123456789"


def employee(container: Container, chat: str = CHAT) -> ChatUser:
    return ChatUser(container.handlers, chat_id=chat, sender_id=chat)


async def contact_ct(container: Container, case_id: int) -> bytes | None:
    async with container.uow() as uow:
        stmt = select(CaseRow.contact_ct).where(CaseRow.id == case_id)
        return (await uow.session.execute(stmt)).scalar_one()


async def mentions(container: Container, needle: str) -> bool:
    opened = await decrypted_database(container)
    raw = await raw_database(container)
    return any(needle.encode() in blob for blob in opened) or any(needle in v for v in raw)


async def test_a_code_only_petition_stores_no_address_of_any_kind(container: Container):
    user = employee(container)
    filed = await file_petition(container, user, updates="code")
    assert "只凭查询码" in user.text  # the receipt says what was chosen
    assert await contact_ct(container, filed.case_id) is None
    assert not await mentions(container, CHAT)
    case = await load_case(container, filed.case_id)
    assert not case.push_updates and case.contact_erase_at is None
    # Progress is still there by tracking code.
    await user.say(filed.code)
    assert filed.number in user.text


async def test_a_code_only_answer_is_not_pushed_anywhere(container: Container, clock: FakeClock):
    user = employee(container)
    filed = await file_petition(container, user, updates="code")
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    sent: list[object] = []

    class Recorder:
        channel = "telegram"

        async def send(self, delivery: object) -> None:
            sent.append(delivery)

    worker = DeliveryWorker(container.uow, container.translator.t, {"telegram": Recorder()}, clock)
    await worker.run_once()
    assert not [d for d in sent if getattr(d, "audience", "") == "employee"]
    assert worker.stats.unreachable >= 1


async def close_and_ask(container: Container, clock: FakeClock, user: ChatUser):
    filed = await file_petition(container, user)
    officer = await add_officer(container)
    for command in ("accept", "begin"):
        await officer.say(f"/{command} {filed.number}")
    await officer.say(f"/respond {filed.number} supported 已补发。")
    await officer.say(f"/close {filed.number}")
    return filed


async def test_a_pushed_address_is_kept_until_the_follow_up_is_answered_then_erased(
    container: Container, clock: FakeClock
):
    user = employee(container)
    filed = await close_and_ask(container, clock, user)
    scheduler = Scheduler(container.uow, container.services, clock)
    assert await contact_ct(container, filed.case_id) is not None
    clock.advance(days=31)
    result = await scheduler.run_once(clock())
    assert result.sent["follow_up"] == 1 and result.erased_contacts == 0
    [*_, ask] = await queued(container, filed.case_id, audience="employee")
    token = ask.payload["token"]
    # Still needed while the follow-up push waits for delivery.
    await user.press(f"fu:{token}:y")
    await user.press(f"fu:{token}:r0")
    async with container.uow() as uow:  # the follow-up push was delivered meanwhile
        for row in await uow.outbox.for_case(filed.case_id):
            await uow.outbox.mark(row.id, "sent", now=clock())
        await uow.commit()
    assert await contact_ct(container, filed.case_id) is not None
    clock.advance(minutes=1)
    result = await scheduler.run_once(clock())
    assert result.erased_contacts == 1
    assert await contact_ct(container, filed.case_id) is None
    assert not await mentions(container, CHAT)
    async with container.uow() as uow:
        audit = await uow.audit.list(filed.case_id)
    assert "case.contact_erased" in [a["action"] for a in audit]
    # The case and its timeline stay, readable by tracking code.
    await user.say(filed.code)
    assert filed.number in user.text and "办结" in user.text


async def test_an_unanswered_follow_up_ends_with_the_address_erased_at_the_keep_time(
    container: Container, clock: FakeClock
):
    user = employee(container)
    filed = await close_and_ask(container, clock, user)
    closed = await load_case(container, filed.case_id)
    assert closed.contact_erase_at == closed.closed_at + timedelta(days=44)
    scheduler = Scheduler(container.uow, container.services, clock)
    clock.advance(days=43)
    await scheduler.run_once(clock())
    async with container.uow() as uow:
        for row in await uow.outbox.for_case(filed.case_id):
            await uow.outbox.mark(row.id, "sent", now=clock())
        await uow.commit()
    assert (await scheduler.run_once(clock())).erased_contacts == 0
    clock.advance(days=1, hours=1)
    assert (await scheduler.run_once(clock())).erased_contacts == 1
    assert await contact_ct(container, filed.case_id) is None


async def test_a_message_still_on_its_way_keeps_the_address_until_it_went(
    container: Container, clock: FakeClock
):
    user = employee(container)
    filed = await file_petition(container, user)
    await user.say(filed.code)
    await user.press("cs:withdraw")
    await user.press("cs:withdraw_yes")
    scheduler = Scheduler(container.uow, container.services, clock)
    clock.advance(days=2)
    # A push to the employee still waits for delivery (e.g. the platform is down).
    case = await load_case(container, filed.case_id)
    async with container.uow() as uow:
        await queue_employee(uow, case, "answer", {"number": filed.number, "text": "x"}, clock())
        await uow.commit()
    assert (await scheduler.run_once(clock())).erased_contacts == 0
    async with container.uow() as uow:
        for row in await uow.outbox.for_case(filed.case_id):
            await uow.outbox.mark(row.id, "sent", now=clock())
        await uow.commit()
    assert (await scheduler.run_once(clock())).erased_contacts == 1


async def test_failed_code_lookups_are_forgotten_after_their_window(
    container: Container, clock: FakeClock
):
    user = employee(container)
    await user.say("/status AAAA-BBBB-CCCC-DDDD")
    async with container.uow() as uow:
        count = (
            await uow.session.execute(select(func.count()).select_from(RateLimitRow))
        ).scalar()
    assert count == 1
    scheduler = Scheduler(container.uow, container.services, clock)
    clock.advance(minutes=10)
    assert (await scheduler.run_once(clock())).purged_limits == 0
    clock.advance(minutes=6)
    assert (await scheduler.run_once(clock())).purged_limits == 1
    async with container.uow() as uow:
        count = (
            await uow.session.execute(select(func.count()).select_from(RateLimitRow))
        ).scalar()
    assert count == 0


async def test_an_employees_times_are_stored_to_the_hour(container: Container, clock: FakeClock):
    clock.now = clock.now.replace(minute=37, second=12, microsecond=345678)
    user = employee(container)
    filed = await file_petition(container, user)
    hour = clock.now.replace(minute=0, second=0, microsecond=0)
    async with container.uow() as uow:
        s = uow.session
        case = (await s.execute(select(CaseRow).where(CaseRow.id == filed.case_id))).scalar_one()
        events = (
            await s.execute(select(CaseEventRow.at).where(CaseEventRow.case_id == filed.case_id))
        ).scalars()
        audits = (
            await s.execute(select(AuditRow.at).where(AuditRow.case_id == filed.case_id))
        ).scalars()
        conversations = (await s.execute(select(ConversationRow.updated_at))).scalars()
        assert case.created_at == hour
        assert set(events) == {hour}
        assert set(audits) == {hour}
        assert all(at.minute == 0 and at.second == 0 for at in conversations)


async def test_a_remembered_language_is_forgotten_after_the_idle_time(
    container: Container, clock: FakeClock
):
    user = employee(container)
    await user.press("lang:en")
    scheduler = Scheduler(container.uow, container.services, clock)
    clock.advance(days=89)
    await scheduler.run_once(clock())
    async with container.uow() as uow:
        assert await uow.conversations.get("telegram", CHAT) is not None
    clock.advance(days=2)
    result = await scheduler.run_once(clock())
    assert result.purged_conversations == 1


async def test_the_database_file_and_the_keys_directory_are_private(
    env: dict[str, str], backend: str, tmp_path: Path
):
    if backend != "sqlite":
        pytest.skip("file permissions are the embedded database's")
    from bot.container import build_container

    container = await build_container(load_settings(env))
    try:
        await file_petition(container, employee(container))
    finally:
        await container.close()
    db = Path(env["XINFANG_DATA_DIR"]) / "xinfang.db"
    keys = Path(env["XINFANG_KEYRING_FILE"]).parent
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


async def test_an_existing_database_readable_by_others_is_made_private(tmp_path: Path):
    path = tmp_path / "old" / "xinfang.db"
    path.parent.mkdir()
    path.write_bytes(b"")
    path.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_case_opened_by_tracking_code_is_forgotten_by_the_chat_within_two_hours(
    container: Container, clock: FakeClock
):
    user = employee(container)
    filed = await file_petition(container, user)
    other = employee(container, "8123456790")
    await other.say(filed.code)
    async with container.uow() as uow:
        conversation = await uow.conversations.get("telegram", "8123456790")
    assert conversation is not None and conversation.draft.get("case_id") == filed.case_id
    assert conversation.expires_at is not None
    assert conversation.expires_at - clock() <= timedelta(hours=2)
    clock.advance(hours=2, minutes=1)
    result = await Scheduler(container.uow, container.services, clock).run_once(clock())
    assert result.purged_conversations >= 1
    async with container.uow() as uow:
        assert await uow.conversations.get("telegram", "8123456790") is None
