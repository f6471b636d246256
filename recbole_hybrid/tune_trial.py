"""One Ray Tune trial: a ``run_experiment`` that reports validation NDCG@10 per epoch and checkpoints its run folder.

Everything here runs inside a Ray worker: another process, another working directory (a temporary folder), maybe
another machine. So the trial imports ``recbole_hybrid`` first (numpy aliases), gets absolute paths only, hides
``sys.argv`` from RecBole, trains on the GPU that Ray assigned, and never evaluates the test split.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

import recbole_hybrid  # noqa: F401  (numpy 2 aliases in this worker, before any RecBole Config)
from recbole_hybrid.compat import bare_argv
from recbole_hybrid.runner import INVOCATION, run_experiment
from recbole_hybrid.trainer import VALID_METRIC

METRIC = f"valid_{VALID_METRIC}"  # the metric Ray optimises: validation NDCG@10
RUN_ID = "run"  # each trial's run folder is <trial dir>/run
RUN_FILES = ("last.pth", "best.pth", INVOCATION)  # what a trial's Ray checkpoint carries


def trial_device() -> dict[str, Any]:
    """RecBole's ``gpu_id`` / ``use_gpu`` for the GPUs Ray gave this trial.

    RecBole's ``Config`` writes ``gpu_id`` into ``CUDA_VISIBLE_DEVICES``; passing back the value Ray set keeps Ray's
    assignment (a trial without GPUs gets ``""``, so it runs on CPU and sees no GPU).
    """
    if not ray.get_gpu_ids():
        return {"gpu_id": "", "use_gpu": False}
    return {"gpu_id": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "use_gpu": True}


def pack_run(run_dir: Path, into: Path) -> None:
    """Copy the files that let ``run_experiment(resume=True)`` continue a run into a checkpoint folder."""
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, into / name)


def unpack_run(checkpoint: tune.Checkpoint, run_dir: Path) -> None:
    """Restore a run folder from a trial checkpoint written by ``pack_run``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as folder:
        for name in RUN_FILES:
            if (Path(folder) / name).is_file():
                shutil.copy2(Path(folder) / name, run_dir / name)


def epoch_metrics(entry: dict[str, Any]) -> dict[str, Any]:
    """What a trial reports after a validated epoch: ``valid_<metric>`` for every metric, epoch and loss."""
    return {"epoch": entry["epoch"] + 1, "train_loss": entry["train_loss"],
            **{f"valid_{name}": value for name, value in entry["valid"].items()}}


def train_trial(params: dict[str, Any], spec: dict[str, Any]) -> None:
    """Ray Tune function trainable: train ``spec["model"]`` with ``spec["fixed"]`` and the sampled ``params``.

    ``spec`` holds ``model``, ``dataset``, ``config_files`` (absolute) and ``fixed`` (the settings shared by all
    trials, paths absolute). The run folder lives in the trial's own directory; each validated epoch is reported
    with a checkpoint of that folder, so a restarted trial (``max_failures``, ``--resume``) continues from its last
    finished epoch.
    """
    trial_dir = Path(tune.get_context().get_trial_dir()).resolve()
    run_dir = trial_dir / RUN_ID
    overrides = {**spec["fixed"], **params, **trial_device(),
                 "checkpoint_dir": str(trial_dir), "results_dir": str(trial_dir)}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        unpack_run(checkpoint, run_dir)

    def report(entry: dict[str, Any]) -> None:
        if "valid" not in entry:
            return
        with tempfile.TemporaryDirectory() as folder:
            pack_run(run_dir, Path(folder))
            tune.report(epoch_metrics(entry), checkpoint=tune.Checkpoint.from_directory(folder))

    with bare_argv():
        run_experiment(spec["model"], spec["dataset"], spec["config_files"], overrides, run_id=RUN_ID,
                       on_epoch=report, resume=checkpoint is not None, test=False)
