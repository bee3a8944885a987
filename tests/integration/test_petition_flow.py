"""The core flows end to end through the handlers, on the real storage (SQLite, and
PostgreSQL when XINFANG_TEST_PG_URL is set): petitions, officers, tracking codes,
follow-ups, bad input and languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.container import Container, build_container
from bot.settings import load_settings
from handlers.ports import CaseFilter, Contact
from handlers.views import render_admin, render_employee
from petitions.codes import generate_tracking_code
from petitions.roles import Role
from petitions.states import CaseState, Outcome, Redirect
from storage.models import AttachmentRow, CaseEventRow, OutboxRow
from storage.vault import Keyring, load_custodian_private_key, open_identity
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.evidence import surviving_markers
from tests.helpers.flow import (
    DESCRIPTION,
    PDF,
    PHOTO,
    Filed,
    add_officer,
    admin_chat,
    file_petition,
    load_case,
    queued,
)
from tests.helpers.seeding import seed_units


def zh(container: Container, key: str, **params: Any) -> str:
    """The Chinese text of a message id."""
    return container.translator.t(key, "zh_CN", **params)


def employee(container: Container, sender: str = "10001") -> ChatUser:
    """An employee in a private chat with the bot."""
    return ChatUser(container.handlers, chat_id=sender, sender_id=sender)


async def outbox_count(container: Container) -> int:
    async with container.uow() as uow:
        return int((await uow.session.execute(select(func.count(OutboxRow.id)))).scalar_one())


async def event_count(container: Container, case_id: int) -> int:
    async with container.uow() as uow:
        stmt = select(func.count(CaseEventRow.id)).where(CaseEventRow.case_id == case_id)
        return int((await uow.session.execute(stmt)).scalar_one())


async def render_admin_rows(container: Container, case_id: int) -> list[str]:
    """Render every admin outbox row of a case as the delivery worker would."""
    texts = []
    async with container.uow() as uow:
        for row in await uow.outbox.for_case(case_id):
            if row.audience != "admin":
                continue
            replies = await render_admin(
                uow,
                container.translator.t,
                "zh_CN",
                row.kind,
                uow.outbox.payload(row),
                container.services.clock(),
            )
            texts.append(text_of(replies))
    return texts


# --- intake ---------------------------------------------------------------------------------


async def test_an_anonymous_petition_with_a_photo_and_a_pdf_gets_a_code_and_a_case_card(
    container: Container,
):
    user = employee(container)
    await user.say("/start")
    assert {"menu:new", "menu:status"} <= set(user.buttons)
    await user.press("menu:new")
    assert "cat:pay" in user.buttons and "cat:discipline" in user.buttons
    await user.press("cat:pay")
    assert zh(container, "intake.ask_description", min=10) in user.text
    await user.say(DESCRIPTION)
    assert "ev:done" in user.buttons
    await user.send_file(PHOTO[0], name=PHOTO[1], mime=PHOTO[2], kind=PHOTO[3])
    assert zh(container, "intake.file_received", count=1, max=10) in user.text
    assert "已去除可能暴露身份的隐藏信息：" in user.text and "拍摄位置" in user.text
    await user.send_file(PDF[0], name=PDF[1], mime=PDF[2], kind=PDF[3])
    assert zh(container, "intake.file_received", count=2, max=10) in user.text
    assert "已去除可能暴露身份的隐藏信息：" in user.text and "作者" in user.text
    await user.press("ev:done")
    assert {"anon:yes", "anon:no"} <= set(user.buttons)
    await user.press("anon:yes")
    assert {"up:push", "up:code"} <= set(user.buttons)
    await user.press("up:push")
    review = user.text
    assert "薪酬福利" in review and DESCRIPTION in review and "证据材料：2 件" in review
    assert "身份：匿名" in review
    assert review.endswith("进展通知：" + zh(container, "intake.review_push"))
    assert "rv:submit" in user.buttons
    await user.press("rv:submit")

    codes = [m for m in user.text.split() if len(m) == 19 and m.count("-") == 3]
    assert len(codes) == 1, user.text
    code = codes[0]
    assert "XF-2026-" in user.text
    assert zh(container, "intake.keep_code") in user.text

    async with container.uow() as uow:
        case = await uow.cases.by_tracking_code(code.replace("-", ""))
        assert case is not None and case.id is not None
        assert case.state is CaseState.REGISTERED
        assert case.anonymous and not case.has_identity
        assert case.description == DESCRIPTION
        assert await uow.cases.contact(case.id) == Contact("telegram", "10001")
        files = await uow.attachments.list(case.id)
        # Stored cleaned, under neutral names: no original name, GPS, serial or author.
        assert [(f.name, f.mime, f.kind) for f in files] == [
            ("证据1.jpg", "image/jpeg", "photo"),
            ("证据2.pdf", "application/pdf", "document"),
        ]
        stored_pdf = (await uow.attachments.data(files[1].id))[1]
        assert stored_pdf.startswith(b"%PDF-") and stored_pdf != PDF[0]
        assert surviving_markers(stored_pdf) == []
        assert surviving_markers((await uow.attachments.data(files[0].id))[1]) == []
        assert await uow.attachments.count_drafts("telegram", "10001") == 0
        assert await uow.conversations.get("telegram", "10001") is None
        events = await uow.cases.events(case.id)
        assert [e.kind for e in events] == ["submitted"]
        assert events[0].detail == {"files": 2}

    rows = await queued(container, case.id)
    assert [(q.audience, q.channel, q.kind) for q in rows] == [("admin", "telegram", "case_card")]
    assert rows[0].payload == {"case_id": case.id}
    (card,) = await render_admin_rows(container, case.id)
    assert case.number in card and DESCRIPTION in card and "证据材料：2 件" in card
    assert "匿名信访" in card

    await user.say(code.lower().replace("-", " "))
    assert case.number in user.text and "已登记" in user.text
    assert {"cs:add", "cs:withdraw", "cs:done"} <= set(user.buttons)


async def test_a_real_name_petition_seals_the_identity_and_never_echoes_what_was_typed(
    container: Container, keys: tuple[Keyring, Path]
):
    user = employee(container)
    identity = {"name": "李实名", "staff_no": None, "unit": "第三车间甲班", "phone": "13912345678"}
    filed = await file_petition(container, user, identity=identity)

    for value in ("李实名", "第三车间甲班", "13912345678"):
        assert value not in text_of(user.history)
    review = next(r.text for r in user.history if "请核对" in r.text)
    assert "实名（已封存：姓名、单位/部门、电话）" in review
    assert "工号" not in review

    case = await load_case(container, filed.case_id)
    assert case.has_identity and not case.anonymous
    async with container.uow() as uow:
        sealed = await uow.cases.sealed_identity(filed.case_id)
    assert sealed is not None and b"13912345678" not in sealed
    private = load_custodian_private_key(keys[1].read_bytes())
    assert open_identity(private, sealed) == {
        "name": "李实名",
        "unit": "第三车间甲班",
        "phone": "13912345678",
    }
    (card,) = await render_admin_rows(container, filed.case_id)
    assert "实名信访" in card and "李实名" not in card and "13912345678" not in card


async def test_identity_typed_during_an_intake_is_sealed_in_the_stored_draft(
    container: Container,
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:labor")
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:no")
    await user.say("李实名")
    async with container.uow() as uow:
        conversation = await uow.conversations.get("telegram", "10001")
    assert conversation is not None and conversation.step == "intake.identity.staff_no"
    sealed_name = conversation.draft["identity"]["name"]
    assert "李实名" not in sealed_name and len(sealed_name) > 40


async def test_an_invalid_phone_number_is_asked_again_and_an_empty_name_is_refused(
    container: Container,
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:labor")
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:no")
    await user.press("id:skip")  # the name is required: no skip
    assert zh(container, "intake.ask_name") in user.text
    await user.say("\u200b\u202e")  # nothing visible
    assert user.text == zh(container, "intake.identity_invalid", max=50)
    await user.say("李实名")
    await user.press("id:skip")
    await user.press("id:skip")
    await user.say("call me maybe")
    assert user.text == zh(container, "intake.phone_invalid")
    await user.say("+86 139-1234-5678")
    assert {"up:push", "up:code"} <= set(user.buttons)  # accepted: on to the next question


# --- officers ---------------------------------------------------------------------------------


async def assert_employee_told(
    container: Container,
    filed: Filed,
    kind: str,
    *,
    before: int,
    **expected: Any,
) -> str:
    """Exactly one new employee outbox row of this kind, whose payload holds ``expected``;
    returns the rendered push."""
    rows = await queued(container, filed.case_id, audience="employee")
    assert len(rows) == before + 1, rows
    row = rows[-1]
    assert (row.channel, row.kind) == ("telegram", kind)
    assert row.payload["locale"] == "zh_CN" and row.payload["number"] == filed.number
    for key, value in expected.items():
        assert row.payload[key] == value, (key, row.payload)
    return render_employee(container.translator.t, row.kind, row.payload).text


async def test_an_officer_takes_a_case_from_acceptance_to_closing_with_commands(
    container: Container,
):
    user = employee(container)
    filed = await file_petition(container, user)
    officer = await add_officer(container)
    n = filed.number

    await officer.say("/cases")
    assert n in officer.text and "薪酬福利" in officer.text
    await officer.say(f"/case {n}")
    assert DESCRIPTION in officer.text

    await officer.say(f"/accept {n}")
    assert "已受理" in officer.text and officer.last[0].case_id == filed.case_id
    push = await assert_employee_told(container, filed, "status", before=0, state="accepted")
    assert f"案件 {n} 状态更新：已受理" in push and "办理期限" in push
    await user.say(filed.code)
    assert "状态：已受理" in user.text

    await officer.say(f"/begin {n}")
    push = await assert_employee_told(container, filed, "status", before=1, state="in_progress")
    assert "办理中" in push
    await user.say(filed.code)
    assert "状态：办理中" in user.text

    await officer.say(f"/answer {n} 我们正在核实考勤记录。")
    assert officer.text == zh(container, "officer.answer_sent", number=n)
    push = await assert_employee_told(
        container, filed, "answer", before=2, text="我们正在核实考勤记录。"
    )
    assert "我们正在核实考勤记录。" in push
    await user.say(filed.code)
    assert "我们正在核实考勤记录。" in user.text

    # Replying to the case's message in the admin chat is an explicit answer too.
    await officer.say("请补充近三个月的工资条。", case_ref=filed.case_id)
    assert officer.text == zh(container, "officer.answer_sent", number=n)
    push = await assert_employee_told(
        container, filed, "answer", before=3, text="请补充近三个月的工资条。"
    )
    assert "请补充近三个月的工资条。" in push

    # Anything else officers say in the admin chat stays among them.
    assert await officer.say("这个案子下午开会讨论") == []
    assert len(await queued(container, filed.case_id, audience="employee")) == 4

    await officer.say(f"/respond {n} supported 经核实，已安排财务本月补发。")
    assert "已答复" in officer.text
    push = await assert_employee_told(
        container,
        filed,
        "status",
        before=4,
        state="responded",
        outcome="supported",
        text="经核实，已安排财务本月补发。",
    )
    assert "结论：支持" in push and "经核实，已安排财务本月补发。" in push
    assert "申请复查" in push  # the review window is named
    await user.say(filed.code)
    assert "状态：已答复" in user.text and "cs:review" in user.buttons

    await officer.say(f"/close {n}")
    push = await assert_employee_told(container, filed, "status", before=5, state="closed")
    assert "办结" in push
    await user.say(filed.code)
    assert "状态：办结" in user.text
    assert "cs:add" not in user.buttons and "cs:withdraw" not in user.buttons

    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.CLOSED and case.outcome is Outcome.SUPPORTED
    async with container.uow() as uow:
        events = await uow.cases.events(filed.case_id)
        audit = await uow.audit.list(filed.case_id)
    assert [e.to_state for e in events if e.kind == "transition"] == [
        CaseState.ACCEPTED,
        CaseState.IN_PROGRESS,
        CaseState.RESPONDED,
        CaseState.CLOSED,
    ]
    assert all(e.actor_role is Role.OFFICER for e in events if e.kind == "transition")
    assert [a["action"] for a in audit] == [
        "case.submit",
        "case.view",  # reading the full petition (/case) is audited, by person
        "case.accept",
        "case.start",
        "case.answer",
        "case.answer",
        "case.respond",
        "case.close",
    ]


async def test_officers_use_the_buttons_to_refuse_transfer_extend_and_answer_cases(
    container: Container,
):
    officer = await add_officer(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")

    # Not accepted: the right channel from buttons, then the reason, a preview, confirm.
    refused = await file_petition(container, employee(container, "20001"))
    await officer.press(f"o:not_accept:{refused.case_id}")
    assert officer.text == zh(container, "officer.ask_redirect", number=refused.number)
    assert f"o:cancel:{refused.case_id}" in officer.buttons
    assert f"o:pick:redirect:{Redirect.ARBITRATION.value}" in officer.buttons
    await officer.press("o:pick:redirect:arbitration")
    assert officer.text == zh(container, "officer.ask_reason", number=refused.number)
    await officer.say("属于劳动争议，应申请仲裁。")
    assert "建议途径：劳动人事争议仲裁" in officer.text
    assert await queued(container, refused.case_id, audience="employee") == []
    await officer.press(f"o:ok:{refused.case_id}:1")
    assert "不予受理" in officer.text
    push = await assert_employee_told(
        container,
        refused,
        "status",
        before=0,
        state="not_accepted",
        reason="属于劳动争议，应申请仲裁。",
        redirect="arbitration",
    )
    assert "建议途径：劳动人事争议仲裁" in push and "属于劳动争议，应申请仲裁。" in push
    user = employee(container, "20001")
    await user.say(refused.code)
    assert "不予受理" in user.text and "劳动人事争议仲裁" in user.text
    assert "cs:add" not in user.buttons

    # Transferred: destination, then reason.
    moved = await file_petition(container, employee(container, "20002"))
    # A transfer goes to a unit of the group (made after filing: the intake then asks for
    # no unit).
    hr = (await seed_units(container, ["人力资源部"]))["人力资源部"]
    await officer.press(f"o:transfer:{moved.case_id}")
    assert officer.text == "\n".join(
        (
            zh(container, "officer.ask_destination", number=moved.number),
            zh(container, "form.ask_unit_hint"),
        )
    )
    await officer.say("人力资源部")
    assert officer.text == zh(container, "officer.ask_reason", number=moved.number)
    await officer.say("属人力资源部职责")
    await officer.press(f"o:ok:{moved.case_id}:1")
    push = await assert_employee_told(
        container, moved, "status", before=0, state="transferred", unit="人力资源部"
    )
    assert "承办单位：人力资源部" in push
    assert (await load_case(container, moved.case_id)).unit_id == hr

    # Accepted, started, extended by a leader (days typed wrong first), answered.
    handled = await file_petition(container, employee(container, "20003"))
    await officer.press(f"o:accept:{handled.case_id}")
    await officer.press(f"o:ok:{handled.case_id}:1")
    await officer.press(f"o:start:{handled.case_id}")
    await officer.press(f"o:ok:{handled.case_id}:1")
    assert (await load_case(container, handled.case_id)).state is CaseState.IN_PROGRESS
    await leader.press(f"o:extend:{handled.case_id}")
    assert leader.text == zh(container, "officer.ask_days", number=handled.number)
    assert {"o:pick:extension_days:10", "o:pick:extension_days:30"} <= set(leader.buttons)
    await leader.say("十天")
    assert zh(container, "form.wrong_days", max=30) in leader.text
    await leader.say("10")
    assert leader.text == zh(container, "officer.ask_reason", number=handled.number)
    await leader.say("需要向外单位调取材料")
    await leader.press(f"o:ok:{handled.case_id}:1")
    push = await assert_employee_told(
        container, handled, "status", before=2, state="extended", days=10
    )
    assert "延期 10 天" in push and "需要向外单位调取材料" in push
    case = await load_case(container, handled.case_id)
    assert case.state is CaseState.EXTENDED and case.extension_days == 10

    await officer.press(f"o:respond:{handled.case_id}")
    assert {
        "o:pick:outcome:supported",
        "o:pick:outcome:explained",
        "o:pick:outcome:not_supported",
    } <= set(officer.buttons)
    await officer.press("oo:explained")  # as older messages in the chat still offer it
    assert officer.text == zh(container, "officer.ask_text", number=handled.number)
    await officer.say("加班费按制度第十条计算，差额已说明。")
    await officer.press(f"o:ok:{handled.case_id}:1")
    push = await assert_employee_told(
        container, handled, "status", before=3, state="responded", outcome="explained"
    )
    assert "结论：解释说明" in push and "加班费按制度第十条计算" in push
    await officer.press(f"o:close:{handled.case_id}")
    await officer.press(f"o:ok:{handled.case_id}:1")
    assert (await load_case(container, handled.case_id)).state is CaseState.CLOSED

    # A flow abandoned half-way changes nothing.
    pending = await file_petition(container, employee(container, "20004"))
    await officer.press(f"o:not_accept:{pending.case_id}")
    await officer.press("o:cancel:0")
    assert officer.text == zh(container, "officer.cancelled")
    assert await officer.say("随便聊聊") == []
    assert (await load_case(container, pending.case_id)).state is CaseState.REGISTERED
    assert await queued(container, pending.case_id, audience="employee") == []


async def test_the_view_button_shows_staff_the_timeline_messages_and_files(
    container: Container,
):
    filed = await file_petition(container, employee(container), files=[PHOTO])
    officer = await add_officer(container)
    await officer.say(f"/note {filed.number} 已电话联系车间")
    assert officer.text == zh(container, "officer.noted", number=filed.number)
    await officer.press(f"o:view:{filed.case_id}")
    assert DESCRIPTION in officer.text and "内部备注：已电话联系车间" in officer.text
    # Staff get the cleaned photo under a neutral name: no GPS, serial or author left.
    (shown,) = [f for r in officer.last for f in r.files]
    assert (shown.name, shown.mime, shown.kind) == ("证据1.jpg", "image/jpeg", "photo")
    assert shown.data.startswith(b"\xff\xd8") and surviving_markers(shown.data) == []
    # Notes stay internal: no push, not on the employee's view.
    assert await queued(container, filed.case_id, audience="employee") == []
    user = employee(container)
    await user.say(filed.code)
    assert "已电话联系车间" not in user.text


async def test_illegal_transitions_are_refused_with_a_translated_reason_and_change_nothing(
    container: Container,
):
    filed = await file_petition(container, employee(container))
    officer = await add_officer(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    n = filed.number

    async def unchanged(state: CaseState, outbox: int, events: int) -> None:
        assert (await load_case(container, filed.case_id)).state is state
        assert await outbox_count(container) == outbox
        assert await event_count(container, filed.case_id) == events

    outbox, events = await outbox_count(container), await event_count(container, filed.case_id)
    await officer.say(f"/close {n}")
    assert officer.text == zh(container, "error.invalid_transition")
    await unchanged(CaseState.REGISTERED, outbox, events)
    await officer.press(f"o:start:{filed.case_id}")
    assert officer.text == zh(container, "error.invalid_transition")
    await officer.say(f"/respond {n} great 好")
    assert officer.text == zh(container, "error.invalid_transition")  # the state comes first
    await officer.say(f"/reject {n} 上访 好")
    assert officer.text == zh(
        container,
        "form.wrong_choice",
        field="应当的途径",
        choices="仲裁、法院、纪检、行政复议、其他",
    )
    await officer.say(f"/reject {n} court")
    assert officer.text == zh(container, "officer.ask_reason", number=n)
    await officer.press("o:cancel:0")
    await unchanged(CaseState.REGISTERED, outbox, events)

    await officer.say(f"/accept {n}")
    await officer.say(f"/begin {n}")
    outbox, events = await outbox_count(container), await event_count(container, filed.case_id)
    await officer.say(f"/extend {n} 10 需要更多时间")
    assert officer.text == zh(container, "error.not_permitted")
    await officer.press(f"o:extend:{filed.case_id}")
    assert officer.text == zh(container, "error.not_permitted")
    assert await officer.say("10") == []  # no question was left pending
    await leader.say(f"/extend {n} 31 太久")
    assert leader.text == zh(container, "form.wrong_days", max=30)
    await unchanged(CaseState.IN_PROGRESS, outbox, events)

    await leader.say(f"/extend {n} 10 需要外调材料")
    assert "延期办理" in leader.text
    outbox, events = await outbox_count(container), await event_count(container, filed.case_id)
    await leader.say(f"/extend {n} 5 还要再等")
    assert leader.text == zh(container, "error.extension_used")
    await leader.press(f"o:extend:{filed.case_id}")
    assert leader.text == zh(container, "error.extension_used")
    await unchanged(CaseState.EXTENDED, outbox, events)
    assert (await load_case(container, filed.case_id)).extension_days == 10

    await officer.say("/accept XF-2026-999999")
    assert officer.text == zh(container, "error.case_not_found")
    await officer.say("/accept")
    assert officer.text == zh(container, "officer.need_ref")


async def test_people_in_the_admin_chat_who_are_not_officers_cannot_act(container: Container):
    filed = await file_petition(container, employee(container))
    await add_officer(container)
    stranger = admin_chat(container, "999")
    outbox = await outbox_count(container)

    await stranger.press(f"o:accept:{filed.case_id}")
    assert stranger.text == zh(container, "officer.not_registered")
    await stranger.say(f"/accept {filed.number}")
    assert stranger.text == zh(container, "officer.not_registered")
    await stranger.say(f"/case {filed.number}")
    assert stranger.text == zh(container, "officer.not_registered")
    assert DESCRIPTION not in stranger.text
    assert await stranger.say("大家好，今天开会吗？") == []
    assert await stranger.say("回复这个案子", case_ref=filed.case_id) == []

    # Nor can an employee by pressing or typing officers' actions in a private chat.
    someone = employee(container, "10002")
    await someone.press(f"o:accept:{filed.case_id}")
    assert zh(container, "error.stale") in someone.text
    await someone.say(f"/accept {filed.number}")
    assert someone.text == zh(container, "menu.text")

    assert (await load_case(container, filed.case_id)).state is CaseState.REGISTERED
    assert await outbox_count(container) == outbox


# --- tracking codes --------------------------------------------------------------------------


async def test_wrong_and_malformed_codes_are_explained_and_repeated_failures_are_throttled(
    container: Container, clock: FakeClock
):
    filed = await file_petition(container, employee(container))
    guesser = employee(container, "30001")
    await guesser.press("menu:status")
    assert guesser.text == zh(container, "track.ask_code")
    await guesser.say("ABC123")
    assert guesser.text == zh(container, "track.malformed")
    wrong = generate_tracking_code()
    await guesser.say(wrong)
    assert guesser.text == zh(container, "track.not_found", left=3)
    await guesser.say(f"/status {generate_tracking_code()}")
    assert guesser.text == zh(container, "track.not_found", left=2)
    await guesser.say(generate_tracking_code())
    await guesser.say(generate_tracking_code())
    assert guesser.text == zh(container, "track.not_found", left=0)

    await guesser.say(filed.code)
    assert guesser.text == zh(container, "track.throttled", minutes=15)
    assert filed.number not in guesser.text
    clock.advance(minutes=14)
    await guesser.say(f"/status {filed.code}")
    assert guesser.text == zh(container, "track.throttled", minutes=15)

    # The throttle is per sender: someone else is not held up.
    other = employee(container, "30002")
    await other.say(filed.code)
    assert filed.number in other.text

    clock.advance(minutes=1, seconds=1)
    await guesser.say(filed.code)
    assert filed.number in guesser.text and "已登记" in guesser.text


# --- restarts and expiry ---------------------------------------------------------------------


async def test_an_intake_resumes_after_the_process_is_rebuilt_half_way(
    container: Container, env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
):
    before = employee(container)
    await before.press("menu:new")
    await before.press("cat:safety")
    await before.say(DESCRIPTION)
    await before.send_file(PHOTO[0], name=PHOTO[1], mime=PHOTO[2], kind=PHOTO[3])
    await container.close()

    rebuilt = await build_container(load_settings(env), keyring=keys[0], clock=clock)
    try:
        after = employee(rebuilt)
        await after.say("/new")
        assert zh(rebuilt, "intake.resuming") in after.text
        assert zh(rebuilt, "intake.ask_evidence", count=1, max=10) in after.text
        await after.say("另外，车间的安全阀也坏了。")
        await after.press("ev:done")
        await after.press("anon:yes")
        await after.press("up:push")
        assert "劳动保护与安全" in after.text
        await after.press("rv:submit")
        assert "XF-2026-" in after.text
        async with rebuilt.uow() as uow:
            (case,) = await uow.cases.list(_all())
            assert case.description == f"{DESCRIPTION}\n另外，车间的安全阀也坏了。"
            assert len(await uow.attachments.list(case.id)) == 1
    finally:
        await rebuilt.close()


def _all() -> CaseFilter:
    return CaseFilter(limit=100)


async def draft_files(container: Container) -> int:
    async with container.uow() as uow:
        stmt = select(func.count(AttachmentRow.id)).where(AttachmentRow.case_id.is_(None))
        return int((await uow.session.execute(stmt)).scalar_one())


async def test_drafts_expire_after_the_idle_time_and_their_files_are_deleted(
    container: Container, clock: FakeClock
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say(DESCRIPTION)
    await user.send_file(PHOTO[0], name=PHOTO[1], mime=PHOTO[2], kind=PHOTO[3])
    assert await draft_files(container) == 1

    clock.advance(hours=23)
    await user.say("/new")  # still within the idle time: resumed
    assert zh(container, "intake.resuming") in user.text
    clock.advance(hours=23)  # idle time counts from the last activity
    await user.say("/new")
    assert zh(container, "intake.resuming") in user.text

    # Stored times are to the hour (and expiry rounds up), so a draft lives 24 to 25 hours
    # after the last activity: past that it is gone.
    clock.advance(hours=25, minutes=1)
    await user.say("/new")
    assert zh(container, "intake.resuming") not in user.text
    assert user.text == zh(container, "intake.ask_category")
    assert await draft_files(container) == 0
    async with container.uow() as uow:
        conversation = await uow.conversations.get("telegram", "10001")
    assert conversation is not None and conversation.step == "intake.category"
    assert conversation.draft == {}


async def test_an_expired_draft_is_not_continued_by_a_late_message(
    container: Container, clock: FakeClock
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    clock.advance(hours=25, minutes=1)  # past the idle time rounded up to the hour
    await user.say(DESCRIPTION)
    assert user.text == zh(container, "menu.text")
    await user.press("rv:submit")
    assert zh(container, "error.stale") in user.text
    async with container.uow() as uow:
        assert await uow.cases.list(_all()) == []


# --- after submitting -------------------------------------------------------------------------


async def test_an_employee_adds_text_and_a_file_to_an_open_case_and_the_admins_are_told(
    container: Container,
):
    filed = await file_petition(container, employee(container))
    user = employee(container)
    await user.say(filed.code)
    await user.press("cs:add")
    assert user.text == zh(container, "track.ask_info")
    await user.say("补充：二月份的加班也没有记录。")
    assert zh(container, "track.info_added") in user.text
    await user.send_file(PDF[0], name=PDF[1], mime=PDF[2], kind=PDF[3])
    assert zh(container, "track.info_added") in user.text
    await user.press("cs:back")
    assert "补充材料" in user.text  # back on the status, with the timeline entry

    rows = await queued(container, filed.case_id, audience="admin")
    assert [q.kind for q in rows] == ["case_card", "case_info", "case_info"]
    texts = await render_admin_rows(container, filed.case_id)
    assert texts[1] == zh(container, "admin.info_added", number=filed.number)
    async with container.uow() as uow:
        messages = await uow.cases.messages(filed.case_id)
        files = await uow.attachments.list(filed.case_id)
    assert [(m.kind, m.body) for m in messages] == [("employee", "补充：二月份的加班也没有记录。")]
    assert [f.name for f in files] == ["证据1.pdf"]  # cleaned, under a neutral name

    officer = await add_officer(container)
    await officer.say(f"/case {filed.number}")
    assert "信访人补充：补充：二月份的加班也没有记录。" in officer.text
    shown = [f for r in officer.last for f in r.files]
    assert [f.name for f in shown] == ["证据1.pdf"]
    assert surviving_markers(shown[0].data) == []


async def test_an_employee_withdraws_an_open_case(container: Container):
    filed = await file_petition(container, employee(container))
    user = employee(container)
    await user.say(filed.code)
    await user.press("cs:withdraw")
    assert user.text == zh(container, "track.confirm_withdraw")
    await user.press("cs:withdraw_yes")
    assert user.text == zh(container, "track.withdrawn", number=filed.number)
    case = await load_case(container, filed.case_id)
    assert case.state is CaseState.WITHDRAWN and case.closed_at is not None
    rows = await queued(container, filed.case_id, audience="admin")
    assert [q.kind for q in rows] == ["case_card", "case_withdrawn"]
    assert (await render_admin_rows(container, filed.case_id))[1] == zh(
        container, "admin.withdrawn", number=filed.number
    )

    await user.say(filed.code)
    assert "已撤回" in user.text
    assert set(user.buttons) == {"cs:done"}
    await user.press("cs:add")  # a stale button from the earlier view
    assert user.text == zh(container, "track.case_closed")
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    assert officer.text == zh(container, "error.invalid_transition")


async def respond(container: Container, officer: ChatUser, number: str) -> None:
    for command in ("accept", "begin"):
        await officer.say(f"/{command} {number}")
    await officer.say(f"/respond {number} not_supported 经核实，加班费已足额发放。")
    assert "已答复" in officer.text, officer.text


async def test_a_review_is_requested_within_the_window_and_refused_after_it(
    container: Container, clock: FakeClock
):
    officer = await add_officer(container)
    early = await file_petition(container, employee(container, "40001"))
    late = await file_petition(container, employee(container, "40002"))
    await respond(container, officer, early.number)
    await respond(container, officer, late.number)

    clock.advance(days=29)
    user = employee(container, "40001")
    await user.say(early.code)
    await user.press("cs:review")
    assert user.text == zh(container, "track.ask_review_reason")
    await user.say("考勤记录有误，加班时间没有全部统计。")
    case = await load_case(container, early.case_id)
    assert case.state is CaseState.REVIEW_REQUESTED
    assert user.text == zh(container, "track.review_requested", date="2026-04-30")
    assert [q.kind for q in await queued(container, early.case_id, audience="admin")] == [
        "case_card",
        "review_requested",
    ]
    async with container.uow() as uow:
        events = await uow.cases.events(early.case_id)
    assert events[-1].detail == {"reason": "考勤记录有误，加班时间没有全部统计。"}

    clock.advance(days=2)  # 31 days after the answer
    other = employee(container, "40002")
    await other.say(late.code)
    await other.press("cs:review")
    outbox = await outbox_count(container)
    await other.say("还是不满意")
    assert other.text == zh(container, "error.review_window_closed")
    assert (await load_case(container, late.case_id)).state is CaseState.RESPONDED
    assert await outbox_count(container) == outbox


# --- bad input ---------------------------------------------------------------------------------


async def stored_draft(container: Container, sender: str = "10001") -> dict[str, Any]:
    async with container.uow() as uow:
        conversation = await uow.conversations.get("telegram", sender)
    assert conversation is not None
    return conversation.draft


async def test_a_twenty_thousand_character_text_is_refused_and_the_draft_keeps_what_it_had(
    container: Container,
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    huge = "长" * 20_000
    await user.say(huge)
    assert user.text == zh(container, "intake.too_long", length=20_000, max=10_000)
    assert await stored_draft(container) == {"category": "pay"}

    await user.say(DESCRIPTION)
    await user.say(huge)  # more text in the evidence step adds to the description
    assert user.text == zh(
        container, "intake.too_long", length=len(DESCRIPTION) + 1 + 20_000, max=10_000
    )
    assert await stored_draft(container) == {"category": "pay", "description": DESCRIPTION}
    async with container.uow() as uow:
        conversation = await uow.conversations.get("telegram", "10001")
    assert conversation is not None and conversation.step == "intake.evidence"
    await user.press("ev:done")
    assert {"anon:yes", "anon:no"} <= set(user.buttons)


async def test_odd_unicode_is_cleaned_from_what_employees_type(container: Container):
    user = employee(container)
    typed = "工资\u202e拖欠\u200b三个月\u0000了😀\u200d请尽快处理\ufeff，谢谢\u2066！"
    filed = await file_petition(container, user, description=typed)
    case = await load_case(container, filed.case_id)
    assert case.description == "工资拖欠三个月了😀请尽快处理，谢谢！"
    assert "\u202e" not in text_of(user.history) and "\x00" not in text_of(user.history)


async def test_unsupported_messages_get_a_translated_answer_at_every_step(
    container: Container,
):
    filed = await file_petition(container, employee(container, "50001"))
    user = employee(container)
    unsupported = zh(container, "error.unsupported")

    async def check(step: str) -> None:
        await user.sticker()
        assert user.text == unsupported, step
        async with container.uow() as uow:
            conversation = await uow.conversations.get("telegram", "10001")
        assert (conversation.step if conversation else "idle") == step

    await check("idle")
    await user.press("menu:new")
    await check("intake.category")
    await user.press("cat:pay")
    await check("intake.description")
    await user.say(DESCRIPTION)
    await check("intake.evidence")
    await user.press("ev:done")
    await check("intake.anonymity")
    await user.press("anon:no")
    await check("intake.identity.name")
    await user.say("李实名")
    await check("intake.identity.staff_no")
    for _ in range(3):
        await user.press("id:skip")
    await check("intake.updates")
    await user.press("up:push")
    await check("intake.review")
    await user.press("rv:edit")
    await check("intake.edit")
    await user.say("/cancel")
    await user.press("menu:status")
    await check("track.code")
    await user.say(filed.code)
    await check("track.case")
    await user.press("cs:add")
    await check("track.add")
    await user.press("cs:back")
    await user.press("cs:withdraw")
    await check("track.withdraw")
    await user.press("cs:back")
    await user.press("cs:review")
    await check("track.review")

    officer = await add_officer(container)
    await officer.sticker()
    assert officer.last == []
    await officer.press(f"o:not_accept:{filed.case_id}")
    await officer.sticker()
    assert officer.last == []  # the pending question stays
    await officer.press("o:pick:redirect:court")
    assert officer.text == zh(container, "officer.ask_reason", number=filed.number)


async def test_stale_buttons_get_the_stale_message_and_a_double_submit_files_one_case(
    container: Container,
):
    user = employee(container)
    stale = zh(container, "error.stale")
    for payload in ("rv:submit", "ev:done", "anon:yes", "cs:withdraw_yes", "lang:fr", "xx"):
        await user.press(payload)
        assert stale in user.text, payload
    assert "menu:new" in user.buttons

    await file_petition(container, user)
    await user.press("rv:submit")
    assert stale in user.text
    async with container.uow() as uow:
        assert len(await uow.cases.list(_all())) == 1

    await user.press("menu:new")
    await user.press("cat:nonsense")
    assert user.text == zh(container, "intake.ask_category")
    await user.press("rv:submit")
    assert zh(container, "intake.use_buttons") in user.text

    officer = await add_officer(container)
    await officer.press("oo:supported")
    assert officer.text == stale
    await officer.press("or:court")
    assert officer.text == stale
    await officer.press("o:fly:1")
    assert officer.text == stale


async def test_files_over_the_size_limit_or_of_a_refused_type_are_not_kept(
    container: Container,
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say(DESCRIPTION)
    too_big = b"\0" * (20 * 1024 * 1024 + 1)
    await user.send_file(too_big, name="video.mp4", mime="video/mp4", kind="document")
    assert user.text == zh(container, "intake.file_too_big", max_mb=20)
    await user.send_file(b"MZ\x90\x00", name="run.exe", mime="application/x-msdownload")
    assert user.text == zh(container, "intake.file_type")
    await user.send_file(b"<html>", name="a.html", mime="text/html", kind="document")
    assert user.text == zh(container, "intake.file_type")
    assert await draft_files(container) == 0
    await user.send_file(b"hello", name="notes.txt", mime="text/plain", kind="document")
    assert await draft_files(container) == 1

    await user.press("ev:done")
    await user.press("anon:yes")
    await user.press("up:push")
    await user.press("rv:submit")
    filed_code = next(w for w in user.text.split() if w.count("-") == 3 and len(w) == 19)
    await user.say(filed_code)
    await user.press("cs:add")
    await user.send_file(too_big, name="video.mp4", mime="video/mp4", kind="document")
    assert user.text == zh(container, "intake.file_too_big", max_mb=20)
    await user.send_file(b"MZ", name="run.exe", mime="application/x-msdownload")
    assert user.text == zh(container, "intake.file_type")
    async with container.uow() as uow:
        (case,) = await uow.cases.list(_all())
        # Kept under a neutral name, never the one it was sent with.
        assert [f.name for f in await uow.attachments.list(case.id)] == ["证据1.txt"]


async def test_a_file_sent_outside_an_intake_is_explained(container: Container):
    user = employee(container)
    await user.send_file(PHOTO[0])
    assert zh(container, "menu.file_outside") in user.text
    assert await draft_files(container) == 0


# --- languages --------------------------------------------------------------------------------


async def test_lang_switches_to_english_for_the_following_replies_and_pushes(
    container: Container,
):
    user = employee(container)
    await user.say("/lang")
    assert {"lang:zh_CN", "lang:en"} <= set(user.buttons)
    await user.say("/lang en")
    assert user.text == "Language set to English."
    await user.say("/start")
    assert "Hello, this is the company's petition channel" in user.text
    assert user.buttons["menu:new"] == "New petition"
    await user.press("menu:new")
    assert user.text == "Which kind of problem is it?"
    assert user.buttons["cat:pay"] == "Pay and benefits"
    await user.press("cat:pay")
    await user.say("too short")
    assert user.text == container.translator.t("intake.too_short", "en", min=10)
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:yes")
    assert user.buttons["up:push"] == "📨 Push to this chat"
    await user.press("up:push")
    assert "Please check:" in user.text and "Pay and benefits" in user.text
    await user.press("rv:submit")
    assert "Submitted as case XF-2026-" in user.text

    officer = await add_officer(container)
    number = next(w for w in user.text.replace(".", " ").split() if w.startswith("XF-"))
    await officer.say(f"/accept {number}")
    assert "已受理" in officer.text  # the officer keeps Chinese
    async with container.uow() as uow:
        case = await uow.cases.by_number(number)
    rows = await queued(container, case.id, audience="employee")
    assert rows[-1].payload["locale"] == "en"
    push = render_employee(container.translator.t, rows[-1].kind, rows[-1].payload)
    assert f"Case {number} is now: accepted" in push.text

    # Switching back in the middle of an intake asks the current question again.
    await user.press("menu:new")
    await user.press("lang:zh_CN")
    assert user.text == f"{zh(container, 'menu.language_set')}\n" + zh(
        container, "intake.ask_category"
    )


async def test_the_language_of_the_chat_app_is_used_until_one_is_chosen(container: Container):
    user = ChatUser(container.handlers, locale="en-US")
    await user.say("/start")
    assert user.buttons["menu:new"] == "New petition"
    fr = ChatUser(container.handlers, chat_id="2", sender_id="2", locale="fr")
    await fr.say("/start")
    assert fr.buttons["menu:new"] == "我要信访"


# --- reports of violations ----------------------------------------------------------------------


async def test_reports_of_violations_are_hidden_from_officers_and_handled_by_discipline(
    container: Container,
):
    secret = "某车间主任虚报冒领工程款，金额巨大，有账目为证。"
    user = employee(container)
    filed = await file_petition(container, user, category="discipline", description=secret)
    assert any(zh(container, "intake.discipline_note") in r.text for r in filed.replies)
    assert (await load_case(container, filed.case_id)).priority == 1

    rows = await queued(container, filed.case_id, audience="admin")
    assert [(q.kind, q.payload) for q in rows] == [("case_card", {"case_id": filed.case_id})]
    (card,) = await render_admin_rows(container, filed.case_id)
    assert filed.number in card and "违纪违法举报" in card
    assert secret not in card and "虚报冒领" not in card
    async with container.uow() as uow:
        (row,) = await uow.outbox.for_case(filed.case_id)
        replies = await render_admin(
            uow,
            container.translator.t,
            "zh_CN",
            row.kind,
            {"case_id": filed.case_id},
            container.services.clock(),
        )
    assert [b.payload for r in replies for row_ in r.buttons for b in row_] == [
        f"o:view:{filed.case_id}"
    ]

    officer = await add_officer(container)
    # Refused as if it did not exist: the answer tells nothing about the case.
    not_permitted = zh(container, "error.case_not_found")
    await officer.say(f"/case {filed.number}")
    assert officer.text == not_permitted
    await officer.press(f"o:view:{filed.case_id}")
    assert officer.text == not_permitted
    await officer.say(f"/accept {filed.number}")
    assert officer.text == not_permitted
    await officer.say(f"/answer {filed.number} 收到")
    assert officer.text == not_permitted
    await officer.say("/cases")
    assert filed.number not in officer.text

    inspector = await add_officer(container, Role.DISCIPLINE, account="555", name="纪检孙")
    await inspector.say(f"/case {filed.number}")
    assert secret in inspector.text
    await inspector.say("/cases")
    assert filed.number in inspector.text
    await inspector.say(f"/accept {filed.number}")
    assert "已受理" in inspector.text
    await assert_employee_told(container, filed, "status", before=0, state="accepted")
    async with container.uow() as uow:
        events = await uow.cases.events(filed.case_id)
    assert events[-1].actor_role is Role.DISCIPLINE

    # Leaders do not see it either: only 纪检 does (issue 13).
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    await leader.say(f"/case {filed.number}")
    assert leader.text == not_permitted and secret not in leader.text


async def test_an_officer_can_still_petition_as_an_employee_in_a_private_chat(
    container: Container,
):
    sender = "60001"
    await add_officer(container, account=sender)
    me = employee(container, sender)
    filed = await file_petition(container, me)
    assert (await load_case(container, filed.case_id)).state is CaseState.REGISTERED


async def test_a_question_left_open_when_another_officer_acted_is_dropped_not_asked_forever(
    container: Container,
):
    filed = await file_petition(container, employee(container))
    slow = await add_officer(container)
    quick = await add_officer(container, account="778", name="李专员")
    await slow.press(f"o:not_accept:{filed.case_id}")
    assert slow.text == zh(container, "officer.ask_redirect", number=filed.number)
    await quick.say(f"/accept {filed.number}")

    await slow.say("仲裁")
    assert slow.text == zh(container, "error.invalid_transition")
    assert (await load_case(container, filed.case_id)).state is CaseState.ACCEPTED
    # The slow officer's next words in the admin chat are their own conversation again.
    assert await slow.say("好的，那我不管了") == []


async def test_a_refused_review_request_returns_the_employee_to_the_case(
    container: Container, clock: FakeClock
):
    officer = await add_officer(container)
    filed = await file_petition(container, employee(container))
    await respond(container, officer, filed.number)
    clock.advance(days=31)
    user = employee(container)
    await user.say(filed.code)
    await user.press("cs:review")
    await user.say("还是不满意")
    assert user.text == zh(container, "error.review_window_closed")
    await user.say("那怎么办？")
    assert user.text != zh(container, "error.review_window_closed")
    assert filed.number in user.text  # the case's status again
