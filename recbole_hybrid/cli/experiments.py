"""SASRec against the hybrids under one protocol and one budget, for several seeds; then the analysis.

    recbole-hybrid experiments PRESET [--dataset=ml-1m] [--seeds=3] [--models=SASRec,HybridFixed]
                                      [--config_files=...] [--key=value ...]
    recbole-hybrid experiments analyze [--dataset=ml-1m] [--preset=paper] [--runs_dir=DIR]
                                       [--out_dir=results] [--save_csv]
    recbole-hybrid experiments ablate --a=RUN.json --b=RUN.json --keys=KEY[,KEY] [--out_dir=DIR]
    recbole-hybrid experiments status [--checkpoint_dir=saved] [--results_dir=results/runs] [--match=TEXT]
    recbole-hybrid experiments caps RECORD.json [RECORD.json ...] [--caps=1,2,3,5,10,20,50] [--checkpoint_dir=DIR]
                                    [--data_path=DIR] [--retrained]
    recbole-hybrid experiments best --preset=tuned-fs --models=LABEL,LABEL [--dataset=ml-1m] [--seeds=3]

(``python -m recbole_hybrid experiments`` is the same command.) PRESET is a smoke preset, ``pipeline`` (2 epochs: does the
pipeline run?) or ``quick`` (50 epochs, patience 10), or a published one whose settings and budget all come from its
frozen ``--config_files``: ``paper`` (configs/ml-1m/2026-11-27.yaml), ``literature``
(configs/ml-1m/2026-11-27-literature.yaml), ``literature-target`` (configs/ml-1m/2026-11-27-literature-target.yaml,
every target weighs the same), ``workflow-bpr`` (configs/ml-1m/2026-12-03-workflow-bpr.yaml, the seed workflow's
BPR regime) or ``tuned`` (a file written by ``recbole-hybrid tune``); any
``--key=value`` (run's settings) overrides them. ``--models`` also takes the labels of controls (``CONTROLS``:
``HybridDiscrete-nograph`` is HybridDiscrete with ``gnn_layers: 0``, likewise ``HybridContinuous-nograph``) and variants (``VARIANTS``:
``HybridResidual-fused`` is HybridResidual with ``score_table: fused``, its control ``HybridResidual-fused-nograph``;
``HybridDiscrete-shared`` and ``HybridResidual-fused-shared`` propagate the ID table itself, ``graph_table:
shared``); a record's
``label`` tells it apart. Seeds are 2020, 2021, ... Run ids are ``<Model>-<dataset>-<preset>-seed<seed>``: a run
whose record and ranks already exist in ``results_dir`` is skipped, and a run interrupted during training continues
from its ``last.pth``, so the same command resumes an interrupted comparison where it stopped; a run folder made
with other settings is refused, naming the keys that differ. Each hybrid run also saves its learned ``a(L)`` for
L = 1..MAX_ITEM_LIST_LENGTH as ``<run_id>.alpha.json``. Other overrides are not part of the id: give a comparison
with other settings its own ``--results_dir`` and ``--checkpoint_dir``. With ``--filter_seen=True`` (selection on
validation NDCG@10 without seen items) ids read ``<preset>-fs``; analyse them with ``analyze --preset=<preset>-fs``.

``analyze`` reads only the saved records (``recbole_hybrid.analysis.runs``, ``analysis``, ``report``); without ``--save_csv``
it prints the tables and findings, with it it writes the CSVs, plots and ``<out_dir>/README.md``. It refuses runs
that do not share one protocol and recipe (``runs.check_one_protocol``), naming the runs and keys. ``ablate``
compares two runs of one model and seed that differ only in ``--keys`` (``recbole_hybrid.analysis.ablation``). ``status``
tells, from the run folders and records alone, which runs are done, training, interrupted or not started, with each
one's best validation so far and at most how many epochs it has left (``recbole_hybrid.quick_start.progress``).
``caps`` adds to existing records
the test with every user's history cut to its last k items (``eval_history_caps``), from each run's saved best
model, without retraining (``recbole_hybrid.quick_start.caps``). ``best`` prints the label among ``--models`` whose
runs score best on validation, mean over the seeds (``runs.best_label``): a study names its best model with it.
"""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError

from recbole_hybrid.config import ConfigError
from recbole_hybrid.quick_start.experiments import MODELS, PRESETS, default_runs_dir, run_comparison, seed_list
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.flags import add_config_files, command_parser, parse_command, positive_int


