"""Resume after a SIGKILL mid-epoch, and determinism: same seed, same numbers, on CPU.

One uninterrupted 3-epoch run (subprocess ``run.py``) is the reference; a second run is killed while its epoch 1
trains, then ``run.py --resume=RUN_DIR`` finishes it; a third, in-process, run checks determinism.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.utils.errors import RunMismatchError
from recbole_hybrid.utils.records import load_checkpoint
from recbole_hybrid.utils.runlock import lock_path
from recbole_hybrid.quick_start.runner import resume_run, run_experiment

EPOCHS = 3
SETTINGS = {**TINY, "epochs": EPOCHS, "seed": 7}
#: Per training mode: prefix rows (fast trainer) and user windows (small batches, so an epoch lasts seconds).
MODES = {"prefix": {"train_mode": "prefix"}, "sequence": {"train_mode": "sequence", "train_batch_size": 16}}


@pytest.fixture(scope="module", params=sorted(MODES))
def mode(request) -> str:
    return request.param


def settings(mode: str) -> dict:
    return {**SETTINGS, **MODES[mode]}


def flags(out: Path, mode: str) -> list[str]:
    return ["--model=HybridDiscrete", "--dataset=ml-100k", *(f"--{k}={v}" for k, v in settings(mode).items()),
            f"--results_dir={out / 'runs'}", f"--checkpoint_dir={out / 'saved'}",
            f"--graph_cache_dir={out / 'graph'}"]


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    return output


def only_record(out: Path) -> dict:
    (path,) = (out / "runs").glob("*.json")
    return json.loads(path.read_text())


def comparable(record: dict) -> dict:
    """What must not change between runs of one seed: losses, validation per epoch, best epoch, test."""
    return {"epochs": [(e["epoch"], e["train_loss"], e.get("valid")) for e in record["epochs"]],
            "best_epoch": record["best_epoch"], "best_valid": record["best_valid"], "test": record["test"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mode) -> dict:
    out = tmp_path_factory.mktemp(f"uninterrupted-{mode}")
    finish(start(flags(out, mode)))
    return only_record(out)


def test_resume_after_sigkill_mid_epoch_ends_with_the_same_numbers(tmp_path, reference, mode):
    proc = start(flags(tmp_path, mode))
    for line in proc.stdout:  # run.py prints "epoch   0 ..." after epoch 0's last.pth is written
        if line.startswith("epoch   0"):
            break
    else:
        pytest.fail(f"run ended before epoch 0 finished (exit {proc.wait()})")
    time.sleep(0.2)  # inside epoch 1: short, so that a fast machine has not finished it yet
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (run_dir,) = [p for p in (tmp_path / "saved").iterdir() if p.is_dir()]
    assert load_checkpoint(run_dir / "last.pth")["epoch"] == 0, "killed too late: epoch 1 had finished"
    assert not list((tmp_path / "runs").glob("*.json"))
    assert lock_path(run_dir).is_file()  # the killed process could not remove its lock

    output = finish(start([f"--resume={run_dir}"]))
    assert "resumed from" in output and "after epoch 0" in output
    assert not lock_path(run_dir).exists()  # taken over from the dead process, released at the end
    resumed = only_record(tmp_path)
    assert len(resumed["epochs"]) == EPOCHS
    assert comparable(resumed) == comparable(reference)
    assert resumed["trainer"] == ("sequence" if mode == "sequence" else "fast")
    # each start that trained is on record with its machine: the first from epoch 0, the resume from epoch 1
    assert [s["first_epoch"] for s in resumed["sessions"]] == [0, 1]
    assert [s["first_epoch"] for s in reference["sessions"]] == [0]
    assert all(s["device"] == reference["device"] for s in resumed["sessions"])


def test_same_seed_same_numbers(tmp_path, reference, mode):
    overrides = {**settings(mode), "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                 "graph_cache_dir": str(tmp_path / "graph")}
    again = run_experiment("HybridDiscrete", "ml-100k", [], overrides, log=lambda *_: None)
    assert comparable(again) == comparable(reference)


def test_resume_of_a_folder_without_invocation_names_it(tmp_path):
    proc = start([f"--resume={tmp_path}"])
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"{tmp_path / 'invocation.json'} not found" in output


def test_resume_after_early_stop_trains_no_further(tmp_path):
    """``last.pth`` keeps the early-stopping decision: resuming a stopped run adds no epoch."""
    overrides = {**settings("sequence"), "epochs": 30, "stopping_step": 0, "learning_rate": 0.05,
                 "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                 "graph_cache_dir": str(tmp_path / "graph")}
    first = run_experiment("HybridFixed", "ml-100k", [], overrides, run_id="stops", log=lambda *_: None)
    assert len(first["epochs"]) < 30, "the run did not stop early; the test needs it to"
    lines = []
    again = run_experiment("HybridFixed", "ml-100k", [], overrides, run_id="stops", log=lines.append, resume=True)
    assert any("(it had stopped early)" in line for line in lines)
    assert len(again["epochs"]) == len(first["epochs"])
    assert again["sessions"] == first["sessions"] and len(first["sessions"]) == 1  # a resume that trains nothing
    assert comparable(again) == comparable(first)


def test_a_folder_from_before_auto_resumes_with_its_mode_and_batch(tmp_path):
    """A run started on the old defaults (prefix rows, 2048 per step; its record older than ``train_mode``) goes on
    as it began under ``--resume``, and continuing it under today's defaults is refused, naming ``train_mode``."""
    overrides = {**settings("prefix"), "epochs": 1, "user_inter_num_interval": "[5,20]",
                 "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                 "graph_cache_dir": str(tmp_path / "graph")}
    run_experiment("HybridFixed", "ml-100k", [], overrides, run_id="old", log=lambda *_: None)
    path = tmp_path / "saved" / "old" / "invocation.json"
    invocation = json.loads(path.read_text())
    for key in ("train_mode", "train_batch_size"):  # what the old code recorded: no mode, the batch on its default
        del invocation["overrides"][key]
    del invocation["fingerprint"]["settings"]["train_mode"]
    path.write_text(json.dumps(invocation))
    today = {key: value for key, value in overrides.items() if key not in ("train_mode", "train_batch_size")}
    with pytest.raises(RunMismatchError, match="train_mode 'prefix' -> 'sequence'"):
        run_experiment("HybridFixed", "ml-100k", [], today, run_id="old", log=lambda *_: None, resume=True)
    resumed = resume_run(tmp_path / "saved" / "old", log=lambda *_: None, epochs=2)
    assert (resumed["config"]["train_mode"], resumed["config"]["train_batch_size"]) == ("prefix", 2048)
    assert resumed["trainer"] == "fast" and len(resumed["epochs"]) == 2
