"""The co-occurrence graph: counts, normalisation, cache, and never an edge from validation or test items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config
from recbole_hybrid.model import graph
from recbole_hybrid.model.graph import _MEMORY_CACHE, _cache_key, build_item_graph, cooccurrence_counts, normalized_adjacency
from recbole_hybrid.quick_start.runner import load_data


def test_counts_within_window_symmetric():
    # one sequence 1 2 3 4 5 as RecBole's training rows: prefixes and their targets
    seq = np.array([[1, 0, 0, 0], [1, 2, 0, 0], [1, 2, 3, 0], [1, 2, 3, 4]])
    counts = cooccurrence_counts(seq, np.array([1, 2, 3, 4]), np.array([2, 3, 4, 5]), n_items=6, window=2)
    dense = counts.toarray()
    expected = np.zeros((6, 6))
    for a, b in [(1, 2), (2, 3), (3, 4), (4, 5), (1, 3), (2, 4), (3, 5)]:
        expected[a, b] = expected[b, a] = 1
    assert np.array_equal(dense, expected)


def test_normalisation_drops_rare_edges_and_uses_weighted_degree():
    w = sp.csr_matrix(np.array([[0, 6, 2], [6, 0, 0], [2, 0, 0]], dtype=np.float32))
    adj = normalized_adjacency(w, min_count=5).toarray()
    kept = np.array([[1, 6, 0], [6, 1, 0], [0, 0, 1]], dtype=np.float64)  # W + I after the drop
    d = kept.sum(1)
    assert np.allclose(adj, kept / np.sqrt(np.outer(d, d)))
    assert adj[0, 2] == 0 and adj[2, 2] == 1.0


def test_item_degrees_count_the_other_items_an_item_has_an_edge_to():
    w = sp.csr_matrix(np.array([[0, 6, 2, 0], [6, 0, 0, 9], [2, 0, 0, 0], [0, 9, 0, 0]], dtype=np.float32))
    adj = normalized_adjacency(w, min_count=5)  # keeps 0-1 and 1-3; item 2 keeps only its self-loop
    np.testing.assert_array_equal(graph.item_degrees(adj), [1, 2, 0, 1])


def write_planted_dataset(folder: Path, n_users: int = 8) -> None:
    """Users whose training parts all contain the adjacent pair 21 22, and whose validation and test items are 31
    then 32. Leaking the held-out items would create edges 31-32 (and to 31, 32) with count ``n_users``."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u in range(1, n_users + 1):
        items = list(rng.choice(np.arange(1, 21), size=4, replace=False)) + [21, 22, 31, 32]
        lines += [f"{u}\t{i}\t{t}" for t, i in enumerate(items, start=1)]
    (folder / "planted").mkdir(parents=True)
    (folder / "planted" / "planted.inter").write_text("\n".join(lines) + "\n")


def test_graph_has_no_edge_from_validation_or_test_items(tmp_path, tiny):
    write_planted_dataset(tmp_path / "data")
    with bare_argv():
        config = build_config("HybridDiscrete", "planted", [], {
            **tiny, "data_path": str(tmp_path / "data"), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "val_interval": None, "user_inter_num_interval": None, "graph_cache_dir": ""})
    dataset, train, _, _ = load_data(config)
    adj = build_item_graph(train.dataset, window=3, min_count=5)
    idx = {tok: int(dataset.token2id("item_id", tok)) for tok in ("21", "22", "31", "32")}
    assert adj[idx["21"], idx["22"]] > 0  # the planted training pair is an edge (count 8 >= 5)
    for held_out in ("31", "32"):
        row = adj[idx[held_out]].toarray().ravel()
        assert np.count_nonzero(row) == 1 and row[idx[held_out]] == 1.0  # only its self-loop


def test_graph_is_cached_in_memory_and_on_disk(ml100k_data, tmp_path):
    train = ml100k_data[2].dataset
    _MEMORY_CACHE.clear()
    first = build_item_graph(train, window=3, min_count=5, cache_dir=tmp_path)
    files = list(tmp_path.glob("ml-100k-w3-m5-*.npz"))
    assert len(files) == 1
    assert build_item_graph(train, window=3, min_count=5, cache_dir=tmp_path) is first
    _MEMORY_CACHE.clear()
    from_disk = build_item_graph(train, window=3, min_count=5, cache_dir=tmp_path)
    assert (from_disk != first).nnz == 0
    other = build_item_graph(train, window=2, min_count=5, cache_dir=tmp_path)  # other parameters, other key
    assert len(list(tmp_path.glob("*.npz"))) == 2 and (other != first).nnz > 0


def test_cache_key_covers_every_training_interaction_and_the_graph_code(monkeypatch):
    rng = np.random.default_rng(0)
    seq = rng.integers(1, 50, size=(40, 8))
    lengths, targets = rng.integers(1, 9, size=40), rng.integers(1, 50, size=40)
    key = _cache_key(seq, lengths, targets, 50, 3, 5, "toy")
    assert _cache_key(seq.copy(), lengths.copy(), targets.copy(), 50, 3, 5, "toy") == key
    for changed in range(3):  # one item deep inside one prefix, one length, one target
        arrays = [seq.copy(), lengths.copy(), targets.copy()]
        if changed == 0:
            arrays[0][17, 5] = arrays[0][17, 5] % 49 + 1
        else:
            arrays[changed][17] = arrays[changed][17] % 8 + 1
        assert _cache_key(*arrays, 50, 3, 5, "toy") != key, f"array {changed}"
    monkeypatch.setattr(graph, "GRAPH_VERSION", graph.GRAPH_VERSION + 1)
    assert _cache_key(seq, lengths, targets, 50, 3, 5, "toy") != key


def test_default_item_degrees_are_those_of_the_graph_a_hybrid_builds_by_default(tmp_path, tiny):
    write_planted_dataset(tmp_path / "data")
    with bare_argv():
        config = build_config("HybridDiscrete", "planted", [], {
            **tiny, "data_path": str(tmp_path / "data"), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "val_interval": None, "user_inter_num_interval": None, "graph_cache_dir": ""})
    assert graph.default_graph_settings() == (config["graph_window"], config["graph_min_count"]) == (3, 5)
    dataset, train, _, _ = load_data(config)
    degrees = graph.default_item_degrees(train.dataset)
    np.testing.assert_array_equal(degrees, graph.item_degrees(build_item_graph(train.dataset, 3, 5)))
    idx = {tok: int(dataset.token2id("item_id", tok)) for tok in ("21", "22", "31", "32")}
    assert degrees[idx["21"]] >= 1 and degrees[idx["22"]] >= 1  # the planted pair, 8 times
    assert degrees[idx["31"]] == degrees[idx["32"]] == 0  # held-out items never get an edge
    assert degrees[0] == 0  # padding
