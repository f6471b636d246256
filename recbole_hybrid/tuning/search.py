"""Hyper-parameter search with Ray Tune over a yaml search space (validation NDCG@10 only).

    python -m recbole_hybrid.tuning.search --model=HybridDiscrete --dataset=ml-1m --space=hybrid_discrete
        --num_samples=N --gpus_per_trial=F --cpus_per_trial=C [--scheduler=asha|fifo] [--search=random|optuna|grid]
        [--address=auto|HOST:PORT] [--storage_path=DIR|URI] [--name=NAME] [--resume] [--max_concurrent=K]
        [--max_failures=2] [--grace_period=3] [--search_seed=2020] [--num_cpus=N] [--num_gpus=N] [--out_dir=DIR]
        [--tuned_dir=DIR] [--final_test=SEEDS] [--config_files=...] [--key=value ...]

(also ``python tune/search.py ...``). ``--space`` is a file or the name of a shipped space
(``recbole_hybrid/tuning/spaces/``). ``--gpus_per_trial`` defaults to 1 when a Ray node has GPUs, else 0.
``--num_cpus`` / ``--num_gpus`` size a local Ray (without ``--address``). ``--storage_path`` is a folder or a URI
that Ray accepts (``s3://``, ``gs://``, ``file://``). Any other ``--key=value`` is a RecBole setting fixed for every
trial (short names as in run.py; ``--seed`` is RecBole's seed). Writes ``<out_dir>/trials.csv``,
``<out_dir>/curves.png`` and ``<tuned_dir>/<Model>-<dataset>.yaml`` (default ``configs/tuned/``).

Trials select on validation NDCG@10 only; ``--final_test`` retrains the best configuration with several seeds through
the experiments pipeline and reports test there, after the search.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recbole_hybrid.compat import kept_cuda_visible_devices
from recbole_hybrid.config import PROJECT_ROOT, ConfigError, build_config, data_root
from recbole_hybrid.flags import command_parser, parse_command
from recbole_hybrid.tuning import storage
from recbole_hybrid.tuning.cluster import (TuneSetupError, check_resources, default_gpus_per_trial, init_ray,
                                           node_resources)
from recbole_hybrid.tuning.report import (best_row, plot_curves, trial_rows, write_trials_csv,
                                          write_tuned_properties)
from recbole_hybrid.tuning.space import (RandomSampler, SpaceError, ValidOnly, build_searcher, config_problem,
                                         load_space, resolve_space, resolved_auto_settings)
from recbole_hybrid.tuning.trial import BEST_METRIC, METRIC, train_trial

SPEC_FILE = "search_spec.json"  # in the experiment folder: what --resume needs to rebuild the search


@dataclass
class SearchOptions:
    """The search's command line (``main``); ``overrides`` are fixed RecBole settings for every trial."""

    model: str = "HybridDiscrete"
    dataset: str = "ml-100k"
    space: str = ""
    num_samples: int = 8
    gpus_per_trial: float | None = None  # None: 1 when a node has GPUs, else 0 (see default_gpus_per_trial)
    cpus_per_trial: float = 1.0
    scheduler: str = "asha"
    search: str = "random"
    address: str | None = None
    storage_path: str = str(PROJECT_ROOT / "saved" / "tune")  # a folder or a URI (s3://, gs://, file://)
    name: str = ""
    resume: bool = False
    max_concurrent: int = 0
    max_failures: int = 2
    grace_period: int = 3
    search_seed: int = 2020  # the searcher's draws; --seed is RecBole's seed of every trial
    num_cpus: int | None = None  # a local Ray's CPUs (None: all)
    num_gpus: int | None = None  # a local Ray's GPUs (None: the visible ones)
    out_dir: str = ""
    tuned_dir: str = str(PROJECT_ROOT / "configs" / "tuned")
    final_test: int = 0
    config_files: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.model}-{self.dataset}"
        self.storage_path = storage.normalize(self.storage_path)
        self.out_dir = str(Path(self.out_dir or PROJECT_ROOT / "results" / "tune" / self.name).resolve())
        self.tuned_dir = str(Path(self.tuned_dir).expanduser().resolve())
        self.config_files = [str(Path(f).resolve()) for f in self.config_files]

    @property
    def experiment_dir(self) -> str:
        """``<storage_path>/<name>``: a local folder or a URI."""
        return storage.join(self.storage_path, self.name)


