"""Hyper-parameter search with Ray Tune over a yaml search space, selecting on validation NDCG@10 only (``run_search``).

The command is ``recbole-hybrid tune`` / ``tune/search.py`` (``recbole_hybrid/cli/tune.py``, whose help lists the
options). Paths default relative to the working folder, as RecBole's ``checkpoint_dir: saved``: Ray's experiment
folder ``saved/tune/<name>``, the trial table ``saved/tune-results/<name>/`` and the tuned file ``saved/tuned/``: a
first search leaves the checkout's ``git status`` clean; a study names its own folders (``tune/ml-1m/``).

A stopped search continues with ``--resume`` (its Ray folder and ``SPEC_FILE``); where that folder is gone,
``--rebuild_from=<out_dir>/trials.csv`` starts a new one that counts the CSV's finished trials against
``--num_samples``, tells Optuna their scores and ASHA their curves (``curves.csv`` beside it), and runs only the rest.
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray.tune.schedulers import ASHAScheduler

from recbole_hybrid.utils.compat import kept_cuda_visible_devices
from recbole_hybrid.config import ConfigError, build_config, data_root, resolve_model
from recbole_hybrid.plugin import is_plugin_model
from recbole_hybrid.tuning import storage
from recbole_hybrid.tuning.cluster import (TuneSetupError, check_resources, default_gpus_per_trial, init_ray,
                                           node_resources)
from recbole_hybrid.tuning.report import (ROW_COLUMNS, TrialsLog, best_row, ended_order, plot_curves,
                                          read_curves_csv, read_trials_csv, trial_rows, write_curves_csv,
                                          write_trials_csv, write_tuned_properties)
from recbole_hybrid.tuning.space import (RandomSampler, SpaceError, ValidOnly, build_searcher, config_problem,
                                         dead_values, load_space, point_from_row, resolve_space,
                                         resolved_auto_settings)
from recbole_hybrid.tuning.trial import BEST_METRIC, METRIC, train_trial
from recbole_hybrid.utils.trials import FINISHED

SPEC_FILE = "search_spec.json"  # in the experiment folder: what --resume needs to rebuild the search
#: Keys that every model has (the analysis' length groups) but only a length-binned a(L) trains with.
LENGTH_BIN_KEYS = ("L_short", "L_long")
DEAD_VALUE_DRAWS = 100  # draws with a value pinned before the value counts as one no trial can take


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
    storage_path: str = "saved/tune"  # a folder or a URI (s3://, gs://, file://); a folder is made absolute
    name: str = ""
    resume: bool = False
    max_concurrent: int = 0
    max_failures: int = 2
    grace_period: int = 3
    max_t: int = 0  # ASHA's horizon in epochs (its rungs are grace_period * reduction_factor^k below it); 0: epochs
    reduction_factor: float = 3.0  # ASHA keeps the top 1/reduction_factor at each rung
    sequence_only: bool = False  # refuse a space (or command line) that does not fix train_mode: sequence
    rebuild_from: str = ""  # a trials.csv of this search whose Ray folder is gone: its finished trials are not re-run
    search_seed: int = 2020  # the searcher's draws; --seed is RecBole's seed of every trial
    num_cpus: int | None = None  # a local Ray's CPUs (None: all)
    num_gpus: int | None = None  # a local Ray's GPUs (None: the visible ones)
    out_dir: str = ""
    tuned_dir: str = "saved/tuned"
    final_test: int = 0
    config_files: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.model}-{self.dataset}"
        self.storage_path = storage.normalize(self.storage_path)
        self.out_dir = str(Path(self.out_dir or Path("saved") / "tune-results" / self.name).resolve())
        self.tuned_dir = str(Path(self.tuned_dir).expanduser().resolve())
        self.config_files = [str(Path(f).resolve()) for f in self.config_files]
        self.rebuild_from = str(Path(self.rebuild_from).expanduser().resolve()) if self.rebuild_from else ""

    @property
    def experiment_dir(self) -> str:
        """``<storage_path>/<name>``: a local folder or a URI."""
        return storage.join(self.storage_path, self.name)



def search_spec(opts: SearchOptions) -> dict[str, Any]:
    """Check the space and the fixed settings; return what every trial needs (paths absolute).

    Raises ``SpaceError`` / ``ConfigError`` before Ray starts: a space written for another model (its ``model:``
    key), an unknown key (searched or fixed in the space), a length-bin key searched for a model without bins, a
    searched key also fixed on the command line, fixed settings that cannot train, a space with no valid draw or
    with a value no valid draw can take (``dead_values``), ``train_mode`` other than ``sequence`` under
    ``--sequence_only``, an ASHA horizon past the trials' epochs.
    """
    if not opts.space:
        raise SpaceError("--space=FILE is required (a file, or a name from recbole_hybrid/tuning/spaces/)")
    space_file = resolve_space(opts.space)
    fixed, searched = load_space(space_file)
    space_model = fixed.pop("model", None)  # a label of the space, checked, not a RecBole setting
    if space_model is not None and space_model != opts.model:
        raise SpaceError(f"{space_file} is a space of {space_model}: run it with --model={space_model}, "
                         f"not --model={opts.model}")
    in_file = list(fixed)
    clash = sorted(set(searched) & set(opts.overrides))
    if clash:
        raise SpaceError(f"{', '.join(clash)} searched in {opts.space} and fixed on the command line: drop one")
    # trials build on the plain defaults unless told otherwise: a tuned property file (properties/tuned/) must not
    # leak into the search that may be re-tuning it
    fixed = {"tuned_defaults": False, **fixed, **opts.overrides}
    if opts.sequence_only:
        check_sequence_only(space_file, fixed, searched, opts.overrides)
    check_scheduler(opts)
    # One valid draw proves the space is searchable and gives the full config (keys, absolute paths).
    problem = functools.partial(config_problem, opts.model, opts.dataset, opts.config_files, fixed)
    sample = ValidOnly(RandomSampler(searched, opts.search_seed), problem).suggest("check")
    with kept_cuda_visible_devices():  # RecBole's Config would leave CUDA_VISIBLE_DEVICES=gpu_id for Ray to see
        config = build_config(opts.model, opts.dataset, opts.config_files, {**fixed, **sample})
    known = {**config.internal_config_dict, **config.file_config_dict}  # RecBole's and our property files' keys
    unknown = [key for key in [*searched, *in_file] if key not in known]
    if unknown:
        raise SpaceError(f"{space_file}: {', '.join(unknown)} not a setting of {opts.model} (typo?)")
    unread = unread_length_bins(opts.model, config, searched)
    if unread:
        raise SpaceError(f"{space_file}: {', '.join(unread)} searched, but {opts.model} has no length bins (its "
                         f"a(L) does not read them; they only set the analysis' length groups): drop them")
    if opts.scheduler == "asha" and opts.max_t > config["epochs"]:
        raise ConfigError(f"--max_t={opts.max_t} is past epochs={config['epochs']}: no trial reaches ASHA's "
                          f"horizon; lower --max_t or raise epochs")
    dead = dead_values(searched, problem, opts.search_seed, DEAD_VALUE_DRAWS)
    if dead:
        raise SpaceError(f"{space_file}: no valid trial can take " + "; ".join(
            f"{key}={value!r} (none of {DEAD_VALUE_DRAWS} draws with it; last problem: {why})"
            for key, value, why in dead) + ". Drop the choice or narrow the range")
    # absolute: trials run in other working directories; data_path as --data_path takes it, not RecBole's resolved
    # <data_path>/<dataset> (each trial's Config joins the dataset's name again)
    fixed["data_path"], fixed["graph_cache_dir"] = str(data_root(config)), config["graph_cache_dir"]
    return {"model": opts.model, "dataset": opts.dataset, "config_files": opts.config_files, "fixed": fixed,
            "epochs": config["epochs"], "filter_seen": bool(config["filter_seen"]), "space_file": str(space_file)}


def check_sequence_only(space_file: Path, fixed: dict[str, Any], searched: dict[str, Any],
                        overrides: dict[str, Any]) -> None:
    """``--sequence_only``: the space (or the command line) must fix ``train_mode: sequence``; a searched
    ``train_mode``, ``prefix`` or ``auto`` (which resolves per trial, to prefix where sequence mode cannot run) is
    refused by name."""
    if "train_mode" in searched:
        choices = getattr(searched["train_mode"], "categories", None) or type(searched["train_mode"]).__name__
        raise SpaceError(f"{space_file}: train_mode is searched ({choices}), but --sequence_only "
                         "trains sequence mode only: fix train_mode: sequence")
    value = fixed.get("train_mode")
    if value != "sequence":
        where = "the command line" if "train_mode" in overrides else space_file
        raise SpaceError(f"{where}: train_mode={value!r}, but --sequence_only trains sequence mode only: fix "
                         "train_mode: sequence" + (" (auto resolves per trial and may train prefix rows)"
                                                   if value in (None, "auto") else ""))


def check_scheduler(opts: SearchOptions) -> None:
    """ASHA's own options, before Ray starts."""
    if opts.reduction_factor <= 1:
        raise ConfigError(f"--reduction_factor={opts.reduction_factor:g} must be > 1")
    if opts.grace_period < 1 or opts.max_t < 0:
        raise ConfigError(f"--grace_period={opts.grace_period} must be >= 1 and --max_t={opts.max_t} >= 0")
    if opts.max_t and opts.grace_period > opts.max_t:
        raise ConfigError(f"--grace_period={opts.grace_period} is past --max_t={opts.max_t}")


