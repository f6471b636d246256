"""SASRec against the hybrids under one protocol and one budget, for several seeds (``run_comparison``).

The command is ``recbole-hybrid experiments`` (``recbole_hybrid/cli/experiments.py``, whose help describes presets,
variants, run ids and resumption); this module is what it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from recbole_hybrid.plugin import HYBRID_MODEL_NAMES, model_class
from recbole_hybrid.config import ConfigError, build_config, resolve_model
from recbole_hybrid.utils.errors import RunInUseError, RunMismatchError
from recbole_hybrid.utils.fingerprint import describe, differences, run_settings
from recbole_hybrid.model.layers import item_gates
from recbole_hybrid.utils.records import load_checkpoint, write_json
from recbole_hybrid.quick_start.runner import run_experiment

MODELS = ("SASRec", *HYBRID_MODEL_NAMES)

PRESETS: dict[str, dict[str, Any]] = {
    "pipeline": {"epochs": 2},
    "quick": {"epochs": 50, "stopping_step": 10},
    # Published presets hold nothing: their frozen config file alone sets the run, budget included.
    "paper": {},  # --config_files=configs/ml-1m/2026-11-27.yaml
    "tuned": {},  # --config_files=<tuned_dir>/<Model>-<dataset>.yaml (written by recbole-hybrid tune)
    "literature": {},  # --config_files=configs/ml-1m/2026-11-27-literature.yaml
    "literature-target": {},  # --config_files=configs/ml-1m/2026-11-27-literature-target.yaml (targets weigh alike)
    "workflow-bpr": {},  # --config_files=configs/ml-1m/2026-12-03-workflow-bpr.yaml (the seed workflow's BPR regime)
}

#: Where the published presets' records go unless ``--results_dir`` says otherwise: the committed evidence, so the
#: command that made a published comparison resumes (and skips) it there.
PUBLISHED_RUNS = "results/runs"

#: Control runs: a label, the model it trains and the settings that make it a control.
CONTROLS: dict[str, tuple[str, dict[str, Any]]] = {
    # same parameters as HybridDiscrete, no graph propagation: G is a second ID table
    "HybridDiscrete-nograph": ("HybridDiscrete", {"gnn_layers": 0}),
    # the same for the variant HybridResidual-fused: is what it gains over SASRec the graph's, or the second table's?
    "HybridResidual-fused-nograph": ("HybridResidual", {"score_table": "fused", "gnn_layers": 0}),
    # the same for HybridContinuous: the tuning study's best hybrid gets its no-graph twin, whichever it is
    "HybridContinuous-nograph": ("HybridContinuous", {"gnn_layers": 0}),
}

#: Variant runs: a design tried after the first results, named apart, trained as a label like a control.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # HybridResidual scoring against its fused table E + (1 - a) G: the graph also shapes the output side
    "HybridResidual-fused": ("HybridResidual", {"score_table": "fused"}),
    # the graph propagates the ID table itself (graph_table: shared): inputs stay tied to the scoring table E
    "HybridDiscrete-shared": ("HybridDiscrete", {"graph_table": "shared"}),
    "HybridResidual-fused-shared": ("HybridResidual", {"score_table": "fused", "graph_table": "shared"}),
}

#: Every label that is not a model class: the model it trains and its settings.
LABELS: dict[str, tuple[str, dict[str, Any]]] = {**CONTROLS, **VARIANTS}

FIRST_SEED = 2020


def default_runs_dir(preset: str) -> str:
    """Where ``run_comparison`` puts a preset's records by default (``preset`` may end in ``-fs``): the committed
    ``results/runs`` for a published preset, the run default ``saved/runs`` (``overall.yaml``) for a smoke one."""
    base = preset[:-3] if preset.endswith("-fs") else preset
    return PUBLISHED_RUNS if base in PRESETS and not PRESETS[base] else "saved/runs"


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
    policy = model_class(record["model"]).build_alpha_policy(config)
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
    if not PRESETS[preset]:
        settings.setdefault("results_dir", PUBLISHED_RUNS)
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
                if model in HYBRID_MODEL_NAMES:
                    save_alpha_curve(record, results_dir / f"{rid}.alpha.json")
        else:
            log(f"{rid}: record exists in {results_dir}, skipped")
        done.append({"run_id": rid, "model": label, "seed": seed, "status": status, "results_dir": str(results_dir)})
    return done
