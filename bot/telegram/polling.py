"""Long polling that loses no update when the process dies.

``getUpdates`` with ``offset=N`` tells Telegram that every update below N was received, and
Telegram forgets them. PTB's ``Updater`` asks for the next batch as soon as it has queued
the last one, so a ``kill -9`` before those updates were handled lost them for good. Here a
batch is written to the database (encrypted, ``telegram_inbox``) before the next request
confirms it; on start, kept updates without a ``processed_updates`` record are handled
first. The update_id claim in the handler's transaction (bot/telegram/dedup.py) makes a
replayed update that had in fact been handled a no-op, so every update is handled once.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, Update
from telegram.error import (
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBUserWarning

from bot.telegram.limiter import retry_after_seconds
from storage.uow import UnitOfWorkFactory

__all__ = ["Poller", "without_names"]

# Bot.do_api_request warns when the endpoint has a Bot method; getUpdates is asked for raw
# on purpose (see Poller.run).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)

log = logging.getLogger(__name__)

# Kept updates that were never handled (a handler bug) are dropped after this long; it
# must stay below the scheduler's PROCESSED_TTL, or a handled update could look new.
INBOX_TTL = timedelta(hours=12)
_PURGE_EVERY = 60.0  # seconds between clean-ups of handled updates


_NAME_FIELDS = ("last_name", "username")


def without_names(value: Any) -> Any:
    """A copy of an update without people's names and usernames: the handlers need ids,
    never names, and what is kept until handled should not say who wrote it."""
    if isinstance(value, dict):
        kept = {k: without_names(v) for k, v in value.items() if k not in _NAME_FIELDS}
        if "first_name" in kept:
            kept["first_name"] = "-"  # required by the Bot API's User object
        return kept
    if isinstance(value, list):
        return [without_names(v) for v in value]
    return value


class Poller:
    """Fetches updates, keeps them, then hands them to ``submit`` (PTB's update queue)."""

    def __init__(
        self,
        bot: Callable[[], Bot],
        uow: UnitOfWorkFactory,
        clock: Callable[[], datetime],
        submit: Callable[[Update], Any],
        *,
        allowed_updates: Sequence[str],
        timeout: int = 30,
        max_backoff: float = 30.0,
    ) -> None:
        self._bot = bot
        self._uow = uow
        self._clock = clock
        self._submit = submit
        self._allowed = list(allowed_updates)
        self._timeout = timeout
        self._max_backoff = max_backoff
        self.offset: int | None = None
        self.fetched = 0
        self.replayed = 0

    async def replay(self) -> int:
        """Hand over updates kept by an earlier run and not handled; return how many."""
        await self._purge()  # first: anything older than INBOX_TTL is not replayed
        async with self._uow() as uow:
            kept = await uow.telegram_inbox.unhandled()
        bot = self._bot()
        for data in kept:
            update = Update.de_json(data, bot)
            await self._submit(update)
            self.offset = max(self.offset or 0, update.update_id + 1)
        self.replayed += len(kept)
        if kept:
            log.info("replaying %d telegram updates kept before a restart", len(kept))
        return len(kept)

    async def _keep(self, updates: Sequence[dict[str, Any]]) -> None:
        pairs = [(int(u["update_id"]), without_names(u)) for u in updates]
        async with self._uow() as uow:
            await uow.telegram_inbox.add(pairs, self._clock())
            await uow.commit()

    async def _purge(self) -> None:
        async with self._uow() as uow:
            dropped = await uow.telegram_inbox.purge(self._clock() - INBOX_TTL)
            await uow.commit()
        if dropped:
            log.debug("telegram inbox: %d handled or expired updates dropped", dropped)

    async def run(self) -> None:
        """Poll until cancelled."""
        bot = self._bot()
        started = False
        backoff = 1.0
        loop = asyncio.get_running_loop()
        next_purge = loop.time() + _PURGE_EVERY
        while True:
            try:
                if not started:  # inside the loop: a failure here is retried like any other
                    await bot.delete_webhook()
                    await self.replay()
                    started = True
                # The raw JSON, not Bot.get_updates: it is what we keep (as Telegram sent
                # it, and without PTB's to_dict() per update), then parsed once.
                raw = await bot.do_api_request(
                    "getUpdates",
                    api_kwargs={
                        "offset": self.offset,
                        "timeout": self._timeout,
                        "allowed_updates": self._allowed,
                    },
                    read_timeout=self._timeout + 10,
                )
                if raw:
                    # Kept before the next request confirms them; if keeping fails, the
                    # offset stays and Telegram hands the same batch out again.
                    await self._keep(raw)
                    updates = Update.de_list(raw, bot)
                    for update in updates:
                        await self._submit(update)
                    self.offset = updates[-1].update_id + 1
                    self.fetched += len(updates)
                if loop.time() >= next_purge:
                    await self._purge()
                    next_purge = loop.time() + _PURGE_EVERY
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("telegram rejected the bot token; polling stopped")
                raise
            except EndPointNotFound as error:  # do_api_request's name for a 401/404
                log.error("telegram rejected the bot token; polling stopped")
                raise InvalidToken(error.message) from error
            except RetryAfter as error:
                log.warning("telegram asked polling to slow down")
                await asyncio.sleep(retry_after_seconds(error))
            except Conflict:
                log.warning("another getUpdates or a webhook is active for this bot; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except (NetworkError, TelegramError) as error:
                log.warning("telegram polling failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception as error:  # the database: keep trying, lose nothing
                log.error(
                    "telegram polling: database step failed (%s); retrying", type(error).__name__
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
