"""WeCom never resends a callback answered 200: the service answers once the message is kept
in ``wecom_inbox`` (group commits, before it is handled), handles kept messages in order per
person and each delivery once (the MsgId claimed in the handling transaction, which deletes
the row), hands what a crash left over to the next start, and asks for a retry only when the
message could not be kept (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from yarl import URL

import bot.wecom.channel
from bot.wecom.channel import WeComChannel
from bot.wecom.messages import WeComInbound
from handlers.inbound import Inbound, Reply
from handlers.router import Handlers
from tests.e2e.test_wecom_flow import (
    EMPLOYEE,
    Harness,
    wecom,  # noqa: F401 - the fixture
)
from tests.fakes.wecom_api import AGENT_ID, query_string, signed_post, text_xml

OTHER = "LiLei"


class SlowHandlers(Handlers):
    """The real handlers, held at the start of every message until released."""

    release = asyncio.Event()
    entered = 0
    order: list[tuple[str, str | None]] = []

    async def handle(self, inbound: Inbound) -> list[Reply]:
        type(self).entered += 1
        type(self).order.append((inbound.chat_id, inbound.text))
        await self.release.wait()
        return await super().handle(inbound)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> type[SlowHandlers]:
    """Hold handling until the test releases it."""
    SlowHandlers.release = asyncio.Event()
    SlowHandlers.entered = 0
    SlowHandlers.order = []
    monkeypatch.setattr(bot.wecom.channel, "Handlers", SlowHandlers)
    return SlowHandlers


async def _post(h: Harness, params: dict[str, str], body: bytes) -> tuple[int, str]:
    url = URL(f"{h.callback_url}?{query_string(params)}", encoded=True)
    async with h.session.post(url, data=body) as resp:
        return resp.status, await resp.text()


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def _kept(h: Harness) -> int:
    return (await h.counts())["wecom_inbox"]


def _restarted(h: Harness) -> WeComChannel:
    """A second channel on the same database: the service after a crash and a start."""
    settings = h.container.settings.wecom
    assert settings is not None
    return WeComChannel(
        h.container, settings, session=h.session, sleep=h.monotonic.sleep, clock=h.monotonic
    )


async def test_the_answer_comes_once_the_message_is_kept_before_it_is_handled(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    answer = await _post(h, *signed_post(text_xml("你好", msg_id="8101")))
    # Answered while the handling is held: the message is in the inbox, not yet claimed.
    assert answer == (200, "success")
    await _until(lambda: slow.entered == 1)
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (1, 0)
    assert not h.sent_to(EMPLOYEE)

    slow.release.set()
    await h.channel.idle()
    # The handling transaction claimed the MsgId and deleted the row.
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (0, 1)
    assert h.sent_to(EMPLOYEE)


async def test_the_kept_body_is_encrypted_and_names_nobody(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    xml = text_xml("三号车间安全阀坏了", msg_id="8151")
    assert await _post(h, *signed_post(xml)) == (200, "success")
    async with h.container.uow() as uow:
        rows = (await uow.session.execute(text("SELECT * FROM wecom_inbox"))).all()
    assert len(rows) == 1
    stored = repr(tuple(rows[0]))
    for secret in ("三号车间", EMPLOYEE, "8151", "msg:"):
        assert secret not in stored and secret.encode() not in b"".join(
            v for v in rows[0] if isinstance(v, bytes)
        )
    slow.release.set()
    await h.channel.idle()


async def test_a_retry_while_the_first_delivery_is_handled_is_answered_and_handled_once(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    assert await _post(h, *signed_post(text_xml("你好", msg_id="8201"))) == (200, "success")
    await _until(lambda: slow.entered == 1)
    # WeCom's retry is answered at once: the MsgId is kept, no second row.
    retry = signed_post(text_xml("你好", msg_id="8201"), nonce="retry")
    assert await _post(h, *retry) == (200, "success")
    assert await _kept(h) == 1

    slow.release.set()
    await h.channel.idle()
    assert slow.entered == 1
    assert (await h.counts())["processed_updates"] == 1
    replies = len(h.sent_to(EMPLOYEE))
    assert await h.post(text_xml("你好", msg_id="8201"), nonce="late") == (200, "success")
    assert len(h.sent_to(EMPLOYEE)) == replies


async def test_a_retry_of_a_handled_delivery_is_answered_and_not_handled_again_after_a_restart(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    slow.release.set()
    assert await h.post(text_xml("你好", msg_id="8251")) == (200, "success")
    replies = len(h.sent_to(EMPLOYEE))
    # A new process remembers nothing: the retry is kept again, and the claim refuses it.
    channel = _restarted(h)
    await channel.start()
    try:
        await channel.inbox.keep("wecom:msg:8251", _message("你好", "8251"))
        assert channel.inbox.kept == 1
        await channel.idle()
    finally:
        await channel.stop()
    # Its handling ran into the claim and was rolled back: nothing sent, nothing counted.
    assert len(h.sent_to(EMPLOYEE)) == replies
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (0, 1)


def _message(text_: str, msg_id: str, who: str = EMPLOYEE) -> WeComInbound:
    return WeComInbound(
        "corp", who, 1_700_000_000, "text", agent_id=AGENT_ID, msg_id=msg_id, content=text_
    )


async def test_a_crash_between_keeping_and_handling_loses_nothing_and_the_next_start_handles_it(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = wecom
    slow.release.set()
    # The process dies right after the inbox commit: kept rows are never handed over.
    monkeypatch.setattr(h.channel, "_submit", lambda row, message: None)
    sent = [("一", "8501", EMPLOYEE), ("甲", "8502", OTHER), ("二", "8503", EMPLOYEE)]
    for text_, msg_id, who in sent:
        xml = text_xml(text_, msg_id=msg_id, from_user=who)
        assert await _post(h, *signed_post(xml)) == (200, "success")
    assert await _kept(h) == 3 and slow.entered == 0 and not h.api.sent

    channel = _restarted(h)
    await channel.start()  # handles the kept rows first
    try:
        await channel.idle()
    finally:
        await channel.stop()
    assert sorted(slow.order) == sorted((who, t) for t, _, who in sent)
    assert [t for who, t in slow.order if who == EMPLOYEE] == ["一", "二"]
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (0, 3)
    assert h.sent_to(EMPLOYEE) and h.sent_to(OTHER)


async def test_a_burst_is_answered_before_it_is_handled_in_few_commits_and_in_order(
    wecom: Harness,  # noqa: F811
    slow: type[SlowHandlers],
) -> None:
    h = wecom
    people, each = [EMPLOYEE, OTHER, "WangWu"], 10
    posts = [
        _post(h, *signed_post(text_xml(f"{who}-{n}", msg_id=f"9{i}{n:02d}", from_user=who)))
        for n in range(each)
        for i, who in enumerate(people)
    ]
    answers = await asyncio.gather(*posts)
    # Every callback answered while the handling is held: at most one per person entered.
    assert answers == [(200, "success")] * len(posts)
    assert slow.entered <= len(people) and not h.api.sent
    assert await _kept(h) == len(posts)
    assert h.channel.inbox.commits < len(posts)  # group commits

    slow.release.set()
    await h.channel.idle()
    assert slow.entered == len(posts)
    for who in people:  # one person's messages in the order they were sent
        assert [t for w, t in slow.order if w == who] == [f"{who}-{n}" for n in range(each)]
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (0, len(posts))


class _Starting(Exception):
    """A driver error carrying PostgreSQL's "the database system is starting up"."""

    sqlstate = "57P03"


