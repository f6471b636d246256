"""Ray Tune search: spaces and constraints, what trials report and how they are ranked (filter_seen, Optuna, ASHA),
a 2-trial search, GPUs (declared on this CPU machine), resume of an interrupted search, a Ray head on 127.0.0.1, a
two-node cluster, storage URIs, the exported property file. Ray is needed (the ``tune`` extra); the searches use tiny
ml-100k settings.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("ray.tune", reason="Ray Tune is the optional 'tune' extra: pip install -e '.[tune]'")

# ruff: noqa: E402  (imports after the skip: they import Ray)
from conftest import TINY
from recbole_hybrid.config import ConfigError, build_config
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.tuning.cluster import TuneSetupError, check_resources, default_gpus_per_trial
from recbole_hybrid.cli.tune import parse_search_cli
from recbole_hybrid.tuning.search import SearchOptions, make_scheduler, make_searcher, prepare, run_search, search_spec
from recbole_hybrid.tuning.space import SpaceError, build_searcher, config_problem, load_space, shipped_spaces
from recbole_hybrid.tuning.trial import BEST_METRIC, METRIC, EpochReporter

SEARCH = [sys.executable, str(PROJECT_ROOT / "tune" / "search.py")]
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(PROJECT_ROOT)}  # loopback: see conftest
SPACE = """\
learning_rate: {loguniform: [1.0e-3, 1.0e-2]}
L_short: {randint: [3, 12]}
L_long: {choice: [8, 15]}
"""
FIXED = {k: v for k, v in TINY.items() if k not in ("L_short", "L_long")}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def flags(settings: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in settings.items()]


def cli_search(tmp_path: Path, *extra: str, epochs: int = 1, samples: int = 1) -> list[str]:
    """``tune/search.py`` on ml-100k with tiny settings, everything under ``tmp_path``."""
    return [*SEARCH, "--model=HybridDiscrete", "--dataset=ml-100k", f"--space={write(tmp_path / 's.yaml', SPACE)}",
            f"--num_samples={samples}", "--cpus_per_trial=1", "--name=cli",
            f"--storage_path=file://{tmp_path / 'ray'}", f"--out_dir={tmp_path / 'out'}",
            f"--tuned_dir={tmp_path / 'tuned'}",
            *flags({**FIXED, "epochs": epochs, "graph_cache_dir": tmp_path / "graph"}), *extra]


# ---- spaces and constraints (no Ray) ----

@pytest.mark.parametrize("text, message", [
    ("lr: {normal: [0, 1]}", "lr: write one of"),
    ("learning_rate: {uniform: [0.1]}", "uniform needs 2 numbers"),
    ("learning_rate: {loguniform: [0.1, 0.01]}", "needs low < high"),
    ("hidden_size: {choice: []}", "choice needs a non-empty list"),
    ("epochs: 3", "searches nothing"),
    ("[1, 2]", "must be a mapping"),
])
def test_bad_space_files_are_refused_with_the_key(tmp_path, text, message):
    with pytest.raises(SpaceError, match=message):
        load_space(write(tmp_path / "space.yaml", text))


def test_space_file_missing_or_key_unknown_or_also_fixed(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(tmp_path / "nope.yaml")
    typo = write(tmp_path / "typo.yaml", "learning_rat: {uniform: [0.001, 0.01]}")
    with pytest.raises(SpaceError, match="learning_rat not a setting of HybridDiscrete"):
        search_spec(SearchOptions(space=str(typo), overrides=dict(TINY)))
    with pytest.raises(SpaceError, match="L_long, L_short searched in .* and fixed on the command line"):
        search_spec(SearchOptions(space=str(write(tmp_path / "s.yaml", SPACE)), overrides=dict(TINY)))
    never = write(tmp_path / "never.yaml", "L_short: {choice: [15, 16]}\nL_long: {choice: [5, 10]}")
    with pytest.raises(SpaceError, match="no valid configuration .* L_short=1[56] must be smaller than L_long"):
        search_spec(SearchOptions(space=str(never), overrides=FIXED))


def test_trials_build_on_the_plain_defaults_and_the_tuned_file_does_not_say_so(tmp_path):
    """A search's trials never read ``properties/tuned/`` (they may be re-tuning it) unless the command line says
    ``--tuned_defaults=True``; the tuned property file it writes does not carry the flag."""
    from recbole_hybrid.tuning.report import write_tuned_properties

    spec = search_spec(SearchOptions(space=str(write(tmp_path / "s.yaml", SPACE)), overrides=dict(FIXED)))
    assert spec["fixed"]["tuned_defaults"] is False
    asked = search_spec(SearchOptions(space=str(write(tmp_path / "s.yaml", SPACE)),
                                      overrides={**FIXED, "tuned_defaults": True}))
    assert asked["fixed"]["tuned_defaults"] is True
    tuned = write_tuned_properties(tmp_path / "t.yaml", spec["fixed"], {"L_short": 5}, {"model": "HybridDiscrete"})
    assert "tuned_defaults" not in yaml.safe_load(tuned.read_text())


@pytest.mark.parametrize("model", ["HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous",
                                   "HybridResidual", "SASRec"])
def test_shipped_spaces_are_searchable(model):
    name = {"SASRec": "sasrec"}.get(model) or "hybrid_" + model.removeprefix("Hybrid").lower()
    path = shipped_spaces() / f"{name}.yaml"
    _, searched = load_space(name)  # a shipped space by name
    assert {"hidden_dropout_prob", "attn_dropout_prob", "MAX_ITEM_LIST_LENGTH", "train_mode"} <= set(searched)
    spec = search_spec(SearchOptions(model=model, space=str(path)))
    assert Path(spec["fixed"]["graph_cache_dir"]).is_absolute() and spec["epochs"] == 100


def test_grid_search_trains_only_the_valid_combinations():
    space = load_space_text("L_short: {choice: [3, 5, 15]}\nL_long: {choice: [5, 15]}\n"
                            "hidden_size: {choice: [30, 32]}\nn_heads: {choice: [2, 4]}\n")
    fixed = {k: v for k, v in FIXED.items() if k not in ("hidden_size", "n_heads")}
    searcher = build_searcher("grid", space, METRIC, 0, lambda p: config_problem("HybridDiscrete", "ml-100k", [],
                                                                                  fixed, p))
    suggested = []
    while (params := searcher.suggest(f"t{len(suggested)}")) != searcher.FINISHED:
        suggested.append(params)
    # 3 x 2 x 2 x 2 = 24 combinations; L_short < L_long leaves 3 pairs, hidden % heads == 0 leaves 3 pairs.
    assert len(suggested) == 9 and len(searcher.rejected) == 15
    assert all(p["L_short"] < p["L_long"] and p["hidden_size"] % p["n_heads"] == 0 for p in suggested)
    assert all(not (p["L_short"] < p["L_long"] and p["hidden_size"] % p["n_heads"] == 0)
               for p, _ in searcher.rejected)
    for params in suggested:  # and each one builds
        build_config("HybridDiscrete", "ml-100k", [], {**fixed, **params})


def test_drawn_train_mode_and_batch_go_through_build_config():
    """Draws are values that ``build_config`` checks: with a learner sequence mode cannot use, a sequence draw is
    dropped and ``auto`` trains prefix rows; a drawn batch is kept, an ``auto`` one takes the mode's default."""
    space = load_space_text("train_mode: {choice: [auto, prefix, sequence]}\ntrain_batch_size: {choice: [auto, 64]}\n")
    fixed = {**{k: v for k, v in FIXED.items() if k != "train_batch_size"}, "learner": "sgd"}
    searcher = build_searcher("grid", space, METRIC, 0, lambda p: config_problem("SASRec", "ml-100k", [], fixed, p))
    suggested = []
    while (params := searcher.suggest(f"t{len(suggested)}")) != searcher.FINISHED:
        suggested.append(params)
    assert len(suggested) == 4 and {p["train_mode"] for p in suggested} == {"auto", "prefix"}
    assert len(searcher.rejected) == 2
    assert all("train_mode=sequence: learner='sgd'" in problem for _, problem in searcher.rejected)
    for params in suggested:
        config = build_config("SASRec", "ml-100k", [], {**fixed, **params})
        batch = 2048 if params["train_batch_size"] == "auto" else 64
        assert (config["train_mode"], config["train_batch_size"]) == ("prefix", batch)


