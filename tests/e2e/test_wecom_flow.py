"""WeCom end to end: encrypted callbacks into the real aiohttp app, the real handlers and
outbox worker on SQLite and PostgreSQL, and a fake WeCom API that records what was sent."""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from yarl import URL

from bot.channels import Delivery, Rejected, RetryLater, Unreachable
from bot.container import Container, build_container
from bot.delivery import DeliveryWorker
from bot.settings import load_settings
from bot.wecom.callback import MOUNT_PREFIX
from bot.wecom.channel import WeComChannel
from bot.wecom.client import WeComApiError
from bot.wecom.messages import WeComInbound
from bot.wecom.render import PendingChoices, render_reply, split_text
from bot.wecom.sender import classify_error
from handlers.inbound import Button, FileOut, Reply
from petitions.roles import Role
from storage.models import Base, OutboxRow
from storage.vault import Keyring
from tests.fakes.wecom_api import (
    AGENT_ID,
    CB_AES_KEY,
    CB_TOKEN,
    CORP_ID,
    SECRET,
    FakeWeComApi,
    event_xml,
    image_xml,
    query_string,
    signed_post,
    template_card_event_xml,
    text_xml,
)
from tests.helpers.clock import FakeClock
from tests.helpers.evidence import jpeg_with_gps, surviving_markers

EMPLOYEE = "ZhangSan"
OFFICER = "LiSi"
SEND = "/cgi-bin/message/send"
TRACKING_CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
CASE_NUMBER = re.compile(r"XF-\d{4}-\d+")


