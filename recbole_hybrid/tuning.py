"""Parallel hyper-parameter search with Ray Tune: on one machine, on several GPUs, or on a Ray cluster.

``tune/search.py`` is the command line. Trials select on validation NDCG@10 only; ``--final_test`` retrains the best
configuration with several seeds through ``run_experiment`` and reports test there, after the search.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recbole_hybrid.config import PROJECT_ROOT, SHORT_FLAGS, ConfigError, build_config, parse_value
from recbole_hybrid.search_space import (RandomSampler, SpaceError, ValidOnly, build_searcher, config_problem,
                                         load_space)
from recbole_hybrid.tune_report import best_row, plot_curves, trial_rows, write_trials_csv, write_tuned_properties
from recbole_hybrid.tune_trial import METRIC, train_trial

SPEC_FILE = "search_spec.json"  # in the experiment folder: what --resume needs to rebuild the search


class TuneSetupError(RuntimeError):
    """A search that cannot start (resources, folders, flags); the message says what to change."""


@dataclass
class SearchOptions:
    """The command line of ``tune/search.py``; ``overrides`` are fixed RecBole settings for every trial."""

    model: str = "HybridDiscrete"
    dataset: str = "ml-100k"
    space: str = ""
    num_samples: int = 8
    gpus_per_trial: float | None = None  # None: 1 when the cluster has GPUs, else 0 (see default_gpus_per_trial)
    cpus_per_trial: float = 1.0
    scheduler: str = "asha"
    search: str = "random"
    address: str | None = None
    storage_path: str = str(PROJECT_ROOT / "saved" / "tune")
    name: str = ""
    resume: bool = False
    max_concurrent: int = 0
    max_failures: int = 2
    grace_period: int = 3
    search_seed: int = 2020  # the searcher's draws; --seed is RecBole's seed of every trial
    num_cpus: int | None = None
    out_dir: str = ""
    tuned_dir: str = str(PROJECT_ROOT / "properties" / "tuned")
    final_test: int = 0
    config_files: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.model}-{self.dataset}"
        self.storage_path = str(Path(self.storage_path).expanduser().resolve())
        self.out_dir = str(Path(self.out_dir or PROJECT_ROOT / "results" / "tune" / self.name).resolve())
        self.tuned_dir = str(Path(self.tuned_dir).expanduser().resolve())
        self.config_files = [str(Path(f).resolve()) for f in self.config_files]

    @property
    def experiment_dir(self) -> Path:
        return Path(self.storage_path) / self.name


_CHOICES = {"scheduler": ("asha", "fifo"), "search": ("random", "optuna", "grid")}


def parse_search_cli(argv: list[str]) -> SearchOptions:
    """``--flag=value`` arguments into ``SearchOptions``; unknown flags are fixed RecBole settings for all trials."""
    known = {f for f in SearchOptions.__dataclass_fields__ if f not in ("overrides",)}
    values: dict[str, Any] = {"overrides": {}, "config_files": []}
    for arg in argv:
        if arg == "--resume":
            values["resume"] = True
            continue
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"cannot read argument {arg!r}: write flags as --key=value (or --resume)")
        key, text = arg[2:].split("=", 1)
        if key == "config_files":
            values["config_files"] += [f for f in text.replace(",", " ").split() if f]
        elif key in known:
            values[key] = text if key in ("model", "dataset", "space", "address", "name", "storage_path",
                                          "out_dir", "tuned_dir", "scheduler", "search") else parse_value(text)
        else:
            values["overrides"][SHORT_FLAGS.get(key, key)] = parse_value(text)
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
        raise SpaceError("--space=FILE is required (see tune/spaces/)")
    fixed, searched = load_space(opts.space)
    clash = sorted(set(searched) & set(opts.overrides))
    if clash:
        raise SpaceError(f"{', '.join(clash)} searched in {opts.space} and fixed on the command line: drop one")
    fixed = {**fixed, **opts.overrides}
    # One valid draw proves the space is searchable and gives the full config (keys, absolute paths).
    problem = functools.partial(config_problem, opts.model, opts.dataset, opts.config_files, fixed)
    sample = ValidOnly(RandomSampler(searched, opts.search_seed), problem).suggest("check")
    config = build_config(opts.model, opts.dataset, opts.config_files, {**fixed, **sample})
    known = {**config.internal_config_dict, **config.file_config_dict}  # RecBole's and our property files' keys
    unknown = [key for key in searched if key not in known]
    if unknown:
        raise SpaceError(f"{opts.space}: {', '.join(unknown)} not a setting of {opts.model} (typo?)")
    for key in ("data_path", "graph_cache_dir"):  # absolute: trials run in other working directories
        fixed[key] = config[key]
    return {"model": opts.model, "dataset": opts.dataset, "config_files": opts.config_files, "fixed": fixed,
            "epochs": config["epochs"], "space_file": str(Path(opts.space).resolve())}


def init_ray(opts: SearchOptions) -> None:
    """Start a local Ray, or connect to the cluster at ``--address`` (``auto`` or ``HOST:PORT``)."""
    import ray

    # Workers import recbole_hybrid from this checkout (on a cluster: the same path on every node, or pip install).
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    runtime_env = {"env_vars": {"PYTHONPATH": path}}
    if opts.address:
        ray.init(address=opts.address, runtime_env=runtime_env, log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=opts.num_cpus, include_dashboard=False, runtime_env=runtime_env)


def default_gpus_per_trial(resources: dict[str, float]) -> float:
    """One whole GPU per trial when the cluster has GPUs, else 0.

    Not packing is the default until ``tune/throughput.py`` has measured on a GPU that it pays: four stock RecBole
    SASRec processes sharing one H200 ran each epoch about 4.4 times slower than one alone (project notes), which
    would make 4 packed trials slower in all than 4 trials one after another.
    """
    return 1.0 if resources.get("GPU", 0.0) > 0 else 0.0


def check_resources(opts: SearchOptions, resources: dict[str, float]) -> None:
    """Refuse requests the cluster can never meet (Ray would leave such trials pending forever)."""
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    wanted = opts.gpus_per_trial if opts.gpus_per_trial is not None else default_gpus_per_trial(resources)
    if wanted > 0 and gpus == 0:
        raise TuneSetupError(f"--gpus_per_trial={opts.gpus_per_trial} but the Ray cluster has no GPU: use "
                             "--gpus_per_trial=0 on a CPU machine, or start Ray on GPU nodes")
    if wanted > gpus:
        raise TuneSetupError(f"--gpus_per_trial={opts.gpus_per_trial} but the cluster has {gpus:g} GPUs in all")
    if opts.cpus_per_trial > cpus:
        raise TuneSetupError(f"--cpus_per_trial={opts.cpus_per_trial} but the cluster has {cpus:g} CPUs in all")


def make_tuner(opts: SearchOptions, spec: dict[str, Any]):
    """A new ``Tuner``, or the interrupted one restored from the experiment folder (``--resume``)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    trainable = tune.with_resources(tune.with_parameters(train_trial, spec=spec),
                                    {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial})
    if opts.resume:
        return tune.Tuner.restore(str(opts.experiment_dir), trainable, resume_unfinished=True, resume_errored=True)
    _, searched = load_space(spec["space_file"])
    problem = functools.partial(config_problem, spec["model"], spec["dataset"], spec["config_files"], spec["fixed"])
    searcher = build_searcher(opts.search, searched, METRIC, opts.search_seed, problem)
    num_samples = len(searcher.searcher.grid) if opts.search == "grid" else opts.num_samples
    if opts.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=spec["epochs"],
                                  grace_period=min(opts.grace_period, spec["epochs"]), reduction_factor=3)
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=METRIC, mode="max", search_alg=searcher, scheduler=scheduler,
                                    num_samples=num_samples, max_concurrent_trials=opts.max_concurrent or None),
        run_config=tune.RunConfig(name=opts.name, storage_path=opts.storage_path, verbose=1,
                                  failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )


def prepare(opts: SearchOptions) -> tuple[SearchOptions, dict[str, Any]]:
    """Check flags, space and folders before Ray starts; on ``--resume`` reload the interrupted search's settings."""
    spec_path = opts.experiment_dir / SPEC_FILE
    if opts.resume:
        if not spec_path.is_file():
            raise TuneSetupError(f"cannot resume: {spec_path} not found (no search named {opts.name!r} under "
                                 f"{opts.storage_path}; pass the same --name and --storage_path)")
        saved = json.loads(spec_path.read_text())
        kept = {k: getattr(opts, k) for k in ("resume", "address", "num_cpus", "final_test")}
        opts = SearchOptions(**{**saved["options"], **kept})
        return opts, saved["spec"]
    if opts.experiment_dir.exists():
        raise TuneSetupError(f"experiment folder {opts.experiment_dir} exists: pass --resume to continue it or "
                             "another --name")
    return opts, search_spec(opts)


def unfinished_trials(experiment_dir: Path) -> list[str]:
    """Trials the saved experiment state has not finished (after Ctrl-C the in-memory ``ResultGrid`` says they did)."""
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(str(experiment_dir)).trials
    return [t.trial_id for t in trials if t.status not in ("TERMINATED", "ERROR")]


def run_search(opts: SearchOptions, log=print) -> dict[str, Any]:
    """Run (or resume) the search, then write the trials CSV, the curves plot and the tuned property file.

    Returns ``{"rows", "best", "csv", "plot", "properties", "finished", "fit_s"}`` (``fit_s``: seconds in
    ``Tuner.fit``, Ray's start excluded). An interrupted search (``finished`` False) writes only the CSV of its
    trials so far: run it again with ``--resume``.
    """
    import ray

    opts, spec = prepare(opts)
    init_ray(opts)
    try:
        resources = ray.cluster_resources()
        if opts.gpus_per_trial is None:
            opts.gpus_per_trial = default_gpus_per_trial(resources)
            log(f"--gpus_per_trial={opts.gpus_per_trial:g} (the cluster has {resources.get('GPU', 0):g} GPUs)")
        check_resources(opts, resources)
        if not opts.resume:  # written once the search can start, so a refused one leaves no folder behind
            opts.experiment_dir.mkdir(parents=True)
            (opts.experiment_dir / SPEC_FILE).write_text(json.dumps({"options": asdict(opts), "spec": spec},
                                                                    indent=1))
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
    best = summary["best"] = best_row(rows)
    params = {k: best[k] for k in load_space(spec["space_file"])[1]}
    summary["plot"] = plot_curves(rows, out / "curves.png", f"{opts.model} on {opts.dataset}: {len(rows)} trials")
    summary["properties"] = write_tuned_properties(
        Path(opts.tuned_dir) / f"{opts.model}-{opts.dataset}.yaml", spec["fixed"], params,
        {"model": opts.model, "dataset": opts.dataset, "experiment": str(opts.experiment_dir),
         "trial": best["trial_id"], f"best {METRIC}": f"{best[METRIC]:.6f} at epoch {best['best_epoch']}",
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


USER_ERRORS = (ConfigError, SpaceError, TuneSetupError, FileNotFoundError)


def main(argv: list[str]) -> int:
    """``tune/search.py``'s entry point; bad input ends with one ``error:`` line and exit code 2."""
    try:
        run_search(parse_search_cli(argv))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
