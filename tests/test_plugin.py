"""Registration with RecBole: after ``import recbole_hybrid`` RecBole's own entry points run the plugin's models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import recbole_hybrid
from recbole_hybrid.utils.compat import bare_argv
from tests.conftest import PROJECT_ROOT
from tests.conftest import TINY


@pytest.mark.parametrize("name", sorted(recbole_hybrid.HYBRID_MODELS))
def test_recbole_get_model_finds_the_hybrids(name):
    from recbole.utils import get_model

    assert get_model(name) is recbole_hybrid.HYBRID_MODELS[name]


def test_hybrid_residual_is_registered_with_its_property_file(monkeypatch):
    from recbole.config import Config
    from recbole.utils import get_model

    assert get_model("HybridResidual") is recbole_hybrid.HybridResidual
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))  # Config sets it
    with bare_argv():
        config = Config(model="HybridResidual", dataset="ml-100k")
        mix = Config(model="HybridLearnable", dataset="ml-100k")
    assert config["fusion_form"] == "residual" and mix["fusion_form"] == "mix"  # model file over HybridSASRec.yaml
    assert (config["alpha_short"], config["alpha_mid"], config["alpha_long"]) == (0.5, 0.5, 0.5)
    assert (config["graph_window"], config["score_table"]) == (3, "id")  # HybridSASRec.yaml, its base class's


def test_recbole_still_finds_its_own_models():
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.utils import get_model

    assert get_model("SASRec") is SASRec and get_model("GRU4Rec").__module__.startswith("recbole.")


def test_recbole_config_by_name_reads_the_plugin_defaults(monkeypatch):
    from recbole.config import Config

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))  # Config sets it
    with bare_argv():
        config = Config(model="HybridLearnable", dataset="ml-100k", config_dict={"alpha_mid": 0.6})
    assert (config["alpha_short"], config["alpha_mid"], config["alpha_long"]) == (0.3, 0.6, 0.7)  # model file
    assert (config["graph_window"], config["hidden_size"]) == (3, 64)  # HybridSASRec.yaml, its base class's
    assert (config["L_short"], config["L_long"], config["train_neg_sample_args"]["distribution"]) == (10, 30, "none")
    assert config["val_interval"] == {"rating": "[4,inf)"}  # the plugin's dataset file for ml-100k
    assert (config["train_mode"], config["train_batch_size"]) == ("prefix", 2048)  # RecBole's trainer: prefix rows
    with bare_argv():
        stock = Config(model="GRU4Rec", dataset="ml-100k", config_dict={"train_neg_sample_args": None})
    assert not {"L_short", "graph_window", "filter_seen"} & set(stock.final_config_dict)  # RecBole's own: as before


def test_recbole_run_recbole_trains_a_hybrid(tmp_path):
    """RecBole's quick start, unchanged, in its own process (it logs to ./log and sets CUDA_VISIBLE_DEVICES)."""
    pytest.importorskip("ray")  # recbole.quick_start imports Ray at import time
    config = {**TINY, "user_inter_num_interval": "[5,20]", "graph_cache_dir": str(tmp_path / "graph")}
    code = ("import json, recbole_hybrid\n"
            "from recbole.quick_start import run_recbole\n"
            f"result = run_recbole(model='HybridDiscrete', dataset='ml-100k', config_dict={config!r}, saved=False)\n"
            "print(json.dumps({'test': dict(result['test_result']), 'valid': dict(result['best_valid_result'])}))\n")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}  # this checkout's package, from another folder
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["test"]) >= {"ndcg@10", "hit@10", "mrr@10"}
    assert 0 < result["test"]["hit@20"] <= 1 and 0 <= result["valid"]["ndcg@10"] <= 1
    assert list((tmp_path / "graph").glob("ml-100k-*.npz"))  # the plugin's graph, built under RecBole's loop
