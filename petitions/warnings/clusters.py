"""Clusters: several petitions about one matter in one unit or its subtree, soon after
each other — a group petition (群体性信访) in the making.

A scan looks at the petitions of the last ``days`` days (default 14):

1. **links**: two petitions are linked when their similarity (:mod:`.similar`) reaches
   ``threshold`` and their units are related: the lowest unit holding both is at most
   ``levels`` (default 1) above each, so two plants of one company are related, two
   companies are not; two petitions naming different details of one kind (another month,
   date, amount or building, ``details``) are never linked;
2. **cores**: the linked groups, cut down to the petitions with at least ``min_links``
   links inside their group (a k-core: one petition resembling two matters does not chain
   them together); among the petitions left, one linked to ``star_links`` or more others
   makes a core with them (a star: one full petition, several short ones);
3. **growth**: each core takes in the petitions whose mean similarity to the group's
   petitions reaches ``join`` (the cosine with the group's centroid times the centroid's
   length), each petition joining the closest core, ``rounds`` times; cores of related
   units whose grown centroids reach ``merge`` are joined (one matter written in two
   ways) and grown again;
4. **coherence**: a petition that joined a core but names another detail than all the
   core's petitions is left out; the group is split by unit and the units' parts joined
   again, closest first, only while their petitions' mean similarity reaches ``join``
   (two matters of one topic at two plants stay two clusters);
5. groups of at least ``min_size`` (K, default 5) petitions are the clusters.

Each cluster names the lowest unit whose subtree holds all its petitions (a company for
petitions from several of its plants), whose leaders and whose parent's leaders are alerted.
The matter is shown as the opening of the most central petition (the highest mean
similarity to the others), with long numbers, e-mail addresses and links cut out; nothing
else of any petition, and nothing of any petitioner, is in a :class:`Cluster`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from petitions.units import UnitTree
from petitions.warnings.similar import Petition, SimilarityConfig, SimilarityIndex
from petitions.warnings.text import normalise

__all__ = ["Cluster", "ClusterConfig", "find_clusters", "opening", "overlap"]

OPENING_CHARS = 40
_HIDE = re.compile(r"\d{5,}|[\w.+-]+@[\w-]+\.[\w.]+|(?:https?://|www\.)\S+")


@dataclass(frozen=True)
class ClusterConfig:
    """The knobs of cluster detection (docs/early-warning.md says how to tune them)."""

    min_size: int = 5  # K: petitions about one matter that make an alert
    days: int = 14  # D: within this many days
    threshold: float = 0.22  # similarity that links two petitions
    levels: int = 1  # how far up the tree two petitions' units may meet
    min_links: int = 2  # a core's members need this many links inside it
    star_links: int = 3  # …or one petition this many links to others left over
    join: float = 0.16  # mean similarity to a group's petitions that makes one of it
    rounds: int = 2  # times the centroids are recomputed
    merge: float = 0.25  # centroid similarity that joins two groups (1.0: never)
    details: bool = True  # another month, date, amount or building: another matter


@dataclass(frozen=True)
class Cluster:
    """A group of similar petitions: what an alert says, and nothing about anyone."""

    unit_id: int | None  # the lowest unit holding every member
    case_ids: tuple[int, ...]  # oldest first
    unit_ids: tuple[int | None, ...]  # the members' units, each once
    trend: tuple[int, ...]  # petitions per week, oldest week first, the last ends now
    central_id: int  # the most central petition
    matter: str  # its opening
    first_at: datetime
    last_at: datetime

    @property
    def count(self) -> int:
        """How many petitions the cluster holds."""
        return len(self.case_ids)


def opening(text: str, chars: int = OPENING_CHARS) -> str:
    """The first ``chars`` characters of a text, spaces collapsed, numbers of five or more
    digits, e-mail addresses and links replaced by "…" (they may identify someone)."""
    text = _HIDE.sub("…", " ".join(text.split()))
    return text if len(text) <= chars else text[: chars - 1] + "…"


def overlap(a: Cluster, b: Cluster) -> float:
    """Shared petitions over the smaller cluster's size: ≥ 0.5 means "the same alert"."""
    shared = len(set(a.case_ids) & set(b.case_ids))
    return shared / min(a.count, b.count) if a.count and b.count else 0.0