_CHOICES = {"scheduler": ("asha", "fifo"), "search": ("random", "optuna", "grid")}


def search_parser() -> argparse.ArgumentParser:
    """The search's own options (one per ``SearchOptions`` field); every other ``--key=value`` is a RecBole setting."""
    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid tune", f"{summary}\n\n{details}")
    types = {"int": int, "float": float, "int | None": int, "float | None": float, "str": str, "str | None": str}
    for name, spec in SearchOptions.__dataclass_fields__.items():
        if name in ("overrides", "config_files"):
            continue
        if spec.type == "bool":
            parser.add_argument(f"--{name}", action="store_true", help="continue the interrupted search of --name")
        else:
            parser.add_argument(f"--{name}", type=types[spec.type], default=argparse.SUPPRESS,
                                metavar=name.upper())
    return parser


def parse_search_cli(argv: list[str]) -> SearchOptions:
    """The search's options into ``SearchOptions``; other ``--key=value`` are fixed RecBole settings for all trials."""
    args, overrides = parse_command(search_parser(), argv)
    values: dict[str, Any] = {**vars(args), "overrides": overrides}
    for key, allowed in _CHOICES.items():
        if key in values and values[key] not in allowed:
            raise ConfigError(f"--{key}={values[key]!r}: choose one of {', '.join(allowed)}")
    opts = SearchOptions(**values)
    if (opts.gpus_per_trial is not None and opts.gpus_per_trial < 0) or opts.cpus_per_trial <= 0:
        raise ConfigError("--gpus_per_trial must be >= 0 and --cpus_per_trial > 0")
    if opts.gpus_per_trial is not None and opts.gpus_per_trial > 1 and opts.gpus_per_trial != int(opts.gpus_per_trial):
        raise ConfigError(f"--gpus_per_trial={opts.gpus_per_trial}: use a fraction below 1 or a whole number")
    return opts


def search_spec(opts: SearchOptions) -> dict[str, Any]:
    """Check the space and the fixed settings; return what every trial needs (paths absolute).

    Raises ``SpaceError`` / ``ConfigError`` before Ray starts: an unknown searched key, a searched key also fixed
    on the command line, fixed settings that cannot train.
    """
    if not opts.space:
        raise SpaceError("--space=FILE is required (a file, or a name from recbole_hybrid/tuning/spaces/)")
    space_file = resolve_space(opts.space)
    fixed, searched = load_space(space_file)
    clash = sorted(set(searched) & set(opts.overrides))
    if clash:
        raise SpaceError(f"{', '.join(clash)} searched in {opts.space} and fixed on the command line: drop one")
    fixed = {**fixed, **opts.overrides}
    # One valid draw proves the space is searchable and gives the full config (keys, absolute paths).
    problem = functools.partial(config_problem, opts.model, opts.dataset, opts.config_files, fixed)
    sample = ValidOnly(RandomSampler(searched, opts.search_seed), problem).suggest("check")
    with kept_cuda_visible_devices():  # RecBole's Config would leave CUDA_VISIBLE_DEVICES=gpu_id for Ray to see
        config = build_config(opts.model, opts.dataset, opts.config_files, {**fixed, **sample})
    known = {**config.internal_config_dict, **config.file_config_dict}  # RecBole's and our property files' keys
    unknown = [key for key in searched if key not in known]
    if unknown:
        raise SpaceError(f"{space_file}: {', '.join(unknown)} not a setting of {opts.model} (typo?)")
    # absolute: trials run in other working directories; data_path as --data_path takes it, not RecBole's resolved
    # <data_path>/<dataset> (each trial's Config joins the dataset's name again)
    fixed["data_path"], fixed["graph_cache_dir"] = str(data_root(config)), config["graph_cache_dir"]
    return {"model": opts.model, "dataset": opts.dataset, "config_files": opts.config_files, "fixed": fixed,
            "epochs": config["epochs"], "filter_seen": bool(config["filter_seen"]), "space_file": str(space_file)}


def make_searcher(opts: SearchOptions, spec: dict[str, Any]) -> ValidOnly:
    """The searcher over the space of ``spec``, suggesting valid configurations only; it learns from each trial's
    best validation score (``BEST_METRIC``, as the trial keeps its best model), not its last."""
    _, searched = load_space(spec["space_file"])
    problem = functools.partial(config_problem, spec["model"], spec["dataset"], spec["config_files"], spec["fixed"])
    return build_searcher(opts.search, searched, BEST_METRIC, opts.search_seed, problem)


