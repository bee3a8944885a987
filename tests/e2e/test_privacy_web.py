"""Privacy on the web channel end to end (a real aiohttp server, page-like HTTP clients,
SQLite and PostgreSQL): a "code only" petition keeps no chat id, a pushed one's chat id is
erased after closing and the follow-up, and evidence is cleaned before officers (the web
admin chat and the Telegram admin chat) or storage see it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from bot.web.security import VISITOR_COOKIE, employee_chat_id
from petitions.states import CaseState
from storage.vault import Keyring
from tests.helpers.clock import FakeClock
from tests.helpers.evidence import docm_with_macros
from tests.helpers.flow import CODE_RE, NUMBER_RE, load_case
from tests.helpers.privacy import (
    DESCRIPTION,
    DOCX,
    HEIC,
    JPEG,
    MACRO_MIME,
    PDF,
    XLSX,
    Evidence,
    assert_clean_files,
    assert_erased_at_keep_time,
    audit_actions,
    case_id_of,
    closing_commands,
    contact_ct,
    mentions,
    outbox_states,
    run_scheduler,
    statistics,
    stored_evidence,
)
from tests.helpers.web import EventStream, WebOfficer, WebServer, WebVisitor, add_web_officer
from tests.helpers.web import web_server as start_web_server

PASSWORD = "correct horse battery"
LOCALE = "zh-CN"
# What the web accepts as an upload (a HEIC is tested on its own below).
UPLOADS = (JPEG, PDF, DOCX, XLSX)


@pytest.fixture
async def web(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[WebServer]:
    """The web channel next to a configured Telegram admin chat (recorded, not sent)."""
    async with start_web_server(load_settings(env), keys[0], clock) as server:
        yield server


@pytest.fixture
async def employee(web: WebServer) -> AsyncIterator[WebVisitor]:
    """The employee's browser."""
    async with WebVisitor(web.base, locale=LOCALE) as visitor:
        yield visitor


@pytest.fixture
async def officer(web: WebServer) -> AsyncIterator[WebOfficer]:
    """An officer signed in on the officers' page."""
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    page = WebOfficer(web.base, locale=LOCALE)
    async with page:
        status, _ = await page.login("li", PASSWORD)
        assert status == 200
        yield page


def _identifiers(web: WebServer, employee: WebVisitor) -> tuple[str, str]:
    """The browser's cookie and the chat id the server derives from it."""
    cookie = employee.cookie(VISITOR_COOKIE)
    assert cookie is not None
    return employee_chat_id(web.container.vault, cookie), cookie


async def _file(
    employee: WebVisitor, updates: str, files: tuple[Evidence, ...] = ()
) -> tuple[str, str, list[str]]:
    """The employee files an anonymous petition; returns the code, the case number and
    the page's answer to each upload."""
    await employee.say("/start")
    await employee.press("menu:new")
    await employee.press("cat:pay")
    await employee.say(DESCRIPTION)
    answers = []
    for evidence in files:
        status, body = await employee.upload(evidence.name, evidence.data, evidence.mime)
        assert status == 200, body
        answers.append(employee.text)
    for payload in ("ev:done", "anon:yes", f"up:{updates}", "rv:submit"):
        await employee.press(payload)
    code, number = CODE_RE.search(employee.text), NUMBER_RE.search(employee.text)
    assert code and number, employee.text
    return code.group(0), number.group(0), answers


async def _status(web: WebServer, code: str) -> str:
    """A fresh browser opens the case by its tracking code; return what it shows."""
    async with WebVisitor(web.base, locale=LOCALE) as fresh:
        await fresh.say(code)
        return fresh.text


