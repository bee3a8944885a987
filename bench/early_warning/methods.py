"""The similarity methods compared on the labelled set (pairwise precision and recall).

- ``tfidf``: TF-IDF cosine over character 2–3-grams of the normalised text (NFKC,
  traditional → simplified, glossary, noise removed): what :mod:`petitions.warnings.similar`
  computes (scikit-learn computes the same matrix here, which the benchmark checks).
- ``tfidf-idf2``: ``tfidf`` with the idf squared (the default, ``idf_power=2``).
- ``tfidf-raw``: the same without the normalisation (scikit-learn's ``analyzer="char"``).
- ``tfidf-category``: ``tfidf``, but petitions filed under different categories are never
  similar.
- ``minhash``: MinHash (datasketch, 128 permutations) Jaccard estimate over the same grams.
- ``minhash-lsh``: MinHash LSH buckets (datasketch) at the threshold, then the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from bench.early_warning.generate import Sample
from petitions.units import UnitTree
from petitions.warnings.text import grams

__all__ = ["METHODS", "scope_pairs", "score_pairs"]

METHODS = ("tfidf-idf2", "tfidf", "tfidf-raw", "tfidf-category", "minhash", "minhash-lsh")


def _company(tree: UnitTree, unit: int) -> int | None:
    node = tree.get(unit)
    return node.parent_id if node else None


def scope_pairs(
    samples: Sequence[Sample], tree: UnitTree, days: int = 14
) -> list[tuple[int, int]]:
    """Index pairs (i < j) at most ``days`` apart whose plants share a company."""
    out: list[tuple[int, int]] = []
    span = timedelta(days=days)
    company = [_company(tree, s.unit_id) for s in samples]
    for i, a in enumerate(samples):
        for j in range(i + 1, len(samples)):
            b = samples[j]
            if b.at - a.at > span:
                break
            if company[i] == company[j]:
                out.append((i, j))
    return out


def _analyzer(text: str) -> list[str]:
    out: list[str] = []
    for gram, count in grams(text).items():
        out.extend([gram] * count)
    return out


def _tfidf(texts: list[str], *, raw: bool, idf_power: float = 1.0) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if raw:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True, norm=None)
    x = vec.fit_transform(texts)
    if not raw:
        x = normalize(x.multiply(vec.idf_ ** (idf_power - 1.0)).tocsr())
    return x


def score_pairs(
    method: str,
    samples: Sequence[Sample],
    pairs: Sequence[tuple[int, int]],
    lsh_threshold: float = 0.3,
) -> list[float]:
    """Each pair's score under ``method``."""
    texts = [s.text for s in samples]
    if method.startswith("tfidf"):
        x = _tfidf(texts, raw=method == "tfidf-raw", idf_power=2.0 if "idf2" in method else 1.0)
        a = np.array([i for i, _ in pairs])
        b = np.array([j for _, j in pairs])
        scores = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
        if method == "tfidf-category":
            same = np.array([samples[i].category == samples[j].category for i, j in pairs])
            scores = np.where(same, scores, 0.0)
        return [float(s) for s in scores]
    from datasketch import MinHash, MinHashLSH

    hashes = []
    for text in texts:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([g.encode() for g in grams(text)])
        hashes.append(m)
    if method == "minhash":
        return [float(hashes[i].jaccard(hashes[j])) for i, j in pairs]
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=128)
    for i, m in enumerate(hashes):
        lsh.insert(i, m)
    out: list[float] = []
    cache: dict[int, set[int]] = {}
    for i, j in pairs:
        if i not in cache:
            cache[i] = set(lsh.query(hashes[i]))
        out.append(float(hashes[i].jaccard(hashes[j])) if j in cache[i] else 0.0)
    return out