def make_scheduler(opts: SearchOptions, spec: dict[str, Any]):
    """ASHA in epochs (the ``epoch`` each report carries, whatever ``eval_step`` is), or FIFO.

    ASHA stops trials that fall behind at its rungs only: a trial that reaches its last epoch ends by itself and
    writes its run record (``stop_last_trials=False``; Ray's default would stop it at that last report).
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if opts.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="epoch", max_t=spec["epochs"], grace_period=min(opts.grace_period, spec["epochs"]),
                         reduction_factor=3, stop_last_trials=False)


def make_tuner(opts: SearchOptions, spec: dict[str, Any]):
    """A new ``Tuner``, or the interrupted one restored from the experiment folder (``--resume``).

    Trials are ranked on ``BEST_METRIC`` (the selection metric of the run, ``filter_seen`` included, at its best
    epoch so far): the scheduler compares it, the searcher learns it, ``ResultGrid`` defaults to it.
    """
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(train_trial, spec=spec),
                                    {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial})
    if opts.resume:
        return tune.Tuner.restore(opts.experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
    searcher = make_searcher(opts, spec)
    num_samples = len(searcher.searcher.grid) if opts.search == "grid" else opts.num_samples
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=BEST_METRIC, mode="max", search_alg=searcher,
                                    scheduler=make_scheduler(opts, spec), num_samples=num_samples,
                                    max_concurrent_trials=opts.max_concurrent or None),
        run_config=tune.RunConfig(name=opts.name, storage_path=opts.storage_path, verbose=1,
                                  failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  # each trial's working directory (its run record) goes to storage, from any node
                                  sync_config=tune.SyncConfig(sync_artifacts=True)),
    )


def prepare(opts: SearchOptions) -> tuple[SearchOptions, dict[str, Any]]:
    """Check flags, space and folders before Ray starts; on ``--resume`` reload the interrupted search's settings."""
    spec_path = storage.join(opts.experiment_dir, SPEC_FILE)
    if opts.resume:
        if not storage.exists(spec_path):
            raise TuneSetupError(f"cannot resume: {spec_path} not found (no search named {opts.name!r} under "
                                 f"{opts.storage_path}; pass the same --name and --storage_path)")
        saved = json.loads(storage.read_text(spec_path))
        kept = {k: getattr(opts, k) for k in ("resume", "address", "num_cpus", "num_gpus", "final_test")}
        opts = SearchOptions(**{**saved["options"], **kept})
        return opts, saved["spec"]
    if storage.exists(opts.experiment_dir):
        raise TuneSetupError(f"experiment folder {opts.experiment_dir} exists: pass --resume to continue it or "
                             "another --name")
    return opts, search_spec(opts)


def unfinished_trials(experiment_dir: str) -> list[str]:
    """Trials the saved experiment state has not finished (after Ctrl-C the in-memory ``ResultGrid`` says they did)."""
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(experiment_dir).trials
    return [t.trial_id for t in trials if t.status not in ("TERMINATED", "ERROR")]


