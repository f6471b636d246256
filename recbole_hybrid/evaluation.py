"""Full-ranking evaluation from each user's target rank, with and without the user's seen items as candidates.

RecBole's evaluator keeps only the top-k item ids of every user and never excludes seen items for sequential
models. Here each user's rank of the target is computed once on the device; every metric (and every later per-user
analysis) follows from the ranks. With one target per user:

    HR@k = [r <= k],   NDCG@k = [r <= k] / log2(r + 1),   MRR@k = [r <= k] / r.

Tie rule: ``r = 1 + #{items scored higher} + #{other items scored equal}``: a tie counts against the target.
RecBole orders tied items by ``torch.topk``, whose order among equal scores is unspecified, so under ties its
metrics are not defined; ours are the conservative bound (never above RecBole's) and a model that gives every item
the same score gets rank ``n_items - 1``, not 1. Without ties both are equal (tests/test_evaluation.py).

Filtered ranks (``filter_seen``) drop from the candidates every item the user interacted with before the target
(the whole history, not only the ``MAX_ITEM_LIST_LENGTH`` items the model reads), except the target itself.

With ``history_cap=k`` (``history_caps``) each user's input is cut to its last ``min(k, L)`` items; its filtered
rank then drops only those visible items, and ``rank_filter_history`` the whole history.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from recbole_hybrid.metrics import metrics_from_ranks
from recbole_hybrid.model.fast_layers import fused_kernels
from recbole_hybrid.plugin import is_plugin_model
from recbole_hybrid.data.history_caps import cap_history, visible_mask

def target_ranks(scores: torch.Tensor, targets: torch.Tensor,
                 seen: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """1-based rank of each row's target among all items but the padding item 0 (module docstring: tie rule).

    Args:
        scores: ``[B, n_items]`` model scores; column 0 is the padding item and never a candidate.
        targets: ``[B]`` long target item ids.
        seen: ``[B, n_items]`` bool, items to drop from the candidates for the filtered rank, or None.

    Returns:
        ``[B]`` long ranks over all items, and ``[B]`` long ranks without the seen items (None without ``seen``).
    """
    target_scores = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    if torch.isnan(target_scores).any():
        raise FloatingPointError("the model scored a target item NaN: its rank is undefined")
    ahead = scores >= target_scores  # [B, n_items]: the target itself, ties and higher scores
    ahead[:, 0] = False
    ahead.scatter_(1, targets.unsqueeze(1), False)
    ranks = 1 + ahead.sum(1)
    if seen is None:
        return ranks, None
    return ranks, ranks - (ahead & seen).sum(1)


@dataclass
class SeenItems:
    """Every user's items before the evaluated target, as a CSR table over internal user ids.

    Built from the splits that precede the evaluated one (RecBole's leave-one-out: train for validation, train and
    validation for test): the targets of those rows plus each user's first item, which is a target of no row.
    ``length[u]`` is the true history length before the evaluated target (not capped).
    """

    indptr: np.ndarray  # [n_users + 1]
    items: np.ndarray  # [indptr[-1]]

    @property
    def length(self) -> np.ndarray:
        """``[n_users]`` number of items seen before the evaluated target."""
        return np.diff(self.indptr)

    def item_counts(self, n_items: int) -> np.ndarray:
        """``[n_items]`` how often each item occurs in the users' seen histories: for the validation's
        ``SeenItems``, the training split's interactions per item, the popularity the model and its graph learn."""
        return np.bincount(self.items, minlength=n_items).astype(np.int64)

    @classmethod
    def from_datasets(cls, datasets: list, eval_dataset) -> "SeenItems":
        """The history of every user before its row in ``eval_dataset``, from the earlier split ``datasets``."""
        uid, iid = eval_dataset.uid_field, eval_dataset.iid_field
        seq = iid + eval_dataset.config["LIST_SUFFIX"]
        seq_len = eval_dataset.config["ITEM_LIST_LENGTH_FIELD"]
        users, items = [], []
        for ds in [*datasets, eval_dataset]:
            feat = ds.inter_feat
            first = (feat[seq_len] == 1).numpy()  # the row whose only history item is the user's first item
            users.append(feat[uid].numpy()[first])
            items.append(feat[seq].numpy()[first, 0])
            if ds is not eval_dataset:
                users.append(feat[uid].numpy())
                items.append(feat[iid].numpy())
        users, items = np.concatenate(users), np.concatenate(items)
        order = np.argsort(users, kind="stable")
        counts = np.bincount(users, minlength=eval_dataset.user_num)
        return cls(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[order].astype(np.int64))

    def mask(self, users: np.ndarray, n_items: int, device: torch.device | str) -> torch.Tensor:
        """``[B, n_items]`` bool on ``device``: True where batch row ``b`` saw the item."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        counts = ends - starts
        rows = np.repeat(np.arange(len(users)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = self.items[np.repeat(starts, counts) + offsets]
        mask = torch.zeros(len(users), n_items, dtype=torch.bool, device=device)
        mask[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = True
        return mask


@dataclass
class Evaluation:
    """One split's evaluation: metrics over users and the per-user arrays behind them (host numpy)."""

    metrics: dict[str, float]  # all items are candidates (RecBole's protocol)
    metrics_filter_seen: dict[str, float]  # the user's earlier items are not candidates
    user_id: np.ndarray  # [U] internal user ids
    history_length: np.ndarray  # [U] true number of items before the target
    rank: np.ndarray  # [U]
    rank_filter_seen: np.ndarray  # [U]
    target_count: np.ndarray | None = None  # [U] training-split count of the user's target item (None: not asked)
    target_degree: np.ndarray | None = None  # [U] edges of the target in the default item graph (None: not asked)
    # a capped test (history_cap): rank_filter_seen excludes the visible items only, this the whole history
    rank_filter_history: np.ndarray | None = None  # [U]
    metrics_filter_history: dict[str, float] | None = None


