"""What a search leaves behind: a CSV of all trials, the best configuration as a property file, a plot of curves."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from recbole_hybrid.records import plain
from recbole_hybrid.tuning.trial import METRIC


#: Where each trial ran (``trial.placement``, from its last report): columns of the trials CSV.
PLACEMENT = ("node_id", "gpu_ids")


def trial_rows(results) -> list[dict[str, Any]]:
    """One row per trial of a Ray ``ResultGrid``: id, status, sampled config, best ``METRIC`` and its epoch, epochs
    trained, time, where it ran (node, GPUs), and ``history`` (``(epoch, METRIC)`` pairs, not written to the CSV).

    Ray's own tables give the numbers: ``get_dataframe(filter_metric=METRIC, filter_mode="max")`` each trial's best
    report, ``get_dataframe()`` its last, ``Result.metrics_dataframe`` its curve. A trial that failed before its
    first report has a row with empty metrics.
    """
    best = _by_trial(results.get_dataframe(filter_metric=METRIC, filter_mode="max"))
    last = _by_trial(results.get_dataframe())
    rows = []
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id") or Path(str(result.path)).name
        top, end = best.get(trial_id), last.get(trial_id, {})
        history = result.metrics_dataframe
        has_curve = history is not None and METRIC in history
        rows.append({
            "trial_id": trial_id,
            "status": "ERROR" if result.error else "OK",
            **{key: plain(value) for key, value in (result.config or {}).items()},
            METRIC: None if top is None else float(top[METRIC]),
            "best_epoch": None if top is None else int(top["epoch"]),
            "epochs": int(end.get("epoch", 0)),
            "time_s": float(end.get("time_total_s", 0.0)),
            **{key: end.get(key) for key in PLACEMENT},
            "history": [] if not has_curve else list(zip(history["epoch"].astype(int), history[METRIC])),
        })
    return rows


def _by_trial(frame) -> dict[str, dict[str, Any]]:
    """A ``ResultGrid`` dataframe as ``{trial_id: row}``, without rows whose ``METRIC`` is missing or NaN."""
    if frame is None or METRIC not in frame:
        return {}
    return {row["trial_id"]: row for row in frame[frame[METRIC].notna()].to_dict("records")}


def write_trials_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """All trials, best validation NDCG@10 first (trials that never validated last)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row if k != "history"))
    ordered = sorted(rows, key=lambda r: -1.0 if r[METRIC] is None else r[METRIC], reverse=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in ordered:
            writer.writerow({k: row.get(k) for k in columns})
    return path


def best_row(results, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of Ray's best trial: ``ResultGrid.get_best_result`` on each trial's best ``METRIC`` (scope ``all``)."""
    if not any(r[METRIC] is not None for r in rows):
        raise RuntimeError("no trial reported a validation NDCG@10: nothing to export (see the trials' errors)")
    best = results.get_best_result(metric=METRIC, mode="max", scope="all")
    return next(r for r in rows if r["trial_id"] == best.metrics["trial_id"])


def write_tuned_properties(path: str | Path, fixed: dict[str, Any], params: dict[str, Any],
                           about: dict[str, Any]) -> Path:
    """The best configuration as a RecBole property file, usable with ``run.py --config_files=<path>``.

    It holds the search's fixed settings and the trial's sampled values, not paths (output folders belong to the
    machine that runs it). ``about`` (model, dataset, trial, score, experiment) goes into the header comment.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: plain(v) for k, v in fixed.items() if k not in ("data_path", "checkpoint_dir", "results_dir",
                                                                     "graph_cache_dir")}
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
