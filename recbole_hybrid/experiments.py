"""SASRec against the four hybrids under one protocol and one budget, for several seeds; then the analysis.

    python -m recbole_hybrid.experiments PRESET [--dataset=ml-1m] [--seeds=3] [--models=SASRec,HybridFixed]
                                               [--config_files=...] [--key=value ...]
    python -m recbole_hybrid.experiments analyze [--dataset=ml-1m] [--preset=paper] [--runs_dir=results/runs]
                                                [--out_dir=results] [--save_csv]

PRESET is ``pipeline`` (2 epochs: does the pipeline run?), ``quick`` (50 epochs, patience 10) or ``paper``
(200 epochs, patience 20, batch 256, lr 1e-3); any ``--key=value`` (run.py's flags) overrides it. Seeds are
2020, 2021, ... Run ids are ``<Model>-<dataset>-<preset>-seed<seed>``: a run whose record and ranks already exist
in ``results_dir`` is skipped, and a run interrupted during training continues from its ``last.pth``, so the same
command resumes an interrupted comparison where it stopped. Each hybrid run also saves
its learned ``a(L)`` for L = 1..MAX_ITEM_LIST_LENGTH as ``<run_id>.alpha.json``. Other overrides are not part of
the id: give a comparison with other settings its own ``--results_dir`` and ``--checkpoint_dir``. With
``--filter_seen=True`` (selection on validation NDCG@10 without seen items) ids read ``<preset>-fs``; analyse them
with ``analyze --preset=<preset>-fs``.

``analyze`` reads only the saved records (``recbole_hybrid.runs``, ``analysis``, ``report``); without ``--save_csv``
it prints the tables and findings, with it it writes the CSVs, plots and ``<out_dir>/README.md``. It refuses runs
that do not share one protocol and recipe (``runs.check_one_protocol``), naming the runs and keys.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.atomic import AtomicFileError
from recbole_hybrid.config import ConfigError, build_config, parse_cli, resolve_model
from recbole_hybrid.records import load_checkpoint, write_json
from recbole_hybrid.runner import run_experiment

MODELS = ("SASRec", *HYBRID_MODELS)

PRESETS: dict[str, dict[str, Any]] = {
    "pipeline": {"epochs": 2},
    "quick": {"epochs": 50, "stopping_step": 10},
    "paper": {"epochs": 200, "stopping_step": 20, "train_batch_size": 256, "learning_rate": 1e-3},
    "tuned": {},  # the budget and settings come from --config_files (e.g. properties/tuned/<Model>-<dataset>.yaml)
}

FIRST_SEED = 2020


def run_id(model: str, dataset: str, preset: str, seed: int, filter_seen: bool = False) -> str:
    """The deterministic id that makes skip-if-done possible; ``-fs`` marks selection with ``filter_seen``."""
    return f"{model}-{dataset}-{preset}{'-fs' if filter_seen else ''}-seed{seed}"


def seed_list(seeds: int) -> list[int]:
    """``seeds`` seeds from 2020 on (2020 is RecBole's default seed)."""
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} must be an integer >= 1")
    return list(range(FIRST_SEED, FIRST_SEED + seeds))


def is_done(results_dir: str | Path, rid: str) -> bool:
    """A run counts as done when both its record and its ranks exist (the record is written last)."""
    folder = Path(results_dir)
    return (folder / f"{rid}.json").is_file() and (folder / f"{rid}.ranks.npz").is_file()


def save_alpha_curve(record: dict[str, Any], path: str | Path) -> Path:
    """Write the learned ``a(L)`` of a hybrid run's best checkpoint for L = 1..MAX_ITEM_LIST_LENGTH."""
    config = record["config"]
    policy = HYBRID_MODELS[record["model"]].build_alpha_policy(config)
    prefix = "fusion.alpha_policy."
    state = load_checkpoint(record["checkpoint"])["state_dict"]
    policy.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    lengths = torch.arange(1, config["MAX_ITEM_LIST_LENGTH"] + 1)
    with torch.no_grad():
        alpha = policy(lengths)
    return write_json(path, {"run_id": record["run_id"], "model": record["model"], "seed": record["seed"],
                             "length": lengths.tolist(), "alpha": alpha.tolist()})


