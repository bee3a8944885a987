"""The Telegram inbox: polled updates kept (encrypted) before Telegram is told they arrived.

``SqlTelegramInbox`` (storage/repositories.py) on both databases, its migration, and the
``Poller`` (bot/telegram/polling.py) with the real python-telegram-bot ``Bot`` over our
aiohttp transport against the local fake Bot API. Faults are real: the fake answers HTTP
errors, a TCP relay drops connections, and the inbox table is renamed away to make keeping
fail. Nothing of ours is mocked; the only knob turned is the purge interval (one test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, Update
from telegram.error import InvalidToken

import bot.telegram.polling as polling
import storage.migrate
from bot.container import Container
from bot.telegram.adapter import ALLOWED_UPDATES
from bot.telegram.polling import INBOX_TTL, Poller, without_names
from bot.telegram.transport import AiohttpRequest
from storage.migrate import head_revision
from storage.models import Base, TelegramInboxRow
from tests.fakes.telegram_api import FakeBotApi
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)

JSON = dict[str, Any]

CHAT = 4242001
NAME = "王小明"
USERNAME = "wangxm_secret"
TEXT = "宿舍热水器坏了两个月，3号楼117室"
POLL = 5  # long-polling timeout (s) the Poller asks for in these tests
KEEP_FAILED = "telegram polling: database step failed"
POLL_FAILED = "telegram polling failed"


# ---------------------------------------------------------------------- helpers


def message_update(update_id: int, text: str = TEXT, chat: int = CHAT) -> JSON:
    """A private text message update as Telegram sends it."""
    user = {"id": chat, "is_bot": False, "first_name": NAME, "username": USERNAME}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_772_400_000,
            "chat": {"id": chat, "type": "private", "first_name": NAME, "username": USERNAME},
            "from": user,
            "text": text,
        },
    }


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait (bounded) for state nothing wakes us for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)


async def kept_ids(engine: AsyncEngine) -> list[int]:
    """The update_ids the telegram_inbox table holds, read directly."""
    async with engine.connect() as conn:
        stmt = select(TelegramInboxRow.update_id).order_by(TelegramInboxRow.update_id)
        return list((await conn.execute(stmt)).scalars())


async def keep(container: Container, updates: list[JSON], at: Any) -> None:
    async with container.uow() as uow:
        await uow.telegram_inbox.add([(u["update_id"], u) for u in updates], at)
        await uow.commit()


async def mark_handled(container: Container, *keys: str, at: Any) -> None:
    async with container.uow() as uow:
        for key in keys:
            await uow.processed.mark(key, at)
        await uow.commit()


async def unhandled(container: Container) -> list[JSON]:
    async with container.uow() as uow:
        return await uow.telegram_inbox.unhandled()


def offset_of(call: Any) -> int:
    return int(call.params.get("offset") or 0)


def result_ids(call: Any) -> list[int]:
    return [u["update_id"] for u in call.result or []]


class InboxWatchingBotApi(FakeBotApi):
    """The fake Bot API, noting which updates the inbox holds when each getUpdates arrives
    (the moment its offset confirms the updates below it to Telegram), and waking
    ``wait_for`` on arrival too, so a test can wait for a long poll that is still open."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.watch: AsyncEngine | None = None
        self.inbox_at_poll: list[tuple[int, set[int]]] = []

    async def _api_getUpdates(self, params: JSON) -> Any:  # noqa: N802
        if self.watch is not None:
            kept = set(await kept_ids(self.watch))
            self.inbox_at_poll.append((int(params.get("offset") or 0), kept))
        self._notify()
        return await super()._api_getUpdates(params)


class Submitted:
    """The Poller's ``submit``: records each update (and, if asked, whether it was kept)."""

    def __init__(self, fake: FakeBotApi, engine: AsyncEngine | None = None) -> None:
        self.fake = fake
        self.engine = engine
        self.updates: list[Update] = []
        self.polls_before: list[int] = []  # getUpdates calls the fake had seen, per update
        self.kept_before: list[bool] = []

    async def __call__(self, update: Update) -> None:
        self.polls_before.append(len(self.fake.calls_to("getUpdates")))
        if self.engine is not None:
            self.kept_before.append(update.update_id in await kept_ids(self.engine))
        self.updates.append(update)

    @property
    def ids(self) -> list[int]:
        return [u.update_id for u in self.updates]