class _Related:
    """Whether two units are close enough in the tree to share a cluster."""

    def __init__(self, tree: UnitTree | None, levels: int) -> None:
        self.tree = tree
        self.levels = levels
        self._up: dict[int | None, list[int | None]] = {}
        self._scope: dict[int, frozenset[int]] = {}

    def up(self, unit: int | None) -> list[int | None]:
        if unit not in self._up:
            if unit is None or self.tree is None or self.tree.get(unit) is None:
                self._up[unit] = [unit]
            else:
                chain: list[int | None] = [u.id for u in self.tree.ancestors(unit)]
                self._up[unit] = chain
        return self._up[unit]

    def __call__(self, a: int | None, b: int | None) -> bool:
        if a == b or self.tree is None:  # no tree: one flat office, every unit related
            return True
        up_a, up_b = self.up(a)[: self.levels + 1], self.up(b)[: self.levels + 1]
        return any(u in up_b for u in up_a)

    def scope(self, unit: int | None) -> frozenset[int] | None:
        """The units a petition of ``unit`` can be linked with (a superset: the subtree of
        its ancestor ``levels`` up), or None for all."""
        if self.tree is None or unit is None or self.tree.get(unit) is None:
            return None
        if unit not in self._scope:
            top = self.up(unit)[: self.levels + 1][-1]
            self._scope[unit] = self.tree.subtree(top) if top is not None else frozenset()
        return self._scope[unit]

    def together(self, units: Sequence[int | None]) -> bool:
        """Whether all these units meet at most ``levels`` above each of them."""
        if self.tree is None:
            return True
        top = self.lowest_common(units)
        return all(top in self.up(u)[: self.levels + 1] for u in set(units))

    def lowest_common(self, units: Sequence[int | None]) -> int | None:
        chains = [self.up(u) for u in units]
        common = set(chains[0]).intersection(*chains[1:])
        for u in chains[0]:
            if u in common:
                return u
        return None


def _components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _tighten(members: list[int], links: dict[int, set[int]], min_links: int) -> list[list[int]]:
    """Drop members with fewer than ``min_links`` links inside the group, repeatedly, and
    return what stays connected (a k-core, split into its components)."""
    keep = set(members)
    changed = True
    while changed:
        changed = False
        for m in list(keep):
            if len(links[m] & keep) < min_links:
                keep.discard(m)
                changed = True
    order = sorted(keep)
    index = {m: i for i, m in enumerate(order)}
    edges = [(index[a], index[b]) for a in order for b in links[a] & keep if a < b]
    return [[order[i] for i in comp] for comp in _components(len(order), edges)]


def _stars(links: dict[int, set[int]], taken: set[int], min_links: int) -> list[list[int]]:
    """Cores among the petitions no k-core took: a petition linked to at least
    ``min_links`` others (themselves not linked to each other: one clear petition and
    several shorter ones) with those others, the best-linked first."""
    stars: list[list[int]] = []
    free = {i for i in links if i not in taken}
    for i in sorted(free, key=lambda i: (-len(links[i] & free), i)):
        if i not in free:
            continue
        around = links[i] & free
        if len(around) >= min_links:
            star = [i, *sorted(around)]
            stars.append(star)
            free -= set(star)
    return stars


