"""Sequence-level training (``train_mode: sequence``): one row per user window, a loss at every position.

The default ``train_mode: auto`` resolves to it for SASRec and the hybrids wherever ``sequence_mode_problem`` finds
nothing in the config, and to RecBole's prefix rows otherwise (``trainer/modes.py``, the one owner of that rule).

RecBole's prefix rows run the whole Transformer once per (user, target) to use one output; SASRec's own scheme feeds
each window once and uses every position (the causal mask gives position ``t`` exactly its prefix). The windows come
from RecBole's training split (``data/windows.py``), each position's output from ``trainer/positions.py`` (exact in
``a(L)`` for the hybrids). Per step: a batch of ``train_batch_size`` windows of similar length (``sequence_batching:
length``) or of a random slice (``random``), drawn from a seeded generator and cut to its longest window. The loss is
CE over all items at every real position (``model/loss.py``: chunked, without materialising the logits, when the scores
are one product with the ID table), or BPR with one uniform negative per position (drawn on the device as
``FastTrainer`` draws them).

How a step weighs its positions (``sequence_loss_weight``): ``target`` divides the step's summed loss by the epoch's
mean positions per step, so every training target weighs the same in every step, the epoch objective of RecBole's
prefix rows; ``batch`` takes the mean over the step's positions, so every step weighs the same. The two agree in
expectation for random batches. Under length batching they do not: a step of short windows holds few targets, and
``batch`` gives each of them many times the weight of a target in a full window (ML-1M, length 200: windows of at most
30 targets carry 29.7% of an epoch's gradient weight against their 6.6% share of the targets;
``benchmarks/sequence_loss_weights.py``).
"""

from __future__ import annotations

from functools import partial
from logging import getLogger
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from recbole.model.loss import BPRLoss

from recbole_hybrid.utils.errors import ConfigError
from recbole_hybrid.trainer.fast import DeviceTrainer
from recbole_hybrid.model.loss import bf16_is_native, linear_cross_entropy
from recbole_hybrid.data.windows import SEQUENCE_WINDOWS, build_windows
from recbole_hybrid.trainer.modes import resolve_train_mode, sequence_mode_problem
from recbole_hybrid.trainer.positions import PositionOutputs, SequencePositions

SEQUENCE_BATCHING = ("length", "random")
SEQUENCE_LOSS_WEIGHTS = ("target", "batch")
BUCKET_BATCHES = 32  # batches per length-sorted chunk


def check_sequence_config(config, model_cls: type) -> None:
    """Refuse an unknown ``train_mode`` / ``sequence_windows`` or a sequence mode this config cannot have."""
    mode = resolve_train_mode(config, model_cls)
    if config["sequence_windows"] not in SEQUENCE_WINDOWS:
        raise ConfigError(
            f"sequence_windows={config['sequence_windows']!r} must be one of {', '.join(SEQUENCE_WINDOWS)}")
    if config["sequence_batching"] not in SEQUENCE_BATCHING:
        raise ConfigError(
            f"sequence_batching={config['sequence_batching']!r} must be one of {', '.join(SEQUENCE_BATCHING)}")
    if config["sequence_loss_weight"] not in SEQUENCE_LOSS_WEIGHTS:
        raise ConfigError(f"sequence_loss_weight={config['sequence_loss_weight']!r} must be one of "
                          f"{', '.join(SEQUENCE_LOSS_WEIGHTS)}")
    tolerance = config["sequence_alpha_tolerance"]
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                  or not 0 <= tolerance <= 1):
        raise ConfigError(f"sequence_alpha_tolerance={tolerance!r} must be a number in [0, 1]")
    if not isinstance(config["sequence_group_backward"], bool):
        raise ConfigError(f"sequence_group_backward={config['sequence_group_backward']!r} must be True or False")
    if not isinstance(config["ce_bf16"], bool):
        raise ConfigError(f"ce_bf16={config['ce_bf16']!r} must be True or False")
    if config["ce_bf16"] and (mode != "sequence" or config["loss_type"] != "CE"):
        raise ConfigError(f"ce_bf16=True is the chunked CE of train_mode sequence, loss_type CE; this run has "
                          f"train_mode {mode}, loss_type {config['loss_type']}")
    if mode != "sequence":
        return
    problem = sequence_mode_problem(config, model_cls)
    if problem:
        raise ConfigError(f"train_mode=sequence: {problem}")


