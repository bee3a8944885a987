"""Privacy on WeCom end to end (encrypted callbacks into the real aiohttp app, the fake WeCom
API, SQLite and PostgreSQL): a "code only" petition keeps no userid, a pushed one's userid
is erased after closing and the follow-up, and evidence is cleaned before officers or
storage see it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from petitions.states import CaseState
from tests.e2e.test_wecom_flow import (
    CASE_NUMBER,
    EMPLOYEE,
    OFFICER,
    TRACKING_CODE,
    Harness,
    wecom,  # noqa: F401 - the fixture
)
from tests.fakes.wecom_api import event_xml, file_xml, image_xml
from tests.helpers.evidence import docm_with_macros, surviving_markers
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
    mentions,
    outbox_states,
    run_scheduler,
    statistics,
    stored_evidence,
)

SEND = "/cgi-bin/message/send"
Send = Callable[[Harness], Awaitable[None]]


def _text(bodies: list[dict[str, Any]]) -> str:
    """Everything in these message/send bodies, readable, for assertions."""
    return "\n".join(
        str(b["text"]["content"]) if b["msgtype"] == "text" else json.dumps(b, ensure_ascii=False)
        for b in bodies
    )


def _image(evidence: Evidence) -> Send:
    """The file as an image message (a photo taken in the WeCom chat)."""

    async def send(h: Harness) -> None:
        n = h.next_id()
        h.api.media[f"IMG-{n}"] = (evidence.data, evidence.mime, evidence.name)
        xml = image_xml(f"IMG-{n}", msg_id=str(8000 + n), from_user=EMPLOYEE, create_time=n)
        assert await h.post(xml) == (200, "success")

    return send


def _file_message(evidence: Evidence) -> Send:
    """The file as a file message; WeCom labels its download as octet-stream."""

    async def send(h: Harness) -> None:
        n = h.next_id()
        h.api.media[f"FILE-{n}"] = (evidence.data, "application/octet-stream", evidence.name)
        xml = file_xml(
            f"FILE-{n}", evidence.name, msg_id=str(8000 + n), from_user=EMPLOYEE, create_time=n
        )
        assert await h.post(xml) == (200, "success")

    return send


async def _file(
    h: Harness, updates: str, files: tuple[Send, ...] = ()
) -> tuple[str, str, list[str]]:
    """The employee files an anonymous petition; returns the code, the case number and
    what the app answered to each file."""
    n = h.next_id()
    xml = event_xml("enter_agent", from_user=EMPLOYEE, create_time=1_700_000_000 + n)
    assert await h.post(xml) == (200, "success")
    await h.press(EMPLOYEE, "menu:new")
    await h.press(EMPLOYEE, "cat:pay")
    await h.say(EMPLOYEE, DESCRIPTION)
    answers = []
    for send in files:
        before = len(h.sent_to(EMPLOYEE))
        await send(h)
        answers.append(_text(h.sent_to(EMPLOYEE)[before:]))
    for key in ("ev:done", "anon:yes", f"up:{updates}"):
        await h.press(EMPLOYEE, key)
    before = len(h.sent_to(EMPLOYEE))
    await h.press(EMPLOYEE, "rv:submit")
    receipt = _text(h.sent_to(EMPLOYEE)[before:])
    code, number = TRACKING_CODE.search(receipt), CASE_NUMBER.search(receipt)
    assert code and number, receipt
    return code.group(0), number.group(0), answers


def _sends_to_employee(h: Harness) -> int:
    return sum(
        1 for c in h.api.calls_to(SEND) if EMPLOYEE in str((c.json or {}).get("touser", ""))
    )


async def _status(h: Harness, code: str) -> str:
    """The employee asks for the status by tracking code; return the answer."""
    before = len(h.sent_to(EMPLOYEE))
    await h.say(EMPLOYEE, f"/status {code}")
    return _text(h.sent_to(EMPLOYEE)[before:])


async def _close(h: Harness, number: str) -> int:
    """An officer on WeCom takes the case from registered to closed; pushes go out."""
    await h.register_officer()
    await h.worker.run_once()  # the case card
    for command in closing_commands(number):
        await h.say(OFFICER, command)
    await h.worker.run_once()
    case_id = await case_id_of(h.container, number)
    assert (await load_case(h.container, case_id)).state is CaseState.CLOSED
    assert {s for _, s in await outbox_states(h.container, case_id)} == {"sent"}
    return case_id


async def _ask_follow_up(h: Harness, case_id: int) -> str:
    """Thirty days after closing the scheduler asks 回头望; return the question's token."""
    h.clock.advance(days=30, minutes=1)
    result = await run_scheduler(h.container, h.clock())
    assert result.sent["follow_up"] == 1 and result.erased_contacts == 0
    await h.worker.run_once()
    assert {s for _, s in await outbox_states(h.container, case_id)} == {"sent"}
    [key, *_] = [k for k in h.keys_for(EMPLOYEE) if k.startswith("fu:")]
    return key.split(":")[1]


