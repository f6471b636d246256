"""In sequence mode every position's loss reaches the ``a(L)`` of its own length, as prefix rows' losses do.

Windows share passes (``sequence_forward``): a pass gives every input one ``a``, so the policy's gradient must be
routed to each position's own ``a(L_t)``. Checked against prefix rows (one row per target, each with its exact
``a(L)``): the policy's gradient on the same targets, and what it learns on a synthetic task whose best ``a``
depends on ``L``.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import TINY
from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.utils.compat import bare_argv, init_seed
from recbole_hybrid.config import build_config
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.positions import SequencePositions

T = TINY["MAX_ITEM_LIST_LENGTH"]
ROWS = (20, 13, 6, 2)  # window lengths; a fifth row is a later window of a long history (every L capped at T)
#: Models whose policy has parameters, and the tolerance their property file trains with.
LEARNED = {"HybridLearnable": 0.0, "HybridResidual": 0.0, "HybridContinuous": 0.02}


@pytest.fixture(scope="module")
def train():
    with bare_argv():
        config = build_config("HybridContinuous", "ml-100k", [], {**TINY, "graph_cache_dir": ""})
    return load_data(config)[1]


def _model(name: str, train, **extra):
    with bare_argv():
        config = build_config(name, "ml-100k", [], {**TINY, "graph_cache_dir": "", **extra})
    init_seed(3, True)
    return HYBRID_MODELS[name](config, train.dataset).eval(), config


def _windows() -> tuple[torch.Tensor, torch.Tensor]:
    """``items [5, T]`` and the capped history length of each position's target ``lengths [5, T]`` (0: padding)."""
    generator = torch.Generator().manual_seed(1)
    items = torch.zeros(len(ROWS) + 1, T, dtype=torch.long)
    lengths = torch.zeros_like(items)
    for row, width in enumerate((*ROWS, T)):
        items[row, :width] = torch.randint(1, 500, (width,), generator=generator)
        lengths[row, :width] = torch.arange(1, width + 1) if row < len(ROWS) else T
    return items, lengths


def _prefix_outputs(model, items, lengths, alpha_of=None) -> torch.Tensor:
    """``[B, T, H]``: each real position's output from its own prefix row, every input with that target's
    ``a(L)`` (``alpha_of(L)``, default the model's policy); 0 at padding. The rows go in one batch."""
    policy = alpha_of or model.fusion.alpha_policy
    where = lengths.nonzero()  # [N, 2]: (window, position) of every real target
    positions = torch.arange(items.size(1))
    rows = items[where[:, 0]] * (positions.unsqueeze(0) <= where[:, 1:])  # each row cut after its target
    hidden = model.hidden_states(rows, policy(lengths[where[:, 0], where[:, 1]]), model.graph_table())
    out = torch.zeros(*items.shape, model.hidden_size)
    return out.index_put((where[:, 0], where[:, 1]), hidden[torch.arange(len(where)), where[:, 1]])


def _policy_grads(model, loss) -> list[torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.fusion.alpha_policy.parameters()]


def _sequence_outputs(model, items, lengths, tolerance) -> torch.Tensor:
    out = SequencePositions(model, tolerance)(items, lengths)
    dense = torch.zeros(items.numel(), model.hidden_size)
    dense = dense.index_put((out.index,), out.hidden)
    return dense.view(*items.shape, -1)


def _shape_the_curve(model) -> None:
    """Give a continuous policy a non-flat a(L) (range about 0.3) so that its lengths fall into several passes."""
    with torch.no_grad():
        model.fusion.alpha_policy.mlp[2].weight.copy_(torch.linspace(-0.3, 0.3, TINY.get("alpha_mlp_hidden", 16)))


