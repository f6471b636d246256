"""The comparison's tables, computed from the saved run records and per-user ranks only (``runs.load_runs``).

Every metric is recomputed from the saved ranks (``metrics.metrics_from_ranks``), so the overall table, the
length groups and the significance tests all rest on the same per-user numbers. Each table has a ``candidates``
column: ``all_items`` (RecBole's protocol) or ``seen_excluded`` (``filter_seen``: the user's earlier items are not
candidates; the literature's ML-1M protocol and this project's primary metric). The ``model`` column holds each
run's label (``Run.label``): the model class, or a control's or variant's own name.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from recbole_hybrid.plugin import HYBRID_MODEL_NAMES
from recbole_hybrid.metrics import CUTOFFS, METRICS, metrics_from_ranks, per_user_metric
from recbole_hybrid.utils.fingerprint import differences, run_settings
from recbole_hybrid.utils.records import caps_in_ranks
from recbole_hybrid.data.lengths import group_names, group_ranges
from recbole_hybrid.analysis.runs import BASELINE, GROUPS, AnalysisError, Run, config_value, model_order
from recbole_hybrid.analysis.stats import bootstrap_mean_ci, holm, paired_tests

METRIC_KEYS = tuple(f"{m}@{k}" for m in METRICS for k in CUTOFFS)
CANDIDATES = {"all_items": "rank", "seen_excluded": "rank_filter_seen"}
PRIMARY_CANDIDATES = "seen_excluded"
SIGNIFICANCE_METRIC = "ndcg@10"
#: Hybrids whose ``a(L)`` is learned; their curves are plotted per seed.
LEARNED_POLICIES = ("HybridLearnable", "HybridContinuous", "HybridResidual")
#: Resamples and seed of the per-length-group bootstrap intervals (deterministic given the seed).
GROUP_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
#: Target-popularity groups (``popularity_groups``): the test users by their target's training count, rarest first.
POPULARITY_GROUPS = ("Q1", "Q2", "Q3", "Q4")
#: Graph groups (``graph_groups``): targets without an edge in the default item graph, then the rest split at the
#: first popularity quartile.
GRAPH_GROUPS = ("no edge", "Q1 with edges", "Q2-Q4 with edges")


def _mean_std(table: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean and sample std (NaN for one seed) over seeds of ``values``, per ``keys``."""
    grouped = table.groupby(keys, sort=False)[values]
    mean, std = grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_std")
    cols = [c for v in values for c in (f"{v}_mean", f"{v}_std")]
    return pd.concat([mean, std], axis=1)[cols].reset_index()


def overall_comparison(runs: list[Run]) -> pd.DataFrame:
    """Per label and candidate set: mean and std over seeds of test and validation metrics, best epoch, time."""
    rows = []
    for run in runs:
        for candidates, rank_key in CANDIDATES.items():
            row = {"model": run.label, "candidates": candidates, "seed": run.seed,
                   "best_epoch": run.record["best_epoch"], "train_time_s": run.record["train_time_s"]}
            for split in ("test", "valid"):
                for key, value in metrics_from_ranks(run.ranks[f"{split}_{rank_key}"]).items():
                    row[f"{split}_{key}"] = value
            rows.append(row)
    table = pd.DataFrame(rows)
    values = [f"{s}_{k}" for s in ("test", "valid") for k in METRIC_KEYS] + ["best_epoch", "train_time_s"]
    out = _mean_std(table, ["model", "candidates"], values)
    seeds = table.groupby(["model", "candidates"], sort=False)["seed"].agg(list).reset_index(drop=True)
    out.insert(2, "n_seeds", seeds.map(len))
    out.insert(3, "seeds", seeds.map(lambda s: " ".join(map(str, s))))
    return _sorted(out, runs)


def _sorted(table: pd.DataFrame, runs: list[Run], extra: list[str] = (), groups: tuple[str, ...] = GROUPS
            ) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(model_order(runs))}
    keys = {"model": lambda s: s.map(order), "candidates": lambda s: s.map(list(CANDIDATES).index),
            "group": lambda s: s.map(groups.index)}
    by = ["model", "candidates", *extra]
    return table.sort_values(by, key=lambda s: keys[s.name](s), kind="stable").reset_index(drop=True)


