"""What an anonymous employee is warned about before it is too late: details in their own
text that give them away (found, shown, masked or kept by their choice), and hidden
metadata in their evidence (removed, or their choice when it cannot be)."""

from __future__ import annotations

from bot.container import Container
from tests.helpers.chat import ChatUser
from tests.helpers.evidence import (
    MARKERS,
    docm_with_macros,
    docx_with_author,
    heic_with_gps,
    jpeg_with_gps,
    surviving_markers,
)
from tests.helpers.flow import add_officer, file_petition, load_case
from tests.helpers.plaintext import decrypted_database

PHONE, ID_CARD = "13812345678", "11010519491231002X"
TEXT = f"我是张三，手机{PHONE}，身份证{ID_CARD}。车间三个月没发加班费。"


def employee(container: Container) -> ChatUser:
    return ChatUser(container.handlers, chat_id="3001", sender_id="3001")


async def to_anonymity(user: ChatUser, description: str) -> None:
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say(description)
    await user.press("ev:done")


async def test_an_anonymous_text_with_a_phone_and_an_id_card_is_shown_before_review(
    container: Container,
):
    user = employee(container)
    await to_anonymity(user, TEXT)
    await user.press("anon:yes")
    await user.press("up:push")
    text = user.text
    assert "手机号码" in text and PHONE in text and "身份证号" in text and ID_CARD in text
    assert "姓名" in text and "张三" in text
    assert {"sid:mask", "sid:edit", "sid:keep"} <= set(user.buttons)
    assert "rv:submit" not in user.buttons  # asked first, never blocked: see below


async def test_masking_replaces_every_detail_in_what_is_stored(container: Container):
    user = employee(container)
    await to_anonymity(user, TEXT)
    await user.press("anon:yes")
    await user.press("up:push")
    await user.press("sid:mask")
    assert "已遮盖 3 处" in user.text and "rv:submit" in user.buttons
    await user.press("rv:submit")
    number = next(w for w in user.text.split() if w.startswith("XF-"))
    async with container.uow() as uow:
        case = await uow.cases.by_number(number.rstrip("。，,"))
    assert case is not None
    assert PHONE not in case.description and ID_CARD not in case.description
    assert "张三" not in case.description and "▇▇" in case.description
    assert all(PHONE.encode() not in blob for blob in await decrypted_database(container))


async def test_keeping_the_details_submits_them_unchanged_and_asks_no_more(container: Container):
    user = employee(container)
    await to_anonymity(user, TEXT)
    await user.press("anon:yes")
    await user.press("up:push")
    await user.press("sid:keep")
    assert "rv:submit" in user.buttons
    await user.press("rv:edit")
    await user.press("ed:category")
    await user.press("cat:labor")
    assert "rv:submit" in user.buttons  # unchanged text: the choice stands


async def test_editing_goes_back_to_the_text_and_a_clean_text_reaches_the_review(
    container: Container,
):
    user = employee(container)
    await to_anonymity(user, TEXT)
    await user.press("anon:yes")
    await user.press("up:push")
    await user.press("sid:edit")
    await user.say("车间三个月没有发加班费，要求按规定补发。")
    assert "rv:submit" in user.buttons and "sid:keep" not in user.buttons


async def test_a_real_name_petition_is_not_checked(container: Container):
    user = employee(container)
    await to_anonymity(user, TEXT)
    await user.press("anon:no")
    await user.say("张三")
    for _ in range(3):
        await user.press("id:skip")
    await user.press("up:code")
    assert "rv:submit" in user.buttons


async def test_information_added_later_is_checked_too(container: Container):
    user = employee(container)
    filed = await file_petition(container, user)
    await user.say(filed.code)
    await user.press("cs:add")
    await user.say(f"补充：可以打我电话 {PHONE}")
    assert "手机号码" in user.text and "sid:mask" in user.buttons
    await user.press("sid:mask")
    async with container.uow() as uow:
        [message] = await uow.cases.messages(filed.case_id)
    assert PHONE not in message.body and "▇▇" in message.body


