"""The chunked all-item CE equals ``F.cross_entropy`` of the full logits: loss and both gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recbole_hybrid.linear_ce import linear_cross_entropy


@pytest.mark.parametrize("chunk", [1, 7, 256, 10_000])
def test_chunked_ce_equals_plain_ce(chunk):
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(300, 16, generator=g, requires_grad=True)
    table = torch.randn(50, 16, generator=g, requires_grad=True)
    target = torch.randint(1, 50, (300,), generator=g)
    scale = torch.tensor(0.7)  # a downstream factor: the backward must scale the saved gradients

    (scale * F.cross_entropy(hidden @ table.t(), target)).backward()
    plain = hidden.grad.clone(), table.grad.clone()
    hidden.grad = table.grad = None
    loss = linear_cross_entropy(hidden, table, target, chunk)
    (scale * loss).backward()

    assert torch.allclose(loss, F.cross_entropy(hidden @ table.t(), target), atol=1e-6)
    assert torch.allclose(hidden.grad, plain[0], atol=1e-7)
    assert torch.allclose(table.grad, plain[1], atol=1e-7)
