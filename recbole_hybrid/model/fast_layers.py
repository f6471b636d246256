"""RecBole's Transformer layers computing the same function with fewer, fused kernels.

RecBole's ``MultiHeadAttention`` runs the attention as five separate ops over ``[B, heads, T, T]`` (matmul, divide,
add the mask, softmax, matmul) and ``FeedForward`` its GELU as four elementwise ops (``x * 0.5 * (1 + erf(x /
sqrt 2))``), each with its own backward. At length 200 these elementwise passes, not the matrix products, dominate a
full-ranking validation on a CPU and cost a large share of a training step. The subclasses here compute the same
function:

- ``FusedMultiHeadAttention``: one ``F.scaled_dot_product_attention`` (RecBole's additive mask and scale passed in,
  so it adds exactly the same terms) wherever no attention dropout is drawn (eval mode, or ``attn_dropout_prob``
  0); in training with attention dropout, RecBole's ops with the scale folded into the queries (a pass over
  ``[B, heads, T, d]`` instead of ``[B, heads, T, T]``) and the same ``nn.Dropout`` on the same ``[B, heads, T, T]``
  probabilities, so dropout draws the same masks from the same generator in the same order;
- ``FusedFeedForward``: ``F.gelu`` (the same erf form), when the layer's activation is RecBole's ``gelu``.

Outputs and gradients agree with RecBole's layers up to float summation order (tests/test_fused_layers.py).
``fuse_layers(model)`` swaps the class of every such layer of a model (parameters, buffers and ``state_dict`` keys
stay those of the swapped layer: only ``__class__`` changes); ``fused_kernels(model)`` does it for a ``with`` block.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward, MultiHeadAttention
from torch import nn


class FusedMultiHeadAttention(MultiHeadAttention):
    """RecBole's ``MultiHeadAttention``: one ``scaled_dot_product_attention`` unless attention dropout is drawn."""

    def forward(self, input_tensor: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` -> ``[B, T, H]``; ``attention_mask`` is RecBole's additive ``[B, 1, T, T]`` float mask."""
        batch, length, _ = input_tensor.shape

        def heads(x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, heads, T, H / heads]
            return x.view(batch, length, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

        query, key, value = (heads(layer(input_tensor)) for layer in (self.query, self.key, self.value))
        scale = 1.0 / self.sqrt_attention_head_size
        if self.training and self.attn_dropout.p > 0:
            scores = torch.matmul(query * scale, key.transpose(-1, -2)) + attention_mask  # [B, heads, T, T]
            context = torch.matmul(self.attn_dropout(torch.softmax(scores, dim=-1)), value)
        else:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=scale)
        context = context.transpose(1, 2).reshape(batch, length, self.all_head_size)
        return self.LayerNorm(self.out_dropout(self.dense(context)) + input_tensor)


class FusedFeedForward(FeedForward):
    """RecBole's ``FeedForward`` whose GELU is ``F.gelu`` (the same erf form) instead of four ops."""

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` -> ``[B, T, H]``."""
        if getattr(self.intermediate_act_fn, "__func__", None) is not FeedForward.gelu:
            return super().forward(input_tensor)
        hidden = F.gelu(self.dense_1(input_tensor))
        return self.LayerNorm(self.dropout(self.dense_2(hidden)) + input_tensor)


#: RecBole's layer class -> its fused subclass.
FUSED_CLASSES: dict[type, type] = {MultiHeadAttention: FusedMultiHeadAttention, FeedForward: FusedFeedForward}


def fuse_layers(model: nn.Module) -> list[tuple[nn.Module, type]]:
    """Swap every RecBole ``MultiHeadAttention`` / ``FeedForward`` of ``model`` for its fused subclass, in place.

    Only layers of exactly those classes are swapped (a subclass of them is left alone: its forward may differ).
    Returns the swapped layers with their former classes.
    """
    swapped = [(module, type(module)) for module in model.modules() if type(module) in FUSED_CLASSES]
    for module, cls in swapped:
        module.__class__ = FUSED_CLASSES[cls]
    return swapped


@contextlib.contextmanager
def fused_kernels(model: nn.Module) -> Iterator[nn.Module]:
    """``fuse_layers(model)`` for the block; the swapped layers get their classes back on leaving it (or raising)."""
    swapped = fuse_layers(model)
    try:
        yield model
    finally:
        for module, cls in swapped:
            module.__class__ = cls
