"""The wait of a callback for the person's earlier one on another worker (bot/wecom/order.py)."""

from __future__ import annotations

from bot.wecom.order import WAIT_FIRST, WAIT_MAX, Waiting


def test_the_wait_backs_off_to_a_ceiling() -> None:
    waiting = Waiting(lambda: 0.0)
    delays = [waiting.next_delay() for _ in range(10)]
    assert delays[0] == WAIT_FIRST
    assert delays == sorted(delays)
    assert max(delays) == WAIT_MAX


def test_the_earlier_callbacks_are_taken_over_once_the_takeover_time_has_passed() -> None:
    now = [100.0]
    waiting = Waiting(lambda: now[0], takeover=10.0)
    assert not waiting.take_over()
    now[0] = 109.9
    assert not waiting.take_over()
    now[0] = 110.0
    assert waiting.take_over()
