"""What a search leaves behind: a CSV of all trials, the best configuration as a property file, a plot of curves."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from recbole_hybrid.records import plain
from recbole_hybrid.tune_trial import METRIC


def trial_rows(results) -> list[dict[str, Any]]:
    """One row per trial of a Ray ``ResultGrid``: id, status, sampled config, best validation NDCG@10, epochs, time.

    ``history`` (the per-epoch validation curve) rides along for the plot and is not written to the CSV.
    """
    rows = []
    for result in results:
        history = result.metrics_dataframe
        has_curve = history is not None and METRIC in history
        best = history.loc[history[METRIC].idxmax()] if has_curve and len(history) else None
        last = result.metrics or {}
        rows.append({
            "trial_id": last.get("trial_id", Path(str(result.path)).name),
            "status": "ERROR" if result.error else "OK",
            **{key: plain(value) for key, value in (result.config or {}).items()},
            METRIC: None if best is None else float(best[METRIC]),
            "best_epoch": None if best is None else int(best["epoch"]),
            "epochs": int(last.get("epoch", 0)),
            "time_s": float(last.get("time_total_s", 0.0)),
            "history": [] if not has_curve else list(zip(history["epoch"].astype(int), history[METRIC])),
        })
    return rows


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


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The trial with the highest best validation NDCG@10."""
    scored = [r for r in rows if r[METRIC] is not None]
    if not scored:
        raise RuntimeError("no trial reported a validation NDCG@10: nothing to export (see the trials' errors)")
    return max(scored, key=lambda r: r[METRIC])


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


def plot_curves(rows: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Validation NDCG@10 per epoch of every trial; the best trial drawn thicker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    best_id = best_row(rows)["trial_id"]
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