class SequenceTrainer(DeviceTrainer):
    """Train SASRec or a hybrid on user windows (module docstring).

    Args:
        config: RecBole ``Config``; reads what ``DeviceTrainer`` reads, ``train_batch_size`` (windows per step),
            ``sequence_windows``, ``sequence_batching``, ``sequence_loss_weight``, ``sequence_alpha_tolerance``,
            ``loss_type``, ``ce_bf16``, ``sequence_group_backward``, ``fast_compile`` (``torch.compile`` of the
            model's Transformer encoder).
        model: RecBole's ``SASRec`` or a hybrid, already on ``config["device"]``.
        train_data: RecBole's training ``DataLoader``; its dataset's prefix rows are regrouped into windows.
    """

    def __init__(self, config, model: torch.nn.Module, train_data) -> None:
        super().__init__(config, model)
        self.batch_size = config["train_batch_size"]
        windows = build_windows(train_data.dataset, config["sequence_windows"])
        self.window_length = (windows.targets > 0).sum(1)  # [W] on the CPU, for length batching
        self.windows = windows.to(self.device)
        self.batching = config["sequence_batching"]
        # target weighting: a step's summed loss over the epoch's mean positions per step (module docstring)
        self.positions_per_step = float(self.window_length.sum()) / len(self)
        self.per_target = config["sequence_loss_weight"] == "target"
        if config["fast_compile"]:  # in place: the state dict keeps its keys, so checkpoints do not change
            model.trm_encoder.compile(dynamic=True)  # dynamic: batches are cut to their longest window
        self.positions = SequencePositions(model, config["sequence_alpha_tolerance"] or 0.0)
        self.bpr = BPRLoss() if config["loss_type"] == "BPR" else None
        self.n_items = model.n_items
        self.chunked_ce = True  # model/loss.py's chunked CE where the scores allow it (benchmarks switch it off to compare)
        self.ce_bf16 = bool(config["ce_bf16"])
        if self.ce_bf16 and not bf16_is_native(self.device):
            getLogger(__name__).warning(
                "ce_bf16=True on a CPU without AMX or AVX512-BF16: its bf16 products are emulated, several times "
                "slower than float32; add --ce_bf16=False on this machine")
        self.passes = 0  # Transformer passes in the last epoch (more than its steps when a(L) needs groups)
        self.group_backward = bool(config["sequence_group_backward"])

    def __len__(self) -> int:
        """Steps per epoch: ``ceil(windows / batch)``."""
        return -(-len(self.windows) // self.batch_size)

    def epoch_batches(self) -> list[torch.Tensor]:
        """The window indices of each step of one epoch (``[B]`` long each, on the CPU), from the order generator.

        ``random``: consecutive slices of a random permutation. ``length``: the permutation is cut into chunks of
        ``BUCKET_BATCHES`` batches, each chunk sorted by window length and sliced, and the batches shuffled; each
        batch then holds windows of similar length, so cutting it to its longest window drops most of the padding
        (results/benchmarks/README.md times both).
        """
        n, size = len(self.windows), self.batch_size
        order = torch.randperm(n, generator=self.order_generator)
        if self.batching == "random":
            return list(order.split(size))
        chunks = order.split(size * BUCKET_BATCHES)
        batches = [b for chunk in chunks
                   for b in chunk[torch.sort(self.window_length[chunk], stable=True).indices].split(size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=self.order_generator).tolist()]

    def steps(self, epoch: int) -> Iterator[Callable[[], torch.Tensor]]:
        """The epoch's batches of windows (``epoch_batches``)."""
        self.passes = 0
        for rows in self.epoch_batches():
            yield partial(self.batch_loss, rows.to(self.device))

    def batch_loss(self, rows: torch.Tensor) -> torch.Tensor:
        """The loss of windows ``rows [B]``: the mean over their real positions, times ``positions / mean positions
        per step`` when every target weighs the same (``sequence_loss_weight: target``)."""
        if self.group_backward and self.positions.hybrid and self.bpr is None and self.chunked_ce \
                and torch.is_grad_enabled():
            return self._backward_by_group(rows)
        loss, positions = self._mean_loss(rows)
        return loss * (positions / self.positions_per_step) if self.per_target else loss

    def _backward_by_group(self, rows: torch.Tensor) -> torch.Tensor:
        """``batch_loss`` of a hybrid, each ``a`` group's part backpropagated as soon as its pass is done.

        The loss is a sum over positions, so each group's share (its positions' CE sum over the step's divisor) can be
        backpropagated alone, and only one pass's activations are held at a time. The graph table and the groups'
        ``a`` are computed once and enter the passes as detached leaves that collect their gradients; the returned
        loss carries those gradients back to the graph's and the policy's parameters when the caller backpropagates
        it. Its value and every gradient are those of the one-graph loss, up to float summation order; the passes
        draw their dropout masks in the same order.
        """
        w = self.windows
        width = int((w.lengths[rows] > 0).sum(1).max())  # the batch's longest window
        items, targets, lengths = w.items[rows, :width], w.targets[rows, :width], w.lengths[rows, :width]
        n_real = int((lengths > 0).sum())
        divisor = self.positions_per_step if self.per_target else n_real
        positions = self.positions
        plan = positions.plan(items, lengths)
        rep_alpha = self.model.fusion.alpha_policy(plan.representative)  # [G]
        graph = self.model.graph_table()
        rep_leaf = rep_alpha.detach().requires_grad_(rep_alpha.requires_grad)
        graph_leaf = None if graph is None else graph.detach().requires_grad_(graph.requires_grad)
        flat_targets = targets.reshape(-1)
        total = torch.zeros((), device=items.device)
        for out in positions.group_outputs(items, lengths, plan, rep_leaf, graph_leaf):
            self.passes += 1
            target = flat_targets[out.index]
            part = linear_cross_entropy(*self.ce_operands(out), target, bf16=self.ce_bf16) * (target.numel() / divisor)
            part.backward()
            total = total + part.detach()
        carried = [(rep_alpha, rep_leaf), (graph, graph_leaf)]
        for value, leaf in carried:  # their gradients reach the parameters upstream when the caller backpropagates
            if leaf is not None and leaf.grad is not None:
                total = total + (value * leaf.grad).sum() - (value.detach() * leaf.grad).sum()
        # with nothing to carry (a frozen graph, a constant a) the caller's backward() still needs a graph to run
        return total if total.requires_grad else total.requires_grad_()

    def _mean_loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The mean loss over the real positions of windows ``rows [B]``, and their number."""
        w = self.windows
        width = int((w.lengths[rows] > 0).sum(1).max())  # the batch's longest window
        items, targets, lengths = w.items[rows, :width], w.targets[rows, :width], w.lengths[rows, :width]
        out = self.positions(items, lengths)
        self.passes += out.passes
        target = targets.reshape(-1)[out.index]  # [N]
        if self.bpr is not None:
            draw = torch.randint(1, self.n_items - 1, target.shape, device=self.device,
                                 generator=self.sample_generator)
            negative = draw + (draw >= target)  # uniform over 1..n_items-1 minus the positive
            return self.bpr(self.item_scores(out, target), self.item_scores(out, negative)), target.numel()
        if self.chunked_ce:
            return linear_cross_entropy(*self.ce_operands(out), target, bf16=self.ce_bf16), target.numel()
        return F.cross_entropy(self.all_scores(out), target), target.numel()

    def ce_operands(self, out: PositionOutputs) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden [N, H']`` and ``table [n_items, H']`` whose product is ``all_scores(out)``, for the chunked CE.

        The ID table: ``out.hidden`` and ``E``. A fused table (``score_table: fused``) differs per output through
        ``a``, but the fusion is linear in ``E`` and ``G``: its scores ``c_E(a) h E^T + c_G(a) h G^T`` are one product
        of ``[c_E h, c_G h] [N, 2H]`` with ``[E, G] [n_items, 2H]``, the coefficients read off the fusion's own
        ``combine`` (``a`` and ``1 - a`` for mix, ``1`` and ``1 - a`` for residual).
        """
        id_table = self.model.item_embedding.weight
        if out.graph is None or self.model.score_table == "id":
            return out.hidden, id_table
        a = out.alpha.unsqueeze(1)  # [N, 1]
        one, zero = torch.ones_like(a), torch.zeros_like(a)
        combine = self.model.fusion.combine
        c_id, c_graph = combine(a, one, zero), combine(a, zero, one)
        return torch.cat([c_id * out.hidden, c_graph * out.hidden], 1), torch.cat([id_table, out.graph], 1)

    def all_scores(self, out: PositionOutputs) -> torch.Tensor:
        """``[N, n_items]`` scores of every item at each output position (the model's scoring rule)."""
        if out.graph is None:
            return out.hidden @ self.model.item_embedding.weight.t()
        return self.model._scores(out.hidden, out.alpha, out.graph)

    def item_scores(self, out: PositionOutputs, items: torch.Tensor) -> torch.Tensor:
        """``[N]`` score of item ``items[n]`` at output position ``n``."""
        if out.graph is None:
            return (out.hidden * self.model.item_embedding(items)).sum(-1)
        return self.model._scores(out.hidden, out.alpha, out.graph, items)
