"""Every position's output of SASRec or a hybrid in one batch of windows, each with the ``a(L)`` of its own target.

In the prefix scheme the target with (capped) history length ``L`` is predicted from inputs that all use ``a(L)``.
In a window, position ``t`` sees inputs ``0..t``; to predict its target exactly as the prefix row would, those inputs
must all use that target's ``a(L_t)``. One pass with one ``a`` per window would train another model than the one
evaluated. So the positions are grouped by ``a``: lengths ``1..T`` are cut into runs of consecutive lengths whose ``a``
differ by at most ``tolerance``, and each group gets one Transformer pass over the windows that reach it, cut after
the group's last position, with the group's ``a`` on every input; each position's output is taken from its own
group's pass. Lengths grow along a window, so a group's positions are contiguous in each window.

- SASRec and HybridFixed: one group, one pass.
- HybridDiscrete, HybridLearnable and HybridResidual with ``tolerance`` 0: one group per length bin (a bin's own pass
  even where two bins hold equal values), exact; the extra cost is the short and mid passes over positions up to
  ``L_long``.
- HybridContinuous: ``a`` differs at every length, so ``tolerance`` 0 means a pass per distinct length (exact, and as
  slow as prefix rows). With ``tolerance > 0`` each group uses the ``a`` of one of its lengths, the one nearest the
  middle of the group's range, so every position's ``a`` is within ``tolerance`` of its own ``a(L_t)``.

Gradients reach each position's own ``a(L_t)``, not the group's: where a group's lengths do not all share one
``a``, its output at ``t`` is ``h_t(a_g) + (a(L_t) - sg[a(L_t)]) * dh_t/da`` (``sg``: no gradient), whose value is
the pass's ``h_t(a_g)`` and whose gradient in ``a(L_t)`` is the loss's own derivative in the ``a`` of target ``t``.
``dh_t/da`` is a forward difference over ``ALPHA_STEP``, from one more pass without gradients that draws the same
dropout masks (the random state is forked, so training draws exactly what it drew before). Without it the loss
reached the policy only at the groups' representative lengths: a policy that starts flat forms one group, and
then nothing tells it how ``a`` should vary with ``L``. Groups whose lengths take ``a`` from the same parameters
(SASRec, HybridFixed, the binned policies at tolerance 0) need no extra pass: their gradient already reaches each
position's ``a`` (``alpha_slots``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from recbole_hybrid.model.sequential_recommender.hybridsasrec import HybridSASRec

#: The step in ``a`` of the forward difference ``dh/da`` (module docstring); ``a`` lies in [0, 1].
ALPHA_STEP = 1e-2

#: The layers of RecBole's SASRec layout that ``sasrec_hidden_states`` reads.
SASREC_LAYERS = ("item_embedding", "position_embedding", "trm_encoder", "LayerNorm", "dropout")


def supports_sequence_mode(model_cls: type) -> bool:
    """True for the hybrids and for RecBole's ``SASRec`` (or a subclass): the models with a causal body to reuse."""
    from recbole.model.sequential_recommender import SASRec

    return issubclass(model_cls, (HybridSASRec, SASRec))


def sasrec_hidden_states(model: nn.Module, item_seq: torch.Tensor) -> torch.Tensor:
    """RecBole's ``SASRec.forward`` without the final gather: ``[B, T, H]`` outputs at every position."""
    position_ids = torch.arange(item_seq.size(1), dtype=torch.long, device=item_seq.device)
    position_embedding = model.position_embedding(position_ids.unsqueeze(0).expand_as(item_seq))
    input_emb = model.LayerNorm(model.item_embedding(item_seq) + position_embedding)
    input_emb = model.dropout(input_emb)
    mask = model.get_attention_mask(item_seq)
    return model.trm_encoder(input_emb, mask, output_all_encoded_layers=True)[-1]


def alpha_slots(policy: nn.Module, lengths: torch.Tensor) -> torch.Tensor:
    """``[N]`` long: lengths with equal slots take ``a(L)`` from the same parameters (the policy's ``alpha_slot``:
    a binned policy's bin, one slot for a constant); without that method every length is its own slot."""
    slot = getattr(policy, "alpha_slot", None)
    return lengths if slot is None else slot(lengths)


