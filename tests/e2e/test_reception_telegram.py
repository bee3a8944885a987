"""领导接访 on Telegram (issue 13, item 7): real PTB against the fake Bot API, the outbox
worker delivering. A leader publishes a slot with /slots in the admin chat, the employee
books it from their case opened by tracking code, is reminded the day before, and the
leader records the outcome and takes the case over."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.container import Container
from bot.scheduler import Scheduler
from handlers.payloads import ReceptionButton, encode
from petitions.roles import Role
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, running
from tests.helpers.clock import FakeClock
from tests.helpers.flow import load_case

LEADER = 5554004
REMINDER_DUE = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 the day before, Beijing
AFTER_START = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


async def test_a_booking_round_trip_with_the_reminder_and_the_recorded_outcome(
    container: Container, clock: FakeClock
) -> None:
    async with container.uow() as uow:
        leader = await uow.officers.add(
            "李总", Role.LEADER, clock(), accounts={"telegram": str(LEADER)}
        )
        await uow.commit()

    async with running(container, clock) as tg:
        tg.fake.set_member(tg.admin, LEADER, "member")
        code = await tg.file_petition()
        chat = user = EMPLOYEE

        # The leader publishes a slot in the admin chat.
        await tg.say(tg.admin, LEADER, "/slots 新增 2026-03-05 09:00 60 三楼会议室 2")
        await tg.until(
            tg.admin, 0, lambda ms: any("已发布接访时段" in m.get("text", "") for m in ms)
        )
        async with container.uow() as uow:
            (slot,) = await uow.reception.of_leader(leader.id, clock())

        # The employee opens the case by its code, books, and is told it is in person.
        await tg.say(chat, user, code, expect="cs:rc")
        await tg.press(chat, user, "cs:rc", expect=f"cs:rc:{slot.id}")
        consent = await tg.press(chat, user, f"cs:rc:{slot.id}", expect=f"cs:rcok:{slot.id}")
        assert any("不是匿名的" in m.get("text", "") for m in consent)
        since = len(tg.fake.sent_to(chat))
        await tg.press(chat, user, f"cs:rcok:{slot.id}")
        confirmed = await tg.until(
            chat, since, lambda ms: any("预约领导接访" in m.get("text", "") for m in ms)
        )
        assert any("三楼会议室" in m.get("text", "") for m in confirmed)

        # The day before, the reminder reaches the employee's chat, once.
        since = len(tg.fake.sent_to(chat))
        scheduler = Scheduler(container.uow, container.services, clock)
        clock.now = REMINDER_DUE
        await scheduler.run_once(clock.now)
        await scheduler.run_once(clock.now)
        await tg.until(chat, since, lambda ms: any("温馨提醒" in m.get("text", "") for m in ms))
        number = NUMBER.search(tg.texts(chat))
        assert number is not None

        # After the reception: the leader's list, the outcome, 包案.
        clock.now = AFTER_START
        async with container.uow() as uow:
            (booking,) = await uow.reception.bookings_of([slot.id])
        held = encode(ReceptionButton("held", booking.id))
        await tg.say(tg.admin, LEADER, "/slots", expect=held)
        assert number.group(0) in tg.texts(tg.admin)
        cont = encode(ReceptionButton("cont", booking.id))
        await tg.press(tg.admin, LEADER, held, expect=cont)
        await tg.press(tg.admin, LEADER, cont)
        take = encode(ReceptionButton("take", booking.case_id))
        await tg.say(tg.admin, LEADER, "已责成一厂两周内补发。", expect=take)
        since = len(tg.fake.sent_to(tg.admin))
        await tg.press(tg.admin, LEADER, take)
        await tg.until(
            tg.admin, since, lambda ms: any("您已包案" in m.get("text", "") for m in ms)
        )

        # The employee sees that the reception took place, not the leader's note.
        since = len(tg.fake.sent_to(chat))
        await tg.say(chat, user, code)
        status = await tg.until(
            chat, since, lambda ms: any("领导接访已进行" in m.get("text", "") for m in ms)
        )
        assert not any("责成" in m.get("text", "") for m in status)
        reminders = [t for t in tg.fake.texts_to(chat) if "温馨提醒" in t]
        assert len(reminders) == 1
        assert tg.fake.flood_violations == 0

    case = await load_case(container, booking.case_id)
    assert case.owner_officer_id == leader.id
