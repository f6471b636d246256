"""Registration with RecBole: after ``import recbole_hybrid`` RecBole's own entry points run the plugin's models.

RecBole 1.2.1 finds a model by name in ``recbole.utils.get_model``: it tries the module
``recbole.model.<kind>_recommender.<name lower-cased>`` of each kind with ``importlib.util.find_spec`` and takes
the class of that name from it. ``register_models`` makes each hybrid such a module, in memory only: the module
that defines ``HybridDiscrete`` is entered in ``sys.modules`` as ``recbole.model.sequential_recommender.
hybriddiscrete`` (``find_spec`` answers from ``sys.modules`` first), and the class becomes an attribute of
``recbole.model.sequential_recommender``. ``get_model``, ``run_recbole``, ``load_data_and_model`` and
``objective_function`` then find it; no file of RecBole is touched.

RecBole's ``Config`` reads a model's defaults from ``recbole/properties/model/<Name>.yaml``, which a plugin has
none of: ``Config(model="HybridDiscrete", ...)`` would lack ``hidden_size``, ``alpha_short``, ``L_short``, ...
``Config._load_internal_config_dict`` is therefore wrapped to add, for the plugin's models only, the plugin's
property files (``overall.yaml``, the model's files, the dataset's) on top of RecBole's own defaults and below
``config_file_list``, ``config_dict`` and the command line, the same order as ``config.build_config``. RecBole's
own trainer trains prefix rows only, so there ``train_mode: auto`` and ``train_batch_size: auto`` of ``overall.yaml``
stand for ``prefix`` and ``prefix_batch_default`` rows per step (``build_config`` resolves them itself).
"""

from __future__ import annotations

import sys

from recbole.config import Config

from recbole_hybrid.resources import plugin_property_files

SEQUENTIAL_PACKAGE = "recbole.model.sequential_recommender"

#: Model classes of this plugin by name, as registered.
REGISTERED: dict[str, type] = {}


def register_models(models: dict[str, type]) -> None:
    """Make RecBole's ``get_model(name)`` and ``Config`` find each of ``models`` (name -> sequential model class)."""
    import recbole.model.sequential_recommender as sequential

    for name, cls in models.items():
        setattr(sequential, name, cls)
        sys.modules.setdefault(f"{SEQUENTIAL_PACKAGE}.{name.lower()}", sys.modules[cls.__module__])
        REGISTERED[name] = cls
    _wrap_internal_config()


def is_plugin_model(model_class: type) -> bool:
    """A registered model of this plugin, or a subclass of one."""
    return isinstance(model_class, type) and any(issubclass(model_class, cls) for cls in REGISTERED.values())


def _wrap_internal_config() -> None:
    original = Config._load_internal_config_dict
    if getattr(original, "recbole_hybrid", False):
        return

    def _load_internal_config_dict(self, model, model_class, dataset):
        original(self, model, model_class, dataset)
        if not is_plugin_model(model_class):
            return
        for path in plugin_property_files(model_class, dataset):
            loaded = self._update_internal_config_dict(str(path)) or {}
            if path.parent.name == "dataset":  # as RecBole does for its own dataset files
                self.parameters["Dataset"] += [key for key in loaded if key not in self.parameters["Dataset"]]
        internal = self.internal_config_dict
        if internal.get("train_mode") == "auto":
            internal["train_mode"] = "prefix"
        if internal.get("train_batch_size") == "auto":  # RecBole's data loaders read it: an int
            internal["train_batch_size"] = internal["prefix_batch_default"]

    _load_internal_config_dict.recbole_hybrid = True
    _load_internal_config_dict.__wrapped__ = original
    Config._load_internal_config_dict = _load_internal_config_dict
