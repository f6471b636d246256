"""Metrics from 1-based target ranks, with one target per user; numpy only, so analysis reads records without torch.

    HR@k = [r <= k],   NDCG@k = [r <= k] / log2(r + 1),   MRR@k = [r <= k] / r.

The ranks come from ``evaluation.target_ranks`` (its docstring: the tie rule).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

CUTOFFS = (5, 10, 20)
METRICS = ("ndcg", "hit", "mrr")


def metrics_from_ranks(ranks: np.ndarray, cutoffs: Iterable[int] = CUTOFFS) -> dict[str, float]:
    """Mean NDCG / HR / MRR at each cut-off over users, from 1-based target ranks ``[U]``; RecBole's key names."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no users to evaluate: the ranks array is empty")
    out = {}
    for k in cutoffs:
        hit = ranks <= k
        out[f"ndcg@{k}"] = float(np.mean(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0)))
        out[f"hit@{k}"] = float(np.mean(hit))
        out[f"mrr@{k}"] = float(np.mean(np.where(hit, 1.0 / ranks, 0.0)))
    return {f"{m}@{k}": out[f"{m}@{k}"] for m in METRICS for k in cutoffs}


def per_user_metric(ranks: np.ndarray, metric: str) -> np.ndarray:
    """``[U]`` float per-user value of ``"ndcg@10"``, ``"hit@5"``, ``"mrr@20"``... from ranks ``[U]``."""
    name, _, k = metric.partition("@")
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks <= int(k)
    values = {"ndcg": lambda: 1.0 / np.log2(ranks + 1), "hit": lambda: np.ones_like(ranks),
              "mrr": lambda: 1.0 / ranks}
    if name not in values:
        raise ValueError(f"unknown metric {metric!r}: expected ndcg@k, hit@k or mrr@k")
    return np.where(hit, values[name](), 0.0)
