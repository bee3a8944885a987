"""Webhook mode with two worker processes (``xinfang run``) on one PostgreSQL.

The test plays Telegram against both workers' ``POST /telegram/webhook``:

- the updates of one chat go one after another (the next only once the previous was
  answered 200), different chats at the same time;
- consecutive updates of a chat alternate between the two workers;
- some updates are posted to the *other* worker as well, at the same moment (a retry
  racing the first delivery), some again after their 200 (a late redelivery, running
  alongside the chat's next update), some both. The chat's next update waits for the
  answers of both racing deliveries: a duplicate is answered 200 once the other worker
  has *committed* the update, possibly before that worker has sent its replies, so
  moving on at the first 200 could let the next update's reply overtake them (the state
  stays in order either way).

Each chat files an anonymous petition whose description is built from several messages
(text in the evidence step is appended to the description), plus one photo, so a lost,
repeated or reordered update shows in the stored case. Asserted: one case per chat with
exactly the expected description and one attachment; each update's replies arrive before
its 200, in order, and duplicates send nothing; every update is recorded once in
processed_updates; every extra delivery was recognised as a duplicate by one of the
workers; both workers handled updates; the case cards reach the admin chat once.

Which process made a Bot API call is told by the token in its URL: the workers run with
different tokens of the same bot (the fake answers any token, and the product uses the
token for nothing but the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.container import Container, build_container
from bot.settings import load_settings
from handlers.ports import CaseFilter
from petitions.case import Case
from storage.models import ProcessedUpdateRow
from storage.vault import Keyring
from tests.fakes.telegram_api import FakeBotApi
from tests.helpers.evidence import jpeg_with_gps

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("XINFANG_TEST_PG_URL")  # as in tests/conftest.py
REQUIRE_PG = os.environ.get("XINFANG_REQUIRE_PG") == "1"

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
RUN = "from bot.cli import main; raise SystemExit(main(['run']))"
ADMIN = -1001234
SECRET = "webhook-s3cret"
CHATS = [5_560_001 + i for i in range(8)]
NUMBER = re.compile(r"XF-\d{4}-\d{6}")
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
SKIPPED = "duplicate telegram update skipped"  # logged by bot/telegram/adapter.py
POST_TIMEOUT = 30.0  # one webhook request, handling included


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL: the workers are separate processes sharing one database."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("XINFANG_REQUIRE_PG=1 but XINFANG_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured (set XINFANG_TEST_PG_URL)")
    return "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Worker:
    """One ``xinfang run`` process in webhook mode."""

    name: str
    token: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    def start(self, env: dict[str, str]) -> None:
        env = {**env, "TELEGRAM_BOT_TOKEN": self.token, "XINFANG_HTTP_PORT": str(self.port)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RUN], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    async def stop(self) -> None:
        """SIGTERM, then kill -9 if the process does not end within 10 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.asynccontextmanager
async def workers(
    fake: FakeBotApi, env: dict[str, str], data: Path
) -> AsyncIterator[tuple[Worker, Worker]]:
    """Start two workers on the shared database; yield once both take webhook requests."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("XINFANG_", "TELEGRAM_"))}
    base.update(env)
    base.update(
        {
            "PYTHONPATH": str(ROOT),
            "XINFANG_LOG_LEVEL": "INFO",
            "XINFANG_HTTP_HOST": "127.0.0.1",
            "TELEGRAM_ADMIN_CHAT_ID": str(ADMIN),
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
    )
    pair = (
        Worker("A", f"{fake.bot_id}:WORKER-A", _free_port(), data / "worker-a.log"),
        Worker("B", f"{fake.bot_id}:WORKER-B", _free_port(), data / "worker-b.log"),
    )
    try:
        for worker in pair:
            worker.start(base)

        def ready(worker: Worker) -> bool:
            if worker.proc is not None and worker.proc.poll() is not None:
                raise AssertionError(f"worker {worker.name} exited:\n{worker.text()[-3000:]}")
            return any(
                c.method == "setWebhook" and c.token == worker.token and c.status == 200
                for c in fake.calls
            )

        try:
            await _until(lambda: all(ready(w) for w in pair), 30, "both workers to start")
        except AssertionError as error:
            logs = "\n".join(f"--- {w.name}\n{w.text()[-2000:]}" for w in pair)
            raise AssertionError(f"{error}\n{logs}") from None
        # The test posts every update itself, so the fake must not deliver to the URL.
        fake.webhook_url = None
        yield pair
    finally:
        for worker in pair:
            await worker.stop()


@dataclass
class Step:
    """One update of a chat and what its replies must look like."""

    name: str
    build: Callable[[], JSON]
    check: Callable[[list[JSON]], bool]
    replies: int  # messages the bot sends for it when it is delivered once


@dataclass
class Telegram:
    """Plays Telegram: posts updates to the workers and records what it posted."""

    fake: FakeBotApi
    workers: tuple[Worker, Worker]
    posts: dict[int, int] = field(default_factory=dict)  # update_id → times posted
    late: list[asyncio.Task[None]] = field(default_factory=list)

    async def post(self, worker: Worker, update: JSON) -> None:
        uid = update["update_id"]
        self.posts[uid] = self.posts.get(uid, 0) + 1
        status = await asyncio.wait_for(
            self.fake.post_webhook(worker.url, update, SECRET), POST_TIMEOUT
        )
        assert status == 200, (worker.name, uid, status)

    def queued(self, make: Callable[[], JSON]) -> JSON:
        """Build an update with the fake's helpers without letting the fake deliver it."""
        update = make()
        self.fake._updates.clear()
        return update


