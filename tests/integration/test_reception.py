"""领导接访 through the real handlers and storage (SQLite, and PostgreSQL when configured):
a leader publishes a slot, an employee holding a tracking code books it after being told
that the meeting is in person, the reminder comes the day before exactly once, the leader
reads the case, records the outcome and takes the case over (包案); capacity holds, and a
leader of another branch is neither offered nor shown the case."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from bot.cli import main
from bot.container import Container
from bot.scheduler import Scheduler
from handlers.payloads import CaseButton, ReceptionButton, encode
from handlers.reception import book_slot
from petitions.reception import ReceptionRefused
from petitions.roles import Role
from storage.models import ReceptionBookingRow, ReceptionSlotRow
from storage.vault import Keyring
from tests.helpers.chat import ChatUser
from tests.helpers.cli import english_cli  # noqa: F401 - English output asserted
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import Filed, admin_chat, file_petition, load_case, queued
from tests.unit.test_zh_catalog_latin import latin_words

ROOT, COMPANY, PLANT, OTHER = "JT", "JY", "JY-1", "YY"
# The clock starts on Monday 2026-03-02 09:00 office time; the slot is on Thursday.
SLOT_TEXT = "2026-03-05 09:00 60 三楼会议室"
SLOT_START = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
REMINDER_DUE = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 the day before


def zh(container: Container, key: str, **params: Any) -> str:
    return container.translator.t(key, "zh_CN", **params)


async def group(container: Container) -> dict[str, int]:
    """集团 → 甲能源公司 → 一厂, and 乙运输公司 beside it."""
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add(ROOT, "本集团", None, now)
        company = await uow.units.add(COMPANY, "甲能源公司", root.id, now)
        plant = await uow.units.add(PLANT, "一厂", company.id, now)
        other = await uow.units.add(OTHER, "乙运输公司", root.id, now)
        await uow.commit()
    return {ROOT: root.id, COMPANY: company.id, PLANT: plant.id, OTHER: other.id}


async def staff(
    container: Container, unit_id: int, account: str, role: Role, name: str
) -> tuple[ChatUser, int]:
    async with container.uow() as uow:
        officer = await uow.officers.add(
            name, role, container.services.clock(), unit_id=unit_id, accounts={"telegram": account}
        )
        await uow.commit()
    return admin_chat(container, account), officer.id


async def filed_at(
    container: Container, user: ChatUser, unit_id: int, *, updates: str = "push"
) -> Filed:
    filed = await file_petition(container, user, updates=updates)
    async with container.uow() as uow:
        case = await uow.cases.get(filed.case_id, for_update=True)
        assert case is not None
        case.unit_id = case.origin_unit_id = unit_id
        await uow.cases.save(case)
        await uow.commit()
    return filed


async def slot_ids(container: Container) -> list[int]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(ReceptionSlotRow.id))).all())


async def bookings(container: Container) -> list[ReceptionBookingRow]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(ReceptionBookingRow))).all())


async def book(user: ChatUser, code: str, slot_id: int) -> None:
    """Open the case by its code and book the slot, consenting."""
    await user.say(code)
    await user.press("cs:rc")
    await user.press(f"cs:rc:{slot_id}")
    await user.press(f"cs:rcok:{slot_id}")


@pytest.fixture
async def world(container: Container) -> dict[str, Any]:
    units = await group(container)
    leader, leader_id = await staff(container, units[COMPANY], "803", Role.LEADER, "李总")
    other, other_id = await staff(container, units[OTHER], "903", Role.LEADER, "赵总")
    plant, _ = await staff(container, units[PLANT], "801", Role.OFFICER, "王专员")
    user = ChatUser(container.handlers, chat_id="30001", sender_id="30001")
    filed = await filed_at(container, user, units[PLANT])
    return {
        "units": units,
        "leader": leader,
        "leader_id": leader_id,
        "other": other,
        "other_id": other_id,
        "plant": plant,
        "user": user,
        "filed": filed,
    }


async def test_an_employee_books_a_leaders_slot_after_being_told_the_meeting_is_in_person(
    container: Container, world: dict[str, Any]
) -> None:
    leader, user, filed = world["leader"], world["user"], world["filed"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    assert "已发布接访时段" in leader.text and "三楼会议室" in leader.text
    (slot_id,) = await slot_ids(container)

    await user.say(filed.code)
    assert user.buttons.get("cs:rc") == zh(container, "button.reception_book")
    await user.press("cs:rc")
    assert f"cs:rc:{slot_id}" in user.buttons
    assert "李总（甲能源公司）" in user.buttons[f"cs:rc:{slot_id}"]
    await user.press(f"cs:rc:{slot_id}")
    # Said before the confirmation: in person, not anonymous, the leader reads the case.
    assert zh(container, "reception.consent_in_person") in user.text
    assert zh(container, "reception.consent_summary") in user.text
    assert zh(container, "reception.consent_anonymous") in user.text
    assert zh(container, "reception.consent_reminder") in user.text
    assert not await bookings(container)  # nothing is booked before the confirmation
    await user.press(f"cs:rcok:{slot_id}")
    text = user.text
    assert zh(container, "reception.confirmed", number=filed.number) in text
    assert "三楼会议室" in text and "2026年3月5日（星期四）09:00" in text
    assert "李总（甲能源公司）" in text
    assert zh(container, "reception.confirmed_reminder") in text

    # The case's status shows the booking and offers to cancel it instead of booking.
    await user.press("cs:back")
    assert "已预约领导接访" in user.text
    assert "cs:rcx" in user.buttons and "cs:rc" not in user.buttons
    for reply in user.history:
        assert latin_words(reply.text) == [], reply.text

    # The booking names the case and the slot, nothing about the chat or the person.
    (row,) = await bookings(container)
    assert (row.case_id, row.slot_id, row.status) == (filed.case_id, slot_id, "booked")
    assert row.booked_at.minute == 0  # the employee's act is kept to the hour
    async with container.uow() as uow:
        columns = await uow.session.run_sync(
            lambda s: {
                c["name"] for c in inspect(s.connection()).get_columns("reception_bookings")
            }
        )
    assert not any(word in c for c in columns for word in ("chat", "contact", "name", "sender"))
    async with container.uow() as uow:
        actions = [a["action"] for a in await uow.audit.list(filed.case_id)]
    assert "reception.book" in actions


async def test_a_full_slot_refuses_the_second_booking_and_a_cancel_frees_the_place(
    container: Container, world: dict[str, Any]
) -> None:
    leader, user, filed = world["leader"], world["user"], world["filed"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 1")
    (slot_id,) = await slot_ids(container)
    await book(user, filed.code, slot_id)
    second_user = ChatUser(container.handlers, chat_id="30002", sender_id="30002")
    second = await filed_at(container, second_user, world["units"][PLANT])

    await second_user.say(second.code)
    await second_user.press("cs:rc")
    assert second_user.text == zh(container, "reception.no_slots")  # full: not offered
    await second_user.press(f"cs:rcok:{slot_id}")  # an old button: refused all the same
    assert second_user.text == zh(container, "reception.refused.full")
    assert len(await bookings(container)) == 1

    # One active booking per case: the first case cannot book again.
    await user.press("cs:back")
    await user.press("cs:rc")
    assert user.text == zh(container, "reception.refused.booked")

    await user.press("cs:rcx")
    assert user.text == zh(container, "reception.cancel_ask")
    await user.press("cs:rcxy")
    assert user.text == zh(container, "reception.cancelled")
    await book(second_user, second.code, slot_id)
    assert zh(container, "reception.confirmed", number=second.number) in second_user.text
    rows = {r.case_id: r.status for r in await bookings(container)}
    assert rows == {filed.case_id: "cancelled", second.case_id: "booked"}


async def test_two_bookings_racing_for_the_last_place_leave_one_booked(
    container: Container, world: dict[str, Any]
) -> None:
    leader = world["leader"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 1")
    (slot_id,) = await slot_ids(container)
    second = await filed_at(
        container, ChatUser(container.handlers, chat_id="2", sender_id="2"), world["units"][PLANT]
    )
    now = container.services.clock()

    async def attempt(case_id: int) -> bool:
        async with container.uow() as uow:
            case = await uow.cases.get(case_id)
            assert case is not None
            try:
                await book_slot(uow, case, slot_id, now, now)
            except ReceptionRefused:
                return False
            await uow.commit()
            return True

    results = await asyncio.gather(attempt(world["filed"].case_id), attempt(second.case_id))
    assert sorted(results) == [False, True]
    async with container.uow() as uow:
        slot = await uow.reception.slot(slot_id)
    assert slot is not None and slot.booked == 1
    assert len(await bookings(container)) == 1


async def test_the_reminder_comes_the_day_before_exactly_once(
    container: Container, world: dict[str, Any], clock: FakeClock
) -> None:
    leader, user, filed = world["leader"], world["user"], world["filed"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    (slot_id,) = await slot_ids(container)
    await book(user, filed.code, slot_id)
    scheduler = Scheduler(container.uow, container.services, clock)

    def reminders(rows: list[Any]) -> list[Any]:
        return [q for q in rows if q.kind == "reception_reminder"]

    clock.now = REMINDER_DUE - timedelta(minutes=1)
    await scheduler.run_once(clock.now)
    assert reminders(await queued(container, filed.case_id, audience="employee")) == []
    clock.now = REMINDER_DUE
    result = await scheduler.run_once(clock.now)
    assert result.sent["reception_reminder"] == 1
    clock.advance(hours=2)
    await scheduler.run_once(clock.now)
    await scheduler.run_once(clock.now)
    (reminder,) = reminders(await queued(container, filed.case_id, audience="employee"))
    assert reminder.payload["place"] == "三楼会议室"
    # Rendered in the employee's language, as the delivery worker does.
    from handlers.views import render_employee

    text = render_employee(container.translator.t, reminder.kind, dict(reminder.payload)).text
    assert filed.number in text and "明天" in text and "三楼会议室" in text
    assert latin_words(text) == []


async def test_a_code_only_case_is_told_no_reminder_will_come_and_gets_none(
    container: Container, world: dict[str, Any], clock: FakeClock
) -> None:
    leader = world["leader"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    (slot_id,) = await slot_ids(container)
    user = ChatUser(container.handlers, chat_id="30009", sender_id="30009")
    filed = await filed_at(container, user, world["units"][PLANT], updates="code")
    await user.say(filed.code)
    await user.press("cs:rc")
    await user.press(f"cs:rc:{slot_id}")
    assert zh(container, "reception.consent_no_push") in user.text
    await user.press(f"cs:rcok:{slot_id}")
    assert zh(container, "reception.confirmed_no_reminder") in user.text
    clock.now = REMINDER_DUE + timedelta(hours=1)
    await Scheduler(container.uow, container.services, clock).run_once(clock.now)
    assert not [q for q in await queued(container, filed.case_id) if q.kind.startswith("rec")]


async def test_the_leader_reads_the_case_records_the_outcome_and_takes_the_case_over(
    container: Container, world: dict[str, Any], clock: FakeClock
) -> None:
    leader, user, filed = world["leader"], world["user"], world["filed"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    (slot_id,) = await slot_ids(container)
    await book(user, filed.code, slot_id)
    (booking,) = await bookings(container)

    # Before: /slots lists the booking with the case number and opens the case card.
    await leader.say("/slots")
    assert filed.number in leader.text and "已约1/3" in leader.text
    view = encode(CaseButton("view", filed.case_id))
    held = encode(ReceptionButton("held", booking.id))
    assert {view, held} <= set(leader.buttons)
    await leader.press(view)
    assert "三个月没有发加班费" in leader.text  # the petition's text

    # Not before the reception has begun.
    await leader.press(held)
    await leader.press(encode(ReceptionButton("reso", booking.id)))
    await leader.say("提前记录")
    assert leader.text == zh(container, "reception.refused.early")

    clock.now = SLOT_START + timedelta(hours=1)
    await leader.press(held)
    assert encode(ReceptionButton("reso", booking.id)) in leader.buttons
    await leader.press(encode(ReceptionButton("cont", booking.id)))
    assert leader.text == zh(container, "reception.ask_note")
    await leader.say("职工反映的加班费差额属实，已责成一厂两周内补发。")
    assert zh(container, "reception.recorded", number=filed.number) in leader.text
    (row,) = await bookings(container)
    assert (row.status, row.outcome) == ("held", "continue")

    async with container.uow() as uow:
        events = await uow.cases.events(filed.case_id)
        messages = await uow.cases.messages(filed.case_id)
    assert [e.detail for e in events if e.kind == "leader_reception"] == [{"outcome": "continue"}]
    assert any("责成一厂" in m.body and m.kind == "note" for m in messages)

    # The employee sees that the reception took place, not what the leader noted.
    await user.say(filed.code)
    assert "领导接访已进行" in user.text
    assert "责成一厂" not in user.text
    assert "cs:rc" in user.buttons  # held: the case may book again

    # 包案: the leader becomes the owner, recorded and audited.
    await leader.press(encode(ReceptionButton("take", filed.case_id)))
    assert zh(container, "reception.taken_over", number=filed.number) in leader.text
    case = await load_case(container, filed.case_id)
    assert case.owner_officer_id == world["leader_id"]
    async with container.uow() as uow:
        events = await uow.cases.events(filed.case_id)
        actions = [a["action"] for a in await uow.audit.list(filed.case_id)]
    assert events[-1].kind == "assigned" and events[-1].detail["owner"] == world["leader_id"]
    assert {"reception.held", "case.take_over"} <= set(actions)


async def test_a_leader_of_another_branch_is_not_offered_and_cannot_see_the_case(
    container: Container, world: dict[str, Any]
) -> None:
    leader, other, user, filed = world["leader"], world["other"], world["user"], world["filed"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    await other.say("/slots 新增 2026-03-06 10:00 30 乙公司会议室 2")
    own, theirs = await slot_ids(container)
    await user.say(filed.code)
    await user.press("cs:rc")
    assert f"cs:rc:{own}" in user.buttons and f"cs:rc:{theirs}" not in user.buttons
    await user.press(f"cs:rcok:{theirs}")
    assert user.text == zh(container, "reception.refused.gone")
    await book(user, filed.code, own)
    (booking,) = await bookings(container)

    for press in (
        encode(CaseButton("view", filed.case_id)),
        encode(ReceptionButton("held", booking.id)),
        encode(ReceptionButton("take", filed.case_id)),
    ):
        await other.press(press)
        # Refused; a case outside their part of the group is answered as not found.
        refused = {zh(container, "error.not_permitted"), zh(container, "error.case_not_found")}
        assert other.text in refused, press
    await other.say("/slots")
    assert filed.number not in other.text
    assert (await load_case(container, filed.case_id)).owner_officer_id is None


async def test_only_leaders_publish_slots(container: Container, world: dict[str, Any]) -> None:
    plant = world["plant"]
    await plant.say(f"/slots 新增 {SLOT_TEXT} 3")
    assert plant.text == zh(container, "error.not_permitted")
    assert await slot_ids(container) == []


async def test_a_leader_publishes_an_online_slot_step_by_step(
    container: Container, world: dict[str, Any]
) -> None:
    leader = world["leader"]
    await leader.say("/slots 新增")
    assert leader.text == zh(container, "reception.ask_when")
    await leader.say("3月5日 下午3点")
    assert leader.text == zh(container, "reception.ask_minutes")
    await leader.press(encode(ReceptionButton("min", 45)))  # a stale value is read the same
    assert leader.text == zh(container, "reception.ask_place")
    await leader.press(encode(ReceptionButton("online", 0)))
    assert leader.text == zh(container, "reception.ask_link")
    await leader.say("腾讯会议 123-456-789")
    await leader.say("4人")
    assert "线上接访：腾讯会议 123-456-789" in leader.text
    assert "2026年3月5日（星期四）15:00" in leader.text
    await leader.press(encode(ReceptionButton("publish", 0)))
    assert "已发布接访时段" in leader.text
    async with container.uow() as uow:
        (slot,) = await uow.reception.of_leader(world["leader_id"], SLOT_START)
    assert (slot.minutes, slot.online, slot.capacity) == (45, True, 4)
    assert slot.starts_at == datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    async with container.uow() as uow:
        actions = [a["action"] for a in await uow.audit.list()]
    assert "reception.slot_add" in actions


async def test_a_slot_in_the_past_or_too_large_is_refused_in_chinese(
    container: Container, world: dict[str, Any]
) -> None:
    leader = world["leader"]
    await leader.say("/slots 新增 2026-03-01 09:00 60 三楼会议室 3")
    assert leader.text == zh(container, "reception.invalid.starts_at")
    await leader.say(f"/slots 新增 {SLOT_TEXT} 99")
    assert leader.text == zh(container, "reception.invalid.capacity", capacity=50)
    assert await slot_ids(container) == []


@pytest.fixture
def deployment(env: dict[str, str], keys: tuple[Keyring, Path], monkeypatch) -> dict[str, str]:
    """The CLI's environment: the test's database and keyring, nothing else."""
    for key in list(os.environ):
        if key.startswith(("XINFANG_", "TELEGRAM_", "WECOM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XINFANG_LOG_LEVEL", "WARNING")
    return env


async def test_the_operator_adds_and_lists_slots_from_the_command_line(
    container: Container, world: dict[str, Any], deployment: dict[str, str], capsys
) -> None:
    at = (datetime.now(UTC) + timedelta(days=3)).astimezone().strftime("%Y-%m-%d 09:00")
    args = ["reception", "add", "--leader", str(world["leader_id"]), "--at", at]
    args += ["--minutes", "60", "--place", "三楼会议室", "--capacity", "3"]
    assert await asyncio.to_thread(main, args) == 0
    assert await asyncio.to_thread(main, ["reception", "list"]) == 0
    out = capsys.readouterr().out
    assert "三楼会议室" in out and "booked 0/3" in out and "李总" in out
    bad = ["reception", "add", "--leader", str(world["other_id"] + 100), "--at", at]
    bad += ["--minutes", "60", "--place", "x", "--capacity", "3"]
    assert await asyncio.to_thread(main, bad) == 2
    async with container.uow() as uow:
        entries = [a for a in await uow.audit.list() if a["action"] == "reception.slot_add"]
    assert len(entries) == 1


async def test_a_slots_place_is_encrypted_bound_to_its_row_and_rotated_with_the_keys(
    container: Container, world: dict[str, Any]
) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from sqlalchemy import update

    from storage.db import session_factory
    from storage.rotation import reencrypt_all
    from storage.vault import Vault, VaultError
    from tests.helpers.plaintext import decrypted_database, raw_database

    leader, other = world["leader"], world["other"]
    await leader.say(f"/slots 新增 {SLOT_TEXT} 3")
    await other.say("/slots 新增 2026-03-06 10:00 30 乙公司会议室 2")
    assert not [v for v in await raw_database(container) if "三楼会议室" in v]
    assert b"\xe4\xb8\x89\xe6\xa5\xbc\xe4\xbc\x9a\xe8\xae\xae\xe5\xae\xa4" in b"".join(
        await decrypted_database(container)
    )

    # Rotation rewraps it under the new content key.
    ring = container.vault.keyring
    ring.content["cnew"] = AESGCM.generate_key(256)
    ring.active_content = "cnew"
    counts = await reencrypt_all(session_factory(container.engine), Vault(ring))
    assert counts["reception_slots.place_ct"] == 2
    ring.content = {"cnew": ring.content["cnew"]}
    own, theirs = await slot_ids(container)
    async with container.uow() as uow:
        slot = await uow.reception.slot(own)
    assert slot is not None and slot.place == "三楼会议室"

    # Copied to another slot's row, it no longer opens.
    async with container.uow() as uow:
        blob = await uow.session.scalar(
            select(ReceptionSlotRow.place_ct).where(ReceptionSlotRow.id == own)
        )
        await uow.session.execute(
            update(ReceptionSlotRow).where(ReceptionSlotRow.id == theirs).values(place_ct=blob)
        )
        await uow.commit()
    with pytest.raises(VaultError):
        async with container.uow() as uow:
            await uow.reception.slot(theirs)
