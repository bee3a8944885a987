"""WeCom load benchmark (issue 12): encrypted callbacks in, replies at a fake WeCom API.

    .venv/bin/python -m bench.wecom_load                         # SQLite, 200 employees, 30 s
    .venv/bin/python -m bench.wecom_load --db postgresql+asyncpg://postgres@127.0.0.1:55432/postgres
    .venv/bin/python -m bench.wecom_load --employees 20 --seconds 3 --shapes b   # smoke run

This process runs the fake WeCom API (bench/fake_wecom.py) and the load generator: every
employee signs and encrypts its callbacks as WeCom does (WXBizMsgCrypt, the independent
implementation in tests/fakes/wecom_api.py, checked against the official vectors in
tests/data/wecom_vectors.json at start) and POSTs them over loopback HTTP to the real
service's ``/wecom/callback``. The service runs in a subprocess started from this file
(``--serve``): ``bot.runner.run_service`` with the WeCom channel, the outbox worker and the
scheduler, on SQLite in a temporary data directory or on a fresh PostgreSQL database,
``WECOM_API_BASE_URL`` pointed at the fake. Its replies arrive at the fake through
``message/send``. WeCom's own limit of 30 messages a minute per member is *off* in the
service (and counted, not enforced, by the fake) unless ``--member-limit`` is given: the
figures are the bot's capacity, not what the platform lets through (see bench/README.md).

Shapes (each on a fresh service process and database; closed loops: an employee sends its
next callback once the reply to the previous one arrived, as a person in a chat would):

(a) petitions: each employee files petitions over and over (/start, 新的信访 card button,
    category, description, evidence done, anonymous, updates by push, submit = 8
    callbacks each).
(b) look-ups: each employee sends tracking codes of seeded petitions (the status card
    comes back); a share (``--wrong``) sends well-formed codes that match nothing, which
    the service throttles after 5 failures per 15 min: their "not found" and "throttled"
    replies are counted apart from the look-up rate.
(c) burst: every employee fires ``--burst`` texts without waiting (a backlog after an
    outage): how fast callbacks are acknowledged, and how long until all are answered.

Printed: callbacks acknowledged/s, messages handled/s (first reply seen at the fake), reply
latency p50/p95/p99 (callback sent → first reply at the fake), acknowledgement latency and
acks slower than WeCom's 5 s, look-ups/s, the service's CPU, SQL statements per callback.
Loopback only; every phase is bounded in time. Not a test: pytest collects tests/ only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
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

from bench.fake_wecom import FakeWeCom, Sent  # noqa: E402
from bench.pg import throwaway_database  # noqa: E402
from tests.fakes.wecom_api import (  # noqa: E402
    AGENT_ID,
    CB_AES_KEY,
    CB_TOKEN,
    CORP_ID,
    SECRET,
    query_string,
    template_card_event_xml,
    text_xml,
    wecom_encrypt,
    wecom_sign,
)

ADMIN_GROUP = "xf-bench-officers"
DESCRIPTION = "三个月没有发加班费了，车间主任说没有预算，要求按规定补发加班工资。"
NUMBER = re.compile(r"XF-\d{4}-\d{6}")
STEP_TIMEOUT = 20.0  # no reply within this: the callback counts as lost
WECOM_ACK_DEADLINE = 5.0  # WeCom retries a callback not answered within 5 s
START_TIMEOUT = 180.0
VECTORS = ROOT / "tests" / "data" / "wecom_vectors.json"

Check = Callable[[list[Sent]], bool]


# --------------------------------------------------------------------------- service process


async def _seed(container: Any, count: int) -> list[str]:
    """Store ``count`` anonymous petitions; returns their tracking codes as shown to people."""
    from handlers.ports import Contact
    from petitions.case import Case
    from petitions.categories import Category
    from petitions.codes import generate_tracking_code, normalize_tracking_code
    from petitions.deadlines import deadline_for

    now = container.services.clock()
    policy = container.settings.policy
    codes: list[str] = []
    for start in range(0, count, 250):
        async with container.uow() as uow:
            for j in range(start, min(count, start + 250)):
                case = Case(
                    category=Category.PAY,
                    description=DESCRIPTION,
                    channel="wecom",
                    anonymous=True,
                    locale="zh_CN",
                    created_at=now,
                    updated_at=now,
                )
                case.deadline_at = deadline_for(case, policy)
                code = generate_tracking_code()
                codes.append(code)
                contact = Contact("wecom", f"seeded{j:06d}")
                await uow.cases.add(case, normalize_tracking_code(code), contact, None)
            await uow.commit()
    return codes


async def _serve(opts: argparse.Namespace) -> None:
    import logging

    from sqlalchemy import event

    from bot.container import build_container
    from bot.keys import create_keys
    from bot.runner import run_service
    from bot.settings import load_settings
    from bot.wecom.channel import WeComChannel
    from bot.wecom.client import SlidingWindowLimiter

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if opts.switch_interval:  # an experiment: how much the GIL hand-over costs
        sys.setswitchinterval(opts.switch_interval / 1000)
    data = Path(opts.data)
    env = {
        "XINFANG_DATA_DIR": str(data),
        "XINFANG_HTTP_PORT": "0",
        "XINFANG_LOG_LEVEL": "WARNING",
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_AGENT_ID": str(AGENT_ID),
        "WECOM_SECRET": SECRET,
        "WECOM_TOKEN": CB_TOKEN,
        "WECOM_AES_KEY": CB_AES_KEY,
        "WECOM_API_BASE_URL": opts.api,
        "WECOM_ADMIN_CHAT_ID": ADMIN_GROUP,
    }
    if opts.db != "sqlite":
        env["XINFANG_DATABASE_URL"] = opts.db
    settings = load_settings(env)
    assert settings.wecom is not None
    if opts.keyring:  # a further worker: the first one's keys (one keyring per database)
        env["XINFANG_KEYRING_FILE"] = opts.keyring
        settings = load_settings(env)
        assert settings.wecom is not None
    elif not settings.embedded:  # keys are made on first run only on the embedded default
        create_keys(settings.keyring_file)
    container = await build_container(settings)
    (data / "keyring").write_text(str(settings.keyring_file))
    codes = await _seed(container, opts.codes)
    (data / "codes.json").write_text(json.dumps(codes))
    statements: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements[sql.split(None, 1)[0].upper()] += 1

    event.listen(container.engine.sync_engine, "before_cursor_execute", count)

    class Unlimited(SlidingWindowLimiter):
        """WeCom's 30 messages/min per member off: the bench measures the bot's capacity."""

        async def acquire(self, key: str) -> None:
            return None

    class BenchChannel(WeComChannel):
        def _new_client(self, session: Any, limiter: Any, attempts: int) -> Any:
            return super()._new_client(
                session, limiter if opts.member_limit else Unlimited(), attempts
            )

    channel = BenchChannel(container, settings.wecom)
    stop = asyncio.Event()

    def started(urls: list[str]) -> None:
        (data / "url.tmp").write_text(urls[0])
        (data / "url.tmp").rename(data / "url")

    async def record() -> None:  # written on the way out: the parent reads it after exit
        await stop.wait()
        (data / "stats.json").write_text(json.dumps({"statements": dict(statements)}))

    recorder = asyncio.create_task(record())
    try:
        await run_service(container, [channel], stop, started=started)
    finally:
        stop.set()
        await recorder
        await container.close()


# --------------------------------------------------------------------------- crypto


def check_vectors() -> int:
    """Check the callback encryption used here against the official vectors; returns how many."""
    from bot.wecom.crypto import WeComCrypto

    checked = 0
    for v in json.loads(VECTORS.read_text()):
        if "expected_encrypt" in v:  # deterministic encryption with a known random prefix
            made = wecom_encrypt(
                v["plaintext"],
                aes_key=v["aes_key"],
                corp_id=v["receiveid"],
                random16=v["random16"].encode(),
            )
            signature = wecom_sign(v["token"], v["timestamp"], v["nonce"], made)
            ok = made == v["expected_encrypt"] and signature == v["expected_msg_signature"]
        else:  # the service's decryption of an official callback, with its signature
            crypto = WeComCrypto(v["token"], v["aes_key"], v["receiveid"])
            signature = wecom_sign(v["token"], v["timestamp"], v["nonce"], v["encrypt"])
            ok = (
                signature == v["msg_signature"]
                and crypto.decrypt(v["encrypt"]) == v["expected_plaintext"]
            )
        if not ok:
            raise SystemExit(f"WeCom test vector {v['name']} does not match: crypto is broken")
        checked += 1
    return checked


# --------------------------------------------------------------------------- load generator


def _last_card_with(key: str) -> Check:
    # A reply may come as several messages (a long text, then one or two cards): the step
    # is done when its last one, the card with this key, has arrived.
    return lambda ms: bool(ms) and key in ms[-1].keys()


def _card_prefix(prefix: str) -> Check:
    return lambda ms: bool(ms) and any(k.startswith(prefix) for k in ms[-1].keys())


def _any(ms: list[Sent]) -> bool:
    return bool(ms)


def _has_number(ms: list[Sent]) -> bool:
    return any(NUMBER.search(m.text()) for m in ms)


# (kind, argument, done when): one petition, 8 callbacks. A "press" answers the newest card
# that carries the key, with that card's task_id and response_code, as WeCom would.
PETITION: list[tuple[str, str, Check]] = [
    ("text", "/start", _last_card_with("menu:new")),
    ("press", "menu:new", _last_card_with("cat:other")),  # ten categories: two cards
    ("press", "cat:pay", _any),
    ("text", DESCRIPTION, _last_card_with("ev:done")),
    ("press", "ev:done", _last_card_with("anon:yes")),
    ("press", "anon:yes", _last_card_with("up:push")),
    ("press", "up:push", _last_card_with("rv:submit")),
    ("press", "rv:submit", _has_number),
]


@dataclass
class Stats:
    """What one shape measured (times from time.monotonic)."""

    sent: list[float] = field(default_factory=list)  # every callback POSTed
    acks: list[tuple[float, float]] = field(default_factory=list)  # (acked at, seconds)
    replies: list[tuple[float, float]] = field(default_factory=list)  # (first reply at, s)
    lookups: list[tuple[float, float]] = field(default_factory=list)  # valid codes only
    not_found: list[float] = field(default_factory=list)
    throttled: list[float] = field(default_factory=list)
    petitions: int = 0
    rejected: int = 0  # HTTP status other than 200 "success"
    lost: int = 0  # acknowledged, no reply within STEP_TIMEOUT
    errors: int = 0  # transport failures posting the callback


class Load:
    """Employees sending encrypted callbacks and waiting for the replies at the fake."""

    def __init__(self, fake: FakeWeCom, session: Any, urls: list[str], seed: int) -> None:
        self.fake = fake
        self.session = session
        # Several workers: each callback to the next one, as a round-robin load balancer.
        self.urls = urls
        self._next_url = itertools.cycle(urls)
        self.stats = Stats()
        self.rng = random.Random(seed)
        self.stopping = False
        self._msg_ids = itertools.count(1_000_000_000)
        self._create = itertools.count(1_700_000_000)

    async def post(self, user: str, inner: str) -> bool:
        """Encrypt, sign and POST one callback; True when the service acknowledged it."""
        from yarl import URL

        ts = str(int(time.time()))
        nonce = str(self.rng.randrange(10**9, 10**10))
        encrypt = wecom_encrypt(inner)
        params = {"msg_signature": wecom_sign(CB_TOKEN, ts, nonce, encrypt)}
        params |= {"timestamp": ts, "nonce": nonce}
        body = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
        ).encode()
        url = URL(f"{next(self._next_url)}?{query_string(params)}", encoded=True)
        sent = time.monotonic()
        self.stats.sent.append(sent)
        try:
            async with self.session.post(url, data=body) as resp:
                answer = (resp.status, await resp.read())
        except Exception:  # noqa: BLE001 - counted; the bench goes on
            self.stats.errors += 1
            return False
        acked = time.monotonic()
        if answer != (200, b"success"):
            self.stats.rejected += 1
            return False
        self.stats.acks.append((acked, acked - sent))
        return True

    def _inner(self, user: str, kind: str, arg: str) -> str | None:
        # CreateTime grows per callback: events have no MsgId, and WeCom's retry identity
        # for them is FromUserName + CreateTime, so two presses must not share a second.
        created = next(self._create)
        if kind == "text":
            return text_xml(
                arg, msg_id=str(next(self._msg_ids)), from_user=user, create_time=created
            )
        for m in reversed(self.fake.log(user).messages):
            if arg in m.keys():
                task = (m.body.get("template_card") or {}).get("task_id", "")
                return template_card_event_xml(
                    arg,
                    task,
                    response_code=m.response_code or "",
                    from_user=user,
                    create_time=created,
                )
        return None

    async def step(self, user: str, kind: str, arg: str, check: Check) -> list[Sent] | None:
        """Send one callback and wait for its replies; None when it was lost or refused."""
        inner = self._inner(user, kind, arg)
        if inner is None:
            self.stats.lost += 1
            return None
        log = self.fake.log(user)
        since = len(log.messages)
        sent = time.monotonic()
        if not await self.post(user, inner):
            return None
        if not await log.wait(since, check, STEP_TIMEOUT):
            self.stats.lost += 1
            return None
        first = log.messages[since].at
        self.stats.replies.append((first, first - sent))
        return log.messages[since:]

    async def petitioner(self, user: str) -> None:
        """Shape (a): file petitions until the window closes."""
        while not self.stopping:
            for kind, arg, check in PETITION:
                if self.stopping:
                    return
                if await self.step(user, kind, arg, check) is None:
                    await asyncio.sleep(1.0)  # start over after a lost step
                    break
            else:
                self.stats.petitions += 1

    async def looker(self, user: str, codes: list[str]) -> None:
        """Shape (b): look cases up by their tracking codes until the window closes."""
        while not self.stopping:
            sent = time.monotonic()
            found = await self.step(user, "text", self.rng.choice(codes), _card_prefix("cs:"))
            if found is not None:
                self.stats.lookups.append((found[0].at, found[0].at - sent))
            else:
                await asyncio.sleep(1.0)

    async def guesser(self, user: str, not_found: str, throttled: str) -> None:
        """Shape (b): someone typing codes that match nothing (throttled after 5)."""
        from petitions.codes import generate_tracking_code

        while not self.stopping:
            found = await self.step(user, "text", generate_tracking_code(), _any)
            if found is None:
                await asyncio.sleep(1.0)
                continue
            text = found[0].text()
            if text == throttled:
                self.stats.throttled.append(found[0].at)
            elif text.startswith(not_found):
                self.stats.not_found.append(found[0].at)

    async def burster(self, user: str, count: int) -> None:
        """Shape (c): fire ``count`` texts at once, then wait for every menu in reply."""
        log = self.fake.log(user)
        since = len(log.messages)
        sent = time.monotonic()
        inners = [
            text_xml(
                "你好",
                msg_id=str(next(self._msg_ids)),
                from_user=user,
                create_time=next(self._create),
            )
            for _ in range(count)
        ]
        acked = await asyncio.gather(*(self.post(user, inner) for inner in inners))
        want = sum(acked)

        def answered(ms: list[Sent]) -> bool:
            return sum("menu:new" in m.keys() for m in ms) >= want

        if not await log.wait(since, answered, STEP_TIMEOUT * 3):
            self.stats.lost += want - sum("menu:new" in m.keys() for m in log.messages[since:])
        menus = [m for m in log.messages[since:] if "menu:new" in m.keys()]
        self.stats.replies.extend((m.at, m.at - sent) for m in menus[:want])


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    """The figures of one shape."""

    name: str
    window: float = 0.0
    acks: int = 0
    replies: int = 0
    lookups: int = 0
    not_found: int = 0
    throttled: int = 0
    petitions: int = 0
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    lookup_latencies: list[float] = field(default_factory=list)
    late_acks: int = 0
    rejected: int = 0
    lost: int = 0
    errors: int = 0
    sends: int = 0  # message/send calls in the window
    over_member_limit: int = 0
    group_messages: int = 0
    card_updates: int = 0
    busy: float = 0.0  # the whole machine's busy CPU seconds in the window
    cpu: float = 0.0  # the service's CPU seconds in the window
    own_cpu: float = 0.0  # this process's (fake + load generator)
    rss_mb: float = 0.0
    statements: dict[str, int] = field(default_factory=dict)
    statement_callbacks: int = 0  # callbacks the statement count covers (the whole run)
    startup: float = 0.0

    def rate(self, n: int) -> float:
        """Events per second of the window."""
        return n / self.window if self.window else 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _machine_busy() -> float:
    """CPU seconds all cores of the machine spent busy so far (from /proc/stat)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _cpu(pids: list[int]) -> float:
    """CPU seconds of all the service's worker processes so far."""
    return sum(_cpu_seconds(pid) for pid in pids)


