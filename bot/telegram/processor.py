"""Updates of one chat strictly in order, different chats concurrently, with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram.ext import BaseUpdateProcessor

__all__ = ["PerChatUpdateProcessor"]

# PTB takes its own semaphore *before* do_process_update; if that were the bound, updates
# queued behind one busy chat would hold every slot and stall all other chats. So PTB's
# semaphore is set out of the way and the real bound is taken after the chat's lock.
_UNBOUNDED = 1 << 20


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs at most ``bound`` updates at once and never two of the same chat."""

    def __init__(self, bound: int = 16, key: Callable[[object], Hashable | None] = id) -> None:
        super().__init__(_UNBOUNDED)
        if bound < 1:
            raise ValueError("bound must be positive")
        self.bound = bound
        self._key = key
        self._gate = asyncio.Semaphore(bound)
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's turn, then for a free slot, then process."""
        key = self._key(update)
        if key is None:
            async with self._gate:
                await coroutine
            return
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock, self._gate:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
