"""Early warning end to end on WeCom (issue 16): six employees write to the app (encrypted
callbacks into the real aiohttp app, the fake WeCom API) about one matter at plant A-1; the
scheduler's daily pass finds the cluster and one delivery pass brings exactly one alert to
the plant's leader and one to the company's (their leaders' chats are WeCom userids),
naming the cases and the matter, never a petitioner (one wrote their name and phone number
and kept them) nor a tracking code; the group's leader gets none, and the next day's pass
sends nothing again. The plant's leader then presses the alert card's 合并为集体诉求 and
handles the six as one 集体诉求 by typing to the app: one answer reaches all six employees,
each with their own rating buttons and only their own case number."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.scheduler import Scheduler
from bot.stats import build_report
from handlers.payloads import MatterButton, parse
from petitions.deadlines import DeadlinePolicy
from petitions.roles import Role
from tests.e2e.test_wecom_flow import (
    CASE_NUMBER,
    TRACKING_CODE,
    Harness,
    _visible,
    wecom,  # noqa: F401 - the fixture
)
from tests.helpers.wecom_alerts import alerts_to
from tests.integration.test_warnings import NAME, PHONE, SIX, history, make_group

ALERT = "疑似群体性诉求"  # the cluster alert's first line (warnings.cluster_alert)
# The leaders' chats: each unit's leader, by WeCom userid (plant A-2 has none).
LEADERS = {"JT": "GroupBoss", "JT-A": "CompanyBoss", "JT-A-1": "PlantBoss", "JT-B": "BBoss"}
WORKERS = [f"Worker{n}" for n in range(len(SIX))]
ANSWER = "经核实，一厂三车间十二月以来的加班费将于本月二十日前全部补发到位。"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Leaders' chats of the root, both companies and plant A-1, on WeCom."""
    chats = ";".join(f"{code}=wecom:{userid}" for code, userid in LEADERS.items())
    return {**env, "XINFANG_UNIT_LEADERS_CHATS": chats}


async def _leaders(h: Harness, units: dict[str, int]) -> None:
    """The leaders are registered officers of their units, as in a deployment."""
    async with h.container.uow() as uow:
        for code, userid in LEADERS.items():
            await uow.officers.add(
                f"领导{code}", Role.LEADER, h.clock(), unit_id=units[code],
                accounts={"wecom": userid},
            )  # fmt: skip
        await uow.commit()


async def _petition(h: Harness, user: str, text: str, units: dict[str, int]) -> str:
    """One employee's petition at plant A-1 through the unit picker's cards; returns what
    the app answered the submission (the case number and the tracking code)."""
    await h.say(user, "/start")
    for key in ("menu:new", "cat:pay", f"un:o:{units['JT-A']}", f"un:o:{units['JT-A-1']}"):
        await h.press(user, key)
    await h.press(user, "cf:no")
    await h.say(user, text)
    for key in ("ev:done", "anon:yes", "up:push"):
        await h.press(user, key)
    if "sid:keep" in h.keys_for(user)[-4:]:
        # The app pointed out the name and the phone; this employee keeps them anyway.
        await h.press(user, "sid:keep")
    before = len(h.sent_to(user))
    await h.press(user, "rv:submit")
    return "\n".join(_visible(b) for b in h.sent_to(user)[before:])


def _alerts(h: Harness, userid: str) -> list[str]:
    """The cluster alerts the member was sent, each as they read it (the text, then a card
    with its case buttons)."""
    return ["\n".join(map(_visible, alert)) for alert in alerts_to(h, userid, ALERT)]