def find_clusters(
    petitions: Sequence[Petition],
    *,
    now: datetime,
    tree: UnitTree | None = None,
    config: ClusterConfig | None = None,
    index: SimilarityIndex | None = None,
) -> list[Cluster]:
    """The clusters among ``petitions`` in the ``days`` before ``now``, largest first.

    ``index`` (normally holding the last 90 days) gives the idf: the words of a topic are
    common over months even when a 14-day window is small; without one, the window's own
    petitions give it.
    """
    cfg = config or ClusterConfig()
    since = now - timedelta(days=cfg.days)
    recent = sorted((p for p in petitions if since <= p.at <= now), key=lambda p: (p.at, p.id))
    if len(recent) < cfg.min_size:
        return []
    # The window on its own (short postings), weighed by the long-lived index's idf.
    outer = index
    index = SimilarityIndex(
        outer.config if outer else SimilarityConfig(threshold=cfg.threshold),
        idf_from=outer,
    )
    index.add_all(recent)
    related = _Related(tree, cfg.levels)
    position = {p.id: i for i, p in enumerate(recent)}
    links: dict[int, set[int]] = {i: set() for i in range(len(recent))}
    named = [_details(p.text) for p in recent] if cfg.details else []
    for i, p in enumerate(recent):
        scope = related.scope(p.unit_id)
        for match in index.similar(
            p, units=scope, since=since, until=now, threshold=cfg.threshold
        ):
            j = position.get(match.id)
            if j is not None and j != i and related(p.unit_id, recent[j].unit_id):
                if named and _conflict(named[i], named[j]):
                    continue
                links[i].add(j)
                links[j].add(i)
    edges = [(i, j) for i, js in links.items() for j in js if i < j]
    cores: list[list[int]] = []
    for comp in _components(len(recent), edges):
        if len(comp) > cfg.min_links:
            cores.extend(g for g in _tighten(comp, links, cfg.min_links) if len(g) > cfg.min_links)
    cores.extend(_stars(links, {i for core in cores for i in core}, cfg.star_links))
    groups = _attach(cores, recent, index, related, since, now, cfg)
    if cfg.merge < 1.0 and len(cores) > 1:
        # One matter written in two ways can seed two cores: join cores whose grown
        # groups' centroids are alike, then grow the joined cores again.
        centroids = [index.centroid([recent[i].id for i in g]) for g in groups]
        units = [list({recent[i].unit_id for i in c}) for c in cores]
        pairs = [
            (a, b)
            for a in range(len(cores))
            for b in range(a + 1, len(cores))
            if related.together(units[a] + units[b])
            and index.cosine(centroids[a], centroids[b]) >= cfg.merge
        ]
        if pairs:
            cores = [
                [i for c in comp for i in cores[c]] for comp in _components(len(cores), pairs)
            ]
            groups = _attach(cores, recent, index, related, since, now, cfg)
    groups = [part for core, g in zip(cores, groups, strict=True) for part in
              _vet(core, g, recent, named, index, cfg)]  # fmt: skip
    clusters = [
        _cluster([recent[i] for i in sorted(g)], index, related, now, cfg)
        for g in groups
        if len(g) >= cfg.min_size
    ]
    return sorted(clusters, key=lambda c: (-c.count, c.first_at, c.case_ids))


_CN = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}
# Details that tell one matter from another of the same topic: a date (3月5日, 3月5号), a
# month (九月, 9月), an amount (1700元, 1700块) and a building (6号楼), on the normal form.
_DETAIL = re.compile(
    r"(\d{1,2})月(\d{1,2})[日号]|([一二三四五六七八九十]{1,3}|\d{1,2})月|(\d+)[元块]|(\d+)号楼"
)


def _cn_number(text: str) -> int:
    """一…十二 or digits as a number (months only need these)."""
    if text.isdigit():
        return int(text)
    tens, _, units = text.rpartition("十")
    if "十" not in text:
        return _CN.get(text, 0)
    return (_CN.get(tens, 1) if tens else 1) * 10 + _CN.get(units, 0)


def _details(text: str) -> dict[str, frozenset[str]]:
    """The concrete details a petition names, by kind (date, month, amount, building)."""
    out: dict[str, set[str]] = {}
    for m in _DETAIL.finditer(normalise(text)):
        if m.group(1):
            kind, value = "date", f"{int(m.group(1))}-{int(m.group(2))}"
        elif m.group(3):
            kind, value = "month", str(_cn_number(m.group(3)))
        elif m.group(4):
            kind, value = "amount", str(int(m.group(4)))
        else:
            kind, value = "building", str(int(m.group(5)))
        out.setdefault(kind, set()).add(value)
    return {kind: frozenset(values) for kind, values in out.items()}


