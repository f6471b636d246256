"""What a search leaves behind: a CSV of all trials, their curves, the best configuration as a property file, a plot.

``trials.csv`` and ``curves.csv`` are rewritten each time a trial ends (``TrialsLog``), so that a study's finished
trials are on disk (and can be committed) as they land, and a search whose Ray folder is lost can be rebuilt from
them (``--rebuild_from``).
"""

from __future__ import annotations

import csv
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from ray.tune import Callback

from recbole_hybrid.utils.records import plain
from recbole_hybrid.utils.trials import UNFINISHED
from recbole_hybrid.tuning.trial import METRIC


#: Where each trial ran (``trial.placement``, from its last report): columns of the trials CSV.
PLACEMENT = ("node_id", "gpu_ids")
#: The trials CSV's columns that are not the trial's sampled config. ``ended``: the trial's place in the order in
#: which the search's trials ended (1 = first; the CSV itself is sorted by score), what a study's best-so-far curve
#: follows (``analysis/study.py``).
ROW_COLUMNS = ("trial_id", "status", METRIC, "best_epoch", "epochs", "time_s", "ended", *PLACEMENT)


def trial_row(trial_id: str, error: bool, config: dict[str, Any], history: list[tuple[int, float]],
              last: dict[str, Any], status: str | None = None, ended: int | None = None) -> dict[str, Any]:
    """A trials CSV row: id, status, sampled config, best ``METRIC`` (the first epoch that reached it), epochs
    trained, time, its place in the order trials ended (None while it has not), where it ran (node, GPUs), and
    ``history`` (``(epoch, METRIC)`` pairs, not written to the CSV)."""
    scored = [(int(epoch), float(value)) for epoch, value in history if value is not None and not math.isnan(value)]
    top = max(scored, key=lambda point: point[1]) if scored else None  # max keeps the first of equal values
    return {
        "trial_id": trial_id,
        "status": status or ("ERROR" if error else "OK"),
        **{key: plain(value) for key, value in (config or {}).items()},
        METRIC: None if top is None else top[1],
        "best_epoch": None if top is None else top[0],
        "epochs": int(last.get("epoch", 0)),
        "time_s": float(last.get("time_total_s", 0.0)),
        "ended": ended,
        **{key: last.get(key) for key in PLACEMENT},
        "history": scored,
    }


def trial_rows(results, unfinished: set[str] = frozenset(), ended: dict[str, int] | None = None
               ) -> list[dict[str, Any]]:
    """One ``trial_row`` per trial of a Ray ``ResultGrid``; trials in ``unfinished`` get status ``UNFINISHED``, the
    others their place in the order trials ended from ``ended`` (``ended_order``: the ``TrialsLog``'s CSV).

    Ray's own tables give the numbers: ``Result.metrics_dataframe`` each trial's curve (its best ``METRIC`` and
    epoch), ``get_dataframe()`` its last report. A trial that failed before its first report has a row with empty
    metrics.
    """
    last = _by_trial(results.get_dataframe())
    rows = []
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id") or Path(str(result.path)).name
        history = result.metrics_dataframe
        has_curve = history is not None and METRIC in history and "epoch" in history
        done = trial_id not in unfinished
        rows.append(trial_row(trial_id, bool(result.error), result.config,
                              [] if not has_curve else list(zip(history["epoch"], history[METRIC])),
                              last.get(trial_id, {}), None if done else UNFINISHED,
                              (ended or {}).get(trial_id) if done else None))
    return rows


def ended_order(rows: list[dict[str, Any]]) -> dict[str, int]:
    """``{trial_id: place in the order trials ended}`` of rows that have one (typed, or as text read back)."""
    return {row["trial_id"]: int(row["ended"]) for row in rows if row.get("ended") not in (None, "")}


def _by_trial(frame) -> dict[str, dict[str, Any]]:
    """A ``ResultGrid`` dataframe as ``{trial_id: row}``, without rows whose ``METRIC`` is missing or NaN."""
    if frame is None or METRIC not in frame:
        return {}
    return {row["trial_id"]: row for row in frame[frame[METRIC].notna()].to_dict("records")}


def _score(row: dict[str, Any]) -> float:
    """A row's best ``METRIC``, typed or as read back from the CSV; -1 where it never validated."""
    value = row.get(METRIC)
    return -1.0 if value is None or value == "" else float(value)


def _replace(path: Path, write) -> Path:
    """Write through a temporary file beside ``path``, then rename: a reader (or a commit) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        write(f)
    os.replace(tmp, path)
    return path


def write_trials_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """All trials, best validation NDCG@10 first (trials that never validated last). Rows read back from a CSV
    (``read_trials_csv``: text) are written as they were read."""
    columns = list(dict.fromkeys(k for row in rows for k in row if k != "history"))
    ordered = sorted(rows, key=_score, reverse=True)

    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in ordered:
            writer.writerow({k: row.get(k) for k in columns})
    return _replace(Path(path), write)


def read_trials_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a trials CSV as text, as ``csv.DictReader`` gives them."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def write_curves_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Every row's ``history`` as ``trial_id, epoch, METRIC`` lines (the curves of ``plot_curves``, as text)."""
    def write(f) -> None:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "epoch", METRIC])
        for row in rows:
            for epoch, value in row.get("history") or []:
                writer.writerow([row["trial_id"], int(epoch), float(value)])
    return _replace(Path(path), write)