def buttons(message: JSON) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def offering(payload: str) -> Callable[[list[JSON]], bool]:
    return lambda ms: any(payload in buttons(m) for m in ms)


def description(i: int) -> tuple[str, list[str]]:
    """The first message of chat i's description and the parts added in order."""
    first = f"第{i}号员工：三个月没有发加班费了，车间主任说没有预算。"
    return first, [f"第{i}号补充一：要求补发全部加班费。", f"第{i}号补充二：并说明原因。"]


def steps(tg: Telegram, i: int) -> list[Step]:
    fake, chat = tg.fake, CHATS[i]
    first, parts = description(i)

    def text(body: str) -> Callable[[], JSON]:
        return lambda: tg.queued(lambda: fake.user_message(chat, chat, body))

    def press(payload: str) -> Callable[[], JSON]:
        def build() -> JSON:
            message = next(m for m in reversed(fake.sent_to(chat)) if payload in buttons(m))
            return tg.queued(
                lambda: fake.callback_query(chat, chat, payload, message["message_id"])
            )

        return build

    # A real photo (each chat's its own size), so that it is cleaned and stored at once.
    image = jpeg_with_gps(size=(60 + i, 40))
    photo = lambda: tg.queued(lambda: fake.user_photo(chat, chat, image))  # noqa: E731
    has_code = lambda ms: any(CODE.search(str(m.get("text", ""))) for m in ms)  # noqa: E731
    return [
        Step("start", text("/start"), offering("menu:new"), 1),
        Step("menu", press("menu:new"), offering("cat:pay"), 1),
        Step("category", press("cat:pay"), bool, 1),
        Step("description", text(first), offering("ev:done"), 1),
        Step("part 1", text(parts[0]), offering("ev:done"), 2),
        Step("photo", photo, offering("ev:done"), 1),
        Step("part 2", text(parts[1]), offering("ev:done"), 2),
        Step("evidence done", press("ev:done"), offering("anon:yes"), 1),
        Step("anonymous", press("anon:yes"), offering("up:push"), 1),
        Step("updates", press("up:push"), offering("rv:submit"), 1),
        Step("submit", press("rv:submit"), has_code, 1),
    ]


# How each update is delivered, cycled over chats and steps so every step of the intake is
# duplicated in some chats: once; plus a retry to the other worker racing the original;
# plus a late redelivery after the 200; or both.
PLANS = ("once", "race", "late", "race+late")