@pytest.mark.parametrize("search", ["random", "optuna"])
def test_random_and_optuna_draws_respect_the_constraints(search):
    space = load_space_text("L_short: {randint: [2, 16]}\nL_long: {randint: [3, 19]}\n"
                            "learning_rate: {loguniform: [1.0e-4, 1.0e-2]}\n")
    searcher = build_searcher(search, space, METRIC, 7, lambda p: config_problem("HybridDiscrete", "ml-100k", [],
                                                                                  FIXED, p))
    draws = [searcher.suggest(f"t{i}") for i in range(12)]
    assert all(d["L_short"] < d["L_long"] for d in draws)
    assert searcher.rejected and all(p["L_short"] >= p["L_long"] for p, _ in searcher.rejected)
    assert len({d["learning_rate"] for d in draws}) == 12


def load_space_text(text: str):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        return load_space(f.name)[1]
    finally:
        os.unlink(f.name)


def test_cli_flags_and_resource_checks():
    opts = parse_search_cli(["--space=s.yaml", "--num_samples=3", "--gpus_per_trial=0.5", "--lr=0.01", "--resume",
                             "--search=optuna", "--d_model=32"])
    assert (opts.num_samples, opts.gpus_per_trial, opts.resume, opts.search) == (3, 0.5, True, "optuna")
    assert opts.overrides == {"learning_rate": 0.01, "hidden_size": 32}
    with pytest.raises(ConfigError, match="--scheduler='hyperband': choose one of asha, fifo"):
        parse_search_cli(["--scheduler=hyperband"])
    with pytest.raises(ConfigError, match="gpus_per_trial=1.5"):
        parse_search_cli(["--gpus_per_trial=1.5"])
    cpu_node, gpu_node = {"CPU": 2.0, "GPU": 0.0}, {"CPU": 8.0, "GPU": 1.0}
    with pytest.raises(TuneSetupError, match="the Ray cluster has no GPU"):
        check_resources(0.25, 1, [cpu_node])
    with pytest.raises(TuneSetupError, match="cpus_per_trial=4: no Ray node has that much .* 0 GPUs and 2 CPUs"):
        check_resources(0, 4, [cpu_node])
    # per node, not cluster totals: two 1-GPU nodes hold no 2-GPU trial, nor a 1-GPU trial wanting 3 CPUs of a
    # GPU node with 2 (the 8-CPU node has no GPU)
    with pytest.raises(TuneSetupError, match="gpus_per_trial=2 with --cpus_per_trial=1: no Ray node has that much"):
        check_resources(2, 1, [gpu_node, gpu_node])
    with pytest.raises(TuneSetupError, match="no Ray node has that much"):
        check_resources(1, 3, [{"CPU": 2.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 0.0}])
    check_resources(0.5, 2, [cpu_node, gpu_node])
    check_resources(1, 8, [cpu_node, gpu_node])
    check_resources(2, 1, [gpu_node, {"CPU": 4.0, "GPU": 2.0}])
    check_resources(0, 2, [cpu_node])
    assert default_gpus_per_trial([cpu_node]) == 0 and default_gpus_per_trial([cpu_node, gpu_node]) == 1


