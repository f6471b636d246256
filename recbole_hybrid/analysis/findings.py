"""The README's sentences, generated from the tables, each under the condition that makes it true, so they stay
true when the runs change (``findings``).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from recbole_hybrid.analysis import tables as analysis
from recbole_hybrid.analysis.tables import GRAPH_GROUPS, POPULARITY_GROUPS, PRIMARY_CANDIDATES, SIGNIFICANCE_METRIC
from recbole_hybrid.analysis.anchors import anchors_for
from recbole_hybrid.analysis.runs import BASELINE, GROUPS, Run, model_order


#: Family-wise error level of the Holm-corrected tests.
LEVEL = 0.05


#: The figure of the history-capped tests (``plots.history_caps``).
CAPS_FIGURE = "history_caps.png"


#: A length group with fewer than this share of the users is called small in the README.
SMALL_GROUP = 0.10


SECONDARY_CANDIDATES = "all_items"


def family_row(sig: pd.DataFrame, model: str, baseline: str,
                candidates: str = PRIMARY_CANDIDATES) -> pd.Series | None:
    """The main (Holm family) row of one comparison, or None when the two labels share no seed."""
    rows = sig[(sig["model"] == model) & (sig["baseline"] == baseline) & (sig["candidates"] == candidates)
               & sig["p_holm"].notna()]
    return rows.iloc[0] if len(rows) else None


def direction_of(row: pd.Series) -> str | None:
    """``"above"`` or ``"below"`` when the Holm-corrected test is significant at ``LEVEL``, else None."""
    if row["p_holm"] >= LEVEL:
        return None
    return "above" if row["mean_diff"] > 0 else "below"


def _seeds_above(row: pd.Series) -> tuple[int, int]:
    signs = str(row["seed_signs"]).split()
    return signs.count("+"), len(signs)


def _versus(row: pd.Series) -> str:
    """``0.1500 vs 0.1450 (+0.0050, +3.4%; 95% CI [...]; t-test p = ..., Holm-adjusted p = ...)``."""
    rel = row["mean_diff"] / row["mean_b"] if row["mean_b"] else np.nan
    return (f"{row['mean_a']:.4f} vs {row['mean_b']:.4f} ({row['mean_diff']:+.4f}, {rel:+.1%}; 95% CI "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]; t-test p = {row['t_p']:.2g}, Holm-adjusted p = "
            f"{row['p_holm']:.2g})")


def _seeds_phrase(row: pd.Series) -> str:
    """``2 of 3 seeds above SASRec: the seeds disagree in direction``: the per-seed signs beside a pooled test."""
    above, n = _seeds_above(row)
    seeds = f"{above} of {n} seed{'s' if n > 1 else ''} above {row['baseline']}"
    if 0 < above < n:
        seeds += ": the seeds disagree in direction"
    return seeds


def _overall_sentence(row: pd.Series) -> str:
    model, base = row["model"], row["baseline"]
    seeds = _seeds_phrase(row)
    direction = direction_of(row)
    if direction == "above":
        head = f"**{model} beats {base}** on test NDCG@10 ({row['candidates']})"
    elif direction == "below":
        head = f"**{model} is below {base}** on test NDCG@10 ({row['candidates']})"
    else:
        head = (f"{model} does not differ significantly from {base} after Holm's correction (test NDCG@10, "
                f"{row['candidates']})")
    return f"{head}: {_versus(row)}; {seeds}."


def _group_sentence(groups: pd.DataFrame, model: str, order: tuple[str, ...] = GROUPS,
                    range_column: str = "length_range", by: str = "history length") -> str | None:
    """Where ``model`` differs from SASRec, group by group of ``groups`` (length or popularity), or None."""
    if groups.empty:
        return None
    rows = groups[(groups["model"] == model) & (groups["candidates"] == PRIMARY_CANDIDATES)]
    rows = rows.set_index("group").reindex(list(order))
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    if metric not in rows or rows[metric].isna().all():
        return None
    verdicts = {"above": [], "below": [], "unclear": []}
    parts = []
    for group, r in rows.iterrows():
        if pd.isna(r[metric]):
            continue
        parts.append(f"{group} ({r[range_column]}, {r['n_users']} users) {r[metric]:+.4f} "
                     f"[{r['diff_ci_low']:+.4f}, {r['diff_ci_high']:+.4f}]")
        verdicts["above" if r["diff_ci_low"] > 0 else "below" if r["diff_ci_high"] < 0 else "unclear"].append(group)
    where = [f"above {BASELINE} in {', '.join(verdicts['above'])}" if verdicts["above"] else None,
             f"below in {', '.join(verdicts['below'])}" if verdicts["below"] else None,
             f"no clear difference (the interval holds 0) in {', '.join(verdicts['unclear'])}"
             if verdicts["unclear"] else None]
    return (f"By {by}, {model} minus {BASELINE} (NDCG@10, {PRIMARY_CANDIDATES}, bootstrap 95% CI, not corrected "
            f"across groups): " + "; ".join(parts) + ". So: " + "; ".join(w for w in where if w) + ".")


def _popularity_sentence(groups: pd.DataFrame, model: str) -> str | None:
    return _group_sentence(groups, model, POPULARITY_GROUPS, "count_range",
                           "the test target's popularity (n: its training interactions; Q1 the rarest quarter)")


def _graph_group_sentence(groups: pd.DataFrame, model: str) -> str | None:
    return _group_sentence(groups, model, GRAPH_GROUPS, "target_range",
                           "whether the test target has an edge in the default item graph (no edge: its G row is a "
                           "second ID row)")


def short_group_sentence(groups: pd.DataFrame) -> str:
    counts = groups.drop_duplicates("group").set_index("group")
    total = int(counts["n_users"].sum())
    short = counts.loc["short"]
    share = short["n_users"] / total if total else 0.0
    if not short["n_users"]:
        return (f"The short group ({short['length_range']}) holds no test user of this dataset: nothing here "
                "measures short histories.")
    text = f"The short group ({short['length_range']}) holds {short['n_users']} of {total} test users ({share:.1%})"
    if share < SMALL_GROUP:
        return (text + ": it is small, so its intervals are wide and any claim about short histories (the length "
                "claim the hybrids are built on) rests on few users.")
    return text + "."


def _graph_sentences(runs: list[Run], sig: pd.DataFrame) -> list[str]:
    pairs = analysis.graph_controls(runs)
    if not pairs:
        return ["No control run (a hybrid with `gnn_layers: 0` under its own label) is among the records: whether "
                "the graph or only the extra embedding table helps is not measured here."]
    out = []
    for model, control in pairs:
        row = family_row(sig, model, control)
        if row is None:
            out.append(f"{model} and its control {control} share no seed: the graph's effect is not measured.")
            continue
        layers = sorted({r.record["config"].get("gnn_layers") for r in runs if r.label == model})
        name = f"{model} (gnn_layers={', '.join(map(str, layers))}) against its control {control} (gnn_layers=0: " \
               f"the same parameters, no graph propagation)"
        direction = direction_of(row)
        seeds = _seeds_phrase(row)
        if direction == "above":
            text = f"**The graph helps**: {name}: {_versus(row)}; {seeds}."
        elif direction == "below":
            text = f"**The graph hurts**: {name}: {_versus(row)}; {seeds}."
        else:
            text = f"The graph's effect is not significant after Holm's correction: {name}: {_versus(row)}; {seeds}."
            control_row = family_row(sig, control, BASELINE)
            if control_row is not None and direction_of(control_row) == "above":
                text += (f" The control alone is significantly above {BASELINE}, so what helps is the extra "
                         f"embedding table, not the graph.")
        out.append(text)
    return out


def _alpha_sentences(runs: list[Run], curves: pd.DataFrame) -> list[str]:
    """What each learned policy's ``a(L)`` became, per length group: one value, or the range over seeds."""
    by_group = analysis.alpha_by_group(runs, curves)
    out = []
    for model in model_order(runs):
        rows = by_group[by_group["model"] == model]
        if rows.empty:
            continue
        parts = []
        for group in GROUPS:
            values, starts = rows.loc[rows["group"] == group, "alpha"], rows.loc[rows["group"] == group, "start"]
            if values.empty:
                continue
            value = f"{values.min():.2f}" if values.max() - values.min() < 0.005 else \
                f"{values.min():.2f} to {values.max():.2f}"
            start = f" (from {starts.iloc[0]:g})" if starts.nunique() == 1 and not starts.isna().any() else ""
            parts.append(f"{group} {value}{start}")
        seeds = rows["seed"].nunique()
        over = f"the range over {seeds} seeds" if seeds > 1 else "one seed"
        out.append(f"{model} learned a(L) (mean over each group's lengths, {over}; 1 - a weighs G): "
                   + ", ".join(parts) + ".")
    gates = analysis.item_gate_summary(runs)
    for model in model_order(runs):
        rows = gates[gates["model"] == model]
        if rows.empty:
            continue
        seeds = "; ".join(f"seed {r.seed}: median {r.median:.2f}, 5-95% {r.p05:.2f} to {r.p95:.2f}, "
                          f"{r.below_1:.0%} below 1" for r in rows.itertuples())
        out.append(f"{model}'s item gates g_i (the graph of item i weighs (1 - a(L)) g_i; every g_i starts at 1), "
                   f"over the items: {seeds}.")
    if out:
        out.append("Both tables train along with a(L) and can rescale, so a(L) is a mixing weight, not the share of "
                   "the model's input that comes from the graph.")
    return out


