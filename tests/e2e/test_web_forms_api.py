"""The case page's forms over HTTP: ``POST /api/officer/cases/{id}/preview`` and ``…/act``
for every formal act and every role (allowed ones succeed, others get a translated 403),
CSRF, a stale page (409), and the notice (告知书) that each formal act sends with its push
and that officers download from the case page."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.settings import load_settings
from handlers.acts import FORMAL_ACTS
from i18n import translator
from petitions.lifecycle import OFFICE_ACTS, Action, rule_for
from petitions.roles import Role
from storage.models import AuditRow
from tests.helpers.chat import ChatUser
from tests.helpers.flow import file_petition, load_case
from tests.helpers.seeding import seed_cases
from tests.helpers.web import WebOfficer, WebServer, add_web_officer, web_server

PASSWORD = "correct horse battery"
ROLES = {
    "li": Role.OFFICER,
    "boss": Role.LEADER,
    "ji": Role.DISCIPLINE,
    "keeper": Role.CUSTODIAN,
}
# Each act: the state a case must be in, and what its form is filled with (as typed or
# picked on the page: Chinese words and the choices' values alike).
ACTS: dict[Action, tuple[str, dict[str, str]]] = {
    Action.ACCEPT: ("registered", {}),
    Action.NOT_ACCEPT: ("registered", {"redirect": "arbitration", "reason": "属于劳动争议"}),
    # A unit of the tree, by name (seed_cases puts 第一车间 under the root, 本集团).
    Action.TRANSFER: ("registered", {"destination": "本集团", "reason": "提级办理"}),
    Action.START: ("accepted", {}),
    Action.EXTEND: ("in_progress", {"extension_days": "15", "reason": "需要调取工资台账"}),
    Action.RESPOND: ("in_progress", {"outcome": "不予支持", "text": "经核查，工资已按时发放。"}),
    Action.START_REVIEW: ("review_requested", {}),
    Action.COMPLETE_REVIEW: ("reviewing", {"outcome": "支持", "text": "复查认为应予补发。"}),
    Action.START_RECHECK: ("recheck_requested", {}),
    Action.COMPLETE_RECHECK: ("rechecking", {"outcome": "不予支持", "text": "复核维持复查意见。"}),
    Action.CLOSE: ("responded", {}),
}
# The acts that move a case; 督办, 交办 and 上报 change no state and depend on units: their
# forms on the web are tested in tests/integration/test_supervision.py.
STATE_ACTS = [a for a in FORMAL_ACTS if a not in {r.action for r in OFFICE_ACTS}]


def t(key: str, **params: Any) -> str:
    """A zh_CN catalog text."""
    return translator().t(key, "zh_CN", **params)


@pytest.fixture
async def web(env, keys, clock):
    """The web channel on a fresh database."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _signed_in(web: WebServer, login: str) -> WebOfficer:
    await add_web_officer(web.container, f"{login}专员", login, PASSWORD, ROLES[login])
    officer = WebOfficer(web.base, locale="zh_CN")
    await officer.open()
    status, _ = await officer.login(login, PASSWORD)
    assert status == 200
    return officer


_RECHECK = ("recheck_requested", "rechecking")


async def _seed(web: WebServer, state: str, category: str = "pay") -> int:
    now = web.container.services.clock()
    day = timedelta(days=1)
    row = {
        "state": state,
        "category": category,
        "created_at": now - 10 * day,
        "decided_at": now - 8 * day if state != "registered" else None,
        "responded_at": now - 3 * day if state in ("responded", "review_requested") else None,
        "review_requested_at": now - day if state in ("review_requested", "reviewing") else None,
        "reviewed_at": now - day if state in _RECHECK else None,
        "recheck_requested_at": now - day if state in _RECHECK else None,
        "unit": "第一车间",
    }
    (case_id,) = await seed_cases(web.container, [row])
    return case_id


def _allowed(role: Role, action: Action) -> bool:
    # Discipline inspection handles violation reports in the officers' and leaders' place.
    acting = Role.LEADER if role is Role.DISCIPLINE else role
    return acting in rule_for(action).roles


@pytest.mark.parametrize("login", list(ROLES))
async def test_every_formal_act_by_form_is_allowed_or_refused_by_role(
    web: WebServer, login: str
) -> None:
    officer = await _signed_in(web, login)
    role = ROLES[login]
    category = "discipline" if role is Role.DISCIPLINE else "pay"
    try:
        for action in STATE_ACTS:
            state, fields = ACTS[action]
            case_id = await _seed(web, state, category)
            body = {"action": action.value, "fields": fields, "state": state}
            path = f"/api/officer/cases/{case_id}"
            status, preview = await officer.post(f"{path}/preview", body)
            done, answer = await officer.post(f"{path}/act", body)
            after = await load_case(web.container, case_id)
            if _allowed(role, action):
                assert (status, done) == (200, 200), (action, preview, answer)
                assert preview["text"].strip()
                assert after.state.value != state and answer["state"] == after.state.value
            else:
                assert (status, done) == (403, 403), (action, preview, answer)
                assert answer == {"error": "not_permitted", "message": t("error.not_permitted")}
                assert after.state.value == state
    finally:
        await officer.http.close()


