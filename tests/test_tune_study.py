"""The ML-1M study of 2026-12-03 (tune/ml-1m/2026-12-03/): its four spaces (one protocol and backbone, each model's
own keys, each passes the checker), the checker's refusals (prefix mode, a key the model does not have, a value no
trial can take), ASHA's options, the per-trial CSV, the driver script, and a search rebuilt from its trials.csv once
its Ray folder is gone. ``--resume`` of a stopped search is tested in tests/test_tune.py
(test_crashed_trial_restarts_and_interrupted_search_resumes_from_checkpoints); here, what it reloads. The checks run
on ml-100k (shipped inside RecBole) with tiny settings; the one search trains 1 epoch per trial.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("ray.tune", reason="Ray Tune is the optional 'tune' extra: pip install -e '.[tune]'")

# ruff: noqa: E402  (imports after the skip: they import Ray)
from conftest import TINY
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.tuning.cluster import TuneSetupError
from recbole_hybrid.cli.tune import parse_search_cli
from recbole_hybrid.tuning.report import TrialsLog, read_curves_csv, read_trials_csv
from recbole_hybrid.tuning.search import (SPEC_FILE, ReplayedASHA, SearchOptions, experiment_curves, make_scheduler,
                                          make_searcher, prepare, run_search, search_spec)
from recbole_hybrid.tuning.space import SpaceError, load_space
from recbole_hybrid.tuning.trial import BEST_METRIC, METRIC

STUDY = PROJECT_ROOT / "tune" / "ml-1m" / "2026-12-03"
RECIPE = PROJECT_ROOT / "configs" / "ml-1m" / "2026-11-27-literature-target.yaml"
#: space file -> the model it searches
SPACES = {"sasrec": "SASRec", "hybriddiscrete": "HybridDiscrete", "hybridcontinuous": "HybridContinuous",
          "hybridresidual-fused": "HybridResidual"}
#: each hybrid's own searched keys (the issue's list; HybridContinuous has no length bins, its alphas are its MLP's)
OWN = {"HybridDiscrete": {"L_short", "L_long", "alpha_short", "alpha_mid", "alpha_long", "graph_window",
                          "graph_min_count", "gnn_layers", "graph_table"},
       "HybridContinuous": {"alpha_init", "alpha_mlp_hidden", "graph_window", "graph_min_count", "gnn_layers",
                            "graph_table"}}
OWN["HybridResidual"] = OWN["HybridDiscrete"]
BACKBONE = {"learning_rate", "weight_decay", "hidden_size", "n_layers", "n_heads", "hidden_dropout_prob",
            "attn_dropout_prob", "train_batch_size", "MAX_ITEM_LIST_LENGTH"}
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(PROJECT_ROOT)}  # loopback: see conftest
LR = "learning_rate: {loguniform: [1.0e-3, 1.0e-2]}\n"
NO_BINS = {k: v for k, v in TINY.items() if k not in ("L_short", "L_long")}
NO_HEADS = {k: v for k, v in TINY.items() if k not in ("hidden_size", "n_heads")}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def raw(name: str) -> dict:
    return yaml.safe_load((STUDY / f"{name}.yaml").read_text())


def study_options(space: str, **extra) -> SearchOptions:
    """The driver's options for one space (run_study.sh), on ml-100k."""
    return SearchOptions(model=SPACES[space], dataset="ml-100k", space=str(STUDY / f"{space}.yaml"), search="optuna",
                         num_samples=24, search_seed=2020, scheduler="asha", grace_period=8, reduction_factor=3,
                         max_t=200, sequence_only=True, **extra)


# ---- the study's spaces ----

def test_the_four_spaces_share_one_protocol_and_backbone_and_add_their_models_keys():
    """sasrec.yaml is the protocol and the backbone; every hybrid's file holds each of its keys with the same value
    (the same ranges), and adds only its own."""
    base = raw("sasrec")
    assert base.pop("model") == "SASRec"
    assert {k for k, v in base.items() if isinstance(v, dict) and "fixed" not in v} == BACKBONE
    for name, model in SPACES.items():
        space = raw(name)
        assert space.pop("model") == model
        assert {k: space.get(k) for k in base} == base, name
        if model != "SASRec":
            searched = {k for k, v in space.items() if k not in base and isinstance(v, dict)}
            assert searched == OWN[model], name
    assert raw("hybridresidual-fused")["score_table"] == "fused" and raw("hybriddiscrete")["score_table"] == "id"
    # the protocol: sequence mode, CE, selection on validation NDCG@10 without seen items, 200 epochs, patience 20
    assert (base["train_mode"], base["loss_type"], base["filter_seen"], base["valid_metric"]) == \
        ("sequence", "CE", True, "NDCG@10")
    assert (base["epochs"], base["stopping_step"]) == (200, 20)
    # the two protocol changes from the recipe, each adopted after its benchmark (benchmarks/ce_bf16.py)
    assert base["ce_bf16"] is True and base["fast_dropout"] is True
    assert base["learning_rate"] == {"loguniform": [3.0e-4, 3.0e-3]}
    assert base["train_batch_size"] == {"choice": [64, 128, 256]}
    assert base["MAX_ITEM_LIST_LENGTH"] == {"choice": [100, 200]}
    assert raw("hybriddiscrete")["L_long"] == {"lograndint": [5, 199]}  # log scale, up to the length cap


