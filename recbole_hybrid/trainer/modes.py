"""``train_mode``: its one owner. Which loop trains a run, decided once, before any data is built.

``prefix`` is RecBole's rows (one (user, target) prefix each); ``sequence`` is SASRec's own windows, every position a
target (``trainer/sequence.py``). ``auto`` (``overall.yaml``'s default) is ``sequence`` wherever
``sequence_mode_problem`` finds nothing in the config, else ``prefix``; ``config.build_config`` resolves it
(``resolve_auto``), so records, fingerprints, the analysis and the trainers only ever see ``prefix`` or ``sequence``.
Under RecBole's own trainer (``run_recbole``, ``objective_function``), which trains prefix rows only, ``auto``
stands for ``prefix`` (``recbole_defaults``, applied by ``plugin.wrap_config``).
"""

from __future__ import annotations

from recbole_hybrid.trainer.fast import FAST_LEARNERS
from recbole_hybrid.trainer.positions import supports_sequence_mode
from recbole_hybrid.utils.errors import ConfigError

#: ``auto`` resolves to one of the other two (``resolve_train_mode``).
TRAIN_MODES = ("auto", "prefix", "sequence")


def sequence_mode_problem(config, model_cls: type) -> str | None:
    """Why sequence mode cannot train ``model_cls`` with this config (a sentence naming the key), or None."""
    if not supports_sequence_mode(model_cls):
        return f"{model_cls.__name__} has no sequence mode (SASRec and the hybrids have); use train_mode=prefix"
    if config["trainer"] == "recbole":
        return "trainer=recbole trains prefix rows only; use trainer=auto"
    if config["transform"] is not None:
        return f"transform={config['transform']!r} applies to prefix rows; remove it or use train_mode=prefix"
    if str(config["learner"]).lower() not in FAST_LEARNERS:
        return f"learner={config['learner']!r} must be one of {', '.join(FAST_LEARNERS)}"
    if config["loss_type"] not in ("CE", "BPR"):
        return f"loss_type={config['loss_type']!r} must be CE or BPR"
    if config["fast_bf16"] and config["enable_amp"]:
        return "fast_bf16 and enable_amp are both set: choose one autocast"
    eval_args = config["eval_args"] or {}
    if eval_args.get("order") != "TO" or "LS" not in (eval_args.get("split") or {}):
        return (f"eval_args order={eval_args.get('order')!r}, split={eval_args.get('split')!r}: windows are cut "
                f"from leave-one-out rows in time order (order TO, split LS)")
    return None


def resolve_train_mode(config, model_cls: type) -> str:
    """``"prefix"`` or ``"sequence"``: ``auto`` is sequence wherever ``sequence_mode_problem`` finds nothing.

    Raises ``ConfigError`` for a value outside ``TRAIN_MODES``; an explicit mode is returned as given (an explicit
    sequence mode that this config cannot have is refused by ``check_sequence_config``).
    """
    mode = config["train_mode"]
    if mode not in TRAIN_MODES:
        raise ConfigError(f"train_mode={mode!r} must be one of {', '.join(TRAIN_MODES)}")
    if mode != "auto":
        return mode
    return "prefix" if sequence_mode_problem(config, model_cls) else "sequence"


#: Keys whose ``auto`` default ``resolve_auto`` replaces; a resumed run keeps the values it started with.
AUTO_KEYS = ("train_mode", "train_batch_size")
#: ``train_batch_size: auto`` takes the value of this key for each resolved ``train_mode`` (overall.yaml).
BATCH_DEFAULT_KEYS = {"sequence": "sequence_batch_default", "prefix": "prefix_batch_default"}


def resolve_auto(config: Config, model_cls: type) -> None:
    """Replace ``train_mode: auto`` and ``train_batch_size: auto`` in ``config`` by what they stand for.

    ``auto`` mode is ``sequence`` where the model has one and the config allows it (``resolve_train_mode``), else
    ``prefix``; ``auto`` batch is the resolved mode's default (windows or rows per step). Runs before any data is
    built: RecBole's data loaders read ``train_batch_size``.
    """
    mode = resolve_train_mode(config, model_cls)
    config["train_mode"] = mode
    if config["train_batch_size"] == "auto":
        key = BATCH_DEFAULT_KEYS[mode]
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ConfigError(f"{key}={config[key]!r} must be an integer >= 1")
        config["train_batch_size"] = config[key]


def recbole_defaults(internal: dict) -> None:
    """RecBole's own trainer trains prefix rows: there ``auto`` mode is ``prefix`` and ``auto`` batch its rows per
    step (``internal``: RecBole's internal config dict, changed in place)."""
    if internal.get("train_mode") == "auto":
        internal["train_mode"] = "prefix"
    if internal.get("train_batch_size") == "auto":  # RecBole's data loaders read it: an int
        internal["train_batch_size"] = internal[BATCH_DEFAULT_KEYS["prefix"]]
