"""Precision and recall of the early warning against the generator's labels.

Definitions (docs/early-warning.md repeats them):

- **pairwise**: the pairs of petitions at most ``days`` apart whose units are related
  (one plant, or two plants of one company). A pair is *same* when both belong to one
  planted cluster; a method calls it similar when its score reaches the threshold.
- **per planted cluster**: a detected cluster is *correct* when at least ``purity``
  (90 %) of its petitions belong to one planted cluster; a planted cluster is *found* when
  one correct detected cluster holds at least ``coverage`` (80 %) of its petitions.
  Precision = correct / detected, recall = found / planted.
- **flags** (urgent, spikes): precision and recall of a predicted set against a true set.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "PR",
    "best_threshold",
    "cluster_pr",
    "flag_pr",
    "merge_alerts",
    "pair_pr",
]


@dataclass(frozen=True)
class PR:
    """Counts of a binary decision and the precision and recall they give."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        p, r = self.precision, self.recall
        return f"P {p:.3f}  R {r:.3f}  (tp {self.tp}, fp {self.fp}, fn {self.fn})"


def pair_pr(pairs: Iterable[tuple[float, bool]], threshold: float) -> PR:
    """Pairs (score, same matter) judged by ``score >= threshold``."""
    tp = fp = fn = 0
    for score, same in pairs:
        hit = score >= threshold
        tp += hit and same
        fp += hit and not same
        fn += same and not hit
    return PR(tp, fp, fn)


def best_threshold(
    pairs: Sequence[tuple[float, bool]], thresholds: Iterable[float], min_precision: float = 0.0
) -> tuple[float, PR]:
    """The threshold with the best F1 among those reaching ``min_precision`` (or the best
    F1 overall when none does)."""
    results = [(t, pair_pr(pairs, t)) for t in thresholds]
    ok = [r for r in results if r[1].precision >= min_precision] or results
    return max(ok, key=lambda r: (r[1].f1, -r[0]))


def flag_pr(predicted: Collection[object], truth: Collection[object]) -> PR:
    """A predicted set against the true set."""
    p, t = set(predicted), set(truth)
    return PR(len(p & t), len(p - t), len(t - p))


def cluster_pr(
    detected: Sequence[Collection[int]],
    planted: Mapping[int, Collection[int]],
    *,
    coverage: float = 0.8,
    purity: float = 0.9,
) -> tuple[PR, PR]:
    """(precision over detected clusters, recall over planted clusters) as defined above.

    The first PR counts detected clusters (tp: correct, fp: not); the second counts planted
    ones (tp: found, fn: not found).
    """
    label: dict[int, int] = {m: cid for cid, members in planted.items() for m in members}
    correct = 0
    found: set[int] = set()
    for cluster in detected:
        members = set(cluster)
        counts: dict[int, int] = {}
        for m in members:
            if m in label:
                counts[label[m]] = counts.get(label[m], 0) + 1
        if not counts:
            continue
        cid, hits = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
        if hits / len(members) >= purity:
            correct += 1
            if hits / len(planted[cid]) >= coverage:
                found.add(cid)
    per_detected = PR(correct, len(detected) - correct, 0)
    per_planted = PR(len(found), 0, len(planted) - len(found))
    return per_detected, per_planted


def merge_alerts(passes: Iterable[Iterable[Collection[int]]], same: float = 0.5) -> list[set[int]]:
    """Clusters from successive scans as the alerts a leader would get: a cluster that
    shares at least ``same`` of the smaller one's petitions with an earlier alert updates
    that alert (its petitions are added), otherwise it is a new alert."""
    alerts: list[set[int]] = []
    for clusters in passes:
        for cluster in clusters:
            members = set(cluster)
            for alert in alerts:
                if len(alert & members) >= same * min(len(alert), len(members)):
                    alert |= members
                    break
            else:
                alerts.append(members)
    return alerts