#: RecBole's models (module, class) that ``trims_padding``; told by name, so no model class is imported here.
PADDING_FREE = {("recbole.model.sequential_recommender.sasrec", "SASRec")}

#: Rows per forward pass when a batch is split by history length.
LENGTH_CHUNK = 256


def trims_padding(model: torch.nn.Module) -> bool:
    """True for the models whose outputs ignore right padding beyond a row's length: SASRec and the hybrids.

    Their inputs are left-aligned (position ``t`` is the ``t``-th item) and padded keys are masked, so cutting a
    batch to its longest row changes no score (up to float summation order).
    """
    return is_plugin_model(type(model)) or any((cls.__module__, cls.__name__) in PADDING_FREE
                                               for cls in type(model).__mro__)


def full_sort_scores(model: torch.nn.Module, interaction, len_field: str) -> torch.Tensor:
    """``[B, n_items]`` ``model.full_sort_predict`` of a batch, in the batch's row order.

    For models that ``trims_padding``, rows are scored in chunks of similar history length, each cut to its longest
    row: at length 200 on ML-1M this skips most of the padded positions (the attention of a padded row costs as
    much as a full one).
    """
    if not trims_padding(model):
        return model.full_sort_predict(interaction).view(len(interaction), -1)
    seq_field = model.ITEM_SEQ
    lengths = interaction[len_field]
    order = torch.argsort(lengths, stable=True)
    scores = None
    for rows in order.split(LENGTH_CHUNK):
        chunk = interaction[rows]
        width = int(lengths[rows].max())
        chunk.interaction[seq_field] = chunk[seq_field][:, :width]
        part = model.full_sort_predict(chunk).view(len(rows), -1)
        if scores is None:
            scores = part.new_empty(len(interaction), part.size(1))
        scores[rows] = part
    return scores


