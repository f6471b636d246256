"""recbole-hybrid: length-adaptive hybrid fusion models for sequential recommendation on RecBole.

Importing the package registers its models with RecBole (``recbole_hybrid/plugin.py``): afterwards RecBole's own
``get_model("HybridDiscrete")`` and ``run_recbole(model="HybridDiscrete", ...)`` work. The import itself is light:
torch, RecBole and the model classes load when first used (``recbole_hybrid.HybridDiscrete``, RecBole's
``get_model``), so ``recbole_hybrid.analysis`` reads committed records without them.
"""

from recbole_hybrid import plugin
from recbole_hybrid.utils.compat import patch_numpy
from recbole_hybrid.version import __version__

patch_numpy()  # before any RecBole Config, in every process that imports us
plugin.install()  # RecBole's get_model / run_recbole / Config find the models from here on

__all__ = ["HybridSASRec", *plugin.HYBRID_MODEL_NAMES, "HYBRID_MODELS", "__version__"]


def __getattr__(name: str):
    """The model classes and ``HYBRID_MODELS`` (name -> class), imported on first access."""
    if name == "HYBRID_MODELS":
        return plugin.hybrid_models()
    if name in plugin.MODEL_MODULES:
        return plugin.model_class(name)
    raise AttributeError(f"module 'recbole_hybrid' has no attribute {name!r}")
