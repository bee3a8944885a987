"""Satisfaction → review → result, and the automatic close when the window passes, on
the real channels: Telegram (real PTB against the fake Bot API) and WeCom (encrypted
callbacks against the fake WeCom API), with the scheduler driven by the fake clock."""

from __future__ import annotations

from bot.container import Container
from bot.scheduler import Scheduler
from petitions.roles import Role
from petitions.states import CaseState
from tests.e2e.test_telegram_flow import EMPLOYEE, NUMBER, OFFICER, Harness, running
from tests.e2e.test_wecom_flow import EMPLOYEE as WECOM_EMPLOYEE
from tests.e2e.test_wecom_flow import OFFICER as WECOM_OFFICER
from tests.e2e.test_wecom_flow import Harness as WeComHarness
from tests.e2e.test_wecom_flow import (
    file_anonymous_petition,
    wecom,  # noqa: F401 - the fixture
)
from tests.helpers.clock import FakeClock
from tests.helpers.flow import load_case

LEADER = 5554004
WECOM_LEADER = "WangWu"


def _with_prefix(h: Harness, chat: int, prefix: str) -> list[str]:
    return [b for m in h.fake.sent_to(chat) for b in h.buttons(m) if b.startswith(prefix)]


async def _admin(h: Harness, user: int, text: str) -> None:
    """An officer's command in the admin chat; waits for the bot's answer there."""
    await h.say(h.admin, user, text, chat_type="supergroup")


async def test_telegram_rating_review_result_and_automatic_close(
    container: Container, clock: FakeClock
) -> None:
    async with running(container, clock) as tg:
        await tg.file_petition()
        found = await tg.until(
            tg.admin, 0, lambda ms: any(NUMBER.search(m.get("text", "")) for m in ms)
        )
        # The card may come with its evidence photo: take the message that names the case.
        named = [NUMBER.search(m.get("text", "")) for m in found]
        number = next(match.group(0) for match in named if match is not None)
        await tg.add_officer()
        async with container.uow() as uow:
            await uow.officers.add(
                "赵领导", Role.LEADER, clock(), accounts={"telegram": str(LEADER)}
            )
            await uow.commit()
        tg.fake.set_member(tg.admin, LEADER, "member")
        await _admin(tg, OFFICER, f"/accept {number}")
        await _admin(tg, OFFICER, f"/begin {number}")
        since = len(tg.fake.sent_to(EMPLOYEE))
        await _admin(tg, OFFICER, f"/respond {number} not_supported 经核实，考勤记录无误。")

        # The answer arrives with one-tap ratings.
        await tg.until(EMPLOYEE, since, lambda ms: any(_has_fb(tg, m) for m in ms))
        [unsatisfied] = _with_prefix(tg, EMPLOYEE, "fb:")[2:3]
        assert unsatisfied.endswith(":u") and "考勤记录无误" in tg.texts(EMPLOYEE)
        token = unsatisfied.split(":")[1]
        await tg.press(EMPLOYEE, EMPLOYEE, unsatisfied, expect=f"fb:{token}:r")
        await tg.press(EMPLOYEE, EMPLOYEE, f"fb:{token}:r")
        since = len(tg.fake.sent_to(EMPLOYEE))
        await tg.say(EMPLOYEE, EMPLOYEE, "加班记录漏了两周，请重新核对。")
        # The press's own answers can still be arriving: wait for the request's answer.
        await tg.until(
            EMPLOYEE, since, lambda ms: any("已申请复查" in m.get("text", "") for m in ms)
        )
        case = await load_case(container, 1)
        assert case.state is CaseState.REVIEW_REQUESTED and case.owner_officer_id is None

        # A leader reviews; the result is pushed back to the employee.
        await _admin(tg, LEADER, f"/reviewstart {number}")
        since = len(tg.fake.sent_to(EMPLOYEE))
        await _admin(
            tg, LEADER, f"/reviewdone {number} supported 复查确认漏记两周加班，予以补发。"
        )
        await tg.until(
            EMPLOYEE, since, lambda ms: any("复查确认漏记" in m.get("text", "") for m in ms)
        )
        assert "复查完毕" in tg.texts(EMPLOYEE)

        # Nobody asks further: when the window passes the case closes and the employee is told.
        clock.advance(days=30, minutes=1)
        since = len(tg.fake.sent_to(EMPLOYEE))
        result = await Scheduler(container.uow, container.services, clock).run_once(clock())
        assert result.sent == {"auto_close": 1}
        tg.worker.wake()
        found = await tg.until(
            EMPLOYEE, since, lambda ms: any("办结" in m.get("text", "") for m in ms)
        )
        assert any("未申请复查" in m.get("text", "") for m in found)
        assert (await load_case(container, 1)).state is CaseState.CLOSED
        assert tg.fake.flood_violations == 0


def _has_fb(h: Harness, message: dict[str, object]) -> bool:
    return any(b.startswith("fb:") for b in h.buttons(message))  # type: ignore[arg-type]


async def test_wecom_rating_review_result_and_automatic_close(
    wecom: WeComHarness,  # noqa: F811
) -> None:
    h = wecom
    await h.register_officer()
    async with h.container.uow() as uow:
        await uow.officers.add("王五", Role.LEADER, h.clock(), accounts={"wecom": WECOM_LEADER})
        await uow.commit()
    await file_anonymous_petition(h)
    await h.worker.run_once()  # the case card reaches the officers
    number = NUMBER.search(h.texts_to(WECOM_OFFICER))
    assert number is not None
    for command in ("accept", "begin"):
        await h.say(WECOM_OFFICER, f"/{command} {number.group()}")
    await h.say(WECOM_OFFICER, f"/respond {number.group()} explained 已安排维修，下周完成。")
    await h.worker.run_once()

    keys = [k for k in h.keys_for(WECOM_EMPLOYEE) if k.startswith("fb:")]
    assert [k[-2:] for k in keys] == [":s", ":b", ":u"]
    assert "已安排维修" in h.texts_to(WECOM_EMPLOYEE)
    token = keys[0].split(":")[1]
    await h.press(WECOM_EMPLOYEE, f"fb:{token}:u")
    await h.press(WECOM_EMPLOYEE, f"fb:{token}:r")
    await h.say(WECOM_EMPLOYEE, "维修一直没有来，问题没有解决。")
    assert "已申请复查" in h.texts_to(WECOM_EMPLOYEE)
    case = await load_case(h.container, 1)
    assert case.state is CaseState.REVIEW_REQUESTED

    await h.say(WECOM_LEADER, f"/reviewstart {number.group()}")
    await h.say(WECOM_LEADER, f"/reviewdone {number.group()} supported 复查后已当天更换安全阀。")
    before = len(h.sent_to(WECOM_EMPLOYEE))
    await h.worker.run_once()
    pushed = "\n".join(str(b) for b in h.sent_to(WECOM_EMPLOYEE)[before:])
    assert "复查后已当天更换安全阀" in pushed

    h.clock.advance(days=30, minutes=1)
    result = await Scheduler(h.container.uow, h.container.services, h.clock).run_once(h.clock())
    assert result.sent == {"auto_close": 1}
    before = len(h.sent_to(WECOM_EMPLOYEE))
    await h.worker.run_once()
    closing = "\n".join(str(b) for b in h.sent_to(WECOM_EMPLOYEE)[before:])
    assert "办结" in closing and "未申请复查" in closing
    assert (await load_case(h.container, 1)).state is CaseState.CLOSED
