"""A burst of failures is one log line when it starts and one when it ends, with an
exponentially growing, capped wait in between (bot/backoff.py), on a fake clock."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.backoff import FailureBurst, describe, while_unreachable

LOGGER = "tests.burst"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def burst(clock: Clock, **kw: float) -> FailureBurst:
    options = {"base": 0.5, "cap": 10.0, **kw}
    return FailureBurst(
        logging.getLogger(LOGGER), "delivery pass", clock=clock, rng=lambda: 1.0, **options
    )


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= level]


def test_a_burst_of_failures_logs_one_line_then_one_line_when_it_recovers(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    b = burst(clock)
    for _ in range(135):
        b.failed(ConnectionRefusedError(111, "Connect call failed"))
        clock.now += 0.5
    assert b.failing and b.failures == 135
    assert len(lines(caplog)) == 1
    assert "delivery pass failed: ConnectionRefusedError" in lines(caplog)[0]
    clock.now += 2.5
    b.succeeded()
    assert not b.failing
    assert lines(caplog)[1] == "delivery pass works again after 135 failures, 70 s"
    assert len(lines(caplog)) == 2


def test_the_traceback_is_written_once_per_burst_and_only_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = Clock()
    b = burst(clock)
    for _ in range(2):  # two bursts
        for _ in range(5):
            try:
                raise OSError("database is down")
            except OSError as exc:
                b.failed(exc)
        b.succeeded()
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 2
    assert all(r.levelno == logging.DEBUG for r in with_traceback)
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)


def test_the_wait_doubles_from_the_base_up_to_the_cap():
    clock = Clock()
    b = burst(clock)
    waits = [b.failed(RuntimeError("x")) for _ in range(8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    b.succeeded()
    assert b.delay() == 0.5  # a new burst starts from the base again


def test_the_wait_is_jittered_between_half_and_all_of_it():
    b = FailureBurst(logging.getLogger(LOGGER), "x", base=4.0, cap=4.0, rng=lambda: 0.0)
    assert b.failed(RuntimeError("x")) == 2.0


def test_a_burst_with_a_settle_time_ends_only_after_that_long_without_failures(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    b = burst(clock, settle=60.0)
    for _ in range(10):  # one recipient fails on every pass while others succeed
        b.failed(RuntimeError("bad row"))
        clock.now += 1
        b.succeeded()
    assert b.failing and len(lines(caplog)) == 1
    clock.now += 60
    b.succeeded()
    assert not b.failing
    assert "works again after 10 failures" in lines(caplog)[1]


def test_a_success_outside_a_burst_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    b = burst(Clock())
    b.succeeded()
    assert lines(caplog, logging.DEBUG) == []


def test_an_sqlalchemy_error_is_described_without_its_sql_or_parameters():
    error = OperationalError(
        "SELECT * FROM cases WHERE tracking_index = ?", ("secret-index",), OSError("gone\nmore")
    )
    text = describe(error)
    assert text == "OperationalError (OSError): gone"
    assert "secret-index" not in text and "SELECT" not in text


def test_a_long_message_is_cut_to_one_short_line():
    text = describe(ValueError("x" * 500 + "\nsecond line"))
    assert len(text) < 230 and "\n" not in text and text.endswith("…")


# -- while_unreachable: work that must not be dropped, tried again while the database is away


class _Flaky:
    """Fails with ``error`` the first ``times`` calls, then returns "done"."""

    def __init__(self, error: Exception, times: int) -> None:
        self.error, self.times, self.calls = error, times, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return "done"


async def test_while_unreachable_waits_doubling_up_to_the_cap_until_the_database_is_back():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    work = _Flaky(OperationalError("connect", None, ConnectionRefusedError()), 5)
    seen: list[int] = []
    result = await while_unreachable(
        work, lambda _e, n: seen.append(n) is None, first=0.5, cap=3.0, sleep=sleep
    )
    assert result == "done" and work.calls == 6
    assert slept == [0.5, 1.0, 2.0, 3.0, 3.0] and seen == [1, 2, 3, 4, 5]


async def test_while_unreachable_raises_other_errors_and_gives_up_when_told():
    async def no_sleep(_seconds: float) -> None:
        return None

    refused = _Flaky(IntegrityError("INSERT", None, Exception("duplicate key")), 1)
    with pytest.raises(IntegrityError):
        await while_unreachable(refused, lambda _e, _n: True, sleep=no_sleep)
    assert refused.calls == 1  # a refused statement is not the database being away

    away = _Flaky(ConnectionRefusedError(), 10)
    with pytest.raises(ConnectionRefusedError):
        await while_unreachable(away, lambda _e, n: n < 3, sleep=no_sleep)
    assert away.calls == 3
