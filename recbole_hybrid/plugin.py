"""Registration with RecBole: after ``import recbole_hybrid`` RecBole's own entry points run the plugin's models.

RecBole 1.2.1 finds a model by name in ``recbole.utils.get_model``: it asks ``importlib.util.find_spec`` for the
module ``recbole.model.<kind>_recommender.<name lower-cased>`` of each kind and takes the class of that name from
it. Our model files carry those names (``recbole_hybrid/model/sequential_recommender/hybriddiscrete.py``), and
``install`` enters for each a small stand-in module under RecBole's name in ``sys.modules`` (``find_spec`` answers
from there first): the first ``getattr`` of its class imports the real module. ``get_model``, ``run_recbole``,
``load_data_and_model`` and ``objective_function`` then find the models; no file of RecBole is touched, and
nothing heavy is imported until a model is asked for.

RecBole's ``Config`` reads a model's defaults from ``recbole/properties/model/<Name>.yaml``, which a plugin has
none of: ``Config(model="HybridDiscrete", ...)`` would lack ``hidden_size``, ``alpha_short``, ``L_short``, ...
``Config._load_internal_config_dict`` is therefore wrapped to add, for the plugin's models only, the plugin's
property files (``overall.yaml``, the model's files, the dataset's) on top of RecBole's own defaults and below
``config_file_list``, ``config_dict`` and the command line, the same order as ``config.build_config``. The wrap is
put in when ``recbole.config`` is first imported (or at once, if it already is). RecBole's own trainer trains prefix
rows only, so there ``train_mode: auto`` and ``train_batch_size: auto`` of ``overall.yaml`` stand for ``prefix`` and
``prefix_batch_default`` rows per step (``build_config`` resolves them itself).

``overall.yaml`` has ``train_neg_sample_args: ~`` (CE over all items needs no negatives), where RecBole's own
defaults draw one uniform negative. ``loss_type`` is only final once the user's files, dict and command line are
merged, so ``Config._get_final_config_dict`` is wrapped too: for the plugin's models whose final ``loss_type`` is
``BPR`` and whose user gave no ``train_neg_sample_args`` (config files, ``config_dict`` or command line), it turns
on one uniform negative per positive, as ``config.build_config`` does for ``run.py --loss_type=BPR``. A
``train_neg_sample_args`` the user gives is kept; RecBole's own models are left as they were.

This module imports neither torch nor RecBole at import time, and no module of the models: they are named here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

from recbole_hybrid.utils.resources import plugin_property_files

SEQUENTIAL_PACKAGE = "recbole.model.sequential_recommender"
MODEL_PACKAGE = "recbole_hybrid.model.sequential_recommender"
CONFIG_MODULE = "recbole.config.configurator"

#: The plugin's models that a user trains, by name (the base class ``HybridSASRec`` is not one of them).
HYBRID_MODEL_NAMES = ("HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HybridResidual")
#: Every class of the plugin by name -> the module that defines it.
MODEL_MODULES = {name: f"{MODEL_PACKAGE}.{name.lower()}" for name in ("HybridSASRec", *HYBRID_MODEL_NAMES)}


def model_class(name: str) -> type:
    """The plugin's model class of this name (imports its module)."""
    return getattr(importlib.import_module(MODEL_MODULES[name]), name)


def hybrid_models() -> dict[str, type]:
    """The hybrid model classes by name, in ``HYBRID_MODEL_NAMES`` order (imports them)."""
    return {name: model_class(name) for name in HYBRID_MODEL_NAMES}


def is_plugin_model(model_class: Any) -> bool:
    """A model class of this plugin, or a subclass of one (decided by module name: nothing is imported)."""
    return isinstance(model_class, type) and any(
        cls.__module__.startswith(MODEL_PACKAGE + ".") for cls in model_class.__mro__)


def install() -> None:
    """Make RecBole's ``get_model(name)`` and ``Config`` find the plugin's models; idempotent."""
    for name in HYBRID_MODEL_NAMES:
        alias = f"{SEQUENTIAL_PACKAGE}.{name.lower()}"
        if alias not in sys.modules:
            sys.modules[alias] = _stand_in(alias, name)
    configurator = sys.modules.get(CONFIG_MODULE)
    if configurator is not None:
        wrap_config(configurator.Config)
    elif not any(isinstance(finder, _ConfigHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ConfigHook())


def _stand_in(alias: str, name: str) -> types.ModuleType:
    """A module under RecBole's name for ``name`` whose attribute ``name`` is the class, imported when first read."""
    module = types.ModuleType(alias, f"RecBole's name for {MODEL_MODULES[name]} (recbole_hybrid.plugin).")
    module.__spec__ = importlib.machinery.ModuleSpec(alias, None)

    def __getattr__(attr: str):
        if attr != name:
            raise AttributeError(f"module {alias!r} has no attribute {attr!r}")
        cls = model_class(name)
        setattr(module, name, cls)
        return cls

    module.__getattr__ = __getattr__
    return module


class _ConfigHook(importlib.abc.MetaPathFinder):
    """Wraps ``Config`` as soon as RecBole's configurator module has run; then leaves ``sys.meta_path``."""

    def find_spec(self, fullname, path, target=None):
        if fullname != CONFIG_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            wrap_config(module.Config)

        spec.loader.exec_module = exec_module
        return spec


#: What ``loss_type: BPR`` turns on for the plugin's models when the user names no ``train_neg_sample_args``
#: (RecBole's ``_set_default_parameters`` fills in ``alpha``, ``dynamic`` and ``candidate_num``).
BPR_NEG_SAMPLE_ARGS = {"distribution": "uniform", "sample_num": 1}


def wrap_config(config_class: type) -> None:
    """Let RecBole's ``Config`` read the plugin's property files for the plugin's models and give ``loss_type: BPR``
    its one negative; idempotent (each method is wrapped once)."""
    _wrap(config_class, "_load_internal_config_dict", _load_internal_config_dict_wrap)
    _wrap(config_class, "_get_final_config_dict", _get_final_config_dict_wrap)


def _wrap(config_class: type, name: str, make) -> None:
    """Replace ``config_class.name`` by ``make(original)`` unless this plugin already did."""
    original = getattr(config_class, name)
    if getattr(original, "recbole_hybrid", False):
        return
    wrapper = make(original)
    wrapper.recbole_hybrid = True
    wrapper.__wrapped__ = original
    setattr(config_class, name, wrapper)


def _load_internal_config_dict_wrap(original):
    def _load_internal_config_dict(self, model, model_class, dataset):
        original(self, model, model_class, dataset)
        if not is_plugin_model(model_class):
            return
        for path in plugin_property_files(model_class, dataset):
            loaded = self._update_internal_config_dict(str(path)) or {}
            if path.parent.name == "dataset":  # as RecBole does for its own dataset files
                self.parameters["Dataset"] += [key for key in loaded if key not in self.parameters["Dataset"]]
        from recbole_hybrid.trainer.modes import recbole_defaults  # torch is loaded by now: RecBole's Config runs

        recbole_defaults(self.internal_config_dict)

    return _load_internal_config_dict


def _get_final_config_dict_wrap(original):
    def _get_final_config_dict(self):
        final = original(self)
        if (is_plugin_model(self.model_class) and final.get("loss_type") == "BPR"
                and "train_neg_sample_args" not in self.external_config_dict):
            final["train_neg_sample_args"] = dict(BPR_NEG_SAMPLE_ARGS)
        return final

    return _get_final_config_dict