def read_curves_csv(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{trial_id: [(epoch, METRIC), ...]}`` of a curves CSV (``write_curves_csv``); empty where there is none."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if not Path(path).is_file():
        return curves
    with Path(path).open(newline="") as f:
        for line in csv.DictReader(f):
            curves.setdefault(line["trial_id"], []).append((int(line["epoch"]), float(line[METRIC])))
    return curves


class TrialsLog(Callback):
    """Rewrites ``<out_dir>/trials.csv`` and ``curves.csv`` each time a trial ends, with every trial that has ended
    so far (and ``kept``, the rows of a search rebuilt from its CSV), so that they can be committed as they land.

    Its state (each trial's curve, the rows written) travels in Ray's experiment checkpoints: after ``--resume`` the
    files keep the trials that ended before the interruption.
    """

    def __init__(self, out_dir: str | Path, kept: list[dict[str, Any]] = ()) -> None:
        self.out_dir, self.kept = str(out_dir), list(kept)
        self.curves: dict[str, dict[int, float]] = {}
        self.rows: dict[str, dict[str, Any]] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if METRIC in result and "epoch" in result:  # a restarted trial reports its epochs again: the last one counts
            self.curves.setdefault(trial.trial_id, {})[int(result["epoch"])] = float(result[METRIC])

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ended(trial, error=False)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ended(trial, error=True)

    def _ended(self, trial, error: bool) -> None:
        history = sorted(self.curves.get(trial.trial_id, {}).items())
        before = self.rows.get(trial.trial_id)
        if before is not None and before.get("ended") is not None:  # a trial that ends again keeps its place
            place = before["ended"]
        else:  # after every trial that ended before it, numbered or not (rows of a CSV from before the column)
            others = [*self.kept, *(r for key, r in self.rows.items() if key != trial.trial_id)]
            place = 1 + max([len(others), *ended_order(others).values()])
        self.rows[trial.trial_id] = trial_row(trial.trial_id, error, trial.config, history,
                                              trial.last_result or {}, ended=place)
        rows = [*self.kept, *self.rows.values()]
        write_trials_csv(rows, Path(self.out_dir) / "trials.csv")
        write_curves_csv(rows, Path(self.out_dir) / "curves.csv")

    def get_state(self) -> dict[str, Any]:
        return {"curves": self.curves, "rows": self.rows}

    def set_state(self, state: dict[str, Any]) -> None:
        self.curves, self.rows = state["curves"], state["rows"]


def best_row(results, rows: list[dict[str, Any]], kept: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The row of Ray's best trial: ``ResultGrid.get_best_result`` on each trial's best ``METRIC`` (scope ``all``);
    or a row of ``kept`` (trials of a rebuilt search, not in ``results``) where one scored higher."""
    scored_kept = [r for r in kept if _score(r) >= 0]
    if not any(r[METRIC] is not None for r in rows) and not scored_kept:
        raise RuntimeError("no trial reported a validation NDCG@10: nothing to export (see the trials' errors)")
    best = None
    if any(r[METRIC] is not None for r in rows):
        found = results.get_best_result(metric=METRIC, mode="max", scope="all")
        best = next(r for r in rows if r["trial_id"] == found.metrics["trial_id"])
    top_kept = max(scored_kept, key=_score, default=None)
    if top_kept is not None and (best is None or _score(top_kept) > _score(best)):
        return top_kept
    return best


def write_tuned_properties(path: str | Path, fixed: dict[str, Any], params: dict[str, Any],
                           about: dict[str, Any]) -> Path:
    """The best configuration as a RecBole property file, usable with ``run.py --config_files=<path>``.

    It holds the search's fixed settings and the trial's sampled values, not paths (output folders belong to the
    machine that runs it) nor ``tuned_defaults`` (which property files the trials read). ``about`` (model, dataset, trial, score, experiment) goes into the header comment.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: plain(v) for k, v in fixed.items() if k not in ("data_path", "checkpoint_dir", "results_dir",
                                                                     "graph_cache_dir", "tuned_defaults")}
    settings.update({k: plain(v) for k, v in params.items()})
    header = [f"# Best configuration of a Ray Tune search ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC).",
              *(f"# {key}: {value}" for key, value in about.items()),
              "# Selected on validation NDCG@10 only. Use: python run.py "
              f"--model={about.get('model', '...')} --dataset={about.get('dataset', '...')} --config_files={path}"]
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump(settings, sort_keys=True, default_flow_style=False))
    return path


def plot_curves(rows: list[dict[str, Any]], best_id: str, path: str | Path, title: str) -> Path:
    """Validation NDCG@10 (``METRIC``) per epoch of every trial; the trial ``best_id`` drawn thicker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        if row["history"]:
            epochs, values = zip(*row["history"])
            best = row["trial_id"] == best_id
            ax.plot(epochs, values, marker="o", markersize=3, linewidth=2.5 if best else 1,
                    alpha=1 if best else 0.6, label=f"{row['trial_id']} (best)" if best else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