def test_filter_seen_cannot_be_searched_and_is_what_trials_are_ranked_on(tmp_path):
    with pytest.raises(SpaceError, match="filter_seen decides the metric that trials are ranked on"):
        load_space(write(tmp_path / "fs.yaml", "filter_seen: {choice: [true, false]}"))
    space = str(write(tmp_path / "s.yaml", "learning_rate: {loguniform: [1.0e-3, 1.0e-2]}"))
    assert search_spec(SearchOptions(space=space, overrides={**TINY, "filter_seen": True}))["filter_seen"] is True
    assert search_spec(SearchOptions(space=space, overrides=dict(TINY)))["filter_seen"] is False


def epoch_entry(epoch: int, all_items: float, seen_excluded: float) -> dict:
    """An epoch entry as ``trainer.fit_and_test`` gives it to ``on_epoch``."""
    return {"epoch": epoch, "train_loss": 1.0, "train_time_s": 0.1,
            "valid": {"ndcg@10": all_items, "hit@10": 2 * all_items},
            "valid_filter_seen": {"ndcg@10": seen_excluded, "hit@10": 2 * seen_excluded}}


def test_reports_carry_the_selected_metric_its_best_so_far_and_both_candidate_sets():
    selects_seen_excluded = EpochReporter(filter_seen=True)
    assert selects_seen_excluded({"epoch": 0, "train_loss": 1.0}) is None  # no validation this epoch
    first = selects_seen_excluded(epoch_entry(1, all_items=0.30, seen_excluded=0.40))
    assert first["epoch"] == 2  # epochs trained, whatever eval_step is
    assert (first[METRIC], first["valid_hit@10"], first[BEST_METRIC]) == (0.40, 0.80, 0.40)
    assert (first["all_items/valid_ndcg@10"], first["seen_excluded/valid_ndcg@10"]) == (0.30, 0.40)
    second = selects_seen_excluded(epoch_entry(3, all_items=0.50, seen_excluded=0.35))
    assert (second[METRIC], second[BEST_METRIC]) == (0.35, 0.40)  # the best stays, as the trainer keeps best.pth
    all_items = EpochReporter(filter_seen=False, best=0.45)  # a restarted trial's best from its checkpoint
    assert all_items(epoch_entry(3, all_items=0.50, seen_excluded=0.35))[BEST_METRIC] == 0.50
    assert all_items(epoch_entry(4, all_items=0.20, seen_excluded=0.60))[BEST_METRIC] == 0.50