def run_comparison(preset: str, dataset: str, seeds: int = 3, models: tuple[str, ...] | list[str] = MODELS,
                   config_files: list[str] | None = None, overrides: dict[str, Any] | None = None,
                   log: Callable[[str], None] = print, progress: bool = True) -> list[dict[str, Any]]:
    """Run (or skip, when done) every model for every seed; return the list of run descriptions.

    Each entry is ``{"run_id", "model", "seed", "status": "ran" | "resumed" | "skipped", "results_dir"}``.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    for model in models:
        resolve_model(model)  # fail on a typo before hours of training
    settings = {**PRESETS[preset], **(overrides or {})}
    plan = [(seed, model) for seed in seed_list(seeds) for model in models]
    done = []
    emit = (lambda line: tqdm.write(line, file=sys.stderr)) if progress else log
    bar = tqdm(plan, desc=f"{preset} on {dataset}", unit="run", disable=not progress, file=sys.stderr)
    for seed, model in bar:
        config = build_config(model, dataset, config_files, {**settings, "seed": seed})
        rid = run_id(model, dataset, preset, seed, config["filter_seen"])
        bar.set_postfix_str(rid)
        results_dir = Path(config["results_dir"])
        resume = (Path(config["checkpoint_dir"]) / rid / "last.pth").is_file()
        status = "skipped" if is_done(results_dir, rid) else "resumed" if resume else "ran"
        if status != "skipped":
            record = run_experiment(model, dataset, config_files, {**settings, "seed": seed}, run_id=rid,
                                    log=emit, resume=resume)
            if model in HYBRID_MODELS:
                save_alpha_curve(record, results_dir / f"{rid}.alpha.json")
        else:
            log(f"{rid}: record exists in {results_dir}, skipped")
        done.append({"run_id": rid, "model": model, "seed": seed, "status": status, "results_dir": str(results_dir)})
    return done


def split_flags(argv: list[str], names: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Take ``--name=value`` flags of ``names`` out of ``argv``; return them and the rest."""
    taken, rest = {}, []
    for arg in argv:
        key = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        if key in names and "=" in arg:
            taken[key] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return taken, rest


def main(argv: list[str]) -> int:
    """Entry point of ``python -m recbole_hybrid.experiments``; returns the exit code."""
    from recbole_hybrid.report import analyze
    from recbole_hybrid.runs import AnalysisError

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "analyze":
            flags, rest = split_flags(rest, ("dataset", "preset", "runs_dir", "out_dir"))
            save = "--save_csv" in rest
            rest = [a for a in rest if a != "--save_csv"]
            if rest:
                raise ConfigError(f"analyze: unknown arguments {rest}")
            analyze(dataset=flags.get("dataset", "ml-1m"), preset=flags.get("preset", "paper"),
                    runs_dir=flags.get("runs_dir", "results/runs"), out_dir=flags.get("out_dir", "results"),
                    save=save, command=["python -m recbole_hybrid.experiments", *argv])
            return 0
        if command not in PRESETS:
            raise ConfigError(f"unknown command {command!r}: choose a preset ({', '.join(PRESETS)}) or analyze")
        flags, rest = split_flags(rest, ("seeds", "models"))
        if not any(a.startswith("--dataset=") for a in rest):
            rest = ["--dataset=ml-1m", *rest]  # the paper's dataset, as for analyze
        model, dataset, files, overrides = parse_cli(rest)
        if any(a.startswith("--model=") for a in rest):
            raise ConfigError("use --models=A,B (a comparison runs several models), not --model")
        seeds = flags.get("seeds", "3")
        if not seeds.isdigit():
            raise ConfigError(f"--seeds={seeds!r} must be a positive integer")
        models = [m for m in flags.get("models", ",".join(MODELS)).split(",") if m]
        run_comparison(command, dataset, int(seeds), models, files, overrides)
    except (ConfigError, AnalysisError, AtomicFileError, FileNotFoundError, PermissionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