def make_poller(
    bot: Bot, container: Container, clock: FakeClock, submit: Submitted, **options: Any
) -> Poller:
    options.setdefault("timeout", POLL)
    return Poller(
        lambda: bot, container.uow, clock, submit, allowed_updates=ALLOWED_UPDATES, **options
    )


@asynccontextmanager
async def running(poller: Poller) -> AsyncIterator[asyncio.Task[None]]:
    """Run the Poller until the block ends, then cancel it (bounded)."""
    task = asyncio.create_task(poller.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)


def make_bot(base_url: str, fake: FakeBotApi) -> Bot:
    """PTB's Bot with the transport the channel uses (bot/telegram/adapter.py)."""
    return Bot(
        fake.token,
        base_url=base_url,
        base_file_url=fake.base_file_url,
        request=AiohttpRequest(8),
        get_updates_request=AiohttpRequest(1, read_timeout=5.0),
    )


@pytest.fixture
async def fake() -> AsyncIterator[InboxWatchingBotApi]:
    async with InboxWatchingBotApi() as api:
        yield api


@pytest.fixture
async def bot(fake: InboxWatchingBotApi) -> AsyncIterator[Bot]:
    async with make_bot(fake.base_url, fake) as b:
        yield b


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="bot.telegram.polling")
    return caplog


def logged(caplog: pytest.LogCaptureFixture, words: str) -> Callable[[], bool]:
    return lambda: any(words in r.getMessage() for r in caplog.records)


class Cable:
    """A TCP relay between the bot and the fake Bot API that can be cut: open connections
    are aborted and new ones closed at once until it is mended."""

    def __init__(self, target: str) -> None:
        self.host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target_port = int(port)
        self.up = True
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Cable:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 2.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def mend(self) -> None:
        self.up = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


# ---------------------------------------------------------------------- the repository


async def test_add_keeps_an_update_once(container: Container, clock: FakeClock) -> None:
    first_at = clock()
    await keep(container, [message_update(1, "第一次")], first_at)
    clock.advance(minutes=5)
    # The same update_id again (a batch fetched twice) changes nothing about the kept one.
    await keep(container, [message_update(1, "改过的"), message_update(2, "第二条")], clock())
    await keep(container, [], clock())  # an empty batch is fine

    async with container.engine.connect() as conn:
        rows = (await conn.execute(select(TelegramInboxRow).order_by("update_id"))).all()
    assert [r.update_id for r in rows] == [1, 2]
    assert rows[0].at == first_at and rows[1].at == clock()
    assert [u["message"]["text"] for u in await unhandled(container)] == ["第一次", "第二条"]


async def test_unhandled_lists_kept_updates_by_update_id_without_handled_ones(
    container: Container, clock: FakeClock
) -> None:
    await keep(container, [message_update(12), message_update(10), message_update(11)], clock())
    clock.advance(minutes=1)
    await keep(container, [message_update(3)], clock())
    assert [u["update_id"] for u in await unhandled(container)] == [3, 10, 11, 12]

    # Handled = a processed_updates record with the key bot/telegram/dedup.py writes; the
    # same number from another channel, or an update never kept, does not count.
    await mark_handled(container, "telegram:11", "wecom:msg:10", "telegram:99", at=clock())
    kept = await unhandled(container)
    assert [u["update_id"] for u in kept] == [3, 10, 12]
    assert kept[0] == message_update(3)  # the whole update comes back as it was kept


