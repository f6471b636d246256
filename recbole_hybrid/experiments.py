"""SASRec against the hybrids under one protocol and one budget, for several seeds; then the analysis.

    recbole-hybrid experiments PRESET [--dataset=ml-1m] [--seeds=3] [--models=SASRec,HybridFixed]
                                      [--config_files=...] [--key=value ...]
    recbole-hybrid experiments analyze [--dataset=ml-1m] [--preset=paper] [--runs_dir=results/runs]
                                       [--out_dir=results] [--save_csv]
    recbole-hybrid experiments ablate --a=RUN.json --b=RUN.json --keys=KEY[,KEY] [--out_dir=DIR]
    recbole-hybrid experiments status [--checkpoint_dir=saved] [--results_dir=results/runs] [--match=TEXT]
    recbole-hybrid experiments target-counts RECORD.json [RECORD.json ...] [--data_path=DIR]
    recbole-hybrid experiments caps RECORD.json [RECORD.json ...] [--caps=1,2,3,5,10,20,50] [--checkpoint_dir=DIR]
                                    [--data_path=DIR] [--retrained]

(``python -m recbole_hybrid.experiments`` is the same command.) PRESET is a smoke preset, ``pipeline`` (2 epochs: does the
pipeline run?) or ``quick`` (50 epochs, patience 10), or a published one whose settings and budget all come from its
frozen ``--config_files``: ``paper`` (configs/ml-1m/2026-11-27.yaml), ``literature``
(configs/ml-1m/2026-11-27-literature.yaml), ``literature-target`` (configs/ml-1m/2026-11-27-literature-target.yaml,
every target weighs the same), ``workflow-bpr`` (configs/ml-1m/2026-12-03-workflow-bpr.yaml, the seed workflow's
BPR regime) or ``tuned`` (a file written by ``recbole-hybrid tune``); any
``--key=value`` (run's settings) overrides them. ``--models`` also takes the labels of controls (``CONTROLS``:
``HybridDiscrete-nograph`` is HybridDiscrete with ``gnn_layers: 0``) and variants (``VARIANTS``:
``HybridResidual-fused`` is HybridResidual with ``score_table: fused``, its control ``HybridResidual-fused-nograph``,
``HybridResidual-fused-itemgate`` the same with a learned gate per item, ``item_gate: learned``;
``HybridDiscrete-shared`` and ``HybridResidual-fused-shared`` propagate the ID table itself, ``graph_table:
shared``); a record's
``label`` tells it apart. Seeds are 2020, 2021, ... Run ids are ``<Model>-<dataset>-<preset>-seed<seed>``: a run
whose record and ranks already exist in ``results_dir`` is skipped, and a run interrupted during training continues
from its ``last.pth``, so the same command resumes an interrupted comparison where it stopped; a run folder made
with other settings is refused, naming the keys that differ. Each hybrid run also saves its learned ``a(L)`` for
L = 1..MAX_ITEM_LIST_LENGTH as ``<run_id>.alpha.json``. Other overrides are not part of the id: give a comparison
with other settings its own ``--results_dir`` and ``--checkpoint_dir``. With ``--filter_seen=True`` (selection on
validation NDCG@10 without seen items) ids read ``<preset>-fs``; analyse them with ``analyze --preset=<preset>-fs``.

``analyze`` reads only the saved records (``recbole_hybrid.runs``, ``analysis``, ``report``); without ``--save_csv``
it prints the tables and findings, with it it writes the CSVs, plots and ``<out_dir>/README.md``. It refuses runs
that do not share one protocol and recipe (``runs.check_one_protocol``), naming the runs and keys. ``ablate``
compares two runs of one model and seed that differ only in ``--keys`` (``recbole_hybrid.ablation``). ``status``
tells, from the run folders and records alone, which runs are done, training, interrupted or not started, with each
one's best validation so far and at most how many epochs it has left (``recbole_hybrid.progress``).
``target-counts`` adds to ranks files saved before runs wrote them the training counts of the users' target items,
which the analysis's popularity groups need (``recbole_hybrid.target_counts``). ``caps`` adds to existing records
the test with every user's history cut to its last k items (``eval_history_caps``), from each run's saved best
model, without retraining (``recbole_hybrid.caps_backfill``).
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentTypeError
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.config import ConfigError, build_config, resolve_model
from recbole_hybrid.errors import RunInUseError, RunMismatchError, UsageError
from recbole_hybrid.fingerprint import describe, differences, run_settings
from recbole_hybrid.flags import add_config_files, command_parser, parse_command, positive_int
from recbole_hybrid.fusion import item_gates
from recbole_hybrid.records import load_checkpoint, write_json
from recbole_hybrid.runner import run_experiment

MODELS = ("SASRec", *HYBRID_MODELS)

PRESETS: dict[str, dict[str, Any]] = {
    "pipeline": {"epochs": 2},
    "quick": {"epochs": 50, "stopping_step": 10},
    # Published presets hold nothing: their frozen config file alone sets the run, budget included.
    "paper": {},  # --config_files=configs/ml-1m/2026-11-27.yaml
    "tuned": {},  # --config_files=configs/tuned/<Model>-<dataset>.yaml (written by recbole-hybrid tune)
    "literature": {},  # --config_files=configs/ml-1m/2026-11-27-literature.yaml
    "literature-target": {},  # --config_files=configs/ml-1m/2026-11-27-literature-target.yaml (targets weigh alike)
    "workflow-bpr": {},  # --config_files=configs/ml-1m/2026-12-03-workflow-bpr.yaml (the seed workflow's BPR regime)
}

#: Control runs: a label, the model it trains and the settings that make it a control.
CONTROLS: dict[str, tuple[str, dict[str, Any]]] = {
    # same parameters as HybridDiscrete, no graph propagation: G is a second ID table
    "HybridDiscrete-nograph": ("HybridDiscrete", {"gnn_layers": 0}),
    # the same for the variant HybridResidual-fused: is what it gains over SASRec the graph's, or the second table's?
    "HybridResidual-fused-nograph": ("HybridResidual", {"score_table": "fused", "gnn_layers": 0}),
}

#: Variant runs: a design tried after the first results, named apart, trained as a label like a control.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # HybridResidual scoring against its fused table E + (1 - a) G: the graph also shapes the output side
    "HybridResidual-fused": ("HybridResidual", {"score_table": "fused"}),
    # HybridResidual-fused with an item gate: the graph weighs (1 - a(L)) g_i, g_i learned per item (item_gate)
    "HybridResidual-fused-itemgate": ("HybridResidual", {"score_table": "fused", "item_gate": "learned"}),
    # the graph propagates the ID table itself (graph_table: shared): inputs stay tied to the scoring table E
    "HybridDiscrete-shared": ("HybridDiscrete", {"graph_table": "shared"}),
    "HybridResidual-fused-shared": ("HybridResidual", {"score_table": "fused", "graph_table": "shared"}),
}

#: Every label that is not a model class: the model it trains and its settings.
LABELS: dict[str, tuple[str, dict[str, Any]]] = {**CONTROLS, **VARIANTS}

FIRST_SEED = 2020


def run_id(model: str, dataset: str, preset: str, seed: int, filter_seen: bool = False) -> str:
    """The deterministic id that makes skip-if-done possible; ``-fs`` marks selection with ``filter_seen``."""
    return f"{model}-{dataset}-{preset}{'-fs' if filter_seen else ''}-seed{seed}"


def seed_list(seeds: int) -> list[int]:
    """``seeds`` seeds from 2020 on (2020 is RecBole's default seed)."""
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} must be an integer >= 1")
    return list(range(FIRST_SEED, FIRST_SEED + seeds))


