"""From command-line flags to a checked RecBole ``Config``: model lookup, property files, short flag names."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from recbole.config import Config

from recbole_hybrid import HYBRID_MODELS, HybridSASRec
from recbole_hybrid.compat import bare_argv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROPERTIES_DIR = PROJECT_ROOT / "properties"

#: Names researchers use (seed workflow) -> RecBole's keys.
SHORT_FLAGS = {
    "epochs": "epochs",
    "patience": "stopping_step",
    "batch_size": "train_batch_size",
    "lr": "learning_rate",
    "d_model": "hidden_size",
    "n_heads": "n_heads",
    "n_blocks": "n_layers",
    "L_short": "L_short",
    "L_long": "L_long",
    "seed": "seed",
}

#: Folders that a run writes to; made absolute at parse time because Ray trials run in other directories.
PATH_KEYS = ("data_path", "checkpoint_dir", "results_dir", "graph_cache_dir")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and the problem."""


def builtin_sequential_models() -> dict[str, type]:
    """RecBole's own sequential models by class name."""
    import recbole.model.sequential_recommender as seq

    return {name: obj for name, obj in vars(seq).items() if isinstance(obj, type) and hasattr(obj, "calculate_loss")}


def resolve_model(name: str | type) -> type:
    """A hybrid of this plugin or a built-in RecBole sequential model, by name."""
    if isinstance(name, type):
        return name
    models = {**builtin_sequential_models(), **HYBRID_MODELS}
    if name not in models:
        raise ConfigError(
            f"unknown model {name!r}: choose one of the hybrids {sorted(HYBRID_MODELS)} "
            f"or a RecBole sequential model such as SASRec ({', '.join(sorted(builtin_sequential_models()))})"
        )
    return models[name]


def parse_value(text: str) -> Any:
    """A command-line value as RecBole reads it: a Python literal when it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text


def parse_cli(argv: list[str]) -> tuple[str, str, list[str], dict[str, Any]]:
    """Split ``--model= --dataset= --config_files= --key=value ...`` into model, dataset, files and overrides.

    Short names (``--lr``, ``--d_model``, ...) become RecBole keys; ``--config_files`` takes a space- or
    comma-separated list.
    """
    model, dataset, files, overrides = "HybridDiscrete", "ml-100k", [], {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"cannot read argument {arg!r}: write flags as --key=value")
        key, value = arg[2:].split("=", 1)
        if key == "model":
            model = value
        elif key == "dataset":
            dataset = value
        elif key == "config_files":
            files += [f for f in value.replace(",", " ").split() if f]
        else:
            overrides[SHORT_FLAGS.get(key, key)] = parse_value(value)
    return model, dataset, files, overrides


def property_files(model_cls: type, dataset: str, config_files: list[str]) -> list[str]:
    """Property files in priority order: overall, the model's (base classes first), the dataset's, the user's."""
    files = [PROPERTIES_DIR / "overall.yaml"]
    for cls in reversed(model_cls.__mro__):
        path = PROPERTIES_DIR / "model" / f"{cls.__name__}.yaml"
        if path.exists():
            files.append(path)
    dataset_file = PROPERTIES_DIR / "dataset" / f"{dataset}.yaml"
    if dataset_file.exists():
        files.append(dataset_file)
    for f in config_files:
        if not Path(f).is_file():
            raise ConfigError(f"config file {f!r} does not exist")
        files.append(Path(f))
    return [str(f) for f in files]


def build_config(model: str | type, dataset: str, config_files: list[str] | None = None,
                 overrides: dict[str, Any] | None = None) -> Config:
    """Build and check the RecBole ``Config`` of one run (``sys.argv`` is hidden from RecBole)."""
    model_cls = resolve_model(model)
    overrides = dict(overrides or {})
    if overrides.get("loss_type") == "BPR" and "train_neg_sample_args" not in overrides:
        overrides["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": 1}
    with bare_argv():
        config = Config(model=model_cls, dataset=dataset,
                        config_file_list=property_files(model_cls, dataset, config_files or []),
                        config_dict=overrides)
    for key in PATH_KEYS:
        if config[key]:
            config[key] = str(Path(config[key]).expanduser().resolve())
    check_config(config, model_cls)
    return config


def check_config(config: Config, model_cls: type) -> None:
    """Refuse settings that cannot train, before any data is loaded; each message names the key."""
    positive_int = ("epochs", "train_batch_size", "eval_batch_size", "MAX_ITEM_LIST_LENGTH", "eval_step")
    for key in positive_int:
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key}={value!r} must be an integer >= 1")
    if not isinstance(config["stopping_step"], int) or config["stopping_step"] < 0:
        raise ConfigError(f"stopping_step={config['stopping_step']!r} must be an integer >= 0")
    if not isinstance(config["learning_rate"], (int, float)) or not config["learning_rate"] > 0:
        raise ConfigError(f"learning_rate={config['learning_rate']!r} must be a number > 0")
    hidden, heads = config["hidden_size"], config["n_heads"]
    if hidden is not None and heads is not None:
        if not isinstance(heads, int) or heads < 1:
            raise ConfigError(f"n_heads={heads!r} must be an integer >= 1")
        if not isinstance(hidden, int) or hidden % heads != 0:
            raise ConfigError(f"hidden_size={hidden!r} is not divisible by n_heads={heads}")
    for key in ("hidden_dropout_prob", "attn_dropout_prob"):
        value = config[key]
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value < 1):
            raise ConfigError(f"{key}={value!r} must be in [0, 1)")
    if not isinstance(config["filter_seen"], bool):
        raise ConfigError(f"filter_seen={config['filter_seen']!r} must be True or False")
    if config["valid_metric"].lower() != "ndcg@10":
        raise ConfigError(f"valid_metric={config['valid_metric']!r}: model selection uses validation NDCG@10")
    from recbole_hybrid.fast_trainer import check_trainer_config  # imports ConfigError from here

    check_trainer_config(config)
    if issubclass(model_cls, HybridSASRec):
        try:
            model_cls.build_alpha_policy(config)  # checks the policy's keys: alphas, bins against the cap
        except ValueError as err:
            raise ConfigError(f"{model_cls.__name__}: {err}") from None
