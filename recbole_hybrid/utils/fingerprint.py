"""The settings that define a run, so that a run folder is never continued with other settings.

A run's fingerprint is its final RecBole config without the keys listed in ``NOT_DEFINING``: every setting that can
change its numbers (model, dataset, data filters, split and evaluation protocol, architecture, training recipe,
seed, ...) is in it, including keys that later versions add. Left out are where files live (a run folder or dataset
may move), the hardware it runs on, what is only displayed or logged, settings that change speed and never a number,
the defaults that ``train_batch_size: auto`` picks from (the batch used is ``train_batch_size``, always concrete
after ``config.build_config``, as is ``train_mode``), and ``epochs``: the budget may be raised when a run is resumed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from recbole_hybrid.utils.records import plain

#: Config keys that do not define a run (see the module docstring); every other key does.
NOT_DEFINING = frozenset({
    # where files are: a run folder or a dataset may be moved
    "data_path", "checkpoint_dir", "results_dir", "graph_cache_dir", "dataset_save_path", "dataloaders_save_path",
    "save_dataset", "save_dataloaders", "allow_download",
    # which property files were read: the settings they brought are compared themselves
    "tuned_defaults",
    # the hardware and processes it runs on
    "gpu_id", "use_gpu", "device", "worker", "single_spec", "local_rank", "nproc", "world_size", "offset", "ip",
    "port",
    # what is displayed or logged
    "state", "show_progress", "log_wandb", "wandb_project", "loss_decimal_place", "metric_decimal_place",
    # speed or memory only: the same numbers at any value (fused_layers: the same function and dropout masks, other
    # kernels; sequence_group_backward: the same loss and masks, each a-group's pass backpropagated alone)
    "eval_batch_size", "fast_check_every", "fused_layers", "sequence_group_backward",
    # the budget: may be raised on resume
    "epochs",
    # evaluation after selection that changes no number of the run, only adds the capped tests (history_caps)
    "eval_history_caps",
    # what train_batch_size: auto stands for; the batch a run used is train_batch_size itself
    "sequence_batch_default", "prefix_batch_default",
})


#: Defining keys that records older than the key lack, with the value such runs had: a recorded run without the key
#: is compared as if it held that value (``train_mode``: prefix rows were the only mode before it existed;
#: ``sequence_loss_weight``: every sequence step took the mean over its positions before the key existed;
#: ``item_gate``: no hybrid gated its graph rows before it existed; ``alpha_mlp_init``: HybridContinuous started its
#: hidden layer with the generic init, and its sequence-mode gradient reached a(L) only at each pass's
#: representative length, before it existed; ``ce_bf16``: the CE ran in float32; ``fast_dropout``: every dropout
#: was ``nn.Dropout``'s; ``graph_table``: every hybrid's graph propagated a table of its own).
IMPLIED_WHEN_MISSING = {"train_mode": "prefix", "sequence_loss_weight": "batch", "item_gate": "none",
                        "alpha_mlp_init": "recbole", "ce_bf16": False, "fast_dropout": False,
                        "graph_table": "separate"}

#: Keys that only ``train_mode: sequence`` reads: they define no number of a prefix-row run.
SEQUENCE_ONLY = frozenset({"sequence_windows", "sequence_batching", "sequence_loss_weight", "sequence_alpha_tolerance",
                           "ce_bf16"})


def comparable(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with ``IMPLIED_WHEN_MISSING`` filled in, and without ``SEQUENCE_ONLY`` keys for prefix rows."""
    settings = {**IMPLIED_WHEN_MISSING, **settings}
    if settings["train_mode"] != "prefix":
        return settings
    return {key: value for key, value in settings.items() if key not in SEQUENCE_ONLY}


def run_settings(config: Any) -> dict[str, Any]:
    """The defining settings of a run as plain JSON data: a RecBole ``Config`` or a saved plain config dict."""
    items = config.final_config_dict if hasattr(config, "final_config_dict") else config
    return json.loads(json.dumps({k: plain(v) for k, v in items.items() if k not in NOT_DEFINING}, sort_keys=True))


def settings_hash(settings: dict[str, Any]) -> str:
    """A short digest of ``run_settings`` (16 hex digits), to compare run records at a glance."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``key -> (recorded value, current value)`` for every defining key whose value changed.

    Keys in only one of the two are not compared: a key that the code of the recorded run did not have yet (or no
    longer has) was never set differently by the user; its meaning is carried by keys both have (``model``, ...).
    The exceptions are ``IMPLIED_WHEN_MISSING``: a recorded run without such a key ran with its value there. Between
    two prefix-row runs, ``SEQUENCE_ONLY`` keys are not compared (``comparable``).
    """
    recorded, current = comparable(recorded), comparable(current)
    return {key: (recorded[key], current[key]) for key in sorted(recorded.keys() & current.keys())
            if recorded[key] != current[key]}


def describe(diff: dict[str, tuple[Any, Any]], limit: int = 6) -> str:
    """``"learning_rate 0.001 -> 0.01, hidden_size 64 -> 32"`` (at most ``limit`` keys, then a count)."""
    parts = [f"{key} {old!r} -> {new!r}" for key, (old, new) in list(diff.items())[:limit]]
    if len(diff) > limit:
        parts.append(f"and {len(diff) - limit} more")
    return ", ".join(parts)
