"""``python -m bench.early_warning``: precision, recall and timings of the early warning.

Prints (and with ``--json FILE`` writes):

1. the similarity methods compared pairwise on the labelled set (best-F1 threshold and the
   lowest threshold reaching precision 0.9);
2. cluster detection as it runs: a scan every day over the last 14 days, clusters of one
   matter across scans merged into one alert, scored per planted cluster;
3. the urgent flag on the set and on the held-out sentences;
4. spike detection against the planted excess;
5. timings: indexing and a full cluster scan of ``--scale`` petitions (default 100,000:
   the generator repeated with more seeds), and the per-submission look-up at that size.

``--quick`` runs a smaller version of everything (about half a minute).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bench.early_warning.evaluate import (
    best_threshold,
    cluster_pr,
    flag_pr,
    merge_alerts,
    pair_pr,
)
from bench.early_warning.generate import (
    HELD_OUT_NEGATIVE,
    HELD_OUT_URGENT,
    START,
    Dataset,
    Sample,
    generate,
    scaled,
    summary,
)
from petitions.warnings.clusters import ClusterConfig, find_clusters
from petitions.warnings.similar import Petition, SimilarityConfig, SimilarityIndex
from petitions.warnings.spikes import SpikeConfig, find_spikes
from petitions.warnings.urgent import check


def _petitions(samples: Sequence[Sample]) -> list[Petition]:
    return [Petition(s.id, s.text, s.unit_id, s.category.value, s.at) for s in samples]


def compare_methods(data: Dataset, out: dict[str, Any], methods: Sequence[str]) -> None:
    """Pairwise precision/recall of each similarity method."""
    from bench.early_warning.methods import scope_pairs, score_pairs

    samples = data.samples
    pairs = scope_pairs(samples, data.tree)
    same = [
        samples[i].matter is not None and samples[i].matter == samples[j].matter for i, j in pairs
    ]
    print(
        f"\n== Similarity, pairwise ({len(pairs)} pairs ≤ 14 days apart in one company, "
        f"{sum(same)} of one matter)"
    )
    thresholds = [x / 100 for x in range(5, 96)]
    out["pairwise"] = {}
    for method in methods:
        t0 = time.perf_counter()
        scores = score_pairs(method, samples, pairs)
        took = time.perf_counter() - t0
        scored = list(zip(scores, same, strict=True))
        t_best, pr_best = best_threshold(scored, thresholds)
        t_p9, pr_p9 = best_threshold(scored, thresholds, min_precision=0.9)
        print(f"{method:15s} best F1 {pr_best.f1:.3f} at {t_best:.2f}: {pr_best}")
        print(f"{'':15s} precision ≥ 0.9 from {t_p9:.2f}: {pr_p9}   ({took:.1f} s)")
        out["pairwise"][method] = {
            "best_f1": round(pr_best.f1, 3), "best_threshold": t_best,
            "best_precision": round(pr_best.precision, 3),
            "best_recall": round(pr_best.recall, 3),
            "p90_threshold": t_p9, "p90_recall": round(pr_p9.recall, 3),
        }  # fmt: skip


def evaluate_clusters(
    data: Dataset, cluster_cfg: ClusterConfig, sim_cfg: SimilarityConfig, out: dict[str, Any]
) -> None:
    """Daily scans over the whole timeline, merged into alerts, scored per planted cluster."""
    petitions = _petitions(data.samples)
    index = SimilarityIndex(sim_cfg)
    index.add_all(petitions)
    passes = []
    t0 = time.perf_counter()
    days = data.weeks * 7
    for day in range(1, days + 1):
        now = START + timedelta(days=day)
        found = find_clusters(petitions, now=now, tree=data.tree, config=cluster_cfg, index=index)
        passes.append([c.case_ids for c in found])
    took = time.perf_counter() - t0
    alerts = merge_alerts(passes)
    planted = {c.id: c.members for c in data.clusters}
    per_detected, per_planted = cluster_pr(alerts, planted)
    label = {s.id: s.matter for s in data.samples}
    member_pairs = [(a, b) for alert in alerts for a in alert for b in alert if a < b]
    true_pairs = {(a, b) for m in planted.values() for a in m for b in m if a < b}
    pairwise = pair_pr([(1.0, (a, b) in true_pairs) for a, b in member_pairs], 0.5)
    pairwise = type(pairwise)(pairwise.tp, pairwise.fp, len(true_pairs) - pairwise.tp)
    print(
        f"\n== Clusters: {days} daily scans of the last {cluster_cfg.days} days "
        f"({took:.1f} s), {len(alerts)} alerts, {len(planted)} planted clusters"
    )
    print(
        f"per planted cluster: precision {per_detected.precision:.3f} "
        f"({per_detected.tp} of {per_detected.tp + per_detected.fp} alerts ≥ 90 % one matter), "
        f"recall {per_planted.recall:.3f} ({per_planted.tp} of {len(planted)} found: one "
        "alert holds ≥ 80 % of it at ≥ 90 % purity)"
    )
    print(f"pairwise (petitions put together in one alert): {pairwise}")
    missed = []
    for cid, members in planted.items():
        best = max(((len(set(members) & a), -len(a)) for a in alerts), default=(0, 0))
        best = (best[0], -best[1])
        if not any(
            len(set(members) & a) / len(members) >= 0.8
            and Counter(label[i] for i in a).most_common(1)[0][1] / len(a) >= 0.9
            for a in alerts
        ):
            missed.append((cid, len(members), best[0], best[1]))
    if missed:
        print(
            "missed (planted id, size, best alert: members of it / alert size): "
            + ", ".join(f"{c}:{n} {h}/{s}" if h else f"{c}:{n} none" for c, n, h, s in missed)
        )
    out["clusters"] = {
        "config": cluster_cfg.__dict__, "alerts": len(alerts), "planted": len(planted),
        "precision": round(per_detected.precision, 3), "recall": round(per_planted.recall, 3),
        "pair_precision": round(pairwise.precision, 3), "pair_recall": round(pairwise.recall, 3),
        "scan_seconds": round(took, 1),
    }  # fmt: skip


def evaluate_urgent(data: Dataset, out: dict[str, Any]) -> None:
    """The urgent flag on the set and on held-out sentences."""
    predicted = {s.id for s in data.samples if check(s.text)}
    truth = {s.id for s in data.samples if s.urgent}
    on_set = flag_pr(predicted, truth)
    kinds_right = sum(
        1 for s in data.samples if s.urgent and s.urgent in {m.kind for m in check(s.text)}
    )
    hard = [s for s in data.samples if s.hard_negative]
    hard_flagged = sum(1 for s in hard if check(s.text))
    held_pred = {i for i, (_k, t) in enumerate(HELD_OUT_URGENT) if check(t)}
    held_pred |= {100 + i for i, t in enumerate(HELD_OUT_NEGATIVE) if check(t)}
    held = flag_pr(held_pred, set(range(len(HELD_OUT_URGENT))))
    print("\n== Urgent flag")
    print(
        f"on the set: {on_set}; right kind {kinds_right}/{len(truth)}; "
        f"hard negatives flagged {hard_flagged}/{len(hard)}"
    )
    print(
        f"held out (written after the signs, {len(HELD_OUT_URGENT)} urgent, "
        f"{len(HELD_OUT_NEGATIVE)} look-alikes): {held}"
    )
    out["urgent"] = {
        "precision": round(on_set.precision, 3), "recall": round(on_set.recall, 3),
        "hard_negatives_flagged": hard_flagged, "hard_negatives": len(hard),
        "held_out_precision": round(held.precision, 3), "held_out_recall": round(held.recall, 3),
    }  # fmt: skip


def evaluate_spikes(data: Dataset, cfg: SpikeConfig, out: dict[str, Any]) -> None:
    """Detected spike weeks against the weeks with a planted excess of ≥ 5 petitions."""
    week = timedelta(weeks=1)
    excess: Counter[tuple[object, str, int]] = Counter()
    for s in data.samples:
        if s.matter is not None or s.spike is not None:
            excess[(s.unit_id, s.category.value, int((s.at - START) / week))] += 1
    truth = {k for k, n in excess.items() if n >= 5}
    events = [(s.unit_id, s.category.value, s.at) for s in data.samples]
    spikes = find_spikes(events, start=START, weeks=data.weeks, config=cfg)
    predicted = {(x.unit, x.category, x.week) for x in spikes}
    pr = flag_pr(predicted, truth)
    no_excess = sum(1 for k in predicted if excess.get(k, 0) == 0)
    planted_found = sum((p.unit_id, p.category.value, p.week) in predicted for p in data.spikes)
    cells = 20 * 9 * (data.weeks - cfg.warmup)
    print("\n== Spikes (unit × category × week, truth: planted excess ≥ 5 in the week)")
    print(
        f"{pr}; planted spikes found {planted_found}/{len(data.spikes)}; "
        f"alerts with no planted excess at all: {no_excess} in {cells} unit-category-weeks"
    )
    out["spikes"] = {
        "config": cfg.__dict__, "precision": round(pr.precision, 3),
        "recall": round(pr.recall, 3), "planted_found": planted_found,
        "planted": len(data.spikes), "no_excess_alerts": no_excess, "cells": cells,
    }  # fmt: skip


def timings(
    n: int, lookups: int, cluster_cfg: ClusterConfig, sim_cfg: SimilarityConfig,
    out: dict[str, Any],
) -> None:  # fmt: skip
    """Index n petitions, scan them for clusters, and time single look-ups."""
    samples, tree = scaled(n)
    petitions = _petitions(samples)
    print(
        f"\n== Timing at {len(petitions):,} petitions (26 weeks, the generator repeated over "
        f"{len(tree) - 1:,} units)"
    )
    index = SimilarityIndex(SimilarityConfig(**{**sim_cfg.__dict__, "window_days": 366}))
    t0 = time.perf_counter()
    index.add_all(petitions)
    t_index = time.perf_counter() - t0
    # A full scan: every 14-day window of the timeline (one per two weeks, overlapping
    # windows would re-find the same clusters), every petition looked up once.
    t0 = time.perf_counter()
    clusters = 0
    for k in range(1, 14):
        now = START + timedelta(days=14 * k)
        found = find_clusters(petitions, now=now, tree=tree, config=cluster_cfg, index=index)
        clusters += len(found)
    t_scan = time.perf_counter() - t0
    # Per submission: a new petition looked up against all indexed ones (the 90-day window
    # is widened to all 26 weeks, the worst case), then added.
    probes = generate(9999).samples[:lookups]
    times = []
    for s in probes:
        p = Petition(10_000_000 + s.id, s.text, s.unit_id, s.category.value, s.at)
        t0 = time.perf_counter()
        index.similar(p, since=START)
        index.add(p)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"index {len(petitions):,}: {t_index:.1f} s ({t_index / len(petitions) * 1e6:.0f} µs "
        f"each); cluster scan of all of them: {t_scan:.1f} s ({clusters} clusters)"
    )
    print(
        f"look-up + add of one submission at {len(petitions):,}: median {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms ({len(times)} look-ups)"
    )
    out["timing"] = {
        "petitions": len(petitions), "index_seconds": round(t_index, 1),
        "scan_seconds": round(t_scan, 1), "lookup_ms_p50": round(p50, 1),
        "lookup_ms_p95": round(p95, 1), "lookup_ms_max": round(times[-1], 1),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.early_warning",
        description="Precision/recall of similar-petition clusters, urgent flags and spikes "
        "on a generated, labelled set of Chinese petitions, and timings at scale.",
    )
    parser.add_argument("--seed", type=int, default=16, help="generator seed (default 16)")
    parser.add_argument(
        "--scale", type=int, default=100_000, help="petitions for the timings (default 100,000)"
    )
    parser.add_argument(
        "--lookups",
        type=int,
        default=200,
        help="single look-ups timed at that scale (default 200)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 10,000 petitions for the timings, fewer methods",
    )
    parser.add_argument(
        "--skip-methods",
        action="store_true",
        help="leave out the method comparison (needs scikit-learn, datasketch)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.lookups = min(args.scale, 10_000), min(args.lookups, 50)

    sim_cfg = SimilarityConfig()
    cluster_cfg = ClusterConfig()
    spike_cfg = SpikeConfig()
    out: dict[str, Any] = {"seed": args.seed}
    t_start = time.perf_counter()
    data = generate(args.seed)
    out["set"] = summary(data)
    counts = ", ".join(f"{k} {v}" for k, v in out["set"].items())
    print(f"== The set (seed {args.seed}): {counts}")
    if not args.skip_methods:
        methods = ("tfidf-idf2", "tfidf", "minhash") if args.quick else (
            "tfidf-idf2", "tfidf", "tfidf-raw", "tfidf-category", "minhash", "minhash-lsh",
        )  # fmt: skip
        compare_methods(data, out, methods)
    evaluate_clusters(data, cluster_cfg, sim_cfg, out)
    evaluate_urgent(data, out)
    evaluate_spikes(data, spike_cfg, out)
    timings(args.scale, args.lookups, cluster_cfg, sim_cfg, out)
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"\n(total {out['seconds']} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