class FakeMonotonic:
    """Monotonic time for the API clients: sleeping moves it on and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Harness:
    """A running WeCom deployment: callback server, channel, worker and fake API."""

    api: FakeWeComApi
    container: Container
    channel: WeComChannel
    worker: DeliveryWorker
    clock: FakeClock
    monotonic: FakeMonotonic
    session: aiohttp.ClientSession
    callback_url: str
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        """A fresh MsgId / CreateTime offset."""
        return next(self._ids)

    async def post_raw(self, params: dict[str, str], body: bytes) -> tuple[int, str]:
        """POST a callback exactly as given and wait until it has been handled."""
        url = URL(f"{self.callback_url}?{query_string(params)}", encoded=True)
        async with self.session.post(url, data=body) as resp:
            answer = (resp.status, await resp.text())
        await self.channel.idle()
        return answer

    async def post(self, inner_xml: str, **kwargs: Any) -> tuple[int, str]:
        """Sign and encrypt a callback like WeCom and POST it."""
        return await self.post_raw(*signed_post(inner_xml, **kwargs))

    async def say(self, userid: str, text: str) -> None:
        """A member writes a text message to the app."""
        n = self.next_id()
        xml = text_xml(text, msg_id=str(5000 + n), from_user=userid, create_time=1_700_000_000 + n)
        assert await self.post(xml) == (200, "success")

    async def press(self, userid: str, key: str) -> None:
        """A member presses the card button whose key is `key` (the newest such card)."""
        card = self.card_with(userid, key)
        n = self.next_id()
        xml = template_card_event_xml(
            key, card["task_id"], from_user=userid, create_time=1_700_000_000 + n
        )
        assert await self.post(xml) == (200, "success")

    def sent_to(self, userid: str) -> list[dict[str, Any]]:
        """message/send bodies addressed to `userid`."""
        return [b for b in self.api.sent if userid in b["touser"].split("|")]

    def texts_to(self, userid: str) -> str:
        """Everything `userid` was sent, as one string."""
        names = {u.media_id: u.filename or "" for u in self.api.uploads}
        return "\n".join(_visible(b, names) for b in self.sent_to(userid))

    def card_with(self, userid: str, key: str) -> dict[str, Any]:
        """The newest template card sent to `userid` that has a button `key`."""
        for body in reversed(self.sent_to(userid)):
            card = body.get("template_card") or {}
            if any(b["key"] == key for b in card.get("button_list", [])):
                return dict(card)
        raise AssertionError(f"no card with {key!r}; keys: {self.keys_for(userid)}")

    def keys_for(self, userid: str) -> list[str]:
        """Button keys of every card sent to `userid`, oldest first."""
        return [
            b["key"]
            for body in self.sent_to(userid)
            for b in (body.get("template_card") or {}).get("button_list", [])
        ]

    async def counts(self) -> dict[str, int]:
        """Rows per table."""
        result = {}
        async with self.container.uow() as uow:
            for table in Base.metadata.sorted_tables:
                query = select(func.count()).select_from(table)
                result[table.name] = int((await uow.session.execute(query)).scalar_one())
        return result

    async def outbox(self) -> list[OutboxRow]:
        """Every outbox row, oldest first."""
        async with self.container.uow() as uow:
            rows = await uow.session.execute(select(OutboxRow).order_by(OutboxRow.id))
            return list(rows.scalars().all())

    async def register_officer(self, userid: str = OFFICER) -> None:
        """Register an officer whose WeCom account is `userid`."""
        async with self.container.uow() as uow:
            await uow.officers.add("李四", Role.OFFICER, self.clock(), accounts={"wecom": userid})
            await uow.commit()


def _visible(body: dict[str, Any], names: dict[str, str] | None = None) -> str:
    if body["msgtype"] == "text":
        return str(body["text"]["content"])
    if body["msgtype"] == "file":  # a notice (告知书): its name, from the fake's uploads
        media_id = str(body["file"]["media_id"])
        return f"📎 {(names or {}).get(media_id, media_id)}"
    card = body["template_card"]
    parts = [card["main_title"]["title"], card.get("sub_title_text", "")]
    parts += [b["text"] for b in card["button_list"]]
    return "\n".join(parts)


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def wecom(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> AsyncIterator[Harness]:
    """The service with only WeCom configured, serving callbacks on 127.0.0.1:<port>."""
    monotonic = FakeMonotonic()
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        values = {k: v for k, v in env.items() if not k.startswith("TELEGRAM_")}
        values |= {
            "WECOM_CORP_ID": CORP_ID,
            "WECOM_AGENT_ID": str(AGENT_ID),
            "WECOM_SECRET": SECRET,
            "WECOM_TOKEN": CB_TOKEN,
            "WECOM_AES_KEY": CB_AES_KEY,
            "WECOM_API_BASE_URL": api.base_url,
        }
        settings = load_settings(values)
        assert settings.wecom is not None
        container = await build_container(settings, keyring=keys[0], clock=clock)
        channel = WeComChannel(
            container, settings.wecom, session=session, sleep=monotonic.sleep, clock=monotonic
        )
        app = web.Application()
        channel.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        await channel.start()
        worker = DeliveryWorker(
            container.uow, container.translator.t, {"wecom": channel.sender}, clock
        )
        try:
            yield Harness(
                api,
                container,
                channel,
                worker,
                clock,
                monotonic,
                session,
                f"http://127.0.0.1:{port}{MOUNT_PREFIX}/callback",
            )
        finally:
            await channel.stop()
            await runner.cleanup()
            await container.close()


async def file_anonymous_petition(h: Harness) -> str:
    """The employee files an anonymous petition with a (real) photo, updates pushed to
    WeCom; returns the tracking code."""
    h.api.media["MEDIA-1"] = (jpeg_with_gps(), "image/jpeg", "broken-tap.jpg")
    n = h.next_id()
    assert await h.post(
        event_xml("enter_agent", from_user=EMPLOYEE, create_time=1_700_000_000 + n)
    ) == (200, "success")
    await h.press(EMPLOYEE, "menu:new")
    await h.press(EMPLOYEE, "cat:safety")
    await h.say(EMPLOYEE, "三号车间的安全阀已经坏了两周，多次报修无人处理。")
    n = h.next_id()
    xml = image_xml(
        "MEDIA-1", msg_id=str(7000 + n), from_user=EMPLOYEE, create_time=1_700_000_000 + n
    )
    assert await h.post(xml) == (200, "success")
    await h.press(EMPLOYEE, "ev:done")
    await h.press(EMPLOYEE, "anon:yes")
    await h.press(EMPLOYEE, "up:push")
    await h.press(EMPLOYEE, "rv:submit")
    found = TRACKING_CODE.findall(h.texts_to(EMPLOYEE))
    assert len(found) == 1, "the employee gets exactly one tracking code"
    return found[0]


# -- the whole journey ----------------------------------------------------------------------


async def test_employee_petitions_officer_accepts_and_answers_all_over_wecom(
    wecom: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = wecom
    await h.register_officer()
    h.api.fail_next(SEND, 45009)  # one refusal on the way: retried in place, and logged

    code = await file_anonymous_petition(h)

    # Ten choices of category do not fit one card: they come as two cards of at most six.
    category_cards = [
        b["template_card"]
        for b in h.sent_to(EMPLOYEE)
        if b["msgtype"] == "template_card"
        and any(x["key"].startswith("cat:") for x in b["template_card"]["button_list"])
    ]
    assert [len(c["button_list"]) for c in category_cards] == [6, 4]
    task_ids = [
        b["template_card"]["task_id"] for b in h.api.sent if b["msgtype"] == "template_card"
    ]
    assert len(task_ids) == len(set(task_ids)), "every card has its own task_id"
    # The photo was fetched at once and stored with the case.
    assert len(h.api.calls_to("/cgi-bin/media/get")) == 1
    async with h.container.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None and case.anonymous and not case.has_identity
        files = await uow.attachments.list(1)
        _, stored = await uow.attachments.data(files[0].id)
    # Stored cleaned under a neutral name: the sender's file name and GPS never reach it.
    assert [(f.kind, f.mime, f.name) for f in files] == [("photo", "image/jpeg", "证据1.jpg")]
    assert surviving_markers(stored) == []

    # The worker delivers the case card to the officer registered on WeCom.
    assert await h.worker.run_once() >= 1
    officer_cards = [b for b in h.sent_to(OFFICER) if b["msgtype"] == "template_card"]
    assert len(officer_cards) == 1
    card = officer_cards[0]["template_card"]
    assert card["card_type"] == "button_interaction"
    number = CASE_NUMBER.search(h.texts_to(OFFICER))
    assert number is not None
    accept_key = f"o:accept:{case.id}"
    assert accept_key in [b["key"] for b in card["button_list"]]

    # The officer accepts with the card button (and the preview's 确认发送), then answers
    # with a command.
    await h.press(OFFICER, accept_key)
    await h.press(OFFICER, f"o:ok:{case.id}:1")
    await h.say(OFFICER, f"/answer {number.group()} 已安排维修班组今天更换安全阀。")
    assert len(h.api.calls_to("/cgi-bin/message/update_template_card")) >= 1
    async with h.container.uow() as uow:
        case = await uow.cases.get(1)
    assert case is not None and case.state.value == "accepted"

    before = len(h.sent_to(EMPLOYEE))
    assert await h.worker.run_once() == 3  # 受理, its notice (a row of its own), the answer
    names = {u.media_id: u.filename or "" for u in h.api.uploads}
    pushes = [_visible(b, names) for b in h.sent_to(EMPLOYEE)[before:]]
    assert len(pushes) == 3
    assert number.group() in pushes[0] and "已受理" in pushes[0]
    assert pushes[1] == f"📎 {number.group()}-受理.pdf"  # the 受理告知书, after its status
    assert "已安排维修班组今天更换安全阀" in pushes[2]
    assert [r.status for r in await h.outbox()] == ["sent"] * 4

    # Privacy: what officers see and what was logged holds no userid or tracking code.
    officer_bound = [b for b in h.api.sent if b["touser"] != EMPLOYEE]
    assert officer_bound and all(b["touser"] == OFFICER for b in officer_bound)
    for body in officer_bound:
        assert EMPLOYEE not in repr(body) and code not in repr(body)
    assert "45009" in caplog.text and "handled" in caplog.text, "the check is not vacuous"
    assert EMPLOYEE not in caplog.text and code not in caplog.text
    assert SECRET not in caplog.text


# -- hostile or repeated callbacks ----------------------------------------------------------


async def test_forged_replayed_and_duplicate_callbacks_change_nothing(wecom: Harness) -> None:
    h = wecom
    first = signed_post(text_xml("你好", msg_id="9001", from_user=EMPLOYEE))
    assert await h.post_raw(*first) == (200, "success")
    rows, calls = await h.counts(), len(h.api.calls)
    assert rows["processed_updates"] == 1 and h.sent_to(EMPLOYEE)

    forged = signed_post(text_xml("/new", msg_id="9002", from_user=EMPLOYEE), token="forged")
    assert (await h.post_raw(*forged))[0] == 403
    stale = int(time.time()) - 3600
    replayed = signed_post(text_xml("/new", msg_id="9003", from_user=EMPLOYEE), timestamp=stale)
    assert (await h.post_raw(*replayed))[0] == 403
    assert await h.post_raw(*first) == (200, "success")  # WeCom's retry of the same post
    resigned = signed_post(text_xml("你好", msg_id="9001", from_user=EMPLOYEE))
    assert await h.post_raw(*resigned) == (200, "success")  # same MsgId, fresh signature

    assert await h.counts() == rows
    assert len(h.api.calls) == calls


async def test_opening_the_app_greets_like_start_but_not_every_time(wecom: Harness) -> None:
    h = wecom
    for n in (1, 2):
        xml = event_xml("enter_agent", from_user=EMPLOYEE, create_time=1_700_000_100 + n)
        assert await h.post(xml) == (200, "success")
    first = h.sent_to(EMPLOYEE)
    assert [b["msgtype"] for b in first] == ["text", "template_card"]
    assert {"menu:new", "menu:status"} <= set(h.keys_for(EMPLOYEE))

    h.clock.advance(hours=13)
    xml = event_xml("enter_agent", from_user=EMPLOYEE, create_time=1_700_000_200)
    assert await h.post(xml) == (200, "success")
    assert len(h.sent_to(EMPLOYEE)) == 4


async def test_messages_we_cannot_take_are_answered_not_dropped(wecom: Harness) -> None:
    h = wecom
    voice = text_xml("", msg_id="9101", from_user=EMPLOYEE).replace(
        "<MsgType><![CDATA[text]]></MsgType>", "<MsgType><![CDATA[voice]]></MsgType>"
    )
    assert await h.post(voice) == (200, "success")
    assert "暂不支持" in h.texts_to(EMPLOYEE)
    # An image whose media id has expired: the employee is told it did not work.
    xml = image_xml("EXPIRED", msg_id="9102", from_user=EMPLOYEE)
    assert await h.post(xml) == (200, "success")
    assert "操作未能完成" in h.texts_to(EMPLOYEE)


# -- API trouble ----------------------------------------------------------------------------


async def test_expired_token_mid_run_is_refreshed_once_and_the_push_still_goes_out(
    wecom: Harness,
) -> None:
    h = wecom
    await h.register_officer()
    await file_anonymous_petition(h)
    assert await h.worker.run_once() == 1  # the case card: the push client has a token now
    await h.press(OFFICER, "o:accept:1")
    await h.press(OFFICER, "o:ok:1:1")  # the preview's 确认发送

    h.api.expire_token()
    tokens = h.api.gettoken_count
    assert await h.worker.run_once() == 2  # the status and its notice
    assert h.api.gettoken_count == tokens + 1
    assert "已受理" in _visible(h.sent_to(EMPLOYEE)[-2])
    assert h.sent_to(EMPLOYEE)[-1]["msgtype"] == "file"
    assert [r.status for r in await h.outbox()] == ["sent", "sent", "sent"]


async def test_rate_limit_storm_delays_the_push_but_loses_nothing(wecom: Harness) -> None:
    h = wecom
    await h.register_officer()
    await file_anonymous_petition(h)
    h.api.fail_next(SEND, 45009, 45009, 45009, 45009)  # two tries per pass, two passes

    assert await h.worker.run_once() == 1
    [row] = await h.outbox()
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at > h.clock()
    assert h.monotonic.sleeps, "the client backed off before handing the row back"
    assert not h.sent_to(OFFICER)

    assert await h.worker.run_once() == 0  # not due yet: nothing is sent early
    h.clock.advance(seconds=61)
    assert await h.worker.run_once() == 1  # 45009 twice more: still pending
    [row] = await h.outbox()
    assert row.status == "pending" and row.attempts == 2
    h.clock.advance(minutes=2)
    assert await h.worker.run_once() == 1
    [row] = await h.outbox()
    assert row.status == "sent"
    assert len([b for b in h.sent_to(OFFICER) if b["msgtype"] == "template_card"]) == 1


async def test_employee_who_left_the_app_scope_is_marked_unreachable(wecom: Harness) -> None:
    h = wecom
    await h.register_officer()
    await file_anonymous_petition(h)
    assert await h.worker.run_once() == 1
    await h.press(OFFICER, "o:accept:1")
    await h.press(OFFICER, "o:ok:1:1")  # the preview's 确认发送
    h.api.fail_next(SEND, 81013)

    assert await h.worker.run_once() == 1
    assert [r.status for r in await h.outbox()] == ["sent", "unreachable"]
    async with h.container.uow() as uow:
        case = await uow.cases.get(1)
    assert case is not None and not case.contact_reachable


async def test_admin_rows_also_alert_the_configured_app_group_chat(
    env: dict[str, str], keys: tuple[Keyring, Path], clock: FakeClock
) -> None:
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        values = {k: v for k, v in env.items() if not k.startswith("TELEGRAM_")}
        values |= {
            "WECOM_CORP_ID": CORP_ID,
            "WECOM_AGENT_ID": str(AGENT_ID),
            "WECOM_SECRET": SECRET,
            "WECOM_TOKEN": CB_TOKEN,
            "WECOM_AES_KEY": CB_AES_KEY,
            "WECOM_API_BASE_URL": api.base_url,
            "WECOM_ADMIN_CHAT_ID": "wrOfficers",
        }
        settings = load_settings(values)
        assert settings.wecom is not None
        container = await build_container(settings, keyring=keys[0], clock=clock)
        channel = WeComChannel(container, settings.wecom, session=session, sleep=_no_sleep)
        try:
            async with container.uow() as uow:
                await uow.officers.add("李四", Role.OFFICER, clock(), accounts={"wecom": OFFICER})
                await uow.commit()
            card = Reply(
                "📋 新案件 XF-2026-000007\n类别：薪酬", ((Button("受理", "o:accept:7"),),)
            )
            await channel.sender.send(Delivery(1, "admin", "case_card", 7, None, (card,)))
        finally:
            await channel.stop()
            await container.close()
    [alert] = api.calls_to("/cgi-bin/appchat/send")
    assert alert.json is not None and alert.json["chatid"] == "wrOfficers"
    assert alert.json["text"]["content"] == "📋 新案件 XF-2026-000007"
    assert [b["touser"] for b in api.sent] == [OFFICER]


# -- rendering and error mapping (no database) ----------------------------------------------


def test_long_text_is_split_below_wecoms_2048_byte_limit() -> None:
    text = "\n".join(["信访" * 300] * 3)  # three lines of 1800 bytes each
    parts = split_text(text)
    assert len(parts) == 3
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "\n".join(parts) == text
    assert all(len(p.encode()) <= 2048 for p in split_text("访" * 5000))


def test_a_short_reply_with_buttons_is_one_card_keyed_by_payload() -> None:
    reply = Reply("请选择：\n您可以随时输入 /help", ((Button("新信访", "menu:new"),),))
    [card] = render_reply(reply, task_id=lambda: "xf-1")
    assert card.msgtype == "template_card"
    assert card.payload == {
        "card_type": "button_interaction",
        "main_title": {"title": "请选择："},
        "task_id": "xf-1",
        "sub_title_text": "您可以随时输入 /help",
        "button_list": [{"text": "新信访", "style": 1, "key": "menu:new"}],
    }


def test_a_long_reply_with_buttons_sends_the_text_then_a_card() -> None:
    reply = Reply("请确认：\n" + "很长的描述。" * 60, ((Button("提交", "rv:submit"),),))
    text, card = render_reply(reply)
    assert text.msgtype == "text" and text.payload["content"] == reply.text
    assert card.payload["main_title"]["title"] == "请确认："
    assert "sub_title_text" not in card.payload


def test_too_many_buttons_fall_back_to_numbered_text_that_a_number_answers() -> None:
    buttons = tuple((Button(f"选项{i}", f"opt:{i}"),) for i in range(1, 20))
    [listing] = render_reply(Reply("请选择：", buttons))
    assert listing.msgtype == "text"
    assert "19. 选项19" in listing.payload["content"]
    choices = PendingChoices()
    choices.offer(EMPLOYEE, listing.options)
    assert choices.take(EMPLOYEE, " 3 ") == "opt:3"
    assert choices.take(EMPLOYEE, "3") is None  # offered once


def test_files_on_a_reply_are_named_in_the_text() -> None:
    reply = Reply("材料", files=(FileOut("photo", "a.jpg", "image/jpeg", b"x"),))
    [text] = render_reply(reply)
    assert text.payload["content"] == "材料\n📎 a.jpg"


@pytest.mark.parametrize(
    ("errcode", "http_status", "outcome", "after"),
    [
        (45009, None, RetryLater, 60.0),
        (45033, None, RetryLater, 5.0),
        (-1, None, RetryLater, 0.0),
        (-1, 502, RetryLater, 0.0),
        (42001, None, RetryLater, 300.0),
        (60111, None, Unreachable, None),
        (81013, None, Unreachable, None),
        (40003, None, Rejected, None),
    ],
)
def test_wecom_errors_map_to_what_the_worker_does(
    errcode: int, http_status: int | None, outcome: type[Exception], after: float | None
) -> None:
    result = classify_error(WeComApiError(errcode, "userid ZhangSan", http_status=http_status))
    assert isinstance(result, outcome)
    if isinstance(result, RetryLater):
        assert result.after == after
    assert EMPLOYEE not in str(result)


def test_an_event_we_do_not_act_on_makes_no_inbound() -> None:
    from bot.wecom.channel import to_inbound

    event = WeComInbound(CORP_ID, EMPLOYEE, 1, "event", event="view", event_key="https://x")
    assert to_inbound(event) is None
    enter = WeComInbound(CORP_ID, EMPLOYEE, 1, "event", event="enter_agent")
    inbound = to_inbound(enter)
    assert inbound is not None and inbound.text == "/start" and inbound.locale is None


def test_a_file_without_a_useful_content_type_gets_one_from_its_name() -> None:
    from bot.wecom.channel import file_from_media, to_inbound

    message = WeComInbound(
        CORP_ID, EMPLOYEE, 1, "file", msg_id="1", media_id="M", file_name="工资条.pdf"
    )
    file = file_from_media(message, b"%PDF-1.4", "application/octet-stream", None)
    assert (file.kind, file.name, file.mime) == ("document", "工资条.pdf", "application/pdf")
    inbound = to_inbound(message, file)
    assert inbound is not None and inbound.file is file and inbound.sender_id == EMPLOYEE
