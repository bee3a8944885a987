"""Several admin chats, one per unit (issue 13, item 3), through the real handlers and
storage: a case's messages reach the chats of the units covering it and no others, each
chat's digest lists its own cases once, leaders' alerts go to the parent unit's leaders,
and in a unit's chat nobody acts on a case that chat does not cover."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.container import Container, build_container
from bot.delivery import admin_address
from bot.settings import SettingsError, load_settings
from bot.wecom.sender import WeComSender
from handlers.notify import queue_unit_leaders
from handlers.payloads import CaseButton, encode
from handlers.scheduling import send_digest
from handlers.unit_chats import UnitChat, admin_routes, leaders_targets
from petitions.roles import Role
from petitions.units import Unit, UnitTree
from storage.vault import Keyring
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.flow import file_petition, load_case

ROOT_CHAT, A_CHAT, B_CHAT = "-1001", "-1002", "-1003"
A_LEADERS, ROOT_LEADERS = "-1008", "-1009"
UNIT_CHATS = f"JT-A=telegram:{A_CHAT};JT-B=telegram:{B_CHAT}"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The root's chat is TELEGRAM_ADMIN_CHAT_ID; companies A and B have their own."""
    return {
        **env,
        "XINFANG_UNIT_CHATS": UNIT_CHATS,
        "XINFANG_LEADERS_CHAT": f"telegram:{ROOT_LEADERS}",
        "XINFANG_UNIT_LEADERS_CHATS": f"JT-A=telegram:{A_LEADERS}",
    }


@pytest.fixture
async def group(container: Container) -> dict[str, int]:
    """本集团 → 甲公司 → 甲一厂, and 乙公司 beside 甲公司: ids by code."""
    now = container.services.clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        a1 = await uow.units.add("JT-A-1", "甲一厂", a.id, now)
        b = await uow.units.add("JT-B", "乙公司", root.id, now)
        await uow.commit()
    return {"JT": root.id, "JT-A": a.id, "JT-A-1": a1.id, "JT-B": b.id}


def employee(container: Container, n: int) -> ChatUser:
    return ChatUser(container.handlers, chat_id=str(20000 + n), sender_id=str(20000 + n))


async def officer_in(
    container: Container, account: str, unit_id: int | None, chat: str, role: Role = Role.OFFICER
) -> ChatUser:
    """An officer of this unit writing in this admin chat."""
    async with container.uow() as uow:
        await uow.officers.add(
            f"专员{account}",
            role,
            container.services.clock(),
            unit_id=unit_id,
            accounts={"telegram": account},
        )
        await uow.commit()
    return ChatUser(container.handlers, chat_id=chat, sender_id=account, in_admin_chat=True)


async def admin_rows(container: Container, kind: str | None = None) -> list[dict[str, Any]]:
    """Every admin and officer row queued so far, payloads decrypted, oldest first."""
    async with container.uow() as uow:
        rows = await uow.outbox.due(["telegram", "wecom", "web"], container.services.clock(), 500)
        out = []
        for row in rows:
            if row.audience == "employee" or (kind is not None and row.kind != kind):
                continue
            payload = uow.outbox.payload(row)
            out.append({"audience": row.audience, "kind": row.kind, **payload})
        return out


def chats_of(rows: list[dict[str, Any]]) -> set[str | None]:
    return {admin_address(r) if r["audience"] == "admin" else r["chat_id"] for r in rows}


