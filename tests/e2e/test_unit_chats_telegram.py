"""Two units, two Telegram admin groups beside the root's (issue 13, item 3): real PTB
against the fake Bot API. A case at company A is posted to A's group and the root's, never
to B's; A's digest lists only A's cases; an officer of B forging a button of A's card in
B's group is refused; a reply in B's group to a card of a case B does not cover is refused.
"""

from __future__ import annotations

import pytest

from bot.container import Container
from handlers.scheduling import send_digest
from petitions.deadlines import OFFICE_ZONE
from petitions.roles import Role
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, Harness, running
from tests.helpers.clock import FakeClock

A_GROUP, B_GROUP = -1002, -1003
A_OFFICER, B_OFFICER, ROOT_OFFICER = 5554001, 5554002, 5554003


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """TELEGRAM_ADMIN_CHAT_ID (-1001) is the root's group; A and B have their own."""
    return {**env, "XINFANG_UNIT_CHATS": f"JT-A=telegram:{A_GROUP};JT-B=telegram:{B_GROUP}"}


async def seed(container: Container) -> dict[str, int]:
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        b = await uow.units.add("JT-B", "乙公司", root.id, now)
        for account, unit in ((A_OFFICER, a.id), (B_OFFICER, b.id), (ROOT_OFFICER, root.id)):
            await uow.officers.add(
                f"专员{account}",
                Role.OFFICER,
                now,
                unit_id=unit,
                accounts={"telegram": str(account)},
            )
        await uow.commit()
    return {"JT": root.id, "JT-A": a.id, "JT-B": b.id}


async def file_at(tg: Harness, user: int, unit_name: str) -> str:
    """An anonymous petition about this unit (typed into the unit search); its number."""
    chat = user
    await tg.say(chat, user, "/start", expect="menu:new")
    await tg.press(chat, user, "menu:new", expect="cat:pay")
    await tg.press(chat, user, "cat:pay")
    await tg.say(chat, user, unit_name, expect="cf:no")
    await tg.press(chat, user, "cf:no")
    await tg.say(
        chat, user, "三个月没有发加班费了，车间主任说没有预算，要求补发。", expect="ev:done"
    )
    await tg.press(chat, user, "ev:done", expect="anon:yes")
    await tg.press(chat, user, "anon:yes", expect="up:push")
    await tg.press(chat, user, "up:push", expect="rv:submit")
    since = len(tg.fake.sent_to(chat))
    tg.fake.callback_query(
        chat, user, "rv:submit", tg.with_button(chat, "rv:submit")["message_id"]
    )
    found = await tg.until(
        chat, since, lambda ms: any(NUMBER.search(m.get("text", "")) for m in ms)
    )
    match = next(
        NUMBER.search(m.get("text", "")) for m in found if NUMBER.search(m.get("text", ""))
    )
    assert match is not None
    return match.group(0)


def cards_in(tg: Harness, chat: int, number: str) -> list[dict[str, object]]:
    return [m for m in tg.fake.sent_to(chat) if number in str(m.get("text", ""))]


