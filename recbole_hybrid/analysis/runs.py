"""The saved runs of a comparison, loaded and checked: what the tables (``analysis``) and figures (``plots``) read.

A run is a record ``<run_id>.json`` (``runner.run_experiment``), its per-user ranks ``<run_id>.ranks.npz`` and, for
the hybrids, its ``a(L)`` curve ``<run_id>.alpha.json`` (``experiments.save_alpha_curve``). Runs are grouped by
their *label*: the record's ``"label"`` when it has one (e.g. ``"HybridDiscrete-nograph"``, a control run of the
class ``HybridDiscrete``), else its model class.

Runs are analysed together only when they share one protocol and one training recipe (``check_one_protocol``):
every config key is compared except ``IGNORED_KEYS`` (where and how a run was executed, not what it computed) and
the model-specific keys ``MODEL_KEYS`` (one model's own settings, which are what a comparison varies).
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recbole_hybrid.plugin import HYBRID_MODEL_NAMES
from recbole_hybrid.utils.fingerprint import comparable
from recbole_hybrid.data.lengths import GROUPS
from recbole_hybrid.utils.records import load_ranks, selected_valid

__all__ = ["AnalysisError", "BASELINE", "GROUPS", "IGNORED_KEYS", "MODEL_KEYS", "TUNED_KEYS", "Run",
           "best_label", "check_one_protocol",
           "load_run", "load_runs", "model_order"]

BASELINE = "SASRec"

#: Config keys that say where or how a run was executed, not what it computed: never compared. Devices, paths,
#: logging, evaluation batch size (ranks do not depend on it), the trainer choice (``fast`` and ``recbole`` draw
#: the same batches and optimise the same loss; ``fast_bf16``, which changes the arithmetic, IS compared),
#: ``fused_layers`` (the same function and dropout masks in other kernels: float summation order only; records
#: older than the key ran RecBole's kernels) and the defaults of ``train_batch_size: auto`` (records hold the batch
#: used; ``train_mode`` and it ARE compared), and ``eval_history_caps`` (extra tests after selection; records older
#: than the key, or given caps later by ``experiments caps``, computed the same numbers), and ``tuned_defaults`` (which
#: property files were read: the settings they brought are compared).
IGNORED_KEYS = frozenset({
    "seed", "model", "label",
    "device", "gpu_id", "use_gpu", "local_rank", "worker", "single_spec", "nproc", "world_size", "offset", "ip",
    "port", "data_path", "checkpoint_dir", "results_dir", "graph_cache_dir", "dataset_save_path",
    "dataloaders_save_path", "save_dataset", "save_dataloaders", "allow_download", "state", "show_progress",
    "log_wandb", "wandb_project", "metric_decimal_place", "loss_decimal_place", "eval_batch_size", "trainer",
    "fast_check_every", "fast_compile", "fused_layers", "sequence_batch_default", "prefix_batch_default",
    "eval_history_caps", "tuned_defaults",
})

#: One model's own settings (glob patterns), which a comparison varies between its models: never compared.
#: A new variant's own keys belong here.
MODEL_KEYS = ("alpha_*", "fixed_alpha", "fusion_form", "gnn_layers", "graph_*", "item_gate", "score_table",
              "sequence_alpha_tolerance")

#: The backbone keys a tuning study searches (``tune/ml-1m/2026-12-03/``): each model's tuned recipe sets its own,
#: so the runs of a ``tuned`` preset are compared on the protocol and the rest of the recipe, not on these.
TUNED_KEYS = ("learning_rate", "weight_decay", "hidden_size", "n_layers", "n_heads", "hidden_dropout_prob",
              "attn_dropout_prob", "train_batch_size", "MAX_ITEM_LIST_LENGTH", "L_short", "L_long")

#: Record fields (besides ``config``) that must agree: the dataset and its size after the filters.
RECORD_KEYS = ("dataset", "data")

_REQUIRED = ("run_id", "model", "seed", "dataset", "date", "command", "device", "data", "epochs", "best_epoch",
             "train_time_s", "config")
_RANK_KEYS = tuple(f"{split}_{key}" for split in ("valid", "test")
                   for key in ("user_id", "history_length", "rank", "rank_filter_seen"))


class AnalysisError(ValueError):
    """The saved runs cannot be analysed together; the message names the runs or files."""


@dataclass
class Run:
    """One saved run: its JSON record, its per-user ranks (``records.save_ranks``) and, when saved, its ``a(L)``.

    ``alpha`` is ``{"length": [L], "alpha": [L]}`` (``experiments.save_alpha_curve``) or None.
    """

    record: dict
    ranks: dict[str, np.ndarray]
    alpha: dict | None
    path: Path | None = None

    @property
    def model(self) -> str:
        """The model class, e.g. ``HybridDiscrete``."""
        return self.record["model"]

    @property
    def label(self) -> str:
        """What the tables call this run: the record's ``label`` (a control or variant), else its model class."""
        return self.record.get("label") or self.record["model"]

    @property
    def seed(self) -> int:
        return self.record["seed"]

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    @property
    def selection_score(self) -> float:
        """The best validation score the run was selected on: its record's ``selection`` metric (``valid
        ndcg@10``) in the metrics it was selected on (``records.selected_valid``)."""
        metric = (self.record.get("selection") or {}).get("metric", "valid ndcg@10")
        return selected_valid(self.record)[metric.removeprefix("valid ")]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AnalysisError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict):
        raise AnalysisError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def load_run(path: Path) -> Run:
    """One run record ``path`` with its per-user ranks and, when saved, its ``a(L)`` (``AnalysisError`` names a
    missing or malformed file)."""
    if not path.is_file():
        raise AnalysisError(f"{path}: no such run record")
    record = _read_json(path)
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise AnalysisError(f"{path}: not a complete run record, missing {', '.join(missing)}")
    if not isinstance(record["config"], dict):
        raise AnalysisError(f"{path}: its config is not a JSON object")
    ranks_path = path.with_name(record.get("ranks_file") or f"{path.stem}.ranks.npz")
    if not ranks_path.is_file():
        raise AnalysisError(f"{path}: its per-user ranks {ranks_path.name} are missing (an interrupted run? "
                            f"delete the record and run the comparison again)")
    try:
        ranks = load_ranks(ranks_path)
    except (OSError, ValueError) as err:
        raise AnalysisError(f"{ranks_path}: unreadable ({err})") from None
    missing = [key for key in _RANK_KEYS if key not in ranks]
    if missing:
        raise AnalysisError(f"{ranks_path}: missing arrays {', '.join(missing)}")
    alpha_path = path.with_name(f"{path.stem}.alpha.json")
    alpha = _read_json(alpha_path) if alpha_path.is_file() else None
    if alpha is not None and not (isinstance(alpha.get("length"), list) and isinstance(alpha.get("alpha"), list)
                                  and len(alpha["length"]) == len(alpha["alpha"]) > 0
                                  and all(isinstance(a, (int, float)) and 0 <= a <= 1 for a in alpha["alpha"])):
        raise AnalysisError(f"{alpha_path}: expected equally long, non-empty lists 'length' and 'alpha', "
                            f"with every alpha in [0, 1]")
    return Run(record, ranks, alpha, path)


