"""The ladder on WeCom (issue 13): encrypted callbacks into the real aiohttp app, the real
handlers, storage and outbox worker, the fake WeCom API, a controllable clock and scheduler
passes. Each office's officer acts through the app; the employee's cards offer the next
lawful step only; a reminder reaches the plant's officer, a late 复核 alerts the group's
leader once, and the 督办 moves the working deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from petitions.states import CaseState
from tests.e2e.test_wecom_flow import (
    CASE_NUMBER,
    EMPLOYEE,
    Harness,
    _visible,
    wecom,  # noqa: F401 - the fixture
)
from tests.helpers.ladder import (
    COMPANY,
    DESCRIPTION,
    FINAL,
    INSTRUCTION,
    LADDER,
    PLANT,
    PLANT_REFUSED,
    RECHECK_REASON,
    REVIEW_REASON,
    ROOT,
    SUPERVISE,
    SUPERVISE_DAYS,
    Step,
    by_number,
    command,
    past,
    scheduler_pass,
    seed_group,
    zh,
)

ACCOUNTS = {
    "plant": "PlantWang",
    "company": "CompanyLi",
    "company_leader": "CompanyBoss",
    "root_leader": "GroupBoss",
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The group's leader and the company's are the leaders' chats (officer userids)."""
    return {
        **env,
        "XINFANG_LEADERS_CHAT": f"wecom:{ACCOUNTS['root_leader']}",
        "XINFANG_UNIT_LEADERS_CHATS": f"{COMPANY}=wecom:{ACCOUNTS['company_leader']}",
    }


def keys(body: dict[str, Any]) -> dict[str, str]:
    card = body.get("template_card") or {}
    return {b["key"]: b["text"] for b in card.get("button_list", [])}


def texts(h: Harness, userid: str, since: int = 0) -> list[str]:
    return [_visible(b) for b in h.sent_to(userid)[since:]]


async def act(h: Harness, step: Step, number: str) -> list[str]:
    """The member of staff types the step's command; what the app answered them."""
    user = ACCOUNTS[step.actor]
    before = len(h.sent_to(user))
    await h.say(user, command(step, number))
    return texts(h, user, before)


async def pushed(h: Harness) -> list[dict[str, Any]]:
    """Deliver the outbox; what reached the employee."""
    before = len(h.sent_to(EMPLOYEE))
    h.monotonic.now += 60  # a minute on: WeCom's 30 messages a minute per member
    await h.worker.run_once()
    return h.sent_to(EMPLOYEE)[before:]


async def ask_next_step(h: Harness, bodies: list[dict[str, Any]], reason: str) -> str:
    """From a push's rating card: 不满意, then the offered step, then the reason; the label
    of the step offered."""
    card = next(b for b in bodies if any(k.endswith(":u") for k in keys(b)))
    token = next(k for k in keys(card) if k.endswith(":u")).split(":")[1]
    await h.press(EMPLOYEE, f"fb:{token}:u")
    label = keys(h.sent_to(EMPLOYEE)[-1])[f"fb:{token}:r"]
    await h.press(EMPLOYEE, f"fb:{token}:r")
    await h.say(EMPLOYEE, reason)
    return label


