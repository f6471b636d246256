"""``properties/tuned/<Model>-<dataset>.yaml``: the plain command trains the tuned recipe; config files and
``--tuned_defaults=False`` do not read it."""

from __future__ import annotations

import shutil

import pytest

from recbole_hybrid import config as config_module
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.utils import resources
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.utils.fingerprint import run_settings


@pytest.fixture
def tuned_properties(tmp_path, monkeypatch):
    """A copy of the shipped property files with a tuned SASRec and HybridDiscrete for ml-100k."""
    folder = tmp_path / "properties"
    shutil.copytree(resources.properties_dir(), folder)
    (folder / "tuned").mkdir(exist_ok=True)
    (folder / "tuned" / "SASRec-ml-100k.yaml").write_text("learning_rate: 0.0042\nn_layers: 3\n")
    (folder / "tuned" / "HybridDiscrete-ml-100k.yaml").write_text("L_short: 7\nhidden_dropout_prob: 0.3\n")
    monkeypatch.setattr(resources, "properties_dir", lambda: folder)
    return folder


def test_the_plain_command_trains_the_tuned_recipe(tuned_properties, tmp_path):
    with bare_argv():
        sasrec = build_config("SASRec", "ml-100k")
        hybrid = build_config("HybridDiscrete", "ml-100k", overrides={"hidden_dropout_prob": 0.1})
        plain = build_config("SASRec", "ml-100k", overrides={"tuned_defaults": False})
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text("epochs: 3\n")
        with_file = build_config("SASRec", "ml-100k", [str(recipe)])
        other = build_config("SASRec", "ml-1m-sasrec", overrides={"data_path": str(tmp_path)})
    assert (sasrec["learning_rate"], sasrec["n_layers"]) == (0.0042, 3)
    assert (hybrid["L_short"], hybrid["hidden_dropout_prob"]) == (7, 0.1)  # the command line still wins
    for config in (plain, with_file, other):
        assert (config["learning_rate"], config["n_layers"]) == (0.001, 2)
    # the flag is not part of a run's identity: what it brought is
    assert "tuned_defaults" not in run_settings(sasrec) and run_settings(sasrec)["learning_rate"] == 0.0042


def test_a_bad_tuned_defaults_value_is_refused(tuned_properties):
    with bare_argv(), pytest.raises(ConfigError, match=r"tuned_defaults='no' must be True or False"):
        build_config("SASRec", "ml-100k", overrides={"tuned_defaults": "no"})


def test_no_tuned_file_no_change():
    assert config_module.tuned_property_file(config_module.resolve_model("HybridFixed"), "ml-100k") is None


def test_a_saved_run_is_rebuilt_without_the_tuned_file(tuned_properties):
    """Resume, caps and recommend rebuild a run from its saved config: a tuned file written after the run, with
    a key the record lacks, must not reach it."""
    from recbole_hybrid.config import config_from_saved
    from recbole_hybrid.utils.records import plain_config

    (tuned_properties / "tuned" / "SASRec-ml-100k.yaml").write_text("learning_rate: 0.0042\nce_bf16: True\n")
    with bare_argv():
        saved = plain_config(build_config("SASRec", "ml-100k", overrides={"tuned_defaults": False}))
    del saved["ce_bf16"]  # a record older than the key
    with bare_argv():
        again = config_from_saved(saved)
    assert again["learning_rate"] == 0.001 and again["ce_bf16"] is False
