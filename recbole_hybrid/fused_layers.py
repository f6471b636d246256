"""Evaluation-time forms of RecBole's Transformer layers: the same function, fewer and fused kernels.

RecBole's ``MultiHeadAttention`` runs the attention as five separate ops over ``[B, heads, T, T]`` (matmul, divide,
add the mask, softmax, matmul) and ``FeedForward`` its GELU as four elementwise ops (``x * 0.5 * (1 + erf(x /
sqrt 2))``). At length 200 these elementwise passes, not the matrix products, dominate a full-ranking validation on
a CPU. ``fused_inference(model)`` swaps, for the duration of a ``with`` block, the class of every such layer in the
model for a subclass whose eval-mode forward computes the same function with ``F.scaled_dot_product_attention``
(the additive mask and RecBole's scale passed in, so it adds exactly the same terms) and ``F.gelu`` (exact erf form).
Outputs agree up to float summation order (tests/test_fused_layers.py).

Training is not touched: in train mode both subclasses run RecBole's own forward, so dropout draws the same masks
from the same generator and a run's training numbers do not depend on whether a validation used the fused layers.
The parameters, buffers and ``state_dict`` keys are those of the swapped layer (only ``__class__`` changes).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward, MultiHeadAttention
from torch import nn


class FusedMultiHeadAttention(MultiHeadAttention):
    """RecBole's ``MultiHeadAttention`` whose eval-mode forward is one ``scaled_dot_product_attention``."""

    def forward(self, input_tensor: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` -> ``[B, T, H]``; ``attention_mask`` is RecBole's additive ``[B, 1, T, T]`` float mask."""
        if self.training:
            return super().forward(input_tensor, attention_mask)
        batch, length, _ = input_tensor.shape

        def heads(x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, heads, T, H / heads]
            return x.view(batch, length, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            heads(self.query(input_tensor)), heads(self.key(input_tensor)), heads(self.value(input_tensor)),
            attn_mask=attention_mask, scale=1.0 / self.sqrt_attention_head_size)
        context = context.transpose(1, 2).reshape(batch, length, self.all_head_size)
        return self.LayerNorm(self.out_dropout(self.dense(context)) + input_tensor)


class FusedFeedForward(FeedForward):
    """RecBole's ``FeedForward`` whose eval-mode GELU is ``F.gelu`` (the same erf form) instead of four ops."""

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` -> ``[B, T, H]``."""
        if self.training or getattr(self.intermediate_act_fn, "__func__", None) is not FeedForward.gelu:
            return super().forward(input_tensor)
        hidden = F.gelu(self.dense_1(input_tensor))
        return self.LayerNorm(self.dropout(self.dense_2(hidden)) + input_tensor)


#: RecBole's layer class -> its fused subclass.
FUSED_CLASSES: dict[type, type] = {MultiHeadAttention: FusedMultiHeadAttention, FeedForward: FusedFeedForward}


@contextlib.contextmanager
def fused_inference(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every RecBole ``MultiHeadAttention`` / ``FeedForward`` of ``model`` runs fused in eval mode.

    Layers of exactly those classes are swapped (a subclass of them is left alone: its forward may differ), and
    restored on leaving the block, also when the block raises.
    """
    swapped = [(module, type(module)) for module in model.modules() if type(module) in FUSED_CLASSES]
    for module, cls in swapped:
        module.__class__ = FUSED_CLASSES[cls]
    try:
        yield model
    finally:
        for module, cls in swapped:
            module.__class__ = cls