async def test_a_plant_petition_climbs_the_ladder_over_wecom(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    container, clock = h.container, h.clock
    group = await seed_group(container, {k: {"wecom": v} for k, v in ACCOUNTS.items()})
    units = group.units

    # The employee picks 甲能源公司, then 甲一厂, by the cards' buttons.
    await h.say(EMPLOYEE, "/start")
    await h.press(EMPLOYEE, "menu:new")
    await h.press(EMPLOYEE, "cat:pay")
    await h.press(EMPLOYEE, f"un:o:{units[COMPANY]}")
    await h.press(EMPLOYEE, f"un:o:{units[PLANT]}")
    await h.press(EMPLOYEE, "cf:no")
    await h.say(EMPLOYEE, DESCRIPTION)
    for key in ("ev:done", "anon:yes", "up:push", "rv:submit"):
        await h.press(EMPLOYEE, key)
    found = CASE_NUMBER.search("\n".join(texts(h, EMPLOYEE)))
    assert found is not None
    number = found.group(0)
    case = await by_number(container, number)
    assert case.unit_id == units[PLANT]
    await h.worker.run_once()
    assert any(number in t for t in texts(h, ACCOUNTS["plant"]))

    # Half the acceptance period gone: the plant's officer is reminded; no leader alerted.
    clock.now = case.created_at + timedelta(days=8)
    plant_seen = len(h.sent_to(ACCOUNTS["plant"]))
    assert (await scheduler_pass(container, clock)).sent["remind"] == 1
    await h.worker.run_once()
    assert any("⏰" in t and number in t for t in texts(h, ACCOUNTS["plant"], plant_seen))
    assert not any("🚨" in t for t in texts(h, ACCOUNTS["root_leader"]))

    # 答复 by the plant: the push offers 复查, and only that.
    for step in LADDER["answer"]:
        await act(h, step, number)
        assert (await by_number(container, number)).state is step.after
    answer = await pushed(h)
    shown = "\n".join(_visible(b) for b in answer)
    assert "申请复查" in shown and "申请复核" not in shown
    assert await ask_next_step(h, answer, REVIEW_REASON) == zh(container, "button.request_review")
    case = await by_number(container, number)
    assert case.state is CaseState.REVIEW_REQUESTED
    assert case.review_unit_id == units[COMPANY]

    # 复查 by the company; the plant's officer is refused at each point.
    refused = zh(container, "error.not_permitted")
    await h.worker.run_once()
    for step in LADDER["review"]:
        attempt = PLANT_REFUSED[step.before]
        assert (await act(h, attempt, number))[-1] == refused
        assert (await by_number(container, number)).state is step.before
        await act(h, step, number)
        assert (await by_number(container, number)).state is step.after
    review = await pushed(h)
    shown = "\n".join(_visible(b) for b in review)
    assert "甲能源公司" in shown and "申请复核" in shown and "申请复查" not in shown
    label = await ask_next_step(h, review, RECHECK_REASON)
    assert label == zh(container, "button.request_recheck")
    case = await by_number(container, number)
    assert case.state is CaseState.RECHECK_REQUESTED and case.review_unit_id == units[ROOT]
    statutory = case.deadline_at
    assert statutory is not None
    await h.worker.run_once()

    # Past the 复核 deadline: one alert, to the group's leader (not the company's); again
    # a pass later: none.
    clock.now = past(statutory)
    assert (await scheduler_pass(container, clock)).sent["overdue"] == 1
    clock.advance(hours=3)
    assert (await scheduler_pass(container, clock)).sent["overdue"] == 0
    await h.worker.run_once()
    # One alert: its text, then a card with its 督办 button (WeCom cards are short).
    alerts = [
        b
        for b in h.sent_to(ACCOUNTS["root_leader"])
        if b["msgtype"] == "text" and "🚨" in _visible(b) and number in _visible(b)
    ]
    assert len(alerts) == 1
    assert not any("🚨" in t for t in texts(h, ACCOUNTS["company_leader"]))

    # The group's leader 督办s: the working deadline moves, the statutory one stays.
    answer_to_leader = await act(h, SUPERVISE, number)
    assert any("已督办" in t for t in answer_to_leader)
    case = await by_number(container, number)
    assert case.state is CaseState.RECHECK_REQUESTED and case.deadline_at == statutory
    assert case.supervised_until == clock() + timedelta(days=SUPERVISE_DAYS)
    told = await pushed(h)
    assert len(told) == 1 and told[0]["msgtype"] == "text"  # no buttons
    assert "上级单位已督办" in _visible(told[0]) and INSTRUCTION not in _visible(told[0])

    # The group decides the 复核: final, the legal channels named, no step left.
    for step in LADDER["recheck"]:
        await act(h, step, number)
        assert (await by_number(container, number)).state is step.after
    final = await pushed(h)
    assert FINAL in "\n".join(_visible(b) for b in final)
    offered = {k for b in final for k in keys(b)}
    assert not any(k.endswith(":r") or k == "cs:review" for k in offered)
    token = next(k for k in offered if k.endswith(":u")).split(":")[1]
    await h.press(EMPLOYEE, f"fb:{token}:u")
    last = h.sent_to(EMPLOYEE)[-2:]  # a long text comes first, then the card
    assert FINAL in _visible(last[0]) and f"fb:{token}:r" not in keys(last[-1])
    assert INSTRUCTION not in "\n".join(texts(h, EMPLOYEE))
