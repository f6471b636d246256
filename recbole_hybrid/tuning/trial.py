"""One Ray Tune trial: a ``run_experiment`` that reports validation NDCG@10 per epoch and checkpoints its run folder.

Everything here runs inside a Ray worker: another process, another working directory, maybe another machine. So the
trial imports ``recbole_hybrid`` first (numpy aliases), gets absolute paths only, hides ``sys.argv`` from RecBole,
trains on the GPUs that Ray assigned (or on CPU where that GPU id is not a CUDA device), and never evaluates the test
split.

Where a trial's files go: its run record (``run.json``, per-user ranks) is written to the trial's working directory,
which Ray uploads to ``<storage_path>/<name>/<trial>/`` (``SyncConfig(sync_artifacts=True)``), from any node; its
run folder (``last.pth``, ``best.pth``) lives in a local temporary folder and travels in the trial's Ray checkpoints,
from which a restarted trial continues.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

# Importing any module of the package runs its face first: numpy 2 aliases and the models' registration with
# RecBole in this worker, before any RecBole Config.
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.quick_start.runner import INVOCATION, run_experiment
from recbole_hybrid.trainer.trainer import VALID_METRIC

#: The validation NDCG@10 the run selects on (without each user's seen items when ``filter_seen``), this epoch.
METRIC = f"valid_{VALID_METRIC}"
#: The trial's best ``METRIC`` so far: the score of the model it keeps (``best.pth``); trials are ranked on it.
BEST_METRIC = f"best_{METRIC}"
#: Candidate sets that every report carries both of, as ``<set>/valid_<metric>`` (the analysis' names).
CANDIDATES = {"all_items": "valid", "seen_excluded": "valid_filter_seen"}
RUN_ID = "run"  # each trial's run folder is <local run root>/run
RUN_FILES = ("last.pth", "best.pth", INVOCATION)  # what a trial's Ray checkpoint carries
PROGRESS = "progress.json"  # in each checkpoint: the best score so far, for a restarted trial's reports


def trial_device() -> dict[str, Any]:
    """RecBole's ``gpu_id`` / ``use_gpu`` for the GPUs Ray gave this trial.

    Ray sets ``CUDA_VISIBLE_DEVICES`` of the trial's process to its GPU ids; RecBole's ``Config`` writes ``gpu_id``
    into ``CUDA_VISIBLE_DEVICES``, so ``gpu_id`` is that same value and Ray's assignment stands. A trial without
    GPUs gets ``""`` (it runs on CPU and sees no GPU). RecBole picks ``cuda`` only where CUDA is available: a GPU
    id that the machine does not have (Ray started with declared GPUs on a CPU machine) trains on CPU.
    """
    ids = ray.get_gpu_ids()
    if not ids:
        return {"gpu_id": "", "use_gpu": False}
    return {"gpu_id": os.environ.get("CUDA_VISIBLE_DEVICES") or ",".join(str(i) for i in ids), "use_gpu": True}


def pack_run(run_dir: Path, into: Path, best: float) -> None:
    """Copy the files that let ``run_experiment(resume=True)`` continue a run into a checkpoint folder."""
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, into / name)
    (into / PROGRESS).write_text(json.dumps({BEST_METRIC: best}))


def unpack_run(checkpoint: tune.Checkpoint, run_dir: Path) -> float:
    """Restore a run folder from a trial checkpoint written by ``pack_run``; return the best score so far."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as folder:
        for name in RUN_FILES:
            if (Path(folder) / name).is_file():
                shutil.copy2(Path(folder) / name, run_dir / name)
        progress = Path(folder) / PROGRESS
        return json.loads(progress.read_text())[BEST_METRIC] if progress.is_file() else -math.inf


class EpochReporter:
    """Turns the trainer's epoch entries into Ray Tune results.

    Each validated epoch gives ``epoch`` (epochs trained, 1-based: ASHA's time whatever ``eval_step`` is),
    ``train_loss``, ``valid_<metric>`` on the candidate set the run selects on (``filter_seen``), the same metrics
    on both sets as ``all_items/valid_<metric>`` and ``seen_excluded/valid_<metric>``, and ``BEST_METRIC``, the best
    ``METRIC`` so far (restored with a restarted trial's checkpoint): the value Optuna learns from.
    """

    def __init__(self, filter_seen: bool, best: float = -math.inf) -> None:
        self.selected = CANDIDATES["seen_excluded" if filter_seen else "all_items"]
        self.best = best

    def __call__(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The result of one epoch entry; ``None`` for an epoch without validation."""
        if "valid" not in entry:
            return None
        selected = entry[self.selected]
        if selected[VALID_METRIC] > self.best:  # as the trainer's early stopping: strictly better
            self.best = selected[VALID_METRIC]
        return {"epoch": entry["epoch"] + 1, "train_loss": entry["train_loss"],
                **{f"valid_{name}": value for name, value in selected.items()}, BEST_METRIC: self.best,
                **{f"{group}/valid_{name}": value for group, key in CANDIDATES.items()
                   for name, value in entry[key].items()}}


def placement() -> dict[str, Any]:
    """Where this trial runs: Ray's node id and GPU ids, and the ``CUDA_VISIBLE_DEVICES`` its process sees."""
    return {"node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": ",".join(str(i) for i in ray.get_gpu_ids()),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


def train_trial(params: dict[str, Any], spec: dict[str, Any]) -> None:
    """Ray Tune function trainable: train ``spec["model"]`` with ``spec["fixed"]`` and the sampled ``params``.

    ``spec`` holds ``model``, ``dataset``, ``config_files`` (absolute), ``fixed`` (the settings shared by all
    trials, paths absolute) and ``filter_seen``. Each validated epoch is reported with a checkpoint of the run
    folder, so a restarted trial (``max_failures``, ``--resume``) continues from its last reported epoch. Every
    report also says where the trial ran (``placement``), after RecBole's ``Config`` has seen the environment.
    """
    # Ray makes the trial's working directory its cwd (RAY_CHDIR_TO_TRIAL_DIR, on by default) and uploads it.
    artifacts = Path.cwd()
    run_root = Path(tempfile.mkdtemp(prefix="trial-run-"))
    run_dir = run_root / RUN_ID
    overrides = {**spec["fixed"], **params, **trial_device(),
                 "checkpoint_dir": str(run_root), "results_dir": str(artifacts)}
    checkpoint = tune.get_checkpoint()
    reporter = EpochReporter(spec.get("filter_seen", False))
    if checkpoint is not None:
        reporter.best = unpack_run(checkpoint, run_dir)

    def report(entry: dict[str, Any]) -> None:
        result = reporter(entry)
        if result is None:
            return
        with tempfile.TemporaryDirectory() as folder:
            pack_run(run_dir, Path(folder), reporter.best)
            tune.report({**result, **placement()}, checkpoint=tune.Checkpoint.from_directory(folder))

    try:
        with bare_argv():
            run_experiment(spec["model"], spec["dataset"], spec["config_files"], overrides, run_id=RUN_ID,
                           on_epoch=report, resume=checkpoint is not None, test=False)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