def unread_length_bins(model: str, config, searched: dict[str, Any]) -> list[str]:
    """Searched ``LENGTH_BIN_KEYS`` that ``model`` does not train with: every config has them (the analysis' length
    groups), so only the model's a(L) policy, built on a config that records what it reads, tells."""
    bins = [key for key in searched if key in LENGTH_BIN_KEYS]
    if not bins:
        return []
    model_cls = resolve_model(model)
    read: set[str] = set()

    class Reading:
        def __getitem__(self, key: str) -> Any:
            read.add(key)
            return config[key]

        def __getattr__(self, name: str) -> Any:
            return getattr(config, name)

    if is_plugin_model(model_cls):
        model_cls.build_alpha_policy(Reading())
    return [key for key in bins if key not in read]


def rebuilt_trials(opts: SearchOptions, spec: dict[str, Any]) -> dict[str, Any]:
    """The finished trials of ``--rebuild_from`` (rows as text, as the CSV holds them) and their curves
    (``curves.csv`` beside it), checked against the space: every searched key a column, every value one the space
    can give. Unfinished rows (an interrupted search's) are dropped: their trials run again."""
    path = Path(opts.rebuild_from)
    if not path.is_file():
        raise TuneSetupError(f"--rebuild_from={path}: no such file (the trials.csv of the search to rebuild)")
    rows = read_trials_csv(path)
    _, searched = load_space(spec["space_file"])
    columns = set(rows[0]) - set(ROW_COLUMNS) if rows else set(searched)
    if columns != set(searched):
        differ = sorted(columns ^ set(searched))
        raise SpaceError(f"--rebuild_from={path}: its trials searched other keys than {spec['space_file']} "
                         f"({', '.join(differ)}): rebuild with the space it was run with")
    finished = [row for row in rows if row["status"] in FINISHED]
    for row in finished:
        point_from_row(row, searched, f"--rebuild_from={path}: trial {row['trial_id']}")
    if len(finished) >= opts.num_samples:
        raise TuneSetupError(f"--rebuild_from={path}: {len(finished)} finished trials, --num_samples="
                             f"{opts.num_samples}: nothing left to run")
    curves = read_curves_csv(path.with_name("curves.csv"))
    return {"from": str(path), "rows": finished,
            "curves": {row["trial_id"]: curves.get(row["trial_id"], []) for row in finished}}