async def test_a_plants_case_card_reaches_its_company_and_the_root_not_the_other_company(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(container, employee(container, 1), unit="甲一厂")
    assert (await load_case(container, filed.case_id)).unit_id == group["JT-A-1"]

    cards = [r for r in await admin_rows(container, "case_card") if r["case_id"] == filed.case_id]
    # None is TELEGRAM_ADMIN_CHAT_ID, the root's chat.
    assert chats_of(cards) == {None, A_CHAT}


async def test_a_case_without_a_unit_goes_to_the_roots_chat_only(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(container, employee(container, 2), unit=None)
    case = await load_case(container, filed.case_id)
    assert case.unit_id in (None, group["JT"])

    cards = [r for r in await admin_rows(container, "case_card") if r["case_id"] == filed.case_id]
    assert chats_of(cards) == {None}


async def test_each_chats_digest_lists_only_the_cases_its_unit_covers_and_comes_once(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    at_a = await file_petition(container, employee(container, 3), unit="甲一厂")
    at_b = await file_petition(container, employee(container, 4), unit="乙公司")
    clock.advance(days=13)  # both acceptance deadlines are within the digest window

    async with container.uow() as uow:
        assert await send_digest(uow, container.services, clock())
        await uow.commit()
    digests = {admin_address(r): r for r in await admin_rows(container, "digest")}
    listed = {chat: {i["number"] for i in r["items"]} for chat, r in digests.items()}
    assert listed == {
        None: {at_a.number, at_b.number},
        A_CHAT: {at_a.number},
        B_CHAT: {at_b.number},
    }

    async with container.uow() as uow:
        assert not await send_digest(uow, container.services, clock.advance(hours=2))
        await uow.commit()
    assert len(await admin_rows(container, "digest")) == 3


async def test_leaders_alerts_go_to_the_parent_units_leaders_or_the_nearest_above(
    container: Container, group: dict[str, int], clock: FakeClock
) -> None:
    at_a1 = await file_petition(container, employee(container, 5), unit="甲一厂")
    at_b = await file_petition(container, employee(container, 6), unit="乙公司")
    cfg = container.services.config
    async with container.uow() as uow:
        a1 = await uow.cases.get(at_a1.case_id)
        b = await uow.cases.get(at_b.case_id)
        assert a1 is not None and b is not None
        await queue_unit_leaders(uow, cfg, a1, "overdue", {"step": 1}, clock())
        await queue_unit_leaders(uow, cfg, a1, "overdue", {"step": 2}, clock(), levels_up=2)
        await queue_unit_leaders(uow, cfg, b, "overdue", {"step": 3}, clock())
        await uow.commit()
    alerts = {r["step"]: r for r in await admin_rows(container, "overdue")}
    assert alerts[1]["audience"] == "officer" and alerts[1]["chat_id"] == A_LEADERS
    assert alerts[2]["chat_id"] == ROOT_LEADERS  # 督办 climbed to the group
    assert alerts[3]["chat_id"] == ROOT_LEADERS  # 乙公司's parent is the root


async def test_in_another_units_chat_even_the_root_office_cannot_open_or_answer_a_case(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(container, employee(container, 7), unit="甲一厂")
    refused = container.translator.t("error.case_not_found", "zh_CN")

    in_b = await officer_in(container, "801", group["JT"], B_CHAT)
    await in_b.say(f"/case {filed.number}")
    assert in_b.last[0].text == refused
    await in_b.say("这个我们来处理", case_ref=filed.case_id)  # a reply to an old card
    assert in_b.last[0].text == refused
    await in_b.say("/cases all")
    assert filed.number not in "\n".join(r.text for r in in_b.last)

    in_a = ChatUser(container.handlers, chat_id=A_CHAT, sender_id="801", in_admin_chat=True)
    await in_a.say(f"/case {filed.number}")
    assert in_a.last[0].text != refused and filed.number in in_a.last[0].text
    in_root = ChatUser(container.handlers, chat_id=ROOT_CHAT, sender_id="801", in_admin_chat=True)
    await in_root.say(f"/case {filed.number}")
    assert filed.number in in_root.last[0].text


async def test_an_officer_of_b_pressing_a_forged_button_of_an_a_card_is_refused(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(container, employee(container, 8), unit="甲一厂")
    b_officer = await officer_in(container, "802", group["JT-B"], B_CHAT)
    for verb in ("view", "take", "accept"):
        await b_officer.press(encode(CaseButton(verb, filed.case_id)))
        assert b_officer.last[0].text == container.translator.t("error.case_not_found", "zh_CN")
    case = await load_case(container, filed.case_id)
    assert case.owner_officer_id is None


def test_unit_chats_parse_into_routes_and_bad_values_name_the_variable(tmp_path: Path) -> None:
    base = {
        "XINFANG_DATA_DIR": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": "1:T",
        "TELEGRAM_ADMIN_CHAT_ID": "-1001",
    }
    settings = load_settings(
        {**base, "XINFANG_UNIT_CHATS": "JT-A=telegram:-1002;\nJT-B=telegram:-1003"}
    )
    assert settings.unit_chats == (
        UnitChat("JT-A", "telegram", "-1002"),
        UnitChat("JT-B", "telegram", "-1003"),
    )
    assert "-1002" not in repr(settings.unit_chats)  # chat ids stay out of logs
    for bad in (
        "JT-A",  # no chats
        "JT-A=telegram",  # no chat id
        "JT-A=sms:123",  # no such channel
        "JT-A=telegram:abc",  # not a Telegram chat id
        "JT-A=telegram:-1001",  # the root's chat again
        "JT-A=telegram:-1002;JT-B=telegram:-1002",  # one group, two units
        "JT-A=wecom:wr1",  # WeCom is not configured
        "坏=telegram:-1002",  # not a unit code
    ):
        with pytest.raises(SettingsError, match="XINFANG_UNIT_CHATS"):
            load_settings({**base, "XINFANG_UNIT_CHATS": bad})


def test_routing_without_units_is_the_one_admin_chat_per_channel() -> None:
    from handlers.services import HandlerConfig

    cfg = HandlerConfig(admin_channels=("telegram", "wecom"), leaders_chats=(("telegram", "-9"),))
    empty = UnitTree([])
    assert [(r.channel, r.chat) for r in admin_routes(cfg, empty, None)] == [
        ("telegram", None),
        ("wecom", None),
    ]
    assert leaders_targets(cfg, empty, None) == [("telegram", "-9")]
    tree = UnitTree([Unit(1, "JT", "本集团", None), Unit(2, "JT-A", "甲公司", 1)])
    assert leaders_targets(cfg, tree, 2) == [("telegram", "-9")]  # the root's, nearest


class _Limiter:
    def delay(self, member: str) -> float:
        return 0.0


class _WeComClient:
    """Records who each message went to."""

    def __init__(self) -> None:
        self.limiter = _Limiter()
        self.sent: list[str] = []

    async def send_message(self, touser: str, msgtype: str, payload: Any) -> dict[str, Any]:
        self.sent.append(touser)
        return {"errcode": 0}

    async def send_template_card(self, touser: str, payload: Any) -> dict[str, Any]:
        self.sent.append(touser)
        return {"errcode": 0}


@pytest.fixture
async def wecom_container(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[Container]:
    wecom = {
        "WECOM_CORP_ID": "ww1",
        "WECOM_AGENT_ID": "1000002",
        "WECOM_SECRET": "s",
        "WECOM_TOKEN": "t",
        "WECOM_AES_KEY": "a" * 43,
    }
    c = await build_container(load_settings({**env, **wecom}), keyring=keys[0], clock=clock)
    yield c
    await c.close()


async def test_wecom_officers_get_the_cards_and_digest_of_their_own_units_only(
    wecom_container: Container, clock: FakeClock
) -> None:
    container = wecom_container
    now = clock()
    async with container.uow() as uow:
        root = await uow.units.add("JT", "本集团", None, now)
        a = await uow.units.add("JT-A", "甲公司", root.id, now)
        await uow.units.add("JT-A-1", "甲一厂", a.id, now)
        b = await uow.units.add("JT-B", "乙公司", root.id, now)
        for userid, unit in (("head", root.id), ("wang", a.id), ("li", b.id)):
            await uow.officers.add(
                userid, Role.OFFICER, now, unit_id=unit, accounts={"wecom": userid}
            )
        await uow.commit()
    await file_petition(container, employee(container, 9), unit="甲一厂")
    clock.advance(days=13)
    async with container.uow() as uow:
        assert await send_digest(uow, container.services, clock())
        await uow.commit()

    client = _WeComClient()

    async def source() -> _WeComClient:
        return client

    from bot.delivery import DeliveryWorker

    sender = WeComSender(container.uow, source)  # type: ignore[arg-type]
    worker = DeliveryWorker(
        container.uow, container.translator.t, {"wecom": sender}, container.services.clock
    )
    await worker.run_once()
    assert worker.stats.sent >= 3 and worker.stats.failed == 0
    # The card went to the root's and company A's officers; each digest to its own unit's.
    assert "head|wang" in client.sent
    assert "li" not in "|".join(client.sent)
    assert client.sent.count("head") == 1 and client.sent.count("wang") == 1


async def test_a_transfer_posts_the_card_to_the_receiving_units_chat(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(container, employee(container, 40), unit="甲一厂")
    root_officer = await officer_in(container, "3401", group["JT"], ROOT_CHAT)
    before = len(await admin_rows(container, "case_card"))
    await root_officer.say(f"/transfer {filed.number} JT-B 属乙公司管辖")

    assert (await load_case(container, filed.case_id)).unit_id == group["JT-B"]
    new_cards = (await admin_rows(container, "case_card"))[before:]
    assert {r["case_id"] for r in new_cards} == {filed.case_id}
    # 乙公司's chat learns of it; 甲公司's chat (no longer covering it) gets nothing new.
    assert chats_of(new_cards) == {None, B_CHAT}


async def test_a_report_to_discipline_at_a_plant_stays_out_of_the_units_chats(
    container: Container, group: dict[str, int]
) -> None:
    filed = await file_petition(
        container, employee(container, 41), category="discipline", unit="甲一厂"
    )
    assert (await load_case(container, filed.case_id)).unit_id == group["JT-A-1"]
    cards = [r for r in await admin_rows(container, "case_card") if r["case_id"] == filed.case_id]
    # The company's petition officers read A_CHAT: they must not learn a report came in.
    assert chats_of(cards) == {None}