async def test_a_code_only_petition_keeps_no_userid_and_its_answer_is_never_sent(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    code, number, _ = await _file(h, "code")
    assert "只凭查询码" in h.texts_to(EMPLOYEE)  # the receipt says what was chosen
    case_id = await case_id_of(h.container, number)
    assert await contact_ct(h.container, case_id) is None
    assert await mentions(h.container, EMPLOYEE) == []

    # An officer on WeCom answers: the row has nobody to go to.
    await h.register_officer()
    await h.worker.run_once()
    sends = _sends_to_employee(h)
    await h.say(OFFICER, f"/answer {number} 已安排财务本月补发。")
    await h.worker.run_once()
    assert await outbox_states(h.container, case_id) == [("answer", "unreachable")]
    assert _sends_to_employee(h) == sends

    # The employee reads the answer by code.
    status = await _status(h, code)
    assert number in status and "已安排财务本月补发" in status
    assert await mentions(h.container, EMPLOYEE) == []


async def test_a_pushed_userid_is_erased_once_the_follow_up_is_answered(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    filed_at = h.clock()
    code, number, _ = await _file(h, "push")
    case_id = await _close(h, number)
    pushed = h.texts_to(EMPLOYEE)
    assert "已受理" in pushed and "办结" in pushed  # the pushes came to the employee
    assert await contact_ct(h.container, case_id) is not None
    assert await mentions(h.container, EMPLOYEE) == [EMPLOYEE]  # the check is not vacuous

    token = await _ask_follow_up(h, case_id)
    await h.press(EMPLOYEE, f"fu:{token}:y")
    await h.press(EMPLOYEE, f"fu:{token}:r0")
    assert h.container.translator.t("followup.thanks") in h.texts_to(EMPLOYEE)
    result = await run_scheduler(h.container, h.clock())

    assert result.erased_contacts == 1
    assert await contact_ct(h.container, case_id) is None
    assert await mentions(h.container, EMPLOYEE) == []
    assert "case.contact_erased" in await audit_actions(h.container, case_id)
    # The case, its timeline and the statistics keep it.
    status = await _status(h, code)
    assert number in status and "办结" in status
    report = await statistics(h.container, filed_at, h.clock())
    assert report.total == 1 and report.by_state == {"closed": 1}
    assert report.by_channel == {"wecom": 1} and report.unsolved == 0


async def test_an_unanswered_follow_up_ends_with_the_userid_erased_at_the_keep_time(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    _, number, _ = await _file(h, "push")
    case_id = await _close(h, number)
    await _ask_follow_up(h, case_id)
    await assert_erased_at_keep_time(h.container, h.clock, case_id, EMPLOYEE)


async def test_evidence_reaches_officers_and_storage_without_metadata_or_original_names(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    files = (_image(JPEG), *(_file_message(e) for e in EVIDENCE))
    _, number, answers = await _file(h, "code", files)

    # The employee is told, file by file, what was removed.
    t = h.container.translator.t
    for answer, evidence in zip(answers, (JPEG, *EVIDENCE), strict=True):
        assert t("scrub.removed", what="").split("：")[0] in answer
        assert t(evidence.told) in answer
    expected = ["证据1.jpg"] + [f"证据{i}.{e.stored_as}" for i, e in enumerate(EVIDENCE, 2)]

    # Officers on WeCom see the case with the files under their neutral names only.
    await h.register_officer()
    await h.worker.run_once()
    case_id = await case_id_of(h.container, number)
    await h.press(OFFICER, f"o:view:{case_id}")
    seen = _text(h.sent_to(OFFICER))
    assert all(name in seen for name in expected), seen
    assert not any(e.name in seen for e in EVIDENCE)
    assert surviving_markers(seen.encode()) == []
    # Storage keeps the cleaned copies, and no original name anywhere.
    assert_clean_files(await stored_evidence(h.container, case_id), expected)
    assert await mentions(h.container, *(e.name for e in EVIDENCE)) == []


async def test_a_macro_document_is_refused_with_the_macro_message(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    docm = Evidence(docm_with_macros(), "statement.docm", MACRO_MIME, "", "")
    _, number, [answer] = await _file(h, "code", (_file_message(docm),))
    assert await stored_evidence(h.container, await case_id_of(h.container, number)) == []
    assert h.container.translator.t("scrub.refused_macro") in answer
