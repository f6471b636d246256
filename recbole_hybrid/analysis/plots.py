"""The comparison's figures (PNG, matplotlib's Agg backend): learning curves, length groups, learned a(L).

Figures read the runs (``runs``) and the tables (``analysis``); nothing imports this module but ``report``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recbole_hybrid.analysis.tables import PRIMARY_CANDIDATES, SIGNIFICANCE_METRIC  # noqa: E402
from recbole_hybrid.analysis.runs import BASELINE, GROUPS, Run, model_order  # noqa: E402


def _mean_over_seeds(curves: list[list[float]]) -> np.ndarray:
    """Mean per epoch over seeds; seeds that stopped early count only while they ran."""
    width = max(len(c) for c in curves)
    padded = np.full((len(curves), width), np.nan)
    for i, curve in enumerate(curves):
        padded[i, :len(curve)] = curve
    return np.nanmean(padded, axis=0)


def learning_curves(runs: list[Run], path: Path) -> Path:
    """Train loss and validation NDCG@10 (all items) per epoch, one line per label (mean over seeds)."""
    fig, (ax_loss, ax_valid) = plt.subplots(1, 2, figsize=(11, 4))
    for model in model_order(runs):
        model_runs = [r for r in runs if r.label == model]
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


def group_diffs(groups: pd.DataFrame, path: Path, candidates: str = PRIMARY_CANDIDATES,
                order: tuple[str, ...] = GROUPS, range_column: str = "length_range",
                by: str = "history length") -> Path:
    """Each label's test NDCG@10 difference to SASRec by group (``order``: length groups, or another grouping of
    the same table shape such as ``analysis.popularity_groups``), with its paired bootstrap 95% interval."""
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    table = groups[(groups["candidates"] == candidates) & groups[metric].notna()] if metric in groups else \
        groups.iloc[:0]  # SASRec alone: no differences
    fig, ax = plt.subplots(figsize=(9, 4))
    models = list(table["model"].drop_duplicates())
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(order))
    for i, model in enumerate(models):
        rows = table[table["model"] == model].set_index("group").reindex(list(order))
        mean = rows[metric].to_numpy()
        err = np.vstack([mean - rows["diff_ci_low"].to_numpy(), rows["diff_ci_high"].to_numpy() - mean])
        ax.errorbar(x + (i - (len(models) - 1) / 2) * width, mean, yerr=err, fmt="o", capsize=3, label=model)
    labels = groups.drop_duplicates("group").set_index("group").reindex(list(order))
    ax.set_xticks(x, [f"{g}\n{labels.loc[g, range_column]}\n{labels.loc[g, 'n_users']} users" for g in order])
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(ylabel=f"test NDCG@10 minus {BASELINE}",
           title=textwrap.fill(f"Difference to {BASELINE} by {by} ({candidates}; 95% bootstrap CI)", 70))
    if models:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: never over a bar
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def alpha_curves(curves: pd.DataFrame, path: Path) -> Path:
    """The learned ``a(L)`` (``analysis.alpha_curves``): one line per run, colour by model, line style by seed."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    seeds = sorted(curves["seed"].unique())
    for i, model in enumerate(curves["model"].drop_duplicates()):
        for seed, curve in curves[curves["model"] == model].groupby("seed", sort=True):
            ax.plot(curve["length"], curve["alpha"], color=colours[i % len(colours)],
                    linestyle=styles[seeds.index(seed) % len(styles)], label=f"{model} seed {seed}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="history length L (capped at MAX_ITEM_LIST_LENGTH)", ylabel="a(L): 1 - a(L) is the weight of G",
           ylim=(0, 1), title="Learned length policy a(L) of the best checkpoints")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def history_caps(caps: pd.DataFrame, path: Path, candidates: str = PRIMARY_CANDIDATES) -> Path:
    """Test NDCG@10 against the history cap k (``analysis.history_cap_table``), log axis, one line per label with
    its bootstrap 95% band; the uncapped test (``full``) at the right; beside it, each label's difference to
    SASRec with its paired interval."""
    table = caps[caps["candidates"] == candidates]
    ks = sorted(k for k in table["cap"].unique() if k != "full")
    full_x = max(ks) * 2.5
    fig, (ax, ax_diff) = plt.subplots(1, 2, figsize=(12, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    for i, model in enumerate(table["model"].drop_duplicates()):
        colour = colours[i % len(colours)]
        rows = table[table["model"] == model]
        capped = rows[rows["cap"] != "full"].sort_values("cap", key=lambda s: s.astype(int))
        full = rows[rows["cap"] == "full"].iloc[0]
        x = capped["cap"].astype(int).to_numpy()
        ax.plot(x, capped["test_ndcg@10_mean"], marker="o", color=colour, label=model)
        ax.fill_between(x, capped["ci_low"], capped["ci_high"], color=colour, alpha=0.15)
        ax.errorbar([full_x], [full["test_ndcg@10_mean"]], yerr=[[full["test_ndcg@10_mean"] - full["ci_low"]],
                    [full["ci_high"] - full["test_ndcg@10_mean"]]], fmt="s", color=colour, capsize=3)
        if model != BASELINE and capped[metric].notna().any():
            offset = 1 + 0.04 * (i - 1)  # side by side on the log axis
            mean = capped[metric].to_numpy()
            err = np.vstack([mean - capped["diff_ci_low"].to_numpy(), capped["diff_ci_high"].to_numpy() - mean])
            ax_diff.errorbar(x * offset, mean, yerr=err, fmt="o-", color=colour, capsize=3, label=model)
    for axis in (ax, ax_diff):
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([*ks, full_x], [*map(str, ks), "full"])
    ax_diff.set_xticks(ks, list(map(str, ks)))
    ax_diff.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="history cap k: each user's input is its last min(k, L) items", ylabel="test NDCG@10",
           title=textwrap.fill(f"Test NDCG@10 by history cap ({candidates}; 95% bootstrap band)", 60))
    ax_diff.set(xlabel="history cap k", ylabel=f"test NDCG@10 minus {BASELINE}",
                title=textwrap.fill(f"Difference to {BASELINE}, paired per user (95% bootstrap CI)", 60))
    ax.legend(fontsize=8)
    if ax_diff.get_legend_handles_labels()[0]:
        ax_diff.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