def run_search(opts: SearchOptions, log=print) -> dict[str, Any]:
    """Run (or resume) the search, then write the trials CSV, the curves plot and the tuned property file.

    Returns ``{"rows", "best", "csv", "plot", "properties", "finished", "fit_s"}`` (``fit_s``: seconds in
    ``Tuner.fit``, Ray's start excluded). An interrupted search (``finished`` False) writes only the CSV of its
    trials so far: run it again with ``--resume``.
    """
    import ray

    if os.environ.get("RAY_CHDIR_TO_TRIAL_DIR") == "0":
        raise TuneSetupError("RAY_CHDIR_TO_TRIAL_DIR=0: trials write their run records to their own working "
                             "directory; unset it")
    opts, spec = prepare(opts)
    init_ray(opts.address, opts.num_cpus, opts.num_gpus)
    try:
        nodes = node_resources()
        if opts.gpus_per_trial is None:
            opts.gpus_per_trial = default_gpus_per_trial(nodes)
            per_node = ", ".join(f"{n['GPU']:g}" for n in nodes)
            log(f"--gpus_per_trial={opts.gpus_per_trial:g} (GPUs per node: {per_node})")
        check_resources(opts.gpus_per_trial, opts.cpus_per_trial, nodes)
        if not opts.resume:  # written once the search can start, so a refused one leaves no folder behind
            storage.write_text(storage.join(opts.experiment_dir, SPEC_FILE),
                               json.dumps({"options": asdict(opts), "spec": spec}, indent=1))
        tuner = make_tuner(opts, spec)
        started = time.perf_counter()
        results = tuner.fit()
        fit_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    rows = trial_rows(results)
    out = Path(opts.out_dir)
    summary: dict[str, Any] = {"rows": rows, "fit_s": fit_s, "finished": not unfinished_trials(opts.experiment_dir)}
    summary["csv"] = write_trials_csv(rows, out / "trials.csv")
    if not summary["finished"]:
        log(f"search interrupted: continue it with --resume --name={opts.name} --storage_path={opts.storage_path}")
        return summary
    best = summary["best"] = best_row(results, rows)
    params = {k: best[k] for k in load_space(spec["space_file"])[1]}
    summary["plot"] = plot_curves(rows, best["trial_id"], out / "curves.png",
                                  f"{opts.model} on {opts.dataset}: {len(rows)} trials")
    pinned = resolved_auto_settings(spec["model"], spec["dataset"], spec["config_files"], spec["fixed"], params)
    summary["properties"] = write_tuned_properties(
        Path(opts.tuned_dir) / f"{opts.model}-{opts.dataset}.yaml", {**spec["fixed"], **pinned}, params,
        {"model": opts.model, "dataset": opts.dataset, "experiment": opts.experiment_dir,
         "trial": best["trial_id"], f"best {METRIC}": f"{best[METRIC]:.6f} at epoch {best['best_epoch']}",
         "candidates": "without each user's seen items (filter_seen)" if spec.get("filter_seen") else "all items",
         "trials": f"{len(rows)} ({opts.search} search, {opts.scheduler} scheduler)"})
    log(f"{len(rows)} trials; best {best['trial_id']}: {METRIC} {best[METRIC]:.4f} with {params}")
    log(f"trials: {summary['csv']}\ncurves: {summary['plot']}\nbest configuration: {summary['properties']}")
    if opts.final_test:
        summary["final_test"] = final_test(opts, summary["properties"], log=log)
    return summary


def final_test(opts: SearchOptions, properties: Path, log=print) -> dict[str, Any]:
    """Retrain the tuned configuration with ``opts.final_test`` seeds and report test NDCG/HR/MRR@10 mean and sd.

    Runs through the experiments pipeline (preset ``tuned``: every setting comes from the property file), after and
    outside the search, into ``<out_dir>/final_test/`` (records, per-user ranks, a(L) curves), so that
    ``python -m recbole_hybrid.experiments analyze --preset=tuned --runs_dir=...`` analyses it like any comparison.
    """
    from recbole_hybrid.experiments import run_comparison
    from recbole_hybrid.records import write_json

    overrides = {**{k: v for k, v in opts.overrides.items() if k != "seed"},
                 "results_dir": str(Path(opts.out_dir).resolve() / "final_test"),
                 "checkpoint_dir": str(Path(opts.out_dir).resolve() / "final_test" / "checkpoints")}
    done = run_comparison("tuned", opts.dataset, seeds=opts.final_test, models=[opts.model],
                          config_files=[*opts.config_files, str(properties)], overrides=overrides, log=log,
                          progress=False)
    records = [json.loads((Path(d["results_dir"]) / f"{d['run_id']}.json").read_text()) for d in done]
    summary = {"model": opts.model, "dataset": opts.dataset, "properties": str(properties),
               "runs_dir": done[0]["results_dir"], "runs": [r["run_id"] for r in records],
               "seeds": [r["seed"] for r in records]}
    for metric in ("ndcg@10", "hit@10", "mrr@10"):
        values = [r["test"][metric] for r in records]
        summary[f"test_{metric}"] = {"mean": statistics.mean(values),
                                     "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
        log(f"test {metric}: {summary[f'test_{metric}']['mean']:.4f} +- {summary[f'test_{metric}']['sd']:.4f} "
            f"over {len(values)} seeds")
    summary["file"] = str(write_json(Path(opts.out_dir) / "final_test.json", summary))
    return summary


USER_ERRORS = (ConfigError, SpaceError, TuneSetupError, storage.StorageError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    """The command line (``recbole-hybrid tune``, ``tune/search.py``); bad input ends with one ``error:`` line and
    exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        run_search(parse_search_cli(argv))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