def cap_list(text: str) -> list[int]:
    """``--caps=1,2,5`` as ``[1, 2, 5]``; the caps themselves are checked with the run's config."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def main(argv: list[str]) -> int:
    """``recbole-hybrid experiments PRESET|analyze|ablate|status|caps|study|best ...``; the exit status (user mistakes
    raise)."""
    from argparse import RawDescriptionHelpFormatter

    from recbole_hybrid.analysis import ablation, study
    from recbole_hybrid.quick_start import caps as caps_backfill, progress
    from recbole_hybrid.data.history_caps import DEFAULT_CAPS
    from recbole_hybrid.analysis.report import analyze
    from recbole_hybrid.analysis.runs import AnalysisError, best_label, load_runs

    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid experiments", f"{summary}\n\n{details}", settings=False)
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="PRESET|analyze|ablate|status|caps|study|best")
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
    sub.add_argument("--runs_dir", default=None,
                     help="the records (default: where the preset's runs land: results/runs for a published preset, "
                          "saved/runs for pipeline and quick)")
    sub.add_argument("--out_dir", default="results")
    sub.add_argument("--save_csv", action="store_true", help="write CSVs, plots and README.md (else print tables)")
    sub.add_argument("--summary_into", default=None,
                     help="also write the short results table into this markdown file (e.g. README.md), between "
                          "the lines '<!-- results DATASET PRESET: ... -->' and '<!-- end of results DATASET "
                          "PRESET -->'")
    sub.add_argument("--study", default=None,
                     help="the tuning study's folder (e.g. tune/ml-1m/2026-12-03): its figure and best configurations "
                          "follow the summary (run 'experiments study' on it first)")
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
    sub = commands.add_parser("study", allow_abbrev=False, help="a tuning study's budget per model, from its trials",
                              description=study.__doc__, formatter_class=RawDescriptionHelpFormatter)
    sub.add_argument("folder", help="the study folder, holding trials/<model>/trials.csv (e.g. tune/ml-1m/2026-12-03)")
    sub.add_argument("--cpus_per_trial", type=float, default=1.0,
                     help="CPUs each trial held, for its CPU-hours (default: 1, the study's)")
    sub.add_argument("--readme", default=None, help="markdown file for the table (default: the folder's README.md)")
    sub = commands.add_parser("best", allow_abbrev=False, help="the label that scores best on validation",
                              description="Print the label among --models whose runs of --seeds score best on "
                                          "validation (the mean of each run's selection score, e.g. NDCG@10 with "
                                          "seen items excluded); each label's mean goes to stderr. The test split "
                                          "never chooses. Refused until every run of those seeds has landed.")
    sub.add_argument("--dataset", default="ml-1m")
    sub.add_argument("--preset", required=True, help="preset of the runs (e.g. tuned-fs)")
    sub.add_argument("--runs_dir", default=None, help="the records (default: where the preset's runs land)")
    sub.add_argument("--models", required=True, help="comma-separated labels to choose from (a tie: the first)")
    sub.add_argument("--seeds", type=positive_int, default=3, help="number of seeds, from 2020 on (default: 3)")
    args, settings = parse_command(parser, argv, settings=bool(argv) and argv[0] in PRESETS)
    if args.command == "best":
        labels = [label for label in args.models.split(",") if label]
        try:
            runs = load_runs(args.runs_dir or default_runs_dir(args.preset), args.dataset, args.preset)
            label, means = best_label(runs, labels, seed_list(args.seeds))
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        for name in labels:
            print(f"{name}: mean best validation {means[name]:.4f} over {args.seeds} seed(s)", file=sys.stderr)
        print(label)
        return 0
    if args.command == "study":
        try:
            study.study_report(args.folder, args.cpus_per_trial, args.readme)
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        return 0
    if args.command == "caps":
        try:
            caps_backfill.add_history_caps(args.records, args.caps, args.checkpoint_dir, args.data_path,
                                           command=["recbole-hybrid experiments", *argv], retrained=args.retrained)
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
            analyze(dataset=args.dataset, preset=args.preset, runs_dir=args.runs_dir or default_runs_dir(args.preset),
                    out_dir=args.out_dir,
                    save=args.save_csv, command=["recbole-hybrid experiments", *argv],
                    summary_into=args.summary_into, study=args.study)
        except AnalysisError as err:
            raise UsageError(str(err)) from None
        return 0
    if "model" in settings:
        raise ConfigError("use --models=A,B (a comparison runs several models), not --model")
    models = [m for m in args.models.split(",") if m]
    run_comparison(args.command, args.dataset, args.seeds, models, args.config_files, settings)
    return 0
