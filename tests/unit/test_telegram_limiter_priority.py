"""SendLimiter and TelegramRateLimiter: how the budget is counted, how pushes yield to
interactive replies (only when those wait for the overall budget, not for their own chat's
1 message/s), and which failed sends are retried here."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram import SendLimiter
from bot.telegram.limiter import PUSH, TelegramRateLimiter, _transient


def limiter() -> tuple[SendLimiter, list[float]]:
    now = [1000.0]

    async def sleep(_seconds: float) -> None:
        await asyncio.sleep(0)  # time stands still: a waiter keeps waiting

    return SendLimiter(clock=lambda: now[0], sleep=sleep), now


async def test_a_reply_waiting_for_its_own_chat_does_not_hold_back_pushes() -> None:
    lim, _ = limiter()
    lim.release(await lim.acquire(5, interactive=True))
    second = asyncio.create_task(lim.acquire(5, interactive=True))  # 1 s per private chat
    await asyncio.sleep(0.01)
    assert not second.done()
    push = await asyncio.wait_for(lim.acquire(7, interactive=False), 0.5)
    lim.release(push)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert lim._interactive_waiting == 0


async def test_a_reply_waiting_for_the_overall_budget_goes_before_pushes() -> None:
    lim, _ = limiter()
    for chat in range(1, 31):  # 30 sends in flight: the overall budget is used up
        await lim.acquire(chat, interactive=True)
    reply = asyncio.create_task(lim.acquire(100, interactive=True))
    await asyncio.sleep(0.01)
    assert not reply.done() and lim._interactive_waiting == 1
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(lim.acquire(200, interactive=False), 0.05)
    reply.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reply
    assert lim._interactive_waiting == 0


def ticking() -> tuple[SendLimiter, list[float]]:
    """A limiter whose sleep moves the clock on by exactly what was asked."""
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    return SendLimiter(clock=lambda: now[0], sleep=sleep), now


async def test_the_overall_budget_counts_a_send_from_its_start_not_its_answer() -> None:
    lim, now = ticking()
    slots = [await lim.acquire(chat, interactive=True) for chat in range(1, 31)]
    now[0] += 0.5  # Telegram answers half a second later
    for slot in slots:
        lim.release(slot)
    await lim.acquire(31, interactive=True)
    assert now[0] == pytest.approx(1000.0 + 1.0 + lim.limits.margin)


async def test_a_private_chat_counts_its_last_message_from_the_answer() -> None:
    lim, now = ticking()
    slot = await lim.acquire(5, interactive=True)
    now[0] += 0.5
    lim.release(slot)
    await lim.acquire(5, interactive=True)
    assert now[0] == pytest.approx(1000.5 + 1.0 + lim.limits.margin)


async def test_pushes_start_evenly_spaced_and_leave_the_reserve_to_replies() -> None:
    lim, now = ticking()
    starts = []
    for chat in range(1, 41):
        lim.release(await lim.acquire(chat, interactive=False))
        starts.append(now[0])
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= lim.limits.push_spacing - 1e-9
    in_one_window = [t for t in starts if t < starts[0] + 1.0 + lim.limits.margin - 1e-6]
    budget = lim.limits.overall_per_second - lim.limits.push_reserve
    assert len(in_one_window) == budget
    # A reply still finds its slot at once, in the same window the pushes filled.
    before = now[0]
    await lim.acquire(99, interactive=True)
    assert now[0] == before


def failing(errors: list[Exception]) -> tuple[Any, list[int]]:
    """A Bot API call that raises the given errors in turn, then succeeds."""
    calls = [0]

    async def call() -> dict[str, Any]:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return {"message_id": 1}

    return call, calls


async def send(rl: TelegramRateLimiter, call: Any, *, push: bool) -> Any:
    return await rl.process_request(
        call, (), {}, "sendMessage", {"chat_id": 5}, PUSH if push else None
    )


async def test_an_interactive_reply_is_retried_after_server_errors_with_backoff() -> None:
    lim, now = ticking()
    rl = TelegramRateLimiter(lim)
    call, calls = failing([NetworkError("Bad Gateway"), TimedOut()])
    assert await send(rl, call, push=False) == {"message_id": 1}
    assert calls[0] == 3
    # 0.5 s then 1 s of backoff; the last try also waited for chat 5's 1 s interval.
    assert now[0] - 1000.0 >= 1.5


async def test_an_interactive_reply_gives_up_after_three_retries() -> None:
    lim, _ = ticking()
    call, calls = failing([NetworkError("Bad Gateway") for _ in range(10)])
    with pytest.raises(NetworkError):
        await send(TelegramRateLimiter(lim), call, push=False)
    assert calls[0] == 4


@pytest.mark.parametrize(
    ("error", "push"),
    [(NetworkError("Bad Gateway"), True), (BadRequest("Message is too long"), False)],
)
async def test_pushes_and_bad_requests_are_not_retried_here(error: Exception, push: bool) -> None:
    lim, _ = ticking()
    call, calls = failing([error])
    with pytest.raises(type(error)):
        await send(TelegramRateLimiter(lim), call, push=push)
    assert calls[0] == 1  # a push goes back to the outbox; a bad request would fail again


async def test_a_slow_send_counts_from_when_it_may_have_reached_telegram() -> None:
    lim, now = ticking()
    lim.release(await lim.acquire(1, interactive=True))  # answered at once: usual RTT 0
    now[0] += 5.0
    start = now[0]
    slots = [await lim.acquire(chat, interactive=True) for chat in range(2, 32)]
    now[0] += 0.3  # a slow answer (say, new connections): up to 0.3 s later at Telegram
    for slot in slots:
        lim.release(slot)
    await lim.acquire(99, interactive=True)
    assert now[0] == pytest.approx(start + 0.3 + 1.0 + lim.limits.margin)


async def test_a_send_still_in_flight_keeps_its_place_in_the_window() -> None:
    lim, now = ticking()
    for chat in range(1, 31):
        await lim.acquire(chat, interactive=True)  # never answered
    waiting = asyncio.create_task(lim.acquire(99, interactive=True))
    await asyncio.sleep(0.05)  # the ticking clock runs on meanwhile
    assert now[0] > 1000.0 + 2.0 and not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


def _wrapped(cause: BaseException) -> NetworkError:
    error = NetworkError(f"wrapped {cause!r}")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TimedOut(), True),
        (NetworkError("Bad Gateway"), True),  # an HTTP 5xx
        (_wrapped(aiohttp.ServerDisconnectedError()), True),  # raised by our transport
        (NetworkError("Request Entity Too Large"), False),  # 413: would fail again
        (_wrapped(RuntimeError("This AiohttpRequest is not initialized!")), False),
        (BadRequest("Message is too long"), False),
    ],
)
def test_which_network_errors_are_retried(error: NetworkError, retried: bool) -> None:
    assert _transient(error) is retried