async def test_purge_drops_handled_and_expired_updates_and_keeps_the_rest(
    container: Container, clock: FakeClock
) -> None:
    t0 = clock()
    await keep(container, [message_update(1), message_update(2)], t0)
    cutoff = clock.advance(hours=12)
    await keep(container, [message_update(3), message_update(4)], cutoff)
    clock.advance(minutes=1)
    await keep(container, [message_update(5)], clock())
    await mark_handled(container, "telegram:1", "telegram:4", at=clock())
    # Handling an update removes it from the inbox in the same transaction.
    assert await kept_ids(container.engine) == [2, 3, 5]

    async with container.uow() as uow:
        purged = await uow.telegram_inbox.purge(cutoff)
        await uow.commit()

    # 2: kept before the cutoff and never handled. 3 was kept at the cutoff itself (not
    # before it) and 5 after it: both still wait to be handled.
    assert purged == 1
    assert await kept_ids(container.engine) == [3, 5]
    assert [u["update_id"] for u in await unhandled(container)] == [3, 5]
    async with container.uow() as uow:  # the handled records themselves stay
        assert await uow.processed.mark("telegram:1", clock()) is False


async def test_a_kept_update_is_stored_without_plaintext(
    container: Container, clock: FakeClock
) -> None:
    update = message_update(77, TEXT)
    await keep(container, [update], clock())

    async with container.engine.connect() as conn:
        row = (await conn.execute(select(TelegramInboxRow))).one()
    blob = bytes(row.payload_ct)
    secrets = [str(CHAT), NAME, USERNAME, TEXT, "3号楼117室", "private"]
    for secret in secrets:
        for form in {secret.encode(), json.dumps(secret).strip('"').encode()}:
            assert form not in blob, secret
    # The key is the blind index dedup.py records as handled, not the id in the clear.
    assert row.key_index == container.vault.blind_index("update", "telegram:77")
    assert len(row.key_index) == 64 and "telegram" not in row.key_index
    assert row.update_id == 77  # the id alone is plain: it orders the replay
    assert await unhandled(container) == [update]


async def test_the_inbox_table_comes_from_the_migration_and_matches_the_model(
    container: Container,
) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
        return [d for d in found if "telegram_inbox" in repr(d)]

    def tables(sync_conn: Any) -> set[str]:
        return set(inspect(sync_conn).get_table_names())

    def migrate(sync_conn: Any, direction: str, revision: str) -> None:
        cfg = Config()
        cfg.set_main_option(
            "script_location", str(Path(storage.migrate.__file__).parent / "migrations")
        )
        cfg.attributes["connection"] = sync_conn
        getattr(command, direction)(cfg, revision)

    assert head_revision() >= "0005"
    async with container.engine.connect() as conn:
        assert "telegram_inbox" in await conn.run_sync(tables)
        assert await conn.run_sync(diff) == []
    # The downgrade removes exactly this table, and the upgrade brings it back as modelled.
    async with container.engine.begin() as conn:
        await conn.run_sync(migrate, "downgrade", "0004")
    try:
        async with container.engine.connect() as conn:
            assert "telegram_inbox" not in await conn.run_sync(tables)
    finally:
        async with container.engine.begin() as conn:
            await conn.run_sync(migrate, "upgrade", "head")
    async with container.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


# ---------------------------------------------------------------------- the Poller


async def test_updates_are_kept_before_the_request_that_confirms_them_and_submitted_in_order(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    fake.watch = container.engine
    submitted = Submitted(fake, container.engine)
    # 120 waiting at start: two batches (the Bot API hands out at most 100), then 3 live.
    early = [fake.user_message(CHAT, CHAT, f"第{i}条")["update_id"] for i in range(120)]
    poller = make_poller(bot, container, clock, submitted)
    async with running(poller):
        await eventually(lambda: len(submitted.updates) == 120)
        late = [fake.user_message(CHAT, CHAT, f"后来{i}")["update_id"] for i in range(3)]
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 124)
        await eventually(lambda: len(submitted.updates) == 123)

    assert submitted.ids == early + late == list(range(1, 124))
    texts = [u.message.text for u in submitted.updates if u.message is not None]
    assert texts == [f"第{i}条" for i in range(120)] + [f"后来{i}" for i in range(3)]
    assert all(u.get_bot() is bot for u in submitted.updates)
    assert all(submitted.kept_before)  # in the inbox before handed over

    polls = fake.calls_to("getUpdates")
    assert [offset_of(c) for c in polls[:4]] == [0, 101, 121, 124]
    assert [result_ids(c) for c in polls[:3]] == [
        list(range(1, 101)),
        list(range(101, 121)),
        [121, 122, 123],
    ]
    assert polls[0].params["allowed_updates"] == ALLOWED_UPDATES
    assert polls[0].params["timeout"] == POLL
    assert [c.method for c in fake.calls].index("deleteWebhook") < fake.calls.index(polls[0])
    # When Telegram was told "everything below offset arrived", all of it was kept.
    confirming = [(offset, kept) for offset, kept in fake.inbox_at_poll if offset > 0]
    assert [offset for offset, _ in confirming][:3] == [101, 121, 124]
    for offset, kept in confirming:
        assert set(range(1, offset)) <= kept, offset
    assert poller.offset == 124 and poller.fetched == 123
    assert await kept_ids(container.engine) == list(range(1, 124))


