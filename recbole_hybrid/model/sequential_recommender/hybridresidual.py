"""HybridResidual: HybridSASRec with x = E[i] + (1 - a) G[i] and a = sigmoid(p_bin), learned per length bin."""

from torch import nn

from recbole_hybrid.model.layers import BinnedAlpha
from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec


class HybridResidual(HybridSASRec):
    r"""x = E[i] + (1 - a) G[i] with a = sigmoid(p_bin), one learned weight per length bin, from logit(alpha_bin).

    The policy is HybridLearnable's; the form comes from the property file (``fusion_form: residual``). The graph is
    a gated residual on SASRec's input: ``a -> 1`` gives SASRec's inputs exactly, and ``G`` starts small.
    """

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return BinnedAlpha(config, learnable=True)
