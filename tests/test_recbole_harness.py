"""RecBole's own model harness on every plugin model: its SASRec cases through ``objective_function`` and
``run_recbole``, and the one uniform negative that ``loss_type: BPR`` needs on RecBole's path.

RecBole's ``tests/model/test_model_auto.py`` runs ``objective_function(config_dict=case,
config_file_list=["test_model.yaml"], saved=False)``; its SASRec cases are ``CASES`` below, verbatim. Its
``test_model.yaml`` (``dataset``, ``epochs: 1``, ``state: ERROR`` and its test data) is not installed with RecBole,
so ``HARNESS`` stands for it on the ml-100k copy inside RecBole's package, with tiny sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from recbole_hybrid.plugin import HYBRID_MODEL_NAMES
from recbole_hybrid.utils.compat import bare_argv
from tests.conftest import PROJECT_ROOT

#: RecBole's SASRec cases of test_model_auto.py (test_sasrec, ..._with_BPR_loss_and_relu, ..._and_sigmoid).
CASES = ({"train_neg_sample_args": None},
         {"loss_type": "BPR", "hidden_act": "relu"},
         {"loss_type": "BPR", "hidden_act": "sigmoid"})

#: The harness's test_model.yaml, on ml-100k: tiny sizes, about 30 users with at most 20 ratings >= 4 each.
HARNESS = {
    "dataset": "ml-100k",
    "epochs": 1,
    "state": "ERROR",
    "MAX_ITEM_LIST_LENGTH": 20,
    "hidden_size": 16,
    "inner_size": 32,
    "n_layers": 1,
    "n_heads": 2,
    "L_short": 5,
    "L_long": 15,
    "user_inter_num_interval": "[5,20]",
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "use_gpu": False,
    "show_progress": False,
}

ONE_NEGATIVE = {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0}

#: One process per model: RecBole's cases through objective_function, the BPR one through run_recbole too. Every
#: Config that RecBole's quick start builds is recorded (train_neg_sample_args, input type) beside its metrics.
SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import recbole_hybrid
import recbole.quick_start.quick_start as quick_start
from recbole.quick_start import objective_function, run_recbole

model, config_file, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.argv = sys.argv[:1]  # RecBole parses every --key=value of sys.argv itself
configs = []

class RecordedConfig(quick_start.Config):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        configs.append({"train_neg_sample_args": dict(self["train_neg_sample_args"]),
                        "input_type": self["MODEL_INPUT_TYPE"].name, "model": self["model"]})

quick_start.Config = RecordedConfig

def metrics(result):
    return {"test": {k: float(v) for k, v in result["test_result"].items()},
            "valid": {k: float(v) for k, v in result["best_valid_result"].items()}}

runs = []
for case in cases:
    result = objective_function(config_dict={"model": model, **case}, config_file_list=[config_file], saved=False)
    runs.append({"entry": "objective_function", "case": case, **metrics(result), "config": configs[-1]})
bpr = {"loss_type": "BPR", "hidden_act": "relu"}
result = run_recbole(model=model, dataset="ml-100k", config_file_list=[config_file], config_dict=bpr, saved=False)
runs.append({"entry": "run_recbole", "case": bpr, **metrics(result), "config": configs[-1]})
print(json.dumps(runs))
"""


@pytest.mark.parametrize("model", ["SASRec", *HYBRID_MODEL_NAMES])
def test_recbole_harness_sasrec_cases(model, tmp_path):
    """RecBole's three SASRec cases pass for SASRec and every hybrid, through RecBole's own quick start.

    Before the plugin gave BPR its negative, every hybrid failed both BPR cases with KeyError: 'neg_item_id'.
    """
    pytest.importorskip("ray")  # recbole.quick_start imports Ray at import time
    config_file = tmp_path / "test_model.yaml"
    config_file.write_text(json.dumps({**HARNESS, "graph_cache_dir": str(tmp_path / "graph")}))  # JSON is YAML
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SCRIPT, model, str(config_file), json.dumps(CASES)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)  # RecBole writes ./log
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{model}: {len(runs)} runs in {time.perf_counter() - start:.1f} s")
    assert [(run["entry"], run["case"]) for run in runs] == [
        *[("objective_function", case) for case in CASES], ("run_recbole", {"loss_type": "BPR", "hidden_act": "relu"})]
    for run in runs:
        assert run["config"]["model"] == model
        assert 0 <= run["test"]["ndcg@10"] <= 1 and 0 <= run["valid"]["ndcg@10"] <= 1, run
        assert 0 <= run["test"]["hit@10"] <= 1, run
        if run["case"].get("loss_type") == "BPR":  # one uniform negative per positive, pairwise rows
            assert (run["config"]["train_neg_sample_args"], run["config"]["input_type"]) == (ONE_NEGATIVE, "PAIRWISE")
        else:  # CE over all items: no negatives
            assert run["config"]["train_neg_sample_args"]["distribution"] == "none"
            assert run["config"]["input_type"] == "POINTWISE"


