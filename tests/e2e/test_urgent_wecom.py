"""An urgent petition through WeCom (issue 16, item 4): encrypted callbacks into the real
aiohttp app, the fake WeCom API. An employee writes of self-harm (and, as people do, their
name and phone number): the app's answer to the submission gives them the configured
hotlines at once, before the case number; the company's leader and the group's (leaders'
chats by WeCom userid) get one alert each from the delivery worker's next pass (it was
queued with the case), naming the case and the kind, never the employee."""

from __future__ import annotations

import pytest

from handlers.urgent import URGENT_ALERT
from petitions.roles import Role
from tests.e2e.test_wecom_flow import (
    CASE_NUMBER,
    EMPLOYEE,
    TRACKING_CODE,
    Harness,
    _visible,
    wecom,  # noqa: F401 - the fixture
)
from tests.helpers.wecom_alerts import alerts_to

LEADERS = {"JT": "GroupBoss", "JT-A": "CompanyBoss"}
NAME, PHONE = "张三", "13812345678"
TEXT = f"我是{NAME}，电话{PHONE}。厂里拖欠工资半年，我实在活不下去了，想从宿舍楼顶跳下去。"
ALERT = "【紧急信访】"  # admin.urgent_alert's first line


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The group's leaders' chat and the company's, on WeCom; two hotlines."""
    return {
        **env,
        "XINFANG_LEADERS_CHAT": f"wecom:{LEADERS['JT']}",
        "XINFANG_UNIT_LEADERS_CHATS": f"JT-A=wecom:{LEADERS['JT-A']}",
        "XINFANG_HOTLINES": "心理援助热线 12356;24小时心理危机干预 400-161-9995",
    }


async def _seed(h: Harness) -> None:
    """The group and its company, each leader a registered officer of their unit."""
    now = h.clock()
    async with h.container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        company = await uow.units.add("JT-A", "甲公司", root.id, now)
        for unit, code in ((root, "JT"), (company, "JT-A")):
            await uow.officers.add(
                f"领导{code}", Role.LEADER, now, unit_id=unit.id, accounts={"wecom": LEADERS[code]}
            )
        await uow.commit()


async def _submit(h: Harness, user: str) -> list[str]:
    """An anonymous petition about 甲公司 (typed at the unit picker) with this text; what the
    app answered the submission, in order."""
    await h.say(user, "/start")
    await h.press(user, "menu:new")
    await h.press(user, "cat:pay")
    await h.say(user, "甲公司")
    await h.press(user, "cf:no")
    await h.say(user, TEXT)
    for key in ("ev:done", "anon:yes", "up:push"):
        await h.press(user, key)
    await h.press(user, "sid:keep")  # the app pointed out the name and the phone
    before = len(h.sent_to(user))
    await h.press(user, "rv:submit")
    return [_visible(b) for b in h.sent_to(user)[before:]]


def _alerts(h: Harness, userid: str, number: str) -> list[str]:
    """The urgent alerts about the case the member was sent, each as they read it (with
    its 详情 button)."""
    return ["\n".join(map(_visible, alert)) for alert in alerts_to(h, userid, f"{ALERT}{number}")]


async def test_an_urgent_petition_on_wecom_reaches_the_leaders_in_one_pass_and_the_employee_the_hotlines(  # noqa: E501
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    await _seed(h)
    texts = await _submit(h, EMPLOYEE)
    # At once, in the answer to the submission: the hotlines first, then the number and code.
    assert "心理援助热线：12356" in texts[0] and "400-161-9995" in texts[0], texts
    assert not CASE_NUMBER.search(texts[0])
    found = CASE_NUMBER.search("\n".join(texts))
    code = TRACKING_CODE.search("\n".join(texts))
    assert found is not None and code is not None
    number = found.group(0)

    # Queued with the case: two alert rows, and nothing sent to a leader before the pass.
    async with h.container.uow() as uow:
        case = await uow.cases.by_number(number)
        assert case is not None and case.id is not None
        rows = [r for r in await uow.outbox.for_case(case.id) if r.kind == URGENT_ALERT]
    assert len(rows) == 2
    assert not any(_alerts(h, userid, number) for userid in LEADERS.values())

    await h.worker.run_once()  # one delivery pass
    for userid in LEADERS.values():
        alerts = _alerts(h, userid, number)
        assert len(alerts) == 1, (userid, alerts)
        alert = alerts[0]
        assert "自伤风险" in alert and "甲公司" in alert
        # The alert names no one, not even by the employee's account; its opening is masked.
        for secret in (NAME, PHONE, "138", EMPLOYEE, code.group(0)):
            assert secret not in alert
        assert "活不下去" in alert and not TRACKING_CODE.search(alert)
        assert all(b["touser"] == userid for b in h.sent_to(userid) if ALERT in _visible(b))
    assert ALERT not in "\n".join(_visible(b) for b in h.sent_to(EMPLOYEE))

    await h.worker.run_once()  # delivered once: a later pass sends no alert again
    assert all(len(_alerts(h, userid, number)) == 1 for userid in LEADERS.values())
