"""HybridFixed: HybridSASRec with a = fixed_alpha, one constant for every sequence."""

from torch import nn

from recbole_hybrid.alpha import FixedAlpha
from recbole_hybrid.hybrid_sasrec import HybridSASRec


class HybridFixed(HybridSASRec):
    r"""a = fixed_alpha, one constant for every sequence."""

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return FixedAlpha(config)
