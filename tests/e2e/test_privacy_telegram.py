"""Privacy on Telegram end to end (real PTB against the fake Bot API, SQLite and PostgreSQL):
a "code only" petition keeps no address, a pushed one's address is erased after closing and
the follow-up, evidence is cleaned before officers or storage see it, and an officer's reply
to a bot message that belongs to no case reaches nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.container import Container
from bot.telegram.polling import INBOX_TTL
from petitions.states import CaseState
from tests.e2e.test_telegram_flow import CODE, EMPLOYEE, NUMBER, OFFICER, Harness, running
from tests.fakes.telegram_api import UploadedFile
from tests.helpers.clock import FakeClock
from tests.helpers.evidence import docm_with_macros
from tests.helpers.flow import load_case
from tests.helpers.privacy import (
    DESCRIPTION,
    EVIDENCE,
    JPEG,
    MACRO_MIME,
    Evidence,
    assert_clean_files,
    assert_erased_at_keep_time,
    audit_actions,
    case_id_of,
    closing_commands,
    contact_ct,
    eventually,
    mentions,
    outbox_states,
    run_scheduler,
    statistics,
    stored_evidence,
)

# What Telegram knows about the employee: none of it may be kept for a "code only" petition,
# nor after a pushed petition's address was erased.
IDENTIFIERS = (str(EMPLOYEE), "zhangsan_real")
Send = Callable[[Harness], None]


@pytest.fixture
async def tg(container: Container, clock: FakeClock) -> AsyncIterator[Harness]:
    """A running Telegram bot on the test database."""
    async with running(container, clock) as h:
        yield h


def _photo(evidence: Evidence) -> Send:
    def send(h: Harness) -> None:
        h.fake.user_photo(EMPLOYEE, EMPLOYEE, evidence.data)

    return send


def _document(evidence: Evidence) -> Send:
    def send(h: Harness) -> None:
        h.fake.user_document(
            EMPLOYEE, EMPLOYEE, evidence.data, evidence.name, mime_type=evidence.mime
        )

    return send


async def _send(tg: Harness, send: Send) -> str:
    """Send a file during the intake; return the bot's answer."""
    since = len(tg.fake.sent_to(EMPLOYEE))
    send(tg)
    found = await tg.until(EMPLOYEE, since, bool)
    return "\n".join(m.get("text", "") for m in found)


async def _file(
    tg: Harness, updates: str, files: tuple[Send, ...] = ()
) -> tuple[str, str, list[str]]:
    """The employee files an anonymous petition; returns the code, the case number and
    the bot's answer to each file."""
    user = chat = EMPLOYEE
    await tg.say(chat, user, "/start", expect="menu:new")
    await tg.press(chat, user, "menu:new", expect="cat:pay")
    await tg.press(chat, user, "cat:pay")
    await tg.say(chat, user, DESCRIPTION, expect="ev:done")
    answers = [await _send(tg, send) for send in files]
    await tg.press(chat, user, "ev:done", expect="anon:yes")
    await tg.press(chat, user, "anon:yes", expect=f"up:{updates}")
    await tg.press(chat, user, f"up:{updates}", expect="rv:submit")
    found = await tg.press(chat, user, "rv:submit")
    receipt = "\n".join(m.get("text", "") for m in found)
    code, number = CODE.search(receipt), NUMBER.search(receipt)
    assert code and number, receipt
    return code.group(0), number.group(0), answers


async def _card(tg: Harness, number: str) -> dict[str, Any]:
    """The case card in the admin chat."""
    found = await tg.until(tg.admin, 0, lambda ms: any(number in m.get("text", "") for m in ms))
    return next(m for m in found if number in m.get("text", "") and tg.buttons(m))


async def _delivered(tg: Harness, case_id: int) -> None:
    """Wait until no message to the employee is waiting any more."""

    async def settled() -> bool:
        return all(s != "pending" for _, s in await outbox_states(tg.container, case_id))

    tg.worker.wake()
    await eventually(settled)


async def _polled_updates_purged(tg: Harness) -> None:
    """Run the poller's clean-up of handled updates (it runs every minute); what the inbox
    holds until then is tested on its own below."""
    async with tg.container.uow() as uow:
        await uow.telegram_inbox.purge(tg.clock() - INBOX_TTL)
        await uow.commit()


async def _nowhere(tg: Harness, *needles: str) -> list[str]:
    """The needles found in the database once handled updates were purged."""
    await _polled_updates_purged(tg)
    return await mentions(tg.container, *needles)


