"""Every numeric setting is checked before any data is loaded, with an error naming the key; so are the folders."""

from __future__ import annotations

import pytest

from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.quick_start.runner import ensure_writable, run_experiment

BAD = [
    ("learning_rate", 0), ("learning_rate", -0.1), ("learning_rate", float("nan")), ("learning_rate", float("inf")),
    ("learning_rate", "fast"), ("weight_decay", -1e-4), ("train_batch_size", 0), ("train_batch_size", 2.5),
    ("eval_batch_size", 0), ("epochs", 0), ("epochs", True), ("stopping_step", -1), ("eval_step", 0),
    ("hidden_dropout_prob", 1.0), ("hidden_dropout_prob", -0.1), ("attn_dropout_prob", 1.5),
    ("MAX_ITEM_LIST_LENGTH", 0), ("hidden_size", 0), ("inner_size", 0), ("n_layers", 0), ("n_heads", 0),
    ("layer_norm_eps", 0), ("initializer_range", -0.02), ("graph_window", 0), ("graph_min_count", 0),
    ("gnn_layers", -1), ("seed", -1), ("seed", 1.5), ("topk", []), ("topk", [5, 0]), ("topk", -10), ("topk", [5, 20]),
    ("clip_grad_norm", {"max_norm": 0}), ("clip_grad_norm", {"max_nrm": 5.0}), ("clip_grad_norm", 5.0),
    ("alpha_short", 1.5), ("alpha_long", -0.2), ("L_short", 0), ("L_long", 99),
]


@pytest.mark.parametrize("key, value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_bad_setting_is_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"\b{key}\b"):
        build_config("HybridDiscrete", "ml-100k", [], {key: value})


@pytest.mark.parametrize("model, key, value", [("HybridFixed", "fixed_alpha", 1.2),
                                               ("HybridLearnable", "alpha_mid", 1.0),  # open interval there
                                               ("HybridContinuous", "alpha_init", 0.0),
                                               ("HybridContinuous", "alpha_mlp_hidden", 0)])
def test_bad_policy_setting_is_refused_naming_the_key(model, key, value):
    with pytest.raises(ConfigError, match=rf"\b{key}\b"):
        build_config(model, "ml-100k", [], {key: value})


def test_good_edge_values_pass():
    config = build_config("HybridDiscrete", "ml-100k", [], {
        "hidden_dropout_prob": 0.0, "weight_decay": 0.0, "stopping_step": 0, "gnn_layers": 0, "topk": 10,
        "clip_grad_norm": {"max_norm": 5.0, "norm_type": 2}, "alpha_short": 0.0, "alpha_long": 1.0})
    assert config["topk"] == [10] or config["topk"] == 10


def test_sasrec_settings_are_checked_too():
    with pytest.raises(ConfigError, match=r"\battn_dropout_prob="):
        build_config("SASRec", "ml-100k", [], {"attn_dropout_prob": 1.0})


@pytest.mark.parametrize("key", ["results_dir", "checkpoint_dir"])
def test_unwritable_output_folder_is_reported_before_loading_data(tmp_path, tiny, key):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a path under a regular file cannot be created, even by root
    settings = {**tiny, key: str(blocker / "out")}
    with pytest.raises(PermissionError, match=rf"{key} .*{blocker / 'out'}"):
        run_experiment("HybridDiscrete", "ml-100k", [], settings, log=pytest.fail)  # fails if it gets to data


def test_write_probe_refuses_an_existing_folder_that_takes_no_files(tmp_path):
    ensure_writable("results_dir", tmp_path)  # a normal folder passes and keeps no probe file
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PermissionError, match=r"results_dir /proc/self: cannot write"):
        ensure_writable("results_dir", "/proc/self")  # exists, but no file can be created there (root included)