async def test_a_case_the_officer_may_not_see_is_not_found_for_the_forms(web: WebServer) -> None:
    officer = await _signed_in(web, "li")
    case_id = await _seed(web, "registered", "discipline")
    status, data = await officer.post(
        f"/api/officer/cases/{case_id}/preview", {"action": "accept", "fields": {}}
    )
    assert (status, data["error"]) == (404, "not_found")
    await officer.http.close()


async def test_a_form_without_the_csrf_token_is_refused_with_a_translated_message(
    web: WebServer,
) -> None:
    officer = await _signed_in(web, "li")
    case_id = await _seed(web, "registered")
    for step in ("preview", "act"):
        status, data = await officer.post(
            f"/api/officer/cases/{case_id}/{step}",
            {"action": "accept", "fields": {}},
            headers={"X-CSRF-Token": ""},
        )
        assert (status, data) == (403, {"error": "csrf", "message": t("ledger.error_csrf")})
    assert (await load_case(web.container, case_id)).state.value == "registered"
    await officer.http.close()


async def test_an_act_on_a_case_that_changed_since_the_page_loaded_is_a_409(
    web: WebServer,
) -> None:
    officer = await _signed_in(web, "li")
    case_id = await _seed(web, "registered")
    path = f"/api/officer/cases/{case_id}"
    accept = {"action": "accept", "fields": {}, "state": "registered"}
    assert (await officer.post(f"{path}/act", accept))[0] == 200
    # The same page again (it still shows 登记): refused, nothing changes twice.
    status, data = await officer.post(f"{path}/act", accept)
    assert (status, data) == (409, {"error": "stale", "message": t("ledger.error_stale")})
    # Without the state the page saw, the lifecycle itself refuses the act.
    status, data = await officer.post(f"{path}/act", {"action": "accept", "fields": {}})
    assert (status, data["error"]) == (409, "invalid_transition")
    assert data["message"] == t("error.invalid_transition")
    await officer.http.close()


async def test_a_wrong_or_missing_field_is_refused_in_the_officers_language(
    web: WebServer,
) -> None:
    officer = await _signed_in(web, "li")
    case_id = await _seed(web, "in_progress")
    path = f"/api/officer/cases/{case_id}/preview"
    status, data = await officer.post(path, {"action": "respond", "fields": {"outcome": "好"}})
    assert (status, data["error"]) == (400, "invalid_field")
    assert "不予支持" in data["message"]
    status, data = await officer.post(path, {"action": "respond", "fields": {"outcome": "支持"}})
    assert (status, data["error"]) == (400, "missing_field")
    assert data["message"] == t("error.missing_field", field=t("field.text"))
    await officer.http.close()


async def test_a_formal_answer_pushes_its_notice_as_a_pdf_and_officers_download_it(
    web: WebServer,
) -> None:
    container = web.container
    employee = ChatUser(container.handlers, chat_id="4242", sender_id="4242")
    filed = await file_petition(container, employee)
    officer = await _signed_in(web, "li")
    path = f"/api/officer/cases/{filed.case_id}"
    case = await load_case(container, filed.case_id)
    steps = [
        ("accept", {}),
        ("start", {}),
        ("respond", {"outcome": "不予支持", "text": "经核查，工资已按时足额发放。"}),
    ]
    for action, fields in steps:
        status, data = await officer.post(
            f"{path}/act", {"action": action, "fields": fields, "state": case.state.value}
        )
        assert status == 200, data
        case = await load_case(container, filed.case_id)
    await web.deliver()
    pushes = [
        d for d in web.others["telegram"].sent if d.audience == "employee" and d.kind == "status"
    ]
    assert len(pushes) == 3
    files = [f for push in pushes for reply in push.replies for f in reply.files]
    # 受理 and 答复 issue notices; 开始办理 does not.
    assert [f.name for f in files] == [f"{filed.number}-受理.pdf", f"{filed.number}-答复.pdf"]
    assert all(f.mime == "application/pdf" and f.data.startswith(b"%PDF") for f in files)
    pushed = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files[1].data)).pages)
    assert filed.number in pushed and "不予支持" in pushed

    # The case page lists the notices; the download is the same notice, and audited.
    async with officer.http.get(f"{web.base}{path}") as resp:
        page = await resp.json()
    assert [n["kind"] for n in page["notices"]] == ["acceptance", "answer"]
    async with officer.http.get(f"{web.base}{path}/notices/answer.pdf") as resp:
        assert resp.status == 200 and resp.content_type == "application/pdf"
        pdf = await resp.read()
    assert pdf == files[1].data
    async with officer.http.get(f"{web.base}{path}/notices/review.pdf") as resp:
        assert resp.status == 404  # not issued (yet)
    async with container.uow() as uow:
        actions = (await uow.session.execute(select(AuditRow.action))).scalars().all()
    assert "case.notice" in actions
    await officer.http.close()
