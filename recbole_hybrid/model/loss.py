"""Cross-entropy over all items of ``hidden @ table.T``, in chunks, without keeping the ``[N, n_items]`` logits.

The all-item CE at every position is most of a sequence epoch's arithmetic, and on a CPU most of its time goes to
memory traffic: ``F.cross_entropy(hidden @ table.T, target)`` writes the logits, reads them for the softmax, keeps
them for the backward and writes the same size again for their gradient. Here each chunk of positions computes its
logits, log-sum-exp, loss and both gradients (``softmax - onehot`` times the table, and its transpose times the
chunk) while the chunk's logits are still in cache, and the backward only scales the saved gradients. Same
arithmetic, other summation order: losses and gradients agree with the plain form to float32 rounding
(``tests/test_linear_ce.py``); results/benchmarks/README.md times a sequence epoch with and without it.

``bf16=True`` (the ``ce_bf16`` key) runs the chunk's three products on bf16 copies of ``hidden`` and ``table``: each
accumulates in float32 and rounds its result to bf16, as a bf16 autocast's matmul does. The logits are then taken
back to float32 for one fused ``softmax``, the loss is ``-log softmax[target]`` (from the log-sum-exp where the
target's probability underflows), and the gradients accumulate in float32. On a CPU with AMX the bf16 products are
what makes it faster; ``benchmarks/ce_bf16.py`` measures the epoch time and the validation quality against float32.
Loss and gradients agree with float32 to bf16 rounding (relative 1e-2 at most, ``tests/test_linear_ce.py``).
"""

from __future__ import annotations

import torch


class LinearCrossEntropy(torch.autograd.Function):
    """``mean_n CE(hidden[n] @ table.T, target[n])``; gradients computed in the forward pass."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, table: torch.Tensor, target: torch.Tensor, chunk: int,
                bf16: bool = False) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):  # float32 under an outer bf16 autocast too
            if bf16:
                return LinearCrossEntropy._forward_bf16(ctx, hidden, table, target, chunk)
            return LinearCrossEntropy._forward(ctx, hidden, table, target, chunk)

    @staticmethod
    def _forward(ctx, hidden: torch.Tensor, table: torch.Tensor, target: torch.Tensor, chunk: int) -> torch.Tensor:
        h, w = hidden.float(), table.float()
        n = h.size(0)
        loss = h.new_zeros((), dtype=torch.float64)
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(w)
        for start in range(0, n, chunk):
            hc, tc = h[start:start + chunk], target[start:start + chunk]
            logits = hc @ w.t()  # [c, n_items]
            picked = logits.gather(1, tc.unsqueeze(1)).squeeze(1)  # [c] the targets' logits
            # one exp per logit (logsumexp and then the softmax would take two): shift by the row max in place,
            # exponentiate in place, and the row sum gives both the log-sum-exp and the softmax's denominator
            top = logits.amax(1, keepdim=True)  # [c, 1]
            prob = logits.sub_(top).exp_()
            total = prob.sum(1, keepdim=True)  # [c, 1]
            loss += (top.squeeze(1) + total.log().squeeze(1) - picked).sum()
            prob.div_(total)  # softmax, in place of the logits
            prob[torch.arange(len(tc), device=tc.device), tc] -= 1
            grad_h[start:start + chunk] = prob @ w
            grad_w.addmm_(prob.t(), hc)
        ctx.save_for_backward(grad_h.div_(n).to(hidden.dtype), grad_w.div_(n).to(table.dtype))
        return (loss / n).to(h.dtype)

    @staticmethod
    def _forward_bf16(ctx, hidden: torch.Tensor, table: torch.Tensor, target: torch.Tensor,
                      chunk: int) -> torch.Tensor:
        h, w = hidden.detach().bfloat16(), table.detach().bfloat16()
        w_t = w.t().contiguous()  # [H, n_items]: the logits' product reads it row by row
        n = h.size(0)
        loss = hidden.new_zeros((), dtype=torch.float64)
        grad_h = torch.empty(hidden.shape, dtype=torch.float32, device=hidden.device)
        grad_w = torch.zeros(table.shape, dtype=torch.float32, device=table.device)
        for start in range(0, n, chunk):
            hc, tc = h[start:start + chunk], target[start:start + chunk]
            logits = (hc @ w_t).float()  # [c, n_items]
            prob = torch.softmax(logits, 1)
            rows = torch.arange(len(tc), device=tc.device)
            picked = prob[rows, tc]  # [c]
            row_loss = -picked.log()
            low = picked == 0  # the target's probability underflowed: the log-sum-exp form is still finite
            if bool(low.any()):
                row_loss[low] = torch.logsumexp(logits[low], 1) - logits[low, tc[low]]
            loss += row_loss.sum()
            prob[rows, tc] -= 1
            grad = prob.bfloat16()
            grad_h[start:start + chunk] = grad @ w
            grad_w += grad.t() @ hc
        ctx.save_for_backward(grad_h.div_(n).to(hidden.dtype), grad_w.div_(n).to(table.dtype))
        return (loss / n).to(hidden.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_output, grad_w * grad_output, None, None, None


def bf16_is_native(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 in hardware: a GPU, or a CPU with AMX or AVX512-BF16. On any other CPU
    (AVX2 only, say) torch emulates the bf16 products, several times slower than float32, so ``ce_bf16`` slows a
    run down instead of speeding it up."""
    if device.type != "cpu":
        return True
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if None in probes:  # a torch without these (private) probes: nothing to say
        return True
    return any(probe() for probe in probes)


def linear_cross_entropy(hidden: torch.Tensor, table: torch.Tensor, target: torch.Tensor,
                         chunk: int | None = None, bf16: bool = False) -> torch.Tensor:
    """Mean CE of ``hidden [N, H] @ table[n_items, H].T`` against ``target [N]`` (module docstring).

    ``chunk`` positions at a time: 256 on a CPU (cache-sized logits), 8192 on a GPU, unless given. ``bf16``: the
    products in bf16 (module docstring); the loss and the gradients keep the dtypes of ``hidden`` and ``table``.
    """
    if chunk is None:
        chunk = 256 if hidden.device.type == "cpu" else 8192
    return LinearCrossEntropy.apply(hidden, table, target, chunk, bf16)