def kept_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rebuilt search's finished trials as CSV rows (text, as read), each with its ``history``."""
    rebuilt = spec.get("rebuilt") or {}
    return [{**row, "history": [tuple(p) for p in rebuilt["curves"].get(row["trial_id"], [])]}
            for row in rebuilt.get("rows", [])]


def make_searcher(opts: SearchOptions, spec: dict[str, Any]) -> ValidOnly:
    """The searcher over the space of ``spec``, suggesting valid configurations only; it learns from each trial's
    best validation score (``BEST_METRIC``, as the trial keeps its best model), not its last. A rebuilt search's
    finished trials are told to it first (with their best score), and it never suggests one of them again."""
    _, searched = load_space(spec["space_file"])
    problem = functools.partial(config_problem, spec["model"], spec["dataset"], spec["config_files"], spec["fixed"])
    rows = (spec.get("rebuilt") or {}).get("rows", [])
    ran = [point_from_row(row, searched, spec["rebuilt"]["from"]) for row in rows]
    evaluated = [(point, float(row[METRIC])) for point, row in zip(ran, rows) if row["status"] == "OK" and row[METRIC]]
    return build_searcher(opts.search, searched, BEST_METRIC, opts.search_seed, problem, evaluated or None, ran)


class ReplayedASHA(ASHAScheduler):
    """ASHA that first records trials which ran elsewhere at its rungs, as if they had run here: the finished trials
    of a rebuilt search (``curves``) and, once restored from the experiment folder (``--resume``: Tune unpickles the
    scheduler it pickled at the start), the trials saved there (Ray does not save a scheduler's rungs: a resumed
    ASHA would compare new trials with none of the old). Each curve is replayed as the trial reported it
    (``BEST_METRIC``: the best so far, by ``epoch``) when Tune sets the metric."""

    def __init__(self, curves: dict[str, list[tuple[int, float]]], experiment_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replay_curves, self.experiment_dir, self.restored = dict(curves), experiment_dir, False

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.restored = True

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        accepted = super().set_search_properties(metric, mode, **spec)
        if accepted:
            saved = experiment_curves(self.experiment_dir) if self.restored else []
            for trial_id, curve, ended in [*((t, c, True) for t, c in self.replay_curves.items()), *saved]:
                self.replay(trial_id, curve, ended)
        return accepted

    def replay(self, trial_id: str, curve: list[tuple[int, float]], ended: bool) -> None:
        if not curve:
            return
        trial, best, result = SimpleNamespace(trial_id=trial_id), -math.inf, {}
        self.on_trial_add(None, trial)
        for epoch, value in sorted(curve):
            best = max(best, value)
            result = {self._time_attr: int(epoch), self._metric: best}
            self.on_trial_result(None, trial, result)
        if ended:  # an unfinished one stays: Tune continues it, and it is not judged again at rungs it passed
            self.on_trial_complete(None, trial, result)


def experiment_curves(experiment_dir: str) -> list[tuple[str, list[tuple[int, float]], bool]]:
    """``(trial_id, [(epoch, METRIC)], ended)`` of every trial saved in an experiment folder; none in a new one."""
    from ray.tune import ExperimentAnalysis

    if not storage.exists(experiment_dir):
        return []
    try:
        analysis = ExperimentAnalysis(experiment_dir)
    except ValueError:  # no experiment state yet: a new search
        return []
    found = []
    for trial in analysis.trials:
        frame = analysis.trial_dataframes.get(trial.trial_id)
        if frame is not None and "epoch" in frame and METRIC in frame:
            curve = [(int(e), float(v)) for e, v in zip(frame["epoch"], frame[METRIC]) if not math.isnan(v)]
            found.append((trial.trial_id, curve, trial.status in ("TERMINATED", "ERROR")))
    return found


def make_scheduler(opts: SearchOptions, spec: dict[str, Any]):
    """ASHA in epochs (the ``epoch`` each report carries, whatever ``eval_step`` is), or FIFO.

    ASHA's horizon is ``--max_t`` (default: the trials' ``epochs``), its rungs ``grace_period * reduction_factor^k``
    epochs below it. It stops trials that fall behind at its rungs only: a trial that reaches its last epoch ends by
    itself and writes its run record (``stop_last_trials=False``; Ray's default would stop it at that last report).
    It replays the trials that ran before (``ReplayedASHA``) where there are any.
    """
    from ray.tune.schedulers import FIFOScheduler

    if opts.scheduler == "fifo":
        return FIFOScheduler()
    max_t = opts.max_t or spec["epochs"]
    return ReplayedASHA((spec.get("rebuilt") or {}).get("curves", {}), opts.experiment_dir, time_attr="epoch",
                        max_t=max_t, grace_period=min(opts.grace_period, max_t),
                        reduction_factor=opts.reduction_factor, stop_last_trials=False)


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
    num_samples -= len((spec.get("rebuilt") or {}).get("rows", []))  # finished before: not run again
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=BEST_METRIC, mode="max", search_alg=searcher,
                                    scheduler=make_scheduler(opts, spec), num_samples=num_samples,
                                    max_concurrent_trials=opts.max_concurrent or None),
        run_config=tune.RunConfig(name=opts.name, storage_path=opts.storage_path, verbose=1,
                                  callbacks=[TrialsLog(opts.out_dir, kept_rows(spec))],
                                  failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  # each trial's working directory (its run record) goes to storage, from any node
                                  sync_config=tune.SyncConfig(sync_artifacts=True)),
    )