async def test_replay_submits_kept_unhandled_updates_first_and_skips_handled_and_expired(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    # A previous run fetched 10..12 and kept them; 10 was handled, then the process died
    # before the next getUpdates confirmed them, so Telegram still has them, and 13 is new.
    # 7 was kept more than INBOX_TTL ago and never handled.
    await keep(container, [message_update(7, "太旧了")], clock() - INBOX_TTL - timedelta(1))
    previous = [message_update(i, f"上次{i}") for i in (10, 11, 12)]
    await keep(container, previous, clock())
    await mark_handled(container, "telegram:10", at=clock())
    for update in [*previous, message_update(13, "新的")]:
        fake.raw_update(update)

    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    async with running(poller):
        await eventually(lambda: len(submitted.updates) == 3)
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 14)

    assert submitted.ids == [11, 12, 13]
    assert submitted.polls_before[:2] == [0, 0]  # replayed before any getUpdates
    assert [u.message.text for u in submitted.updates if u.message] == ["上次11", "上次12", "新的"]
    assert all(isinstance(u, Update) and u.get_bot() is bot for u in submitted.updates)
    polls = fake.calls_to("getUpdates")
    # The first request already confirms the replayed ones: 10..12 are not fetched again.
    assert offset_of(polls[0]) == 13 and result_ids(polls[0]) == [13]
    assert poller.replayed == 2
    # The expired one and the handled one were purged at start; the rest are kept.
    assert await kept_ids(container.engine) == [11, 12, 13]


async def test_after_a_restart_the_updates_one_run_kept_are_replayed_as_they_were_fetched(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    # Run 1 fetches a message, a photo and a button press, confirms them with its next
    # request, and stops before anything handled them (submit only records).
    fake.user_message(CHAT, CHAT, TEXT)
    fake.user_photo(CHAT, CHAT, caption="证据")
    fake.callback_query(CHAT, CHAT, "c:cat:wages", message_id=1)
    first = Submitted(fake)
    async with running(make_poller(bot, container, clock, first)):
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 4)
    assert first.ids == [1, 2, 3]

    # Run 2 hands the same updates over again, from the database alone: Telegram has
    # forgotten them (offset 4 confirmed them).
    polls_so_far = len(fake.calls_to("getUpdates"))
    again = Submitted(fake)
    poller = make_poller(bot, container, clock, again)
    async with running(poller):
        await eventually(lambda: len(again.ids) == 3)
        await fake.wait_until(lambda: len(fake.calls_to("getUpdates")) > polls_so_far)

    # As fetched, less the senders' names (kept updates never hold them).
    assert [u.to_dict() for u in again.updates] == [
        without_names(u.to_dict()) for u in first.updates
    ]
    assert again.polls_before == [polls_so_far] * 3
    assert again.updates[2].callback_query is not None
    assert again.updates[2].callback_query.data == "c:cat:wages"
    assert offset_of(fake.calls_to("getUpdates")[polls_so_far]) == 4
    assert poller.replayed == 3 and poller.fetched == 0