def is_done(results_dir: str | Path, rid: str, config=None) -> bool:
    """A run counts as done when both its record and its ranks exist (the record is written last).

    With ``config``, a done run's record must have been made with the same defining settings; else
    ``RunMismatchError`` names the keys that differ (skipping it would report another run's numbers).
    """
    folder = Path(results_dir)
    done = (folder / f"{rid}.json").is_file() and (folder / f"{rid}.ranks.npz").is_file()
    if done and config is not None:
        recorded = run_settings(json.loads((folder / f"{rid}.json").read_text())["config"])
        diff = differences(recorded, run_settings(config))
        if diff:
            raise RunMismatchError(
                f"run {rid} in {folder} was made with other settings ({describe(diff)}): not skipped; give this "
                f"comparison its own --results_dir and --checkpoint_dir, or move that record away")
    return done


def save_alpha_curve(record: dict[str, Any], path: str | Path) -> Path:
    """Write the learned ``a(L)`` of a hybrid run's best checkpoint for L = 1..MAX_ITEM_LIST_LENGTH, and with
    ``item_gate: learned`` each item's gate ``g_i = 2 sigmoid(q_i)`` (``item_gate``, indexed by RecBole item id)."""
    config = record["config"]
    policy = HYBRID_MODELS[record["model"]].build_alpha_policy(config)
    prefix = "fusion.alpha_policy."
    state = load_checkpoint(record["checkpoint"])["state_dict"]
    policy.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    lengths = torch.arange(1, config["MAX_ITEM_LIST_LENGTH"] + 1)
    with torch.no_grad():
        alpha = policy(lengths)
    curve = {"run_id": record["run_id"], "model": record["model"], "seed": record["seed"],
             "length": lengths.tolist(), "alpha": alpha.tolist()}
    if "fusion.item_gate" in state:
        curve["item_gate"] = [round(g, 6) for g in item_gates(state["fusion.item_gate"].float()).tolist()]
    return write_json(path, curve)