def load_runs(runs_dir: str | Path, dataset: str, preset: str) -> list[Run]:
    """Every complete run ``*-<dataset>-<preset>-seed*`` in ``runs_dir``, checked and sorted by label and seed.

    Raises ``AnalysisError`` (naming the file or runs) for a missing folder or ranks file, a malformed record, two
    runs of one label and seed, or runs that do not share one protocol (``check_one_protocol``). The runs of a
    ``tuned`` preset may differ in ``TUNED_KEYS``: each model trains its own tuned recipe.
    """
    runs_dir = Path(runs_dir)
    paths = [p for p in sorted(runs_dir.glob(f"*-{dataset}-{preset}-seed*.json"))
             if not p.name.endswith(".alpha.json")]
    if not paths:
        raise AnalysisError(f"no run records *-{dataset}-{preset}-seed*.json in {runs_dir}: run "
                            f"`python -m recbole_hybrid experiments {preset} --dataset={dataset}` first")
    runs = [load_run(path) for path in paths]
    seen: dict[tuple[str, int], Run] = {}
    for run in runs:
        other = seen.setdefault((run.label, run.seed), run)
        if other is not run:
            raise AnalysisError(f"{other.path} and {run.path} are both {run.label} with seed {run.seed}: give "
                                f"one of them its own \"label\" in the record, or move it to another folder")
    check_one_protocol(runs, TUNED_KEYS if preset.split("-")[0] == "tuned" else ())
    return sorted(runs, key=lambda r: (r.label, r.seed))


