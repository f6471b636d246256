"""One run, end to end: config, checked data, RecBole's split, model, training, test, run record."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from recbole.data import create_dataset, data_preparation

from recbole_hybrid.data.atomic import check_dataset_files, fetch_dataset
from recbole_hybrid.data.lists import drop_unread_lists
from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.trainer.modes import AUTO_KEYS
from recbole_hybrid.trainer.positions import supports_sequence_mode
from recbole_hybrid.utils.errors import RunMismatchError
from recbole_hybrid.metrics import CUTOFFS, METRICS
from recbole_hybrid.utils.fingerprint import IMPLIED_WHEN_MISSING, describe, differences, run_settings, settings_hash
from recbole_hybrid.utils.records import (device_name, load_checkpoint, plain, plain_config, save_ranks, versions,
                                    write_json)
from recbole_hybrid.utils.runlock import run_lock
from recbole_hybrid.trainer.trainer import fit_and_test
from recbole_hybrid.utils.progress_display import echo, phase, progress_enabled

INVOCATION = "invocation.json"  # in each run folder: what resume_run needs to rebuild the run, and its fingerprint
RUN_FILES = (INVOCATION, "best.pth", "last.pth")  # what a run folder holds

warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\..*")


def default_run_id(config) -> str:
    """``<Model>-<dataset>-seed<seed>-<UTC time>``: unique per run started in a different second."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    return f"{config['model']}-{config['dataset']}-seed{config['seed']}-{stamp}"


def ensure_writable(key: str, folder: str | Path) -> None:
    """Create ``folder`` and write a probe file there, so that an unusable output folder stops the run early."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"{key} {folder}: cannot write there ({err.strerror or err})") from None


def load_data(config):
    """Check the atomic files (with ``allow_download``, a missing dataset folder is downloaded first:
    ``fetch_dataset``, one line when it fails), then build RecBole's dataset and its train / valid / test loaders."""
    if config["dataset"] != "ml-100k":
        if config["allow_download"]:
            fetch_dataset(config)
        check_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    with phase(progress_enabled(config), "data", f"loading {config['dataset']} from {config['data_path']} "
               f"(RecBole's filters, sequences and split)"):
        dataset = create_dataset(config)
        splits = data_preparation(config, dataset)
        if supports_sequence_mode(resolve_model(config["model"])):  # they read the item list only
            drop_unread_lists(dataset, splits)
    return dataset, *splits


def resolved_settings(config, config_files: list[str] | None, overrides: dict[str, Any] | None, run_dir: Path,
                      record: Path) -> str:
    """One line for the person who started the run: every setting given in ``config_files`` or on the command line
    as the run resolved it (so a yaml file that did not take effect shows), and where the run writes."""
    keys = list(overrides or {})
    for path in config_files or []:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        keys += [k for k in loaded if k not in keys] if isinstance(loaded, dict) else []
    given = ", ".join(f"{k}={plain(config[k])!r}" for k in keys) or "none (the property files' defaults)"
    return f"settings given: {given}; run folder {run_dir}; record {record}"


def run_experiment(model: str | type, dataset: str, config_files: list[str] | None = None,
                   overrides: dict[str, Any] | None = None, run_id: str | None = None,
                   log=echo, on_epoch=None, resume: bool = False, test: bool = True,
                   label: str | None = None) -> dict[str, Any]:
    """Train, select on validation, test once, write ``<results_dir>/<run_id>.json``; return the record.

    ``label`` names the run in the analysis (default: the model's name; a control such as
    ``HybridDiscrete-nograph`` differs from its model by a setting). ``test=False`` never evaluates the test split
    (its record holds ``"test": None``): hyper-parameter search trials select on validation only.

    Checkpoints go to the run folder ``<checkpoint_dir>/<run_id>/``, whose ``invocation.json`` records how the run
    was started and its fingerprint (``fingerprint.run_settings``). With ``resume`` (and the same ``run_id``)
    training continues from its ``last.pth``, but only with the settings the folder records: any defining key that
    differs is refused (``RunMismatchError``) before anything is loaded or written. ``resume_run`` resumes from the
    folder alone. A start that fails before its first epoch finishes leaves no run folder behind. One process at a
    time trains a run folder: while one holds its lock (``runlock``), another is refused (``RunInUseError``).
    """
    started = time.perf_counter()
    config = build_config(model, dataset, config_files, overrides)
    run_id = run_id or default_run_id(config)
    run_dir = Path(config["checkpoint_dir"]) / run_id
    settings = run_settings(config)
    ensure_writable("checkpoint_dir", run_dir.parent)  # the run folder itself appears once the run can start
    results_dir = Path(config["results_dir"])
    with run_lock(run_dir):  # one process per run folder (RunInUseError otherwise)
        if resume:
            check_same_run(run_dir, settings)
        elif (run_dir / "last.pth").is_file():
            raise RunMismatchError(f"run folder {run_dir} already holds a run: resume it (run --resume={run_dir}), "
                                   f"or start this one under another run id (or delete that folder)")
        ensure_writable("results_dir", results_dir)
        invocation = {"model": config["model"], "dataset": dataset, "run_id": run_id,
                      "config_files": [str(Path(f).resolve()) for f in config_files or []],
                      "overrides": plain(overrides or {}),
                      "fingerprint": {"sha256": settings_hash(settings), "settings": settings}}

        log(resolved_settings(config, config_files, overrides, run_dir, results_dir / f"{run_id}.json"))
        data, train_data, valid_data, test_data = load_data(config)
        log(f"{config['model']} on {config['dataset']}: {data.user_num - 1} users, {data.item_num - 1} items, "
            f"{data.inter_num} interactions; device {config['device']}; train_mode {config['train_mode']}, "
            f"{config['train_batch_size']} {'windows' if config['train_mode'] == 'sequence' else 'rows'} per step")
        init_seed(config["seed"], config["reproducibility"])
        model_cls = resolve_model(model)
        net = model_cls(config, train_data.dataset).to(config["device"])
        created = not run_dir.exists()
        write_json(run_dir / INVOCATION, invocation)  # on resume: the budget (epochs) and paths of this invocation
        try:
            result = fit_and_test(config, net, train_data, valid_data, test_data if test else None, run_dir, log=log,
                                  on_epoch=on_epoch, resume=resume)
        except BaseException:
            if created and not (run_dir / "last.pth").exists():  # nothing to resume: leave no half-written folder
                remove_run_folder(run_dir)
            raise
        ranks = save_ranks(results_dir / f"{run_id}.ranks.npz", **result.pop("evaluations"))

        record = {
            "run_id": run_id,
            "model": config["model"],
            "label": label or config["model"],
            "dataset": config["dataset"],
            "seed": config["seed"],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "device": device_name(config["device"]),
            "versions": versions(),
            "data": {"users": data.user_num - 1, "items": data.item_num - 1, "interactions": data.inter_num},
            **result,
            "checkpoint": str(run_dir / "best.pth"),
            "ranks_file": ranks.name,
            "wall_time_s": time.perf_counter() - started,
            "fingerprint": invocation["fingerprint"]["sha256"],
            "config": plain_config(config),
        }
        path = write_json(results_dir / f"{run_id}.json", record)
        log(format_metrics(record))
        log(f"run record: {path}")
        return record