def _caps_phrase(rows: pd.DataFrame, with_alpha: bool) -> str:
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    return ", ".join(f"k = {r['cap']} ({r[metric]:+.4f} [{r['diff_ci_low']:+.4f}, {r['diff_ci_high']:+.4f}], "
                     f"Holm p = {r['p_holm']:.2g}" + (f", a = {r['alpha']:.2f}" if with_alpha and
                                                      not pd.isna(r["alpha"]) else "") + ")"
                     for _, r in rows.iterrows())


def _capped_runs_phrase(runs: list[Run]) -> str:
    capped = [r for r in runs if "history_caps" in r.record]
    seeds = sorted({r.seed for r in capped})
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def cap_sentences(runs: list[Run], caps: pd.DataFrame) -> list[str]:
    """Where, with every test user's history cut to its last k items, each label is above or below SASRec
    (Holm-corrected over the labels and caps), with each hybrid's a(k) there."""
    if caps.empty:
        return []
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    primary = caps[(caps["candidates"] == PRIMARY_CANDIDATES) & (caps["cap"] != "full")]
    ks = ", ".join(str(k) for k in primary["cap"].drop_duplicates())
    n = primary["n"].dropna()
    users = f"{int(n.iloc[0]):,} users at every k" if len(n) else "every test user"
    out = [f"History caps ({_capped_runs_phrase(runs)}): every test user's input cut to its last min(k, L) items, "
           f"k = {ks} ({users}; {PRIMARY_CANDIDATES} here means the visible items are not candidates)."]
    for model in primary["model"].drop_duplicates():
        rows = primary[(primary["model"] == model) & primary["p_holm"].notna()]
        if model == BASELINE or rows.empty:
            continue
        hybrid = rows["alpha"].notna().any()  # a saved a(L) curve: a hybrid
        above = rows[(rows[metric] > 0) & (rows["p_holm"] < LEVEL)]
        below = rows[(rows[metric] < 0) & (rows["p_holm"] < LEVEL)]
        best = rows.loc[rows[metric].idxmax()]
        parts = [f"{model} is above {BASELINE} at " + (_caps_phrase(above, hybrid) if len(above) else
                                                      f"none of the caps (Holm at {LEVEL})")]
        if len(below):
            parts.append(f"below at {_caps_phrase(below, hybrid)}")
        parts.append(f"its difference is highest at k = {best['cap']}: {best[metric]:+.4f}"
                     + (f" (a = {best['alpha']:.2f})" if hybrid and not pd.isna(best["alpha"]) else ""))
        out.append("; ".join(parts) + ".")
    return out


