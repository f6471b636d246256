"""Numbers from elsewhere that the results README shows beside ours: citations, not results of this project.

``ANCHORS`` is the only place they are written. Each carries its source and protocol: none of them was produced
by this code, and only runs on the same protocol are comparable with them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anchor:
    """One cited test result (``None`` where the source gives no value)."""

    kind: str  # "promised" (the seed workflow's table) or "published"
    model: str
    ndcg10: float
    hr10: float
    mrr10: float | None
    source: str
    protocol: str
    datasets: tuple[str, ...]  # this project's datasets the README shows it beside


_SEED = ("The seed workflow this project was created from: its promised ML-1M test table, backed by no published "
         "run")
_SEED_PROTOCOL = "ML-1M, ratings >= 4, users with >= 5, leave-one-out, full ranking (candidate set not stated)"

#: Literature and promised numbers on ML-1M (HR@10, NDCG@10, MRR@10), copied from their sources.
ANCHORS: tuple[Anchor, ...] = (
    Anchor("promised", "SASRec", 0.183, 0.370, 0.165, _SEED, _SEED_PROTOCOL, ("ml-1m",)),
    Anchor("promised", "HybridFixed", 0.195, 0.387, 0.172, _SEED, _SEED_PROTOCOL, ("ml-1m",)),
    Anchor("promised", "HybridDiscrete", 0.216, 0.412, 0.189, _SEED, _SEED_PROTOCOL, ("ml-1m",)),
    Anchor("promised", "HybridLearnable", 0.210, 0.405, 0.186, _SEED, _SEED_PROTOCOL, ("ml-1m",)),
    Anchor("promised", "HybridContinuous", 0.213, 0.409, 0.188, _SEED, _SEED_PROTOCOL, ("ml-1m",)),
    Anchor("published", "SASRec+ (full CE)", 0.1821, 0.3152, None,
           'Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better than SASRec?", '
           "RecSys 2023",
           "ML-1M 5-core (BERT4Rec repo's file), max length 200, hidden 64, 2 blocks, seen items excluded",
           ("ml-1m", "ml-1m-sasrec")),
    Anchor("published", "HSTU-large", 0.1893, 0.3294, None,
           'Zhai et al., "Actions Speak Louder than Words" (HSTU), ICML 2024; repo generative-recommenders',
           "ML-1M, max length 200, seen items excluded", ("ml-1m", "ml-1m-sasrec")),
    Anchor("published", "FuXi-alpha", 0.1813, 0.3164, None,
           "eSASRec benchmark, arXiv 2508.06450",
           "ML-1M, 6,040 users, 3,706 items, max length 200", ("ml-1m", "ml-1m-sasrec")),
)


def anchors_for(dataset: str, kind: str) -> list[Anchor]:
    """The anchors of ``kind`` that belong beside results on ``dataset``."""
    return [a for a in ANCHORS if a.kind == kind and dataset in a.datasets]
