"""Shared test settings: ml-100k (shipped inside RecBole) with tiny models, outputs in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray's tests stay on loopback: on Linux Ray takes this host's network address as its node address unless this
# is off (read when Ray is imported, so set here, before any test imports it; subprocesses inherit it).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import recbole_hybrid  # noqa: F401  (numpy 2 aliases before any RecBole Config)
from recbole_hybrid.utils.compat import bare_argv

#: The checkout: the tests read its configs/ and results/ (the package itself never defaults a path into it).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: About 10-20 s per epoch on 2 CPU cores.
TINY = {
    "MAX_ITEM_LIST_LENGTH": 20,
    "hidden_size": 32,
    "inner_size": 64,
    "n_layers": 1,
    "n_heads": 2,
    "L_short": 5,
    "L_long": 15,
    "epochs": 1,
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "use_gpu": False,
    "show_progress": False,
}


@pytest.fixture
def tiny(tmp_path) -> dict:
    """Tiny settings whose run records, checkpoints and graph cache go under ``tmp_path``."""
    return {**TINY, "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
            "graph_cache_dir": str(tmp_path / "graph_cache")}


@pytest.fixture(scope="session")
def ml100k_data(tmp_path_factory):
    """RecBole's ml-100k split once per session: ``(config, dataset, train, valid, test)`` for HybridDiscrete.

    Its config trains RecBole's prefix rows (``train_mode: prefix``, 2048 rows per step), the rows its loaders hold.
    """
    from recbole_hybrid.config import build_config
    from recbole_hybrid.quick_start.runner import load_data

    out = tmp_path_factory.mktemp("shared")
    with bare_argv():
        config = build_config("HybridDiscrete", "ml-100k", [], {**TINY, "train_mode": "prefix",
                                                                "graph_cache_dir": str(out / "graph")})
    dataset, train, valid, test = load_data(config)
    return config, dataset, train, valid, test
