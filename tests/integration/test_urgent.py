"""Urgent petitions (issue 16, item 4): a danger sign at submission marks the case 紧急, the
deadline to accept it shortens, the leaders of its unit and of the root are alerted in the
transaction that stores it, and an employee who wrote of self-harm is given the configured
hotlines first. Hard negatives stay ordinary. Real container, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import handlers.intake
from bot.container import Container
from bot.settings import SettingsError, load_settings
from handlers.ports import CaseFilter
from handlers.urgent import URGENT_ALERT, URGENT_PRIORITY, hotline_text
from handlers.views import render_admin
from petitions.warnings.urgent import DEFAULT_SIGNS, check
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.flow import file_petition, load_case

A_LEADERS, ROOT_LEADERS = "-1201", "-1202"
HOTLINES = "心理援助热线 12356;24小时心理危机干预 400-161-9995"
# Self-harm, with a phone number and a name in the opening the alert must not repeat.
SELF_HARM = "我叫张三，电话13812345678，厂里拖欠工资半年，我实在活不下去了，想从宿舍楼顶跳下去。"
BLOCKADE = "车间里三个月没发加班费，下周全车间一起去集团堵大门讨个说法。"
NEGATIVES = (
    "我打算跳槽，因为车间安全帽不够，领导也不管，请尽快配齐劳保用品。",
    "工地的安全帽不够用，很多人没有安全帽就上高空作业，请尽快配齐。",
)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The group's leaders' chat, 甲公司's own, and the deployment's hotlines."""
    return {
        **env,
        "XINFANG_LEADERS_CHAT": f"telegram:{ROOT_LEADERS}",
        "XINFANG_UNIT_LEADERS_CHATS": f"JT-A=telegram:{A_LEADERS}",
        "XINFANG_HOTLINES": HOTLINES,
    }


@pytest.fixture
async def group(container: Container) -> dict[str, int]:
    """本集团 → 甲公司 → 甲一厂 (the plant has no leaders' chat of its own)."""
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        a1 = await uow.units.add("JT-A-1", "甲一厂", a.id, now)
        await uow.commit()
    return {"JT": root.id, "JT-A": a.id, "JT-A-1": a1.id}


def employee(container: Container, n: int = 1) -> ChatUser:
    return ChatUser(container.handlers, chat_id=str(70000 + n), sender_id=str(70000 + n))


async def alerts(container: Container, case_id: int) -> list[dict[str, Any]]:
    """The urgent alert rows of a case, payloads decrypted."""
    async with container.uow() as uow:
        rows = await uow.outbox.for_case(case_id)
        return [
            {"audience": r.audience, **uow.outbox.payload(r)}
            for r in rows
            if r.kind == URGENT_ALERT
        ]


async def rendered(container: Container, row: dict[str, Any], locale: str = "zh_CN") -> str:
    t = container.translator.t
    async with container.uow() as uow:
        replies = await render_admin(uow, t, locale, URGENT_ALERT, row, container.services.clock())
    return text_of(replies)


async def test_a_self_harm_petition_is_urgent_alerts_the_leaders_and_gives_the_hotlines_first(
    container: Container, group: dict[str, int]
) -> None:
    user = employee(container)
    filed = await file_petition(
        container,
        user,
        description=SELF_HARM,
        unit="甲一厂",
        identity={"name": "张三", "staff_no": None, "unit": None, "phone": "13812345678"},
    )
    case = await load_case(container, filed.case_id)
    assert case.urgent == "self_harm"
    assert case.priority == URGENT_PRIORITY
    assert case.deadline_at == case.created_at + timedelta(days=3)

    # The hotlines come first, before the case number and the code, kindly worded.
    submitted = list(user.last)
    assert "心理援助热线：12356" in submitted[0].text
    assert "24小时心理危机干预：400-161-9995" in submitted[0].text
    assert "110" in submitted[0].text and "120" in submitted[0].text
    assert filed.number not in submitted[0].text and filed.number in submitted[1].text

    # One alert per leaders' chat: 甲公司's (the nearest above the plant) and the group's.
    found = await alerts(container, filed.case_id)
    assert sorted(r["chat_id"] for r in found) == sorted([A_LEADERS, ROOT_LEADERS])
    assert all(r["audience"] == "officer" and r["kinds"] == ["self_harm"] for r in found)
    text = await rendered(container, found[0])
    assert filed.number in text and "自伤风险" in text and "甲公司/甲一厂" in text
    assert "紧急" in text and "活不下去" in text  # the opening, for leaders to act on
    assert "张三" not in text and "13812345678" not in text  # never who wrote it
    english = await rendered(container, found[0], "en")
    assert "URGENT" in english and "risk of self-harm" in english

    # Audited with the kinds only; the text is nowhere in the audit trail.
    async with container.uow() as uow:
        audit = await uow.audit.list(filed.case_id)
    urgent = [a for a in audit if a["action"] == "case.urgent"]
    assert [a["detail"] for a in urgent] == [{"kinds": ["self_harm"]}]
    assert "活不下去" not in repr(audit)

    # The admin card marks it 紧急 with the kind in Chinese.
    async with container.uow() as uow:
        cards = await render_admin(
            uow,
            container.translator.t,
            "zh_CN",
            "case_card",
            {"case_id": filed.case_id},
            container.services.clock(),
        )
    assert "【紧急】自伤风险" in cards[0].text


