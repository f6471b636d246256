"""Training windows for sequence-level training, cut from RecBole's own training split.

RecBole turns every prefix of every user's training sequence into a row (``item_id_list`` = the last
``MAX_ITEM_LIST_LENGTH`` items before the target, ``item_length`` = their number). Sequence-level training (SASRec's
original scheme) instead feeds each user's sequence once and takes a loss at every position: the causal mask gives
position ``t`` exactly the items ``0..t``. The windows here are rebuilt from RecBole's rows, so they hold the same
users, items, ids, filters and leave-one-out split as the prefix rows; only the grouping differs.

A user's training sequence ``s`` (``n`` items: the first item, then the target of each of its ``n - 1`` rows) is cut
from the end into windows of at most ``T + 1`` items (``T = MAX_ITEM_LIST_LENGTH``) whose targets do not overlap:
``s[max(0, e - T - 1):e]`` for ``e = n, n - T, n - 2T, ...`` while ``e >= 2``. Each target is then used exactly once
per epoch (``sequence_windows: all``); ``last`` keeps only the last window of each user. Target ``s[j]`` (``j >= 1``)
sits at window position ``t = j - 1 - start``; its true history length, capped as RecBole caps ``item_length``, is
``L = min(j, T)``: in a later window of a long history that is not ``t + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recbole_hybrid.utils.errors import ConfigError

SEQUENCE_WINDOWS = ("all", "last")


@dataclass
class SequenceWindows:
    """Right-padded training windows.

    ``items [W, T]`` the inputs, ``targets [W, T]`` the item to predict at each position (0 = padding, no loss),
    ``lengths [W, T]`` each target's capped history length ``L`` (0 at padding), ``user [W]`` internal user ids.
    """

    items: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    user: torch.Tensor

    def __len__(self) -> int:
        return self.items.size(0)

    @property
    def n_targets(self) -> int:
        """Number of real positions, i.e. training targets, over all windows."""
        return int((self.targets > 0).sum())

    def to(self, device: torch.device | str) -> "SequenceWindows":
        return SequenceWindows(*(t.to(device) for t in (self.items, self.targets, self.lengths, self.user)))


def training_sequences(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each user's whole training sequence, rebuilt from RecBole's prefix rows.

    Args:
        dataset: RecBole's training ``SequentialDataset`` (``train_data.dataset``).

    Returns:
        ``users [U]`` internal user ids, ``indptr [U + 1]`` and ``items [indptr[-1]]``: user ``users[k]``'s sequence
        is ``items[indptr[k]:indptr[k + 1]]``, oldest first.

    Raises:
        ConfigError: the rows are not RecBole's leave-one-out prefix rows in time order (each row's history must end
        with the previous row's target and grow by one item, capped at ``MAX_ITEM_LIST_LENGTH``).
    """
    config = dataset.config
    feat = dataset.inter_feat
    uid = feat[dataset.uid_field].numpy()
    target = feat[dataset.iid_field].numpy()
    seq = feat[dataset.iid_field + config["LIST_SUFFIX"]].numpy()
    length = feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy()
    max_len = config["MAX_ITEM_LIST_LENGTH"]
    order = np.argsort(uid, kind="stable")
    uid, target, seq, length = uid[order], target[order], seq[order], length[order]
    users, starts, counts = np.unique(uid, return_index=True, return_counts=True)
    # rank of each row within its user: 1 for the row whose history is the first item only
    rank = np.arange(len(uid)) - np.repeat(starts, counts) + 1
    last_history_item = seq[np.arange(len(uid)), length - 1]
    previous_target = np.concatenate([[0], target[:-1]])
    first_of_user = rank == 1
    consistent = (length == np.minimum(rank, max_len)) & (
        first_of_user | (last_history_item == previous_target))
    if not consistent.all():
        bad = int(uid[np.argmin(consistent)])
        raise ConfigError(
            f"train_mode=sequence needs RecBole's leave-one-out prefix rows in time order (eval_args order TO, "
            f"split LS); the training rows of internal user {bad} are not")
    first_items = seq[starts, 0]
    # per user: its first item, then the targets of its rows
    items = np.empty(len(uid) + len(users), dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts + 1)])
    is_first = np.zeros(len(items), dtype=bool)
    is_first[indptr[:-1]] = True
    items[is_first] = first_items
    items[~is_first] = target
    return users.astype(np.int64), indptr.astype(np.int64), items


def build_windows(dataset, windows: str = "all") -> SequenceWindows:
    """Cut every user's training sequence into windows (module docstring) with per-target history lengths."""
    if windows not in SEQUENCE_WINDOWS:
        raise ConfigError(f"sequence_windows={windows!r} must be one of {', '.join(SEQUENCE_WINDOWS)}")
    T = dataset.config["MAX_ITEM_LIST_LENGTH"]
    users, indptr, items = training_sequences(dataset)
    row_user, row_start, row_end = [], [], []  # row_user: position k of the user in `users`
    for k, (lo, hi) in enumerate(zip(indptr[:-1], indptr[1:])):
        end = hi - lo
        while end >= 2:
            row_user.append(k)
            row_start.append(max(0, end - T - 1))
            row_end.append(end)
            if windows == "last":
                break
            end -= T
    row_user, row_start, row_end = (np.asarray(a, dtype=np.int64) for a in (row_user, row_start, row_end))
    offsets = np.arange(T + 1)
    valid = offsets[None, :] < (row_end - row_start)[:, None]  # [W, T + 1]: windows hold 2 .. T + 1 items
    position = np.minimum(indptr[row_user][:, None] + row_start[:, None] + offsets[None, :], len(items) - 1)
    window = np.where(valid, items[position], 0)
    inputs = np.where(valid[:, 1:], window[:, :-1], 0)  # the last item of a window is only a target
    targets = window[:, 1:]
    history = row_start[:, None] + offsets[None, 1:]  # target s[start + t + 1] follows start + t + 1 items
    lengths = np.where(targets > 0, np.minimum(history, T), 0)
    return SequenceWindows(*(torch.from_numpy(np.ascontiguousarray(a))
                             for a in (inputs, targets, lengths, users[row_user])))
