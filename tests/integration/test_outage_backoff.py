"""While the database is down the delivery worker and the scheduler log one line per
burst of failures, back off instead of retrying every half second, keep beating their
heartbeats, and log one line when they work again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.container import Container
from bot.delivery import DeliveryWorker
from bot.scheduler import Scheduler


class FlakyUnitOfWork:
    """A unit-of-work factory whose every use fails while ``down`` (the database is gone)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.down = True
        self.attempts = 0

    def __call__(self) -> Any:
        self.attempts += 1
        if self.down:
            return _Refused()
        return self.real()


class _Refused:
    async def __aenter__(self) -> Any:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def __aexit__(self, *exc: object) -> None:
        return None


def bot_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name and r.levelno >= logging.INFO]


async def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_delivery_worker_backs_off_and_logs_one_line_per_outage(
    container: Container, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot.delivery")
    uow = FlakyUnitOfWork(container.uow)
    worker = DeliveryWorker(
        uow,  # type: ignore[arg-type]
        container.translator.t,
        {},
        container.services.clock,
        poll_interval=0.01,
        backoff_cap=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        worker.wake()  # new updates arriving must not bring the next try forward
        await asyncio.sleep(0.01)
    # Without backoff: one try per 10 ms poll (and more with the wakes), about 150.
    assert 3 <= uow.attempts <= 20, uow.attempts
    assert worker.burst.failures == uow.attempts
    assert not worker.heartbeat.stale(factor=3, slack=0.5)
    lines = bot_lines(caplog, "bot.delivery")
    assert len(lines) == 1
    assert "delivery pass failed: ConnectionRefusedError" in lines[0].getMessage()
    assert lines[0].exc_info is None  # one line, no traceback
    failures = uow.attempts
    uow.down = False
    await wait_for(lambda: len(bot_lines(caplog, "bot.delivery")) == 2)
    assert f"delivery pass works again after {failures}" in caplog.records[-1].getMessage()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not worker.burst.failing


async def test_the_scheduler_retries_a_failed_pass_with_backoff_and_one_line_per_burst(
    container: Container, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    uow = FlakyUnitOfWork(container.uow)
    scheduler = Scheduler(
        uow,  # type: ignore[arg-type]
        container.services,
        container.services.clock,
        interval=0.4,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(1.5)
    assert scheduler.burst.failing and scheduler.last_pass_at is None
    lines = bot_lines(caplog, "bot.scheduler")
    assert [r.getMessage().split(":")[0] for r in lines] == ["scheduler pass failed"]
    uow.down = False
    await wait_for(lambda: scheduler.last_pass_at is not None)
    assert "scheduler pass works again after" in bot_lines(caplog, "bot.scheduler")[-1].message
    assert scheduler.last_pass_seconds is not None
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_row_sent_just_before_the_database_went_away_is_recorded_later_not_sent_again(
    container: Container, monkeypatch: pytest.MonkeyPatch
):
    import bot.delivery
    from tests.helpers.chat import ChatUser
    from tests.helpers.flow import file_petition

    monkeypatch.setattr(bot.delivery, "RECORD_RETRY_FIRST", 0.01, raising=False)
    await file_petition(container, ChatUser(container.handlers, chat_id="7001", sender_id="7001"))
    uow = FlakyUnitOfWork(container.uow)
    uow.down = False
    sent: list[object] = []

    class GoesDownAfterSending:
        channel = "telegram"

        async def send(self, delivery: object) -> None:
            sent.append(delivery)
            uow.down = True  # the send went out; the database goes away before the record

            async def back() -> None:
                await asyncio.sleep(0.1)
                uow.down = False

            asyncio.get_running_loop().create_task(back())

    worker = DeliveryWorker(
        uow,  # type: ignore[arg-type]
        container.translator.t,
        {"telegram": GoesDownAfterSending()},
        container.services.clock,
    )
    assert await worker.run_once() >= 1
    attempted = len(sent)
    assert attempted >= 1 and worker.stats.sent == attempted
    # Nothing is left pending to be sent a second time.
    assert await worker.run_once() == 0
    assert len(sent) == attempted
