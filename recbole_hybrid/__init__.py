"""recbole-hybrid: length-adaptive hybrid fusion models for sequential recommendation on RecBole."""

from recbole_hybrid.compat import patch_numpy

patch_numpy()  # before any RecBole Config, in every process that imports us

from recbole_hybrid.hybrid_continuous import HybridContinuous  # noqa: E402
from recbole_hybrid.hybrid_discrete import HybridDiscrete  # noqa: E402
from recbole_hybrid.hybrid_fixed import HybridFixed  # noqa: E402
from recbole_hybrid.hybrid_learnable import HybridLearnable  # noqa: E402
from recbole_hybrid.hybrid_sasrec import HybridSASRec  # noqa: E402

__version__ = "0.1.0"

HYBRID_MODELS = {cls.__name__: cls for cls in (HybridFixed, HybridDiscrete, HybridLearnable, HybridContinuous)}

__all__ = ["HybridSASRec", "HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HYBRID_MODELS"]
