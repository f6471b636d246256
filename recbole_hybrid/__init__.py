"""recbole-hybrid: length-adaptive hybrid fusion models for sequential recommendation on RecBole.

Importing the package registers its models with RecBole (``recbole_hybrid/plugin.py``): afterwards RecBole's own
``get_model("HybridDiscrete")`` and ``run_recbole(model="HybridDiscrete", ...)`` work.
"""

from recbole_hybrid.compat import patch_numpy

patch_numpy()  # before any RecBole Config, in every process that imports us

from recbole_hybrid.hybrid_continuous import HybridContinuous  # noqa: E402
from recbole_hybrid.hybrid_discrete import HybridDiscrete  # noqa: E402
from recbole_hybrid.hybrid_fixed import HybridFixed  # noqa: E402
from recbole_hybrid.hybrid_learnable import HybridLearnable  # noqa: E402
from recbole_hybrid.hybrid_residual import HybridResidual  # noqa: E402
from recbole_hybrid.hybrid_sasrec import HybridSASRec  # noqa: E402

__version__ = "0.1.0"

HYBRID_MODELS = {cls.__name__: cls for cls in (HybridFixed, HybridDiscrete, HybridLearnable, HybridContinuous,
                                               HybridResidual)}

from recbole_hybrid.plugin import register_models  # noqa: E402

register_models(HYBRID_MODELS)  # RecBole's get_model / run_recbole / Config find them from here on

__all__ = ["HybridSASRec", "HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HybridResidual",
           "HYBRID_MODELS"]
