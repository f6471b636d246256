"""Item co-occurrence graph built from the training part of each user's sequence.

RecBole's ``SequentialDataset`` turns every user's sequence into one row per prefix before splitting, so the
training split holds rows ``(item_id_list, item_length, target)`` whose targets are the training items only
(leave-one-out keeps the last two targets for validation and test). Every pair of items at distance
``d <= window`` in the training sequence appears in exactly one training row: as that row's target and the item
``d`` places before it in its prefix. Reading pairs from training rows therefore sees the whole training sequence
and never a validation or test item.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from recbole_hybrid.utils.progress_display import phase, progress_enabled
from recbole_hybrid.utils.resources import default_graph_settings

#: Version of the graph code, part of every cache key: raise it whenever a change to this module changes the graph
#: built from the same rows, so that no cache file of older code is ever read.
GRAPH_VERSION = 1

_MEMORY_CACHE: dict[str, sp.csr_matrix] = {}


def cooccurrence_counts(
    item_seq: np.ndarray, item_seq_len: np.ndarray, target: np.ndarray, n_items: int, window: int
) -> sp.csr_matrix:
    """Count co-occurrences of items within ``window`` positions of each other, symmetrically.

    Args:
        item_seq: ``[N, max_len]`` int, right-padded prefixes of the training rows (0 is padding).
        item_seq_len: ``[N]`` int, number of real items in each prefix.
        target: ``[N]`` int, the item that follows each prefix.
        n_items: number of item ids, padding included.
        window: largest distance between two positions that still counts as co-occurring.

    Returns:
        ``[n_items, n_items]`` symmetric count matrix ``W`` without diagonal.
    """
    rows, cols = [], []
    for d in range(1, window + 1):
        pos = item_seq_len - d
        ok = pos >= 0
        before = item_seq[np.nonzero(ok)[0], pos[ok]]
        after = target[ok]
        keep = (before != after) & (before > 0) & (after > 0)
        rows.append(before[keep])
        cols.append(after[keep])
    r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    ones = np.ones(2 * len(r), dtype=np.float32)
    w = sp.coo_matrix((ones, (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n_items, n_items))
    return w.tocsr()  # duplicates are summed here


def normalized_adjacency(counts: sp.csr_matrix, min_count: int) -> sp.csr_matrix:
    """``A_hat = D^-1/2 (W + I) D^-1/2`` with ``W`` the counts below ``min_count`` removed, ``D`` its weighted degree."""
    w = counts.copy()
    w.data[w.data < min_count] = 0
    w.eliminate_zeros()
    w = w + sp.identity(w.shape[0], dtype=np.float32, format="csr")
    deg = np.asarray(w.sum(axis=1)).ravel()
    inv_sqrt = sp.diags(np.power(deg, -0.5, dtype=np.float64).astype(np.float32))
    return (inv_sqrt @ w @ inv_sqrt).tocsr().astype(np.float32)


def _cache_key(item_seq: np.ndarray, item_seq_len: np.ndarray, target: np.ndarray, n_items: int,
               window: int, min_count: int, dataset_name: str) -> str:
    """Key on all the training rows the graph is built from (so the split and filters), its parameters and
    ``GRAPH_VERSION``: one changed interaction, or a change of the graph code, gives another key."""
    h = hashlib.sha256()
    for a in (item_seq, item_seq_len, target):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(f"{dataset_name}|{n_items}|{window}|{min_count}|{GRAPH_VERSION}".encode())
    return f"{dataset_name}-w{window}-m{min_count}-v{GRAPH_VERSION}-{h.hexdigest()[:16]}"


def build_item_graph(dataset, window: int, min_count: int, cache_dir: str | os.PathLike | None = None) -> sp.csr_matrix:
    """Normalised co-occurrence graph of a RecBole training split, cached in memory and on disk.

    Args:
        dataset: the training ``SequentialDataset`` (``train_data.dataset``), as RecBole passes it to a model.
        window: ``graph_window``; min_count: ``graph_min_count``.
        cache_dir: folder for ``<key>.npz`` files; ``None`` keeps the cache in memory only.

    Returns:
        ``[n_items, n_items]`` float32 CSR matrix ``A_hat``.

    With the dataset config's ``show_progress`` a line says when a build (or a read from the disk cache) starts
    and one when it ends, with its time (``progress_display.phase``); the memory cache answers silently.
    """
    cfg = dataset.config
    iid = cfg["ITEM_ID_FIELD"]
    item_seq = dataset.inter_feat[iid + cfg["LIST_SUFFIX"]].numpy()
    item_seq_len = dataset.inter_feat[cfg["ITEM_LIST_LENGTH_FIELD"]].numpy()
    target = dataset.inter_feat[iid].numpy()
    n_items = dataset.num(iid)
    key = _cache_key(item_seq, item_seq_len, target, n_items, window, min_count, dataset.dataset_name)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    path = Path(cache_dir) / f"{key}.npz" if cache_dir else None
    with phase(progress_enabled(cfg), "graph", f"item co-occurrence graph of {dataset.dataset_name} (window "
               f"{window}, min_count {min_count}) from {len(target)} training rows") as end:
        if path is not None and path.exists():
            adj = sp.load_npz(path).tocsr()
            end.how, end.detail = "from cache", f" ({path})"
        else:
            adj = normalized_adjacency(cooccurrence_counts(item_seq, item_seq_len, target, n_items, window),
                                       min_count)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
                sp.save_npz(tmp, adj)
                os.replace(tmp, path)  # atomic: concurrent runs never read a half-written file
            end.how, end.detail = "built", f" (cached in {path})" if path is not None else " (kept in memory)"
        end.detail = f", {n_items - 1} items, {(adj.nnz - adj.shape[0]) // 2} edges" + end.detail
    _MEMORY_CACHE[key] = adj
    return adj


def item_degrees(adj: sp.csr_matrix) -> np.ndarray:
    """``[n_items]`` how many other items each item has an edge to in ``adj`` (``A_hat``; its self-loop not counted).
    0 means ``G``'s row of the item is its own row of the graph embedding only: a second ID table."""
    off = sp.csr_matrix(adj - sp.diags(adj.diagonal()))
    off.eliminate_zeros()
    return np.diff(off.indptr).astype(np.int64)


def default_item_degrees(dataset, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """``[n_items]`` ``item_degrees`` of the graph a hybrid builds by default from the training split ``dataset``.

    One graph for every model, SASRec included: the analysis groups test users by whether their target has an edge
    in it (``analysis.graph_groups``), and those groups must be the same for every run they compare.
    """
    window, min_count = default_graph_settings()
    return item_degrees(build_item_graph(dataset, window, min_count, cache_dir or None))


def to_torch_sparse(adj: sp.csr_matrix) -> torch.Tensor:
    """SciPy CSR to a coalesced torch sparse COO tensor (one ``torch.sparse.mm`` per LightGCN layer)."""
    coo = adj.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(indices, values, adj.shape, check_invariants=False).coalesce()
