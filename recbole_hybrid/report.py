"""``analyze``: the comparison's tables as CSV, its figures and ``README.md``, from the saved runs only.

Imports run one way: ``runs`` (loading, checks) <- ``analysis`` (tables) <- ``plots`` (figures) <- this module.
The README's sentences are generated from the tables, each under the condition that makes it true, so they stay
true when the runs change. Numbers from the literature come only from ``anchors.ANCHORS``.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_hybrid import analysis
from recbole_hybrid.analysis import GRAPH_GROUPS, POPULARITY_GROUPS, PRIMARY_CANDIDATES, SIGNIFICANCE_METRIC
from recbole_hybrid.anchors import anchors_for
from recbole_hybrid.graph import default_graph_settings
from recbole_hybrid.runs import BASELINE, GROUPS, AnalysisError, Run, config_value, load_runs, model_order

#: Family-wise error level of the Holm-corrected tests.
LEVEL = 0.05
#: The figure of the history-capped tests (``plots.history_caps``).
CAPS_FIGURE = "history_caps.png"
#: A length group with fewer than this share of the users is called small in the README.
SMALL_GROUP = 0.10
SECONDARY_CANDIDATES = "all_items"


def analyze(dataset: str, preset: str, runs_dir: str | Path = "results/runs", out_dir: str | Path = "results",
            save: bool = False, command: list[str] | None = None, n_boot: int = 10_000,
            summary_into: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Build the tables; print them, or with ``save`` write the CSVs, plots and ``README.md`` in ``out_dir``.

    ``summary_into`` (needs ``save``): a markdown file whose block between ``summary_markers(dataset, preset)``
    receives the short form of the results (``summary``), e.g. the project README.
    """
    if summary_into is not None:
        summary_into = Path(summary_into)
        if not save:
            raise AnalysisError("--summary_into writes a file: add --save_csv")
        _block_span(summary_into.read_text() if summary_into.is_file() else None, summary_into,
                    summary_markers(dataset, preset))  # refuse before any work
    runs = load_runs(runs_dir, dataset, preset)
    tables = analysis.tables(runs, n_boot=n_boot)
    if not save:
        with pd.option_context("display.width", 200, "display.max_columns", 14):
            for name, table in tables.items():
                print(f"== {name}\n{table}\n")
        print("\n".join(findings(runs, tables)))
        return tables
    command = command or ["python -m recbole_hybrid.experiments analyze", f"--dataset={dataset}",
                          f"--preset={preset}", "--save_csv"]
    write_report(runs, tables, Path(runs_dir), Path(out_dir), command)
    if summary_into is not None:
        write_summary(summary_into, summary_markers(dataset, preset),
                      summary(runs, tables, Path(out_dir), summary_into.parent, command))
    return tables


