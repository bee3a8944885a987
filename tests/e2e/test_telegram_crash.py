"""kill -9 of the real service (``xinfang run`` in a subprocess, polling the fake Bot API in
this process) during intake and during delivery, then a restart.

What holds, and is asserted here:

- The conversation state is committed with each update: after a kill the intake resumes
  at the step the bot had reached, and ends in exactly one case.
- An update whose change was committed is never applied twice (its update_id is recorded
  in the same transaction). Its reply, if the kill came between the commit and the send,
  is lost; the employee's next message continues from the committed step.
- No outbox row is lost: every row ends ``sent``. Delivery is at-least-once, and the window
  is exact: a status message is sent twice only when Telegram accepted it before the kill
  and its ``sent`` mark was not yet committed. The test records, at the moment of the kill,
  which chats had their message and which rows were marked, and asserts that the
  duplicates after the restart are exactly the difference (and no more than the worker's
  concurrency).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.container import build_container
from bot.keys import create_keys
from bot.settings import load_settings
from handlers.ports import CaseFilter, Contact, OutboxMessage
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_tracking_code, normalize_tracking_code
from tests.fakes.telegram_api import FakeBotApi
from tests.helpers.evidence import jpeg_with_gps

TOKEN = "123:CRASH"
ADMIN = -1001234
EMPLOYEE = 5551001
PUSHED = 7_000_000  # first chat of the seeded status pushes
ROWS = 40
DESCRIPTION = "三个月没有发加班费了，要求补发。"
NUMBER = re.compile(r"XF-\d{4}-\d{6}")
ROOT = Path(__file__).resolve().parents[2]
RUN = "from bot.cli import main; raise SystemExit(main(['run']))"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait for state the fake cannot wake us for (it changes inside the fake's handlers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Service:
    """``xinfang run`` in a subprocess against the fake; start, kill -9, restart."""

    def __init__(self, fake: FakeBotApi, data: Path) -> None:
        self.fake = fake
        self.data = data
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "XINFANG_DATA_DIR": str(data),
            "XINFANG_HTTP_PORT": "0",
            "XINFANG_LOG_LEVEL": "WARNING",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_ADMIN_CHAT_ID": str(ADMIN),
            "TELEGRAM_API_BASE_URL": fake.base_url,
        }
        for name in ("XINFANG_DATABASE_URL", "XINFANG_CONFIG", "TELEGRAM_WEBHOOK_URL"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def settings_env(self) -> dict[str, str]:
        return {k: v for k, v in self.env.items() if k.startswith(("XINFANG_", "TELEGRAM_"))}

    async def start(self) -> None:
        """Start the service and return once it polls for updates."""
        since = len(self.fake.calls)
        self.starts += 1
        log = (self.data / f"service-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, "-c", RUN], cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        # (The fake wakes its waiters when a call is answered; a long poll is not answered.)
        polls = lambda: any(c.method == "getUpdates" for c in self.fake.calls[since:])  # noqa: E731
        try:
            await eventually(polls, 20)
        except AssertionError:
            await self.kill()
            raise AssertionError(self.log_tail()) from None

    async def kill(self) -> None:
        """kill -9, and wait until the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait)

    async def stop(self) -> None:
        """SIGTERM: a clean stop (kill -9 if it takes too long)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 10)
        except TimeoutError:
            await self.kill()

    def log_tail(self) -> str:
        logs = sorted(self.data.glob("service-*.log"))
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs)


@contextlib.asynccontextmanager
async def service(tmp_path: Path, **fake_options: Any) -> AsyncIterator[Service]:
    async with FakeBotApi(token=TOKEN, **fake_options) as fake:
        fake.add_chat(ADMIN, "supergroup", title="信访办")
        svc = Service(fake, tmp_path / "data")
        svc.data.mkdir(parents=True)
        # As deployed: the keyring on the server, the custodian's private key elsewhere
        # (`xinfang run` refuses to serve channels next to a private key).
        create_keys(svc.data / "keys" / "keyring.json", tmp_path / "custodian.pem")
        try:
            yield svc
        finally:
            await svc.kill()


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def reply(fake: FakeBotApi, since: int, check: Callable[[list[dict[str, Any]]], bool]):  # type: ignore[no-untyped-def]
    await fake.wait_until(lambda: check(fake.sent_to(EMPLOYEE)[since:]), 10)
    return fake.sent_to(EMPLOYEE)[since:]


def offering(payload: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda ms: any(payload in buttons(m) for m in ms)


async def press(fake: FakeBotApi, payload: str, expect: Callable[[list[dict[str, Any]]], bool]):  # type: ignore[no-untyped-def]
    message = next(m for m in reversed(fake.sent_to(EMPLOYEE)) if payload in buttons(m))
    since = len(fake.sent_to(EMPLOYEE))
    fake.callback_query(EMPLOYEE, EMPLOYEE, payload, message["message_id"])
    return await reply(fake, since, expect)


async def say(fake: FakeBotApi, text: str, expect: Callable[[list[dict[str, Any]]], bool]):  # type: ignore[no-untyped-def]
    since = len(fake.sent_to(EMPLOYEE))
    fake.user_message(EMPLOYEE, EMPLOYEE, text)
    return await reply(fake, since, expect)


async def test_kill_during_intake_then_restart_resumes_the_intake(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        fake = svc.fake
        await svc.start()
        await say(fake, "/start", offering("menu:new"))
        await press(fake, "menu:new", offering("cat:pay"))
        await press(fake, "cat:pay", bool)

        # The description is committed (state → evidence), then its reply hangs: kill -9.
        fake.slow_next("sendMessage", 30.0)
        before = len(fake.sent_to(EMPLOYEE))
        fake.user_message(EMPLOYEE, EMPLOYEE, DESCRIPTION)
        await eventually(lambda: not fake._slow.get("sendMessage"))  # the reply is in flight
        await svc.kill()
        assert len(fake.sent_to(EMPLOYEE)) == before  # that reply is lost with the process

        # Restart: the update is not applied again; the intake goes on at the evidence step.
        await svc.start()
        since = len(fake.sent_to(EMPLOYEE))
        fake.user_photo(EMPLOYEE, EMPLOYEE, jpeg_with_gps())
        await reply(fake, since, offering("ev:done"))
        await press(fake, "ev:done", offering("anon:yes"))
        await press(fake, "anon:yes", offering("up:push"))
        await press(fake, "up:push", offering("rv:submit"))
        [confirmation, *_] = await press(
            fake, "rv:submit", lambda ms: any(NUMBER.search(m.get("text", "")) for m in ms)
        )
        number = NUMBER.search(confirmation["text"]).group(0)  # type: ignore[union-attr]
        # The case card reaches the admin chat once.
        await fake.wait_until(lambda: any(number in t for t in fake.texts_to(ADMIN)), 10)
        await svc.stop()

        texts = fake.texts_to(ADMIN)
        assert sum(number in t for t in texts) == 1, texts

    container = await build_container(load_settings(svc.settings_env), migrate=False)
    try:
        async with container.uow() as uow:
            [case] = await uow.cases.list(CaseFilter())
            attachments = await uow.attachments.list(case.id)  # type: ignore[arg-type]
            outbox = await uow.outbox.counts()
        assert case.number == number and case.description == DESCRIPTION
        assert len(attachments) == 1
        assert outbox == {"sent": 1}
    finally:
        await container.close()


async def _seed_pushes(env: dict[str, str]) -> dict[int, int]:
    """ROWS cases of distinct Telegram employees, each with one status push queued."""
    container = await build_container(load_settings(env))
    now = datetime.now(UTC)
    chats: dict[int, int] = {}
    try:
        async with container.uow() as uow:
            for i in range(ROWS):
                case = Case(
                    category=Category.PAY,
                    description=DESCRIPTION,
                    channel="telegram",
                    anonymous=True,
                    locale="zh_CN",
                    created_at=now,
                    updated_at=now,
                )
                code = normalize_tracking_code(generate_tracking_code())
                await uow.cases.add(case, code, Contact("telegram", str(PUSHED + i)), None)
                assert case.id is not None
                payload = {"locale": "zh_CN", "number": case.number, "state": "accepted"}
                await uow.outbox.add(
                    OutboxMessage("employee", "telegram", "status", payload, now, case.id)
                )
                chats[case.id] = PUSHED + i
            await uow.commit()
    finally:
        await container.close()
    return chats


async def _sent_rows(env: dict[str, str]) -> tuple[set[int], dict[str, int]]:
    container = await build_container(load_settings(env), migrate=False)
    try:
        async with container.uow() as uow:
            sent = set()
            for case_id in range(1, ROWS + 1):
                rows = await uow.outbox.for_case(case_id)
                sent |= {case_id for row in rows if row.status == "sent"}
            return sent, await uow.outbox.counts()
    finally:
        await container.close()


async def test_kill_during_delivery_loses_no_row_and_repeats_only_the_unmarked(
    tmp_path: Path,
) -> None:
    # Each Bot API call takes 150 ms, so several pushes are in flight at the kill.
    async with service(tmp_path, latency=0.15) as svc:
        fake = svc.fake
        chats = await _seed_pushes(svc.settings_env)

        def delivered() -> list[int]:
            return [chat for chat, _ in fake.sent if isinstance(chat, int) and chat >= PUSHED]

        await svc.start()
        await fake.wait_until(lambda: len(delivered()) >= ROWS // 3, 15)
        await svc.kill()
        await asyncio.sleep(0.3)  # requests the dead process left in flight settle
        before = set(delivered())
        marked, counts = await _sent_rows(svc.settings_env)
        marked_chats = {chats[case_id] for case_id in marked}
        assert marked_chats <= before  # a row is marked only after Telegram accepted it
        window = before - marked_chats  # accepted, not yet marked: these go out again
        assert 0 < len(before) < ROWS, "the kill came too late to test anything"
        assert counts.get("pending", 0) == ROWS - len(marked)

        await svc.start()
        await fake.wait_until(lambda: set(delivered()) == set(chats.values()), 20)
        await eventually(lambda: len(delivered()) >= ROWS + len(window), 10)
        await svc.stop()

        sent = delivered()
        twice = {chat for chat in set(sent) if sent.count(chat) > 1}
        assert twice == window, (sorted(twice), sorted(window))
        assert all(sent.count(chat) <= 2 for chat in sent)
        assert len(window) <= 16  # at most one pass's concurrency in flight
        assert fake.flood_violations == 0, fake.flood_log
    marked, counts = await _sent_rows(svc.settings_env)
    assert counts == {"sent": ROWS}
    assert len(marked) == ROWS


async def test_an_update_fetched_but_not_yet_handled_at_the_kill_is_handled_after_restart(
    tmp_path: Path,
) -> None:
    async with service(tmp_path) as svc:
        fake = svc.fake
        await svc.start()
        await say(fake, "/start", offering("menu:new"))
        await press(fake, "menu:new", offering("cat:pay"))
        await press(fake, "cat:pay", bool)
        await say(fake, DESCRIPTION, offering("ev:done"))
        # The photo's download hangs: the update is fetched, not handled, when the kill comes.
        fake.slow_next("getFile", 30.0)
        photo = fake.user_photo(EMPLOYEE, EMPLOYEE, jpeg_with_gps())
        await eventually(lambda: not fake._slow.get("getFile"))

        def confirmed() -> bool:  # a later getUpdates told Telegram the photo arrived
            offsets = [c.params.get("offset") for c in fake.calls_to("getUpdates")]
            return any(o is not None and int(o) > photo["update_id"] for o in offsets)

        await eventually(confirmed)
        await svc.kill()
        since = len(fake.sent_to(EMPLOYEE))
        await svc.start()
        await fake.wait_until(lambda: len(fake.sent_to(EMPLOYEE)) > since, 10)
        await asyncio.sleep(0.5)  # a second handling would answer again by now
        await svc.stop()
        after = fake.sent_to(EMPLOYEE)[since:]
        assert len(after) == 1, after  # handled once: one "evidence received" answer
        assert any(
            b.get("callback_data") == "ev:done"
            for row in (after[0].get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        ), after[0]
