"""HybridContinuous: HybridSASRec with a = sigmoid(MLP(log(1 + L))), a learned smooth function of the history length."""

from torch import nn

from recbole_hybrid.model.layers import ContinuousAlpha
from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec


class HybridContinuous(HybridSASRec):
    r"""a = sigmoid(MLP(log(1 + L))), a learned smooth function of the history length."""

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        return ContinuousAlpha(config)