async def converse(tg: Telegram, i: int, trace: list[str]) -> None:
    chat = CHATS[i]
    fake = tg.fake
    for k, step in enumerate(steps(tg, i)):
        first = tg.workers[(i + k) % 2]  # consecutive updates alternate between workers
        other = tg.workers[(i + k + 1) % 2]
        # Every step gets every plan (two chats each), once with each worker first: with
        # (i + 3k) the plans followed the worker's parity, so worker A took every single
        # delivery and B only what it won in races.
        plan = PLANS[(i // 2 + k) % len(PLANS)]
        since = len(fake.sent_to(chat))
        update = step.build()
        if plan.startswith("race"):
            await asyncio.gather(tg.post(first, update), tg.post(other, update))
        else:
            await tg.post(first, update)
        # Replies go out before the 200, so they are all here now.
        new = fake.sent_to(chat)[since:]
        trace.append(f"{chat} {step.name} {plan} via {first.name}: {len(new)} replies")
        assert step.check(new), (chat, step.name, plan, [m.get("text") for m in new])
        assert len(new) == step.replies, (chat, step.name, plan, [m.get("text") for m in new])
        if plan.endswith("late"):
            # Redelivered while the chat goes on: alternately to the worker that will take
            # the chat's next update and to the one that handled this one.
            again = other if i % 2 else first
            tg.late.append(asyncio.create_task(tg.post(again, update)))


async def _processed_keys(container: Container) -> tuple[int, set[str]]:
    async with container.uow() as uow:
        rows = (await uow.session.execute(select(ProcessedUpdateRow.key_index))).scalars().all()
        count = await uow.session.execute(select(func.count()).select_from(ProcessedUpdateRow))
        return int(count.scalar_one()), set(rows)


async def test_two_webhook_workers_handle_interleaved_and_duplicated_updates_once_in_order(
    env: dict[str, str], keys: tuple[Keyring, Path], tmp_path: Path
) -> None:
    settings = load_settings({**env, "TELEGRAM_ADMIN_CHAT_ID": str(ADMIN)})
    container = await build_container(settings, keyring=keys[0])  # migrates the database
    trace: list[str] = []
    try:
        async with FakeBotApi(token="123:TEST") as fake:
            fake.add_chat(ADMIN, "supergroup", title="信访办")
            async with workers(fake, env, tmp_path) as pair:
                tg = Telegram(fake, pair)
                try:
                    await asyncio.wait_for(
                        asyncio.gather(*(converse(tg, i, trace) for i in range(len(CHATS)))),
                        90,
                    )
                    await asyncio.wait_for(asyncio.gather(*tg.late), POST_TIMEOUT)
                finally:
                    for task in tg.late:
                        task.cancel()

                # No reply for any duplicate: exactly the single-delivery replies per chat.
                expected = sum(s.replies for s in steps(tg, 0))
                for chat in CHATS:
                    sends = [
                        c
                        for c in fake.calls_to("sendMessage")
                        if c.params.get("chat_id") == chat and c.status == 200
                    ]
                    assert len(sends) == expected, (chat, len(sends), trace)

                # Both workers handled updates (the token tells which process sent a reply).
                by_worker = {
                    w.name: sum(
                        1
                        for c in fake.calls
                        if c.method == "sendMessage"
                        and c.token == w.token
                        and c.params.get("chat_id") in CHATS
                    )
                    for w in pair
                }
                total = expected * len(CHATS)
                assert all(n >= total // 4 for n in by_worker.values()), by_worker

                # The case cards reach the admin chat once each (the leader delivers them).
                async def delivered() -> dict[str, int]:
                    async with container.uow() as uow:
                        return await uow.outbox.counts()

                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while (counts := await delivered()).keys() != {"sent"}:
                    assert loop.time() < deadline, counts
                    await asyncio.sleep(0.1)
                admin_texts = fake.texts_to(ADMIN)
            logs = {w.name: w.text() for w in pair}  # complete: the workers have stopped

        # Every extra delivery was skipped as a duplicate by exactly one worker; no failures.
        extra = sum(n - 1 for n in tg.posts.values())
        skipped = {name: text.count(SKIPPED) for name, text in logs.items()}
        assert sum(skipped.values()) == extra, (skipped, extra)
        for name, text in logs.items():
            assert "telegram update failed" not in text, text[-3000:]
            assert "Traceback" not in text, text[-3000:]

        async with container.uow() as uow:
            cases = await uow.cases.list(CaseFilter())
            by_chat: dict[int, Case] = {}
            for case in cases:
                assert case.id is not None
                contact = await uow.cases.contact(case.id)
                assert contact is not None and contact.channel == "telegram"
                assert int(contact.chat_id) not in by_chat, "two cases from one chat"
                by_chat[int(contact.chat_id)] = case
                assert len(await uow.attachments.list(case.id)) == 1, case.number
        assert sorted(by_chat) == CHATS
        for i, chat in enumerate(CHATS):
            first, parts = description(i)
            case = by_chat[chat]
            # Every text applied once, in the order sent.
            assert case.description == "\n".join([first, *parts]), case.description
            assert case.anonymous and case.number is not None
            # One card per case (other cases' cards may list it among their similar ones).
            numbers = [t for t in admin_texts if t and t.splitlines()[0].endswith(case.number)]
            assert len(numbers) == 1, (case.number, numbers)

        # processed_updates: each posted update exactly once, nothing else.
        count, stored = await _processed_keys(container)
        wanted = {container.vault.blind_index("update", f"telegram:{uid}") for uid in tg.posts}
        assert count == len(tg.posts) == len(wanted)
        assert stored == wanted
    finally:
        await container.close()