@pytest.mark.parametrize("name", sorted(LEARNED))
@pytest.mark.parametrize("shaped", [False, True], ids=["at-start", "shaped"])
def test_every_position_sends_its_gradient_to_its_own_length(train, name, shaped):
    """The policy's gradient from sequence windows equals the one from prefix rows on the same targets: exactly for
    the binned policies (their passes are exact), within 1% at the flat start of the continuous one (the forward
    difference) and within 5% once its curve has a shape (each pass's a is within 0.02 of its positions' own)."""
    if shaped and name != "HybridContinuous":
        pytest.skip("a binned policy's passes are exact whatever its values")
    model, config = _model(name, train)
    if shaped:
        _shape_the_curve(model)
    items, lengths = _windows()
    weights = torch.randn(*items.shape, model.hidden_size, generator=torch.Generator().manual_seed(2))
    weights[lengths == 0] = 0
    prefix = _policy_grads(model, (_prefix_outputs(model, items, lengths) * weights).sum())
    sequence = _policy_grads(model, (_sequence_outputs(model, items, lengths, LEARNED[name]) * weights).sum())
    flat_prefix, flat_sequence = torch.cat([g.flatten() for g in prefix]), torch.cat([g.flatten() for g in sequence])
    bound = 1e-5 if LEARNED[name] == 0 else 0.05 if shaped else 0.01
    error = (flat_sequence - flat_prefix).norm() / flat_prefix.norm()
    assert flat_prefix.norm() > 0 and error < bound, float(error)


def test_the_pass_values_are_unchanged_and_training_draws_the_same_dropout(train):
    """The routing changes gradients only: in training mode (dropout on) the outputs are the pass's own, and the
    random state after the call is the one a plain pass leaves."""
    model, _ = _model("HybridContinuous", train)
    _shape_the_curve(model)
    model.train()
    items, lengths = _windows()
    torch.manual_seed(5)
    routed = SequencePositions(model, 0.02)(items, lengths)
    after = torch.rand(3)
    positions = SequencePositions(model, 0.02)
    positions._own_alpha_gradient = lambda items, lengths, take, alpha, graph: model.hidden_states(
        items, alpha.expand(items.size(0)), graph)[take]  # the pass alone, as before the routing
    torch.manual_seed(5)
    plain = positions(items, lengths)
    assert torch.equal(routed.index, plain.index) and torch.allclose(routed.hidden, plain.hidden, atol=1e-6)
    assert torch.equal(after, torch.rand(3))


def _target_alpha(lengths: torch.Tensor) -> torch.Tensor:
    """The a(L) that the synthetic task rewards: 0.2 at L = 1 rising to 0.8 at L = T, linear in log(1 + L)."""
    x = torch.log1p(lengths.float())
    low, high = torch.log1p(torch.tensor(1.0)), torch.log1p(torch.tensor(float(T)))
    return 0.2 + 0.6 * (x - low) / (high - low)


def _learn(model, items, lengths, outputs, steps: int = 100) -> torch.Tensor:
    """Train only the policy so that every position's output matches the one made with ``_target_alpha``."""
    with torch.no_grad():
        target = _prefix_outputs(model, items, lengths, _target_alpha)
    real = (lengths > 0).unsqueeze(-1)
    optimizer = torch.optim.Adam(model.fusion.alpha_policy.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        (((outputs() - target) * real) ** 2).sum().backward()
        optimizer.step()
    with torch.no_grad():
        return model.fusion.alpha_policy(torch.arange(1, T + 1))


def test_sequence_mode_learns_the_length_shape_that_prefix_rows_learn(train):
    """A task whose best a rises from 0.2 (L = 1) to 0.8 (L = 20): from the flat start a = 0.5, windows at tolerance
    0.02 learn a curve whose range is far past the tolerance and within 0.05 of the curve prefix rows learn."""
    items, lengths = _windows()
    learned = {}
    for mode in ("prefix", "sequence"):
        model, _ = _model("HybridContinuous", train)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.fusion.alpha_policy.parameters():
            p.requires_grad_(True)
        outputs = (lambda: _prefix_outputs(model, items, lengths)) if mode == "prefix" else \
            (lambda: _sequence_outputs(model, items, lengths, 0.02))
        learned[mode] = _learn(model, items, lengths, outputs)
    seq, prefix = learned["sequence"], learned["prefix"]
    assert float(seq.max() - seq.min()) > 0.3  # 15 times the tolerance
    assert float((seq - prefix).abs().max()) < 0.05
    assert float((prefix - _target_alpha(torch.arange(1, T + 1))).abs().max()) < 0.1  # the task is learnable
