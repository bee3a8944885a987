"""Telegram load benchmark (issue 3): the bot in its own process against the fake Bot API.

    .venv/bin/python -m bench.telegram_load              # 50 ms RTT, 500 employees
    .venv/bin/python -m bench.telegram_load --rtt 0      # pure CPU cost
    .venv/bin/python -m bench.telegram_load --quick      # small smoke run (~1 min)

The fake Bot API (tests/fakes/telegram_api.py) and the load generator run in this process;
the bot runs in a subprocess started from this file (``--serve xinfang|echo``): the real
service (``bot.runner.run_service`` with the Telegram channel and the outbox worker, on
SQLite in a temporary data directory, ``TELEGRAM_API_BASE_URL`` pointed at the fake), or
the barest PTB echo bot (one MessageHandler, same concurrency setting) as the baseline.
Every Bot API call is answered ``--rtt`` ms late (the simulated Telegram round-trip).

Shapes (each on a fresh bot process and database):

(a) closed loop: ``--employees`` simulated employees each file a full petition
    (/start, menu, category, text, photo, done, anonymous, updates pushed to this chat,
    submit = 9 updates; the photo is a real phone-sized JPEG with GPS, which the bot
    cleans before storing it) with no
    think time, the rate limiter off; officers accept a share of the cases (/accept from
    their private chats). Echo baseline: the same number of text messages.
(b) open loop: employees arrive as a Poisson process so that ``--rate`` updates/s reach
    the bot; each thinks 1.5-4 s between steps (a person reading and typing, and at least
    Telegram's 1 message/s per private chat); production rate limits on (ours for the
    service, PTB's AIORateLimiter for the echo bot). Latency = update queued at the fake
    → first reply message arriving at the fake (so it includes one RTT).
(c) (b) again with ``--pushes`` status pushes queued in the outbox before it starts:
    pushes delivered/s inside the measuring window and (b)'s latency meanwhile.

Loopback only; every phase is bounded in time. Not a test: pytest collects tests/ only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH"
ADMIN = -1001000000001
EMPLOYEE_BASE = 10_000_000
OFFICER_BASE = 20_000_000
PUSH_BASE = 30_000_000
DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，要求按规定补发加班工资。"
NUMBER = re.compile(r"XF-\d{4}-\d{6}")
STEP_TIMEOUT = 20.0  # no reply within this: the update counts as lost
THINK = (1.5, 4.0)  # open loop: seconds an employee takes between steps


# --------------------------------------------------------------------------- bot process


class _NoLimits:
    """A SendLimiter that never waits (shape (a): 'rate limiter off')."""

    def __init__(self) -> None:
        self.sent = 0
        self.waited = 0

    async def acquire(self, chat_id: int | None, *, interactive: bool) -> None:
        self.sent += 1

    def release(self, slot: object) -> None:
        pass

    def block(self, chat_id: int | None, seconds: float) -> None:
        pass


async def _seed(container: Any, officers: int, pushes: int) -> None:
    """Register officers and queue ``pushes`` status messages to distinct employees."""
    from handlers.ports import Contact, OutboxMessage
    from petitions.case import Case
    from petitions.categories import Category
    from petitions.codes import generate_tracking_code, normalize_tracking_code
    from petitions.deadlines import deadline_for
    from petitions.roles import Role

    now = container.services.clock()
    policy = container.settings.policy
    async with container.uow() as uow:
        for k in range(officers):
            accounts = {"telegram": str(OFFICER_BASE + k)}
            await uow.officers.add(f"办理人{k}", Role.OFFICER, now, accounts=accounts)
        await uow.commit()
    for start in range(0, pushes, 250):
        async with container.uow() as uow:
            for j in range(start, min(pushes, start + 250)):
                case = Case(
                    category=Category.PAY,
                    description=DESCRIPTION,
                    channel="telegram",
                    anonymous=True,
                    locale="zh_CN",
                    created_at=now,
                    updated_at=now,
                )
                case.deadline_at = deadline_for(case, policy)
                contact = Contact("telegram", str(PUSH_BASE + j))
                code = normalize_tracking_code(generate_tracking_code())
                await uow.cases.add(case, code, contact, None)
                payload = {"locale": "zh_CN", "number": case.number, "state": "accepted"}
                message = OutboxMessage("employee", "telegram", "status", payload, now, case.id)
                await uow.outbox.add(message)
            await uow.commit()


async def _serve_xinfang(opts: argparse.Namespace) -> None:
    import logging

    from sqlalchemy import event

    from bot.container import build_container
    from bot.runner import run_service
    from bot.settings import load_settings
    from bot.telegram import SendLimiter, TelegramChannel

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    env = {
        "XINFANG_DATA_DIR": opts.data,
        "XINFANG_HTTP_PORT": "0",
        "XINFANG_LOG_LEVEL": "WARNING",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_ADMIN_CHAT_ID": str(ADMIN),
        "TELEGRAM_API_BASE_URL": opts.api,
    }
    settings = load_settings(env)
    assert settings.telegram is not None
    container = await build_container(settings)
    await _seed(container, opts.officers, opts.seed_pushes)
    statements: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements[sql.split(None, 1)[0].upper()] += 1

    event.listen(container.engine.sync_engine, "before_cursor_execute", count)
    limiter: Any = SendLimiter() if opts.limits == "prod" else _NoLimits()
    channel = TelegramChannel(
        container, settings.telegram, limiter=limiter, concurrency=opts.concurrency
    )
    stop = asyncio.Event()

    async def record() -> None:  # when asked to stop: a delivery pass may delay the exit
        await stop.wait()
        waits = sorted(getattr(limiter, "interactive_waits", ()))
        figures = {
            "statements": dict(statements),
            "updates": channel.stats["updates"],
            "reply_waits_ms": [
                round(1000 * waits[min(len(waits) - 1, int(q * len(waits)))], 1)
                for q in (0.5, 0.95, 0.99)
            ]
            if waits
            else [],
        }
        (Path(opts.data) / "stats.json").write_text(json.dumps(figures))

    recorder = asyncio.create_task(record())
    try:
        await run_service(container, [channel], stop)
    finally:
        await recorder
        await container.close()


def _serve_echo(opts: argparse.Namespace) -> None:
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler
    from telegram.ext import filters as f

    base = opts.api.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(base)
        .base_file_url(base[: -len("/bot")] + "/file/bot")
        .concurrent_updates(opts.concurrency)
        .connection_pool_size(max(opts.concurrency * 2, 8))
    )
    if opts.limits == "prod":
        builder = builder.rate_limiter(AIORateLimiter())
    app = builder.build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.effective_message is not None
        await context.bot.send_message(update.effective_chat.id, update.effective_message.text)

    app.add_handler(MessageHandler(f.TEXT, echo))
    app.run_polling(poll_interval=0, timeout=30, allowed_updates=["message", "callback_query"])


# --------------------------------------------------------------------------- the fake side


def _fake_class() -> Any:
    from tests.fakes.telegram_api import SEND_METHODS, FakeBotApi

    class LoadFake(FakeBotApi):
        """The fake Bot API plus per-chat logs that wake the load generator cheaply."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.logs: dict[int, ChatLog] = {}
            self.push_times: list[float] = []
            self.push_chats: dict[int, int] = {}
            self.admin_messages = 0
            self.sends: list[float] = []  # every accepted send (for the budget)
            self.db: Path | None = None
            self.rss_mb = 0.0
            self.cpu = 0.0  # the bot's CPU seconds during the phase
            self.own_cpu = 0.0  # this process's (fake + load generator)
            self.bot_stats: dict[str, Any] = {}  # what the bot process counted

        def log(self, chat: int) -> ChatLog:
            found = self.logs.get(chat)
            if found is None:
                found = self.logs[chat] = ChatLog()
            return found

        async def _dispatch(self, call: Any) -> Any:
            result = await super()._dispatch(call)
            if call.method in SEND_METHODS and isinstance(result, dict):
                now = time.monotonic()
                chat = call.params.get("chat_id")
                self.sends.append(now)
                if isinstance(chat, int) and chat >= PUSH_BASE:
                    self.push_times.append(now)
                    self.push_chats[chat] = self.push_chats.get(chat, 0) + 1
                elif chat == ADMIN:
                    self.admin_messages += 1
                elif isinstance(chat, int):
                    self.log(chat).add(now, result)
            return result

    return LoadFake


