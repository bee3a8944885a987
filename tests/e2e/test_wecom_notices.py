"""WeCom employees get the formal notices (告知书) as files: the status push's text, then the
PDF uploaded with media/upload and sent as a ``file`` message. Real aiohttp client and the
real outbox worker against the fake WeCom API (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import logging
import re

import aiohttp
import pytest
from pypdf import PdfReader

from bot.delivery import NOTICE_FILE, DeliveryWorker
from bot.wecom.channel import WeComChannel
from bot.wecom.client import FILE_SIZE_ERRCODE, Upload, WeComApiError, WeComClient
from tests.e2e.test_wecom_flow import (
    AGENT_ID,
    CASE_NUMBER,
    EMPLOYEE,
    OFFICER,
    SEND,
    TRACKING_CODE,
    Harness,
    wecom,  # noqa: F401 - the fixture
)
from tests.fakes.wecom_api import CORP_ID, SECRET, FakeWeComApi, event_xml

UPLOAD = "/cgi-bin/media/upload"


async def file_petition(h: Harness, updates: str) -> tuple[str, str]:
    """The employee files an anonymous petition (``push`` or ``code`` for updates); an
    officer on WeCom accepts it by the card's buttons. Returns the code and case number."""
    await h.register_officer()
    n = h.next_id()
    xml = event_xml("enter_agent", from_user=EMPLOYEE, create_time=1_700_000_000 + n)
    assert await h.post(xml) == (200, "success")
    await h.press(EMPLOYEE, "menu:new")
    await h.press(EMPLOYEE, "cat:safety")
    await h.say(EMPLOYEE, "三号车间的安全阀已经坏了两周，多次报修无人处理。")
    for key in ("ev:done", "anon:yes", f"up:{updates}", "rv:submit"):
        await h.press(EMPLOYEE, key)
    code = TRACKING_CODE.search(h.texts_to(EMPLOYEE))
    assert code is not None
    assert await h.worker.run_once() == 1  # the case card reaches the officer
    number = CASE_NUMBER.search(h.texts_to(OFFICER))
    assert number is not None
    await h.press(OFFICER, "o:accept:1")
    await h.press(OFFICER, "o:ok:1:1")  # the preview's 确认发送
    return code.group(), number.group()


def pdf_text(data: bytes) -> str:
    """The PDF's text without whitespace (Chinese lines break anywhere)."""
    pages = PdfReader(io.BytesIO(data)).pages
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in pages))


def employee_texts(h: Harness) -> list[str]:
    return [b["text"]["content"] for b in h.sent_to(EMPLOYEE) if b["msgtype"] == "text"]


def employee_files(h: Harness) -> list[dict[str, str]]:
    return [b["file"] for b in h.sent_to(EMPLOYEE) if b["msgtype"] == "file"]


async def kinds_and_states(h: Harness) -> list[tuple[str, str]]:
    return [(r.kind, r.status) for r in await h.outbox() if r.audience == "employee"]


