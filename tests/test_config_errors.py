"""Impossible settings are refused before any data is loaded, with a message naming the problem."""

from __future__ import annotations

import pytest

from recbole_hybrid.config import SHORT_FLAGS, ConfigError, build_config, parse_cli
from recbole_hybrid.utils.errors import UsageError
from tests.conftest import TINY


def build(model="HybridDiscrete", **overrides):
    return build_config(model, "ml-100k", [], {**TINY, **overrides})


def test_short_flags_map_to_recbole_keys():
    model, dataset, files, overrides = parse_cli(
        ["--model=SASRec", "--dataset=ml-1m", "--epochs=3", "--patience=7", "--batch_size=256", "--lr=1e-3",
         "--d_model=128", "--n_heads=4", "--n_blocks=3", "--L_short=5", "--L_long=30", "--seed=7",
         "--config_files=a.yaml,b.yaml", "--hidden_dropout_prob=0.2", "--score_table=fused"])
    assert (model, dataset, files) == ("SASRec", "ml-1m", ["a.yaml", "b.yaml"])
    assert overrides == {"epochs": 3, "stopping_step": 7, "train_batch_size": 256, "learning_rate": 1e-3,
                         "hidden_size": 128, "n_heads": 4, "n_layers": 3, "L_short": 5, "L_long": 30, "seed": 7,
                         "hidden_dropout_prob": 0.2, "score_table": "fused"}
    assert set(SHORT_FLAGS) >= {"epochs", "patience", "batch_size", "lr", "d_model", "n_blocks"}


def test_short_flags_reach_the_config():
    config = build_config("HybridDiscrete", "ml-100k", [], parse_cli(["--lr=0.005", "--d_model=64", "--n_blocks=2",
                                                                      "--MAX_ITEM_LIST_LENGTH=50"])[3])
    assert (config["learning_rate"], config["hidden_size"], config["n_layers"]) == (0.005, 64, 2)


def test_model_defaults_come_from_the_yaml_files():
    config = build_config("HybridDiscrete", "ml-100k", [], {})
    assert (config["alpha_short"], config["alpha_mid"], config["alpha_long"]) == (0.3, 0.5, 0.7)
    assert (config["graph_window"], config["graph_min_count"], config["gnn_layers"]) == (3, 5, 2)
    assert config["valid_metric"] == "NDCG@10" and config["topk"] == [5, 10, 20]


@pytest.mark.parametrize("argv, message", [
    (["--oops"], "--key=value"),
    (["model=SASRec"], "--key=value"),
])
def test_unreadable_arguments(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_cli(argv)


@pytest.mark.parametrize("model, overrides, message", [
    ("NoSuchModel", {}, r"unknown model 'NoSuchModel'"),
    ("HybridDiscrete", {"L_short": 15, "L_long": 15}, r"L_short=15 must be smaller than L_long=15"),
    ("HybridLearnable", {"L_short": 12, "L_long": 8}, r"L_short=12 must be smaller than L_long=8"),
    ("HybridDiscrete", {"alpha_short": 1.5}, r"alpha_short=1.5 is outside \[0, 1\]"),
    ("HybridDiscrete", {"alpha_long": -0.1}, r"alpha_long=-0.1 is outside \[0, 1\]"),
    ("HybridFixed", {"fixed_alpha": 2}, r"fixed_alpha=2.0 is outside \[0, 1\]"),
    ("HybridLearnable", {"alpha_mid": 0.0}, r"alpha_mid=0.0 is outside \(0, 1\)"),
    ("HybridContinuous", {"alpha_init": 1.0}, r"alpha_init=1.0 is outside \(0, 1\)"),
    ("HybridResidual", {"alpha_long": 1.0}, r"alpha_long=1.0 is outside \(0, 1\)"),
    ("HybridResidual", {"fusion_form": "bogus"}, r"fusion_form='bogus' must be one of mix, residual"),
    ("HybridFixed", {"fusion_form": None}, r"fusion_form=None must be one of mix, residual"),
    ("HybridResidual", {"item_gate": "degree"}, r"item_gate='degree' must be one of none, learned"),
    ("HybridDiscrete", {"hidden_size": 30, "n_heads": 4}, r"hidden_size=30 is not divisible by n_heads=4"),
    ("SASRec", {"hidden_size": 30, "n_heads": 4}, r"hidden_size=30 is not divisible by n_heads=4"),
    ("HybridDiscrete", {"MAX_ITEM_LIST_LENGTH": 15}, r"MAX_ITEM_LIST_LENGTH=15 <= L_long=15"),
    ("HybridLearnable", {"MAX_ITEM_LIST_LENGTH": 10}, r"MAX_ITEM_LIST_LENGTH=10 <= L_long=15"),
    ("HybridDiscrete", {"L_short": 0}, r"L_short=0 must be >= 1"),
    ("HybridDiscrete", {"learning_rate": 0}, r"learning_rate=0 must be a number > 0"),
    ("HybridDiscrete", {"train_batch_size": 0}, r"train_batch_size=0 must be an integer >= 1"),
    ("HybridDiscrete", {"hidden_dropout_prob": 1.0}, r"hidden_dropout_prob=1.0 must be in \[0, 1\)"),
    ("HybridDiscrete", {"valid_metric": "MRR@10"}, r"valid_metric='MRR@10'"),
])
def test_impossible_settings_are_refused(model, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(model, **overrides)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        build_config("SASRec", "ml-100k", [str(tmp_path / "nope.yaml")], {})


def test_unknown_experiment_preset_is_named():
    from recbole_hybrid.quick_start.experiments import run_comparison

    with pytest.raises(ConfigError, match=r"unknown preset 'fast': choose one of pipeline, quick, paper, tuned"):
        run_comparison("fast", "ml-100k")


@pytest.mark.parametrize("text, where", [("epochs: 3\nlr: [0.1\n", "line 3"), ("a: b: c\n", "line 1, column 5"),
                                         ("\tepochs: 2\n", "line 1")])
def test_a_config_file_with_a_yaml_error_is_one_line_naming_the_file(tmp_path, capsys, text, where):
    from recbole_hybrid.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["run", "--model=SASRec", "--dataset=ml-100k", f"--config_files={bad}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "is not valid YAML" in err[0] and where in err[0], err