def recorded_settings(run_dir: Path) -> dict[str, Any]:
    """The fingerprint a run folder records; for folders written before fingerprints, the config in ``last.pth``."""
    path = run_dir / INVOCATION
    if path.is_file():
        fingerprint = json.loads(path.read_text()).get("fingerprint")
        if fingerprint:
            return fingerprint["settings"]
    if (run_dir / "last.pth").is_file():
        return run_settings(load_checkpoint(run_dir / "last.pth")["config"])
    raise FileNotFoundError(f"cannot resume: {run_dir} holds no run ({INVOCATION} and last.pth not found); "
                            f"start the run without resuming")


def check_same_run(run_dir: Path, settings: dict[str, Any]) -> None:
    """Refuse to continue the run in ``run_dir`` with ``settings`` when a defining key differs (one line)."""
    diff = differences(recorded_settings(run_dir), settings)
    if diff:
        raise RunMismatchError(f"run folder {run_dir} was made with other settings ({describe(diff)}): not resumed; "
                               f"resume it with its own settings (run --resume={run_dir}), or start fresh under "
                               f"another run id (or delete that folder)")


def remove_run_folder(run_dir: Path) -> None:
    """Delete the files a run writes into ``run_dir``, then the folder if nothing else is in it."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        pass  # something else lives there: leave it


def resume_run(run_dir: str | Path, log=echo, on_epoch=None, epochs: int | None = None) -> dict[str, Any]:
    """Continue the interrupted run whose checkpoint folder is ``run_dir``, with its original settings.

    ``epochs`` replaces the budget (the one setting a resumed run may change).
    """
    path = Path(run_dir) / INVOCATION
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} not found; --resume takes a run folder <checkpoint_dir>/<run_id>")
    inv = json.loads(path.read_text())
    recorded = {**IMPLIED_WHEN_MISSING, **recorded_settings(Path(run_dir))}
    # keys whose default became auto or changed: the run goes on with the values they had when it started
    pinned = {key: recorded[key] for key in (*AUTO_KEYS, *IMPLIED_WHEN_MISSING) if key in recorded}
    overrides = {**pinned, **inv["overrides"], **({"epochs": epochs} if epochs is not None else {}),
                 # the folder may have moved since: its run lives where it is now
                 "checkpoint_dir": str(Path(run_dir).resolve().parent)}
    return run_experiment(inv["model"], inv["dataset"], inv["config_files"], overrides, run_id=Path(run_dir).name,
                          log=log, on_epoch=on_epoch, resume=True)


def format_metrics(record: dict[str, Any]) -> str:
    """NDCG / HR / MRR at 5, 10, 20 of the best epoch on validation and of the test, as a small table.

    Rows ``fs`` (filter_seen) exclude each user's earlier items from the candidates."""
    names = [f"{'HR' if m == 'hit' else m.upper()}@{k}" for m in METRICS for k in CUTOFFS]
    head = "split    " + "".join(f"{name:<10}" for name in names)
    rows = [head]
    for split, values in (("valid", record["best_valid"]), ("test", record["test"]),
                          ("valid fs", record["best_valid_filter_seen"]), ("test fs", record["test_filter_seen"])):
        rows.append(f"{split:<9}" + "".join(f"{(values or {}).get(f'{m}@{k}', float('nan')):<10.4f}"
                                             for m in METRICS for k in CUTOFFS))
    return f"{record['model']} (best epoch {record['best_epoch']})\n" + "\n".join(rows)