def test_optuna_learns_each_trials_best_validation_not_its_last(tmp_path):
    opts = SearchOptions(search="optuna", space=str(write(tmp_path / "s.yaml", "learning_rate: "
                                                          "{loguniform: [1.0e-4, 1.0e-2]}")), overrides=dict(TINY))
    searcher = make_searcher(opts, search_spec(opts))
    searcher.set_search_properties(BEST_METRIC, "max", {})  # what Tune does with TuneConfig(metric=, mode=)
    curves = {"peaks_then_drops": [0.30, 0.10], "climbs": [0.05, 0.20]}
    for trial_id, curve in curves.items():
        searcher.suggest(trial_id)
        reporter = EpochReporter(filter_seen=False)
        for i, value in enumerate(curve):
            result = {**reporter(epoch_entry(i, value, value)), "training_iteration": i + 1}
            searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)  # Tune passes the last result
    study = searcher.searcher._ot_study
    assert [t.value for t in study.trials if t.state.name == "COMPLETE"] == [0.30, 0.20]


def test_asha_counts_epochs_whatever_eval_step_is_and_lets_finished_trials_end():
    # eval_step=2 over 6 epochs: reports after epochs 2, 4, 6 (training_iteration 1, 2, 3)
    scheduler = make_scheduler(SearchOptions(scheduler="asha", grace_period=2), {"epochs": 6})
    scheduler.set_search_properties(BEST_METRIC, "max")
    leader, laggard = SimpleNamespace(trial_id="leader"), SimpleNamespace(trial_id="laggard")
    scheduler.on_trial_add(None, leader)
    scheduler.on_trial_add(None, laggard)

    def result(epoch: int, value: float) -> dict:
        return {**EpochReporter(False)(epoch_entry(epoch - 1, value, value)), "training_iteration": epoch // 2}

    assert scheduler.on_trial_result(None, leader, result(2, 0.5)) == "CONTINUE"
    # The laggard's first report is at the 2-epoch rung (in reports it is only the first): ASHA stops it there.
    assert scheduler.on_trial_result(None, laggard, result(2, 0.1)) == "STOP"
    assert scheduler.on_trial_result(None, leader, result(4, 0.6)) == "CONTINUE"
    # The last epoch (max_t) is left to the trial, which then writes its run record and ends by itself.
    assert scheduler.on_trial_result(None, leader, result(6, 0.7)) == "CONTINUE"


def test_storage_path_uris_are_kept_as_ray_takes_them(tmp_path):
    opts = SearchOptions(storage_path="s3://bucket/tune/", name="n")
    assert (opts.storage_path, opts.experiment_dir) == ("s3://bucket/tune", "s3://bucket/tune/n")
    assert parse_search_cli(["--storage_path=gs://b/x"]).storage_path == "gs://b/x"
    local = SearchOptions(storage_path="relative/dir", name="n")
    assert local.experiment_dir == str(Path.cwd() / "relative" / "dir" / "n")
    uri = f"file://{tmp_path}/ray"
    with pytest.raises(TuneSetupError, match=f"cannot resume: {uri}/gone/search_spec.json not found"):
        prepare(SearchOptions(resume=True, storage_path=uri, name="gone"))


def test_resume_needs_a_saved_search_and_a_new_search_needs_a_new_name(tmp_path):
    with pytest.raises(TuneSetupError, match="cannot resume: .*search_spec.json not found"):
        prepare(SearchOptions(resume=True, storage_path=str(tmp_path), name="gone"))
    (tmp_path / "taken").mkdir()
    with pytest.raises(TuneSetupError, match="taken exists: pass --resume to continue it or another --name"):
        prepare(SearchOptions(space="s.yaml", storage_path=str(tmp_path), name="taken"))


# ---- searches (Ray) ----

def test_two_trial_search_exports_a_property_file_that_reproduces_the_best_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # fifo: each trial runs to its end and writes its run record (ASHA stops a trial at its last report).
    opts = SearchOptions(model="HybridDiscrete", dataset="ml-100k", space=str(write(tmp_path / "s.yaml", SPACE)),
                         num_samples=2, cpus_per_trial=1, num_cpus=2, scheduler="fifo", storage_path=tmp_path / "ray",
                         out_dir=tmp_path / "out", tuned_dir=tmp_path / "tuned", final_test=1,
                         overrides={**FIXED, **{k: str(tmp_path / k) for k in ("graph_cache_dir", "results_dir",
                                                                               "checkpoint_dir")}})
    summary = run_search(opts)

    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 2 and all(r["status"] == "OK" and r["epochs"] == "1" for r in rows)
    assert float(rows[0][METRIC]) >= float(rows[1][METRIC]) > 0
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
    best = summary["best"]
    trial_dir = next((tmp_path / "ray" / opts.name).glob(f"*{best['trial_id']}*"))
    record = json.loads((trial_dir / "run.json").read_text())
    assert record["test"] is None  # the search never looks at the test split
    assert record["config"]["device"] == "cpu" and record["config"]["gpu_id"] == ""
    assert record["best_valid"]["ndcg@10"] == pytest.approx(best[METRIC])
    assert list(trial_dir.glob("events.out.tfevents.*"))  # Ray's TensorBoard logs of every trial (README)

    tuned = tmp_path / "tuned" / "HybridDiscrete-ml-100k.yaml"
    assert summary["properties"] == tuned
    config = build_config("HybridDiscrete", "ml-100k", [str(tuned)], {})
    for key in ("learning_rate", "L_short", "L_long", *FIXED):
        assert config[key] == record["config"][key], key
    # the file pins what auto resolved to for the best trial, not auto itself
    pinned = yaml.safe_load(tuned.read_text())
    assert (pinned["train_mode"], pinned["train_batch_size"]) == (record["config"]["train_mode"],
                                                                  record["config"]["train_batch_size"])

    # --final_test=1 retrained the property file's configuration with the trial's seed, outside Ray, through the
    # experiments pipeline, and tested it: same validation curve as the trial (up to float summation order: Ray
    # gives the trial 1 thread).
    runs_dir = tmp_path / "out" / "final_test"
    assert summary["final_test"]["runs"] == ["HybridDiscrete-ml-100k-tuned-seed2020"]
    final = json.loads((runs_dir / f"{summary['final_test']['runs'][0]}.json").read_text())
    assert (runs_dir / f"{final['run_id']}.ranks.npz").is_file() and (runs_dir / f"{final['run_id']}.alpha.json").is_file()
    assert final["seed"] == record["seed"] and final["test"]["ndcg@10"] > 0
    assert final["best_valid"]["ndcg@10"] == pytest.approx(best[METRIC], rel=1e-3)
    assert json.loads((tmp_path / "out" / "final_test.json").read_text())["test_ndcg@10"]["mean"] == \
        final["test"]["ndcg@10"]


def trial_dirs(experiment: Path) -> dict[str, Path]:
    """``{trial_id: folder}`` of an experiment folder."""
    return {json.loads((d / "result.json").read_text().splitlines()[-1])["trial_id"]: d
            for d in experiment.iterdir() if (d / "result.json").is_file()}


#: What ``ray.init`` itself adds to the driver's environment (Ray 2.60).
RAY_SETS_IN_DRIVER = {"CRC32C_SW_MODE", "PYTHONBREAKPOINT", "RAY_USAGE_STATS_ENABLED"}


def test_declared_gpus_each_trial_on_its_own_gpu_and_the_driver_environment_unchanged(tmp_path, monkeypatch):
    """Ray with 2 declared GPUs on this CPU machine: 2 concurrent trials, one GPU id each; RecBole's Config neither
    narrows what Ray sees (in the driver) nor overrides what Ray assigned (in the trial), and the trials compute on
    CPU since no CUDA device has those ids. The run selects with filter_seen: trials report and rank on that."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # as on a 2-GPU machine; RecBole's Config would leave "0"
    before = dict(os.environ)
    opts = SearchOptions(space=str(write(tmp_path / "s.yaml", SPACE)), num_samples=2, num_cpus=2, num_gpus=2,
                         gpus_per_trial=1, cpus_per_trial=1, scheduler="fifo", storage_path=tmp_path / "ray",
                         out_dir=tmp_path / "out", tuned_dir=tmp_path / "tuned",
                         overrides={**FIXED, "filter_seen": True, "graph_cache_dir": str(tmp_path / "graph")})
    summary = run_search(opts)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert {k for k, v in before.items() if os.environ.get(k) != v} == set()
    assert set(os.environ) - set(before) <= RAY_SETS_IN_DRIVER

    rows = summary["rows"]
    assert sorted(r["gpu_ids"] for r in rows) == ["0", "1"] and all(r["status"] == "OK" for r in rows)
    trials = trial_dirs(tmp_path / "ray" / opts.name)
    for row in rows:
        last = json.loads((trials[row["trial_id"]] / "result.json").read_text().splitlines()[-1])
        assert last["cuda_visible_devices"] == row["gpu_ids"]  # Ray's assignment, after RecBole's Config ran
        record = json.loads((trials[row["trial_id"]] / "run.json").read_text())
        assert record["config"]["gpu_id"] == row["gpu_ids"] and record["config"]["device"] == "cpu"
        # Reported and ranked on the selection metric (seen items excluded), not on the all-items one.
        assert record["selection"]["filter_seen"] is True
        assert row[METRIC] == pytest.approx(record["best_valid_filter_seen"]["ndcg@10"])
        assert last[METRIC] == last["seen_excluded/valid_ndcg@10"] != last["all_items/valid_ndcg@10"]
    assert summary["best"][METRIC] == max(r[METRIC] for r in rows)
    tuned = (tmp_path / "tuned" / "HybridDiscrete-ml-100k.yaml").read_text()
    assert "# candidates: without each user's seen items (filter_seen)" in tuned and "filter_seen: true" in tuned


def test_two_node_cluster_runs_trials_on_both_nodes_into_one_storage_uri(tmp_path, monkeypatch):
    """Two Ray nodes on 127.0.0.1 with one CPU and one (declared) GPU each: a 2-GPU trial is refused at once (the
    cluster has 2 GPUs, no node has), and two 1-GPU trials run one per node, their code shipped as the job's
    working_dir, their results in one storage path given as a file:// URI."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    node = {"num_cpus": 1, "num_gpus": 1, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        shared = f"file://{tmp_path}/shared"
        opts = dict(address=cluster.address, space=str(write(tmp_path / "s.yaml", SPACE)), num_samples=2,
                    cpus_per_trial=1, scheduler="fifo", storage_path=shared, out_dir=tmp_path / "out",
                    tuned_dir=tmp_path / "tuned",
                    overrides={**FIXED, "graph_cache_dir": str(tmp_path / "graph")})
        with pytest.raises(TuneSetupError, match="gpus_per_trial=2 with --cpus_per_trial=1: no Ray node has that"):
            run_search(SearchOptions(**opts, gpus_per_trial=2, name="too-big"))
        assert not (tmp_path / "shared" / "too-big").exists()

        summary = run_search(SearchOptions(**opts, gpus_per_trial=1, name="both"))
    finally:
        cluster.shutdown()
    rows = summary["rows"]
    assert len({r["node_id"] for r in rows}) == 2 and all(r["status"] == "OK" for r in rows)
    trials = trial_dirs(tmp_path / "shared" / "both")
    assert set(trials) == {r["trial_id"] for r in rows}
    assert all((d / "run.json").is_file() and list(d.glob("checkpoint_*")) for d in trials.values())
    assert (tmp_path / "shared" / "both" / "search_spec.json").is_file()


def wait_for_checkpoint(tmp_path: Path, index: int, proc: subprocess.Popen, log: Path) -> Path:
    """The trial folder once a Ray checkpoint numbered ``index`` or later exists. The search keeps one checkpoint
    per trial, so on a fast machine checkpoint ``index`` may be gone before a poll sees it: a later one counts."""
    deadline = time.time() + 240
    while not (found := [c for c in (tmp_path / "ray").glob("cli/*/checkpoint_*")
                         if int(c.name.rsplit("_", 1)[1]) >= index]):
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.1)
    return found[0].parent