def write_report(runs: list[Run], tables: dict[str, pd.DataFrame], runs_dir: Path, out_dir: Path,
                 command: list[str]) -> Path:
    """Write every non-empty table as ``<name>.csv``, the figures and ``README.md``; return the README's path."""
    from recbole_hybrid import plots  # matplotlib only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [name for name, table in tables.items() if not table.empty]
    for name in written:
        tables[name].to_csv(out_dir / f"{name}.csv", index=False, float_format="%.6g")
    images = [plots.learning_curves(runs, out_dir / "learning_curves.png"),
              plots.length_group_bars(tables["length_groups"], out_dir / "length_groups.png"),
              plots.group_diffs(tables["length_groups"], out_dir / "length_group_diffs.png")]
    if not tables["popularity_groups"].empty:
        images.append(plots.group_diffs(tables["popularity_groups"], out_dir / "popularity_group_diffs.png",
                                        order=POPULARITY_GROUPS, range_column="count_range",
                                        by="the test target's popularity"))
    if not tables["graph_groups"].empty:
        images.append(plots.group_diffs(tables["graph_groups"], out_dir / "graph_group_diffs.png",
                                        order=GRAPH_GROUPS, range_column="target_range",
                                        by="whether the test target has an edge in the item graph"))
    if not tables["alpha_curves"].empty:
        images.append(plots.alpha_curves(tables["alpha_curves"], out_dir / "alpha_curves.png"))
    if not tables["history_caps"].empty:
        images.append(plots.history_caps(tables["history_caps"], out_dir / CAPS_FIGURE))
    path = out_dir / "README.md"
    path.write_text(readme(runs, tables, runs_dir, out_dir, [p.name for p in images], command))
    print(f"wrote {', '.join(f'{n}.csv' for n in written)}, {len(images)} plots and README.md to {out_dir} "
          f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    return path


# ---- sentences -------------------------------------------------------------------------------------------------

def _family_row(sig: pd.DataFrame, model: str, baseline: str,
                candidates: str = PRIMARY_CANDIDATES) -> pd.Series | None:
    """The main (Holm family) row of one comparison, or None when the two labels share no seed."""
    rows = sig[(sig["model"] == model) & (sig["baseline"] == baseline) & (sig["candidates"] == candidates)
               & sig["p_holm"].notna()]
    return rows.iloc[0] if len(rows) else None


def _direction(row: pd.Series) -> str | None:
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
    direction = _direction(row)
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


def _short_group_sentence(groups: pd.DataFrame) -> str:
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
        row = _family_row(sig, model, control)
        if row is None:
            out.append(f"{model} and its control {control} share no seed: the graph's effect is not measured.")
            continue
        layers = sorted({r.record["config"].get("gnn_layers") for r in runs if r.label == model})
        name = f"{model} (gnn_layers={', '.join(map(str, layers))}) against its control {control} (gnn_layers=0: " \
               f"the same parameters, no graph propagation)"
        direction = _direction(row)
        seeds = _seeds_phrase(row)
        if direction == "above":
            text = f"**The graph helps**: {name}: {_versus(row)}; {seeds}."
        elif direction == "below":
            text = f"**The graph hurts**: {name}: {_versus(row)}; {seeds}."
        else:
            text = f"The graph's effect is not significant after Holm's correction: {name}: {_versus(row)}; {seeds}."
            control_row = _family_row(sig, control, BASELINE)
            if control_row is not None and _direction(control_row) == "above":
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


def _cap_sentences(runs: list[Run], caps: pd.DataFrame) -> list[str]:
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
                                                      f"no cap (Holm at {LEVEL})")]
        if len(below):
            parts.append(f"below at {_caps_phrase(below, hybrid)}")
        parts.append(f"its difference is highest at k = {best['cap']}: {best[metric]:+.4f}"
                     + (f" (a = {best['alpha']:.2f})" if hybrid and not pd.isna(best["alpha"]) else ""))
        out.append("; ".join(parts) + ".")
    return out


def _cap_section(runs: list[Run], caps: pd.DataFrame) -> list[str]:
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
        lines.append(f"| {r['model']} | {r['cap']} | {_pm(r, 'test_ndcg@10')} | {_pm(r, 'test_hit@10')} | {alpha} | "
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
               "its numbers beside the published ones.", _short_group_sentence(groups)]
        return out + _closing_sentences(runs, tables)
    out = []
    for model in model_order(runs):
        if model == BASELINE:
            continue
        row = _family_row(sig, model, BASELINE)
        if row is None:
            out.append(f"{model} has no seed in common with {BASELINE}: it is not compared.")
            continue
        out.append(_overall_sentence(row))
        out += [text for text in (_group_sentence(groups, model),
                                  _popularity_sentence(tables["popularity_groups"], model),
                                  _graph_group_sentence(tables["graph_groups"], model)) if text]
    out.append(_short_group_sentence(groups))
    out += _graph_sentences(runs, sig)
    out += _cap_sentences(runs, tables["history_caps"])
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


# ---- README ----------------------------------------------------------------------------------------------------

def _pm(row: pd.Series, key: str, digits: int = 4) -> str:
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")


def _config_files(runs: list[Run]) -> list[str]:
    files = set()
    for run in runs:
        for arg in run.record["command"]:
            if arg.startswith("--config_files="):
                files.update(f for f in arg.split("=", 1)[1].replace(",", " ").split() if f)
    return sorted(files)


def _relative(path: Path, start: Path) -> str:
    try:
        return str(path.resolve().relative_to(start.resolve()))
    except ValueError:
        return str(path)