def test_the_protocol_is_the_recipes_key_for_key():
    """Every key of the recipe (configs/ml-1m/2026-11-27-literature-target.yaml) that the study does not search
    comes out of the spaces' fixed part with the recipe's value, eval_args included."""
    fixed, searched = load_space(STUDY / "sasrec.yaml")
    fixed.pop("model")
    recipe = build_config("SASRec", "ml-100k", [str(RECIPE)], {})
    study = build_config("SASRec", "ml-100k", [], fixed)
    keys = [k for k in yaml.safe_load(RECIPE.read_text()) if k not in searched and k not in ("L_short", "L_long")]
    assert "eval_args" in keys and "sequence_loss_weight" in keys
    assert {k: study[k] for k in keys} == {k: recipe[k] for k in keys}


@pytest.mark.parametrize("name", list(SPACES))
def test_each_study_space_passes_the_checker_with_the_drivers_options(name):
    spec = search_spec(study_options(name))
    assert (spec["model"], spec["epochs"], spec["filter_seen"]) == (SPACES[name], 200, True)
    assert spec["fixed"]["train_mode"] == "sequence" and spec["fixed"]["loss_type"] == "CE"
    assert "model" not in spec["fixed"]  # a label of the space, not a RecBole setting
    config = build_config(spec["model"], "ml-100k", [], {**spec["fixed"], "L_short": 10, "L_long": 30})
    if name == "hybridresidual-fused":
        assert (config["score_table"], config["fusion_form"]) == ("fused", "residual")


def test_asha_has_the_studys_rungs_and_refuses_options_that_cannot_hold(tmp_path):
    scheduler = make_scheduler(study_options("sasrec"), {"epochs": 200})
    scheduler.set_search_properties(BEST_METRIC, "max")
    assert [milestone for milestone, _ in scheduler._brackets[0]._rungs] == [72, 24, 8]
    assert (scheduler._max_t, scheduler._reduction_factor) == (200, 3)
    opts = parse_search_cli(["--max_t=200", "--reduction_factor=3", "--grace_period=8", "--sequence_only"])
    assert (opts.max_t, opts.reduction_factor, opts.grace_period, opts.sequence_only) == (200, 3.0, 8, True)
    space = str(write(tmp_path / "s.yaml", LR))
    with pytest.raises(ConfigError, match="--max_t=300 is past epochs=200"):
        search_spec(SearchOptions(space=space, max_t=300, overrides={**TINY, "epochs": 200}))
    with pytest.raises(ConfigError, match="--reduction_factor=1 must be > 1"):
        search_spec(SearchOptions(space=space, reduction_factor=1, overrides=dict(TINY)))
    with pytest.raises(ConfigError, match="--grace_period=8 is past --max_t=5"):
        search_spec(SearchOptions(space=space, grace_period=8, max_t=5, overrides=dict(TINY)))


# ---- the checker's refusals ----

@pytest.mark.parametrize("text, overrides, message", [
    ("train_mode: prefix\n" + LR, {}, r"s.yaml: train_mode='prefix', but --sequence_only trains sequence mode only"),
    ("train_mode: {choice: [prefix, sequence]}\n" + LR, {}, r"train_mode is searched \(\['prefix', 'sequence'\]\)"),
    (LR, {}, r"train_mode=None, but --sequence_only .* \(auto resolves per trial"),
    ("train_mode: auto\n" + LR, {}, r"train_mode='auto', but --sequence_only"),
    ("train_mode: sequence\n" + LR, {"train_mode": "prefix"}, r"the command line: train_mode='prefix'"),
])
def test_sequence_only_refuses_prefix_mode_by_name(tmp_path, text, overrides, message):
    space = str(write(tmp_path / "s.yaml", text))
    with pytest.raises(SpaceError, match=message):
        search_spec(SearchOptions(space=space, sequence_only=True, overrides={**TINY, **overrides}))
    search_spec(SearchOptions(space=str(write(tmp_path / "ok.yaml", "train_mode: sequence\n" + LR)),
                              sequence_only=True, overrides=dict(TINY)))


@pytest.mark.parametrize("model, text, message", [
    ("SASRec", "L_short: {randint: [3, 8]}\n" + LR, "L_short searched, but SASRec has no length bins"),
    ("HybridContinuous", "L_long: {randint: [12, 18]}\n" + LR, "L_long searched, but HybridContinuous has no length"),
    ("SASRec", "score_table: fused\n" + LR, "score_table not a setting of SASRec"),  # a fixed key of the space
    ("SASRec", "graph_window: {choice: [1, 2]}\n" + LR, "graph_window not a setting of SASRec"),
    ("HybridDiscrete", "model: SASRec\n" + LR, "is a space of SASRec: run it with --model=SASRec"),
])
def test_a_key_the_model_does_not_have_is_refused_by_name(tmp_path, model, text, message):
    with pytest.raises(SpaceError, match=message):
        search_spec(SearchOptions(model=model, space=str(write(tmp_path / "s.yaml", text)), overrides=NO_BINS))


