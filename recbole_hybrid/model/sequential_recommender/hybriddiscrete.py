"""HybridDiscrete: HybridSASRec with a = alpha_short / alpha_mid / alpha_long by length bin
(L <= L_short, mid, L > L_long)."""

from torch import nn

from recbole_hybrid.model.layers import BinnedAlpha
from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec


class HybridDiscrete(HybridSASRec):
    r"""a = alpha_short / alpha_mid / alpha_long by length bin (L <= L_short, mid, L > L_long)."""

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return BinnedAlpha(config, learnable=False)