def alpha_groups(alpha: torch.Tensor, tolerance: float,
                 slots: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut lengths ``1..T`` into runs whose ``a`` span at most ``tolerance`` (and, given ``slots``, of one slot).

    Args:
        alpha: ``[T]`` ``a(L)`` for ``L = 1..T`` (no gradient needed).
        tolerance: largest allowed ``max a - min a`` within a group; 0 groups equal values only.
        slots: ``[T]`` ``alpha_slots`` of the lengths, or None: a group never spans two slots (two bins that
            happen to hold equal values still get a pass each, so each bin's gradient stays its own).

    Returns:
        ``group [T + 1]`` long, the group of each length (index 0, the padding length, gets -1), and
        ``representative [G]`` long, the length whose ``a`` a group uses: the one nearest the middle of its range.
    """
    values = alpha.detach().double().cpu().tolist()
    slot = [None] * len(values) if slots is None else slots.cpu().tolist()
    group = [-1]
    representative = []
    lo = hi = values[0]
    members = [1]
    for length, value in enumerate(values[1:], start=2):
        if max(hi, value) - min(lo, value) <= tolerance and slot[length - 1] == slot[length - 2]:
            lo, hi = min(lo, value), max(hi, value)
            members.append(length)
            continue
        representative.append(_middle(members, values, lo, hi))
        group += [len(representative) - 1] * len(members)
        lo = hi = value
        members = [length]
    representative.append(_middle(members, values, lo, hi))
    group += [len(representative) - 1] * len(members)
    return torch.tensor(group), torch.tensor(representative)


def _middle(members: list[int], values: list[float], lo: float, hi: float) -> int:
    centre = (lo + hi) / 2
    return min(members, key=lambda length: abs(values[length - 1] - centre))


@dataclass
class GroupPlan:
    """How one batch's positions are cut into ``a`` groups (``SequencePositions.plan``).

    ``group [B, T]`` each position's group (-1 at padding); ``representative [G]`` the length whose ``a`` each group
    uses; ``spread [G]`` True where a group's lengths take ``a`` from different parameters (its gradient is routed
    to each position's own ``a(L)``); ``present`` the groups with a real position in the batch, in pass order.
    """

    group: torch.Tensor
    representative: torch.Tensor
    spread: list[bool]
    present: list[int]


@dataclass
class PositionOutputs:
    """The outputs of a batch's real positions, in an order of the passes (not the windows' order).

    ``hidden [N, H]``; ``index [N]`` each output's flat position ``b * T + t`` in the batch; ``alpha [N]`` the ``a``
    its inputs used (None for SASRec); ``graph [n_items, H]`` the hybrid's graph table (None for SASRec);
    ``passes`` the number of Transformer passes it took (the gradient-free difference passes not counted).
    """

    hidden: torch.Tensor
    index: torch.Tensor
    alpha: torch.Tensor | None
    graph: torch.Tensor | None
    passes: int


class SequencePositions:
    """Per-position outputs of ``model`` for windows, exact in ``a(L)`` up to ``tolerance`` (module docstring).

    Args:
        model: RecBole's ``SASRec`` or a ``HybridSASRec``.
        tolerance: see ``alpha_groups``; unused for SASRec.
    """

    def __init__(self, model: nn.Module, tolerance: float = 0.0) -> None:
        if not supports_sequence_mode(type(model)):
            raise TypeError(f"{type(model).__name__} has no sequence mode: SASRec and the hybrids have")
        self.model = model
        self.hybrid = isinstance(model, HybridSASRec)
        self.tolerance = float(tolerance)

    def __call__(self, items: torch.Tensor, lengths: torch.Tensor) -> PositionOutputs:
        """Outputs at the positions with ``lengths > 0``.

        Args:
            items: ``[B, T]`` window inputs, right-padded with 0.
            lengths: ``[B, T]`` capped history length ``L`` of each position's target, 0 at padding.
        """
        real = lengths > 0
        if not self.hybrid:
            hidden = sasrec_hidden_states(self.model, items)
            index = real.view(-1).nonzero().squeeze(1)
            return PositionOutputs(hidden.reshape(-1, hidden.size(-1))[index], index, None, None, 1)

        plan = self.plan(items, lengths)
        rep_alpha = self.model.fusion.alpha_policy(plan.representative)  # [G], differentiable
        graph = self.model.graph_table()
        parts = list(self.group_outputs(items, lengths, plan, rep_alpha, graph))
        return PositionOutputs(torch.cat([part.hidden for part in parts]), torch.cat([part.index for part in parts]),
                               torch.cat([part.alpha for part in parts]), graph, len(parts))

    def plan(self, items: torch.Tensor, lengths: torch.Tensor) -> GroupPlan:
        """The ``a`` groups of a hybrid's positions ``lengths [B, T]`` (``alpha_groups``), read without gradients."""
        policy = self.model.fusion.alpha_policy
        all_lengths = torch.arange(1, self.model.max_seq_length + 1, device=items.device)
        slots = alpha_slots(policy, all_lengths)
        with torch.no_grad():  # grouping only reads the values
            exact_slots = slots if self.tolerance == 0 and hasattr(policy, "alpha_slot") else None
            group_of_length, representative = alpha_groups(policy(all_lengths), self.tolerance, exact_slots)
        group_of_length = group_of_length.to(items.device)
        # True: the group's lengths take a(L) from different parameters, so its gradient must be routed
        spread = [bool(slots[group_of_length[1:] == g].unique().numel() > 1) for g in range(len(representative))]
        group = group_of_length[lengths]  # [B, T], -1 at padding
        return GroupPlan(group, representative.to(items.device), spread, torch.unique(group[lengths > 0]).tolist())

    def group_outputs(self, items: torch.Tensor, lengths: torch.Tensor, plan: GroupPlan, rep_alpha: torch.Tensor,
                      graph: torch.Tensor | None) -> Iterator[PositionOutputs]:
        """One ``PositionOutputs`` per group of ``plan`` present in the batch, in pass order, each from its own
        Transformer pass: a caller may backpropagate one before the next pass runs, so that only one pass's
        activations are held at a time.

        Args:
            items, lengths: as ``__call__``.
            plan: ``self.plan(items, lengths)``.
            rep_alpha: ``[G]`` the ``a`` of each group's representative length (differentiable or a leaf).
            graph: the model's ``graph_table()`` (or a leaf standing for it).
        """
        model = self.model
        group = plan.group
        width = items.size(1)
        positions = torch.arange(width, device=items.device)
        for g in plan.present:
            in_group = group == g  # [B, T]
            rows = in_group.any(1).nonzero().squeeze(1)
            cut = int(positions[in_group.any(0)].max()) + 1
            take = in_group[rows, :cut]  # [R, cut]
            if plan.spread[g]:
                out = self._own_alpha_gradient(items[rows, :cut], lengths[rows, :cut], take, rep_alpha[g], graph)
            else:
                out = model.hidden_states(items[rows, :cut], rep_alpha[g].expand(rows.numel()), graph)[take]
            flat = rows.unsqueeze(1) * width + positions[:cut].unsqueeze(0)  # [R, cut]
            yield PositionOutputs(out, flat[take], rep_alpha[g].expand(int(take.sum())), graph, 1)

    def _own_alpha_gradient(self, items: torch.Tensor, lengths: torch.Tensor, take: torch.Tensor,
                            alpha: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """``[N, H]`` outputs at the ``take [R, W]`` positions of one group's pass over ``items [R, W]``, with the
        group's ``alpha`` (a 0-d tensor) on every input, whose gradient goes to each position's own
        ``a(lengths[take])`` (module docstring)."""
        model = self.model
        row_alpha = alpha.detach().expand(items.size(0))
        devices = [items.device] if items.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():  # the same dropout masks as the pass below
            stepped = model.hidden_states(items, row_alpha + ALPHA_STEP, graph)[take]
        out = model.hidden_states(items, row_alpha, graph)[take]
        slope = (stepped - out.detach()) / ALPHA_STEP  # [N, H] dh/da of each position
        own = model.fusion.alpha_policy(lengths[take])  # [N], differentiable
        return out + (own - own.detach()).unsqueeze(-1) * slope