def cap_section(runs: list[Run], caps: pd.DataFrame) -> list[str]:
    """The README's section on the history-capped tests (nothing when no record has them)."""
    if caps.empty:
        return []
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    primary = caps[caps["candidates"] == PRIMARY_CANDIDATES]
    costs = [(r.record["history_caps"]["time_s"], r.record["history_caps"].get("added", {}).get(
        "device", r.record["device"])) for r in runs if "history_caps" in r.record]
    n_caps = len([k for k in primary["cap"].drop_duplicates() if k != "full"])
    cost = (f"The {n_caps} capped tests took {min(t for t, _ in costs):.1f}-{max(t for t, _ in costs):.1f} s per run "
            f"on top of the test ({'; '.join(sorted({d for _, d in costs}))}; the records' "
            "`history_caps.time_s`).")
    lines = ["## Every user cut to its last k items (history caps)", "",
             "The selected model is tested once more per cap k with each test user's input cut to its last "
             "min(k, L) items, padded as RecBole builds the row of a genuinely short user; targets, weights and the "
             "item graph stay. The hybrids then read L = min(k, L), so a(L) is the short-history a. "
             f"{PRIMARY_CANDIDATES}: the visible items are not candidates (a user with only those items); "
             "`history_caps.csv` also holds all items and the whole history excluded (`history_excluded`). The "
             f"difference to {BASELINE} is paired per user over the seeds both have; Holm p corrects the t-test "
             f"over every label and cap of the candidate set; the band is the label's own bootstrap 95% interval. "
             "a(k) is the mean over seeds of the hybrid's a at L = k. `full` is the uncapped test. " + cost, "",
             f"| model | k | test NDCG@10 | test HR@10 | a(k) | NDCG@10 minus {BASELINE} [95% CI] | Holm p |",
             "|---|---|---|---|---|---|---|"]
    for _, r in primary.iterrows():
        diff = "" if pd.isna(r[metric]) else f"{r[metric]:+.4f} [{r['diff_ci_low']:+.4f}, {r['diff_ci_high']:+.4f}]"
        holm = "" if pd.isna(r["p_holm"]) else f"{r['p_holm']:.2g}"
        alpha = "" if pd.isna(r["alpha"]) else f"{r['alpha']:.2f}"
        lines.append(f"| {r['model']} | {r['cap']} | {pm(r, 'test_ndcg@10')} | {pm(r, 'test_hit@10')} | {alpha} | "
                     f"{diff} | {holm} |")
    return lines + ["", f"![history caps]({CAPS_FIGURE})", "", "Full table: `history_caps.csv`.", ""]