def run_comparison(preset: str, dataset: str, seeds: int = 3, models: tuple[str, ...] | list[str] = MODELS,
                   config_files: list[str] | None = None, overrides: dict[str, Any] | None = None,
                   log: Callable[[str], None] = print, progress: bool = True) -> list[dict[str, Any]]:
    """Run (or skip, when done) every model for every seed; return the list of run descriptions.

    Each entry is ``{"run_id", "model", "seed", "status": "ran" | "resumed" | "skipped" | "busy", "results_dir"}``;
    ``busy``: another process is training that run (its lock, ``runlock``), so this one goes on to the next. Two
    processes over the same plan thus share its runs.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if not PRESETS[preset] and not config_files:
        raise ConfigError(f"preset {preset!r} takes its settings and budget from --config_files (its frozen config "
                          f"file, e.g. configs/ml-1m/2026-11-27.yaml for paper); none was given")
    for label in models:
        resolve_model(LABELS.get(label, (label,))[0])  # fail on a typo before hours of training
    settings = {**PRESETS[preset], **(overrides or {})}
    plan = [(seed, label) for seed in seed_list(seeds) for label in models]
    done = []
    emit = (lambda line: tqdm.write(line, file=sys.stderr)) if progress else log
    bar = tqdm(plan, desc=f"{preset} on {dataset}", unit="run", disable=not progress, file=sys.stderr)
    for seed, label in bar:
        model, label_settings = LABELS.get(label, (label, {}))
        run_settings = {**settings, **label_settings, "seed": seed}
        config = build_config(model, dataset, config_files, run_settings)
        rid = run_id(label, dataset, preset, seed, config["filter_seen"])
        bar.set_postfix_str(rid)
        results_dir = Path(config["results_dir"])
        resume = (Path(config["checkpoint_dir"]) / rid / "last.pth").is_file()
        status = "skipped" if is_done(results_dir, rid, config) else "resumed" if resume else "ran"
        if status != "skipped":
            try:
                record = run_experiment(model, dataset, config_files, run_settings, run_id=rid, log=emit,
                                        resume=resume, label=label)
            except RunInUseError as err:
                log(f"{rid}: left to the process training it ({err})")
                status = "busy"
            else:
                if model in HYBRID_MODELS:
                    save_alpha_curve(record, results_dir / f"{rid}.alpha.json")
        else:
            log(f"{rid}: record exists in {results_dir}, skipped")
        done.append({"run_id": rid, "model": label, "seed": seed, "status": status, "results_dir": str(results_dir)})
    return done


def cap_list(text: str) -> list[int]:
    """``--caps=1,2,5`` as ``[1, 2, 5]``; the caps themselves are checked with the run's config."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def main(argv: list[str]) -> int:
    """``recbole-hybrid experiments PRESET|analyze|ablate|status|target-counts ...``; the exit status (user mistakes
    raise)."""
    from argparse import RawDescriptionHelpFormatter

    from recbole_hybrid import ablation, caps_backfill, progress, target_counts
    from recbole_hybrid.history_caps import DEFAULT_CAPS
    from recbole_hybrid.report import analyze
    from recbole_hybrid.runs import AnalysisError

    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid experiments", f"{summary}\n\n{details}", settings=False)
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="PRESET|analyze|ablate|status|target-counts|caps")
    for preset in PRESETS:
        sub = commands.add_parser(preset, allow_abbrev=False, help=f"run the comparison with preset {preset!r}",
                                  description=f"Run the comparison with preset {preset!r} (see "
                                              f"'recbole-hybrid experiments --help'). Other --key=value flags are "
                                              f"RecBole settings of every run.")
        sub.add_argument("--dataset", default="ml-1m", help="dataset name (default: ml-1m)")
        sub.add_argument("--seeds", type=positive_int, default=3, help="number of seeds, from 2020 on (default: 3)")
        sub.add_argument("--models", default=",".join(MODELS),
                         help=f"comma-separated models (default: {','.join(MODELS)})")
        add_config_files(sub)
    sub = commands.add_parser("analyze", allow_abbrev=False, help="tables, significance and plots of saved runs",
                              description="Tables, significance tests and plots from the saved run records.")
    sub.add_argument("--dataset", default="ml-1m")
    sub.add_argument("--preset", default="paper", help="preset of the runs to analyse (e.g. paper, paper-fs)")
    sub.add_argument("--runs_dir", default="results/runs")
    sub.add_argument("--out_dir", default="results")
    sub.add_argument("--save_csv", action="store_true", help="write CSVs, plots and README.md (else print tables)")
    sub.add_argument("--summary_into", default=None,
                     help="also write the short results table into this markdown file (e.g. README.md), between "
                          "the lines '<!-- results DATASET PRESET: ... -->' and '<!-- end of results DATASET "
                          "PRESET -->'")
    sub = commands.add_parser("ablate", allow_abbrev=False, help="one setting's effect: two runs that differ in it",
                              description=ablation.__doc__)
    sub.add_argument("--a", required=True, help="the variant's run record (JSON beside its ranks)")
    sub.add_argument("--b", required=True, help="the reference run's record")
    sub.add_argument("--keys", required=True, help="comma-separated settings the two runs may differ in")
    sub.add_argument("--out_dir", default=None, help="write README.md and ablation.json here (else print)")
    sub = commands.add_parser("status", allow_abbrev=False, help="where the runs stand, from their files",
                              description=progress.__doc__)
    sub.add_argument("--checkpoint_dir", default="saved", help="the runs' folders (default: saved)")
    sub.add_argument("--results_dir", default="results/runs", help="their records (default: results/runs)")
    sub.add_argument("--match", default="", help="only run ids containing this text (e.g. literature-target)")
    sub = commands.add_parser("target-counts", allow_abbrev=False, help="add target counts to older ranks files",
                              description=target_counts.__doc__)
    sub.add_argument("records", nargs="+", help="run records (JSON beside their ranks)")
    sub.add_argument("--data_path", default=None, help="the folder holding <dataset>/ (default: the recorded one)")
    sub = commands.add_parser("caps", allow_abbrev=False, help="add history-capped tests to records, no retraining",
                              description=caps_backfill.__doc__, formatter_class=RawDescriptionHelpFormatter)
    sub.add_argument("records", nargs="+", help="run records (JSON beside their ranks)")
    sub.add_argument("--caps", type=cap_list, default=list(DEFAULT_CAPS),
                     help=f"comma-separated caps k (default: {','.join(map(str, DEFAULT_CAPS))})")
    sub.add_argument("--checkpoint_dir", default=None,
                     help="folder holding <run_id>/best.pth (default: the checkpoint path each record names)")
    sub.add_argument("--data_path", default=None, help="the folder holding <dataset>/ (default: the recorded one)")
    sub.add_argument("--retrained", action="store_true",
                     help="the best models are the runs retrained (same code, seed, settings) on another machine: "
                          "accept test ranks that differ by at most 1 for at most 1%% of the users, and say so")
    args, settings = parse_command(parser, argv, settings=bool(argv) and argv[0] in PRESETS)
    if args.command == "caps":
        try:
            caps_backfill.add_history_caps(args.records, args.caps, args.checkpoint_dir, args.data_path,
                                           command=["recbole-hybrid experiments", *argv], retrained=args.retrained)
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        return 0
    if args.command == "target-counts":
        try:
            target_counts.add_target_counts(args.records, args.data_path)
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        return 0
    if args.command == "status":
        print(progress.format_progress(progress.grid_progress(args.checkpoint_dir, args.results_dir, args.match)),
              end="")
        return 0
    if args.command == "ablate":
        try:
            text = ablation.ablate(args.a, args.b, [k for k in args.keys.split(",") if k], args.out_dir,
                                   command=["recbole-hybrid experiments", *argv])
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        if args.out_dir is None:
            print(text, end="")
        return 0
    if args.command == "analyze":
        try:
            analyze(dataset=args.dataset, preset=args.preset, runs_dir=args.runs_dir, out_dir=args.out_dir,
                    save=args.save_csv, command=["recbole-hybrid experiments", *argv],
                    summary_into=args.summary_into)
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        return 0
    if "model" in settings:
        raise ConfigError("use --models=A,B (a comparison runs several models), not --model")
    models = [m for m in args.models.split(",") if m]
    run_comparison(args.command, args.dataset, args.seeds, models, args.config_files, settings)
    return 0


if __name__ == "__main__":
    from recbole_hybrid.cli import run_command

    sys.exit(run_command("experiments", main, sys.argv[1:]))