def _provenance(runs: list[Run], runs_dir: Path, out_dir: Path, command: list[str]) -> list[str]:
    record, config = runs[0].record, runs[0].record["config"]
    dates = sorted(r.record["date"] for r in runs)
    devices = pd.Series([r.record["device"] for r in runs]).value_counts()
    commands = sorted({shlex.join(r.record["command"]) for r in runs})
    files = _config_files(runs)
    versions = sorted({f"torch {r.record['versions'].get('torch')}, recbole {r.record['versions'].get('recbole')}"
                       for r in runs if "versions" in r.record})
    commits = sorted({str(r.record.get("versions", {}).get("git_commit")) for r in runs})
    seeds = sorted({r.seed for r in runs})
    data = record["data"]
    return [
        f"- Generated by `{' '.join(command)}` from the {len(runs)} run record{'s' if len(runs) != 1 else ''} in "
        f"`{_relative(runs_dir, out_dir)}` (records, per-user ranks and a(L) curves); every number below is "
        "recomputed from them.",
        f"- Models: {', '.join(model_order(runs))}; seeds {' '.join(map(str, seeds))}.",
        f"- Config file{'s' if len(files) != 1 else ''}: "
        + (", ".join(f"`{f}`" for f in files) if files else "none (property files and the preset only)")
        + f"; run command{'s' if len(commands) > 1 else ''} as recorded: " + "; ".join(f"`{c}`" for c in commands),
        f"- Machine: " + "; ".join(f"{device} ({n} run{'s' if n != 1 else ''})" for device, n in devices.items())
        + f"; trainer: {', '.join(sorted({str(r.record.get('trainer', 'recbole')) for r in runs}))}; "
        + "; ".join(versions),
        f"- Dates (UTC): {dates[0]} to {dates[-1]}; git commits: {', '.join(commits)}",
        f"- Dataset: {record['dataset']}, {data['users']} users, {data['items']} items after the filters "
        f"val_interval={config.get('val_interval')}, user_inter_num_interval={config.get('user_inter_num_interval')}"
        f"; {data['interactions']} RecBole sequence rows (one (prefix -> next item) row per interaction after each "
        "user's first, training, validation and test together: what a run records as `interactions`).",
        f"- Protocol: leave-one-out by time ({config.get('eval_args', {}).get('split')}), full ranking; "
        f"MAX_ITEM_LIST_LENGTH={config.get('MAX_ITEM_LIST_LENGTH')}; model selection on "
        f"{record.get('selection')}. Budget: epochs={config.get('epochs')}, patience={config.get('stopping_step')}, "
        f"batch={config.get('train_batch_size')}, lr={config.get('learning_rate')}.",
        "- `candidates`: `seen_excluded` (primary) removes each user's earlier items from the candidates, as the "
        "literature's ML-1M numbers do; `all_items` ranks the target among all items (RecBole's evaluator).",
        "- ± is the sample standard deviation over seeds: the seeds' spread (none with one seed).",
    ]


