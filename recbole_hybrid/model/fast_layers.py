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

``FastDropout`` (``fast_dropout: True``, ``fast_dropout_layers``) is not the same function: it is dropout with other
masks. On a CPU, ``torch.bernoulli_`` draws one random number per element and was the largest single op of a
sequence-mode epoch (about a fifth of it, most of it on the ``[B, heads, T, T]`` attention probabilities). Here one
64-bit random word gives four 16-bit uniforms, an element is kept where its uniform lies above ``p`` rounded to a
multiple of ``2**-16``, and kept elements are scaled by ``1 / q``, ``q`` the exact keep rate, so the layer's expected
output is its input as with ``nn.Dropout``. The masks come from the same global generator (seeded runs repeat them),
but they are other masks than ``nn.Dropout`` would draw.
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


#: Bits of one uniform draw of ``FastDropout``: its ``p`` is rounded to a multiple of ``2**-DROPOUT_BITS``.
DROPOUT_BITS = 16


def keep_scale(p: float) -> tuple[int, float]:
    """``(threshold, scale)`` of ``FastDropout(p)``: an element is kept where its signed 16-bit uniform is
    ``>= threshold``, with probability ``q = 1 - round(p * 2**16) / 2**16``, and then scaled by ``1 / q``."""
    levels = 1 << DROPOUT_BITS
    dropped = round(p * levels)
    return dropped - levels // 2, levels / (levels - dropped)


def dropout_mask(shape: torch.Size, p: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[*shape]`` of ``dtype``: ``0`` where dropped, ``1 / q`` where kept (``keep_scale``), four elements per 64-bit
    draw of the global generator."""
    threshold, scale = keep_scale(p)
    count = shape.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    uniforms = words.view(torch.int16)[:count].view(shape)
    return (uniforms >= threshold).to(dtype).mul_(scale)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with masks of 16-bit uniforms (module docstring): an unbiased dropout at ``p`` rounded to
    ``2**-16``, whose backward is one product with the saved mask."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``[*]`` -> ``[*]``; the identity in eval mode or at ``p = 0``."""
        if not self.training or self.p == 0:
            return input
        if round(self.p * (1 << DROPOUT_BITS)) >= 1 << DROPOUT_BITS:  # p rounds to 1: nothing is kept
            return super().forward(input)
        return input * dropout_mask(input.shape, self.p, input.device, input.dtype)


def fast_dropout_layers(model: nn.Module) -> int:
    """Swap every ``nn.Dropout`` of ``model`` (that class exactly) for ``FastDropout``, in place; return how many."""
    swapped = [module for module in model.modules() if type(module) is nn.Dropout]
    for module in swapped:
        module.__class__ = FastDropout
    return len(swapped)


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
