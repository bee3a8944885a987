"""The early warning's similarity index, held in the service's memory (issue 16).

Nothing of it is stored: no petition text and no n-grams reach the database (the links it
finds do, storage/warnings.py). Each process builds its own:

- **build**: on first use (the scheduler's first pass, or a submission), the petitions of
  the window (``XINFANG_WARNINGS_DAYS``, default 90) are read in batches and decrypted and
  indexed in a worker thread, never on the event loop; the new index is used only once it
  is complete, so until then submissions skip the look-up (the daily scan links them);
- **catch up**: before each look-up, the petitions with ids above the last one indexed
  (other worker processes add some) are added, re-checking the last few ids in case one
  was committed late;
- **prune**: the daily scan forgets the petitions older than the window.

Look-ups and additions run in a worker thread under one lock (the index's arrays are not
safe to read while they grow); a look-up that cannot get the lock quickly (a prune or a
large catch-up holds it) is skipped rather than kept waiting with the intake's transaction
open. A cluster scan reads the index only for its document frequencies and runs beside
look-ups (petitions/warnings/clusters.py).

Long work in a worker thread hands the thread to the event loop every few milliseconds
(:func:`_off_loop`): numpy's brief releases of the GIL would otherwise keep the loop
waiting for the whole job (issue 12: no stall above 50 ms; bench/README.md has the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from bot.heap import settle
from handlers.ports import PetitionRecord, UnitOfWork
from handlers.warnings import open_records
from petitions.units import UnitTree
from petitions.warnings import (
    Cluster,
    ClusterConfig,
    Match,
    Petition,
    SimilarityConfig,
    SimilarityIndex,
    find_clusters,
)
from petitions.warnings.similar import pausing
from storage.uow import UnitOfWorkFactory

__all__ = ["BATCH", "WarningIndex"]

log = logging.getLogger(__name__)

BATCH = 1000  # petitions read and indexed at a time while building
OVERLAP = 64  # ids below the last indexed one checked again at each catch-up
CATCH_UP_LIMIT = 5000  # ids read per catch-up query
LOCK_WAIT = 1.0  # seconds a look-up waits for the index before it is skipped
SLICE = 0.005  # seconds of index work in a worker thread between turns of the event loop
TURN_WAIT = 0.05  # seconds a worker waits for the loop's turn at most (a loop stopping)

P = ParamSpec("P")
R = TypeVar("R")

Progress = Callable[[str, int], None]


class WarningIndex:
    """The similarity index of the petitions of the last ``days`` days, kept up to date
    (:class:`handlers.ports.SimilarityLookup`)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Callable[[], datetime],
        *,
        days: int = 90,
        config: SimilarityConfig | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.days = days
        self._config = config or SimilarityConfig(window_days=days)
        self._index: SimilarityIndex | None = None
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0
        self._unreadable: set[int] = set()  # ids in the window the index never holds
        self.progress: Progress | None = None
        # The last build, for the logs and the benchmark.
        self.build_seconds: float | None = None
        self.built_size = 0

    @property
    def ready(self) -> bool:
        """Whether the index is built (look-ups are skipped until then)."""
        return self._index is not None

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else 0

    def start(self) -> None:
        """Start building in the background, once (a failed build is started again)."""
        if self._task is None or (self._task.done() and self._index is None):
            self._task = asyncio.create_task(self._build(), name="warnings-index-build")

    async def wait(self) -> None:
        """Start the build if needed and wait until the index is ready."""
        self.start()
        assert self._task is not None
        await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop a build still running (the service is stopping)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _since(self) -> datetime:
        return self._clock() - timedelta(days=self.days)

    async def _build(self) -> None:
        started = time.perf_counter()
        # What the service holds at start (modules, settings) is never garbage either: out
        # of the collector's sight before the build's allocations trigger a collection.
        _settle()
        index = SimilarityIndex(self._config)
        since = self._since()
        after = 0
        try:
            while True:
                async with self._uow() as uow:
                    batch = await uow.warnings.petitions(since, after_id=after, limit=BATCH)
                if not batch:
                    break
                # Decrypting and indexing a batch is CPU work: a worker thread's.
                await _off_loop(self._add, index, batch)
                _settle()
                after = batch[-1].id
                if self.progress is not None:
                    self.progress("indexed", len(index))
                if len(batch) < BATCH:
                    break
        except Exception:
            log.exception("early warning: building the similarity index failed")
            raise
        self._last_id = after
        self._index = index
        self.build_seconds = time.perf_counter() - started
        self.built_size = len(index)
        log.info("early warning: %d petitions indexed in %.1f s", len(index), self.build_seconds)

    def _add(self, index: SimilarityIndex, records: Sequence[PetitionRecord]) -> None:
        petitions = open_records(records)
        index.add_all(petitions)
        kept = {p.id for p in petitions}
        self._unreadable.update(r.id for r in records if r.id not in kept)

    def _add_locked(self, records: Sequence[PetitionRecord]) -> None:
        assert self._index is not None
        with self._lock:
            self._add(self._index, records)

    async def _catch_up(self, uow: UnitOfWork, skip: int | None) -> None:
        """Index the committed petitions this process has not seen (``skip``: the one being
        submitted in this transaction, indexed once it is committed)."""
        index = self._index
        assert index is not None
        since = self._since()
        after = max(0, self._last_id - OVERLAP)
        while True:
            found = await uow.warnings.petition_ids(since, after, CATCH_UP_LIMIT)
            ids = [i for i in found if i != skip]
            missing = [i for i in ids if i not in index and i not in self._unreadable]
            if missing:
                records = await uow.warnings.petitions(since, ids=missing, limit=len(missing))
                await _off_loop(self._add_locked, records)
            if ids:
                self._last_id = max(self._last_id, ids[-1])
            if len(found) < CATCH_UP_LIMIT:
                return
            after = found[-1]

    async def similar(
        self, uow: UnitOfWork, petition: Petition, units: frozenset[int] | None
    ) -> list[Match] | None:
        """The similar petitions of the window in ``units`` (None: all), best first; None
        while the index is being built or busy (the look-up is skipped)."""
        if self._index is None:
            self.start()
            return None
        await self._catch_up(uow, petition.id)
        return await asyncio.to_thread(self._similar, petition, units)

    def _similar(self, petition: Petition, units: frozenset[int] | None) -> list[Match] | None:
        index = self._index
        assert index is not None
        if not self._lock.acquire(timeout=LOCK_WAIT):
            return None
        try:
            return index.similar(petition, units=units)
        finally:
            self._lock.release()

    async def clusters(
        self,
        petitions: Sequence[Petition],
        *,
        now: datetime,
        tree: UnitTree,
        config: ClusterConfig,
    ) -> list[Cluster]:
        """The clusters among ``petitions`` (the scan's window), weighed by the index's
        document frequencies; the window's petitions the index lacks are added first."""
        await self.wait()
        await _off_loop(self._fill, petitions)
        return await _off_loop(
            find_clusters,
            petitions,
            now=now,
            tree=tree if len(tree) else None,
            config=config,
            index=self._index,
        )

    def _fill(self, petitions: Sequence[Petition]) -> None:
        index = self._index
        assert index is not None
        since = self._since()
        with self._lock:
            for p in petitions:
                if p.id not in index and p.at >= since:
                    index.add(p)

    async def prune(self) -> int:
        """Forget the petitions older than the window; returns how many."""
        if self._index is None:
            return 0
        return await _off_loop(self._prune, self._since())

    def _prune(self, before: datetime) -> int:
        assert self._index is not None
        with self._lock:
            pruned = self._index.prune(before)
        # Daily, so collect before freezing: a garbage cycle the service made meanwhile and
        # frozen now would never be freed, one more each day for the process's life. The
        # walk covers only what was made since the last freeze (a day's worth, not the index).
        settle()
        return pruned


async def _off_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn`` in a worker thread that gives the event loop a turn every :data:`SLICE`
    seconds of index work (petitions/warnings/similar.py, :func:`pausing`)."""
    loop = asyncio.get_running_loop()

    def turn() -> None:
        # Blocked on the event, the worker holds no GIL: the loop runs what is due, then
        # sets it. Bounded, so a loop that stops never leaves the thread waiting.
        done = threading.Event()
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:  # the loop is closed
            return
        done.wait(TURN_WAIT)

    def run() -> R:
        with pausing(turn, SLICE):
            return fn(*args, **kwargs)

    return await asyncio.to_thread(run)


def _settle() -> None:
    """Move what the process holds now out of the cyclic garbage collector's sight.

    The index holds one small array per n-gram (hundreds of thousands at 100,000
    petitions), each tracked by the collector: a full collection then walked them all,
    holding the GIL, and stalled the event loop for 100–300 ms (measured). None of them is
    part of a reference cycle (reference counting frees them when the index drops them),
    so freezing them loses nothing; collections after that walk only what is new. Used
    while the index is built (at start); a cycle of garbage frozen then stays for the
    process's life, so what repeats (the daily prune) collects first (bot/heap.py)."""
    gc.freeze()