@pytest.mark.parametrize("text, overrides, message", [
    # a choice that no trial can take: 3 heads divide neither width
    ("hidden_size: {choice: [32, 64]}\nn_heads: {choice: [1, 2, 3, 4]}\n", NO_HEADS,
     r"no valid trial can take n_heads=3 .*hidden_size=\d+ is not divisible by n_heads=3"),
    # the top of a range past every L_long
    ("L_short: {randint: [2, 16]}\nL_long: {randint: [6, 15]}\n", NO_BINS,
     r"no valid trial can take L_short=16 .*L_short=16 must be smaller than L_long"),
    ("L_short: {lograndint: [2, 12]}\nL_long: {lograndint: [8, 30]}\n", NO_BINS,
     r"no valid trial can take L_long=30 .*MAX_ITEM_LIST_LENGTH=20 <= L_long=30"),
    # no trial at all (both already refused before: tests/test_tune.py has the L_short >= L_long one)
    ("hidden_size: {choice: [32, 64]}\nn_heads: {choice: [3, 5]}\n", NO_HEADS,
     r"no valid configuration in 200 draws .* is not divisible by n_heads=[35]"),
])
def test_a_range_no_trial_can_satisfy_is_refused_naming_the_keys(tmp_path, text, overrides, message):
    with pytest.raises(SpaceError, match=message):
        search_spec(SearchOptions(space=str(write(tmp_path / "s.yaml", text)), overrides=overrides))


@pytest.mark.parametrize("text, message", [
    ("L_long: {lograndint: [0, 30]}", "lograndint is on a log scale: it needs low > 0"),
    ("L_long: {lograndint: [5.5, 30]}", "lograndint needs integers"),
    ("learning_rate: {loguniform: [3e-4, 3.0e-3]}", "loguniform needs numbers"),  # yaml reads 3e-4 as text
])
def test_bad_ranges_are_refused_when_read(tmp_path, text, message):
    with pytest.raises(SpaceError, match=message):
        load_space(write(tmp_path / "s.yaml", text))


def test_lograndint_and_fixed_mappings_read_as_ray_domains_and_values(tmp_path):
    fixed, searched = load_space(write(tmp_path / "s.yaml", "L_long: {lograndint: [5, 199]}\n"
                                                            "eval_args: {fixed: {order: TO, mode: full}}\n"))
    assert fixed == {"eval_args": {"order": "TO", "mode": "full"}}
    assert (searched["L_long"].lower, searched["L_long"].upper) == (5, 200)  # both ends included
    assert type(searched["L_long"].get_sampler()).__name__ == "_LogUniform"


# ---- what a stopped study keeps ----

def test_trials_log_writes_each_ended_trial_and_keeps_its_state(tmp_path):
    log = TrialsLog(tmp_path, kept=[{"trial_id": "old_1", "status": "OK", "learning_rate": "0.001",
                                     METRIC: "0.25", "best_epoch": "3", "history": [(1, 0.2), (3, 0.25)]}])
    trial = SimpleNamespace(trial_id="new_1", config={"learning_rate": 0.002}, last_result={})
    for epoch, value in [(1, 0.1), (2, 0.3), (2, 0.35), (3, 0.2)]:  # epoch 2 reported again after a restart
        log.on_trial_result(0, [], trial, {"epoch": epoch, METRIC: value})
    trial.last_result = {"epoch": 3, "time_total_s": 9.0, "node_id": "n", "gpu_ids": ""}
    log.on_trial_complete(0, [trial], trial)
    rows = read_trials_csv(tmp_path / "trials.csv")
    # sorted by score; 'ended' says the order: old_1, a row from before the column, ended first
    assert [(r["trial_id"], r[METRIC], r["best_epoch"], r["epochs"], r["ended"]) for r in rows] == \
        [("new_1", "0.35", "2", "3", "2"), ("old_1", "0.25", "3", "", "")]
    assert read_curves_csv(tmp_path / "curves.csv") == {"old_1": [(1, 0.2), (3, 0.25)],
                                                         "new_1": [(1, 0.1), (2, 0.35), (3, 0.2)]}
    other = SimpleNamespace(trial_id="new_2", config={"learning_rate": 0.003}, last_result={"epoch": 1})
    log.on_trial_error(0, [other], other)
    log.on_trial_complete(0, [trial], trial)  # new_1 ends again (a restarted trial): it keeps its place
    assert {r["trial_id"]: r["ended"] for r in read_trials_csv(tmp_path / "trials.csv")} == \
        {"new_1": "2", "new_2": "3", "old_1": ""}
    numbered = TrialsLog(tmp_path, kept=[{"trial_id": "a", "status": "OK", "ended": "5"}, {"trial_id": "b",
                                                                                         "status": "OK", "ended": "1"}])
    numbered.on_trial_complete(0, [other], other)  # after the kept rows' highest place, not their count
    assert numbered.rows["new_2"]["ended"] == 6
    restored = TrialsLog(tmp_path)
    restored.set_state(log.get_state())
    assert restored.rows == log.rows and restored.curves == log.curves


def test_resume_reloads_the_studys_options(tmp_path):
    opts = study_options("hybriddiscrete", name="study", storage_path=str(tmp_path), out_dir=str(tmp_path / "out"))
    spec = search_spec(opts)
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / SPEC_FILE).write_text(json.dumps({"options": asdict(opts), "spec": spec}))
    resumed, saved = prepare(SearchOptions(resume=True, name="study", storage_path=str(tmp_path), num_cpus=2))
    assert (resumed.sequence_only, resumed.max_t, resumed.reduction_factor, resumed.grace_period) == \
        (True, 200, 3.0, 8)
    assert (resumed.search, resumed.num_samples, resumed.num_cpus) == ("optuna", 24, 2) and saved == spec
    with pytest.raises(TuneSetupError, match="--resume and --rebuild_from: pick one"):
        prepare(SearchOptions(resume=True, rebuild_from="x.csv", name="study", storage_path=str(tmp_path)))


