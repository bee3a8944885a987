"""Early warning (四早): similar petitions, clusters, spikes and urgent petitions.

Pure domain code (numpy and OpenCC, no I/O): the service loads petitions and calls these;
docs/early-warning.md says what is detected, how, and how to tune it.
"""

from petitions.warnings.clusters import Cluster, ClusterConfig, find_clusters, opening, overlap
from petitions.warnings.similar import Match, Petition, SimilarityConfig, SimilarityIndex
from petitions.warnings.spikes import Spike, SpikeConfig, find_spikes, poisson_tail
from petitions.warnings.text import normalise
from petitions.warnings.urgent import (
    DEFAULT_SIGNS,
    KINDS,
    DangerSign,
    UrgentMatch,
    check,
    signs_from_config,
)

__all__ = [
    "DEFAULT_SIGNS",
    "KINDS",
    "Cluster",
    "ClusterConfig",
    "DangerSign",
    "Match",
    "Petition",
    "SimilarityConfig",
    "SimilarityIndex",
    "Spike",
    "SpikeConfig",
    "UrgentMatch",
    "check",
    "find_clusters",
    "find_spikes",
    "normalise",
    "opening",
    "overlap",
    "poisson_tail",
    "signs_from_config",
]
