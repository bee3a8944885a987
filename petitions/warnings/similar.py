"""Similar petitions: TF-IDF cosine over character 2–3-grams, in an incremental index.

Chosen by measurement (``python -m bench.early_warning``; docs/early-warning.md has the
figures): on the labelled set, TF-IDF cosine of character n-grams separated same-matter
pairs from the rest far better than MinHash/LSH over the same grams (whose Jaccard
estimate weighs a shared "希望领导重视" like a shared "划转到新公司"), and squaring the idf
(``idf_power=2``) helped clusters further: the specifics of a matter (a date, an amount,
a manager, a workshop) are rarer than the words of its topic, which other matters share.

With ``idf_power=1`` the index computes exactly scikit-learn's ``TfidfVectorizer(analyzer=
grams, sublinear_tf=True)`` followed by a cosine (a unit test checks the formula), but it is
updated one petition at a time:

- each petition is stored as its gram ids and (sublinear) term frequencies, never its text;
- an inverted index maps each gram to the petitions holding it;
- a look-up (1) takes the query's grams that are not too common (document frequency at most
  ``max_df_share`` of the index) and adds up, per petition, query weight × idf over their
  postings with one ``numpy.bincount``: an approximate score; (2) keeps the ``candidates``
  best of the petitions in the time window and the allowed units; (3) scores those exactly
  with the current idf (so adding petitions never leaves stale scores).

Document frequencies change as petitions come and go; idf is read at look-up time, so the
index needs no rebuilding. Removed petitions are dropped from the postings when more than
half of the entries are dead (:meth:`SimilarityIndex.compact`).

Long work (building, a cluster scan) runs in a worker thread of a service whose event loop
must answer within 50 ms (issue 12). numpy releases and at once retakes the GIL around each
small operation, and a thread waiting for the GIL then never asks for it (CPython asks only
when no switch happened in 5 ms; measured: the loop starved for a whole batch of 1,000
additions, 115 ms). Inside :func:`pausing`, each of the index's operations first calls the
caller's ``pause`` when ``every`` seconds have passed since the last one, and the caller
hands the thread to the loop there (bot/warnings.py). Results do not change.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from petitions.warnings.text import GLOSSARY, grams

__all__ = ["Match", "Petition", "SimilarityConfig", "SimilarityIndex", "pausing"]

_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]


class _Pausing(threading.local):
    pause: Callable[[], None] | None = None
    every = 0.0
    last = 0.0


_pausing = _Pausing()


@contextmanager
def pausing(pause: Callable[[], None], every: float = 0.005) -> Iterator[None]:
    """While the block runs in this thread, every index operation first calls ``pause``
    when ``every`` seconds have passed since the block began or ``pause`` last returned."""
    state = _pausing
    saved = (state.pause, state.every, state.last)
    state.pause, state.every, state.last = pause, every, time.perf_counter()
    try:
        yield
    finally:
        state.pause, state.every, state.last = saved


def _breathe() -> None:
    state = _pausing
    if state.pause is not None and time.perf_counter() - state.last >= state.every:
        state.pause()
        state.last = time.perf_counter()


@dataclass(frozen=True)
class Petition:
    """What the early warning reads of a case: its number, text, unit, category, time."""

    id: int
    text: str
    unit_id: int | None
    category: str
    at: datetime


@dataclass(frozen=True)
class Match:
    """An indexed petition and its cosine similarity (0–1) to the one looked up."""

    id: int
    score: float


@dataclass(frozen=True)
class SimilarityConfig:
    """The knobs of the similarity look-up (docs/early-warning.md says how to tune them)."""

    threshold: float = 0.25  # cosine at or above which two petitions are "similar"
    window_days: int = 90  # how far back a look-up searches
    sizes: tuple[int, ...] = (2, 3)  # character n-gram sizes
    max_df_share: float = 0.05  # grams in more petitions than this do not make candidates
    min_df_cap: int = 50  # …unless they are in at most this many (small indexes)
    candidates: int = 200  # petitions scored exactly per look-up
    stop_df_share: float = 1.0  # grams in more petitions than this share weigh nothing…
    stop_df_min: int = 20  # …when they are in more than this many
    idf_power: float = 2.0  # >1 weighs rare grams (a date, a name) more against topic words


class SimilarityIndex:
    """An incrementally updated TF-IDF index of petitions for similarity look-ups."""

    def __init__(
        self,
        config: SimilarityConfig | None = None,
        glossary: Mapping[str, str] = GLOSSARY,
        *,
        idf_from: SimilarityIndex | None = None,
    ) -> None:
        self.config = config or SimilarityConfig()
        self._glossary = glossary
        # A scan indexes a short window of petitions on its own (short postings) but weighs
        # grams by the document frequencies of the long-lived index (a 14-day window is too
        # small to tell a matter's specifics from its topic's words).
        self._idf_from = idf_from
        self._outer = array("q")  # gram id → the id in idf_from (−1: not there)
        self._vocab: dict[str, int] = {}
        self._df: _I = np.zeros(1024, dtype=np.int64)
        self._postings: list[array[int]] = []
        self._row: dict[int, int] = {}  # petition id → row
        self._gram_ids: list[_I] = []
        self._tf: list[_F] = []
        self._norm0 = np.zeros(1024)  # the norm at insertion: only ranks candidates
        self._ids = np.zeros(1024, dtype=np.int64)
        self._at = np.zeros(1024)
        self._unit = np.zeros(1024, dtype=np.int64)
        self._alive = np.zeros(1024, dtype=bool)
        self._n = 0  # rows used
        self._live = 0
        self._dead_entries = 0
        self._entries = 0

    def __len__(self) -> int:
        return self._live

    def __contains__(self, petition_id: object) -> bool:
        return petition_id in self._row

    # -- building -------------------------------------------------------------------------

    def _vector(self, text: str, *, grow: bool) -> tuple[_I, _F, list[str]]:
        counts = grams(text, self.config.sizes, self._glossary)
        ids: list[int] = []
        tfs: list[float] = []
        unknown: list[str] = []
        for gram, count in counts.items():
            gid = self._vocab.get(gram)
            if gid is None:
                if not grow:
                    unknown.append(gram)
                    continue
                gid = len(self._vocab)
                self._vocab[gram] = gid
                self._postings.append(array("i"))
                if self._idf_from is not None:
                    self._outer.append(self._idf_from._vocab.get(gram, -1))
            ids.append(gid)
            tfs.append(1.0 + math.log(count))  # sublinear term frequency
        id_arr = np.array(ids, dtype=np.int64)
        order = np.argsort(id_arr)
        return id_arr[order], np.array(tfs)[order], unknown

    def _grow(self) -> None:
        size = len(self._ids) * 2
        for name in ("_norm0", "_ids", "_at", "_unit", "_alive"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _idf(self, gram_ids: _I, extra_docs: int = 0) -> _F:
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1.
        if self._idf_from is not None:
            outer = np.frombuffer(self._outer, dtype=np.int64)[gram_ids]
            known = outer >= 0
            n = self._idf_from._live + extra_docs
            df = np.where(known, self._idf_from._df[np.where(known, outer, 0)], 0) + extra_docs
        else:
            n = self._live + extra_docs
            df = self._df[gram_ids] + extra_docs
        result: _F = np.log((1.0 + n) / (1.0 + df)) + 1.0
        cap = max(self.config.stop_df_min, self.config.stop_df_share * n)
        result[df > cap] = 0.0  # boilerplate (领导好, 希望重视…): in too many petitions
        if self.config.idf_power != 1.0:
            result = result**self.config.idf_power
        return result

    def add(self, petition: Petition) -> None:
        """Index a petition (again: its old entry is replaced)."""
        _breathe()
        if petition.id in self._row:
            self.remove(petition.id)
        gram_ids, tf, _ = self._vector(petition.text, grow=True)
        if len(self._vocab) > len(self._df):
            df = np.zeros(max(len(self._vocab), 2 * len(self._df)), dtype=np.int64)
            df[: len(self._df)] = self._df
            self._df = df
        if self._n == len(self._ids):
            self._grow()
        row = self._n
        self._n += 1
        self._row[petition.id] = row
        self._gram_ids.append(gram_ids)
        self._tf.append(tf)
        self._df[gram_ids] += 1
        self._live += 1
        for gid in gram_ids.tolist():
            self._postings[gid].append(row)
        self._entries += len(gram_ids)
        w = tf * self._idf(gram_ids)
        self._norm0[row] = float(np.sqrt(w @ w)) or 1.0
        self._ids[row] = petition.id
        self._at[row] = petition.at.timestamp()
        self._unit[row] = -1 if petition.unit_id is None else petition.unit_id
        self._alive[row] = True

    def add_all(self, petitions: Iterable[Petition]) -> None:
        """Index several petitions."""
        for petition in petitions:
            self.add(petition)

    def remove(self, petition_id: int) -> None:
        """Forget a petition (a no-op for an unknown id)."""
        row = self._row.pop(petition_id, None)
        if row is None:
            return
        self._alive[row] = False
        self._df[self._gram_ids[row]] -= 1
        self._live -= 1
        self._dead_entries += len(self._gram_ids[row])
        if self._dead_entries * 2 > self._entries:
            self.compact()

    def prune(self, before: datetime) -> int:
        """Forget the petitions older than ``before``; returns how many."""
        cutoff = before.timestamp()
        old = [int(self._ids[r]) for r in self._row.values() if self._at[r] < cutoff]
        for petition_id in old:
            _breathe()
            self.remove(petition_id)
        return len(old)

    def compact(self) -> None:
        """Drop removed petitions from the postings (rows are renumbered)."""
        keep = sorted(self._row.values())
        renumber = {old: new for new, old in enumerate(keep)}
        self._gram_ids = [self._gram_ids[r] for r in keep]
        self._tf = [self._tf[r] for r in keep]
        for name in ("_norm0", "_ids", "_at", "_unit", "_alive"):
            arr = getattr(self, name)
            new = np.zeros(max(1024, 2 * len(keep)), dtype=arr.dtype)
            new[: len(keep)] = arr[keep]
            setattr(self, name, new)
        self._row = {pid: renumber[r] for pid, r in self._row.items()}
        self._n = len(keep)
        self._postings = [array("i") for _ in self._vocab]
        for row, gram_ids in enumerate(self._gram_ids):
            _breathe()
            for gid in gram_ids.tolist():
                self._postings[gid].append(row)
        self._entries = sum(len(g) for g in self._gram_ids)
        self._dead_entries = 0

    # -- looking up -----------------------------------------------------------------------

    def _query(self, text: str, row: int | None) -> tuple[_I, _F, float]:
        """The query's known gram ids, their tf-idf weights and the full vector's norm."""
        if row is not None:
            ids, tf = self._gram_ids[row], self._tf[row]
            w = tf * self._idf(ids)
            return ids, w, float(np.sqrt(w @ w))
        ids, tf, unknown = self._vector(text, grow=False)
        # A text that is not indexed counts as one more petition, as if it were added.
        w = tf * self._idf(ids, extra_docs=1)
        unknown_counts = grams(text, self.config.sizes, self._glossary)
        idf_new = math.log((2.0 + self._live) / 2.0) + 1.0
        extra = sum(((1.0 + math.log(unknown_counts[g])) * idf_new) ** 2 for g in unknown)
        return ids, w, math.sqrt(float(w @ w) + extra)

    def _candidates(self, ids: _I, w: _F, mask: npt.NDArray[np.bool_]) -> _I:
        cfg = self.config
        cap = max(cfg.min_df_cap, int(cfg.max_df_share * self._live))
        df = self._df[ids]
        use = (df > 0) & (df <= cap)
        if not use.any():
            use = df > 0  # only common grams: use them all rather than find nothing
        chosen = ids[use]
        if not len(chosen):
            return np.zeros(0, dtype=np.int64)
        weights = w[use] * self._idf(chosen)
        lists = [np.frombuffer(self._postings[g], dtype=np.int32) for g in chosen.tolist()]
        rows = np.concatenate(lists)
        lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        summed = np.bincount(rows, weights=np.repeat(weights, lengths), minlength=self._n)
        score: _F = np.asarray(summed, dtype=np.float64) / self._norm0[: self._n]
        score[~mask] = 0.0
        hits = np.flatnonzero(score)
        if len(hits) > cfg.candidates:
            top = np.argpartition(score[hits], -cfg.candidates)[-cfg.candidates :]
            hits = hits[top]
        result: _I = hits.astype(np.int64)
        return result

    def _exact(self, ids: _I, w: _F, norm: float, rows: _I, extra_docs: int = 0) -> _F:
        if not len(rows) or norm == 0.0:
            return np.zeros(len(rows))
        order = np.argsort(ids)
        q_ids, q_w = ids[order], w[order]
        parts = [self._gram_ids[r] for r in rows.tolist()]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        all_ids = np.concatenate(parts)
        all_w = np.concatenate([self._tf[r] for r in rows.tolist()])
        all_w = all_w * self._idf(all_ids, extra_docs)
        pos = np.searchsorted(q_ids, all_ids)
        pos[pos == len(q_ids)] = 0
        shared = q_ids[pos] == all_ids
        contrib = np.where(shared, q_w[pos] * all_w, 0.0)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        dots = np.add.reduceat(contrib, starts)
        norms = np.sqrt(np.add.reduceat(all_w * all_w, starts))
        norms[norms == 0] = 1.0
        result: _F = dots / (norms * norm)
        return result

    def _mask(
        self, since: datetime | None, until: datetime | None, units: Collection[int] | None
    ) -> npt.NDArray[np.bool_]:
        n = self._n
        mask = self._alive[:n].copy()
        if since is not None:
            mask &= self._at[:n] >= since.timestamp()
        if until is not None:
            mask &= self._at[:n] <= until.timestamp()
        if units is not None:
            mask &= np.isin(self._unit[:n], np.fromiter(units, dtype=np.int64))
        return mask

    def similar(
        self,
        petition: Petition,
        *,
        units: Collection[int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        threshold: float | None = None,
        limit: int | None = None,
    ) -> list[Match]:
        """Indexed petitions similar to ``petition``, best first (itself left out).

        ``since`` defaults to ``window_days`` before the petition; ``units`` (None: all)
        limits the search to petitions of those units; ``threshold`` defaults to the
        configured one.
        """
        _breathe()
        if since is None:
            since = petition.at - timedelta(days=self.config.window_days)
        row = self._row.get(petition.id)
        ids, w, norm = self._query(petition.text, row)
        mask = self._mask(since, until, units)
        if row is not None:
            mask[row] = False
        rows = self._candidates(ids, w, mask)
        scores = self._exact(ids, w, norm, rows, 0 if row is not None else 1)
        cut = self.config.threshold if threshold is None else threshold
        keep = scores >= cut
        found = sorted(
            (Match(int(self._ids[r]), round(float(s), 6)) for r, s in zip(
                rows[keep].tolist(), scores[keep].tolist(), strict=True
            )),
            key=lambda m: (-m.score, m.id),
        )  # fmt: skip
        return found[:limit] if limit is not None else found

    def centroid(self, petition_ids: Collection[int]) -> tuple[_I, _F]:
        """The mean of the petitions' normalised tf-idf vectors (gram ids, weights)."""
        _breathe()
        parts_ids: list[_I] = []
        parts_w: list[_F] = []
        for pid in petition_ids:
            row = self._row.get(pid)
            if row is None:
                continue
            ids, w, norm = self._query("", row)
            parts_ids.append(ids)
            parts_w.append(w / (norm or 1.0))
        if not parts_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        all_ids = np.concatenate(parts_ids)
        uniq, inverse = np.unique(all_ids, return_inverse=True)
        weights = np.bincount(inverse, weights=np.concatenate(parts_w)) / len(parts_ids)
        return uniq.astype(np.int64), weights

    @staticmethod
    def cosine(a: tuple[_I, _F], b: tuple[_I, _F]) -> float:
        """The cosine of two sparse vectors (gram ids sorted, weights), e.g. centroids."""
        (ia, wa), (ib, wb) = a, b
        na, nb = float(np.sqrt(wa @ wa)), float(np.sqrt(wb @ wb))
        if not na or not nb:
            return 0.0
        _shared, pa, pb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
        return float(wa[pa] @ wb[pb]) / (na * nb)

    def similar_to(
        self,
        vector: tuple[_I, _F],
        *,
        units: Collection[int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        threshold: float | None = None,
    ) -> list[Match]:
        """Indexed petitions whose cosine with ``vector`` (e.g. a :meth:`centroid`) reaches
        the threshold, best first."""
        _breathe()
        ids, w = vector
        norm = float(np.sqrt(w @ w))
        mask = self._mask(since, until, units)
        rows = self._candidates(ids, w, mask)
        scores = self._exact(ids, w, norm, rows)
        cut = self.config.threshold if threshold is None else threshold
        keep = scores >= cut
        return sorted(
            (Match(int(self._ids[r]), round(float(s), 6)) for r, s in zip(
                rows[keep].tolist(), scores[keep].tolist(), strict=True
            )),
            key=lambda m: (-m.score, m.id),
        )  # fmt: skip

    def score(self, a: int, b: int) -> float:
        """The cosine similarity of two indexed petitions (0 when either is unknown)."""
        _breathe()
        ra, rb = self._row.get(a), self._row.get(b)
        if ra is None or rb is None:
            return 0.0
        ids, w, norm = self._query("", ra)
        return float(self._exact(ids, w, norm, np.array([rb], dtype=np.int64))[0])

    def scores(self, ids: list[int]) -> _F:
        """The cosine similarity matrix of indexed petitions (rows in the order given)."""
        _breathe()
        rows = [self._row[i] for i in ids]
        vocab = np.unique(np.concatenate([self._gram_ids[r] for r in rows])) if rows else None
        if vocab is None:
            return np.zeros((0, 0))
        dense = np.zeros((len(rows), len(vocab)))
        idf = self._idf(vocab)
        for i, r in enumerate(rows):
            cols = np.searchsorted(vocab, self._gram_ids[r])
            dense[i, cols] = self._tf[r] * idf[cols]
        norms = np.linalg.norm(dense, axis=1)
        norms[norms == 0] = 1.0
        dense /= norms[:, None]
        result: _F = dense @ dense.T
        return result