def rebuild_csv(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "old" / "trials.csv"
    path.parent.mkdir(exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_rebuild_tells_optuna_and_asha_the_finished_trials_and_refuses_a_csv_of_another_space(tmp_path):
    space = str(write(tmp_path / "s.yaml", LR))
    row = {"trial_id": "a_00000", "status": "OK", "learning_rate": "0.002", METRIC: "0.3", "best_epoch": "2",
           "epochs": "3", "time_s": "1.0", "node_id": "n", "gpu_ids": ""}
    rows = [row, {**row, "trial_id": "a_00001", "learning_rate": "0.005", METRIC: "0.1"},
            {**row, "trial_id": "a_00002", "status": "ERROR", METRIC: ""},
            {**row, "trial_id": "a_00003", "status": "UNFINISHED"}]  # an interrupted search's: it runs again
    path = rebuild_csv(tmp_path, rows)
    write(path.with_name("curves.csv"), f"trial_id,epoch,{METRIC}\na_00000,1,0.2\na_00000,2,0.3\na_00000,3,0.25\n"
                                        "a_00001,1,0.1\n")
    opts = SearchOptions(space=space, search="optuna", scheduler="asha", grace_period=1, num_samples=5,
                         rebuild_from=str(path), storage_path=str(tmp_path / "ray"), overrides={**TINY, "epochs": 3})
    _, spec = prepare(opts)
    assert [r["trial_id"] for r in spec["rebuilt"]["rows"]] == ["a_00000", "a_00001", "a_00002"]
    searcher = make_searcher(opts, spec)
    study = searcher.searcher._ot_study
    assert [(t.params["learning_rate"], t.value, t.state.name) for t in study.trials] == \
        [(0.002, 0.3, "COMPLETE"), (0.005, 0.1, "COMPLETE")]
    scheduler = make_scheduler(opts, spec)
    scheduler.set_search_properties(BEST_METRIC, "max")  # as Tune does: then the old curves are replayed
    assert {m: dict(r) for m, r in scheduler._brackets[0]._rungs} == {3: {"a_00000": 0.3},
                                                                       1: {"a_00000": 0.2, "a_00001": 0.1}}
    # a new trial below the rung's cutoff stops there, as it would have among the old ones
    new = SimpleNamespace(trial_id="b_00000")
    scheduler.on_trial_add(None, new)
    assert scheduler.on_trial_result(None, new, {"epoch": 1, BEST_METRIC: 0.05}) == "STOP"

    with pytest.raises(SpaceError, match="learning_rate=0.5 is outside the space's range"):
        prepare(SearchOptions(**{**vars(opts), "rebuild_from": str(rebuild_csv(tmp_path, [
            {**row, "learning_rate": "0.5"}]))}))
    with pytest.raises(SpaceError, match=r"searched other keys than .* \(L_short\)"):
        prepare(SearchOptions(**{**vars(opts), "rebuild_from": str(rebuild_csv(tmp_path, [{**row, "L_short": "5"}]))}))
    with pytest.raises(TuneSetupError, match="1 finished trials, --num_samples=1: nothing left to run"):
        prepare(SearchOptions(**{**vars(opts), "num_samples": 1, "rebuild_from": str(rebuild_csv(tmp_path, [row]))}))
    with pytest.raises(TuneSetupError, match="--rebuild_from with --search=random: only optuna learns"):
        prepare(SearchOptions(**{**vars(opts), "search": "random"}))
    (tmp_path / "ray" / opts.name).mkdir(parents=True)
    with pytest.raises(TuneSetupError, match="exists: pass --resume"):
        prepare(opts)


# ---- the driver ----

def driver(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "data").mkdir(exist_ok=True)
    return subprocess.run([str(STUDY / "run_study.sh")], capture_output=True, text=True, timeout=60,
                          env={**ENV, "DATA_PATH": str(tmp_path / "data"), "STUDY_STATE": str(tmp_path / "state"),
                               "STUDY_TRIALS_DIR": str(tmp_path / "trials"), **env})


def test_a_rebuilt_search_does_not_draw_a_finished_trials_configuration_again(tmp_path):
    """The seeded TPE replays its random start-up draws whatever it is told: on 2026-12-05 the rebuilt HybridContinuous
    search drew its one finished trial again as its second trial. The rebuilt searcher skips it and goes on."""
    space = str(write(tmp_path / "s.yaml", "learning_rate: {loguniform: [1.0e-3, 1.0e-2]}\n"
                                          "hidden_dropout_prob: {uniform: [0.1, 0.5]}\n"))
    opts = SearchOptions(space=space, search="optuna", scheduler="fifo", num_samples=5,
                         storage_path=str(tmp_path / "ray"), overrides=TINY)
    fresh = make_searcher(opts, prepare(opts)[1])
    first, second, third = (fresh.suggest(f"t{n}") for n in range(3))
    row = {"trial_id": "a_00001", "status": "OK", **{k: repr(v) for k, v in second.items()}, METRIC: "0.3",
           "best_epoch": "2", "epochs": "3", "time_s": "1.0", "node_id": "n", "gpu_ids": ""}
    rebuilt_opts = SearchOptions(**{**vars(opts), "rebuild_from": str(rebuild_csv(tmp_path, [row]))})
    rebuilt = make_searcher(rebuilt_opts, prepare(rebuilt_opts)[1])
    assert [rebuilt.suggest(f"r{n}") for n in range(2)] == [first, third]
    assert rebuilt.rejected == [(second, "the configuration of a finished trial of the rebuilt search")]


def test_driver_runs_the_four_searches_with_the_stated_budget_and_resumes_or_rebuilds_each(tmp_path):
    (tmp_path / "state" / "ml-1m-2026-12-03-hybriddiscrete").mkdir(parents=True)  # a stopped search's Ray folder
    (tmp_path / "trials" / "HybridContinuous").mkdir(parents=True)  # a search whose Ray folder is gone
    (tmp_path / "trials" / "HybridContinuous" / "trials.csv").write_text("trial_id\n")
    (tmp_path / "trials" / "HybridResidual-fused").mkdir(parents=True)  # a finished search
    (tmp_path / "trials" / "HybridResidual-fused" / "HybridResidual-ml-1m.yaml").write_text("")
    done = driver(tmp_path, STUDY_DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    commands = [line.split()[2:] for line in done.stdout.splitlines() if "tune/search.py" in line]
    assert "HybridResidual-fused: finished" in done.stdout and len(commands) == 3
    sasrec, discrete, continuous = (parse_search_cli(c) for c in commands)
    assert commands[1] == ["--resume", "--name=ml-1m-2026-12-03-hybriddiscrete",
                           f"--storage_path={tmp_path / 'state'}"] and discrete.resume
    assert continuous.rebuild_from == str(tmp_path / "trials" / "HybridContinuous" / "trials.csv")
    for opts, model in ((sasrec, "SASRec"), (continuous, "HybridContinuous")):
        assert (opts.model, opts.dataset, opts.search, opts.search_seed, opts.num_samples) == \
            (model, "ml-1m", "optuna", 2020, 24)
        assert (opts.scheduler, opts.grace_period, opts.reduction_factor, opts.max_t) == ("asha", 8, 3.0, 200)
        assert (opts.max_concurrent, opts.cpus_per_trial, opts.gpus_per_trial, opts.sequence_only) == \
            (2, 1.0, None, True)
        assert opts.storage_path == str(tmp_path / "state") and opts.overrides == {"data_path": str(tmp_path / "data")}
        assert opts.out_dir == opts.tuned_dir == str(tmp_path / "trials" / model)
        assert Path(opts.space).parent == STUDY
    inside = driver(tmp_path, STUDY_STATE=str(PROJECT_ROOT / "saved" / "study-state"))
    assert inside.returncode == 2 and "inside the work tree" in inside.stderr
    assert not (PROJECT_ROOT / "saved" / "study-state").exists()


FAKE_SEARCH = """\
import os, signal, sys, time
out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--out_dir="))
os.makedirs(out, exist_ok=True)
def stop(*_):
    open(out + "/fake.log", "a").write("INT\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)  # as Ray Tune does
open(out + "/niceness", "w").write(os.environ.get("RAY_worker_niceness", "unset"))
open(out + "/fake.log", "a").write("started\\n")
time.sleep(60)
"""


def test_driver_hands_a_stop_to_the_running_search_and_starts_no_other(tmp_path):
    fake = write(tmp_path / "fake.py", FAKE_SEARCH)
    (tmp_path / "data").mkdir()
    env = {**ENV, "DATA_PATH": str(tmp_path / "data"), "STUDY_STATE": str(tmp_path / "state"),
           "STUDY_TRIALS_DIR": str(tmp_path / "trials"), "PYTHON": f"{tmp_path}/python"}
    write(tmp_path / "python", f"#!/bin/sh\nexec {sys.executable} {fake} \"$@\"\n").chmod(0o755)
    proc = subprocess.Popen([str(STUDY / "run_study.sh")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = tmp_path / "trials" / "SASRec" / "fake.log"
    deadline = time.time() + 30
    while not log.is_file():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    assert (tmp_path / "state" / "run_study.pid").read_text().strip() == str(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "SASRec: stopped before its last trial" in err, out + err
    assert log.read_text() == "started\nINT\n"
    assert "HybridDiscrete" not in out
    assert (log.parent / "niceness").read_text() == "0"  # trials run at the script's niceness, not Ray's 15


FLAKY_SEARCH = """\
import os, sys
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
calls = os.path.join(os.environ["FAKE_LOG"])
open(calls, "a").write(" ".join(sys.argv[1:]) + "\\n")
os.makedirs(os.path.join(args["--storage_path"], args["--name"]), exist_ok=True)  # Ray's folder, as a real search
if len(open(calls).read().splitlines()) < int(os.environ["FAKE_FAILURES"]) + 1:
    sys.exit(1)  # Ray ended the search (its memory monitor killed a trial's actor)
out = os.path.join(os.environ["FAKE_TRIALS"], "SASRec")
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "SASRec-ml-1m.yaml"), "w").write("")
"""


@pytest.mark.parametrize("failures, retries, code", [(2, 3, 0), (3, 2, 1)])
def test_driver_continues_a_search_that_failed_up_to_its_retries(tmp_path, failures, retries, code):
    fake = write(tmp_path / "flaky.py", FLAKY_SEARCH)
    write(tmp_path / "python", f"#!/bin/sh\nexec {sys.executable} {fake} \"$@\"\n").chmod(0o755)
    log = tmp_path / "calls.log"
    done = driver(tmp_path, PYTHON=f"{tmp_path}/python", STUDY_MODELS="sasrec", STUDY_RETRIES=str(retries),
                  STUDY_RETRY_WAIT_S="0", FAKE_LOG=str(log), FAKE_FAILURES=str(failures),
                  FAKE_TRIALS=str(tmp_path / "trials"))
    calls = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]  # without search.py's path
    assert done.returncode == code, done.stdout + done.stderr
    assert len(calls) == min(failures, retries) + 1
    assert "--resume" not in calls[0] and all(c.startswith("--resume --name=ml-1m-2026-12-03-sasrec")
                                              for c in calls[1:])
    if code:
        assert f"failed (exit 1) {retries + 1} times" in done.stderr
    else:
        assert "retry 2 of 3" in done.stderr and (tmp_path / "trials" / "SASRec" / "SASRec-ml-1m.yaml").is_file()


# ---- a search rebuilt from its trials.csv (Ray) ----

def test_a_search_whose_ray_folder_is_gone_is_rebuilt_from_its_trials_csv_without_rerunning_finished_trials(
        tmp_path, monkeypatch):
    """2 trials (then --resume of the finished search: nothing runs again), the Ray folder deleted, --rebuild_from
    its trials.csv with --num_samples=3: one new trial runs, the CSV then has the 2 old rows as they were and the new
    one; the curves and the tuned file cover all three."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    options = dict(space=str(write(tmp_path / "s.yaml", "learning_rate: {loguniform: [1.0e-3, 1.0e-2]}\n"
                                                        "train_mode: sequence\n")),
                   search="optuna", scheduler="asha", grace_period=1, cpus_per_trial=1, num_cpus=2, max_concurrent=2,
                   storage_path=tmp_path / "ray", out_dir=tmp_path / "out", tuned_dir=tmp_path / "tuned",
                   sequence_only=True, name="study",
                   overrides={**TINY, **{k: str(tmp_path / k) for k in ("graph_cache_dir", "results_dir",
                                                                         "checkpoint_dir")}})
    first = run_search(SearchOptions(**options, num_samples=2))
    assert first["finished"] and len(first["rows"]) == 2
    csv_path = tmp_path / "out" / "trials.csv"
    before = {r["trial_id"]: r for r in read_trials_csv(csv_path)}
    assert len(before) == 2 and all(r["status"] == "OK" and float(r[METRIC]) > 0 for r in before.values())
    assert sorted(r["ended"] for r in before.values()) == ["1", "2"]  # the order they ended, in the final CSV too
    assert set(read_curves_csv(tmp_path / "out" / "curves.csv")) == set(before)
    # what --resume replays at ASHA's rungs: the experiment's trials, ended; resuming the finished search runs
    # nothing and writes the same rows
    assert sorted((t, ended) for t, _, ended in experiment_curves(str(tmp_path / "ray" / "study"))) == \
        [(t, True) for t in sorted(before)]
    replayed = []  # (trial_id, ended) of every curve ASHA replays in the search's driver (this process)
    replay = ReplayedASHA.replay
    monkeypatch.setattr(ReplayedASHA, "replay", lambda self, t, curve, ended: (replayed.append((t, ended)),
                                                                               replay(self, t, curve, ended)))
    again = run_search(SearchOptions(resume=True, name="study", storage_path=tmp_path / "ray", num_cpus=2))
    assert again["finished"] and {r["trial_id"] for r in again["rows"]} == set(before)
    assert sorted(replayed) == [(t, True) for t in sorted(before)]  # the restored scheduler replayed them
    assert {r["trial_id"]: r for r in read_trials_csv(csv_path)} == before

    shutil.rmtree(tmp_path / "ray" / "study")
    replayed.clear()
    rebuilt = run_search(SearchOptions(**options, num_samples=3, rebuild_from=str(csv_path)))
    assert sorted(replayed) == [(t, True) for t in sorted(before)]  # ASHA met the old trials at its rungs
    assert rebuilt["finished"] and len(rebuilt["rows"]) == 1  # only the new trial ran
    new_id = rebuilt["rows"][0]["trial_id"]
    assert new_id not in before and rebuilt["rows"][0]["status"] == "OK"
    after = {r["trial_id"]: r for r in read_trials_csv(csv_path)}
    assert set(after) == {*before, new_id}
    assert all(after[t] == before[t] for t in before)  # the old rows as they were, text for text
    assert after[new_id]["ended"] == "3"  # after the rebuilt search's kept trials
    assert set(read_curves_csv(tmp_path / "out" / "curves.csv")) == set(after)
    saved = json.loads((tmp_path / "ray" / "study" / SPEC_FILE).read_text())
    assert saved["options"]["rebuild_from"] == str(csv_path) and len(saved["spec"]["rebuilt"]["rows"]) == 2
    best = max(after.values(), key=lambda r: float(r[METRIC]))
    tuned = yaml.safe_load((tmp_path / "tuned" / "HybridDiscrete-ml-100k.yaml").read_text())
    assert tuned["learning_rate"] == pytest.approx(float(best["learning_rate"]))
    assert "# trials: 3 (optuna search, asha scheduler)" in (tmp_path / "tuned" /
                                                             "HybridDiscrete-ml-100k.yaml").read_text()


# ---- retraining the tuned recipes ----

def retrain(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "data").mkdir(exist_ok=True)
    return subprocess.run([str(STUDY / "retrain.sh")], capture_output=True, text=True, timeout=60,
                          env={**ENV, "DATA_PATH": str(tmp_path / "data"), "STUDY_TRIALS_DIR": str(tmp_path / "trials"),
                               "TUNED_CONFIGS": str(tmp_path / "configs"), "TUNED_PROPERTIES": str(tmp_path / "props"),
                               "RESULTS_DIR": str(tmp_path / "runs"), "CHECKPOINT_DIR": str(tmp_path / "saved"),
                               "RETRAIN_DRY_RUN": "1", **env})


def test_retrain_freezes_each_finished_search_once_and_retrains_it_with_three_seeds_and_caps(tmp_path):
    tuned = tmp_path / "trials" / "HybridResidual-fused" / "HybridResidual-ml-1m.yaml"
    tuned.parent.mkdir(parents=True)
    tuned.write_text("# Best configuration of a Ray Tune search\n# trial: t_00003\n# Selected on validation NDCG@10 "
                     "only. Use: python run.py --model=HybridResidual --dataset=ml-1m --config_files=/abs/trials/"
                     "HybridResidual-ml-1m.yaml\nlearning_rate: 0.001\nscore_table: fused\n")
    done = retrain(tmp_path)
    assert done.returncode == 0, done.stderr
    for label in ("SASRec", "HybridDiscrete", "HybridContinuous"):
        assert f"{label}: its search has not finished" in done.stdout
    frozen = (tmp_path / "configs" / "HybridResidual-ml-1m.yaml").read_text()
    assert frozen.startswith("# Frozen on ") and "#   trial: t_00003" in frozen
    assert "# --config_files=configs/tuned/HybridResidual-ml-1m.yaml." in frozen and "/abs/trials" not in frozen
    assert "#   Selected on validation NDCG@10 only.\n" in frozen  # the search's header, less its machine's path
    assert yaml.safe_load(frozen) == {"learning_rate": 0.001, "score_table": "fused"}
    assert (tmp_path / "props" / "HybridResidual-ml-1m.yaml").read_text() == frozen
    [line] = [line for line in done.stdout.splitlines() if " experiments tuned " in line]
    command = line.split()
    assert command[1:5] == ["-m", "recbole_hybrid", "experiments", "tuned"]
    # the printed command itself starts the pipeline's 'tuned' preset (a wrong module path failed only when run)
    helped = subprocess.run([sys.executable, *shlex.split(line)[1:], "--help"], capture_output=True, text=True,
                            timeout=120, cwd=PROJECT_ROOT)
    assert helped.returncode == 0 and "preset 'tuned'" in helped.stdout, helped.stderr
    assert {"--dataset=ml-1m", "--models=HybridResidual-fused", "--seeds=3", "--eval_history_caps=\\[1\\,2\\,3\\,5\\,"
            "10\\,20\\,50\\]", f"--config_files={tmp_path / 'configs' / 'HybridResidual-ml-1m.yaml'}",
            f"--results_dir={tmp_path / 'runs'}", f"--checkpoint_dir={tmp_path / 'saved'}",
            "--ce_bf16=False"} <= set(command)  # one CE precision for every retrained record, AMX or not
    assert retrain(tmp_path).returncode == 0  # again: the frozen file is kept as it is
    assert (tmp_path / "configs" / "HybridResidual-ml-1m.yaml").read_text() == frozen
    tuned.write_text("learning_rate: 0.002\nscore_table: fused\n")  # a study re-run with other results
    refused = retrain(tmp_path)
    assert refused.returncode == 2 and "holds other settings than" in refused.stderr
    assert (tmp_path / "configs" / "HybridResidual-ml-1m.yaml").read_text() == frozen
    assert "is not a label of this study" in retrain(tmp_path, RETRAIN_MODELS="HybridFixed").stderr


def test_anchor_check_trains_each_frozen_recipe_once_on_the_literature_file(tmp_path):
    """anchor_check.sh: seed 2020 of each frozen tuned recipe on ml-1m-sasrec, float32 CE as in retrain.sh; a label
    not frozen yet is skipped, an unknown one refused."""
    (tmp_path / "data").mkdir()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "SASRec-ml-1m.yaml").write_text("learning_rate: 0.001\n")

    def anchors(**env) -> subprocess.CompletedProcess:
        return subprocess.run([str(STUDY / "anchor_check.sh")], capture_output=True, text=True, timeout=60,
                              env={**ENV, "DATA_PATH": str(tmp_path / "data"),
                                   "TUNED_CONFIGS": str(tmp_path / "configs"), "RESULTS_DIR": str(tmp_path / "runs"),
                                   "CHECKPOINT_DIR": str(tmp_path / "saved"), "ANCHOR_DRY_RUN": "1", **env})

    done = anchors(ANCHOR_MODELS="SASRec HybridResidual-fused")
    assert done.returncode == 0, done.stderr
    assert "HybridResidual-fused: no frozen recipe yet" in done.stdout
    [line] = [line for line in done.stdout.splitlines() if " experiments tuned " in line]
    assert {"--dataset=ml-1m-sasrec", "--models=SASRec", "--seeds=1", "--ce_bf16=False",
            f"--config_files={tmp_path / 'configs' / 'SASRec-ml-1m.yaml'}", f"--data_path={tmp_path / 'data'}",
            f"--results_dir={tmp_path / 'runs'}", f"--checkpoint_dir={tmp_path / 'saved'}"} <= set(line.split())
    assert anchors().returncode == 0  # the default: SASRec
    refused = anchors(ANCHOR_MODELS="HybridFixed")
    assert refused.returncode == 2 and "is not a label of this study" in refused.stderr


def test_the_study_scripts_share_one_label_map_interpreter_choice_and_dry_run(tmp_path):
    """common.sh, sourced by run_study.sh, retrain.sh and anchor_check.sh: $PYTHON first, then the checkout's
    .venv; the labels' classes; an unknown label refused naming its setting; a dry run prints, a real one runs."""
    def sourced(script: str, **env) -> subprocess.CompletedProcess:
        without_python = {k: v for k, v in ENV.items() if k != "PYTHON"}
        return subprocess.run(["bash", "-c", f'set -euo pipefail; source "{STUDY / "common.sh"}"; {script}'],
                              capture_output=True, text=True, timeout=30, env={**without_python, **env})

    assert sourced(f'study_python "{tmp_path}"', PYTHON="/opt/py").stdout == "/opt/py\n"
    assert sourced(f'study_python "{tmp_path}"').stdout == "python\n"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    (tmp_path / ".venv" / "bin" / "python").chmod(0o755)
    assert sourced(f'study_python "{tmp_path}"').stdout == f"{tmp_path}/.venv/bin/python\n"
    labels = "SASRec HybridDiscrete HybridContinuous HybridResidual-fused HybridResidual-fused-nograph"
    mapped = sourced(f'for l in {labels}; do study_model "$l" X; done')
    assert mapped.stdout.split() == ["SASRec", "HybridDiscrete", "HybridContinuous", "HybridResidual",
                                     "HybridResidual"]  # a twin trains its hybrid's class
    assert sourced("study_label HybridDiscrete-nograph /no/python /no/runs").stdout == "HybridDiscrete-nograph\n"
    refused = sourced('m="$(study_model HybridFixed SOME_MODELS)"; echo "not reached $m"')
    assert refused.returncode == 2 and "not reached" not in refused.stdout
    assert refused.stderr.strip() == "error: SOME_MODELS: HybridFixed is not a label of this study"
    assert sourced("study_run 1 said echo 'a b'").stdout == "echo a\\ b \n"
    assert sourced("study_run 0 said echo 'a b'").stdout == "said\na b\n"


def test_the_best_hybrids_no_graph_twin_retrains_its_recipe_named_from_the_records(tmp_path):
    """retrain.sh's best-nograph and anchor_check.sh's best: `experiments best` names the hybrid from the records
    in RESULTS_DIR (here a stand-in interpreter that says HybridContinuous); the twin trains that hybrid's frozen
    recipe under its control label; while a seed is missing the refusal stops the script before any run."""
    tuned = tmp_path / "trials" / "HybridContinuous" / "HybridContinuous-ml-1m.yaml"
    tuned.parent.mkdir(parents=True)
    write(tuned, "learning_rate: 0.001\n")
    fake = write(tmp_path / "python", '#!/usr/bin/env bash\necho "$*" >> "$(dirname "$0")/asked"\n'
                 'if [ "${BEST_FAILS:-0}" = 1 ]; then echo "error: HybridContinuous has no run of seed 2022 yet" >&2;'
                 ' exit 2; fi\necho HybridContinuous\n')
    fake.chmod(0o755)
    done = retrain(tmp_path, RETRAIN_MODELS="best-nograph", PYTHON=str(fake))
    assert done.returncode == 0, done.stderr
    [asked] = (tmp_path / "asked").read_text().splitlines()
    assert {"-m", "recbole_hybrid", "experiments", "best", "--dataset=ml-1m", "--preset=tuned-fs", "--seeds=3",
            f"--runs_dir={tmp_path / 'runs'}",
            "--models=HybridDiscrete,HybridContinuous,HybridResidual-fused"} == set(asked.split())
    [line] = [line for line in done.stdout.splitlines() if " experiments tuned " in line]
    assert {"--models=HybridContinuous-nograph", "--seeds=3",
            f"--config_files={tmp_path / 'configs' / 'HybridContinuous-ml-1m.yaml'}"} <= set(line.split())
    refused = retrain(tmp_path, RETRAIN_MODELS="best-nograph SASRec", PYTHON=str(fake), BEST_FAILS="1")
    assert refused.returncode == 2 and "has no run of seed 2022 yet" in refused.stderr
    assert " experiments tuned " not in refused.stdout  # SASRec, after it, is not reached either
    assert retrain(tmp_path, RETRAIN_MODELS="SASRec-nograph").returncode == 2  # SASRec has no graph to take away
    anchored = subprocess.run([str(STUDY / "anchor_check.sh")], capture_output=True, text=True, timeout=60,
                              env={**ENV, "DATA_PATH": str(tmp_path / "data"),
                                   "TUNED_CONFIGS": str(tmp_path / "configs"), "RESULTS_DIR": str(tmp_path / "runs"),
                                   "CHECKPOINT_DIR": str(tmp_path / "saved"), "ANCHOR_DRY_RUN": "1",
                                   "ANCHOR_MODELS": "best", "PYTHON": str(fake)})
    assert anchored.returncode == 0, anchored.stderr
    assert "--models=HybridContinuous" in anchored.stdout.split()