def _promised_sentence(runs: list[Run], overall: pd.DataFrame) -> str | None:
    promised = anchors_for(runs[0].record["dataset"], "promised")
    ours = overall[overall["candidates"] == PRIMARY_CANDIDATES].set_index("model")
    parts = [f"{a.model} {ours.loc[a.model, 'test_ndcg@10_mean']:.4f} vs {a.ndcg10:.3f} "
             f"({'at or above' if ours.loc[a.model, 'test_ndcg@10_mean'] >= a.ndcg10 else 'below'})"
             for a in promised if a.model in ours.index]
    if not parts:
        return None
    return ("Against the seed workflow's promised table (test NDCG@10; it names no candidate set, so ours is the "
            f"primary {PRIMARY_CANDIDATES}): " + "; ".join(parts) + ".")


def findings(runs: list[Run], tables: dict[str, pd.DataFrame]) -> list[str]:
    """Plain sentences from the numbers: who beats SASRec and by how much, where (length and target-popularity
    groups), whether the graph helps over its control, what the learned a(L) became, and how the primary NDCG@10
    compares with the seed workflow's promised table."""
    sig, groups = tables["significance"], tables["length_groups"]
    if model_order(runs) == [BASELINE]:
        out = [f"Only {BASELINE}'s runs are among these records: nothing is compared with it here; the tables give "
               "its numbers beside the published ones.", short_group_sentence(groups)]
        return out + _closing_sentences(runs, tables)
    out = []
    for model in model_order(runs):
        if model == BASELINE:
            continue
        row = family_row(sig, model, BASELINE)
        if row is None:
            out.append(f"{model} has no seed in common with {BASELINE}: it is not compared.")
            continue
        out.append(_overall_sentence(row))
        out += [text for text in (_group_sentence(groups, model),
                                  _popularity_sentence(tables["popularity_groups"], model),
                                  _graph_group_sentence(tables["graph_groups"], model)) if text]
    out.append(short_group_sentence(groups))
    out += _graph_sentences(runs, sig)
    out += cap_sentences(runs, tables["history_caps"])
    out += _alpha_sentences(runs, tables["alpha_curves"])
    return out + _closing_sentences(runs, tables)


def _closing_sentences(runs: list[Run], tables: dict[str, pd.DataFrame]) -> list[str]:
    """The comparison with the promised table and the notes on training times, where they apply."""
    return [s for s in (_promised_sentence(runs, tables["overall_comparison"]), _paused_sentence(runs),
                        _machines_sentence(runs)) if s]


#: An epoch whose training took this many times the run's median epoch was not training alone.
PAUSED_FACTOR = 5.0


def _paused_sentence(runs: list[Run]) -> str | None:
    """Name the runs whose ``train s`` counts a pause: an epoch far slower than the run's median epoch."""
    flagged = []
    for run in runs:
        times = [e["train_time_s"] for e in run.record["epochs"] if e.get("train_time_s") is not None]
        if len(times) < 3:
            continue
        median = float(np.median(times))
        if median > 0 and max(times) > PAUSED_FACTOR * median:
            flagged.append(f"{run.record['run_id']} (slowest epoch {max(times):.0f} s, median {median:.0f} s)")
    if not flagged:
        return None
    return ("Training times: " + "; ".join(flagged) + f". An epoch over {PAUSED_FACTOR:g} times the run's median "
            "means the process was paused or shared the machine: that run's `train s` overstates its cost.")


def _machines_sentence(runs: list[Run]) -> str | None:
    """Name the runs resumed on another machine (their record's ``sessions``): their epochs were timed on each."""
    flagged = []
    for run in runs:
        sessions = run.record.get("sessions") or []
        if len({s["device"] for s in sessions}) > 1:
            flagged.append(f"{run.record['run_id']} (" + ", ".join(f"{s['device']} from epoch {s['first_epoch']}"
                                                                   for s in sessions) + ")")
    if not flagged:
        return None
    return ("Trained on more than one machine, resumed on another: " + "; ".join(flagged) + ". Their `train s` adds "
            "epochs timed on each machine.")


def pm(row: pd.Series, key: str, digits: int = 4) -> str:
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")
