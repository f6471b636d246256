"""Tables, tests and plots of a comparison, computed from the saved run records and per-user ranks only.

Every metric is recomputed from the saved ranks (``evaluation.metrics_from_ranks``), so the overall table, the
length groups and the significance tests all rest on the same per-user numbers. Each table has a ``candidates``
column: ``all_items`` (RecBole's protocol) or ``seen_excluded`` (``filter_seen``: the user's earlier items are not
candidates; the literature's ML-1M protocol).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.evaluation import CUTOFFS, METRICS, metrics_from_ranks, per_user_metric
from recbole_hybrid.records import load_ranks
from recbole_hybrid.stats import paired_tests

METRIC_KEYS = tuple(f"{m}@{k}" for m in METRICS for k in CUTOFFS)
CANDIDATES = {"all_items": "rank", "seen_excluded": "rank_filter_seen"}
BASELINE = "SASRec"
MODEL_ORDER = (BASELINE, *HYBRID_MODELS)
GROUPS = ("short", "mid", "long")
SIGNIFICANCE_METRIC = "ndcg@10"


class AnalysisError(ValueError):
    """The saved runs cannot be analysed together; the message names the runs or files."""


@dataclass
class Run:
    """One saved run: its JSON record, its per-user ranks and, for learned policies, its ``a(L)`` curve."""

    record: dict
    ranks: dict[str, np.ndarray]
    alpha: dict | None

    @property
    def model(self) -> str:
        return self.record["model"]

    @property
    def seed(self) -> int:
        return self.record["seed"]


def load_runs(runs_dir: str | Path, dataset: str, preset: str) -> list[Run]:
    """Every complete run ``*-<dataset>-<preset>-seed*`` in ``runs_dir``, sorted by model and seed."""
    runs_dir = Path(runs_dir)
    paths = sorted(runs_dir.glob(f"*-{dataset}-{preset}-seed*.json"))
    paths = [p for p in paths if not p.name.endswith(".alpha.json")]
    if not paths:
        raise AnalysisError(f"no run records *-{dataset}-{preset}-seed*.json in {runs_dir}: run "
                            f"`python -m recbole_hybrid.experiments {preset} --dataset={dataset}` first")
    runs = []
    for path in paths:
        record = json.loads(path.read_text())
        ranks_path = path.with_name(record.get("ranks_file") or f"{path.stem}.ranks.npz")
        if not ranks_path.is_file():
            raise AnalysisError(f"{path}: its per-user ranks {ranks_path.name} are missing (an interrupted run? "
                                f"delete the record and run the comparison again)")
        alpha_path = path.with_name(f"{path.stem}.alpha.json")
        alpha = json.loads(alpha_path.read_text()) if alpha_path.is_file() else None
        runs.append(Run(record, load_ranks(ranks_path), alpha))
    for key in ("L_short", "L_long", "MAX_ITEM_LIST_LENGTH", "val_interval", "user_inter_num_interval"):
        values = {json.dumps(r.record["config"].get(key)) for r in runs}
        if len(values) > 1:
            raise AnalysisError(f"runs in {runs_dir} differ in {key} ({', '.join(sorted(values))}): "
                                f"they do not share one protocol")
    return sorted(runs, key=lambda r: (r.model, r.seed))


def model_order(runs: list[Run]) -> list[str]:
    models = {r.model for r in runs}
    return [m for m in MODEL_ORDER if m in models] + sorted(models - set(MODEL_ORDER))


def _mean_std(table: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean and sample std (NaN for one seed) over seeds of ``values``, per ``keys``."""
    grouped = table.groupby(keys, sort=False)[values]
    mean, std = grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_std")
    cols = [c for v in values for c in (f"{v}_mean", f"{v}_std")]
    return pd.concat([mean, std], axis=1)[cols].reset_index()


