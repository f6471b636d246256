"""HybridFixed: HybridSASRec with a = fixed_alpha, one constant for every sequence."""

from torch import nn

from recbole_hybrid.model.layers import FixedAlpha
from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec


class HybridFixed(HybridSASRec):
    r"""a = fixed_alpha, one constant for every sequence."""

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return FixedAlpha(config)
