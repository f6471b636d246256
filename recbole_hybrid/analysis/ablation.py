"""One setting's effect: two runs of one model, dataset and seed whose recipes differ only in the named settings.

    recbole-hybrid experiments ablate --a=RUN.json --b=RUN.json --keys=sequence_loss_weight [--out_dir=DIR]

``a`` is the variant, ``b`` the reference: every difference is ``a - b``. Both records and their per-user ranks are
read (``runs.load_run``); the pair is refused, naming the keys, when the runs differ in model, dataset, seed or any
setting outside ``--keys`` (``fingerprint.comparable`` fills keys older records lack), or do not differ in them.
Reported: test metrics of both on both candidate sets, the paired tests of per-user test NDCG@10 (t-test, Wilcoxon,
bootstrap interval), the difference per history-length group with its bootstrap interval, and the validation curves
(NDCG@10 on the selection's candidate set) side by side. ``--out_dir`` gets ``README.md`` and ``ablation.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recbole_hybrid.analysis.tables import CANDIDATES, GROUP_BOOTSTRAP, PRIMARY_CANDIDATES, SIGNIFICANCE_METRIC, paired
from recbole_hybrid.metrics import metrics_from_ranks
from recbole_hybrid.utils.fingerprint import comparable
from recbole_hybrid.data.lengths import group_names, group_ranges
from recbole_hybrid.utils.records import plain, write_json
from recbole_hybrid.analysis.runs import GROUPS, IGNORED_KEYS, RECORD_KEYS, AnalysisError, Run, load_run
from recbole_hybrid.analysis.stats import bootstrap_mean_ci, paired_tests

#: Validation curves are shown at every this many epochs (and at each run's best epoch).
CURVE_EVERY = 5


def settings_differences(a: Run, b: Run) -> dict[str, tuple[Any, Any]]:
    """``key -> (a's value, b's value)`` of every compared record field and config key that differs."""
    left = {**{k: a.record.get(k) for k in ("model", "label", "seed", *RECORD_KEYS)},
            **{k: v for k, v in comparable(a.record["config"]).items() if k not in IGNORED_KEYS}}
    right = {**{k: b.record.get(k) for k in ("model", "label", "seed", *RECORD_KEYS)},
             **{k: v for k, v in comparable(b.record["config"]).items() if k not in IGNORED_KEYS}}
    return {key: (left.get(key), right.get(key)) for key in sorted(left.keys() | right.keys())
            if left.get(key) != right.get(key)}


def load_pair(a_path: str | Path, b_path: str | Path, keys: list[str]) -> tuple[Run, Run]:
    """The two runs, checked to differ in ``keys`` and in nothing else (``AnalysisError`` names what is wrong)."""
    a, b = load_run(Path(a_path)), load_run(Path(b_path))
    diff = settings_differences(a, b)
    other = {k: v for k, v in diff.items() if k not in keys}
    if other:
        shown = ", ".join(f"{k} ({v[0]!r} vs {v[1]!r})" for k, v in list(other.items())[:6])
        raise AnalysisError(f"refused: {a.run_id} ({a_path}) and {b.run_id} ({b_path}) differ outside "
                            f"--keys={','.join(keys)}: {shown}")
    if not diff:
        raise AnalysisError(f"refused: {a_path} and {b_path} do not differ in --keys={','.join(keys)}")
    return a, b


def _curve(run: Run) -> dict[int, float]:
    """Validation ``SIGNIFICANCE_METRIC`` per epoch on the candidate set the run selected on."""
    split = "valid_filter_seen" if run.record["config"].get("filter_seen") else "valid"
    return {e.get("epoch", i): e[split][SIGNIFICANCE_METRIC] for i, e in enumerate(run.record["epochs"]) if split in e}


def compare(a: Run, b: Run, n_boot: int = 10_000) -> dict[str, Any]:
    """The ablation's numbers (module docstring) as plain data."""
    config = a.record["config"]
    L_short, L_long = config["L_short"], config["L_long"]
    bounds = group_ranges(L_short, L_long)
    out: dict[str, Any] = {"a": a.run_id, "b": b.run_id, "keys": settings_differences(a, b), "runs": {},
                           "tests": [], "groups": []}
    for name, run in (("a", a), ("b", b)):
        out["runs"][name] = {
            "path": str(run.path), "date": run.record["date"], "device": run.record["device"],
            "epochs": len(run.record["epochs"]), "best_epoch": run.record["best_epoch"],
            "train_time_s": run.record["train_time_s"], "selection": run.record.get("selection"),
            "test": {c: metrics_from_ranks(run.ranks[f"test_{k}"]) for c, k in CANDIDATES.items()},
            "curve": _curve(run)}
    for candidates, rank_key in CANDIDATES.items():
        _, va, vb, lengths = paired(a, b, rank_key)
        out["tests"].append({"candidates": candidates, **paired_tests(va, vb, n_boot=n_boot)})
        groups = group_names(lengths, L_short, L_long)
        for group in GROUPS:
            diff = (va - vb)[groups == group]
            low, high = bootstrap_mean_ci(diff, n_boot=GROUP_BOOTSTRAP) if len(diff) else (np.nan, np.nan)
            out["groups"].append({"candidates": candidates, "group": group, "length_range": bounds[group],
                                  "n_users": len(diff), "mean_diff": float(diff.mean()) if len(diff) else np.nan,
                                  "ci_low": low, "ci_high": high})
    return plain(out)