async def _status(tg: Harness, code: str, number: str) -> str:
    """The employee asks for the status by tracking code; return the answer."""
    since = len(tg.fake.sent_to(EMPLOYEE))
    tg.fake.user_message(EMPLOYEE, EMPLOYEE, f"/status {code}")
    found = await tg.until(EMPLOYEE, since, lambda ms: any(number in m["text"] for m in ms))
    return "\n".join(m.get("text", "") for m in found)


def _calls_to_employee(tg: Harness) -> int:
    return sum(1 for c in tg.fake.calls if str(c.params.get("chat_id")) == str(EMPLOYEE))


async def _close(tg: Harness, number: str) -> int:
    """An officer takes the case from registered to closed; the pushes reach the employee."""
    await _card(tg, number)
    await tg.add_officer()
    for command in closing_commands(number):
        await tg.say(tg.admin, OFFICER, command, chat_type="supergroup")
    case_id = await case_id_of(tg.container, number)

    async def closed() -> bool:
        return (await load_case(tg.container, case_id)).state is CaseState.CLOSED

    await eventually(closed)
    await tg.until(EMPLOYEE, 0, lambda ms: any("办结" in m.get("text", "") for m in ms))
    await _delivered(tg, case_id)
    return case_id


async def _ask_follow_up(tg: Harness, clock: FakeClock, case_id: int) -> str:
    """Thirty days after closing the scheduler asks 回头望; return the question's token."""
    clock.advance(days=30, minutes=1)
    result = await run_scheduler(tg.container, clock())
    assert result.sent["follow_up"] == 1 and result.erased_contacts == 0
    tg.worker.wake()
    found = await tg.until(
        EMPLOYEE, 0, lambda ms: any(b.startswith("fu:") for m in ms for b in tg.buttons(m))
    )
    [question] = [m for m in found if any(b.startswith("fu:") for b in tg.buttons(m))]
    await _delivered(tg, case_id)
    return tg.buttons(question)[0].split(":")[1]


async def test_a_code_only_petition_keeps_no_telegram_address_and_its_answer_is_never_sent(
    tg: Harness,
) -> None:
    code, number, _ = await _file(tg, "code")
    assert "只凭查询码" in tg.texts(EMPLOYEE)  # the receipt says what was chosen
    case_id = await case_id_of(tg.container, number)
    assert await contact_ct(tg.container, case_id) is None
    assert await _nowhere(tg, *IDENTIFIERS) == []

    # An officer answers with a reply to the card: the row has nobody to go to.
    card = await _card(tg, number)
    await tg.add_officer()
    calls = _calls_to_employee(tg)
    since = len(tg.fake.sent_to(tg.admin))
    tg.fake.user_message(
        tg.admin, OFFICER, "已安排财务本月补发。", reply_to_message_id=card["message_id"]
    )
    await tg.until(tg.admin, since, bool)  # the officer's confirmation

    async def answered() -> bool:
        return await outbox_states(tg.container, case_id) == [("answer", "unreachable")]

    tg.worker.wake()
    await eventually(answered)
    assert _calls_to_employee(tg) == calls

    # The employee reads the answer by code.
    assert "已安排财务本月补发" in await _status(tg, code, number)
    assert await _nowhere(tg, *IDENTIFIERS) == []


async def test_a_pushed_address_is_erased_once_the_follow_up_is_answered(
    tg: Harness, clock: FakeClock
) -> None:
    filed_at = clock()
    code, number, _ = await _file(tg, "push")
    case_id = await _close(tg, number)
    assert "已受理" in tg.texts(EMPLOYEE)  # the pushes came to the employee's chat
    assert await contact_ct(tg.container, case_id) is not None
    assert await _nowhere(tg, str(EMPLOYEE)) == [str(EMPLOYEE)]  # the check is not vacuous

    token = await _ask_follow_up(tg, clock, case_id)
    await tg.press(EMPLOYEE, EMPLOYEE, f"fu:{token}:y", expect=f"fu:{token}:r0")
    await tg.press(EMPLOYEE, EMPLOYEE, f"fu:{token}:r0")
    thanks = tg.container.translator.t("followup.thanks")
    await tg.until(EMPLOYEE, 0, lambda ms: any(thanks in m.get("text", "") for m in ms))
    result = await run_scheduler(tg.container, clock())

    assert result.erased_contacts == 1
    assert await contact_ct(tg.container, case_id) is None
    assert await _nowhere(tg, *IDENTIFIERS) == []
    assert "case.contact_erased" in await audit_actions(tg.container, case_id)
    # The case, its timeline and the statistics keep it.
    status = await _status(tg, code, number)
    assert "办结" in status
    report = await statistics(tg.container, filed_at, clock())
    assert report.total == 1 and report.by_state == {"closed": 1}
    assert report.by_channel == {"telegram": 1} and report.unsolved == 0


