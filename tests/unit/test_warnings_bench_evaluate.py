"""The early-warning benchmark scores detections right: pairwise precision and recall,
the per-planted-cluster rule (≥ 80 % covered at ≥ 90 % purity), alerts merged across scans."""

from __future__ import annotations

import pytest

from bench.early_warning.evaluate import (
    PR,
    best_threshold,
    cluster_pr,
    flag_pr,
    merge_alerts,
    pair_pr,
)


def test_pairwise_counts_and_rates() -> None:
    pairs = [(0.9, True), (0.8, False), (0.6, True), (0.2, True), (0.1, False)]
    pr = pair_pr(pairs, 0.5)
    assert (pr.tp, pr.fp, pr.fn) == (2, 1, 1)
    assert pr.precision == pytest.approx(2 / 3) and pr.recall == pytest.approx(2 / 3)
    assert PR(0, 0, 0).precision == 1.0 and PR(0, 0, 3).recall == 0.0


def test_the_best_threshold_respects_a_minimum_precision() -> None:
    pairs = [(0.9, True), (0.8, False), (0.6, True), (0.2, True), (0.1, False)]
    threshold, pr = best_threshold(pairs, [0.15, 0.5, 0.85], min_precision=0.9)
    assert threshold == 0.85 and (pr.tp, pr.fp) == (1, 0)


def test_a_planted_cluster_is_found_only_when_covered_and_pure() -> None:
    planted = {1: range(1, 11), 2: range(11, 16), 3: range(21, 26)}
    detected = [
        set(range(1, 9)) | {99},  # 8 of 10 (80 %), purity 8/9 < 0.9: not correct
        set(range(11, 16)),  # all of 2, pure: found
        {21, 22, 23},  # pure but 60 % of 3: correct, 3 not found
        {50, 51, 52},  # background only: not correct
    ]
    per_detected, per_planted = cluster_pr(detected, planted)
    assert (per_detected.tp, per_detected.fp) == (2, 2)
    assert (per_planted.tp, per_planted.fn) == (1, 2)
    better = [set(range(1, 10)) | {99}] + detected[1:]  # 9 of 10, purity 0.9: found
    assert cluster_pr(better, planted)[1].tp == 2


def test_clusters_of_successive_scans_become_one_alert() -> None:
    alerts = merge_alerts([[{1, 2, 3, 4, 5}], [{3, 4, 5, 6, 7}, {20, 21, 22, 23, 24}]])
    assert alerts == [{1, 2, 3, 4, 5, 6, 7}, {20, 21, 22, 23, 24}]
    assert merge_alerts([[{1, 2, 3, 4}], [{4, 5, 6, 7}]]) == [{1, 2, 3, 4}, {4, 5, 6, 7}]


def test_flags_against_the_truth() -> None:
    pr = flag_pr({1, 2, 3}, {2, 3, 4, 5})
    assert (pr.tp, pr.fp, pr.fn) == (2, 1, 2)