def readme(result: dict[str, Any], command: list[str]) -> str:
    """The ablation as Markdown: what differs, the test numbers, the paired tests, the groups, the curves."""
    a, b = result["runs"]["a"], result["runs"]["b"]
    changed = ", ".join(f"`{k}`: {v[0]!r} (a) vs {v[1]!r} (b)" for k, v in result["keys"].items())
    lines = [f"# Ablation: {changed}", "",
             f"Generated by `{' '.join(command)}` from two run records and their per-user ranks; every number is "
             "recomputed from them. The runs differ in the setting(s) above and in nothing else that defines a run "
             "(checked).", "",
             f"- a: `{result['a']}` ({a['path']}), {a['device']}, {a['date']}",
             f"- b: `{result['b']}` ({b['path']}), {b['device']}, {b['date']}", "",
             "| run | epochs | best epoch | train s | test NDCG@10 (seen excl.) | HR@10 | MRR@10 | "
             "test NDCG@10 (all items) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("a", "b"):
        r = result["runs"][name]
        seen, every = r["test"][PRIMARY_CANDIDATES], r["test"]["all_items"]
        lines.append(f"| {name} | {r['epochs']} | {r['best_epoch']} | {r['train_time_s']:.0f} | "
                     f"{seen['ndcg@10']:.4f} | {seen['hit@10']:.4f} | {seen['mrr@10']:.4f} | {every['ndcg@10']:.4f} |")
    lines += ["", "Paired over users, test NDCG@10, a - b:", "",
              "| candidates | users | mean diff [95% bootstrap CI] | t-test p | Wilcoxon p |",
              "|---|---:|---|---:|---:|"]
    for t in result["tests"]:
        lines.append(f"| {t['candidates']} | {t['n']} | {t['mean_diff']:+.4f} [{t['ci_low']:+.4f}, "
                     f"{t['ci_high']:+.4f}] | {t['t_p']:.2g} | {t['wilcoxon_p']:.2g} |")
    lines += ["", "By history length (test NDCG@10, a - b, paired bootstrap 95% interval over the group's users):", "",
              "| candidates | group | users | mean diff [95% CI] |", "|---|---|---:|---|"]
    for g in result["groups"]:
        lines.append(f"| {g['candidates']} | {g['group']} ({g['length_range']}) | {g['n_users']} | "
                     f"{g['mean_diff']:+.4f} [{g['ci_low']:+.4f}, {g['ci_high']:+.4f}] |")
    curve_a, curve_b = ({int(k): v for k, v in r["curve"].items()} for r in (a, b))
    shown = sorted({e for e in curve_a.keys() | curve_b.keys() if e % CURVE_EVERY == CURVE_EVERY - 1}
                   | {a["best_epoch"], b["best_epoch"]})
    lines += ["", f"Validation NDCG@10 on each run's selection candidates, every {CURVE_EVERY} epochs and at the best "
              "epochs (epochs count from 0; empty: the run had stopped):", "",
              "| epoch | a | b |", "|---:|---:|---:|"]
    for e in shown:
        cells = [f"{c[e]:.4f}" if e in c else "" for c in (curve_a, curve_b)]
        lines.append(f"| {e} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def ablate(a_path: str | Path, b_path: str | Path, keys: list[str], out_dir: str | Path | None,
           command: list[str]) -> str:
    """Check, compare and (with ``out_dir``) write ``README.md`` and ``ablation.json``; returns the Markdown."""
    a, b = load_pair(a_path, b_path, keys)
    result = compare(a, b)
    text = readme(result, command)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "ablation.json", {"command": command, **result})
        (out / "README.md").write_text(text)
    return text

