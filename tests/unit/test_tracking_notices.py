"""A "code only" petitioner gets no push, so no notice (告知书) reaches their chat: the status
they read by tracking code says which notices were issued and how to obtain them — by the
links under the status in the web chat, from the petition office on the other channels."""

from __future__ import annotations

from typing import Any

from bot.container import Container
from tests.helpers.chat import ChatUser
from tests.helpers.flow import add_officer, file_petition


def _t(container: Container, key: str, locale: str = "zh_CN", **params: Any) -> str:
    return container.translator.t(key, locale, **params)


def _employee(container: Container, channel: str = "telegram", locale: str = "zh-hans") -> Any:
    return ChatUser(
        container.handlers, channel=channel, chat_id="20001", sender_id="20001", locale=locale
    )


async def test_a_code_only_petitioner_is_told_to_ask_the_office_for_an_issued_notice(
    container: Container,
) -> None:
    user = _employee(container)
    filed = await file_petition(container, user, updates="code")
    await user.say(filed.code)
    # Nothing issued yet: no line about notices.
    assert f"{filed.number}-" not in user.text
    assert "索取" not in user.text

    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    await user.say(filed.code)
    line = _t(
        container,
        "track.notices_ask",
        notices=f"{filed.number}-受理",
        number=filed.number,
    )
    assert line in user.text.splitlines()
    # The same line when the employee comes back to the status from another step.
    await user.press("cs:add")
    await user.press("cs:back")
    assert line in user.text.splitlines()


async def test_every_issued_notice_is_named_in_the_order_it_was_issued(
    container: Container,
) -> None:
    user = _employee(container)
    filed = await file_petition(container, user, updates="code")
    officer = await add_officer(container)
    n = filed.number
    await officer.say(f"/accept {n}")
    await officer.say(f"/begin {n}")
    await officer.press(f"o:respond:{filed.case_id}")
    await officer.press("o:pick:outcome:explained")
    await officer.say("加班费按制度第十条计算，差额已说明。")
    await officer.press(f"o:ok:{filed.case_id}:1")
    await user.say(filed.code)
    notices = _t(container, "form.separator").join([f"{n}-受理", f"{n}-答复"])
    assert _t(container, "track.notices_ask", notices=notices, number=n) in user.text


async def test_in_the_web_chat_the_line_points_to_the_download_links_under_the_status(
    container: Container,
) -> None:
    user = _employee(container, channel="web")
    filed = await file_petition(container, user, updates="code")
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    await user.say(filed.code)
    line = _t(container, "track.notices_below", notices=f"{filed.number}-受理")
    assert line in user.text.splitlines()
    assert "索取" not in user.text


async def test_the_line_is_english_for_an_english_petitioner(container: Container) -> None:
    user = _employee(container, locale="en")
    filed = await file_petition(container, user, updates="code")
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    await user.say(filed.code)
    line = _t(
        container, "track.notices_ask", "en", notices=f"{filed.number}-受理", number=filed.number
    )
    assert line in user.text.splitlines()
    assert "petition office" in line


async def test_a_petitioner_who_gets_pushes_already_received_the_notice_and_gets_no_line(
    container: Container,
) -> None:
    user = _employee(container)
    filed = await file_petition(container, user, updates="push")
    officer = await add_officer(container)
    await officer.say(f"/accept {filed.number}")
    await user.say(filed.code)
    assert "状态：已受理" in user.text
    assert f"{filed.number}-受理" not in user.text