def overall_comparison(runs: list[Run]) -> pd.DataFrame:
    """Per model and candidate set: mean and std over seeds of test and validation metrics, best epoch, time."""
    rows = []
    for run in runs:
        for candidates, rank_key in CANDIDATES.items():
            row = {"model": run.model, "candidates": candidates, "seed": run.seed,
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


def length_group(length: np.ndarray, L_short: int, L_long: int) -> np.ndarray:
    """``short`` for ``L <= L_short``, ``mid`` for ``L_short < L <= L_long``, ``long`` beyond: on TRUE lengths."""
    return np.asarray(GROUPS)[(length > L_short).astype(int) + (length > L_long).astype(int)]


def length_groups(runs: list[Run]) -> pd.DataFrame:
    """Test metrics by history-length group (thresholds ``L_short``/``L_long`` of the runs' config)."""
    L_short, L_long = runs[0].record["config"]["L_short"], runs[0].record["config"]["L_long"]
    bounds = {"short": f"L<={L_short}", "mid": f"{L_short}<L<={L_long}", "long": f"L>{L_long}"}
    rows = []
    for run in runs:
        groups = length_group(run.ranks["test_history_length"], L_short, L_long)
        for candidates, rank_key in CANDIDATES.items():
            ranks = run.ranks[f"test_{rank_key}"]
            for group in GROUPS:
                in_group = groups == group
                row = {"model": run.model, "candidates": candidates, "group": group, "length_range": bounds[group],
                       "n_users": int(in_group.sum()), "seed": run.seed}
                if in_group.any():
                    row.update({f"test_{k}": v for k, v in metrics_from_ranks(ranks[in_group]).items()})
                rows.append(row)
    table = pd.DataFrame(rows)
    out = _mean_std(table, ["model", "candidates", "group", "length_range", "n_users"],
                    [f"test_{k}" for k in METRIC_KEYS])
    return _sorted(out, runs, extra=["group"])


def _sorted(table: pd.DataFrame, runs: list[Run], extra: list[str] = ()) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(model_order(runs))}
    keys = {"model": lambda s: s.map(order), "candidates": lambda s: s.map(list(CANDIDATES).index),
            "group": lambda s: s.map(GROUPS.index)}
    by = ["model", "candidates", *extra]
    return table.sort_values(by, key=lambda s: keys[s.name](s), kind="stable").reset_index(drop=True)