def _overall_table(overall: pd.DataFrame) -> list[str]:
    lines = ["| model | candidates | seeds | test NDCG@10 | test HR@10 | test MRR@10 | best epoch | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for candidates in (PRIMARY_CANDIDATES, SECONDARY_CANDIDATES):
        for _, row in overall[overall["candidates"] == candidates].iterrows():
            name = f"{candidates} (primary)" if candidates == PRIMARY_CANDIDATES else candidates
            lines.append(f"| {row['model']} | {name} | {row['n_seeds']} | "
                         + " | ".join(_pm(row, f"test_{k}") for k in ("ndcg@10", "hit@10", "mrr@10"))
                         + f" | {_pm(row, 'best_epoch', 1)} | {_pm(row, 'train_time_s', 0)} |")
    return lines


def _anchor_sections(dataset: str, overall: pd.DataFrame) -> list[str]:
    promised, published = anchors_for(dataset, "promised"), anchors_for(dataset, "published")
    if not promised and not published:
        return ["No cited numbers are kept for this dataset (`recbole_hybrid/anchors.py`)."]
    out = []
    ours = {c: overall[overall["candidates"] == c].set_index("model") for c in (PRIMARY_CANDIDATES,
                                                                                SECONDARY_CANDIDATES)}
    if promised:
        out += [f"Beside the seed workflow's promised table ({promised[0].source}; {promised[0].protocol}). NDCG@10 "
                "/ HR@10 / MRR@10, ours as mean over seeds:", "",
                f"| model | ours, {PRIMARY_CANDIDATES} | ours, {SECONDARY_CANDIDATES} | promised |",
                "|---|---|---|---|"]
        for a in promised:
            cells = []
            for c in (PRIMARY_CANDIDATES, SECONDARY_CANDIDATES):
                if a.model in ours[c].index:
                    r = ours[c].loc[a.model]
                    cells.append(" / ".join(f"{r[f'test_{k}_mean']:.4f}" for k in ("ndcg@10", "hit@10", "mrr@10")))
                else:
                    cells.append("not run")
            out.append(f"| {a.model} | {cells[0]} | {cells[1]} | {a.ndcg10:.3f} / {a.hr10:.3f} / {a.mrr10:.3f} |")
        out.append("")
    if published:
        out += ["Published full-ranking numbers (their protocols, not ours: comparable in scale with our "
                f"`{PRIMARY_CANDIDATES}` rows only, and exactly only on their own data file):", "",
                "| source | model | NDCG@10 | HR@10 | protocol |", "|---|---|---|---|---|"]
        out += [f"| {a.source} | {a.model} | {a.ndcg10:.4f} | {a.hr10:.4f} | {a.protocol} |" for a in published]
        out.append("")
    out.append("These numbers are citations kept in `recbole_hybrid/anchors.py`, not results of this project.")
    return out


def _group_table(groups: pd.DataFrame, range_column: str = "length_range") -> list[str]:
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    lines = [f"| model | candidates | group | users | test NDCG@10 | minus {BASELINE} [95% bootstrap CI] |",
             "|---|---|---|---|---|---|"]
    for candidates in (PRIMARY_CANDIDATES, SECONDARY_CANDIDATES):
        for _, r in groups[groups["candidates"] == candidates].iterrows():
            diff = "" if metric not in r or pd.isna(r[metric]) else \
                f"{r[metric]:+.4f} [{r['diff_ci_low']:+.4f}, {r['diff_ci_high']:+.4f}]"
            lines.append(f"| {r['model']} | {candidates} | {r['group']} ({r[range_column]}) | {r['n_users']} | "
                         f"{_pm(r, 'test_ndcg@10')} | {diff} |")
    return lines


def _uncorrected_note(groups: pd.DataFrame) -> str:
    """How many of ``groups``' intervals a reader sees, and that none is corrected for the others."""
    metric = f"diff_test_{SIGNIFICANCE_METRIC}"
    n = int(groups.loc[groups["candidates"] == PRIMARY_CANDIDATES, metric].notna().sum()) if metric in groups else 0
    if n < 2:
        return ""
    return (f"The {n} {PRIMARY_CANDIDATES} intervals below are each a 95% interval, not corrected for the others "
            f"(unlike the Holm-corrected tests): by chance alone about {n / 20:.1f} of them would exclude 0, so a "
            "group where one does is a place to look, not a finding on its own.")


def _lacking_note(runs: list[Run], key: str, what: str) -> str | None:
    """How many records' ranks lack ``test_<key>`` (``what`` of their test targets) and the command that adds it,
    or None when none does."""
    lacking = [run.run_id for run in runs if f"test_{key}" not in run.ranks]
    if not lacking:
        return None
    return (f"Not computed: {len(lacking)} of the {len(runs)} records' ranks lack the {what} of their test targets "
            f"(saved before runs wrote them; first: {lacking[0]}). "
            "`recbole-hybrid experiments target-counts RECORD.json ...` adds them from the dataset.")


def _popularity_section(runs: list[Run], popularity: pd.DataFrame) -> list[str]:
    """The README's section on the target-popularity groups, or how to get them when records lack the counts."""
    lines = ["## By the test target's popularity", ""]
    note = _lacking_note(runs, "target_count", "training counts")
    if note:
        return lines + [note, ""]
    return lines + [
        "n is the number of training-split interactions with the user's test target; Q1-Q4 split the test users "
        "at its quartiles (Q1 the rarest targets; users with tied counts stay together). Differences and intervals "
        f"as for the length groups. Each group holds about a quarter of the users, so none is small. "
        + _uncorrected_note(popularity),
        "", *_group_table(popularity, "count_range"), "", "Full table: `popularity_groups.csv`.", ""]


def _no_edge_sentence(graph: pd.DataFrame) -> str:
    counts = graph.drop_duplicates("group").set_index("group")["n_users"]
    n, total = int(counts.get(GRAPH_GROUPS[0], 0)), int(counts.sum())
    share = n / total if total else 0.0
    text = f"The `{GRAPH_GROUPS[0]}` group holds {n} of {total} test users ({share:.1%})"
    return text + (": it is small, so its intervals are wide." if share < SMALL_GROUP else ".")


def _graph_section(runs: list[Run], graph: pd.DataFrame) -> list[str]:
    """The README's section on the graph groups, or how to get them when records lack the target degrees."""
    lines = ["## By whether the test target is in the item graph", ""]
    note = _lacking_note(runs, "target_degree", "graph degrees")
    if note:
        return lines + [note, ""]
    if graph.empty:
        return lines + ["Not computed: the records lack the training counts of their test targets (above).", ""]
    window, min_count = default_graph_settings()
    return lines + [
        f"The item graph here is the hybrids' default one (graph_window {window}, graph_min_count {min_count}, built "
        "from the training split), the same for every label, SASRec included. A target with no edge in it gets "
        "nothing from the graph's propagation: its row of G is a second ID row. The targets with edges are split at "
        "the first popularity quartile, so `Q1 with edges` against `no edge` asks, among the rarest targets, whether "
        "a gain comes through the graph or only through the extra table. " + _no_edge_sentence(graph) + " "
        + _uncorrected_note(graph),
        "", *_group_table(graph, "target_range"), "", "Full table: `graph_groups.csv`.", ""]


def _significance_table(sig: pd.DataFrame) -> list[str]:
    lines = ["| model | baseline | candidates | users | mean diff [95% CI] | t-test p | Holm p | per seed: diff "
             "(t-test p) |", "|---|---|---|---|---|---|---|---|"]
    for candidates in (PRIMARY_CANDIDATES, SECONDARY_CANDIDATES):
        chosen = sig[sig["candidates"] == candidates]
        for (model, baseline), rows in chosen.groupby(["model", "baseline"], sort=False):
            main = rows[rows["p_holm"].notna()].iloc[0]
            per_seed = rows[rows["seeds"] != "pooled"]
            seeds = "; ".join(f"{r['seeds']}: {r['mean_diff']:+.4f} ({r['t_p']:.2g})" for _, r in per_seed.iterrows())
            lines.append(f"| {model} | {baseline} | {candidates} | {main['n']} | {main['mean_diff']:+.4f} "
                         f"[{main['ci_low']:+.4f}, {main['ci_high']:+.4f}] | {main['t_p']:.2g} | "
                         f"{main['p_holm']:.2g} | {seeds} |")
    return lines


def _other_folders(out_dir: Path, runs_dir: Path) -> list[str]:
    """Links to the other result folders under ``out_dir`` that have a README (demo, benchmarks, ...)."""
    out = []
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and (p / "README.md").is_file()):
        if folder.resolve() == runs_dir.resolve():
            continue
        title = next((line.lstrip("# ").strip() for line in (folder / "README.md").read_text().splitlines()
                      if line.startswith("#")), folder.name)
        out.append(f"- [`{folder.name}/`]({folder.name}/README.md): {title}")
    return out