def paired(run: Run, base: Run, rank_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(users [N], value [N], base value [N], history length [N])``: per-user test ``SIGNIFICANCE_METRIC``."""
    users, i, j = np.intersect1d(run.ranks["test_user_id"], base.ranks["test_user_id"], return_indices=True)
    lengths = run.ranks["test_history_length"][i]
    if len(users) != len(run.ranks["test_user_id"]) or len(users) != len(base.ranks["test_user_id"]) \
            or not np.array_equal(lengths, base.ranks["test_history_length"][j]):
        raise AnalysisError(f"{run.run_id} and {base.run_id} were tested on different users or histories: they "
                            f"do not share one dataset split")
    return (users, per_user_metric(run.ranks[f"test_{rank_key}"][i], SIGNIFICANCE_METRIC),
            per_user_metric(base.ranks[f"test_{rank_key}"][j], SIGNIFICANCE_METRIC), lengths)


def paired_samples(runs: list[Run], label: str, baseline: str, rank_key: str) -> list[tuple[str, ...]]:
    """Per seed that both labels have: ``(seed, value [N], base value [N], history length [N])``; then, with two
    or more seeds, ``("pooled", ...)`` with each user's values averaged over those seeds.

    Users are the independent units: pooling averages a user's seeds rather than stacking users x seeds as
    separate pairs, which would count every user several times and understate the p-values.
    """
    base = {r.seed: r for r in runs if r.label == baseline}
    pairs = [(r, base[r.seed]) for r in runs if r.label == label and r.seed in base]
    samples = []
    for run, base_run in pairs:
        users, a, b, lengths = paired(run, base_run, rank_key)
        if samples and not np.array_equal(users, samples[0][1]):
            raise AnalysisError(f"{label}: its seeds' runs were tested on different users ({pairs[0][0].run_id} "
                                f"and {run.run_id})")
        samples.append((str(run.seed), users, a, b, lengths))
    if len(samples) > 1:
        samples.append(("pooled", samples[0][1], np.mean([s[2] for s in samples], axis=0),
                        np.mean([s[3] for s in samples], axis=0), samples[0][4]))
    return [(seed, a, b, lengths) for seed, _, a, b, lengths in samples]


def graph_controls(runs: list[Run]) -> list[tuple[str, str]]:
    """``(label, control label)`` for each control: a label of its own whose runs train a hybrid class with
    ``gnn_layers: 0``, paired with each label of the same class whose defining settings differ from the control's
    in ``gnn_layers`` alone (seeds aside). So ``HybridDiscrete-nograph`` pairs with ``HybridDiscrete``, and a control
    of a variant (``HybridResidual-fused-nograph``) with that variant, not with its plain class."""
    first: dict[str, Run] = {}
    for run in runs:
        first.setdefault(run.label, run)
    pairs = set()
    for control, crun in first.items():
        if crun.model not in HYBRID_MODEL_NAMES or control == crun.model or crun.record["config"].get("gnn_layers") != 0:
            continue
        own = run_settings(crun.record["config"])
        for label, run in first.items():
            if label != control and run.model == crun.model and \
                    set(differences(run_settings(run.record["config"]), own)) - {"seed"} == {"gnn_layers"}:
                pairs.add((label, control))
    order = model_order(runs)
    return sorted(pairs, key=lambda p: (order.index(p[1]), order.index(p[0])))


def comparisons(runs: list[Run]) -> list[tuple[str, str]]:
    """``(label, baseline)`` pairs of the significance table: every label against SASRec, then each hybrid
    against its graph-less control (``graph_controls``)."""
    if not any(r.label == BASELINE for r in runs):
        raise AnalysisError(f"no {BASELINE} run to compare against: run the comparison with {BASELINE}")
    return [(label, BASELINE) for label in model_order(runs) if label != BASELINE] + graph_controls(runs)


def _sign(value: float) -> str:
    return "+" if value > 0 else "-" if value < 0 else "0"


#: The significance table's columns before ``p_holm`` (the table is empty when no label shares a seed with SASRec).
SIGNIFICANCE_COLUMNS = ("model", "baseline", "candidates", "seeds", "metric", "n", "mean_a", "mean_b", "mean_diff",
                        "t_stat", "t_p", "wilcoxon_stat", "wilcoxon_p", "ci_low", "ci_high", "direction",
                        "seed_signs", "in_family")


def significance(runs: list[Run], n_boot: int = 10_000) -> pd.DataFrame:
    """Each comparison (``comparisons``) on per-user test NDCG@10: per seed, pooled over seeds, Holm-corrected.

    Rows per comparison and candidate set: one per seed (the two runs of that seed paired user by user), then a
    ``pooled`` row (each user's values averaged over the seeds, then tested over users). ``direction`` is the sign
    of ``mean_diff`` (model minus baseline); ``seed_signs`` lists every seed's sign, in seed order, on each row of
    the comparison. ``p_holm`` is the
    paired t-test's ``t_p`` after Holm's correction over the family of all tests in the table: the pooled row of
    every comparison and candidate set (a comparison with one seed: its one row). Per-seed rows of a pooled
    comparison are descriptive (``p_holm`` empty).
    """
    rows = []
    for label, baseline in comparisons(runs):
        for candidates, rank_key in CANDIDATES.items():
            samples = paired_samples(runs, label, baseline, rank_key)
            signs = " ".join(_sign(float(np.mean(a - b))) for seed, a, b, _ in samples if seed != "pooled")
            for seed, a, b, _ in samples:
                result = paired_tests(a, b, n_boot=n_boot)
                rows.append({"model": label, "baseline": baseline, "candidates": candidates, "seeds": seed,
                             "metric": f"test {SIGNIFICANCE_METRIC}", **result,
                             "direction": _sign(result["mean_diff"]), "seed_signs": signs,
                             "in_family": seed == "pooled" or len(samples) == 1})
    table = pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)
    family = table["in_family"].to_numpy(dtype=bool)
    table["p_holm"] = np.nan
    if family.any():
        table.loc[family, "p_holm"] = holm(table.loc[family, "t_p"].to_numpy(dtype=float))
    return table.drop(columns="in_family")


def _by_user(run: Run, key: str) -> np.ndarray:
    """``[U]`` the run's ``test_<key>`` array in user-id order (the order of ``paired``'s users)."""
    return run.ranks[f"test_{key}"][np.argsort(run.ranks["test_user_id"], kind="stable")]


def _group_table(runs: list[Run], keys: tuple[str, ...], names_of: Callable[..., np.ndarray],
                 groups: tuple[str, ...], ranges: dict[str, str], range_column: str, n_boot: int, seed: int
                 ) -> pd.DataFrame:
    """Test metrics by the user groups ``names_of(test_<key> [U] for key in keys) -> [U] names``, and each label's
    NDCG@10 difference to SASRec per group with its paired bootstrap 95% interval (``length_groups`` says how)."""
    rows = []
    for run in runs:
        names = names_of(*(run.ranks[f"test_{key}"] for key in keys))
        for candidates, rank_key in CANDIDATES.items():
            ranks = run.ranks[f"test_{rank_key}"]
            for group in groups:
                in_group = names == group
                row = {"model": run.label, "candidates": candidates, "group": group, range_column: ranges[group],
                       "n_users": int(in_group.sum()), "seed": run.seed}
                if in_group.any():
                    row.update({f"test_{k}": v for k, v in metrics_from_ranks(ranks[in_group]).items()})
                rows.append(row)
    table = pd.DataFrame(rows)
    out = _mean_std(table, ["model", "candidates", "group", range_column, "n_users"],
                    [f"test_{k}" for k in METRIC_KEYS])
    base_run = next((r for r in runs if r.label == BASELINE), None)
    diffs = []
    for label in model_order(runs):
        if label == BASELINE:
            continue
        for candidates, rank_key in CANDIDATES.items():
            samples = paired_samples(runs, label, BASELINE, rank_key)
            if not samples:
                continue
            _, a, b, _ = samples[-1]  # pooled when there are several seeds; users in id order
            names = names_of(*(_by_user(base_run, key) for key in keys))
            for group in groups:
                diff = (a - b)[names == group]
                low, high = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed) if len(diff) else (np.nan, np.nan)
                diffs.append({"model": label, "candidates": candidates, "group": group, "baseline": BASELINE,
                              "diff_seeds": len(samples) - (len(samples) > 1),
                              f"diff_test_{SIGNIFICANCE_METRIC}": diff.mean() if len(diff) else np.nan,
                              "diff_ci_low": low, "diff_ci_high": high})
    if diffs:
        out = out.merge(pd.DataFrame(diffs), on=["model", "candidates", "group"], how="left")
    return _sorted(out, runs, extra=["group"], groups=groups)


def length_groups(runs: list[Run], n_boot: int = GROUP_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Test metrics by history-length group (``lengths``; thresholds ``L_short``/``L_long`` of the runs' config),
    and each label's NDCG@10 difference to SASRec in the group with its paired bootstrap 95% interval.

    ``diff_test_ndcg@10`` is the mean over the group's users of (label - SASRec), each user's values averaged over
    the seeds both have; ``diff_ci_low``/``diff_ci_high`` resample the group's users ``n_boot`` times (``seed``
    fixes the draws). SASRec's own rows leave these empty.
    """
    L_short, L_long = config_value(runs, "L_short"), config_value(runs, "L_long")
    return _group_table(runs, ("history_length",), lambda length: group_names(length, L_short, L_long), GROUPS,
                        group_ranges(L_short, L_long), "length_range", n_boot, seed)


def popularity_edges(counts: np.ndarray) -> np.ndarray:
    """``[3]`` the counts at 25%, 50% and 75% of ``counts [U]`` (counts that occur: numpy's ``lower`` quantile)."""
    return np.quantile(np.asarray(counts), [0.25, 0.5, 0.75], method="lower").astype(np.int64)


def popularity_names(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``[U]`` the ``POPULARITY_GROUPS`` name of each count: Q1 for ``count <= edges[0]``, ..., Q4 above
    ``edges[2]``."""
    return np.asarray(POPULARITY_GROUPS)[np.searchsorted(edges, np.asarray(counts), side="left")]


def _shared_targets(runs: list[Run], key: str, what: str) -> np.ndarray | None:
    """``[U]`` the runs' common ``test_<key>`` in user-id order; None when a run lacks it. ``AnalysisError`` when two
    runs disagree (another split)."""
    if not runs or any(f"test_{key}" not in run.ranks for run in runs):
        return None
    reference = _by_user(runs[0], key)
    for run in runs[1:]:
        if not np.array_equal(_by_user(run, key), reference):
            raise AnalysisError(f"{run.run_id} and {runs[0].run_id} disagree on the {what} of their test targets: "
                                f"they do not share one dataset split")
    return reference


def popularity_groups(runs: list[Run], n_boot: int = GROUP_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """``length_groups`` by the popularity of the user's test target instead of history length: the training-split
    count of the target item (``test_target_count``), split at its quartiles over the test users (Q1 the rarest
    targets; tied counts keep a group's users together, so the groups are near, not exactly, quarters).

    Empty when a run's ranks lack the counts (saved before runs wrote them: ``target_counts``). ``AnalysisError``
    when two runs disagree on a user's count (another split).
    """
    counts = _shared_targets(runs, "target_count", "training counts")
    if counts is None:
        return pd.DataFrame()
    edges = popularity_edges(counts)
    ranges = {"Q1": f"n<={edges[0]}", "Q2": f"{edges[0]}<n<={edges[1]}", "Q3": f"{edges[1]}<n<={edges[2]}",
              "Q4": f"n>{edges[2]}"}
    return _group_table(runs, ("target_count",), lambda counts: popularity_names(counts, edges), POPULARITY_GROUPS,
                        ranges, "count_range", n_boot, seed)


def graph_names(counts: np.ndarray, degrees: np.ndarray, q1_edge: int) -> np.ndarray:
    """``[U]`` the ``GRAPH_GROUPS`` name of each target: ``no edge`` for degree 0 (whatever its count), else
    ``Q1 with edges`` for ``count <= q1_edge`` and ``Q2-Q4 with edges`` above."""
    counts, degrees = np.asarray(counts), np.asarray(degrees)
    names = np.where(counts <= q1_edge, GRAPH_GROUPS[1], GRAPH_GROUPS[2]).astype(object)
    names[degrees == 0] = GRAPH_GROUPS[0]
    return names


def graph_groups(runs: list[Run], n_boot: int = GROUP_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """``length_groups`` by whether the user's test target has an edge in the hybrids' default item graph
    (``test_target_degree``, ``graph.default_item_degrees``), the linked targets split at the first quartile of
    ``popularity_groups``: ``no edge`` (``G``'s row of the target is a second ID row, not a propagation),
    ``Q1 with edges`` (rare targets the graph reaches) and ``Q2-Q4 with edges``. It separates, among the rarest
    targets, what the graph brings from what the extra table brings.

    Empty when a run's ranks lack the counts or degrees (``target_counts`` adds them). ``AnalysisError`` when two
    runs disagree on either.
    """
    counts = _shared_targets(runs, "target_count", "training counts")
    degrees = _shared_targets(runs, "target_degree", "graph degrees")
    if counts is None or degrees is None:
        return pd.DataFrame()
    q1_edge = int(popularity_edges(counts)[0])
    ranges = {GRAPH_GROUPS[0]: "degree 0", GRAPH_GROUPS[1]: f"degree>0, n<={q1_edge}",
              GRAPH_GROUPS[2]: f"degree>0, n>{q1_edge}"}
    return _group_table(runs, ("target_count", "target_degree"),
                        lambda count, degree: graph_names(count, degree, q1_edge), GRAPH_GROUPS, ranges,
                        "target_range", n_boot, seed)


def alpha_curves(runs: list[Run]) -> pd.DataFrame:
    """The learned ``a(L)`` of every run of a ``LEARNED_POLICIES`` class: ``model, seed, length, alpha`` rows."""
    rows = []
    for run in runs:
        if run.model not in LEARNED_POLICIES:
            continue
        if run.alpha is None:
            where = run.path.with_name(f"{run.path.stem}.alpha.json") if run.path else f"{run.run_id}.alpha.json"
            raise AnalysisError(f"{where} is missing: the learned a(L) of {run.run_id} (experiments.py writes it "
                                f"with save_alpha_curve after each hybrid run)")
        rows += [{"model": run.label, "seed": run.seed, "length": length, "alpha": alpha}
                 for length, alpha in zip(run.alpha["length"], run.alpha["alpha"])]
    table = pd.DataFrame(rows, columns=["model", "seed", "length", "alpha"])
    order = {m: i for i, m in enumerate(model_order(runs))}
    return table.sort_values(["model", "seed", "length"], key=lambda s: s.map(order) if s.name == "model" else s,
                             kind="stable").reset_index(drop=True)


def alpha_by_group(runs: list[Run], curves: pd.DataFrame) -> pd.DataFrame:
    """The learned ``a(L)`` averaged over each length group's lengths, per run: ``model, seed, group, alpha`` rows,
    with ``start``, the group's ``a`` before training (its ``alpha_<group>``, or ``alpha_init``; NaN if the config
    names neither)."""
    if curves.empty:
        return pd.DataFrame(columns=["model", "seed", "group", "alpha", "start"])
    L_short, L_long = config_value(runs, "L_short"), config_value(runs, "L_long")
    configs = {(run.label, run.seed): run.record["config"] for run in runs}
    table = curves.assign(group=group_names(curves["length"].to_numpy(), L_short, L_long))
    table = table.groupby(["model", "seed", "group"], sort=False, as_index=False)["alpha"].mean()
    table["start"] = [configs[(m, s)].get(f"alpha_{g}", configs[(m, s)].get("alpha_init", np.nan))
                      for m, s, g in zip(table["model"], table["seed"], table["group"])]
    return table


def item_gate_summary(runs: list[Run]) -> pd.DataFrame:
    """The learned item gates ``g_i`` (``item_gate: learned``; 1 at the start) of each run that saved them, over its
    items (the padding id 0 left out): ``model, seed, median, p05, p95, below_1`` (the share of items whose gate
    fell below 1, i.e. that took less graph than at the start)."""
    rows = []
    for run in runs:
        if run.alpha is None or "item_gate" not in run.alpha:
            continue
        gates = np.asarray(run.alpha["item_gate"][1:], dtype=float)
        rows.append({"model": run.label, "seed": run.seed, "median": float(np.median(gates)),
                     "p05": float(np.quantile(gates, 0.05)), "p95": float(np.quantile(gates, 0.95)),
                     "below_1": float((gates < 1).mean())})
    return pd.DataFrame(rows, columns=["model", "seed", "median", "p05", "p95", "below_1"])


#: Candidate sets of the history-capped tests (``history_caps``) -> their ranks' suffix. ``seen_excluded`` drops
#: the visible items only (the primary set: what a user with only those items has seen); ``history_excluded``
#: the whole true history. Uncapped (``full``), both are the test's ``rank_filter_seen``.
CAP_CANDIDATES = {"all_items": "rank", "seen_excluded": "rank_filter_seen", "history_excluded": "rank_filter_history"}
#: The columns of ``history_cap_table``.
CAP_COLUMNS = ("model", "candidates", "cap", "n_seeds", "test_ndcg@10_mean", "test_ndcg@10_std", "test_hit@10_mean",
               "test_hit@10_std", "ci_low", "ci_high", "alpha", "baseline", "n", f"diff_test_{SIGNIFICANCE_METRIC}",
               "diff_ci_low", "diff_ci_high", "t_p", "p_holm")


def _cap_key(cap: int | None, suffix: str) -> str:
    """The ranks key (without ``test_``) of a capped test, or of the uncapped test for ``cap=None``."""
    if cap is not None:
        return f"cap{cap}_{suffix}"
    return "rank_filter_seen" if suffix == "rank_filter_history" else suffix


def _alpha_at(run: Run, length: int) -> float:
    """The run's learned or set ``a(L)`` at ``L = length`` (NaN without a saved curve)."""
    if run.alpha is None or length not in run.alpha["length"]:
        return np.nan
    return float(run.alpha["alpha"][run.alpha["length"].index(length)])


def history_cap_table(runs: list[Run], n_boot: int = GROUP_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """The test with every user's history cut to its last ``k`` items, per label, candidate set and cap.

    Only runs whose ranks hold caps take part, at the caps they all share; ``cap`` is ``k`` or ``"full"`` (the
    uncapped test of the same runs). NDCG@10 and HR@10: mean and std over seeds; ``ci_low``/``ci_high``: a
    bootstrap 95% interval of the label's NDCG@10 (each user's value averaged over its seeds, users resampled
    ``n_boot`` times); ``alpha``: the mean over seeds of a hybrid's ``a(k)``. Against SASRec, paired per user over
    the seeds both have (``paired_samples``): the NDCG@10 difference, its bootstrap interval and the paired t-test's
    ``t_p``; ``p_holm`` corrects ``t_p`` over every label and cap (not ``full``, tested in ``significance``) of
    one candidate set.
    """
    capped = [r for r in runs if caps_in_ranks(r.ranks)]
    if not capped:
        return pd.DataFrame(columns=CAP_COLUMNS)
    caps = sorted(set.intersection(*(set(caps_in_ranks(r.ranks)) for r in capped)))
    rows = []
    for label in model_order(capped):
        label_runs = [r for r in capped if r.label == label]
        for candidates, suffix in CAP_CANDIDATES.items():
            for cap in [*caps, None]:
                key = _cap_key(cap, suffix)
                per_seed = [metrics_from_ranks(r.ranks[f"test_{key}"]) for r in label_runs]
                users = np.mean([per_user_metric(_by_user(r, key), SIGNIFICANCE_METRIC) for r in label_runs], axis=0)
                low, high = bootstrap_mean_ci(users, n_boot=n_boot, seed=seed)
                row = {"model": label, "candidates": candidates, "cap": "full" if cap is None else cap,
                       "n_seeds": len(label_runs), "ci_low": low, "ci_high": high,
                       "alpha": np.nan if cap is None else np.mean([_alpha_at(r, cap) for r in label_runs])}
                for metric in ("ndcg@10", "hit@10"):
                    values = [m[metric] for m in per_seed]
                    row[f"test_{metric}_mean"] = float(np.mean(values))
                    row[f"test_{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
                samples = paired_samples(capped, label, BASELINE, key) if label != BASELINE else []
                if samples:
                    _, a, b, _ = samples[-1]
                    result = paired_tests(a, b, n_boot=n_boot, seed=seed)
                    row.update({"baseline": BASELINE, "n": result["n"],
                                f"diff_test_{SIGNIFICANCE_METRIC}": result["mean_diff"],
                                "diff_ci_low": result["ci_low"], "diff_ci_high": result["ci_high"],
                                "t_p": result["t_p"]})
                rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=CAP_COLUMNS)
    for candidates in CAP_CANDIDATES:
        family = (table["candidates"] == candidates) & (table["cap"] != "full") & table["t_p"].notna()
        if family.any():
            table.loc[family, "p_holm"] = holm(table.loc[family, "t_p"].to_numpy(dtype=float))
    return table


def tables(runs: list[Run], n_boot: int = 10_000) -> dict[str, pd.DataFrame]:
    """Every table of the comparison, by its CSV name."""
    return {"overall_comparison": overall_comparison(runs), "length_groups": length_groups(runs),
            "popularity_groups": popularity_groups(runs), "graph_groups": graph_groups(runs),
            "significance": significance(runs, n_boot=n_boot),
            "alpha_curves": alpha_curves(runs), "history_caps": history_cap_table(runs)}