async def test_six_petitions_on_wecom_make_one_alert_to_the_plant_and_company_leaders(
    wecom: Harness,  # noqa: F811
) -> None:
    h = wecom
    container, clock = h.container, h.clock
    units = await make_group(container)
    await _leaders(h, units)
    await history(container, units)
    assert container.warnings is not None
    await container.warnings.wait()
    scheduler = Scheduler(container.uow, container.services, clock)

    numbers, codes = [], []
    for user, text in zip(WORKERS, SIX, strict=True):
        clock.advance(minutes=30)
        answer = await _petition(h, user, text, units)
        found, given = CASE_NUMBER.search(answer), TRACKING_CODE.search(answer)
        assert found is not None and given is not None, answer
        numbers.append(found.group(0))
        codes.append(given.group(0))
    assert h.keys_for(WORKERS[0]).count("sid:keep") == 1  # the named one was asked

    assert await scheduler.early_warning(clock()) == 1
    h.monotonic.now += 60  # a minute on: WeCom's 30 messages a minute per member
    await h.worker.run_once()
    for unit in ("JT-A-1", "JT-A"):
        alerts = _alerts(h, LEADERS[unit])
        assert len(alerts) == 1, alerts
        text = alerts[0]
        assert "甲一厂" in text and "加班费" in text
        assert all(number in text for number in numbers), (numbers, text)
        assert NAME not in text and PHONE not in text and "138" not in text
        assert not TRACKING_CODE.search(text) and not any(c in text for c in codes)
        # Addressed to this leader alone (not shared with the other chats' members).
        assert all(b["touser"] == LEADERS[unit] for b in h.sent_to(LEADERS[unit])
                   if ALERT in _visible(b))  # fmt: skip
    # Neither the group's leaders nor company B's, nor any employee, got the alert.
    for userid in (LEADERS["JT"], LEADERS["JT-B"], *WORKERS):
        assert not _alerts(h, userid), userid
        assert "预警" not in h.texts_to(userid)

    clock.advance(days=1)
    await scheduler.run_once(clock())
    assert await scheduler.early_warning(clock()) == 0
    h.monotonic.now += 60
    await h.worker.run_once()
    for unit in ("JT-A-1", "JT-A"):
        assert len(_alerts(h, LEADERS[unit])) == 1

    # The plant's leader links the six as one 集体诉求 from the alert's card, and one answer
    # reaches all six employees, each with their own rating buttons.
    await _answer_as_one_matter(h, numbers, codes)


async def _answer_as_one_matter(h: Harness, numbers: list[str], codes: list[str]) -> None:
    leader = LEADERS["JT-A-1"]
    [link] = [k for k in h.keys_for(leader) if isinstance(parse(k), MatterButton)]
    before = len(h.sent_to(leader))
    await h.press(leader, link)
    linked = "\n".join(_visible(b) for b in h.sent_to(leader)[before:])
    assert "共 6 件" in linked, linked
    for step in ("accept", "begin"):
        await h.say(leader, f"/{step} {numbers[3]}")
    before = len(h.sent_to(leader))
    await h.say(leader, f"/respond {numbers[3]} 支持 {ANSWER}")
    done = "\n".join(_visible(b) for b in h.sent_to(leader)[before:])
    assert "其他 5 件" in done, done
    since = {user: len(h.sent_to(user)) for user in WORKERS}
    h.monotonic.now += 60
    await h.worker.run_once()

    tokens = set()
    for n, user in enumerate(WORKERS):
        pushed = h.sent_to(user)[since[user] :]
        seen = "\n".join(map(_visible, pushed))
        assert ANSWER in seen and "集体诉求" in seen, seen  # told of the link, then answered
        rating = [
            b["key"]
            for body in pushed
            for b in (body.get("template_card") or {}).get("button_list", [])
            if b["key"].startswith("fb:")
        ]
        assert rating, seen
        tokens.add(rating[0].split(":")[1])
        # Nothing about the other petitioners since they joined: not their numbers, codes,
        # words or accounts; only their own number.
        told = h.texts_to(user)
        assert numbers[n] in seen
        assert not [m for m in numbers if m != numbers[n] and m in told], told
        assert not [c for c in codes if c != codes[n] and c in told], told
        assert not [w for w in WORKERS if w != user and w in told], told
        if n:
            assert NAME not in told and PHONE not in told, told
        assert all(b["touser"] == user for b in pushed)  # to this employee alone
    assert len(tokens) == len(WORKERS)  # each rates, and may ask for review, on their own

    # The statistics count six petitions and one matter.
    now = h.clock()
    async with h.container.uow() as uow:
        report = await build_report(
            uow, now - timedelta(days=3), now + timedelta(days=1), now, DeadlinePolicy()
        )
    assert (report.total, report.in_matters, report.matters) == (6, 6, 1)
    assert report.distinct_matters == 1