def readme(runs: list[Run], tables: dict[str, pd.DataFrame], runs_dir: Path, out_dir: Path, images: list[str],
           command: list[str]) -> str:
    """The results README: provenance, findings, tables beside the cited numbers, significance, figures."""
    dataset = runs[0].record["dataset"]
    groups, sig = tables["length_groups"], tables["significance"]
    L_short, L_long = config_value(runs, "L_short"), config_value(runs, "L_long")
    lines = [
        f"# Results: {dataset}, {', '.join(model_order(runs))}",
        "",
        *_provenance(runs, runs_dir, out_dir, command),
        "",
        "## Findings (generated from the numbers below)",
        "",
        *(f"- {sentence}" for sentence in findings(runs, tables)),
        "",
        "## Test metrics (mean ± std over seeds)",
        "",
        *_overall_table(tables["overall_comparison"]),
        "",
        "Full table (validation too, @5/@10/@20): `overall_comparison.csv`.",
        "",
        "## Beside the promised and published numbers",
        "",
        *_anchor_sections(dataset, tables["overall_comparison"]),
        "",
        f"## By history length (L_short={L_short}, L_long={L_long})",
        "",
        f"L is the true number of items before the test target. {_short_group_sentence(groups)} The difference "
        f"to {BASELINE} averages each user's value over the seeds, then resamples the group's users "
        f"({analysis.GROUP_BOOTSTRAP} paired bootstrap draws, seed {analysis.BOOTSTRAP_SEED}). "
        + _uncorrected_note(groups),
        "",
        *_group_table(groups),
        "",
        "Full table: `length_groups.csv`.",
        "",
        *_cap_section(runs, tables["history_caps"]),
        *_popularity_section(runs, tables["popularity_groups"]),
        *_graph_section(runs, tables["graph_groups"]),
        "## Significance (per-user test NDCG@10, paired)",
        "",
        f"Each model against {BASELINE}, and each hybrid against its graph-less control. Main row: pooled over seeds "
        "(each user's values averaged over the seeds, then a paired test over users), or the one seed's row. "
        f"Holm p: the t-test's p after Holm's correction over all {int(sig['p_holm'].notna().sum())} main rows "
        f"(both candidate sets); significant at {LEVEL} when below it. Per seed: each seed's own mean difference "
        "and p, to show whether the seeds agree.",
        "",
        *(_significance_table(sig) + ["", "Full table (Wilcoxon signed-rank too): `significance.csv`."]
          if not sig.empty else [f"No comparison: no label shares a seed with {BASELINE}."]),
        "",
        "## Figures",
        "",
        "Learning curves (mean over seeds); NDCG@10 by length group (std over seeds); the difference to "
        f"{BASELINE} by length group ({PRIMARY_CANDIDATES}, bootstrap 95% CI)"
        + ("" if tables["popularity_groups"].empty else " and by the test target's popularity")
        + ("" if tables["graph_groups"].empty else " and by whether it has an edge in the item graph")
        + ("; the learned a(L) of every run of " + ", ".join(tables["alpha_curves"]["model"].unique())
           + ", one line per seed "
           "(`alpha_curves.csv`)." if not tables["alpha_curves"].empty else "."),
        "",
        *(f"![{Path(name).stem}]({name})" for name in images),
        "",
    ]
    others = _other_folders(out_dir, runs_dir)
    if others:
        lines += ["## Other result folders", "", *others, ""]
    return "\n".join(lines)