def prepare(opts: SearchOptions) -> tuple[SearchOptions, dict[str, Any]]:
    """Check flags, space and folders before Ray starts; on ``--resume`` reload the interrupted search's settings;
    on ``--rebuild_from`` read the finished trials into the spec (``rebuilt``)."""
    spec_path = storage.join(opts.experiment_dir, SPEC_FILE)
    if opts.resume and opts.rebuild_from:
        raise TuneSetupError("--resume and --rebuild_from: pick one (--resume while the search's Ray folder exists, "
                             "--rebuild_from where it is gone)")
    if opts.rebuild_from and opts.search != "optuna":
        raise TuneSetupError(f"--rebuild_from with --search={opts.search}: only optuna learns from finished trials")
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
    spec = search_spec(opts)
    if opts.rebuild_from:
        spec["rebuilt"] = rebuilt_trials(opts, spec)
    return opts, spec


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
    unfinished = set(unfinished_trials(opts.experiment_dir))
    kept = kept_rows(spec)
    out = Path(opts.out_dir)
    logged = out / "trials.csv"  # the TrialsLog's, rewritten as each trial ended: the order in which they did
    rows = trial_rows(results, unfinished, ended_order(read_trials_csv(logged)) if logged.is_file() else {})
    summary: dict[str, Any] = {"rows": rows, "fit_s": fit_s, "finished": not unfinished}
    summary["csv"] = write_trials_csv([*kept, *rows], out / "trials.csv")
    write_curves_csv([*kept, *rows], out / "curves.csv")
    if not summary["finished"]:
        log(f"search interrupted: continue it with --resume --name={opts.name} --storage_path={opts.storage_path} "
            f"(or, where that folder is gone, with --rebuild_from={summary['csv']} and the search's options)")
        return summary
    searched = load_space(spec["space_file"])[1]
    best = best_row(results, rows, kept)
    if best in kept:  # a finished trial of the CSV the search was rebuilt from: its text as values
        best = {**best, **point_from_row(best, searched, spec["rebuilt"]["from"]), METRIC: float(best[METRIC]),
                "best_epoch": int(best["best_epoch"])}
    summary["best"] = best
    rows = [*kept, *rows]
    params = {k: best[k] for k in searched}
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
    ``python -m recbole_hybrid experiments analyze --preset=tuned --runs_dir=...`` analyses it like any comparison.
    """
    from recbole_hybrid.quick_start.experiments import run_comparison
    from recbole_hybrid.utils.records import write_json

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