# How SQLAlchemy and asyncpg report a database that is away (measured against a real
# server: refused, closed mid-statement, not accepting connections yet).
AWAY = {
    "refused": lambda: OperationalError("connect", None, ConnectionRefusedError()),
    "closed mid-statement": lambda: DBAPIError(
        "SELECT 1", None, Exception("connection was closed"), connection_invalidated=True
    ),
    "starting up": lambda: DBAPIError("connect", None, _Starting()),
}


@pytest.mark.parametrize("away", sorted(AWAY))
async def test_a_database_outage_while_handling_is_waited_out_and_handled_once(
    wecom: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    away: str,
) -> None:
    h = wecom
    outage, tries = [True], [0]

    class Unreachable(Handlers):
        async def handle(self, inbound: Inbound) -> list[Reply]:
            if outage[0]:
                tries[0] += 1
                raise AWAY[away]()
            return await super().handle(inbound)

    monkeypatch.setattr(bot.wecom.channel, "Handlers", Unreachable)
    delivery = signed_post(text_xml("你好", msg_id="8301"))
    assert await _post(h, *delivery) == (200, "success")  # kept: WeCom need not resend
    await _until(lambda: tries[0] >= 1)
    assert (await h.counts())["processed_updates"] == 0 and not h.sent_to(EMPLOYEE)

    outage[0] = False  # the handling tries again by itself
    await h.channel.idle()
    counts = await h.counts()
    assert (counts["wecom_inbox"], counts["processed_updates"]) == (0, 1)
    assert len(h.sent_to(EMPLOYEE)) >= 1
    assert await h.post_raw(*delivery) == (200, "success")  # a late retry changes nothing
    assert (await h.counts())["processed_updates"] == 1


async def test_a_callback_that_cannot_be_kept_is_answered_503_and_the_retry_is_handled(
    wecom: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = wecom

    async def away(*_args: Any) -> dict[str, int]:
        raise OperationalError("connect", None, ConnectionRefusedError())

    delivery = signed_post(text_xml("你好", msg_id="8351"))
    with monkeypatch.context() as m:
        m.setattr(h.channel.inbox, "_write", away)
        assert (await h.post_raw(*delivery))[0] == 503
    assert (await h.counts())["wecom_inbox"] == 0 and not h.sent_to(EMPLOYEE)
    assert await h.post_raw(*delivery) == (200, "success")  # WeCom's retry
    assert (await h.counts())["processed_updates"] == 1
    assert h.sent_to(EMPLOYEE)


async def test_a_handler_bug_is_answered_with_the_failure_reply_once(
    wecom: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = wecom

    class Broken(Handlers):
        async def handle(self, inbound: Inbound) -> list[Reply]:
            raise RuntimeError("a bug, not the database")

    monkeypatch.setattr(bot.wecom.channel, "Handlers", Broken)
    delivery = signed_post(text_xml("你好", msg_id="8401"))
    assert await h.post_raw(*delivery) == (200, "success")
    assert await h.post_raw(*delivery) == (200, "success")  # a retry changes nothing
    assert (await h.counts())["processed_updates"] == 1
    assert len(h.sent_to(EMPLOYEE)) == 1
    failure = h.container.translator.t("error.domain", h.container.settings.default_locale)
    assert h.texts_to(EMPLOYEE) == failure
