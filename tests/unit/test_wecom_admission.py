"""Admission of WeCom deliveries: once per key, in order per person, bounded."""

from __future__ import annotations

import asyncio

import pytest

from bot.wecom.admission import Admission, Busy, Work


class Gate:
    """Work that records its start and waits until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    def work(self, name: str) -> Work:
        async def run() -> None:
            self.started.append(name)
            await self.release.wait()

        return run


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_retry_during_handling_waits_for_the_same_work_and_it_runs_once() -> None:
    admission, runs, release = Admission(), [], asyncio.Event()

    async def work() -> None:
        runs.append(1)
        await release.wait()

    first = asyncio.create_task(admission.run("msg:1", "zhang", work))
    await _settle()
    retry = asyncio.create_task(admission.run("msg:1", "zhang", work))
    await _settle()
    assert not retry.done()  # answered only when the first delivery's work has finished
    release.set()
    await asyncio.gather(first, retry)
    assert runs == [1]


async def test_a_retry_after_handling_is_answered_from_memory() -> None:
    admission, runs = Admission(), []

    async def work() -> None:
        runs.append(1)

    await admission.run("msg:1", "zhang", work)
    await admission.run("msg:1", "zhang", work)
    assert runs == [1]


async def test_a_retry_waiting_for_failed_work_gets_the_failure_and_the_next_one_runs_it() -> None:
    admission, runs, release = Admission(), [], asyncio.Event()

    async def fails_once() -> None:
        runs.append(1)
        await release.wait()
        if len(runs) == 1:
            raise ConnectionError("database away")

    first = asyncio.create_task(admission.run("msg:1", "zhang", fails_once))
    await _settle()
    retry = asyncio.create_task(admission.run("msg:1", "zhang", fails_once))
    await _settle()  # the retry is waiting for the first delivery's work
    release.set()
    for task in (first, retry):
        with pytest.raises(ConnectionError):
            await task
    await admission.run("msg:1", "zhang", fails_once)  # WeCom's next retry
    assert runs == [1, 1]


async def test_one_persons_deliveries_run_one_at_a_time_in_arrival_order() -> None:
    admission, log = Admission(concurrency=8), []

    def step(name: str) -> Work:
        async def run() -> None:
            log.append(f"{name}+")
            await asyncio.sleep(0.001)
            log.append(f"{name}-")

        return run

    await asyncio.gather(*(admission.run(f"msg:{n}", "zhang", step(str(n))) for n in range(4)))
    assert log == ["0+", "0-", "1+", "1-", "2+", "2-", "3+", "3-"]


async def test_a_flooding_person_cannot_take_every_slot() -> None:
    admission, gate = Admission(concurrency=2), Gate()
    flood = [
        asyncio.create_task(admission.run(f"msg:{n}", "flooder", gate.work(f"f{n}")))
        for n in range(5)
    ]
    await _settle()
    other = asyncio.create_task(admission.run("msg:x", "other", gate.work("o")))
    await _settle()
    assert gate.started == ["f0", "o"]
    gate.release.set()
    await asyncio.gather(*flood, other)


async def test_deliveries_beyond_the_backlog_are_refused_until_there_is_room() -> None:
    admission, gate = Admission(backlog=2), Gate()
    held = [
        asyncio.create_task(admission.run(f"msg:{n}", f"u{n}", gate.work(str(n))))
        for n in range(2)
    ]
    await _settle()
    with pytest.raises(Busy):
        await admission.run("msg:3", "u3", gate.work("3"))
    gate.release.set()
    await asyncio.gather(*held)
    await admission.run("msg:3", "u3", gate.work("3"))
    assert gate.started == ["0", "1", "3"]


async def test_work_goes_on_when_the_caller_hangs_up() -> None:
    admission, done = Admission(), asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.set()

    caller = asyncio.create_task(admission.run("msg:1", "zhang", work))
    await _settle()
    caller.cancel()
    await admission.drain()
    assert done.is_set() and admission.pending == 0