async def _until(
    stream: EventStream, found: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Read pushed events up to the first one that ``found`` accepts; return them all."""
    events = [await stream.next()]
    while not found(events[-1]):
        events.append(await stream.next())
    return events


def _buttons(event: dict[str, Any]) -> list[str]:
    return [b["payload"] for r in event["replies"] for row in r["buttons"] for b in row]


async def _close(web: WebServer, officer: WebOfficer, number: str) -> int:
    """The officer takes the case from registered to closed on the officers' page."""
    for command in closing_commands(number):
        status, _ = await officer.send(text=command)
        assert status == 200
    case_id = await case_id_of(web.container, number)
    assert (await load_case(web.container, case_id)).state is CaseState.CLOSED
    await web.deliver()
    return case_id


async def _ask_follow_up(web: WebServer, clock: FakeClock) -> None:
    """Thirty days after closing the scheduler asks 回头望, and it is delivered."""
    clock.advance(days=30, minutes=1)
    result = await run_scheduler(web.container, clock())
    assert result.sent["follow_up"] == 1 and result.erased_contacts == 0
    await web.deliver()


async def test_a_code_only_petition_keeps_no_chat_id_and_its_answer_is_never_pushed(
    web: WebServer, employee: WebVisitor, officer: WebOfficer
) -> None:
    async with employee.events() as stream:
        code, number, _ = await _file(employee, "code")
        assert "只凭查询码" in employee.text  # the receipt says what was chosen
        case_id = await case_id_of(web.container, number)
        assert await contact_ct(web.container, case_id) is None
        assert await mentions(web.container, *_identifiers(web, employee)) == []

        # The officer answers on the officers' page: the row has nobody to go to.
        status, _ = await officer.send(text="已安排财务本月补发。", case_ref=case_id)
        assert status == 200
        await web.deliver()
        assert await outbox_states(web.container, case_id) == [("answer", "unreachable")]
        with pytest.raises(TimeoutError):
            await stream.next(wait=0.5)  # the page that filed it hears nothing

    # The employee reads the answer by code.
    status_text = await _status(web, code)
    assert number in status_text and "已安排财务本月补发" in status_text
    assert await mentions(web.container, *_identifiers(web, employee)) == []


async def test_a_pushed_chat_id_is_erased_once_the_follow_up_is_answered(
    web: WebServer, employee: WebVisitor, officer: WebOfficer, clock: FakeClock
) -> None:
    filed_at = clock()
    chat, cookie = _identifiers(web, employee)
    async with employee.events() as stream:
        code, number, _ = await _file(employee, "push")
        case_id = await _close(web, officer, number)
        pushed = await _until(stream, lambda e: "办结" in str(e))
        assert "已受理" in str(pushed)  # the pushes came to the employee's page
        assert await contact_ct(web.container, case_id) is not None
        assert await mentions(web.container, chat) == [chat]  # the check is not vacuous

        await _ask_follow_up(web, clock)
        [*_, question] = await _until(stream, lambda e: any("fu:" in b for b in _buttons(e)))
    token = _buttons(question)[0].split(":")[1]
    employee.last = question["replies"]  # the buttons as the page shows them
    await employee.press(f"fu:{token}:y")
    await employee.press(f"fu:{token}:r0")
    assert web.container.translator.t("followup.thanks") in employee.text
    result = await run_scheduler(web.container, clock())

    assert result.erased_contacts == 1
    assert await contact_ct(web.container, case_id) is None
    assert await mentions(web.container, chat, cookie) == []
    assert "case.contact_erased" in await audit_actions(web.container, case_id)
    # The case, its timeline and the statistics keep it.
    status_text = await _status(web, code)
    assert number in status_text and "办结" in status_text
    report = await statistics(web.container, filed_at, clock())
    assert report.total == 1 and report.by_state == {"closed": 1}
    assert report.by_channel == {"web": 1} and report.unsolved == 0


async def test_an_unanswered_follow_up_ends_with_the_chat_id_erased_at_the_keep_time(
    web: WebServer, employee: WebVisitor, officer: WebOfficer, clock: FakeClock
) -> None:
    _, number, _ = await _file(employee, "push")
    case_id = await _close(web, officer, number)
    await _ask_follow_up(web, clock)
    await assert_erased_at_keep_time(web.container, clock, case_id, *_identifiers(web, employee))


async def test_evidence_reaches_officers_and_storage_without_metadata_or_original_names(
    web: WebServer, employee: WebVisitor, officer: WebOfficer
) -> None:
    _, number, answers = await _file(employee, "code", UPLOADS)

    # The employee is told, file by file, what was removed.
    t = web.container.translator.t
    for answer, evidence in zip(answers, UPLOADS, strict=True):
        assert t("scrub.removed", what="").split("：")[0] in answer
        assert t(evidence.told) in answer
    expected = [f"证据{i}.{e.stored_as}" for i, e in enumerate(UPLOADS, 1)]
    case_id = await case_id_of(web.container, number)
    await web.deliver()

    # The officers' page lists the files by reference and serves the cleaned copies.
    status, feed = await officer.feed()
    assert status == 200
    refs = [f for m in feed["messages"] for r in m["replies"] for f in r.get("files", [])]
    served = []
    for ref in refs:
        async with officer.http.get(f"{web.base}/api/officer/evidence/{ref['id']}") as resp:
            assert resp.status == 200
            assert not any(e.name in resp.headers["Content-Disposition"] for e in UPLOADS)
            served.append((ref["name"], await resp.read()))
    assert_clean_files(served, expected)
    # The Telegram admin chat gets the same cleaned copies with the case card.
    [card] = [d for d in web.others["telegram"].sent if d.kind == "case_card"]
    assert_clean_files(((f.name, f.data) for r in card.replies for f in r.files), expected)
    # Storage keeps them, and no original name anywhere.
    assert_clean_files(await stored_evidence(web.container, case_id), expected)
    assert await mentions(web.container, *(e.name for e in UPLOADS)) == []


async def test_a_heic_photo_upload_is_accepted_and_cleaned(
    web: WebServer, employee: WebVisitor
) -> None:
    _, number, [answer] = await _file(employee, "code", (HEIC,))
    assert web.container.translator.t(HEIC.told) in answer
    stored = await stored_evidence(web.container, await case_id_of(web.container, number))
    assert_clean_files(stored, ["证据1.jpg"])


async def test_a_macro_document_is_refused_with_the_macro_message(
    web: WebServer, employee: WebVisitor
) -> None:
    await employee.say("/new")
    await employee.press("cat:pay")
    await employee.say(DESCRIPTION)
    status, _ = await employee.upload("statement.docm", docm_with_macros(), MACRO_MIME)
    chat, _cookie = _identifiers(web, employee)
    async with web.container.uow() as uow:
        assert await uow.attachments.count_drafts("web", chat) == 0
    assert status == 200
    assert employee.text == web.container.translator.t("scrub.refused_macro")