def _conflict(a: Mapping[str, Collection[str]], b: Mapping[str, Collection[str]]) -> bool:
    """Whether ``a`` names details of a kind that ``b`` names too, and none of b's."""
    return any(kind in b and not set(values) & set(b[kind]) for kind, values in a.items())


def _vet(
    core: list[int],
    group: list[int],
    recent: list[Petition],
    named: list[dict[str, frozenset[str]]],
    index: SimilarityIndex,
    cfg: ClusterConfig,
) -> list[list[int]]:
    """A grown group checked for coherence: petitions that joined it naming another
    month, date, amount or building than all its core's are left out, and its petitions are
    split by unit unless the units' petitions reach ``join`` mean similarity to each other
    (joined as average linkage does, the closest units first)."""
    keep = list(group)
    if named:
        core_named: dict[str, set[str]] = {}
        for i in core:
            for kind, values in named[i].items():
                core_named.setdefault(kind, set()).update(values)
        members = set(core)
        keep = [i for i in keep if i in members or not _conflict(named[i], core_named)]
    parts: dict[int | None, list[int]] = {}
    for k, i in enumerate(keep):
        parts.setdefault(recent[i].unit_id, []).append(k)
    if len(parts) < 2:
        return [keep]
    sims = index.scores([recent[i].id for i in keep])
    groups = list(parts.values())
    while len(groups) > 1:
        best, pair = max(
            (float(sims[np.ix_(groups[a], groups[b])].mean()), (a, b))
            for a in range(len(groups))
            for b in range(a + 1, len(groups))
        )
        if best < cfg.join:
            break
        a, b = pair
        groups[a] = groups[a] + groups.pop(b)
    return [[keep[k] for k in g] for g in groups]


def _attach(
    cores: list[list[int]],
    recent: list[Petition],
    index: SimilarityIndex,
    related: _Related,
    since: datetime,
    now: datetime,
    cfg: ClusterConfig,
) -> list[list[int]]:
    """Grow each core by the petitions closest to its centroid (each joins one core at
    most), recomputing the centroids ``rounds`` times."""
    position = {p.id: i for i, p in enumerate(recent)}
    core_of = {i: c for c, core in enumerate(cores) for i in core}
    groups = [list(core) for core in cores]
    for _ in range(cfg.rounds):
        best: dict[int, tuple[float, int]] = {}
        for c, group in enumerate(groups):
            home = list({recent[i].unit_id for i in cores[c]})
            centroid = index.centroid([recent[i].id for i in group])
            scope = related.scope(related.lowest_common(home))
            # A petition's mean similarity to the group's petitions is its cosine with the
            # centroid times the centroid's length: a loose group asks a higher cosine.
            length = float(np.sqrt(centroid[1] @ centroid[1])) or 1.0
            for match in index.similar_to(
                centroid, units=scope, since=since, until=now, threshold=cfg.join / length
            ):
                i = position.get(match.id)
                if i is None or i in core_of or not related.together(home + [recent[i].unit_id]):
                    continue
                if match.score > best.get(i, (0.0, -1))[0]:
                    best[i] = (match.score, c)
        groups = [list(core) for core in cores]
        for i, (_score, c) in best.items():
            groups[c].append(i)
    return groups


def _cluster(
    members: list[Petition],
    index: SimilarityIndex,
    related: _Related,
    now: datetime,
    cfg: ClusterConfig,
) -> Cluster:
    ids = [p.id for p in members]
    sims = index.scores(ids)
    mean = (sims.sum(axis=1) - np.diag(sims)) / max(len(ids) - 1, 1)
    central = members[int(np.argmax(mean))]
    weeks = max(1, math.ceil(cfg.days / 7))
    trend = [0] * weeks
    for p in members:
        age = (now - p.at).total_seconds() / (7 * 86400)
        trend[max(0, weeks - 1 - int(age))] += 1
    units = list(dict.fromkeys(p.unit_id for p in members))
    return Cluster(
        unit_id=related.lowest_common(units),
        case_ids=tuple(ids),
        unit_ids=tuple(units),
        trend=tuple(trend),
        central_id=central.id,
        matter=opening(central.text),
        first_at=members[0].at,
        last_at=members[-1].at,
    )
