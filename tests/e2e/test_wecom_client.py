"""WeComClient against the local fake WeCom API: tokens, retries, limits, media."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bot.wecom.client import WeComApiError, WeComClient
from tests.fakes.wecom_api import AGENT_ID, CORP_ID, SECRET, FakeWeComApi

SEND = "/cgi-bin/message/send"


class FakeTime:
    """Injected clock and sleep: sleeping records the delay and advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still yield, as a real sleep would


@asynccontextmanager
async def wecom(
    time: FakeTime, *, token_ttl: int = 7200, **options: Any
) -> AsyncIterator[tuple[FakeWeComApi, WeComClient]]:
    async with FakeWeComApi(token_ttl=token_ttl) as api, aiohttp.ClientSession() as session:
        client = WeComClient(
            session,
            base_url=api.base_url,
            corp_id=CORP_ID,
            secret=SECRET,
            agent_id=AGENT_ID,
            clock=time.clock,
            sleep=time.sleep,
            rng=lambda: 0.5,
            **options,
        )
        yield api, client


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


async def test_send_text_posts_the_documented_body(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        answer = await client.send_text("ZhangSan", "您的信访件已受理")
    assert answer["errcode"] == 0
    assert api.sent == [
        {
            "touser": "ZhangSan",
            "msgtype": "text",
            "agentid": AGENT_ID,
            "text": {"content": "您的信访件已受理"},
        }
    ]


async def test_markdown_card_update_and_appchat_use_their_endpoints(time: FakeTime) -> None:
    card = {"card_type": "button_interaction", "task_id": "case-1"}
    async with wecom(time) as (api, client):
        await client.send_markdown("LiSi", "**新案件**")
        answer = await client.send_template_card("LiSi", card)
        await client.update_template_card(["LiSi"], answer["response_code"], replace_name="已受理")
        await client.appchat_send("officers", "text", {"content": "新案件"})
    assert [m["msgtype"] for m in api.sent] == ["markdown", "template_card"]
    assert api.sent[1]["template_card"] == card
    (update,) = api.calls_to("/cgi-bin/message/update_template_card")
    assert update.json == {
        "userids": ["LiSi"],
        "agentid": AGENT_ID,
        "response_code": answer["response_code"],
        "button": {"replace_name": "已受理"},
    }
    (chat,) = api.calls_to("/cgi-bin/appchat/send")
    assert chat.json == {
        "chatid": "officers",
        "msgtype": "text",
        "text": {"content": "新案件"},
        "safe": 0,
    }


async def test_concurrent_callers_share_one_token_fetch(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        await asyncio.gather(*(client.send_text(f"user{i}", "hi") for i in range(20)))
    assert api.gettoken_count == 1
    assert len(api.sent) == 20
    assert len({c.query["access_token"] for c in api.calls_to(SEND)}) == 1


async def test_token_is_refreshed_shortly_before_it_expires(time: FakeTime) -> None:
    async with wecom(time, token_ttl=7200) as (api, client):
        await client.send_text("a", "1")
        time.now += 7200 - 301  # still outside the 5-minute refresh margin
        await client.send_text("a", "2")
        assert api.gettoken_count == 1
        time.now += 2  # inside the margin: refresh before WeCom would reject it
        await client.send_text("a", "3")
        assert api.gettoken_count == 2


async def test_expired_token_mid_run_is_refreshed_once_and_message_still_sent(
    time: FakeTime,
) -> None:
    async with wecom(time) as (api, client):
        await client.send_text("a", "before")
        api.expire_token()
        await client.send_text("a", "after")
    assert api.gettoken_count == 2
    assert [m["text"]["content"] for m in api.sent] == ["before", "after"]
    assert len(api.calls_to(SEND)) == 3  # one rejected with 42001, then the retry
    assert time.delays == []  # token refresh is not a backoff


async def test_revoked_token_under_concurrency_triggers_a_single_refresh(
    time: FakeTime,
) -> None:
    async with wecom(time) as (api, client):
        await client.send_text("a", "warm-up")
        api.invalidate_token()
        await asyncio.gather(*(client.send_text(f"u{i}", "hi") for i in range(10)))
    assert api.gettoken_count == 2
    assert len(api.sent) == 11


async def test_a_second_token_error_in_one_call_is_raised_not_looped(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        api.fail_next(SEND, 42001, 42001)
        with pytest.raises(WeComApiError) as info:
            await client.send_text("a", "x")
    assert (info.value.errcode, info.value.retryable) == (42001, False)
    assert api.gettoken_count == 2 and api.sent == []


async def test_storm_of_45009_backs_off_exponentially_then_sends(time: FakeTime) -> None:
    async with wecom(time, base_delay=1.0) as (api, client):
        api.fail_next(SEND, 45009, 45009, 45009, 45009)
        await client.send_text("a", "eventually")
    # equal jitter with rng=0.5: 0.75 * (1, 2, 4, 8)
    assert time.delays == [0.75, 1.5, 3.0, 6.0]
    assert [m["text"]["content"] for m in api.sent] == ["eventually"]
    assert api.gettoken_count == 1


async def test_backoff_is_capped_at_max_delay(time: FakeTime) -> None:
    async with wecom(time, base_delay=1.0, max_delay=2.0, max_attempts=6) as (api, client):
        api.fail_next(SEND, *[45009] * 5)
        await client.send_text("a", "x")
    assert max(time.delays) <= 2.0 and len(time.delays) == 5


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
async def test_giving_up_after_max_attempts_raises_a_retryable_error(
    time: FakeTime, errcode: int
) -> None:
    async with wecom(time, max_attempts=3) as (api, client):
        api.fail_next(SEND, *[errcode] * 10)
        with pytest.raises(WeComApiError) as info:
            await client.send_text("a", "x")
    assert (info.value.errcode, info.value.retryable) == (errcode, True)
    assert len(api.calls_to(SEND)) == 3 and len(time.delays) == 2


async def test_http_5xx_is_retried_then_succeeds(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        api.fail_next_http(SEND, 500, times=2)
        await client.send_text("a", "x")
    assert len(time.delays) == 2 and len(api.sent) == 1


async def test_persistent_http_5xx_gives_up_with_the_status(time: FakeTime) -> None:
    async with wecom(time, max_attempts=2) as (api, client):
        api.fail_next_http(SEND, 503, times=5)
        with pytest.raises(WeComApiError) as info:
            await client.send_text("a", "x")
    assert (info.value.http_status, info.value.retryable) == (503, True)


async def test_timeout_is_retried(time: FakeTime) -> None:
    async with wecom(time, timeout=1.0) as (api, client):
        api.hang_next(SEND)
        await client.send_text("a", "x")
    assert len(time.delays) == 1 and len(api.sent) == 1


async def test_non_retryable_errcode_is_raised_immediately(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        api.fail_next(SEND, 81013)  # user/party/tag all invalid
        with pytest.raises(WeComApiError) as info:
            await client.send_text("ghost", "x")
    assert (info.value.errcode, info.value.retryable) == (81013, False)
    assert time.delays == [] and len(api.calls_to(SEND)) == 1


async def test_wrong_secret_fails_token_fetch_without_retrying(time: FakeTime) -> None:
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        client = WeComClient(
            session,
            base_url=api.base_url,
            corp_id=CORP_ID,
            secret="wrong",
            agent_id=AGENT_ID,
            sleep=time.sleep,
        )
        with pytest.raises(WeComApiError) as info:
            await client.send_text("a", "x")
    assert info.value.errcode == 40001 and api.calls_to(SEND) == []


async def test_token_fetch_backs_off_when_wecom_is_busy(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        api.fail_next("/cgi-bin/gettoken", -1)
        await client.send_text("a", "x")
    assert api.gettoken_count == 2 and len(time.delays) == 1 and len(api.sent) == 1


async def test_thirty_first_message_to_one_member_waits_for_the_window(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        for i in range(30):
            await client.send_text("ZhangSan", str(i))
        assert time.delays == []
        await client.send_text("LiSi", "other member is not limited")
        assert time.delays == []
        await client.send_text("ZhangSan", "30")
    assert time.delays == [60.0]
    assert len(api.sent) == 32


async def test_multi_member_send_counts_against_each_member(time: FakeTime) -> None:
    async with wecom(time) as (_, client):
        for _ in range(30):
            await client.send_text("A|B", "x")
        await client.send_text("B", "over")
    assert time.delays == [60.0]


async def test_media_download_returns_bytes_type_and_filename(time: FakeTime) -> None:
    data = bytes(range(256)) * 100
    async with wecom(time) as (api, client):
        api.media["MEDIA1"] = (data, "application/pdf", "evidence.pdf")
        assert await client.download_media("MEDIA1") == (data, "application/pdf", "evidence.pdf")
    (call,) = api.calls_to("/cgi-bin/media/get")
    assert call.query["media_id"] == "MEDIA1"


async def test_media_json_error_body_is_raised(time: FakeTime) -> None:
    async with wecom(time) as (_, client):
        with pytest.raises(WeComApiError) as info:
            await client.download_media("missing")
    assert info.value.errcode == 40007


async def test_media_download_survives_token_expiry(time: FakeTime) -> None:
    async with wecom(time) as (api, client):
        api.media["M"] = (b"\x89PNG", "image/png", "a.png")
        await client.get_token()
        api.expire_token()
        assert (await client.download_media("M"))[0] == b"\x89PNG"
    assert api.gettoken_count == 2


async def test_secret_and_tokens_never_reach_the_logs(
    time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    issued: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with wecom(time) as (api, client):
            api.fail_next("/cgi-bin/gettoken", 45009)
            await client.send_text("a", "x")
            issued.append(api.current_token or "")
            api.expire_token()
            api.fail_next_http(SEND, 500)
            api.fail_next(SEND, 45033)
            await client.send_text("a", "y")
            issued.append(api.current_token or "")
            api.fail_next(SEND, 40003)
            with pytest.raises(WeComApiError) as info:
                await client.send_text("a", "z")
    assert caplog.records  # the retries above were logged
    assert SECRET not in caplog.text
    assert all(token and token not in caplog.text for token in issued)
    assert SECRET not in str(info.value)
