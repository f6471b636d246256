"""From command-line flags to a checked RecBole ``Config``: model lookup, property files, checks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from recbole.config import Config

from recbole_hybrid.plugin import BPR_NEG_SAMPLE_ARGS, hybrid_models, is_plugin_model
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.utils.errors import ConfigError
from recbole_hybrid.trainer.fast import check_trainer_config
from recbole_hybrid.utils.flags import SHORT_FLAGS, parse_value, read_settings
from recbole_hybrid.model.layers import check_fusion_form, check_graph_table, check_item_gate
from recbole_hybrid.data.history_caps import CAPS_KEY, check_history_caps
from recbole_hybrid.utils.resources import plugin_property_files, tuned_property_file
from recbole_hybrid.trainer.modes import resolve_auto
from recbole_hybrid.trainer.sequence import check_sequence_config

__all__ = ["ConfigError", "SHORT_FLAGS", "parse_value", "parse_cli", "build_config", "resolve_model",
           "property_files", "check_config", "data_root"]

#: Folders that a run writes to; made absolute at parse time because Ray trials run in other directories.
PATH_KEYS = ("data_path", "checkpoint_dir", "results_dir", "graph_cache_dir")


def builtin_sequential_models() -> dict[str, type]:
    """RecBole's own sequential models by class name."""
    import recbole.model.sequential_recommender as seq

    return {name: obj for name, obj in vars(seq).items()
            if isinstance(obj, type) and hasattr(obj, "calculate_loss") and obj.__module__.startswith("recbole.")}


def resolve_model(name: str | type) -> type:
    """A hybrid of this plugin or a built-in RecBole sequential model, by name."""
    if isinstance(name, type):
        return name
    hybrids = hybrid_models()
    models = {**builtin_sequential_models(), **hybrids}
    if name not in models:
        raise ConfigError(
            f"unknown model {name!r}: choose one of the hybrids {sorted(hybrids)} "
            f"or a RecBole sequential model such as SASRec ({', '.join(sorted(builtin_sequential_models()))})"
        )
    return models[name]


def parse_cli(argv: list[str]) -> tuple[str, str, list[str], dict[str, Any]]:
    """Split ``--model= --dataset= --config_files= --key=value ...`` into model, dataset, files and overrides.

    ``flags.read_settings`` reads everything but ``--model`` and ``--dataset`` (defaults: HybridDiscrete,
    ml-100k).
    """
    model, dataset, rest = "HybridDiscrete", "ml-100k", []
    for arg in argv:
        if arg.startswith("--model="):
            model = arg.split("=", 1)[1]
        elif arg.startswith("--dataset="):
            dataset = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    files, overrides = read_settings(rest)
    return model, dataset, files, overrides


def property_files(model_cls: type, dataset: str, config_files: list[str], tuned: bool = True) -> list[str]:
    """Property files in priority order: the plugin's (overall, model with base classes first, dataset), the user's.

    Without ``config_files`` and with ``tuned``, the model's tuned recipe for the dataset
    (``properties/tuned/<Class>-<dataset>.yaml``) comes after the dataset's file where a study has written one: the
    plain command trains the tuned model. A config file is a whole recipe (every published one is frozen against
    the plain defaults), so with one the tuned file is never read.
    """
    files = plugin_property_files(model_cls, dataset)
    tuned_file = tuned_property_file(model_cls, dataset) if tuned and not config_files else None
    if tuned_file is not None:
        files.append(tuned_file)
    for f in config_files:
        if not Path(f).is_file():
            raise ConfigError(f"config file {f!r} does not exist")
        check_yaml(Path(f))
        files.append(Path(f))
    return [str(f) for f in files]


def check_yaml(path: Path) -> None:
    """Refuse a config file that is not YAML, in one line naming the file, line and problem (RecBole's own read
    would end in a long traceback that names neither). Only the syntax is checked: RecBole reads the values."""
    try:
        for _ in yaml.parse(path.read_text(encoding="utf-8")):
            pass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}: {err.problem or err.context}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {str(err).splitlines()[0]}") from None


def build_config(model: str | type, dataset: str, config_files: list[str] | None = None,
                 overrides: dict[str, Any] | None = None) -> Config:
    """Build and check the RecBole ``Config`` of one run (``sys.argv`` is hidden from RecBole).

    ``train_mode`` and ``train_batch_size`` come out concrete (``resolve_auto``): ``"prefix"`` or ``"sequence"``
    and an int, so records, fingerprints, the analysis and the trainers never see ``auto``.
    """
    model_cls = resolve_model(model)
    overrides = dict(overrides or {})
    tuned = overrides.get("tuned_defaults", True)
    if not isinstance(tuned, bool):
        raise ConfigError(f"tuned_defaults={tuned!r} must be True or False")
    if overrides.get("loss_type") == "BPR" and "train_neg_sample_args" not in overrides:
        overrides["train_neg_sample_args"] = dict(BPR_NEG_SAMPLE_ARGS)
    with bare_argv():
        try:
            config = Config(model=model_cls, dataset=dataset,
                            config_file_list=property_files(model_cls, dataset, config_files or [], tuned),
                            config_dict=overrides)
        except ValueError as err:  # RecBole's own checks (topk, eval_args, ...) name the key
            raise ConfigError(f"RecBole refused the configuration: {err}") from None
    for key in PATH_KEYS:
        if config[key]:
            config[key] = str(Path(config[key]).expanduser().resolve())
    resolve_auto(config, model_cls)
    check_config(config, model_cls)
    return config


