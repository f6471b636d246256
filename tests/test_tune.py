"""Ray Tune search: spaces and constraints, a 2-trial search, resume of an interrupted search, a Ray head on
127.0.0.1, the exported property file. Ray is needed (the ``tune`` extra); the searches use tiny ml-100k settings.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.tune", reason="Ray Tune is the optional 'tune' extra: pip install -e '.[tune]'")

# ruff: noqa: E402  (imports after the skip: they import Ray)
from conftest import TINY
from recbole_hybrid.config import PROJECT_ROOT, ConfigError, build_config
from recbole_hybrid.search_space import SpaceError, build_searcher, config_problem, load_space
from recbole_hybrid.tune_trial import METRIC
from recbole_hybrid.tuning import (SearchOptions, TuneSetupError, check_resources, default_gpus_per_trial,
                                   parse_search_cli, prepare, run_search, search_spec)

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
            f"--storage_path={tmp_path / 'ray'}", f"--out_dir={tmp_path / 'out'}", f"--tuned_dir={tmp_path / 'tuned'}",
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


@pytest.mark.parametrize("model", ["HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "SASRec"])
def test_shipped_spaces_are_searchable(model):
    name = {"SASRec": "sasrec"}.get(model) or "hybrid_" + model.removeprefix("Hybrid").lower()
    path = PROJECT_ROOT / "tune" / "spaces" / f"{name}.yaml"
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
    with pytest.raises(TuneSetupError, match="the Ray cluster has no GPU"):
        check_resources(SearchOptions(gpus_per_trial=0.25), {"CPU": 2.0})
    with pytest.raises(TuneSetupError, match="cpus_per_trial=4 but the cluster has 2 CPUs"):
        check_resources(SearchOptions(cpus_per_trial=4), {"CPU": 2.0})
    check_resources(SearchOptions(gpus_per_trial=0.5), {"CPU": 2.0, "GPU": 1.0})
    check_resources(SearchOptions(), {"CPU": 2.0})  # the default asks for GPUs only where there are some
    assert default_gpus_per_trial({"CPU": 2.0}) == 0 and default_gpus_per_trial({"CPU": 8.0, "GPU": 2.0}) == 1


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

    tuned = tmp_path / "tuned" / "HybridDiscrete-ml-100k.yaml"
    assert summary["properties"] == tuned
    config = build_config("HybridDiscrete", "ml-100k", [str(tuned)], {})
    for key in ("learning_rate", "L_short", "L_long", *FIXED):
        assert config[key] == record["config"][key], key

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


def wait_for_checkpoint(tmp_path: Path, index: int, proc: subprocess.Popen, log: Path) -> Path:
    """The trial folder once its Ray checkpoint number ``index`` exists."""
    deadline = time.time() + 240
    while not (found := list((tmp_path / "ray").glob(f"cli/*/checkpoint_{index:06d}"))):
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(1)
    return found[0].parent


def test_crashed_trial_restarts_and_interrupted_search_resumes_from_checkpoints(tmp_path):
    log = tmp_path / "first.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cli_search(tmp_path, "--num_cpus=2", "--scheduler=fifo", "--max_failures=1",
                                           epochs=3), env=ENV, stdout=out, stderr=subprocess.STDOUT, text=True)
        trial_dir = wait_for_checkpoint(tmp_path, 0, proc, log)
        # Crash: kill the trial's worker process (its pid is in Ray's result) after epoch 0; Ray restarts the trial.
        worker = json.loads((trial_dir / "result.json").read_text().splitlines()[-1])["pid"]
        os.kill(worker, signal.SIGKILL)
        wait_for_checkpoint(tmp_path, 1, proc, log)
        proc.send_signal(signal.SIGINT)  # then Ctrl-C: Ray saves the experiment and stops
        proc.wait(timeout=120)
    first = log.read_text()
    assert "resumed from" in first and "after epoch 0" in first, first  # the restarted trial did not redo epoch 0
    assert "search interrupted: continue it with --resume" in first, first
    assert not (tmp_path / "tuned").exists()

    resumed = subprocess.run([*SEARCH, "--resume", "--name=cli", f"--storage_path={tmp_path / 'ray'}",
                              "--num_cpus=2"], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "after epoch 1" in resumed.stdout + resumed.stderr  # continued from the last checkpoint
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 1 and rows[0]["status"] == "OK" and rows[0]["epochs"] == "3"
    record = json.loads((trial_dir / "run.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == [0, 1, 2]
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