@torch.no_grad()
def evaluate(model: torch.nn.Module, eval_data, seen: SeenItems, device: torch.device | str,
             fused: bool = True, item_counts: np.ndarray | None = None,
             item_degrees: np.ndarray | None = None, history_cap: int | None = None,
             progress=None) -> Evaluation:
    """Rank every user's target of a RecBole full-sort sequential eval loader, with and without seen items.

    Args:
        model: a sequential recommender with ``full_sort_predict(interaction) -> [B, n_items]``.
        eval_data: RecBole's ``FullSortEvalDataLoader`` of the validation or test split (one row per user).
        seen: ``SeenItems.from_datasets`` of the splits before ``eval_data``'s.
        device: where the scores are computed and ranked; ranks come to the host once per batch.
        fused: score with ``fused_layers.fused_kernels`` (False: RecBole's layers as they are, for comparison).
        item_counts: ``[n_items]`` training-split count of every item (``SeenItems.item_counts``), or None. Given,
            the result's ``target_count`` holds each user's target's count (the popularity groups of the analysis);
            the target ids themselves are never kept (they would be the dataset's held-out interactions).
        item_degrees: ``[n_items]`` edges of every item in the default item graph (``graph.default_item_degrees``),
            or None. Given, the result's ``target_degree`` holds each user's target's (the graph groups).
        history_cap: ``k``, or None. Given, every row's input is cut to its last ``min(k, L)`` items
            (``history_caps.cap_history``); ``rank_filter_seen`` then excludes those visible items and
            ``rank_filter_history`` the whole history ``seen``.
        progress: an object whose ``update(n)`` is called with each batch's number of users once it is ranked
            (``progress_display.Steps``), or None.
    """
    dataset = eval_data._dataset
    uid_field, iid_field, len_field = dataset.uid_field, dataset.iid_field, dataset.config["ITEM_LIST_LENGTH_FIELD"]
    max_len = dataset.config["MAX_ITEM_LIST_LENGTH"]
    model.eval()
    out: dict[str, list[np.ndarray]] = {"user_id": [], "rank": [], "rank_filter_seen": [], "target": [],
                                        "rank_filter_history": []}
    with fused_kernels(model) if fused else contextlib.nullcontext():  # once per split, not per batch
        for interaction, history_index, _, _ in eval_data:
            if history_index is not None:
                raise ValueError("evaluate() expects a sequential model's full-sort loader "
                                 "(RecBole gives no history)")
            interaction = interaction.to(device)
            users = interaction[uid_field].cpu().numpy()
            capped = np.minimum(seen.length[users], max_len)
            if not np.array_equal(capped, interaction[len_field].cpu().numpy()):
                raise ValueError(
                    "the history lengths of the evaluated split do not match its earlier splits: evaluate() "
                    "supports RecBole's leave-one-out split (eval_args split LS, order TO, one target per user)"
                )
            if history_cap is not None:
                seq_field = iid_field + dataset.config["LIST_SUFFIX"]
                interaction.interaction[seq_field], interaction.interaction[len_field] = cap_history(
                    interaction[seq_field], interaction[len_field], history_cap)
            scores = full_sort_scores(model, interaction, len_field)
            targets = interaction[iid_field]
            history = seen.mask(users, scores.size(1), scores.device)
            if history_cap is None:
                ranks = torch.stack([*target_ranks(scores, targets, history), targets.long()])
            else:
                ranks, visible = target_ranks(scores, targets, visible_mask(interaction[seq_field], scores.size(1)))
                ranks = torch.stack([ranks, visible, targets.long(), target_ranks(scores, targets, history)[1]])
            ranks = ranks.cpu().numpy()  # [3 or 4, B]: the batch's one transfer to the host
            out["user_id"].append(users)
            out["rank"].append(ranks[0])
            out["rank_filter_seen"].append(ranks[1])
            out["target"].append(ranks[2])
            if history_cap is not None:
                out["rank_filter_history"].append(ranks[3])
            if progress is not None:
                progress.update(len(users))
    if history_cap is None:
        del out["rank_filter_history"]
    arrays = {key: np.concatenate(value) for key, value in out.items()}
    targets = arrays.pop("target")
    if len(np.unique(arrays["user_id"])) != len(arrays["user_id"]):
        raise ValueError("a user has several targets in the evaluated split: evaluate() supports one per user "
                         "(eval_args split LS)")
    return Evaluation(metrics=metrics_from_ranks(arrays["rank"]),
                      metrics_filter_seen=metrics_from_ranks(arrays["rank_filter_seen"]),
                      user_id=arrays["user_id"], history_length=seen.length[arrays["user_id"]],
                      rank=arrays["rank"], rank_filter_seen=arrays["rank_filter_seen"],
                      target_count=None if item_counts is None else item_counts[targets],
                      target_degree=None if item_degrees is None else item_degrees[targets],
                      rank_filter_history=arrays.get("rank_filter_history"),
                      metrics_filter_history=None if history_cap is None else
                      metrics_from_ranks(arrays["rank_filter_history"]))
