"""Test-time history caps: the trained model, each test user's input cut to its last ``k`` items.

ML-1M has few short-history users (162 of 6,034 test users have L <= 10), so a length claim tested on them alone
decides little. Every user becomes a short-history user at test time without retraining: keep the selected model,
the test target and the item graph (built from training, unchanged), and feed only the last ``min(k, L)`` items of
the user's history, left-aligned and padded as RecBole builds the row of a genuinely short user. The hybrids then
read ``L = min(k, L)``, the visible length, so their ``a(L)`` is the short-history ``a``.

Candidates: the primary set excludes the visible items only (what a user who had only those items has seen,
``rank_filter_seen``); the set that excludes the whole true history is also kept (``rank_filter_history``), and
all items (``rank``). ``eval_history_caps`` (a list, empty by default) runs them once per cap after the test, on the
model chosen on validation: training, selection and the uncapped test are untouched, and a run without caps writes
the record it wrote before. ``add_history_caps`` adds them to an existing record from its saved best model.
"""

from __future__ import annotations

from typing import Any

import torch


from recbole_hybrid.utils.errors import ConfigError

#: The config key.
CAPS_KEY = "eval_history_caps"
#: The caps the issue that introduced them asks for, the default of ``experiments caps``.
DEFAULT_CAPS = (1, 2, 3, 5, 10, 20, 50)


def check_history_caps(caps: Any, model_cls: type, max_len: int) -> list[int]:
    """``caps`` as a list of ints, or a ``ConfigError`` naming the key and the bad value.

    Each cap is an integer in ``[1, MAX_ITEM_LIST_LENGTH]`` (a larger one cuts nothing the model reads), none
    repeated, and only a sequential model (one that reads an item list and its length) can take them.
    """
    if caps is None:
        return []
    if not isinstance(caps, (list, tuple)):
        raise ConfigError(f"{CAPS_KEY}={caps!r} must be a list of integers >= 1, e.g. [1, 2, 5]")
    for k in caps:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"{CAPS_KEY}={list(caps)!r}: {k!r} is not an integer >= 1")
        if k > max_len:
            raise ConfigError(f"{CAPS_KEY}={list(caps)!r}: cap {k} is above MAX_ITEM_LIST_LENGTH={max_len}, the "
                              f"most items the model reads, so it would cut nothing")
    repeated = sorted({k for k in caps if list(caps).count(k) > 1})
    if repeated:
        raise ConfigError(f"{CAPS_KEY}={list(caps)!r}: cap {repeated[0]} is repeated")
    if caps:
        from recbole.model.abstract_recommender import SequentialRecommender

        if not (isinstance(model_cls, type) and issubclass(model_cls, SequentialRecommender)):
            name = getattr(model_cls, "__name__", repr(model_cls))
            raise ConfigError(f"{CAPS_KEY}: {name} is not a sequential model (no item history to cut); leave "
                              f"{CAPS_KEY} empty")
    return list(caps)


def cap_history(item_seq: torch.Tensor, item_seq_len: torch.Tensor, cap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's last ``min(cap, L)`` items, left-aligned and right-padded with 0, as RecBole builds a row.

    Args:
        item_seq: ``[B, T]`` item ids, the ``L = item_seq_len[b]`` real items first (oldest first), then 0.
        item_seq_len: ``[B]`` long, the number of real items of each row (>= 1).
        cap: ``k >= 1``.

    Returns:
        ``[B, W]`` cut sequences with ``W = max_b min(k, L_b)``, and ``[B]`` their lengths ``min(k, L)``.
    """
    kept = item_seq_len.clamp(max=cap)
    start = item_seq_len - kept
    width = int(kept.max())
    cols = torch.arange(width, device=item_seq.device)
    index = (start.unsqueeze(1) + cols).clamp(max=item_seq.size(1) - 1)
    cut = item_seq.gather(1, index).masked_fill(cols.unsqueeze(0) >= kept.unsqueeze(1), 0)
    return cut, kept


def visible_mask(item_seq: torch.Tensor, n_items: int) -> torch.Tensor:
    """``[B, n_items]`` bool: True at the items of each row of ``item_seq [B, W]`` (column 0, the padding id, is
    never a candidate anyway)."""
    mask = torch.zeros(item_seq.size(0), n_items, dtype=torch.bool, device=item_seq.device)
    return mask.scatter_(1, item_seq, True)


def cap_summary(capped: dict[int, Any], seconds: float) -> dict[str, Any]:
    """The record's ``history_caps`` entry from ``{k: Evaluation}`` of the capped tests: per cap and candidate set
    the metrics (``test`` all items, ``test_filter_seen`` visible items excluded, ``test_filter_history`` the whole
    history excluded), the caps and the seconds they took."""
    return {"caps": sorted(capped),
            "test": {str(k): ev.metrics for k, ev in sorted(capped.items())},
            "test_filter_seen": {str(k): ev.metrics_filter_seen for k, ev in sorted(capped.items())},
            "test_filter_history": {str(k): ev.metrics_filter_history for k, ev in sorted(capped.items())},
            "time_s": seconds}
