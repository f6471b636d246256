"""The seed protocol on the real ML-1M copy (../shared/data on this project's machines) and the graph's build time.

Skipped where that copy is absent: ML-1M may not be redistributed, so it is not in the repository.
"""

from __future__ import annotations

import time

import pytest

from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.model.graph import build_item_graph
from recbole_hybrid.quick_start.runner import load_data

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "ml-1m" / "ml-1m.inter").is_file(),
                                reason="ML-1M copy not present (not redistributable)")


def test_seed_protocol_and_graph_build_time():
    with bare_argv():
        config = build_config("HybridDiscrete", "ml-1m", [], {"data_path": str(SHARED_DATA), "use_gpu": False})
    dataset, train, _, _ = load_data(config)
    assert dataset.user_num - 1 == 6034
    start = time.perf_counter()
    adj = build_item_graph(train.dataset, window=3, min_count=5, cache_dir=None)
    assert time.perf_counter() - start < 10  # seconds, not minutes (about 1 s on 2 busy CPU cores)
    assert adj.shape == (dataset.item_num, dataset.item_num) and adj.nnz > dataset.item_num
