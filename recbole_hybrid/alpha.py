"""The length policies ``a(L)``: the only thing that differs between the hybrid variants.

Each policy maps the history length ``L`` of every sequence in a batch (``[B]`` long) to the weight ``a(L)`` of the
ID embedding in the fusion (``[B]`` float in ``[0, 1]``). Each checks its own hyper-parameters and raises a
``ValueError`` that names the offending key.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recbole_hybrid.lengths import bin_index


def _check_unit_interval(name: str, value: float, open_interval: bool = False) -> float:
    value = float(value)
    lo_ok = value > 0 if open_interval else value >= 0
    hi_ok = value < 1 if open_interval else value <= 1
    if not (lo_ok and hi_ok):
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name}={value} is outside {interval}")
    return value


def check_length_bins(L_short: int, L_long: int, max_seq_length: int) -> None:
    """Refuse bin edges that RecBole's cap on ``item_length`` would make unreachable or wrong.

    ``item_length`` is ``min(L, MAX_ITEM_LIST_LENGTH)``. The long bin ``L > L_long`` is reachable only when
    ``MAX_ITEM_LIST_LENGTH > L_long``; then every capped length still lands in its true bin.
    """
    if int(L_short) != L_short or int(L_long) != L_long:
        raise ValueError(f"L_short and L_long must be integers, got L_short={L_short}, L_long={L_long}")
    if L_short < 1:
        raise ValueError(f"L_short={L_short} must be >= 1: every sequence has L >= 1, so no bin would be short")
    if L_short >= L_long:
        raise ValueError(f"L_short={L_short} must be smaller than L_long={L_long}")
    if max_seq_length <= L_long:
        raise ValueError(
            f"MAX_ITEM_LIST_LENGTH={max_seq_length} <= L_long={L_long}: RecBole caps item_length at "
            f"MAX_ITEM_LIST_LENGTH, so no sequence could reach the long bin (L > L_long). "
            f"Raise MAX_ITEM_LIST_LENGTH or lower L_long."
        )


def length_bin(item_seq_len: torch.Tensor, L_short: int, L_long: int) -> torch.Tensor:
    """Bin index per sequence: 0 for ``L <= L_short``, 1 for ``L_short < L <= L_long``, 2 for ``L > L_long``.

    The rule is ``lengths.bin_index``, shared with the dataset check and the analysis's length groups.

    Args:
        item_seq_len: ``[B]`` long.
    Returns:
        ``[B]`` long in ``{0, 1, 2}``.
    """
    return bin_index(item_seq_len, L_short, L_long).long()


class FixedAlpha(nn.Module):
    """``a(L) = fixed_alpha`` for every sequence."""

    def __init__(self, config) -> None:
        super().__init__()
        self.alpha = _check_unit_interval("fixed_alpha", config["fixed_alpha"])

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        return torch.full(item_seq_len.shape, self.alpha, dtype=torch.float, device=item_seq_len.device)

    def alpha_slot(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B]`` zeros: every length has the same ``a`` (``sequence_forward.alpha_slots``)."""
        return torch.zeros_like(item_seq_len)


class BinnedAlpha(nn.Module):
    """``a(L) = alpha_bin`` for the length bin of ``L``; constants, or learned as ``sigmoid(p_bin)``.

    Learned weights start at ``p_bin = logit(alpha_bin)``, so training starts at the configured values.
    """

    def __init__(self, config, learnable: bool) -> None:
        super().__init__()
        self.L_short, self.L_long = config["L_short"], config["L_long"]
        check_length_bins(self.L_short, self.L_long, config["MAX_ITEM_LIST_LENGTH"])
        alphas = [
            _check_unit_interval(key, config[key], open_interval=learnable)
            for key in ("alpha_short", "alpha_mid", "alpha_long")
        ]
        self.learnable = learnable
        if learnable:
            self.logits = nn.Parameter(torch.tensor([math.log(a / (1 - a)) for a in alphas]))
        else:
            self.register_buffer("alphas", torch.tensor(alphas))

    def bin_alphas(self) -> torch.Tensor:
        """``[3]`` current ``a`` of the short, mid and long bins."""
        return torch.sigmoid(self.logits) if self.learnable else self.alphas

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        return self.bin_alphas()[length_bin(item_seq_len, self.L_short, self.L_long)]

    def alpha_slot(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B]`` the bin of each length: lengths of one bin share its ``a`` (``sequence_forward.alpha_slots``)."""
        return length_bin(item_seq_len, self.L_short, self.L_long)


#: Values of ``alpha_mlp_init``: how ``ContinuousAlpha`` starts its hidden layer (its output layer always starts at 0).
ALPHA_MLP_INITS = ("basis", "recbole")


class ContinuousAlpha(nn.Module):
    """``a(L) = sigmoid(MLP(log(1 + L)))``, a learned smooth function of the history length.

    The output layer starts at zero weight and bias ``logit(alpha_init)``, so ``a(L) = alpha_init`` for every ``L``
    when training starts. ``L`` is RecBole's capped ``item_length``: ``a`` is flat beyond ``MAX_ITEM_LIST_LENGTH``.

    ``alpha_mlp_init: basis`` starts the ``alpha_mlp_hidden`` tanh units as a basis over the lengths: unit ``j``
    is ``tanh((x - c_j) / s)`` with centres ``c_j`` evenly spaced over ``x = log(1 + L)``, ``L = 1..MAX_ITEM_LIST_LENGTH``,
    and ``s`` their spacing. Every output weight then moves ``a`` on its own stretch of lengths, so the policy can
    take a length shape as fast as one weight per bin takes its value. ``recbole``: the model's generic init
    (weights ``N(0, initializer_range)``, biases 0), under which the units are nearly linear with slope about 0
    on ``x <= 5.3`` and every unit starts with almost the same shape (the init before 2026-12-03).
    """

    def __init__(self, config) -> None:
        super().__init__()
        hidden = config["alpha_mlp_hidden"]
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"alpha_mlp_hidden={hidden} must be a positive integer")
        alpha_init = _check_unit_interval("alpha_init", config["alpha_init"], open_interval=True)
        self.init = config["alpha_mlp_init"] or "recbole"  # a config older than the key: its init
        if self.init not in ALPHA_MLP_INITS:
            raise ValueError(f"alpha_mlp_init={self.init!r} must be one of {', '.join(ALPHA_MLP_INITS)}")
        self.max_length = config["MAX_ITEM_LIST_LENGTH"]
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self._alpha_init = alpha_init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Restore the documented start: ``a(L) = alpha_init``, and under ``basis`` the hidden layer's basis
        (the model's weight init, applied to every Linear, would overwrite both)."""
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.constant_(self.mlp[2].bias, math.log(self._alpha_init / (1 - self._alpha_init)))
        if self.init == "basis":
            first = self.mlp[0]
            low, high = math.log1p(1), math.log1p(max(self.max_length, 2))
            units = first.out_features
            centres = torch.linspace(low, high, units) if units > 1 else torch.tensor([(low + high) / 2])
            spacing = (high - low) / max(units - 1, 1)
            with torch.no_grad():
                first.weight.fill_(1 / spacing)
                first.bias.copy_(-centres / spacing)

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        x = torch.log1p(item_seq_len.float()).unsqueeze(-1)
        return torch.sigmoid(self.mlp(x)).squeeze(-1)
