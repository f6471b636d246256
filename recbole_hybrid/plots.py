"""The comparison's figures (PNG, matplotlib's Agg backend): learning curves, length groups, learned a(L)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recbole_hybrid.analysis import GROUPS, Run, model_order  # noqa: E402

LEARNED = ("HybridLearnable", "HybridContinuous")


def _mean_over_seeds(curves: list[list[float]]) -> np.ndarray:
    """Mean per epoch over seeds; seeds that stopped early count only while they ran."""
    width = max(len(c) for c in curves)
    padded = np.full((len(curves), width), np.nan)
    for i, curve in enumerate(curves):
        padded[i, :len(curve)] = curve
    return np.nanmean(padded, axis=0)


def learning_curves(runs: list[Run], path: Path) -> Path:
    """Train loss and validation NDCG@10 (all items) per epoch, one line per model (mean over seeds)."""
    fig, (ax_loss, ax_valid) = plt.subplots(1, 2, figsize=(11, 4))
    for model in model_order(runs):
        model_runs = [r for r in runs if r.model == model]
        loss = _mean_over_seeds([[e["train_loss"] for e in r.record["epochs"]] for r in model_runs])
        ax_loss.plot(np.arange(len(loss)), loss, label=model)
        valid = _mean_over_seeds([[e["valid"]["ndcg@10"] if "valid" in e else np.nan for e in r.record["epochs"]]
                                  for r in model_runs])
        epochs = np.arange(len(valid))
        ax_valid.plot(epochs[~np.isnan(valid)], valid[~np.isnan(valid)], marker=".", label=model)
    ax_loss.set(xlabel="epoch", ylabel="train loss", title="Training loss (mean over seeds)")
    ax_valid.set(xlabel="epoch", ylabel="valid NDCG@10", title="Validation NDCG@10, all items (mean over seeds)")
    for ax in (ax_loss, ax_valid):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_valid.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def length_group_bars(groups: pd.DataFrame, path: Path, metric: str = "test_ndcg@10") -> Path:
    """Grouped bars of ``metric`` by length group, one bar per model, error bars = std over seeds."""
    variants = list(groups["candidates"].drop_duplicates())
    fig, axes = plt.subplots(1, len(variants), figsize=(6 * len(variants), 4), squeeze=False)
    for ax, candidates in zip(axes[0], variants):
        table = groups[groups["candidates"] == candidates]
        models = list(table["model"].drop_duplicates())
        width = 0.8 / len(models)
        x = np.arange(len(GROUPS))
        for i, model in enumerate(models):
            rows = table[table["model"] == model].set_index("group").reindex(list(GROUPS))
            std = rows[f"{metric}_std"]
            ax.bar(x + (i - (len(models) - 1) / 2) * width, rows[f"{metric}_mean"],
                   yerr=None if std.isna().all() else std.fillna(0), width=width, capsize=2, label=model)
        labels = table.drop_duplicates("group").set_index("group").reindex(list(GROUPS))
        ax.set_xticks(x, [f"{g}\n{labels.loc[g, 'length_range']}\n{labels.loc[g, 'n_users']} users" for g in GROUPS])
        ax.set(ylabel=metric.replace("_", " "), title=f"By history length ({candidates})")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def alpha_curves(runs: list[Run], path: Path) -> Path:
    """``a(L)`` of each hybrid run with a saved curve: one line per seed, one colour per model.

    Learned policies (HybridLearnable, HybridContinuous) are solid; configured ones (HybridFixed, HybridDiscrete)
    dashed, for reference.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, model in enumerate(m for m in model_order(runs) if any(r.alpha for r in runs if r.model == m)):
        for j, run in enumerate(r for r in runs if r.model == model and r.alpha):
            ax.plot(run.alpha["length"], run.alpha["alpha"], color=colours[i % len(colours)], marker=".",
                    linestyle="-" if model in LEARNED else "--", label=model if j == 0 else None, alpha=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="history length L (capped at MAX_ITEM_LIST_LENGTH)", ylabel="a(L): weight of the ID embedding",
           ylim=(0, 1), title="Length policy a(L) of the best checkpoints")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
