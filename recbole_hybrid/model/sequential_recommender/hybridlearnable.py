"""HybridLearnable: HybridSASRec with a = sigmoid(p_bin), one learned weight per length bin, initialised to
logit(alpha_bin)."""

from torch import nn

from recbole_hybrid.model.layers import BinnedAlpha
from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec


class HybridLearnable(HybridSASRec):
    r"""a = sigmoid(p_bin), one learned weight per length bin, initialised to logit(alpha_bin)."""

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return BinnedAlpha(config, learnable=True)
