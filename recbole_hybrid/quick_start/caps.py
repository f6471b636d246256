"""Add the history-capped tests (``history_caps``) to existing run records, from their saved best models.

    recbole-hybrid experiments caps RECORD.json [RECORD.json ...] [--caps=1,2,3,5,10,20,50]
                                    [--checkpoint_dir=DIR] [--data_path=DIR] [--retrained]

No retraining: each record's split is rebuilt from its recorded config, its best model (``best.pth``: the recorded
path, or ``<checkpoint_dir>/<run_id>/best.pth``) is loaded, and the uncapped test is evaluated again first. Only a
model that gives back the record's test ranks user for user is taken as the record's own; any other is refused,
naming the file, before anything is written; with ``--retrained`` (a run retrained with the same code, seed and
settings on another CPU, whose float sums differ in the last bits) ranks may differ by at most 1 for at most
``RETRAINED_SHARE`` of the users, and the record states how many did. Then the test runs once per cap, and the
record gains
``history_caps`` (with ``added``: when, by which command, commit and machine) and its ranks file the
``test_cap<k>_*`` arrays. Checkpoints are never committed, so this works where the run's folder still is (or
after retraining the run with the same code, seed and settings, which gives back the same model on one machine).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import config_from_saved, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.utils.fingerprint import describe, differences, run_settings
from recbole_hybrid.data.history_caps import CAPS_KEY, DEFAULT_CAPS
from recbole_hybrid.utils.records import cap_rank_arrays
from recbole_hybrid.utils.records import device_name, load_checkpoint, load_ranks, versions, write_json, write_ranks
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.analysis.runs import AnalysisError, load_run
from recbole_hybrid.trainer.trainer import test_history_caps

#: ``--retrained``: the largest share of test users whose rank may differ (by at most 1) from the record's.
RETRAINED_SHARE = 0.01


def checkpoint_of(record: dict, checkpoint_dir: str | Path | None) -> Path:
    """The best model of ``record``: ``<checkpoint_dir>/<run_id>/best.pth``, or the path the record names."""
    if checkpoint_dir is not None:
        return Path(checkpoint_dir) / record["run_id"] / "best.pth"
    return Path(record["checkpoint"])


def add_history_caps(records: list[str | Path], caps: list[int] = list(DEFAULT_CAPS),
                     checkpoint_dir: str | Path | None = None, data_path: str | Path | None = None,
                     command: list[str] | None = None, log: Callable[[str], None] = print,
                     retrained: bool = False) -> list[Path]:
    """Add the capped tests at ``caps`` to each record and its ranks file; return the records changed.

    ``AnalysisError`` (one line, naming the file) for a record whose best model is missing, was saved with other
    settings, or does not give back the record's test ranks; that record and the ones after it are left as they
    were. A record's earlier ``history_caps`` and cap arrays are replaced by the new ones. ``retrained``: accept a
    model whose test ranks differ from the record's by at most 1 for at most ``RETRAINED_SHARE`` of the users (the
    same run retrained on another machine); ``added.rank_differences`` says how many differed.
    """
    command = command or [Path(sys.argv[0]).name, *sys.argv[1:]]
    changed = []
    for path in map(Path, records):
        run = load_run(path)
        record = run.record
        checkpoint = checkpoint_of(record, checkpoint_dir)
        if not checkpoint.is_file():
            raise AnalysisError(f"{path}: its best model {checkpoint} is not here (checkpoints are never "
                                f"committed): give --checkpoint_dir=DIR holding <run_id>/best.pth, or retrain it")
        saved = load_checkpoint(checkpoint)
        diff = differences(run_settings(saved["config"]), run_settings(record["config"]))
        if diff:
            raise AnalysisError(f"{path}: {checkpoint} was saved by a run with other settings ({describe(diff)})")
        # the graph is rebuilt in memory: the recorded cache folder may be another machine's
        config = config_from_saved({**record["config"], CAPS_KEY: list(caps), "graph_cache_dir": ""}, data_path)
        started = time.perf_counter()
        _, train_data, valid_data, test_data = load_data(config)
        init_seed(config["seed"], config["reproducibility"])
        model = resolve_model(config["model"])(config, train_data.dataset).to(config["device"])
        model.load_state_dict(saved["state_dict"])
        seen = SeenItems.from_datasets([train_data.dataset, valid_data._dataset], test_data._dataset)
        test = evaluate(model, test_data, seen, config["device"], config["fused_layers"])
        rank_differences = _check_same_test(path, checkpoint, run.ranks, test, retrained)
        capped = test_history_caps(model, test_data, seen, config)  # the caps a run computes, the same way
        summary = capped["summary"]
        summary["added"] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
                            "git_commit": versions()["git_commit"], "device": device_name(config["device"]),
                            "checkpoint": str(checkpoint), "rank_differences": rank_differences,
                            "wall_time_s": time.perf_counter() - started}
        ranks_path = path.with_name(record.get("ranks_file") or f"{path.stem}.ranks.npz")
        arrays = {k: v for k, v in load_ranks(ranks_path).items() if not k.startswith("test_cap")}
        arrays.update(cap_rank_arrays(capped["evaluations"], test.user_id))
        write_ranks(ranks_path, arrays)
        write_json(path, {**record, "history_caps": summary})
        changed.append(path)
        log(f"{path.name}: caps {', '.join(map(str, caps))} added ({summary['time_s']:.1f} s for the capped tests)")
    return changed


def _check_same_test(path: Path, checkpoint: Path, ranks: dict[str, np.ndarray], test,
                     retrained: bool = False) -> dict[str, int]:
    """Refuse a model whose uncapped test differs from the record's saved ranks (another model or dataset); with
    ``retrained``, allow differences of 1 for at most ``RETRAINED_SHARE`` of the users. Returns, per rank key, how
    many users' ranks differ."""
    if not np.array_equal(ranks["test_user_id"], test.user_id):
        raise AnalysisError(f"{path}: the rebuilt test split has other users than its ranks file (another "
                            f"dataset? give --data_path)")
    counts = {}
    for key in ("rank", "rank_filter_seen"):
        gap = np.abs(ranks[f"test_{key}"] - getattr(test, key))
        counts[f"test_{key}"] = differ = int((gap > 0).sum())
        close = retrained and gap.max(initial=0) <= 1 and differ <= RETRAINED_SHARE * len(gap)
        if differ and not close:
            hint = "" if retrained or gap.max(initial=0) > 1 or differ > RETRAINED_SHARE * len(gap) else \
                " (each by 1: the same run retrained on another CPU? then add --retrained)"
            raise AnalysisError(f"{path}: {checkpoint} does not give back the record's test ranks ({differ} of "
                                f"{len(gap)} users' test_{key} differ, by up to {int(gap.max())}): it is not this "
                                f"run's best model{hint}")
    return counts