def is_model_key(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in MODEL_KEYS)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted keys (``data.users``, ``eval_args.split.LS``), values as JSON text."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value, sort_keys=True)
    return out


def protocol_signature(run: Run, varying: tuple[str, ...] = ()) -> dict[str, str]:
    """The values (as JSON text, nested keys dotted) that must agree across a comparison: ``RECORD_KEYS`` and
    every config key but ``IGNORED_KEYS``, ``MODEL_KEYS`` and ``varying`` (``fingerprint.comparable``: keys that
    records older than them lack hold the value those runs had; sequence-only keys do not count for prefix rows)."""
    values = {key: run.record.get(key) for key in RECORD_KEYS}
    config = comparable(run.record["config"])
    values.update({key: value for key, value in config.items()
                   if key not in IGNORED_KEYS and key not in varying and not is_model_key(key)})
    return _flatten(values)


def check_one_protocol(runs: list[Run], varying: tuple[str, ...] = ()) -> None:
    """Refuse runs whose protocol or shared recipe differ, in one line naming each odd run and its keys; keys in
    ``varying`` may differ.

    The reference is the signature most runs share; a key missing from one record counts as a difference.
    """
    signatures = [protocol_signature(run, varying) for run in runs]
    frozen = [tuple(sorted(s.items())) for s in signatures]
    common, _ = Counter(frozen).most_common(1)[0]
    reference = runs[frozen.index(common)]
    ref = dict(common)
    problems = []
    for run, signature in zip(runs, signatures):
        keys = sorted(k for k in set(ref) | set(signature) if ref.get(k) != signature.get(k))
        if keys:
            shown = ", ".join(f"{k} ({_short(signature.get(k))} vs {_short(ref.get(k))})" for k in keys[:6])
            more = f" and {len(keys) - 6} more keys" if len(keys) > 6 else ""
            problems.append(f"{run.run_id} differs in {shown}{more}")
    if problems:
        raise AnalysisError(f"refused: the runs do not share one protocol and recipe (compared with "
                            f"{reference.run_id}): " + "; ".join(problems))


def _short(value: str | None) -> str:
    if value is None:
        return "missing"
    return value if len(value) <= 40 else value[:37] + "..."


def _class_rank(model: str) -> int:
    order = [BASELINE, *HYBRID_MODEL_NAMES]
    return order.index(model) if model in order else len(order)


def model_order(runs: list[Run]) -> list[str]:
    """Labels in table order: SASRec, then the hybrids (class order), then controls and other labels.

    Controls and variants follow in the order of their model class, then by label.
    """
    by_label = {r.label: r.model for r in runs}
    main = [m for m in (BASELINE, *HYBRID_MODEL_NAMES) if m in by_label and by_label[m] == m]
    others = sorted((label for label in by_label if label not in main),
                    key=lambda label: (_class_rank(by_label[label]), label))
    return main + others


def best_label(runs: list[Run], labels: list[str], seeds: list[int]) -> tuple[str, dict[str, float]]:
    """The label among ``labels`` whose runs of ``seeds`` score best on validation, and every label's score.

    A label's score is the mean of its runs' ``selection_score`` over ``seeds`` (other seeds are left out): the
    validation split alone chooses, never the test. A tie goes to the label named first. ``AnalysisError`` names a
    label that lacks one of ``seeds``: it is chosen only once every run has landed.
    """
    if not labels:
        raise AnalysisError("no labels to choose from")
    by_key = {(run.label, run.seed): run for run in runs}
    means = {}
    for label in labels:
        missing = [seed for seed in seeds if (label, seed) not in by_key]
        if missing:
            raise AnalysisError(f"{label} has no run of seed {', '.join(map(str, missing))} yet: the best label is "
                                f"chosen once all {len(seeds)} seeds of {', '.join(labels)} have landed")
        means[label] = float(np.mean([by_key[label, seed].selection_score for seed in seeds]))
    return max(labels, key=lambda label: means[label]), means


def config_value(runs: list[Run], key: str) -> Any:
    """``key`` of the runs' config (one protocol: the same in every run; checked by ``load_runs``)."""
    return runs[0].record["config"].get(key)