async def test_replay_alone_hands_over_kept_updates_and_sets_the_offset(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    await keep(container, [message_update(5), message_update(3)], clock())
    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    assert await poller.replay() == 2
    assert submitted.ids == [3, 5] and poller.offset == 6
    assert fake.calls_to("getUpdates") == []
    assert await make_poller(bot, container, clock, Submitted(fake)).replay() == 2  # not handled


async def test_when_keeping_fails_the_offset_stays_and_the_batch_is_fetched_again(
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    bot: Bot,
    logs: pytest.LogCaptureFixture,
) -> None:
    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    away = False
    try:
        async with running(poller):
            await fake.wait_polling()  # replay is done; the first long poll is waiting
            async with container.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE telegram_inbox RENAME TO inbox_away"))
            away = True
            fake.user_message(CHAT, CHAT, "一")
            fake.user_message(CHAT, CHAT, "二")
            await eventually(logged(logs, KEEP_FAILED))
            # Not handed over, and no request confirmed them (the Poller is backing off).
            assert submitted.ids == []
            assert [result_ids(c) for c in fake.calls_to("getUpdates")] == [[1, 2]]

            async with container.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE inbox_away RENAME TO telegram_inbox"))
            away = False
            await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 3)
            await eventually(lambda: len(submitted.ids) == 2)
    finally:
        if away:
            async with container.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE inbox_away RENAME TO telegram_inbox"))

    polls = fake.calls_to("getUpdates")
    assert [offset_of(c) for c in polls[:3]] == [0, 0, 3]  # the same offset, asked again
    assert [result_ids(c) for c in polls[:2]] == [[1, 2], [1, 2]]
    assert submitted.ids == [1, 2]  # once each
    assert await kept_ids(container.engine) == [1, 2]


@pytest.mark.parametrize("status", [500, 409])
async def test_a_failed_getupdates_backs_off_and_retries_without_losing_updates(
    status: int,
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    bot: Bot,
    logs: pytest.LogCaptureFixture,
) -> None:
    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    async with running(poller):
        fake.user_message(CHAT, CHAT, "一")
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 2)
        # The long poll for offset 2 is already waiting; the one after it (offset 3) fails.
        fake.fail_next("getUpdates", status)
        fake.user_message(CHAT, CHAT, "二")
        failed = await fake.wait_for(lambda c: c.method == "getUpdates" and c.status == status)
        fake.user_message(CHAT, CHAT, "三")  # arrives while the Poller backs off
        await eventually(lambda: len(submitted.ids) == 3)

    polls = fake.calls_to("getUpdates")
    retry = polls[polls.index(failed) + 1]
    assert offset_of(failed) == offset_of(retry) == 3
    assert result_ids(retry) == [3]
    assert retry.at - failed.at >= 0.9  # backed off (first step: 1 s), no hot loop
    assert submitted.ids == [1, 2, 3]
    assert await kept_ids(container.engine) == [1, 2, 3]
    assert logged(logs, POLL_FAILED if status == 500 else "another getUpdates")()


async def test_a_dropped_connection_backs_off_and_retries_without_losing_updates(
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    logs: pytest.LogCaptureFixture,
) -> None:
    async with Cable(fake.url) as cable, make_bot(cable.base_url, fake) as relayed:
        submitted = Submitted(fake)
        poller = make_poller(relayed, container, clock, submitted)
        async with running(poller):
            fake.user_message(CHAT, CHAT, "一")
            await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 2)
            cable.cut()  # the long poll for offset 2 loses its connection mid-wait
            fake.user_message(CHAT, CHAT, "二")
            await eventually(logged(logs, POLL_FAILED))
            assert submitted.ids == [1]
            cable.mend()
            await eventually(lambda: len(submitted.ids) == 2)

    polls = fake.calls_to("getUpdates")
    # The cut poll (offset 2) is asked again with the same offset, and that answer counts.
    assert [offset_of(c) for c in polls[:3]] == [0, 2, 2]
    assert result_ids(polls[2]) == [2]
    assert submitted.ids == [1, 2]
    assert await kept_ids(container.engine) == [1, 2]