async def test_an_accepted_case_pushes_the_status_and_then_the_acceptance_notice_pdf(
    wecom: Harness,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    h = wecom
    code, number = await file_petition(h, "push")
    before = len(h.sent_to(EMPLOYEE))

    assert await h.worker.run_once() == 2  # the status, then its notice's own row
    pushed = h.sent_to(EMPLOYEE)[before:]
    assert [b["msgtype"] for b in pushed] == ["text", "file"]
    assert "已受理" in pushed[0]["text"]["content"]
    [upload] = h.api.uploads
    assert pushed[1] == {
        "touser": EMPLOYEE,
        "msgtype": "file",
        "agentid": AGENT_ID,
        "file": {"media_id": upload.media_id},
    }
    # Text first, then the upload, then the file message that names it.
    order = [c.path for c in h.api.calls if c.path in (SEND, UPLOAD)][-3:]
    assert order == [SEND, UPLOAD, SEND]

    # The notice's number is its name, in raw UTF-8 as WeCom shows it; the form is WeCom's.
    assert (upload.type, upload.part_name) == ("file", "media")
    assert upload.content_type == "application/pdf"
    assert upload.filename == f"{number}-受理.pdf"
    assert f'filename="{number}-受理.pdf"' in upload.disposition
    assert f'filelength="{len(upload.data)}"' in upload.disposition
    assert "filename*" not in upload.disposition and "%E5" not in upload.disposition

    # The 受理告知书 itself: a PDF about this case that names nobody.
    assert upload.data.startswith(b"%PDF")
    text = pdf_text(upload.data)
    assert "受理告知书" in text and number in text and "（匿名）" in text
    for secret in (EMPLOYEE, code, code.replace("-", "")):
        assert secret not in text and secret.encode() not in upload.data

    assert await kinds_and_states(h) == [("status", "sent"), (NOTICE_FILE, "sent")]
    assert EMPLOYEE not in caplog.text and code not in caplog.text
    assert "受理.pdf" not in caplog.text  # file names stay out of the logs too


async def test_a_failing_upload_is_retried_then_handed_back_without_resending_the_text(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    await file_petition(h, "push")
    h.api.fail_next(UPLOAD, -1, -1)  # system busy, twice: the push client's two tries
    sleeps = len(h.monotonic.sleeps)

    assert await h.worker.run_once() == 2
    assert len(h.api.calls_to(UPLOAD)) == 2
    assert len(h.monotonic.sleeps) == sleeps + 1, "the client backed off between its tries"
    texts = employee_texts(h)
    assert sum("已受理" in t for t in texts) == 1 and not employee_files(h)
    [status, notice] = [r for r in await h.outbox() if r.audience == "employee"]
    assert (status.status, notice.kind, notice.status) == ("sent", NOTICE_FILE, "pending")
    assert notice.next_attempt_at > h.clock() and notice.last_error == "wecom errcode -1"

    assert await h.worker.run_once() == 0  # not due yet
    h.clock.advance(minutes=2)
    assert await h.worker.run_once() == 1  # only the notice's row
    assert employee_texts(h) == texts, "the status text is not sent again"
    assert len(employee_files(h)) == 1
    assert await kinds_and_states(h) == [("status", "sent"), (NOTICE_FILE, "sent")]


async def test_an_upload_that_keeps_failing_is_given_up_and_the_text_is_sent_once(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    await file_petition(h, "push")
    worker = DeliveryWorker(
        h.container.uow,
        h.container.translator.t,
        {"wecom": h.channel.sender},
        h.clock,
        max_attempts=2,
    )
    h.api.fail_next(UPLOAD, *[-1] * 4)

    assert await worker.run_once() == 2
    h.clock.advance(minutes=2)
    assert await worker.run_once() == 1
    assert len(h.api.calls_to(UPLOAD)) == 4  # two passes of two tries
    h.clock.advance(minutes=10)
    assert await worker.run_once() == 0  # given up: nothing is left to send
    assert len(employee_texts(h)) == len(set(employee_texts(h)))
    assert sum("已受理" in t for t in employee_texts(h)) == 1 and not employee_files(h)
    rows = [r for r in await h.outbox() if r.audience == "employee"]
    assert [(r.kind, r.status) for r in rows] == [("status", "sent"), (NOTICE_FILE, "failed")]
    assert rows[1].last_error == "gave up: wecom errcode -1"


async def test_a_refused_upload_fails_the_notice_row_at_once_and_keeps_the_text(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    await file_petition(h, "push")
    h.api.fail_next(UPLOAD, 40005)  # invalid file type: trying again cannot help

    assert await h.worker.run_once() == 2
    assert len(h.api.calls_to(UPLOAD)) == 1
    assert sum("已受理" in t for t in employee_texts(h)) == 1 and not employee_files(h)
    rows = [r for r in await h.outbox() if r.audience == "employee"]
    assert [(r.kind, r.status) for r in rows] == [("status", "sent"), (NOTICE_FILE, "failed")]
    assert rows[1].last_error == "wecom errcode 40005"
    h.clock.advance(hours=1)
    assert await h.worker.run_once() == 0


async def test_a_restart_between_the_text_and_the_file_sends_only_the_file(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    _, number = await file_petition(h, "push")
    h.api.fail_next(UPLOAD, -1, -1)
    assert await h.worker.run_once() == 2  # the text went out; the file did not
    texts = employee_texts(h)

    # A new process: a new channel, sender and worker, nothing remembered in memory.
    settings = h.container.settings.wecom
    assert settings is not None
    channel = WeComChannel(
        h.container, settings, session=h.session, sleep=h.monotonic.sleep, clock=h.monotonic
    )
    worker = DeliveryWorker(
        h.container.uow, h.container.translator.t, {"wecom": channel.sender}, h.clock
    )
    try:
        h.clock.advance(minutes=2)
        assert await worker.run_once() == 1
    finally:
        await channel.stop()
    assert employee_texts(h) == texts
    assert [u.filename for u in h.api.uploads] == [f"{number}-受理.pdf"]
    assert len(employee_files(h)) == 1


async def test_a_code_only_case_gets_nothing_pushed_and_its_status_says_to_ask_the_office(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    code, number = await file_petition(h, "code")
    sends = len(h.api.calls_to(SEND))

    await h.worker.run_once()
    assert len(h.api.calls_to(SEND)) == sends and not h.api.uploads
    assert await kinds_and_states(h) == [("status", "unreachable")]  # no push address

    before = len(h.sent_to(EMPLOYEE))
    await h.say(EMPLOYEE, f"/status {code}")
    status = "\n".join(b["text"]["content"] for b in h.sent_to(EMPLOYEE)[before:] if "text" in b)
    assert f"{number}-受理" in status and "向信访办公室索取" in status
    assert not employee_files(h) and not h.api.uploads


# -- the client alone ------------------------------------------------------------------------


async def test_an_upload_with_an_expired_token_is_refreshed_once_and_succeeds() -> None:
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        client = WeComClient(
            session, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID, base_url=api.base_url
        )
        await client.get_token()
        api.expire_token()
        media_id = await client.upload_media(Upload(b"%PDF-1.4 x", "通知.pdf", "application/pdf"))
        await client.send_file("u1", media_id)
    assert api.gettoken_count == 2
    assert [u.data for u in api.uploads] == [b"%PDF-1.4 x"]
    assert api.sent[-1]["file"] == {"media_id": media_id}


async def test_a_file_too_small_or_a_name_with_quotes_is_handled_before_wecom_sees_it() -> None:
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        client = WeComClient(
            session, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID, base_url=api.base_url
        )
        with pytest.raises(WeComApiError) as info:
            await client.upload_media(Upload(b"%PDF", "a.pdf", "application/pdf"))
        assert info.value.errcode == FILE_SIZE_ERRCODE and not info.value.retryable
        assert not api.calls_to(UPLOAD)
        await client.upload_media(Upload(b"%PDF-1.4", 'a"b\\c/d\r\n.pdf', "application/pdf"))
    assert api.uploads[0].filename == "a_b_c_d__.pdf"