# ---- the short form, for the project README ------------------------------------------------------------------

def summary_markers(dataset: str, preset: str) -> tuple[str, str]:
    """The two lines between which ``--summary_into`` writes the summary of ``dataset``'s ``preset`` runs."""
    return (f"<!-- results {dataset} {preset}: generated by experiments analyze, do not edit -->",
            f"<!-- end of results {dataset} {preset} -->")


def _block_span(text: str | None, path: Path, markers: tuple[str, str]) -> tuple[int, int]:
    """Line indices of the two markers in ``text``; ``AnalysisError`` naming the file when they are not there once."""
    if text is None:
        raise AnalysisError(f"{path}: no such file to write the summary into")
    lines = text.splitlines()
    found = [[i for i, line in enumerate(lines) if line.strip() == marker] for marker in markers]
    if [len(f) for f in found] != [1, 1] or found[0][0] > found[1][0]:
        raise AnalysisError(f"{path} needs the line {markers[0]!r} and, below it, {markers[1]!r}, once each: the "
                            "summary is written between them")
    return found[0][0], found[1][0]


def write_summary(path: Path, markers: tuple[str, str], lines: list[str]) -> None:
    """Replace what lies between the two marker lines of ``path`` with ``lines``; the rest of the file is kept."""
    text = path.read_text()
    begin, end = _block_span(text, path, markers)
    old = text.splitlines()
    new = old[:begin + 1] + lines + old[end:]
    path.write_text("\n".join(new) + ("\n" if text.endswith("\n") else ""))
    print(f"wrote the summary into {path}")