async def test_evidence_reaches_storage_without_location_device_or_author(container: Container):
    user = employee(container)
    await to_anonymity(user, "车间三个月没有发加班费，要求按规定补发。")
    # back to the evidence step: edit → evidence
    await user.press("anon:yes")
    await user.press("up:push")
    await user.press("rv:edit")
    await user.press("ed:evidence")
    for data, name, mime, kind in (
        (jpeg_with_gps(), "IMG_20260301_张三.jpg", "image/jpeg", "photo"),
        (heic_with_gps(), "IMG_0001.HEIC", "image/heic", "document"),
        (
            docx_with_author(),
            "张三的材料.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
        ),
    ):
        await user.send_file(data, name=name, mime=mime, kind=kind)
        assert "已去除可能暴露身份的隐藏信息" in user.text, user.text
    assert "拍摄位置" in "\n".join(r.text for r in user.history)
    await user.press("ev:done")
    await user.press("rv:submit")
    async with container.uow() as uow:
        [case_id] = [c.id for c in await uow.cases.created_between(*_all_time())]
        infos = await uow.attachments.list(case_id)
        stored = [await uow.attachments.data(i.id) for i in infos]
    assert [i.name for i in infos] == ["证据1.jpg", "证据2.jpg", "证据3.docx"]
    for item in stored:
        assert item is not None
        assert surviving_markers(item[1]) == []
    for blob in await decrypted_database(container):
        assert not any(marker in blob for marker in MARKERS)


async def test_a_macro_document_is_refused_and_nothing_is_kept(container: Container):
    user = employee(container)
    await to_anonymity(user, "车间三个月没有发加班费，要求按规定补发。")
    await user.press("rv:cancel")
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say("车间三个月没有发加班费，要求按规定补发。")
    await user.send_file(
        docm_with_macros(), name="a.docm", mime="application/msword", kind="document"
    )
    assert "宏" in user.text
    async with container.uow() as uow:
        assert await uow.attachments.count_drafts("telegram", "3001") == 0


async def test_a_file_that_cannot_be_cleaned_waits_for_the_employees_choice(container: Container):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say("车间三个月没有发加班费，要求按规定补发。")
    await user.send_file(
        b"\x00\x01 not a known format", name="x.mp4", mime="video/mp4", kind="document"
    )
    assert "无法自动去除" in user.text
    [keep] = [p for p in user.buttons if p.endswith(":k")]
    [drop] = [p for p in user.buttons if p.endswith(":d")]
    async with container.uow() as uow:
        assert await uow.attachments.count_drafts("telegram", "3001") == 0  # not yet counted
    await user.press(drop)
    assert "已删除" in user.text
    await user.press(keep)  # gone: nothing to keep any more
    assert container.translator.t("error.stale", "zh_CN") in user.text
    await user.send_file(
        b"\x00\x02 not a known format", name="y.mp4", mime="video/mp4", kind="document"
    )
    [keep] = [p for p in user.buttons if p.endswith(":k")]
    await user.press(keep)
    assert "已按原样保留" in user.text
    async with container.uow() as uow:
        assert await uow.attachments.count_drafts("telegram", "3001") == 1


async def test_a_pending_file_button_from_another_chat_changes_nothing(container: Container):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say("车间三个月没有发加班费，要求按规定补发。")
    await user.send_file(b"\x00\x01 unknown", name="x.mp4", mime="video/mp4", kind="document")
    [keep] = [p for p in user.buttons if p.endswith(":k")]
    other = ChatUser(container.handlers, chat_id="3002", sender_id="3002")
    await other.press("menu:new")
    await other.press("cat:pay")
    await other.press(keep)
    async with container.uow() as uow:
        assert await uow.attachments.count_drafts("telegram", "3002") == 0
        assert await uow.attachments.count_drafts("telegram", "3001") == 0


async def test_a_voice_message_gets_a_one_time_note(container: Container):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    await user.say("车间三个月没有发加班费，要求按规定补发。")
    await user.send_file(b"OggS voice", name="voice.ogg", mime="audio/ogg", kind="voice")
    assert "声音" in user.text
    await user.send_file(b"OggS voice 2", name="voice.ogg", mime="audio/ogg", kind="voice")
    assert "声音" not in user.text and "无法自动去除" in user.text


async def test_staff_see_only_the_cleaned_evidence(container: Container):
    user = employee(container)
    photo = (jpeg_with_gps(), "IMG_张三.jpg", "image/jpeg", "photo")
    filed = await file_petition(container, user, files=[photo])
    officer = await add_officer(container)
    await officer.press(f"o:view:{filed.case_id}")
    files = [f for r in officer.last for f in r.files]
    assert [f.name for f in files] == ["证据1.jpg"]
    assert surviving_markers(files[0].data) == []
    assert (await load_case(container, filed.case_id)).anonymous


def _all_time():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