def data_root(config) -> Path:
    """The folder holding ``<dataset>/``, what ``--data_path`` takes, of a built config (RecBole's ``data_path``
    already ends in the dataset's own folder; passing it on as ``data_path`` would look in
    ``<dataset>/<dataset>/``) or a saved plain one."""
    path = Path(config["data_path"])
    return path.parent if path.name == config["dataset"] else path


#: Keys of a saved config that RecBole derives itself (model type, device, ...): passing them back would clash.
DERIVED_KEYS = ("model", "dataset", "device", "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type", "local_rank",
                "single_spec", "valid_neg_sample_args", "test_neg_sample_args", "train_neg_sample_args")


def config_from_saved(plain: dict[str, Any], data_path: str | Path | None = None, use_gpu: bool = False) -> Config:
    """The ``Config`` of a run again, from the plain config its checkpoint or record saved (``plain_config``).

    ``data_path`` (the folder holding ``<dataset>/``) replaces the saved one, for data that moved; ``use_gpu``
    picks the device.
    """
    overrides = {k: v for k, v in plain.items() if k not in DERIVED_KEYS}
    overrides["data_path"] = str(data_root(plain) if data_path is None else data_path)
    overrides["use_gpu"] = use_gpu
    overrides["tuned_defaults"] = False  # the run's own settings, never a tuned file written after it
    return build_config(plain["model"], plain["dataset"], [], overrides)


#: Integer settings and their least value; ``None`` (a key the model does not use) is allowed for the optional ones.
REQUIRED_INTS = {"epochs": 1, "train_batch_size": 1, "sequence_batch_default": 1, "prefix_batch_default": 1,
                 "eval_batch_size": 1, "eval_step": 1, "stopping_step": 0, "MAX_ITEM_LIST_LENGTH": 1, "seed": 0}
OPTIONAL_INTS = {"hidden_size": 1, "inner_size": 1, "n_layers": 1, "n_heads": 1, "graph_window": 1,
                 "graph_min_count": 1, "gnn_layers": 0, "alpha_mlp_hidden": 1}  # L_short, L_long: by the policies
#: Float settings: (key, lowest, lowest allowed?, highest or None, required?).
FLOATS = (("learning_rate", 0.0, False, None, True), ("weight_decay", 0.0, True, None, True),
          ("hidden_dropout_prob", 0.0, True, 1.0, False), ("attn_dropout_prob", 0.0, True, 1.0, False),
          ("layer_norm_eps", 0.0, False, None, False), ("initializer_range", 0.0, False, None, False))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_config(config: Config, model_cls: type) -> None:
    """Refuse settings that cannot train, before any data is loaded; each message names the key."""
    for key, least in (*REQUIRED_INTS.items(), *OPTIONAL_INTS.items()):
        value = config[key]
        if value is None and key in OPTIONAL_INTS:
            continue
        if not _is_int(value) or value < least:
            also = " or auto" if key == "train_batch_size" else ""
            raise ConfigError(f"{key}={value!r} must be an integer >= {least}{also}")
    for key, low, low_allowed, high, required in FLOATS:
        value = config[key]
        if value is None and not required:
            continue
        low_ok = _is_number(value) and (value >= low if low_allowed else value > low)
        if not low_ok or (high is not None and not value < high):
            wanted = f"in {'[' if low_allowed else '('}{low:g}, {high:g})" if high is not None else \
                f"a number {'>=' if low_allowed else '>'} {low:g} (finite)"
            raise ConfigError(f"{key}={value!r} must be {wanted}")
    hidden, heads = config["hidden_size"], config["n_heads"]
    if hidden is not None and heads is not None and hidden % heads != 0:
        raise ConfigError(f"hidden_size={hidden!r} is not divisible by n_heads={heads}")
    topk = config["topk"]
    cutoffs = [topk] if _is_int(topk) else topk
    if not isinstance(cutoffs, list) or not cutoffs or not all(_is_int(k) and k >= 1 for k in cutoffs):
        raise ConfigError(f"topk={topk!r} must be an integer >= 1 or a non-empty list of them")
    for key in ("filter_seen", "fused_layers", "fast_dropout"):
        if not isinstance(config[key], bool):
            raise ConfigError(f"{key}={config[key]!r} must be True or False")
    if config["valid_metric"].lower() != "ndcg@10":
        raise ConfigError(f"valid_metric={config['valid_metric']!r}: model selection uses validation NDCG@10")
    if 10 not in cutoffs:
        raise ConfigError(f"topk={topk!r} must include 10: model selection uses validation NDCG@10")
    clip = config["clip_grad_norm"]
    if clip is not None:
        if not isinstance(clip, dict) or not _is_number(clip.get("max_norm")) or clip["max_norm"] <= 0 \
                or not set(clip) <= {"max_norm", "norm_type", "error_if_nonfinite", "foreach"}:
            raise ConfigError(f"clip_grad_norm={clip!r} must be empty or a dict such as {{'max_norm': 5.0}} "
                              f"(max_norm a finite number > 0; torch's clip_grad_norm_ arguments only)")
    check_history_caps(config[CAPS_KEY], model_cls, config["MAX_ITEM_LIST_LENGTH"])
    check_trainer_config(config)
    check_sequence_config(config, model_cls)
    if is_plugin_model(model_cls):
        try:
            check_fusion_form(config["fusion_form"])
            check_item_gate(config["item_gate"])
            check_graph_table(config["graph_table"])
            model_cls.build_alpha_policy(config)  # checks the policy's keys: alphas, bins against the cap
        except ValueError as err:
            raise ConfigError(f"{model_cls.__name__}: {err}") from None