def summary(runs: list[Run], tables: dict[str, pd.DataFrame], out_dir: Path, from_dir: Path,
            command: list[str]) -> list[str]:
    """The results in short: primary test metrics per model with its difference to SASRec and Holm p, the
    provenance in one paragraph, and a link (relative to ``from_dir``) to the full README in ``out_dir``."""
    overall, sig = tables["overall_comparison"], tables["significance"]
    primary = overall[overall["candidates"] == PRIMARY_CANDIDATES]
    lines = ["", f"| model | seeds | test NDCG@10 | test HR@10 | test MRR@10 | NDCG@10 minus {BASELINE} [95% CI] "
                 "| Holm p |", "|---|---|---|---|---|---|---|"]
    for _, row in primary.iterrows():
        family = _family_row(sig, row["model"], BASELINE) if row["model"] != BASELINE else None
        diff, holm = ("", "") if family is None else (
            f"{family['mean_diff']:+.4f} [{family['ci_low']:+.4f}, {family['ci_high']:+.4f}]",
            f"{family['p_holm']:.2g}")
        metrics = " | ".join(_pm(row, f"test_{k}") for k in ("ndcg@10", "hit@10", "mrr@10"))
        lines.append(f"| {row['model']} | {row['n_seeds']} | {metrics} | {diff} | {holm} |")
    verdicts = [_verdict(sig, model, BASELINE) for model in model_order(runs) if model != BASELINE]
    verdicts += [_verdict(sig, model, control) for model, control in analysis.graph_controls(runs)]
    verdicts = [v for v in verdicts if v]
    if verdicts:
        lines += ["", f"Holm-corrected at {LEVEL}: " + "; ".join(verdicts) + "."]
    caps = _cap_sentences(runs, tables["history_caps"])
    if caps:
        figure = Path(os.path.relpath(out_dir / CAPS_FIGURE, from_dir)).as_posix()
        lines += ["", " ".join(caps), "", f"![test NDCG@10 by history cap]({figure})"]
    published = anchors_for(runs[0].record["dataset"], "published")
    if published:
        lines += ["", "Published, on their own protocols and files (NDCG@10 / HR@10): " + "; ".join(
            f"{a.model} {a.ndcg10:.4f} / {a.hr10:.4f} ({a.source.split(',')[0]})" for a in published) + "."]
    files = _config_files(runs)
    days = sorted({r.record["date"][:10] for r in runs})
    devices = sorted({r.record["device"] for r in runs})
    seeds = sorted({r.seed for r in runs})
    link = Path(os.path.relpath(out_dir / "README.md", from_dir)).as_posix()
    spread = (f"± the std over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1
              else f"one seed ({seeds[0]}), so no spread")
    seed_sets = {frozenset(r.seed for r in runs if r.label == label) for label in model_order(runs)}
    if len(seed_sets) > 1:
        spread += (f" (each label's own seeds); a label's difference to {BASELINE} is paired over the seeds it "
                   f"shares with {BASELINE}, so with unequal seeds it is not the difference of the two means")
    lines += ["", f"Seen items excluded from the candidates (the primary set, as in the literature); {spread}; config "
                  + (", ".join(f"`{f}`" for f in files) or "the preset's") + f"; {'; '.join(devices)}; "
                  + (days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}") + f". Generated by "
                  f"`{' '.join(command)}` from {len(runs)} run record{'s' if len(runs) != 1 else ''}. Findings, "
                  f"all-items numbers, length, target-popularity and graph groups, per-seed tests and figures: "
                  f"[{link}]({link}).", ""]
    return lines


def _verdict(sig: pd.DataFrame, model: str, baseline: str) -> str | None:
    """``HybridX above SASRec`` / ``below`` / ``no significant difference to``, from the Holm family row."""
    row = _family_row(sig, model, baseline)
    if row is None:
        return None
    direction = _direction(row)
    return f"**{model} {direction} {baseline}**" if direction else f"{model} no significant difference to {baseline}"