def _paired(model_run: Run, base_run: Run, rank_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted user ids and the per-user test ``SIGNIFICANCE_METRIC`` of the two runs on them."""
    users, i, j = np.intersect1d(model_run.ranks["test_user_id"], base_run.ranks["test_user_id"],
                                 return_indices=True)
    if len(users) != len(model_run.ranks["test_user_id"]):
        raise AnalysisError(f"{model_run.record['run_id']} and {base_run.record['run_id']} were tested on different "
                            f"users: they do not share one dataset split")
    return (users, per_user_metric(model_run.ranks[f"test_{rank_key}"][i], SIGNIFICANCE_METRIC),
            per_user_metric(base_run.ranks[f"test_{rank_key}"][j], SIGNIFICANCE_METRIC))


def significance(runs: list[Run], n_boot: int = 10_000) -> pd.DataFrame:
    """Each model against SASRec on per-user test NDCG@10, per seed and pooled over seeds.

    A model's seed-``s`` run is paired with SASRec's seed-``s`` run; seeds without both are left out. Pooled: each
    user's value averaged over the seeds, then tested over users. Users are the independent units; stacking
    users x seeds as separate pairs would count every user several times and understate the p-values.
    """
    base = {r.seed: r for r in runs if r.model == BASELINE}
    if not base:
        raise AnalysisError(f"no {BASELINE} run to compare against: run the comparison with {BASELINE}")
    rows = []
    for model in model_order(runs)[1:]:
        pairs = [(r, base[r.seed]) for r in runs if r.model == model and r.seed in base]
        for candidates, rank_key in CANDIDATES.items():
            samples = [(str(r.seed), *_paired(r, b, rank_key)) for r, b in pairs]
            if len(samples) > 1:
                if any(not np.array_equal(s[1], samples[0][1]) for s in samples):
                    raise AnalysisError(f"{model}: the seeds' runs were tested on different users")
                samples.append(("pooled", samples[0][1], np.mean([s[2] for s in samples], axis=0),
                                np.mean([s[3] for s in samples], axis=0)))
            for seeds, _, a, b in samples:
                result = paired_tests(a, b, n_boot=n_boot)
                rows.append({"model": model, "baseline": BASELINE, "candidates": candidates, "seeds": seeds,
                             "metric": f"test {SIGNIFICANCE_METRIC}", **result})
    return pd.DataFrame(rows)


def protocol(runs: list[Run]) -> dict:
    """Dataset, filters, split and budget of the runs, for the README."""
    config = runs[0].record["config"]
    return {"dataset": runs[0].record["dataset"], "data": runs[0].record["data"],
            "val_interval": config.get("val_interval"),
            "user_inter_num_interval": config.get("user_inter_num_interval"),
            "split": config.get("eval_args"), "MAX_ITEM_LIST_LENGTH": config.get("MAX_ITEM_LIST_LENGTH"),
            "L_short": config.get("L_short"), "L_long": config.get("L_long"),
            "epochs": config.get("epochs"), "stopping_step": config.get("stopping_step"),
            "train_batch_size": config.get("train_batch_size"), "learning_rate": config.get("learning_rate"),
            "selection": runs[0].record.get("selection")}


def _markdown_overall(table: pd.DataFrame) -> str:
    lines = ["| model | candidates | seeds | " + " | ".join(f"test {k}" for k in ("ndcg@10", "hit@10", "mrr@10")) +
             " | best epoch | train s |", "|---" * 8 + "|"]
    for _, row in table.iterrows():
        cells = [_pm(row, f"test_{k}") for k in ("ndcg@10", "hit@10", "mrr@10")]
        lines.append(f"| {row['model']} | {row['candidates']} | {row['n_seeds']} | " + " | ".join(cells) +
                     f" | {_pm(row, 'best_epoch', 1)} | {_pm(row, 'train_time_s', 0)} |")
    return "\n".join(lines)


def _pm(row: pd.Series, key: str, digits: int = 4) -> str:
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")


def write_readme(path: Path, runs_dir: Path, runs: list[Run], tables: dict[str, pd.DataFrame], plots: list[Path],
                 command: list[str]) -> Path:
    """``results/README.md``: where every number comes from, then the tables and plots."""
    proto = protocol(runs)
    devices = sorted({r.record["device"] for r in runs})
    dates = sorted(r.record["date"] for r in runs)
    commits = sorted({str(r.record["versions"].get("git_commit")) for r in runs})
    groups = tables["length_groups"]
    sig = tables["significance"]
    lines = [
        f"# Results: {proto['dataset']}",
        "",
        "Generated by `" + " ".join(command) + "` from the run records in "
        f"`{_relative(runs_dir, path.parent)}` (records, per-user ranks and a(L) curves; every number below is "
        "recomputed from them).",
        "",
        f"- Runs: {len(runs)} ({', '.join(model_order(runs))}), seeds "
        f"{' '.join(map(str, sorted({r.seed for r in runs})))}; run commands as recorded: "
        f"`{' '.join(runs[0].record['command'])}`",
        f"- Device: {'; '.join(devices)}; trainer: "
        f"{', '.join(sorted({str(r.record.get('trainer', 'recbole')) for r in runs}))}",
        f"- Dates (UTC): {dates[0]} to {dates[-1]}; git commits: {', '.join(commits)}",
        f"- Dataset: {proto['dataset']}: {proto['data']['users']} users, {proto['data']['items']} items, "
        f"{proto['data']['interactions']} interactions after the filters val_interval={proto['val_interval']}, "
        f"user_inter_num_interval={proto['user_inter_num_interval']}",
        f"- Protocol: leave-one-out by time ({proto['split']}), full ranking over all items; "
        f"MAX_ITEM_LIST_LENGTH={proto['MAX_ITEM_LIST_LENGTH']}; model selection on {proto['selection']}",
        f"- Budget: epochs={proto['epochs']}, patience={proto['stopping_step']}, "
        f"batch={proto['train_batch_size']}, lr={proto['learning_rate']}",
        "- `candidates`: `all_items` ranks the target among all items (RecBole's evaluator); `seen_excluded` "
        "removes each user's earlier items from the candidates (the literature's ML-1M numbers).",
        "- ± is the sample standard deviation over seeds (none with one seed).",
        "",
        "## Overall (test, mean over seeds)",
        "",
        _markdown_overall(tables["overall_comparison"]),
        "",
        "Full table: `overall_comparison.csv`.",
        "",
        f"## By history length (test NDCG@10; L is the true number of items before the test target, "
        f"groups {', '.join(groups['length_range'].drop_duplicates())})",
        "",
        "| model | candidates | group | users | test ndcg@10 |",
        "|---|---|---|---|---|",
        *(f"| {r['model']} | {r['candidates']} | {r['group']} ({r['length_range']}) | {r['n_users']} | "
          f"{_pm(r, 'test_ndcg@10')} |" for _, r in groups.iterrows()),
        "",
        "Full table: `length_groups.csv`.",
        "",
        f"## Against {BASELINE} (per-user test NDCG@10, paired)",
        "",
        "| model | candidates | seeds | users | mean diff | 95% bootstrap CI | t-test p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r['model']} | {r['candidates']} | {r['seeds']} | {r['n']} | {r['mean_diff']:+.4f} | "
          f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['t_p']:.3g} | {r['wilcoxon_p']:.3g} |"
          for _, r in sig.iterrows()),
        "",
        "Full table: `significance.csv`. Per-seed rows pair each user's values in the two models' runs of that "
        "seed; pooled rows first average each user's value over the seeds, then test over users.",
        "",
        "## Plots",
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def _relative(path: Path, start: Path) -> str:
    try:
        return str(path.resolve().relative_to(start.resolve()))
    except ValueError:
        return str(path)


def analyze(dataset: str, preset: str, runs_dir: str | Path = "results/runs", out_dir: str | Path = "results",
            save: bool = False, command: list[str] | None = None, n_boot: int = 10_000) -> dict[str, pd.DataFrame]:
    """Build the three tables; with ``save``, write them as CSV with the plots and ``README.md`` in ``out_dir``."""
    runs = load_runs(runs_dir, dataset, preset)
    tables = {"overall_comparison": overall_comparison(runs), "length_groups": length_groups(runs),
              "significance": significance(runs, n_boot=n_boot)}
    if not save:
        with pd.option_context("display.width", 200, "display.max_columns", 12):
            for name, table in tables.items():
                print(f"== {name}\n{table}\n")
        return tables
    from recbole_hybrid import plots  # matplotlib only when writing

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False, float_format="%.6g")
    images = [plots.learning_curves(runs, out_dir / "learning_curves.png"),
              plots.length_group_bars(tables["length_groups"], out_dir / "length_groups.png")]
    if any(r.alpha for r in runs):
        images.append(plots.alpha_curves(runs, out_dir / "alpha_curves.png"))
    write_readme(out_dir / "README.md", Path(runs_dir), runs, tables, images,
                 command or ["python -m recbole_hybrid.experiments analyze", f"--dataset={dataset}",
                             f"--preset={preset}", "--save_csv"])
    print(f"wrote {', '.join(f'{n}.csv' for n in tables)}, {len(images)} plots and README.md to {out_dir} "
          f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    return tables