@dataclass
class ChatLog:
    """Messages the bot sent to one chat, with arrival times, and who waits for them."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    buttons: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, at: float, message: dict[str, Any]) -> None:
        self.messages.append((at, message))
        markup = message.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                self.buttons[button["callback_data"]] = message["message_id"]
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait(self, since: int, check: Callable[[list[dict[str, Any]]], bool]) -> bool:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not check([m for _, m in self.messages[since:]]):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return True


def _has_button(payload: str) -> Callable[[list[dict[str, Any]]], bool]:
    def check(messages: list[dict[str, Any]]) -> bool:
        for m in messages:
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
                if any(b["callback_data"] == payload for b in row):
                    return True
        return False

    return check


def _any(messages: list[dict[str, Any]]) -> bool:
    return bool(messages)


def _has_number(messages: list[dict[str, Any]]) -> bool:
    return any(NUMBER.search(m.get("text") or "") for m in messages)


@functools.cache
def photo() -> bytes:
    """A photo as Telegram hands it over (1280 px wide, EXIF with GPS, camera serial and
    author): a real JPEG, so the bot cleans and re-encodes it as it would in production."""
    from tests.helpers.evidence import jpeg_with_gps

    return jpeg_with_gps(size=(1280, 960))


# (action, argument, done-when) for one full petition: 9 updates. (The photo's bytes are
# made when it is first sent, so that the bot process does not make them for nothing.)
XINFANG_STEPS: list[tuple[str, Any, Callable[[list[dict[str, Any]]], bool]]] = [
    ("text", "/start", _has_button("menu:new")),
    ("press", "menu:new", _has_button("cat:pay")),
    ("press", "cat:pay", _any),
    ("text", DESCRIPTION, _has_button("ev:done")),
    ("photo", None, _has_button("ev:done")),
    ("press", "ev:done", _has_button("anon:yes")),
    ("press", "anon:yes", _has_button("up:push")),
    ("press", "up:push", _has_button("rv:submit")),
    ("press", "rv:submit", _has_number),
]
ECHO_STEPS = [("text", f"{DESCRIPTION} #{i}", _any) for i in range(len(XINFANG_STEPS))]


@dataclass
class Stats:
    """What one phase measured (times from time.monotonic)."""

    latencies: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    photo_sent: set[float] = field(default_factory=set)  # sent-at of the photo steps
    done: int = 0
    lost: int = 0
    accepts: int = 0
    push_latencies: list[float] = field(default_factory=list)
    push_missing: int = 0


class Load:
    """Drives employees and officers against the fake and records what happens."""

    def __init__(self, fake: Any, kind: str, officers: int, share: float, think: bool) -> None:
        self.fake = fake
        self.kind = kind
        self.steps = XINFANG_STEPS if kind == "xinfang" else ECHO_STEPS
        self.share = share
        self.think = think
        self.stats = Stats()
        self.officers = [OFFICER_BASE + k for k in range(officers)]
        self._officer_locks = {o: asyncio.Lock() for o in self.officers}
        self._officer_next = itertools.cycle(self.officers)
        self._followers: set[asyncio.Task[None]] = set()
        self.rng = random.Random(7)
        self.stopping = False  # set when the measuring window closed: start no new step

    async def _pause(self) -> None:
        if self.think:
            await asyncio.sleep(self.rng.uniform(*THINK))

    async def step(self, chat: int, action: str, arg: Any, check: Any) -> list[dict[str, Any]]:
        """Queue one update, wait for its reply; returns the new messages ([] when lost)."""
        log = self.fake.log(chat)
        since = len(log.messages)
        sent = time.monotonic()
        if action == "text":
            self.fake.user_message(chat, chat, arg)
        elif action == "photo":
            self.fake.user_photo(chat, chat, photo())
        else:
            message_id = log.buttons.get(arg)
            if message_id is None:
                self.stats.lost += 1
                return []
            self.fake.callback_query(chat, chat, arg, message_id)
        if not await log.wait(since, check):
            self.stats.lost += 1
            return []
        self.stats.done += 1
        self.stats.latencies.append((sent, log.messages[since][0] - sent))
        if action == "photo":
            self.stats.photo_sent.add(sent)
        return [m for _, m in log.messages[since:]]

    async def employee(self, index: int) -> None:
        chat = EMPLOYEE_BASE + index
        number: str | None = None
        for i, (action, arg, check) in enumerate(self.steps):
            if i:
                await self._pause()
            if self.stopping:
                return
            found = await self.step(chat, action, arg, check)
            if not found:
                return
            match = next((NUMBER.search(m.get("text") or "") for m in found), None)
            number = match.group(0) if match else number
        if self.officers and self.rng.random() < self.share:
            await self.officer_accept(chat, number or "XF-0000-000000")

    async def officer_accept(self, employee: int, number: str) -> None:
        officer = next(self._officer_next)
        async with self._officer_locks[officer]:
            await self._pause()
            if self.stopping:
                return
            log = self.fake.log(employee)
            since = len(log.messages)
            if not await self.step(officer, "text", f"/accept {number}", _any):
                return
            self.stats.accepts += 1
        if self.kind == "xinfang":  # the status push to the employee, through the outbox
            task = asyncio.create_task(self._push_arrives(employee, since, time.monotonic()))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    async def _push_arrives(self, employee: int, since: int, at: float) -> None:
        log = self.fake.log(employee)
        if await log.wait(since, lambda ms: any("已受理" in (m.get("text") or "") for m in ms)):
            self.stats.push_latencies.append(log.messages[-1][0] - at)
        else:
            self.stats.push_missing += 1

    async def close(self) -> None:
        for task in list(self._followers):
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    """The figures of one phase."""

    name: str
    kind: str
    updates: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    photo_latencies: list[float] = field(default_factory=list)  # the steps that send a photo
    other_latencies: list[float] = field(default_factory=list)  # and the rest
    lost: int = 0
    flood: int = 0
    rss_mb: float = 0.0
    cpu: float = 0.0
    own_cpu: float = 0.0
    sql: dict[str, int] = field(default_factory=dict)
    bot_updates: int = 0
    reply_waits: list[float] = field(default_factory=list)  # limiter, whole run, ms
    sends_per_s: float = 0.0
    pushes_per_s: float = 0.0
    pushes_delivered: int = 0
    push_duplicates: int = 0
    pushes_marked_sent: int = 0
    pushes_lost: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    accepts: int = 0
    status_push_latency: list[float] = field(default_factory=list)
    status_push_missing: int = 0
    admin_messages: int = 0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def bot_process(
    fake: Any, kind: str, limits: str, opts: argparse.Namespace, work: Path, pushes: int = 0
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """Start the bot (or echo bot) in a subprocess against the fake; stop it afterwards."""
    data = work / f"data-{kind}-{limits}-{time.monotonic_ns()}"
    data.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "bench.telegram_load",
        "--serve",
        kind,
        "--api",
        fake.base_url,
        "--data",
        str(data),
        "--limits",
        limits,
        "--concurrency",
        str(opts.concurrency),
        "--officers",
        str(opts.officers),
        "--seed-pushes",
        str(pushes),
    ]
    if opts.profile and kind == "xinfang":
        out = Path(opts.profile).with_suffix(f".{limits}.{'c' if pushes else 'ab'}.txt")
        py_spy = Path(sys.executable).parent / "py-spy"
        cmd = [str(py_spy), "record", "-f", "raw", "--subprocesses", "-o", str(out), "--", *cmd]
    errors = (data / "stderr.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        cmd, cwd=ROOT, stdout=errors, stderr=errors, env=env
    )
    fake.db = data / "xinfang.db"
    try:
        try:
            await fake.wait_polling(timeout=240)
        except AssertionError:
            errors.flush()
            sys.stderr.write((data / "stderr.log").read_text()[-3000:])
            raise
        fake.cpu = _cpu_seconds(_bot_pid(proc))
        fake.own_cpu = time.process_time()
        yield proc
    finally:
        fake.own_cpu = time.process_time() - fake.own_cpu
        fake.rss_mb = _peak_rss_mb(_bot_pid(proc))
        fake.cpu = _cpu_seconds(_bot_pid(proc)) - fake.cpu
        proc.send_signal(signal.SIGINT if opts.profile else signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 15)
        except TimeoutError:
            proc.kill()  # a delivery pass may hold a graceful stop for long (see README)
            await asyncio.to_thread(proc.wait)
        errors.close()
        with contextlib.suppress(OSError, ValueError):
            fake.bot_stats = json.loads((data / "stats.json").read_text())


def _bot_pid(proc: subprocess.Popen[bytes]) -> int:
    """The bot's pid (the child of py-spy when profiling)."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
    return proc.pid


