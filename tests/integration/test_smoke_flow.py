"""A first end-to-end pass through the handlers on the real storage."""

from __future__ import annotations

import re

from bot.container import Container
from tests.helpers.chat import ChatUser
from tests.helpers.evidence import jpeg_with_gps


async def test_an_anonymous_petition_goes_from_start_to_tracking_code(container: Container):
    employee = ChatUser(container.handlers)
    await employee.say("/start")
    assert "menu:new" in employee.buttons
    await employee.press("menu:new")
    assert "cat:pay" in employee.buttons
    await employee.press("cat:pay")
    await employee.say("三个月没有发加班费了，车间主任说没有预算，我们要求按规定补发。")
    assert "ev:done" in employee.buttons
    await employee.send_file(jpeg_with_gps())
    assert "已收到第 1 件材料" in employee.text
    await employee.press("ev:done")
    await employee.press("anon:yes")
    assert "up:push" in employee.buttons
    await employee.press("up:push")
    assert "rv:submit" in employee.buttons
    await employee.press("rv:submit")
    code = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", employee.text)
    assert code, employee.text
    await employee.say(code.group(0).lower())
    assert "已登记" in employee.text

    officer_account = "777"
    async with container.uow() as uow:
        from petitions.roles import Role

        await uow.officers.add(
            "王专员",
            Role.OFFICER,
            container.services.clock(),
            accounts={"telegram": officer_account},
        )
        await uow.commit()
    officer = ChatUser(
        container.handlers, chat_id="-1001", sender_id=officer_account, in_admin_chat=True
    )
    await officer.say("/cases")
    number = re.search(r"XF-\d{4}-\d{6}", officer.text).group(0)
    await officer.say(f"/accept {number}")
    assert "已受理" in officer.text, officer.text
    await officer.say(f"/begin {number}")
    await officer.say(f"/respond {number} supported 已安排财务补发。")
    assert "已答复" in officer.text, officer.text
    await employee.say(code.group(0))
    assert "已安排财务补发" in employee.text