def last_result(trial_dir: Path, proc: subprocess.Popen, log: Path, iteration: int = 1) -> dict:
    """The trial's last reported result once the driver has logged iteration ``iteration`` or later. The trial writes
    its checkpoint folder before the driver takes in the result that carries it (seen on a loaded machine, and a
    fast poll sees the folder first): until the driver writes ``result.json``'s line, a crash or a Ctrl-C restores
    the checkpoint before."""
    deadline = time.time() + 60
    path = trial_dir / "result.json"
    while True:
        lines = (path.read_text() if path.is_file() else "").split("\n")[:-1]  # whole lines only
        if lines and json.loads(lines[-1])["training_iteration"] >= iteration:
            return json.loads(lines[-1])
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.1)


def test_crashed_trial_restarts_and_interrupted_search_resumes_from_checkpoints(tmp_path):
    epochs = 6  # enough left after the second checkpoint that the Ctrl-C lands before the trial ends
    log = tmp_path / "first.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cli_search(tmp_path, "--num_cpus=2", "--scheduler=fifo", "--max_failures=1",
                                           epochs=epochs), env=ENV, stdout=out, stderr=subprocess.STDOUT, text=True)
        trial_dir = wait_for_checkpoint(tmp_path, 0, proc, log)
        # Crash: kill the trial's worker process (its pid is in Ray's result) after epoch 0; Ray restarts the trial.
        worker = last_result(trial_dir, proc, log)["pid"]
        os.kill(worker, signal.SIGKILL)
        wait_for_checkpoint(tmp_path, 1, proc, log)
        last_result(trial_dir, proc, log, iteration=2)  # the restarted trial's checkpoint, taken in by the driver
        proc.send_signal(signal.SIGINT)  # then Ctrl-C: Ray saves the experiment and stops
        proc.wait(timeout=120)
    first = log.read_text()
    assert "resumed from" in first and "after epoch 0" in first, first  # the restarted trial did not redo epoch 0
    assert "search interrupted: continue it with --resume" in first, first
    assert not (tmp_path / "tuned").exists()

    resumed = subprocess.run([*SEARCH, "--resume", "--name=cli", f"--storage_path=file://{tmp_path / 'ray'}",
                              "--num_cpus=2"], env=ENV, capture_output=True, text=True, timeout=300)
    text = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, text
    # Continued from the last checkpoint, which the restarted trial wrote (epoch 1 or later), not from epoch 0.
    after = [int(n) for n in re.findall(r"after epoch (\d+)", text)]
    assert after and 1 <= min(after) < epochs - 1, text
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 1 and rows[0]["status"] == "OK" and rows[0]["epochs"] == str(epochs)
    record = json.loads((trial_dir / "run.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == list(range(epochs))
    assert (tmp_path / "tuned" / "HybridDiscrete-ml-100k.yaml").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A Ray head started with ``ray start --head`` on 127.0.0.1 (2 CPUs, no GPU); stopped with its process group."""
    port, temp = free_port(), tempfile.mkdtemp(prefix="rh", dir="/tmp")
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                             "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={temp}",
                             "--block"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_search_on_a_ray_head_refuses_gpus_and_runs_on_its_cpus(tmp_path, ray_head):
    refused = subprocess.run(cli_search(tmp_path, f"--address={ray_head}", "--gpus_per_trial=1", "--name=gpu"),
                             env=ENV, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "but the Ray cluster has no GPU" in refused.stderr, refused.stderr

    done = subprocess.run(cli_search(tmp_path, f"--address={ray_head}", "--scheduler=asha"), env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # Connected to the head, not a new local Ray.
    assert "Connecting to existing Ray cluster at address: " in done.stderr
    assert f":{ray_head.split(':')[1]}" in done.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 1 and rows[0]["status"] == "OK" and float(rows[0][METRIC]) > 0


def _small_dataset(root: Path, name: str = "mini", users: int = 120) -> Path:
    """A dataset of the first ``users`` users of RecBole's ml-100k, written as ``root/<name>/<name>.inter``."""
    import recbole

    source = Path(recbole.__file__).parent / "dataset_example" / "ml-100k" / "ml-100k.inter"
    lines = source.read_text().splitlines()
    keep = [line for line in lines[1:] if int(line.split("\t")[0]) <= users]
    (root / name).mkdir(parents=True)
    (root / name / f"{name}.inter").write_text("\n".join([lines[0], *keep]) + "\n")
    return root


def test_trials_read_the_dataset_from_the_data_path_given(tmp_path, monkeypatch):
    """``--data_path`` names the folder holding ``<dataset>/``; RecBole's resolved ``data_path`` ends in the dataset's
    own folder, and trials handed that looked in ``<dataset>/<dataset>/`` (every trial failed; ml-100k hid it)."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    data = _small_dataset(tmp_path / "data")
    opts = SearchOptions(model="SASRec", dataset="mini", space=str(write(tmp_path / "s.yaml", "learning_rate: "
                                                                       "{loguniform: [1.0e-3, 1.0e-2]}\n")),
                         num_samples=2, cpus_per_trial=1, num_cpus=2, scheduler="fifo", storage_path=tmp_path / "ray",
                         out_dir=tmp_path / "out", tuned_dir=tmp_path / "tuned",
                         overrides={**FIXED, "data_path": str(data), "user_inter_num_interval": "[5,inf)",
                                    "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
                                    **{k: str(tmp_path / k) for k in ("graph_cache_dir", "results_dir",
                                                                      "checkpoint_dir")}})
    assert search_spec(opts)["fixed"]["data_path"] == str(data.resolve())
    run_search(opts)
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 2 and all(r["status"] == "OK" and r["epochs"] == "1" for r in rows)