async def test_an_unanswered_follow_up_ends_with_the_address_erased_at_the_keep_time(
    tg: Harness, clock: FakeClock
) -> None:
    _, number, _ = await _file(tg, "push")
    case_id = await _close(tg, number)
    await _ask_follow_up(tg, clock, case_id)
    await _polled_updates_purged(tg)
    await assert_erased_at_keep_time(tg.container, clock, case_id, *IDENTIFIERS)


async def test_evidence_reaches_officers_and_storage_without_metadata_or_original_names(
    tg: Harness,
) -> None:
    files = (_photo(JPEG), *(_document(e) for e in EVIDENCE))
    _, number, answers = await _file(tg, "code", files)

    # The employee is told, file by file, what was removed.
    t = tg.container.translator.t
    for answer, evidence in zip(answers, (JPEG, *EVIDENCE), strict=True):
        assert t("scrub.removed", what="").split("：")[0] in answer
        assert t(evidence.told) in answer
    expected = ["证据1.jpg"] + [f"证据{i}.{e.stored_as}" for i, e in enumerate(EVIDENCE, 2)]

    # Officers get the cleaned copies, uploaded by the bot under their neutral names.
    def uploads() -> list[UploadedFile]:
        return [
            upload
            for c in tg.fake.calls
            if c.method in ("sendPhoto", "sendDocument")
            and c.status == 200
            and str(c.params.get("chat_id")) == str(tg.admin)
            and isinstance(
                upload := c.params.get("photo") or c.params.get("document"), UploadedFile
            )
        ]

    await tg.fake.wait_until(lambda: len(uploads()) == len(expected), 10)
    assert_clean_files(((u.filename, u.content) for u in uploads()), expected)
    # Storage keeps the same cleaned copies, and no original name anywhere.
    case_id = await case_id_of(tg.container, number)
    assert_clean_files(await stored_evidence(tg.container, case_id), expected)
    assert await _nowhere(tg, *(e.name for e in EVIDENCE)) == []


async def test_a_macro_document_is_refused_with_the_macro_message(tg: Harness) -> None:
    docm = Evidence(docm_with_macros(), "statement.docm", MACRO_MIME, "", "")
    _, number, [answer] = await _file(tg, "code", (_document(docm),))
    assert await stored_evidence(tg.container, await case_id_of(tg.container, number)) == []
    assert answer == tg.container.translator.t("scrub.refused_macro")


async def test_a_reply_to_a_bot_message_of_no_case_reaches_no_employee(tg: Harness) -> None:
    _, number, _ = await _file(tg, "push")
    card = await _card(tg, number)
    case_id = await case_id_of(tg.container, number)
    await tg.add_officer()
    since = len(tg.fake.sent_to(tg.admin))
    tg.fake.user_message(tg.admin, OFFICER, "/cases", chat_type="supergroup")
    [*_, listing] = await tg.until(
        tg.admin, since, lambda ms: any(number in m.get("text", "") for m in ms)
    )
    assert number in listing["text"] and not tg.buttons(listing)
    before = len(tg.fake.sent_to(EMPLOYEE))

    since = len(tg.fake.sent_to(tg.admin))
    tg.fake.user_message(
        tg.admin, OFFICER, "工资已经补发了。", reply_to_message_id=listing["message_id"]
    )
    [notice] = await tg.until(tg.admin, since, bool)
    assert notice["text"] == tg.container.translator.t("officer.reply_not_sent")
    assert await outbox_states(tg.container, case_id) == []
    assert len(tg.fake.sent_to(EMPLOYEE)) == before

    # A reply to the case card itself is an answer and reaches the employee.
    tg.fake.user_message(
        tg.admin, OFFICER, "已安排财务本月补发。", reply_to_message_id=card["message_id"]
    )
    await tg.until(
        EMPLOYEE, before, lambda ms: any("已安排财务本月补发" in m.get("text", "") for m in ms)
    )
    assert "工资已经补发了" not in tg.texts(EMPLOYEE)


async def test_a_handled_update_leaves_no_trace_of_its_sender(tg: Harness) -> None:
    await _file(tg, "code")
    assert await mentions(tg.container, *IDENTIFIERS, "张三") == []
