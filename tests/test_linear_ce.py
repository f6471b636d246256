"""The chunked all-item CE equals ``F.cross_entropy`` of the full logits: loss and both gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recbole_hybrid.model.loss import linear_cross_entropy


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


def test_under_bf16_autocast_the_chunked_ce_stays_float32():
    """A bf16 autocast around the step (``fast_bf16`` on CUDA; CPU here) must not reach the CE's own products:
    it runs in float32 on the float32 hidden states it is given, as without autocast."""
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(200, 16, generator=g, requires_grad=True)
    table = torch.randn(40, 16, generator=g, requires_grad=True)
    target = torch.randint(1, 40, (200,), generator=g)
    reference = linear_cross_entropy(hidden, table, target, 64)
    reference.backward()
    grads = hidden.grad.clone(), table.grad.clone()
    hidden.grad = table.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(hidden, table, target, 64)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.equal(loss, reference)
    assert torch.equal(hidden.grad, grads[0]) and torch.equal(table.grad, grads[1])


def test_large_logits_do_not_overflow():
    """Logits far beyond float32's exp range (about 88): the row max is taken out before the exponent."""
    g = torch.Generator().manual_seed(2)
    hidden = (40 * torch.randn(64, 16, generator=g)).requires_grad_()
    table = torch.randn(30, 16, generator=g, requires_grad=True)
    target = torch.randint(1, 30, (64,), generator=g)
    assert (hidden @ table.t()).abs().max() > 200
    F.cross_entropy(hidden @ table.t(), target).backward()
    plain = hidden.grad.clone(), table.grad.clone()
    hidden.grad = table.grad = None
    loss = linear_cross_entropy(hidden, table, target, 16)
    loss.backward()
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(hidden @ table.t(), target))
    torch.testing.assert_close(hidden.grad, plain[0])
    torch.testing.assert_close(table.grad, plain[1])


@pytest.mark.parametrize("chunk", [7, 256])
def test_bf16_ce_agrees_with_float32_to_bf16_rounding(chunk):
    """``ce_bf16``: the products in bf16 give the float32 loss and gradients to bf16 rounding, in float32 dtypes,
    and the backward still scales the saved gradients."""
    g = torch.Generator().manual_seed(3)
    hidden = (0.5 * torch.randn(500, 64, generator=g)).requires_grad_()
    table = (0.5 * torch.randn(300, 64, generator=g)).requires_grad_()
    target = torch.randint(1, 300, (500,), generator=g)
    scale = torch.tensor(0.7)
    (scale * F.cross_entropy(hidden @ table.t(), target)).backward()
    plain = hidden.grad.clone(), table.grad.clone()
    hidden.grad = table.grad = None
    loss = linear_cross_entropy(hidden, table, target, chunk, bf16=True)
    (scale * loss).backward()
    assert loss.dtype == hidden.grad.dtype == table.grad.dtype == torch.float32
    reference = F.cross_entropy(hidden @ table.t(), target)
    assert abs(loss.item() - reference.item()) < 1e-2 * reference.item()
    for got, want in zip((hidden.grad, table.grad), plain):
        assert float((got - want).norm() / want.norm()) < 1e-2
    assert not torch.equal(hidden.grad, plain[0])  # really the bf16 products, not the float32 path


def test_bf16_ce_loss_stays_finite_where_the_targets_probability_underflows():
    """A target logit far below the row's maximum: its softmax probability is 0 in float32, and the loss comes
    from the log-sum-exp instead of ``-log 0``."""
    hidden = torch.tensor([[30.0, 0.0], [1.0, 0.0]], requires_grad=True)
    table = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 1.0]], requires_grad=True)
    target = torch.tensor([1, 2])  # row 0: logits 120, -120, 0, the target at -120
    loss = linear_cross_entropy(hidden, table, target, bf16=True)
    torch.testing.assert_close(loss, F.cross_entropy(hidden @ table.t(), target), rtol=1e-2, atol=0)
    loss.backward()
    assert torch.isfinite(hidden.grad).all() and torch.isfinite(table.grad).all()