def _peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _service_pid(proc: subprocess.Popen[bytes]) -> int:
    """The service's pid (the child of py-spy when profiling)."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
    return proc.pid


@contextlib.asynccontextmanager
async def fresh_database(opts: argparse.Namespace, shape: str) -> AsyncIterator[str]:
    """'sqlite', or a PostgreSQL database created for this shape and dropped afterwards."""
    if opts.db == "sqlite":
        yield "sqlite"
        return
    async with throwaway_database(opts.db, f"xf_bench_{shape}") as url:
        yield url


@contextlib.asynccontextmanager
async def service(
    fake: FakeWeCom, opts: argparse.Namespace, work: Path, shape: str, db: str
) -> AsyncIterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """Start the real service in ``--workers`` subprocesses against the fake (the first
    seeds and makes the keys, the others share them and the database); stop them after."""
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    async with contextlib.AsyncExitStack() as stack:
        for n in range(opts.workers):
            keyring = (workers[0][1] / "keyring").read_text() if workers else None
            workers.append(
                await stack.enter_async_context(_worker(fake, opts, work, shape, db, n, keyring))
            )
        yield workers


@contextlib.asynccontextmanager
async def _worker(
    fake: FakeWeCom,
    opts: argparse.Namespace,
    work: Path,
    shape: str,
    db: str,
    n: int,
    keyring: str | None,
) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path]]:
    data = work / f"data-{shape}-{n}-{time.monotonic_ns()}"
    data.mkdir(parents=True)
    codes = opts.codes if shape == "b" and n == 0 else 0
    cmd = [sys.executable, "-m", "bench.wecom_load", "--serve", "--api", fake.base_url]
    cmd += ["--data", str(data), "--db", db, "--codes", str(codes)]
    if keyring:
        cmd += ["--keyring", keyring]
    if opts.member_limit:
        cmd.append("--member-limit")
    if opts.switch_interval:
        cmd += ["--switch-interval", str(opts.switch_interval)]
    if opts.profile:
        out = Path(f"{opts.profile}.{shape}{f'.{n}' if n else ''}.txt")
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        cmd = [py_spy, "record", "-f", "raw", "-r", "200", "-o", str(out), "--", *cmd]
    errors = (data / "stderr.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        cmd, cwd=ROOT, stdout=errors, stderr=errors, env=env
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (data / "url").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                errors.flush()
                sys.stderr.write((data / "stderr.log").read_text()[-3000:])
                raise SystemExit(f"the service did not start (exit code {proc.poll()})")
            await asyncio.sleep(0.1)
        yield proc, data
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if opts.profile else signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 20)
        except TimeoutError:
            proc.kill()  # a delivery or scheduler pass may hold a graceful stop for long
            await asyncio.to_thread(proc.wait)
        errors.close()
        problems = [
            line
            for line in (data / "stderr.log").read_text(errors="replace").splitlines()
            if line.startswith(("ERROR", "CRITICAL", "Traceback"))
        ]
        if problems:
            print(
                f"  [{shape}] the service logged {len(problems)} error line(s), first: "
                f"{problems[0][:200]}",
                file=sys.stderr,
            )


def _progress(shape: str, load: Load, started: float, every: float) -> asyncio.Task[None]:
    async def report() -> None:
        last_acks = last_replies = 0
        while True:
            await asyncio.sleep(every)
            acks, replies = len(load.stats.acks), len(load.stats.replies)
            print(
                f"  [{shape}] {time.monotonic() - started:5.0f} s  acks {acks} "
                f"(+{(acks - last_acks) / every:.0f}/s)  replies {replies} "
                f"(+{(replies - last_replies) / every:.0f}/s)  lost {load.stats.lost}",
                file=sys.stderr,
                flush=True,
            )
            last_acks, last_replies = acks, replies

    return asyncio.create_task(report())


async def run_shape(shape: str, opts: argparse.Namespace, work: Path) -> Phase:
    """Run one shape on a fresh service and database and collect its figures."""
    import aiohttp

    from i18n import translator

    phase = Phase(shape)
    print(f"[{shape}] starting the service ...", file=sys.stderr, flush=True)
    async with (
        fresh_database(opts, shape) as db,
        FakeWeCom(CORP_ID, SECRET) as fake,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=opts.connections),
            timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT),
        ) as session,
    ):
        begun = time.monotonic()
        async with service(fake, opts, work, shape, db) as workers:
            phase.startup = time.monotonic() - begun
            data = workers[0][1]
            urls = [(d / "url").read_text().strip() + "/wecom/callback" for _, d in workers]
            load = Load(fake, session, urls, seed=7)
            pids = [_service_pid(proc) for proc, _ in workers]
            users = [f"bench{shape}{i:05d}" for i in range(opts.employees)]
            start = time.monotonic()
            cpu0, own0, busy0 = _cpu(pids), time.process_time(), _machine_busy()
            progress = _progress(shape, load, start, opts.progress)
            if shape == "c":
                tasks = [asyncio.create_task(load.burster(u, opts.burst)) for u in users]
                await asyncio.wait(tasks, timeout=STEP_TIMEOUT * 3 + 10)
                end = max((at for at, _ in load.stats.replies), default=start)
                window = (start, max(end, start + 1e-3))
            else:
                if shape == "a":
                    tasks = [asyncio.create_task(load.petitioner(u)) for u in users]
                else:
                    codes = json.loads((data / "codes.json").read_text())
                    t = translator().t
                    not_found = t("track.not_found", "zh_CN", left=0).split("（")[0]
                    throttled = t("track.throttled", "zh_CN", minutes=15)
                    wrong = round(opts.employees * opts.wrong)
                    tasks = [
                        asyncio.create_task(
                            load.guesser(u, not_found, throttled)
                            if i < wrong
                            else load.looker(u, codes)
                        )
                        for i, u in enumerate(users)
                    ]
                # The window opens after a warm-up: connections, token, the first pass.
                await asyncio.sleep(opts.warmup)
                window = (time.monotonic(), time.monotonic() + opts.seconds)
                cpu0, own0, busy0 = _cpu(pids), time.process_time(), _machine_busy()
                await asyncio.sleep(opts.seconds)
                load.stopping = True  # start no new step; the ones under way finish or time out
                await asyncio.wait(tasks, timeout=STEP_TIMEOUT + 5)
            cpu1, own1, busy1 = _cpu(pids), time.process_time(), _machine_busy()
            progress.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, progress, return_exceptions=True)
            phase.rss_mb = max(_peak_rss_mb(pid) for pid in pids)
        s = load.stats
        lo, hi = window

        def inside(t: float) -> bool:
            return lo <= t <= hi

        phase.window = hi - lo
        phase.cpu, phase.own_cpu, phase.busy = cpu1 - cpu0, own1 - own0, busy1 - busy0
        phase.sent = len(s.sent)
        phase.acks = sum(inside(at) for at, _ in s.acks)
        phase.replies = sum(inside(at) for at, _ in s.replies)
        phase.lookups = sum(inside(at) for at, _ in s.lookups)
        phase.not_found = sum(inside(at) for at in s.not_found)
        phase.throttled = sum(inside(at) for at in s.throttled)
        phase.latencies = [d for at, d in s.replies if inside(at)]
        phase.ack_latencies = [d for at, d in s.acks if inside(at)]
        phase.lookup_latencies = [d for at, d in s.lookups if inside(at)]
        phase.late_acks = sum(d > WECOM_ACK_DEADLINE for _, d in s.acks)
        phase.petitions, phase.rejected, phase.lost, phase.errors = (
            s.petitions,
            s.rejected,
            s.lost,
            s.errors,
        )
        phase.sends = sum(inside(at) for at in fake.send_times)
        phase.over_member_limit = fake.over_member_limit
        phase.group_messages, phase.card_updates = fake.group_messages, fake.card_updates
        counted: collections.Counter[str] = collections.Counter()
        with contextlib.suppress(OSError, ValueError):
            for _, worker_data in workers:
                counted.update(json.loads((worker_data / "stats.json").read_text())["statements"])
            phase.statements = dict(counted)
            phase.statement_callbacks = len(s.acks)
    return phase


# --------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _lat(values: list[float]) -> str:
    return "/".join(f"{_pct(values, q):.0f}" for q in (0.5, 0.95, 0.99))


def _verdict(value: float, target: float) -> str:
    return f"≥ {target:g} {'PASS' if value >= target else 'FAIL'}"


def _sql(phase: Phase) -> str:
    n = phase.statement_callbacks or 1
    total = sum(phase.statements.values()) / n
    parts = sorted(phase.statements.items(), key=lambda kv: -kv[1])[:5]
    return f"{total:.1f} (" + ", ".join(f"{k} {v / n:.1f}" for k, v in parts) + ")"


def report(opts: argparse.Namespace, phases: dict[str, Phase], vectors: int) -> None:
    """Print the figures."""
    w = print
    db = "SQLite" if opts.db == "sqlite" else "PostgreSQL"
    limit = "30/min per member ON (production)" if opts.member_limit else "member limit off"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    w(
        f"\nwecom_load  employees={opts.employees}  seconds={opts.seconds:g}  db={db}  "
        f"workers={opts.workers}  "
        f"{limit}  {os.cpu_count()} cores, load average {load}\n"
        f"({vectors} official WXBizMsgCrypt vectors checked)"
    )
    titles = {
        "a": "(a) petitions, closed loop (8 callbacks per petition)",
        "b": f"(b) tracking-code look-ups, closed loop ({opts.wrong:.0%} typing wrong codes)",
        "c": f"(c) burst: {opts.burst} texts per employee at once",
    }
    for name, p in phases.items():
        w(titles[name])
        acks, handled = p.rate(p.acks), p.rate(p.replies)
        w(f"    {'window s / callbacks sent':44}{p.window:>10.1f} / {p.sent}")
        w(f"    {'callbacks acknowledged/s':44}{acks:>10.1f}   {_verdict(acks, 500)}")
        w(
            f"    {'messages handled/s (first reply at the fake)':44}{handled:>10.1f}   "
            f"{_verdict(handled, 500)}"
        )
        w(f"    {'reply latency p50/p95/p99 ms':44}{_lat(p.latencies):>10}")
        w(
            f"    {'ack latency p50/p95/p99 ms':44}{_lat(p.ack_latencies):>10}   "
            f"> 5 s (WeCom retries): {p.late_acks}"
        )
        if name == "b":
            lookups = p.rate(p.lookups)
            w(
                f"    {'look-ups/s (valid codes, status card back)':44}{lookups:>10.1f}   "
                f"{_verdict(lookups, 1000)}"
            )
            w(f"    {'look-up latency p50/p95/p99 ms':44}{_lat(p.lookup_latencies):>10}")
            w(
                f"    {'wrong codes: not found / throttled per s':44}"
                f"{p.rate(p.not_found):>10.1f} / {p.rate(p.throttled):.1f}"
                f"   ({p.not_found} / {p.throttled} replies)"
            )
        if name == "a":
            w(f"    {'petitions filed (whole run)':44}{p.petitions:>10}")
        w(
            f"    {'message/send calls/s':44}{p.rate(p.sends):>10.1f}   "
            f"(card updates {p.card_updates}, group messages {p.group_messages})"
        )
        w(f"    {'sends WeCom would drop (>30/min/member)':44}{p.over_member_limit:>10}")
        w(f"    {'refused / lost / transport errors':44}{p.rejected:>10} / {p.lost} / {p.errors}")
        per = p.cpu * 1000 / p.replies if p.replies else 0.0
        w(f"    {'service CPU s (ms per handled message)':44}{p.cpu:>10.1f}   ({per:.2f} ms)")
        w(f"    {'fake+load CPU s / service peak RSS MB':44}{p.own_cpu:>10.1f} / {p.rss_mb:.0f}")
        # Other work on the machine (a database server, other jobs) competes for the cores.
        others = max(0.0, p.busy - p.cpu - p.own_cpu)
        cores = p.busy / p.window if p.window else 0.0
        w(
            f"    {'machine busy cores / other processes CPU s':44}{cores:>10.2f} / "
            f"{others:.1f}   (of {os.cpu_count()} cores)"
        )
        w(f"    {'SQL statements per callback':44}{_sql(p):>10}")


# --------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.wecom_load",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--employees", type=int, default=200, help="concurrent employees (200)")
    p.add_argument("--seconds", type=float, default=30.0, help="measuring window per shape (30)")
    p.add_argument(
        "--db",
        default="sqlite",
        help="'sqlite' (a temporary data directory, the default) or a PostgreSQL URL such as "
        "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres: a fresh database "
        "xf_bench_<shape>_<random> is created on that server for each shape and dropped "
        "afterwards (the named database is used only to connect)",
    )
    p.add_argument("--shapes", default="abc", help="which of a, b, c to run (abc)")
    p.add_argument("--codes", type=int, default=1000, help="petitions seeded for (b) (1000)")
    p.add_argument("--wrong", type=float, default=0.1, help="(b) share typing wrong codes")
    p.add_argument("--burst", type=int, default=20, help="(c) texts per employee (20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before the window (5)")
    p.add_argument("--connections", type=int, default=100, help="HTTP connections (100)")
    p.add_argument("--progress", type=float, default=5.0, help="progress every S seconds")
    p.add_argument(
        "--member-limit",
        action="store_true",
        help="keep the service's WeCom limit of 30 messages/min per member (production)",
    )
    p.add_argument(
        "--switch-interval",
        type=float,
        help="the service's sys.setswitchinterval in ms (an experiment; Python's default is 5)",
    )
    p.add_argument("--profile", help="py-spy the service: collapsed stacks at PATH.<shape>.txt")
    p.add_argument("--json", help="also write the figures to this file")
    # Internal: the service process.
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="service processes behind a round-robin balancer (1; more need PostgreSQL)",
    )
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--keyring", help=argparse.SUPPRESS)
    p.add_argument("--api", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    return p


async def _main(opts: argparse.Namespace) -> dict[str, Phase]:
    phases: dict[str, Phase] = {}
    with tempfile.TemporaryDirectory(prefix="xf-wecom-bench-") as tmp:
        for shape in "abc":
            if shape in opts.shapes:
                phases[shape] = await run_shape(shape, opts, Path(tmp))
    return phases


def main() -> None:
    """Run the benchmark (or, with --serve, the service under test)."""
    opts = _parser().parse_args()
    if opts.serve:
        asyncio.run(_serve(opts))
        return
    if not set(opts.shapes) <= set("abc") or not opts.shapes:
        raise SystemExit("--shapes takes letters from a, b, c")
    if opts.workers < 1 or (opts.workers > 1 and opts.db == "sqlite"):
        raise SystemExit("--workers above 1 needs --db postgresql+asyncpg://…")
    if opts.employees < 1 or opts.seconds <= 0:
        raise SystemExit("--employees and --seconds must be positive")
    vectors = check_vectors()
    phases = asyncio.run(_main(opts))
    report(opts, phases, vectors)
    if opts.json:
        figures = {
            name: {
                "acks_per_s": p.rate(p.acks),
                "handled_per_s": p.rate(p.replies),
                "lookups_per_s": p.rate(p.lookups),
                "p50_ms": _pct(p.latencies, 0.5),
                "p95_ms": _pct(p.latencies, 0.95),
                "p99_ms": _pct(p.latencies, 0.99),
                "late_acks": p.late_acks,
                "lost": p.lost,
                "throttled": p.throttled,
                "cpu_s": p.cpu,
            }
            for name, p in phases.items()
        }
        Path(opts.json).write_text(json.dumps({"options": vars(opts), "phases": figures}))


if __name__ == "__main__":
    main()
