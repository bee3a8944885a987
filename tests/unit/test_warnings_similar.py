"""The similarity index: finds the same matter in other words, stays within its window
and units, and is updated one petition at a time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from petitions.warnings.similar import Petition, SimilarityConfig, SimilarityIndex
from petitions.warnings.text import grams

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OVERTIME = "二车间三月份的加班费到现在还没发，找人事也没人管。"
OVERTIME_OTHER_WORDS = "我们二車間三月加班費一直拖着不给，找人事问了也没人管"
CANTEEN = "食堂饭菜涨价太厉害，分量还越来越少。"
DORM = "宿舍楼漏水很久了，后勤一直不来修。"


def petition(pid: int, text: str, *, days_ago: float = 1, unit: int = 1) -> Petition:
    return Petition(pid, text, unit, "pay", NOW - timedelta(days=days_ago))


def index_of(*petitions: Petition, **config: float) -> SimilarityIndex:
    index = SimilarityIndex(SimilarityConfig(**config))  # type: ignore[arg-type]
    index.add_all(petitions)
    return index


def test_the_same_matter_in_other_words_is_found_and_another_matter_is_not() -> None:
    index = index_of(petition(1, OVERTIME), petition(2, CANTEEN), petition(3, DORM))
    found = index.similar(petition(9, OVERTIME_OTHER_WORDS, days_ago=0))
    assert [m.id for m in found] == [1]
    assert 0 < found[0].score <= 1


def test_a_petition_is_not_similar_to_itself() -> None:
    index = index_of(
        petition(1, OVERTIME), petition(2, OVERTIME_OTHER_WORDS), petition(3, CANTEEN)
    )
    assert [m.id for m in index.similar(petition(1, OVERTIME), threshold=0.1)] == [2]


def test_petitions_older_than_the_window_are_not_looked_at() -> None:
    index = index_of(petition(1, OVERTIME, days_ago=120), petition(2, OVERTIME, days_ago=30))
    found = index.similar(petition(9, OVERTIME_OTHER_WORDS, days_ago=0))
    assert [m.id for m in found] == [2]
    assert index.similar(petition(9, OVERTIME, days_ago=0), since=NOW - timedelta(days=200))


def test_the_look_up_can_be_limited_to_some_units() -> None:
    index = index_of(petition(1, OVERTIME, unit=1), petition(2, OVERTIME, unit=2))
    found = index.similar(petition(9, OVERTIME, days_ago=0), units={2})
    assert [m.id for m in found] == [2]


def test_removed_and_pruned_petitions_are_not_found_and_compaction_keeps_the_rest() -> None:
    index = index_of(
        petition(1, OVERTIME, days_ago=50),
        petition(2, OVERTIME, days_ago=10),
        petition(3, OVERTIME, days_ago=5),
        petition(4, CANTEEN, days_ago=5),
    )
    index.remove(3)
    assert index.prune(NOW - timedelta(days=20)) == 1
    assert len(index) == 2 and 3 not in index and 1 not in index
    index.compact()
    assert [m.id for m in index.similar(petition(9, OVERTIME, days_ago=0))] == [2]


def test_adding_a_petition_again_replaces_it() -> None:
    index = index_of(petition(1, OVERTIME))
    index.add(petition(1, CANTEEN))
    assert len(index) == 1
    assert index.similar(petition(9, OVERTIME, days_ago=0)) == []


def _reference_cosine(texts: list[str], a: int, b: int) -> float:
    """TF-IDF (sublinear tf, smooth idf) cosine computed the long way."""
    counts = [grams(t) for t in texts]
    n = len(texts)
    df: dict[str, int] = {}
    for c in counts:
        for g in c:
            df[g] = df.get(g, 0) + 1

    def vec(c: dict[str, int]) -> dict[str, float]:
        return {g: (1 + math.log(k)) * (math.log((1 + n) / (1 + df[g])) + 1) for g, k in c.items()}

    va, vb = vec(counts[a]), vec(counts[b])
    dot = sum(w * vb.get(g, 0.0) for g, w in va.items())
    return dot / math.sqrt(sum(w * w for w in va.values()) * sum(w * w for w in vb.values()))


def test_scores_are_tf_idf_cosines_with_the_idf_read_at_look_up_time() -> None:
    texts = [OVERTIME, OVERTIME_OTHER_WORDS, CANTEEN, DORM, "加班费没发"]
    index = index_of(*(petition(i, t) for i, t in enumerate(texts)), idf_power=1.0, threshold=0.0)
    assert index.score(0, 1) == pytest.approx(_reference_cosine(texts, 0, 1))
    assert index.score(0, 4) == pytest.approx(_reference_cosine(texts, 0, 4))
    matrix = index.scores([0, 1, 4])
    assert matrix[0, 1] == pytest.approx(_reference_cosine(texts, 0, 1))
    index.remove(3)  # document frequencies change; scores follow without a rebuild
    assert index.score(0, 1) == pytest.approx(_reference_cosine(texts[:3] + texts[4:], 0, 1))


def test_an_index_can_weigh_its_grams_by_another_index() -> None:
    history = index_of(
        *(petition(i, t) for i, t in enumerate([OVERTIME, OVERTIME_OTHER_WORDS, CANTEEN, DORM]))
    )
    window = SimilarityIndex(history.config, idf_from=history)
    window.add_all([petition(0, OVERTIME), petition(1, OVERTIME_OTHER_WORDS)])
    # The same two petitions score as they do in the long-lived index, not as a pair alone.
    assert window.score(0, 1) == pytest.approx(history.score(0, 1))


def test_a_centroid_is_closer_to_the_matter_than_to_another() -> None:
    index = index_of(
        petition(1, OVERTIME),
        petition(2, OVERTIME_OTHER_WORDS),
        petition(3, CANTEEN),
        threshold=0.0,
    )
    centroid = index.centroid([1, 2])
    scores = {m.id: m.score for m in index.similar_to(centroid)}
    assert scores[1] > 0.5 and scores[2] > 0.5 and scores.get(3, 0.0) < 0.1