def _new_fake(rtt: float, enforce: bool) -> Any:
    fake = _fake_class()(token=TOKEN, latency=rtt, enforce_limits=enforce)
    fake.add_chat(ADMIN, "supergroup", title="信访办")
    return fake


def _setup_fake(fake: Any, officers: int) -> None:
    for k in range(officers):
        fake.set_member(ADMIN, OFFICER_BASE + k, "member")


async def closed_loop(kind: str, opts: argparse.Namespace, work: Path) -> Phase:
    """Shape (a): every employee at once, no think time, rate limiter off."""
    phase = Phase("a", kind)
    async with _new_fake(opts.rtt / 1000, False) as fake:
        _setup_fake(fake, opts.officers)
        async with bot_process(fake, kind, "off", opts, work):
            load = Load(fake, kind, opts.officers, opts.share, think=False)
            start = time.monotonic()
            tasks = [asyncio.create_task(load.employee(i)) for i in range(opts.employees)]
            _, pending = await asyncio.wait(tasks, timeout=opts.closed_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            end = max((s + d for s, d in load.stats.latencies), default=start)
            phase.seconds = end - start
            phase.updates = load.stats.done
            phase.latencies = [d for _, d in load.stats.latencies]
            phase.lost = load.stats.lost
            phase.accepts = load.stats.accepts
            await load.close()
        phase.rss_mb, phase.cpu, phase.own_cpu = fake.rss_mb, fake.cpu, fake.own_cpu
        phase.sql = fake.bot_stats.get("statements", {})
        phase.bot_updates = fake.bot_stats.get("updates", 0)
        phase.reply_waits = fake.bot_stats.get("reply_waits_ms", [])
    return phase


async def open_loop(
    kind: str, opts: argparse.Namespace, work: Path, pushes: int = 0, name: str = "b"
) -> Phase:
    """Shapes (b)/(c): Poisson arrivals at ``opts.rate`` updates/s, production limits."""
    phase = Phase(name, kind)
    async with _new_fake(opts.rtt / 1000, False) as fake:
        _setup_fake(fake, opts.officers)
        async with bot_process(fake, kind, "prod", opts, work, pushes=pushes):
            load = Load(fake, kind, opts.officers, opts.share, think=True)
            per_employee = len(load.steps) + opts.share
            rng = random.Random(11)
            # The window opens once the first employees are done: the load is steady then.
            warmup = len(load.steps) * (sum(THINK) / 2 + 0.3)
            start = time.monotonic()
            window = (start + warmup, start + warmup + opts.duration)
            tasks: list[asyncio.Task[None]] = []
            index = 0
            while time.monotonic() < window[1]:
                tasks.append(asyncio.create_task(load.employee(index)))
                index += 1
                await asyncio.sleep(rng.expovariate(opts.rate / per_employee))
            # Start no new step; the ones queued are answered or time out as lost.
            load.stopping = True
            await asyncio.wait(tasks, timeout=STEP_TIMEOUT + 5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            inside = [(s, d) for s, d in load.stats.latencies if window[0] <= s < window[1]]
            phase.updates = len(inside)
            phase.seconds = opts.duration
            phase.latencies = [d for _, d in inside]
            photos = load.stats.photo_sent
            phase.photo_latencies = [d for s, d in inside if s in photos]
            phase.other_latencies = [d for s, d in inside if s not in photos]
            phase.lost = load.stats.lost
            phase.accepts = load.stats.accepts
            phase.flood = fake.flood_violations
            phase.admin_messages = fake.admin_messages
            in_window = [t for t in fake.sends if window[0] <= t < window[1]]
            pushed = [t for t in fake.push_times if window[0] <= t < window[1]]
            phase.sends_per_s = (len(in_window) - len(pushed)) / opts.duration
            phase.pushes_per_s = len(pushed) / opts.duration
            phase.status_push_latency = load.stats.push_latencies
            phase.status_push_missing = len(load._followers)
            await load.close()
        phase.rss_mb, phase.cpu, phase.own_cpu = fake.rss_mb, fake.cpu, fake.own_cpu
        phase.sql = fake.bot_stats.get("statements", {})
        phase.bot_updates = fake.bot_stats.get("updates", 0)
        phase.reply_waits = fake.bot_stats.get("reply_waits_ms", [])
        phase.pushes_delivered = len(fake.push_chats)
        phase.push_duplicates = sum(fake.push_chats.values()) - len(fake.push_chats)
        if kind == "xinfang":
            _outbox_figures(phase, fake.db, pushes)
    return phase


def _outbox_figures(phase: Phase, db: Path, pushes: int) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        phase.outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        if pushes:
            (marked,) = conn.execute(
                "SELECT count(*) FROM outbox WHERE kind = 'status' AND status = 'sent'"
                " AND case_id <= ?",
                (pushes,),
            ).fetchone()
            phase.pushes_marked_sent = int(marked)
            # A row marked sent whose message never reached the fake is a lost message.
            phase.pushes_lost = max(0, int(marked) - phase.pushes_delivered)


# --------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _by_step(phase: Phase) -> str:
    """xinfang's latency split: photo steps (getFile, download and cleaning first) and the
    rest."""
    photos, rest = phase.photo_latencies, phase.other_latencies
    return (
        f"    {'  photo steps / other steps p50/95/99':40}{'':>14}"
        f"{_lat(photos):>14} / {_lat(rest)}  ({len(photos)} / {len(rest)})"
    )


def _lat(values: list[float]) -> str:
    return " " + "/".join(f"{_pct(values, q):.0f}" for q in (0.5, 0.95, 0.99))


def _cpu(phase: Phase) -> str:
    return f"{phase.cpu:.1f}/{phase.own_cpu:.1f}"


def _cpu_per(phase: Phase) -> float:
    return phase.cpu * 1000 / phase.updates if phase.updates else 0.0


def _sql(phase: Phase) -> str:
    n = phase.bot_updates or phase.updates or 1
    parts = sorted(phase.sql.items(), key=lambda kv: -kv[1])
    total = sum(phase.sql.values()) / n
    return f"{total:>14.1f}   (" + ", ".join(f"{k} {v / n:.1f}" for k, v in parts) + ")"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(opts: argparse.Namespace, phases: dict[str, Phase]) -> None:
    w = print
    w(
        f"\ntelegram_load  rtt={opts.rtt:g} ms  employees={opts.employees}  "
        f"rate={opts.rate:g}/s  duration={opts.duration:g} s  pushes={opts.pushes}  "
        f"concurrency={opts.concurrency}  officers={opts.officers} share={opts.share:g}  "
        f"(SQLite, {os.cpu_count()} cores)"
    )
    w(f"{'':44}{'echo':>14}{'xinfang':>14}")
    ea, xa = phases.get("a-echo"), phases.get("a-xinfang")
    if ea and xa:
        ratio = xa.rate / ea.rate if ea.rate else 0.0
        w("(a) closed loop, rate limiter off")
        w(f"    {'updates answered':40}{ea.updates:>14}{xa.updates:>14}")
        w(f"    {'seconds':40}{ea.seconds:>14.1f}{xa.seconds:>14.1f}")
        w(f"    {'updates/s':40}{ea.rate:>14.1f}{xa.rate:>14.1f}")
        w(f"    {'ratio xinfang/echo':40}{'':>14}{ratio:>14.2f}   ≥ 0.50 {_verdict(ratio >= 0.5)}")
        w(f"    {'latency p50/p95/p99 ms':40}{_lat(ea.latencies):>14}{_lat(xa.latencies):>14}")
        w(f"    {'lost (no reply in 20 s)':40}{ea.lost:>14}{xa.lost:>14}")
        w(f"    {'peak RSS MB':40}{ea.rss_mb:>14.0f}{xa.rss_mb:>14.0f}")
        w(f"    {'bot CPU s / fake+load CPU s':40}{_cpu(ea):>14}{_cpu(xa):>14}")
        w(f"    {'bot CPU ms per update':40}{_cpu_per(ea):>14.1f}{_cpu_per(xa):>14.1f}")
        w(f"    {'SQL statements per update':40}{'':>14}{_sql(xa)}")
    eb, xb = phases.get("b-echo"), phases.get("b-xinfang")
    if eb and xb:
        p99 = _pct(xb.latencies, 0.99)
        w(f"(b) open loop, Poisson {opts.rate:g} updates/s, production limits")
        w(f"    {'updates in window':40}{eb.updates:>14}{xb.updates:>14}")
        w(f"    {'updates/s':40}{eb.rate:>14.1f}{xb.rate:>14.1f}")
        w(f"    {'latency p50/p95/p99 ms':40}{_lat(eb.latencies):>14}{_lat(xb.latencies):>14}")
        verdict = f"p99 ≤ 300 {_verdict(p99 <= 300)}" if opts.rtt == 50 else ""
        w(f"    {'':40}{'':>14}{'':>14}   {verdict}")
        w(_by_step(xb))
        w(f"    {'sends/s (all chats)':40}{eb.sends_per_s:>14.1f}{xb.sends_per_s:>14.1f}")
        w(f"    {'flood-limit violations':40}{eb.flood:>14}{xb.flood:>14}")
        w(f"    {'lost (no reply in 20 s)':40}{eb.lost:>14}{xb.lost:>14}")
        w(f"    {'peak RSS MB':40}{eb.rss_mb:>14.0f}{xb.rss_mb:>14.0f}")
        w(f"    {'bot CPU s / fake+load CPU s':40}{_cpu(eb):>14}{_cpu(xb):>14}")
        w(f"    {'officer accepts':40}{eb.accepts:>14}{xb.accepts:>14}")
        if xb.reply_waits:
            waits = "/".join(f"{v:.0f}" for v in xb.reply_waits)
            w(f"    {'replies waiting for the limiter p50/95/99':40}{'':>14}{waits:>14}")
        sp = xb.status_push_latency
        w(
            f"    xinfang status pushes after /accept: {len(sp)} arrived, p50/p95 "
            f"{_lat(sp)} ms; {xb.status_push_missing} not yet; case cards to the admin "
            f"chat: {xb.admin_messages}; outbox {xb.outbox}"
        )
    xc = phases.get("c-xinfang")
    if xc and xb:
        left = max(0.0, 30.0 - xb.sends_per_s)
        share = xc.pushes_per_s / left if left else 0.0
        p99c = _pct(xc.latencies, 0.99)
        w(f"(c) (b) + {opts.pushes} queued status pushes (xinfang)")
        w(f"    {'pushes delivered/s in window':40}{'':>14}{xc.pushes_per_s:>14.1f}")
        w(
            f"    {'budget left by (b): 30 - sends/s':40}{'':>14}{left:>14.1f}"
            f"   ≥ 95 % {share * 100:.0f} % {_verdict(share >= 0.95)}"
        )
        from bot.telegram.limiter import SendLimits

        lim = SendLimits()
        window = 1.0 + lim.margin  # a send counts for 1 s + margin from its start
        ceiling = max(0.0, lim.overall_per_second / window - xc.sends_per_s)
        w(
            f"    {'limiter ceiling: 30/(1 s+margin) - replies':40}{'':>14}{ceiling:>14.1f}"
            f"   (pushes at {xc.pushes_per_s / ceiling * 100 if ceiling else 0:.0f} % of it)"
        )
        w(f"    {'(b) latency p50/p95/p99 ms meanwhile':40}{'':>14}{_lat(xc.latencies):>14}")
        verdict = f"p99 ≤ 300 {_verdict(p99c <= 300)}" if opts.rtt == 50 else ""
        w(_by_step(xc))
        w(f"    {'(b) updates/s meanwhile':40}{'':>14}{xc.rate:>14.1f}   {verdict}")
        w(f"    {'interactive sends/s meanwhile':40}{'':>14}{xc.sends_per_s:>14.1f}")
        if xc.reply_waits:
            waits = "/".join(f"{v:.0f}" for v in xc.reply_waits)
            w(f"    {'replies waiting for the limiter p50/95/99':40}{'':>14}{waits:>14}")
        w(f"    {'flood-limit violations':40}{'':>14}{xc.flood:>14}")
        w(f"    {'lost updates (no reply in 20 s)':40}{'':>14}{xc.lost:>14}")
        w(
            f"    pushes: {xc.pushes_delivered} chats reached, {xc.push_duplicates} duplicates, "
            f"{xc.pushes_marked_sent} rows marked sent, {xc.pushes_lost} lost; "
            f"outbox {xc.outbox}; peak RSS {xc.rss_mb:.0f} MB"
        )


# --------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rtt", type=float, default=50.0, help="simulated round-trip, ms")
    p.add_argument("--employees", type=int, default=500, help="closed loop (a)")
    p.add_argument("--duration", type=float, default=30.0, help="open-loop window, seconds")
    p.add_argument("--rate", type=float, default=20.0, help="open loop (b): updates/s")
    p.add_argument("--pushes", type=int, default=5000, help="queued status pushes (c)")
    p.add_argument("--officers", type=int, default=8)
    p.add_argument("--share", type=float, default=0.3, help="share of cases officers accept")
    p.add_argument("--concurrency", type=int, default=16, help="updates in flight (both bots)")
    p.add_argument("--shapes", default="abc", help="which of a, b, c to run")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--closed-timeout", type=float, default=180.0, help=argparse.SUPPRESS)
    p.add_argument("--profile", help="py-spy flame graphs of the bot at PATH.<phase>.svg")
    p.add_argument("--json", help="also write the figures to this file")
    # Internal: the bot process.
    p.add_argument("--serve", choices=("xinfang", "echo"), help=argparse.SUPPRESS)
    p.add_argument("--api", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--limits", choices=("off", "prod"), default="prod", help=argparse.SUPPRESS)
    p.add_argument("--seed-pushes", type=int, default=0, help=argparse.SUPPRESS)
    return p


async def _main(opts: argparse.Namespace) -> dict[str, Any]:
    phases: dict[str, Phase] = {}
    photo()  # made once, before anything is timed
    with tempfile.TemporaryDirectory(prefix="xf-bench-") as tmp:
        work = Path(tmp)
        if "a" in opts.shapes:
            for kind in ("echo", "xinfang"):
                phases[f"a-{kind}"] = await closed_loop(kind, opts, work)
        if "b" in opts.shapes or "c" in opts.shapes:
            for kind in ("echo", "xinfang"):
                phases[f"b-{kind}"] = await open_loop(kind, opts, work)
        if "c" in opts.shapes:
            phases["c-xinfang"] = await open_loop("xinfang", opts, work, opts.pushes, "c")
    report(opts, phases)
    return {
        k: {
            "updates": v.updates,
            "seconds": v.seconds,
            "rate": v.rate,
            "p50": _pct(v.latencies, 0.5),
            "p95": _pct(v.latencies, 0.95),
            "p99": _pct(v.latencies, 0.99),
            "lost": v.lost,
            "flood": v.flood,
            "rss_mb": v.rss_mb,
            "sends_per_s": v.sends_per_s,
            "pushes_per_s": v.pushes_per_s,
        }
        for k, v in phases.items()
    }


def main() -> None:
    opts = _parser().parse_args()
    if opts.serve == "xinfang":
        asyncio.run(_serve_xinfang(opts))
        return
    if opts.serve == "echo":
        _serve_echo(opts)
        return
    if opts.quick:
        opts.employees = min(opts.employees, 60)
        opts.duration = min(opts.duration, 10.0)
        opts.pushes = min(opts.pushes, 500)
    figures = asyncio.run(_main(opts))
    if opts.json:
        Path(opts.json).write_text(json.dumps({"options": vars(opts), "phases": figures}))


if __name__ == "__main__":
    main()