async def test_the_alert_is_written_in_the_transaction_that_stores_the_case(
    container: Container, group: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the card could not be queued")

    # A failure after the alert was queued rolls the case and the alert back together.
    monkeypatch.setattr(handlers.intake, "notify_admins", broken)
    user = employee(container)
    try:
        await file_petition(container, user, description=SELF_HARM, unit="甲一厂")
    except (RuntimeError, AssertionError):
        pass
    async with container.uow() as uow:
        assert await uow.cases.count(CaseFilter()) == 0
        assert await uow.outbox.due(["telegram"], container.services.clock(), 100) == []


@pytest.mark.parametrize("description", NEGATIVES)
async def test_changing_jobs_and_missing_safety_helmets_are_not_urgent(
    container: Container, group: dict[str, int], description: str
) -> None:
    user = employee(container)
    filed = await file_petition(container, user, description=description, unit="甲一厂")
    case = await load_case(container, filed.case_id)
    assert case.urgent is None and case.priority == 0
    assert case.deadline_at == case.created_at + timedelta(days=15)
    assert await alerts(container, filed.case_id) == []
    assert "12356" not in text_of(list(user.last))


async def test_a_planned_blockade_is_urgent_without_hotlines_and_the_ledger_filters_it(
    container: Container, group: dict[str, int]
) -> None:
    plain = await file_petition(container, employee(container, 1), unit="甲一厂")
    user = employee(container, 2)
    filed = await file_petition(container, user, description=BLOCKADE, unit="甲公司")
    case = await load_case(container, filed.case_id)
    assert case.urgent == "group_action"
    assert "12356" not in text_of(list(user.last))  # the hotlines are for self-harm
    found = await alerts(container, filed.case_id)
    # The case's unit is 甲公司 itself: its leaders and the group's, once each.
    assert sorted(r["chat_id"] for r in found) == sorted([A_LEADERS, ROOT_LEADERS])
    assert "群体性行动" in await rendered(container, found[0])
    async with container.uow() as uow:
        listed = await uow.cases.list(CaseFilter(urgent=True))
        everything = await uow.cases.list(CaseFilter())
    assert [c.id for c in listed] == [filed.case_id]
    assert {c.id for c in everything} == {filed.case_id, plain.case_id}


async def test_a_case_for_discipline_inspection_alerts_the_groups_leaders_without_its_text(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(
        container, employee(container), category="discipline", description=SELF_HARM
    )
    found = await alerts(container, filed.case_id)
    assert [r["chat_id"] for r in found] == [ROOT_LEADERS]
    text = await rendered(container, found[0])
    assert "自伤风险" in text and "活不下去" not in text


# -- settings ------------------------------------------------------------------------------


def test_without_hotlines_the_employee_is_told_to_call_110_or_120(container: Container) -> None:
    t = container.translator.t
    text = hotline_text(lambda key, **kw: t(key, "zh_CN", **kw), ())
    assert "110" in text and "120" in text
    english = hotline_text(lambda key, **kw: t(key, "en", **kw), (("Lifeline", "12356"),))
    assert "Lifeline: 12356" in english and "110" in english


BASE = {"XINFANG_DATA_DIR": "/tmp/xf-urgent"}


def test_hotlines_urgent_days_and_danger_signs_are_read_from_the_settings(tmp_path: Path) -> None:
    signs = tmp_path / "signs.toml"
    signs.write_text(
        '[[sign]]\nkind = "life_safety"\nname = "gas"\npattern = "煤气泄漏"\n'
        'guards = ["没有煤气泄漏"]\n\n[[sign]]\nkind = "group_action"\nname = "strike"\n'
        'pattern = ""\n',
        encoding="utf-8",
    )
    settings = load_settings(
        {
            **BASE,
            "XINFANG_HOTLINES": HOTLINES,
            "XINFANG_URGENT_ACCEPT_DAYS": "1",
            "XINFANG_DANGER_SIGNS": str(signs),
        }
    )
    assert settings.hotlines == (("心理援助热线", "12356"), ("24小时心理危机干预", "400-161-9995"))
    assert settings.policy.urgent_accept_days == 1
    assert [m.kind for m in check("宿舍煤气泄漏好几天了", settings.danger_signs)] == [
        "life_safety"
    ]
    assert check("明天全厂罢工", settings.danger_signs) == []  # the default strike sign removed
    defaults = load_settings(BASE)
    assert defaults.hotlines == () and defaults.danger_signs == DEFAULT_SIGNS
    assert defaults.policy.urgent_accept_days == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"XINFANG_HOTLINES": "12356"}, "XINFANG_HOTLINES entry 1 must be NAME NUMBER"),
        ({"XINFANG_HOTLINES": "热线 12356;热线 call-me"}, "XINFANG_HOTLINES entry 2"),
        ({"XINFANG_URGENT_ACCEPT_DAYS": "0"}, "XINFANG_URGENT_ACCEPT_DAYS must be at least 1"),
        ({"XINFANG_URGENT_ACCEPT_DAYS": "三"}, "XINFANG_URGENT_ACCEPT_DAYS must be a whole"),
        ({"XINFANG_DANGER_SIGNS": "/nonexistent/signs.toml"}, "XINFANG_DANGER_SIGNS: cannot read"),
    ],
)
def test_wrong_urgent_settings_say_which_setting_and_why(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, **values})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[sign]\n", "is not valid TOML"),
        ('[[sign]]\nkind = "fire"\nname = "x"\npattern = "火"\n', "kind must be one of"),
        ('[[sign]]\nkind = "self_harm"\npattern = "x"\n', "sign 1 needs kind and name"),
        (
            '[[sign]]\nkind = "self_harm"\nname = "x"\npattern = "(跳"\n',
            r"sign 1 \(x\): not a regular expression",
        ),
    ],
)
def test_a_wrong_danger_signs_file_says_which_sign_and_why(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "signs.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, "XINFANG_DANGER_SIGNS": str(path)})