async def test_two_units_groups_get_their_own_cases_and_refuse_the_others(
    container: Container, clock: FakeClock
) -> None:
    await seed(container)
    async with running(container, clock) as tg:
        fake = tg.fake
        for group, title, member in (
            (A_GROUP, "甲公司信访", A_OFFICER),
            (B_GROUP, "乙公司信访", B_OFFICER),
        ):
            fake.add_chat(group, "supergroup", title=title)
            fake.set_member(group, member, "member")
        fake.set_member(tg.admin, ROOT_OFFICER, "member")
        for outsider in (A_OFFICER, B_OFFICER):  # the fake counts everyone a member else
            fake.set_member(tg.admin, outsider, "left")

        at_a = await file_at(tg, EMPLOYEE, "甲公司")
        at_b = await file_at(tg, EMPLOYEE + 1, "乙公司")
        await fake.wait_until(lambda: bool(cards_in(tg, A_GROUP, at_a)), 10)
        await fake.wait_until(lambda: bool(cards_in(tg, B_GROUP, at_b)), 10)
        await fake.wait_until(
            lambda: bool(cards_in(tg, tg.admin, at_a)) and bool(cards_in(tg, tg.admin, at_b)), 10
        )
        assert not cards_in(tg, B_GROUP, at_a) and not cards_in(tg, A_GROUP, at_b)

        # The digest, per group: A's lists A's case only, the root's both.
        clock.advance(days=13)
        async with container.uow() as uow:
            assert await send_digest(uow, container.services, clock())
            await uow.commit()
        tg.worker.wake()
        day = clock().astimezone(OFFICE_ZONE).date().isoformat()

        def header(due: int) -> str:
            return container.translator.t(
                "admin.digest_header", "zh_CN", date=day, due=due, overdue=0
            )

        await fake.wait_until(
            lambda: (
                any(t.startswith(header(1)) for t in fake.texts_to(A_GROUP))
                and any(t.startswith(header(1)) for t in fake.texts_to(B_GROUP))
                and any(t.startswith(header(2)) for t in fake.texts_to(tg.admin))
            ),
            10,
        )
        a_digest = next(t for t in fake.texts_to(A_GROUP) if t.startswith(header(1)))
        root_digest = next(t for t in fake.texts_to(tg.admin) if t.startswith(header(2)))
        b_digest = next(t for t in fake.texts_to(B_GROUP) if t.startswith(header(1)))
        assert at_a in a_digest and at_b not in a_digest
        assert at_b in b_digest and at_a not in b_digest
        assert at_a in root_digest and at_b in root_digest

        # B's officer forges A's card's button in B's group: refused, told privately.
        card = next(m for m in cards_in(tg, A_GROUP, at_a) if tg.buttons(m))
        accept = next(p for p in tg.buttons(card) if p.startswith("o:accept:"))
        before = len(fake.sent_to(B_GROUP))
        fake.callback_query(B_GROUP, B_OFFICER, accept, card["message_id"])  # type: ignore[arg-type]
        refused = container.translator.t("error.case_not_found", "zh_CN")
        await fake.wait_for(
            lambda c: c.method == "answerCallbackQuery" and c.params.get("text") == refused
        )
        assert len(fake.sent_to(B_GROUP)) == before

        # The root's officer, in B's group, replies to B's old card about A's case, and
        # asks for A's case: refused there, though the root office may see it elsewhere.
        b_card = next(m for m in cards_in(tg, B_GROUP, at_b) if tg.buttons(m))
        async with container.uow() as uow:
            found = await uow.cases.by_number(at_b)
            assert found is not None and found.id is not None
            moved = await uow.cases.get(found.id, for_update=True)
            assert moved is not None
            moved.unit_id = (await uow.units.tree()).by_code("JT-A").id  # type: ignore[union-attr]
            await uow.cases.save(moved)
            await uow.commit()
        since = len(fake.sent_to(B_GROUP))
        fake.user_message(
            B_GROUP,
            ROOT_OFFICER,
            "已转甲公司",
            reply_to_message_id=b_card["message_id"],  # type: ignore[arg-type]
        )
        reply = (await fake.wait_for_messages(B_GROUP, since + 1))[-1]
        assert reply["text"] == refused
        since = len(fake.sent_to(tg.admin))
        fake.user_message(tg.admin, ROOT_OFFICER, f"/case {at_a}")
        shown = await tg.until(tg.admin, since, bool)
        assert at_a in shown[0]["text"]

        # An officer who is in no admin group of their part of the group acts nowhere
        # from a private chat: B's officer is a member of B's group, A's is not.
        fake.set_member(A_GROUP, A_OFFICER, "left")
        answer = await tg.say(A_OFFICER, A_OFFICER, f"/case {at_a}")
        assert answer[0]["text"] == container.translator.t("officer.not_registered", "zh_CN")
        answer = await tg.say(B_OFFICER, B_OFFICER, f"/case {at_b}")
        assert answer[0]["text"] == refused  # a member; the case is A's now
        assert fake.flood_violations == 0