@pytest.fixture
def recbole_config(monkeypatch):
    """RecBole's ``Config`` (it sets CUDA_VISIBLE_DEVICES; restored after the test)."""
    from recbole.config import Config

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    return Config


def _negatives(Config, model, config_dict=None, config_file_list=None):
    with bare_argv():
        config = Config(model=model, dataset="ml-100k", config_dict=config_dict, config_file_list=config_file_list)
    return config["train_neg_sample_args"]


@pytest.mark.parametrize("model", HYBRID_MODEL_NAMES)
def test_bpr_gives_a_plugin_model_one_uniform_negative(model, recbole_config):
    assert _negatives(recbole_config, model, {"loss_type": "BPR"}) == ONE_NEGATIVE
    assert _negatives(recbole_config, model)["distribution"] == "none"  # CE, the plugin's default: none


def test_bpr_from_a_config_file_or_the_command_line(recbole_config, tmp_path, monkeypatch):
    config_file = tmp_path / "bpr.yaml"
    config_file.write_text("loss_type: BPR\n")
    assert _negatives(recbole_config, "HybridDiscrete", config_file_list=[str(config_file)]) == ONE_NEGATIVE
    monkeypatch.setattr(sys, "argv", ["run", "--loss_type=BPR"])  # RecBole parses sys.argv itself
    assert recbole_config(model="HybridFixed", dataset="ml-100k")["train_neg_sample_args"] == ONE_NEGATIVE


def test_a_user_given_train_neg_sample_args_is_kept(recbole_config, tmp_path):
    popular = {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "popularity", "sample_num": 3}}
    assert _negatives(recbole_config, "HybridLearnable", popular) == {**ONE_NEGATIVE, "distribution": "popularity",
                                                                     "sample_num": 3}
    given_none = _negatives(recbole_config, "HybridLearnable", {"loss_type": "BPR", "train_neg_sample_args": None})
    assert given_none["distribution"] == "none"  # the user's, as RecBole keeps it for SASRec
    config_file = tmp_path / "uniform2.yaml"
    config_file.write_text("train_neg_sample_args: {distribution: uniform, sample_num: 2}\n")
    assert _negatives(recbole_config, "HybridResidual", {"loss_type": "BPR"},
                      [str(config_file)]) == {**ONE_NEGATIVE, "sample_num": 2}


def test_recbole_own_models_are_unchanged(recbole_config):
    assert _negatives(recbole_config, "SASRec", {"loss_type": "BPR"}) == ONE_NEGATIVE  # RecBole's own default
    none = _negatives(recbole_config, "SASRec", {"loss_type": "BPR", "train_neg_sample_args": None})
    assert none["distribution"] == "none"  # RecBole never overrides the user for its models
    assert _negatives(recbole_config, "GRU4Rec", {"loss_type": "CE", "train_neg_sample_args": None})[
        "distribution"] == "none"


def test_recbole_path_and_build_config_agree_on_bpr(recbole_config):
    from recbole_hybrid.config import build_config

    ours = build_config("HybridContinuous", "ml-100k", [], {"loss_type": "BPR"})
    assert ours["train_neg_sample_args"] == _negatives(recbole_config, "HybridContinuous", {"loss_type": "BPR"})


def test_wrap_config_is_idempotent(recbole_config):
    from recbole_hybrid.plugin import wrap_config

    wrapped = recbole_config._get_final_config_dict, recbole_config._load_internal_config_dict
    wrap_config(recbole_config)
    wrap_config(recbole_config)
    assert (recbole_config._get_final_config_dict, recbole_config._load_internal_config_dict) == wrapped
    for method in wrapped:
        assert method.recbole_hybrid and not getattr(method.__wrapped__, "recbole_hybrid", False)