async def test_a_failure_at_start_up_is_retried_and_does_not_end_polling(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    fake.fail_next("deleteWebhook", 500)
    fake.user_message(CHAT, CHAT, "一")
    submitted = Submitted(fake)
    async with running(make_poller(bot, container, clock, submitted)) as task:
        await eventually(lambda: len(submitted.ids) == 1 or task.done())
        if task.done():
            task.result()  # today: NetworkError, and nothing polls any more
    assert submitted.ids == [1]
    assert [c.status for c in fake.calls_to("deleteWebhook")] == [500, 200]


async def test_a_database_failure_during_replay_is_retried_and_loses_nothing(
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    bot: Bot,
    logs: pytest.LogCaptureFixture,
) -> None:
    await keep(container, [message_update(10, "上次")], clock())
    fake.raw_update(message_update(10, "上次"))
    fake.raw_update(message_update(11, "新的"))
    submitted = Submitted(fake)
    async with container.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE telegram_inbox RENAME TO inbox_away"))
    away = True
    try:
        async with running(make_poller(bot, container, clock, submitted)) as task:
            await eventually(logged(logs, KEEP_FAILED))
            assert not task.done() and submitted.ids == []
            assert fake.calls_to("getUpdates") == []  # nothing confirmed before the replay
            async with container.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE inbox_away RENAME TO telegram_inbox"))
            away = False
            await eventually(lambda: len(submitted.ids) == 2)
    finally:
        if away:
            async with container.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE inbox_away RENAME TO telegram_inbox"))

    assert submitted.ids == [10, 11]
    assert submitted.polls_before[0] == 0  # replayed first, once the database was back
    polls = fake.calls_to("getUpdates")
    assert offset_of(polls[0]) == 11 and result_ids(polls[0]) == [11]


async def test_cancelling_stops_a_waiting_long_poll_at_once(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    poller = make_poller(bot, container, clock, Submitted(fake), timeout=30)
    task = asyncio.create_task(poller.run())
    await fake.wait_polling()
    loop = asyncio.get_running_loop()
    started = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert loop.time() - started < 0.5


async def test_cancelling_stops_the_poller_while_it_backs_off(
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    bot: Bot,
    logs: pytest.LogCaptureFixture,
) -> None:
    fake.fail_next("getUpdates", 502)
    poller = make_poller(bot, container, clock, Submitted(fake))
    task = asyncio.create_task(poller.run())
    await eventually(logged(logs, POLL_FAILED))
    loop = asyncio.get_running_loop()
    started = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert loop.time() - started < 0.5
    assert len(fake.calls_to("getUpdates")) == 1  # cancelled in the 1 s back-off


async def test_a_rejected_token_stops_polling(
    container: Container, clock: FakeClock, fake: InboxWatchingBotApi, bot: Bot
) -> None:
    fake.fail_next("getUpdates", 401, description="Unauthorized")
    fake.user_message(CHAT, CHAT, "一")
    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    with pytest.raises(InvalidToken):
        await asyncio.wait_for(poller.run(), 2.0)
    assert len(fake.calls_to("getUpdates")) == 1  # no retry
    assert submitted.ids == [] and await kept_ids(container.engine) == []


async def test_handled_and_expired_updates_are_purged_while_polling(
    container: Container,
    clock: FakeClock,
    fake: InboxWatchingBotApi,
    bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(polling, "_PURGE_EVERY", 0.0)  # purge after every request
    submitted = Submitted(fake)
    poller = make_poller(bot, container, clock, submitted)
    async with running(poller):
        fake.user_message(CHAT, CHAT, "一")
        fake.user_message(CHAT, CHAT, "二")
        await eventually(lambda: len(submitted.ids) == 2)
        await mark_handled(container, "telegram:1", at=clock())  # as dedup.py would
        fake.user_message(CHAT, CHAT, "三")  # wakes the loop: keep 3, then purge
        await eventually(lambda: len(submitted.ids) == 3)
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 4)
        assert await kept_ids(container.engine) == [2, 3]

        clock.advance(seconds=INBOX_TTL.total_seconds() + 60)  # 2 and 3 never handled
        fake.user_message(CHAT, CHAT, "四")
        await eventually(lambda: len(submitted.ids) == 4)
        await fake.wait_for(lambda c: c.method == "getUpdates" and offset_of(c) == 5)
        assert await kept_ids(container.engine) == [4]
