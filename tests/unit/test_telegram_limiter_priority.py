"""SendLimiter: pushes yield to interactive replies only when those wait for the overall
budget, not when a reply waits for its own chat's 1 message/s."""

from __future__ import annotations

import asyncio

import pytest

from bot.telegram import SendLimiter


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
