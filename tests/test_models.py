"""The hybrids' behaviour: SASRec equivalence at a = 1, the a(L) policies, the fusion forms, shapes, losses."""

from __future__ import annotations

import math

import pytest
import torch
from recbole.model.sequential_recommender import SASRec

from recbole_hybrid import HybridContinuous, HybridDiscrete, HybridFixed, HybridLearnable, HybridResidual
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import ConfigError, build_config
from tests.conftest import TINY


def make(model_cls, data, **overrides):
    """A model of ``model_cls`` on the shared ml-100k training split, with ``overrides`` on the tiny settings."""
    _, _, train, _, _ = data
    with bare_argv():
        config = build_config(model_cls, "ml-100k", [], {**TINY, **overrides,
                                                          "graph_cache_dir": data[0]["graph_cache_dir"]})
    torch.manual_seed(0)
    return config, model_cls(config, train.dataset)


def first_batch(data, split: int = 3):
    """The first evaluation batch of the validation (3) or test (4) loader: an ``Interaction``."""
    return next(iter(data[split]))[0]


def test_alpha_one_gives_sasrec_logits_exactly(ml100k_data):
    _, hybrid = make(HybridFixed, ml100k_data, fixed_alpha=1.0)
    _, sasrec = make(SASRec, ml100k_data)
    missing, unexpected = sasrec.load_state_dict(hybrid.state_dict(), strict=False)
    assert missing == []  # every SASRec weight came from the hybrid
    assert all(k.startswith("fusion.") for k in unexpected)
    hybrid.eval(), sasrec.eval()
    batch = first_batch(ml100k_data)
    with torch.no_grad():
        assert torch.equal(hybrid.full_sort_predict(batch), sasrec.full_sort_predict(batch))
        # and the graph really is there: a < 1 changes the logits
        hybrid.fusion.alpha_policy.alpha = 0.5
        assert not torch.allclose(hybrid.full_sort_predict(batch), sasrec.full_sort_predict(batch))


def test_discrete_alpha_at_bin_edges(ml100k_data):
    config, model = make(HybridDiscrete, ml100k_data, L_short=5, L_long=15,
                         alpha_short=0.2, alpha_mid=0.5, alpha_long=0.9)
    lengths = torch.tensor([1, 5, 6, 15, 16, 20])
    assert model.alpha_of_length(lengths).tolist() == pytest.approx([0.2, 0.2, 0.5, 0.5, 0.9, 0.9])


def test_learnable_starts_at_configured_values_and_learns(ml100k_data):
    _, model = make(HybridLearnable, ml100k_data, alpha_short=0.3, alpha_mid=0.5, alpha_long=0.7)
    policy = model.fusion.alpha_policy
    assert policy.bin_alphas().tolist() == pytest.approx([0.3, 0.5, 0.7], abs=1e-6)
    assert model.alpha_of_length(torch.tensor([3, 10, 19])).tolist() == pytest.approx([0.3, 0.5, 0.7], abs=1e-6)
    train_batch = next(iter(ml100k_data[2]))
    model.calculate_loss(train_batch).backward()
    assert policy.logits.grad is not None and policy.logits.grad.abs().sum() > 0


def test_continuous_is_a_function_of_length_only(ml100k_data):
    _, model = make(HybridContinuous, ml100k_data, alpha_init=0.4)
    policy = model.fusion.alpha_policy
    lengths = torch.arange(1, 21)
    assert model.alpha_of_length(lengths).tolist() == pytest.approx([0.4] * 20, abs=1e-6)  # documented start
    torch.nn.init.normal_(policy.mlp[2].weight, std=1.0)  # as after some training
    alpha = model.alpha_of_length(lengths)
    assert alpha.unique().numel() > 1  # it does depend on L
    # two batches with the same lengths but different items get the same a(L)
    batch = first_batch(ml100k_data)
    seq, seq_len = batch["item_id_list"], batch["item_length"]
    shuffled = seq[torch.randperm(len(seq))]
    with torch.no_grad():
        _, a1, _ = model.encode(seq, seq_len)
        _, a2, _ = model.encode(shuffled, seq_len)
    assert torch.equal(a1, a2)
    assert torch.equal(a1, policy(seq_len))


@pytest.mark.parametrize("model_cls", [HybridFixed, HybridDiscrete, HybridLearnable, HybridContinuous,
                                       HybridResidual])
@pytest.mark.parametrize("score_table", ["id", "fused"])
def test_scores_shapes_and_finite_loss(ml100k_data, model_cls, score_table):
    _, model = make(model_cls, ml100k_data, score_table=score_table)
    model.eval()
    batch = first_batch(ml100k_data)
    n_items = ml100k_data[1].item_num
    with torch.no_grad():
        scores = model.full_sort_predict(batch)
        assert scores.shape == (len(batch), n_items)
        one = model.predict(batch)  # the target item of each row
        assert one.shape == (len(batch),)
        assert torch.allclose(one, scores.gather(1, batch["item_id"].view(-1, 1)).squeeze(1), atol=1e-5)
    loss = model.calculate_loss(next(iter(ml100k_data[2])))
    assert loss.ndim == 0 and math.isfinite(loss.item())


def spread_bins(model) -> None:
    """Distinct learned weights per length bin, as after some training (``a`` = 0.27, 0.55, 0.79)."""
    with torch.no_grad():
        model.fusion.alpha_policy.logits.copy_(torch.tensor([-1.0, 0.2, 1.3]))


def random_inputs(model, batch: int = 6, length: int = 7):
    """Item ids ``[B, T]``, weights ``a [B]`` and a graph table ``G`` of the model's size (not its small start)."""
    generator = torch.Generator().manual_seed(0)
    item_seq = torch.randint(0, model.n_items, (batch, length), generator=generator)
    alpha = torch.rand(batch, generator=generator)
    graph = torch.randn(model.n_items, model.hidden_size, generator=generator)
    return item_seq, alpha, graph


def test_fuse_follows_the_form(ml100k_data):
    _, mix = make(HybridLearnable, ml100k_data)
    _, residual = make(HybridResidual, ml100k_data)
    assert (mix.fusion.form, residual.fusion.form) == ("mix", "residual")  # the property files' defaults
    for model in (mix, residual):
        item_seq, alpha, graph = random_inputs(model)
        id_table = model.item_embedding.weight.detach()
        a = alpha.view(-1, 1, 1)
        x = model.fusion.fuse(item_seq, alpha, id_table, graph)
        assert x.shape == (*item_seq.shape, model.hidden_size)
        if model is mix:  # the formula it had before fusion_form: bit for bit
            assert torch.equal(x, a * id_table[item_seq] + (1 - a) * graph[item_seq])
        else:
            assert torch.allclose(x, id_table[item_seq] + (1 - a) * graph[item_seq], atol=1e-6, rtol=0)
        # and the fused table follows the same form: a row's scores are its output against its fused table
        seq_output = torch.randn(len(alpha), model.hidden_size, generator=torch.Generator().manual_seed(1))
        scores = model.fusion.fused_scores(seq_output, alpha, id_table, graph)
        weight = alpha.view(-1, 1, 1) if model is mix else torch.ones(len(alpha), 1, 1)
        tables = weight * id_table + (1 - alpha.view(-1, 1, 1)) * graph  # [B, n_items, H]
        assert torch.allclose(scores, torch.einsum("bh,bnh->bn", seq_output, tables), atol=1e-5, rtol=0)


def fused_outputs(cls, ml100k_data):
    """A ``score_table: fused`` model in eval mode with distinct bin weights, a batch, and its ``encode`` outputs."""
    _, model = make(cls, ml100k_data, score_table="fused")
    spread_bins(model)
    model.eval()
    batch = first_batch(ml100k_data)
    with torch.no_grad():
        return model, batch, *model.encode(batch["item_id_list"], batch["item_length"])


def test_mix_scores_keep_the_former_formula(ml100k_data):
    model, batch, seq_output, alpha, graph = fused_outputs(HybridLearnable, ml100k_data)
    with torch.no_grad():
        id_scores = seq_output @ model.item_embedding.weight.t()
        a = alpha.unsqueeze(-1)
        assert torch.equal(model.full_sort_predict(batch), a * id_scores + (1 - a) * (seq_output @ graph.t()))
        items = batch["item_id"]
        id_one, graph_one = (seq_output * model.item_embedding(items)).sum(-1), (seq_output * graph[items]).sum(-1)
        one = alpha * id_one + (1 - alpha) * graph_one
        assert torch.equal(model.predict(batch), one)


def test_residual_fused_table_is_e_plus_gated_g(ml100k_data):
    model, batch, seq_output, alpha, graph = fused_outputs(HybridResidual, ml100k_data)
    with torch.no_grad():
        assert alpha.unique().numel() > 1  # rows of several bins, each with its own table
        E = model.item_embedding.weight
        expected = torch.stack([seq_output[b] @ (E + (1 - alpha[b]) * graph).t() for b in range(len(alpha))])
        scores = model.full_sort_predict(batch)
        assert torch.allclose(scores, expected, atol=1e-6, rtol=0)
        assert not torch.allclose(scores, seq_output @ E.t(), atol=1e-6, rtol=0)  # the graph is in the table
        assert torch.allclose(model.predict(batch), expected.gather(1, batch["item_id"].view(-1, 1)).squeeze(1),
                              atol=1e-6, rtol=0)


def test_residual_starts_at_its_defaults_and_learns(ml100k_data):
    _, model = make(HybridResidual, ml100k_data)
    policy = model.fusion.alpha_policy
    assert policy.bin_alphas().tolist() == pytest.approx([0.5, 0.5, 0.5], abs=1e-6)
    model.calculate_loss(next(iter(ml100k_data[2]))).backward()
    assert policy.logits.grad is not None and policy.logits.grad.abs().sum() > 0


@pytest.mark.parametrize("score_table", ["id", "fused"])
def test_residual_with_a_one_gives_sasrec_logits_exactly(ml100k_data, score_table):
    _, hybrid = make(HybridResidual, ml100k_data, score_table=score_table)
    _, sasrec = make(SASRec, ml100k_data)
    missing, unexpected = sasrec.load_state_dict(hybrid.state_dict(), strict=False)
    assert missing == [] and all(k.startswith("fusion.") for k in unexpected)
    with torch.no_grad():
        hybrid.fusion.alpha_policy.logits.fill_(math.inf)  # sigmoid(inf) = 1: a = 1 in every bin, (1 - a) G = 0
    hybrid.eval(), sasrec.eval()
    batch = first_batch(ml100k_data)
    with torch.no_grad():
        assert torch.equal(hybrid.full_sort_predict(batch), sasrec.full_sort_predict(batch))
        hybrid.fusion.alpha_policy.logits.fill_(0.0)  # a = 0.5: the graph is added
        assert not torch.allclose(hybrid.full_sort_predict(batch), sasrec.full_sort_predict(batch))


def test_item_gate_starts_as_no_gate_then_scales_each_items_graph_row(ml100k_data):
    """``item_gate: learned`` starts at g = 1 (the same scores as without it, bit for bit), then row i of G is
    scaled by 2 sigmoid(q_i) in the inputs and in the fused table, and the gates learn."""
    _, plain = make(HybridResidual, ml100k_data, score_table="fused")
    _, gated = make(HybridResidual, ml100k_data, score_table="fused", item_gate="learned")
    assert plain.fusion.item_gate is None and gated.fusion.item_gate.shape == (gated.n_items,)
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert (missing, unexpected) == (["fusion.item_gate"], [])
    plain.eval(), gated.eval()
    batch = first_batch(ml100k_data)
    with torch.no_grad():
        assert torch.equal(gated.full_sort_predict(batch), plain.full_sort_predict(batch))
        q = torch.randn(gated.n_items, generator=torch.Generator().manual_seed(2))
        gated.fusion.item_gate.copy_(q)
        g = 2 * torch.sigmoid(q)
        assert torch.allclose(gated.graph_table(), plain.graph_table() * g.unsqueeze(1), atol=1e-7)
        assert not torch.allclose(gated.full_sort_predict(batch), plain.full_sort_predict(batch), atol=1e-4)
        # the gated model is the plain one with G's rows scaled: scale the plain model's G by hand, same scores
        plain.fusion.graph_projection.weight.mul_(0)  # G = bias only in the plain model ...
        gated.fusion.graph_projection.weight.mul_(0)
        bias = plain.fusion.graph_projection.bias
        bias.copy_(torch.randn(bias.shape, generator=torch.Generator().manual_seed(3)))
        gated.fusion.graph_projection.bias.copy_(bias)
        seq_output, alpha, graph = gated.encode(batch["item_id_list"], batch["item_length"])
        assert torch.allclose(graph, g.unsqueeze(1) * bias, atol=1e-7)  # ... so row i of the gated G is g_i * bias
    gated.train()
    gated.calculate_loss(next(iter(ml100k_data[2]))).backward()
    assert gated.fusion.item_gate.grad is not None and gated.fusion.item_gate.grad.abs().sum() > 0


def test_unknown_fusion_form_is_refused(ml100k_data):
    message = "fusion_form='bogus' must be one of mix, residual"
    with pytest.raises(ConfigError, match=f"^HybridResidual: {message}$"):  # before any data loads
        make(HybridResidual, ml100k_data, fusion_form="bogus")
    config, _ = make(HybridResidual, ml100k_data)
    config["fusion_form"] = "bogus"
    with pytest.raises(ValueError, match=f"^{message}$"):  # and by the fusion module itself
        HybridResidual(config, ml100k_data[2].dataset)


def test_bpr_loss_trains(ml100k_data, tiny):
    from recbole_hybrid.quick_start.runner import load_data

    with bare_argv():
        config = build_config(HybridDiscrete, "ml-100k", [], {**tiny, "loss_type": "BPR"})
    assert config["train_neg_sample_args"]["sample_num"] == 1  # run.py turns on one uniform negative for BPR
    _, train, _, _ = load_data(config)
    model = HybridDiscrete(config, train.dataset)
    batch = next(iter(train))
    assert "neg_item_id" in batch
    loss = model.calculate_loss(batch)
    loss.backward()
    assert math.isfinite(loss.item()) and model.item_embedding.weight.grad is not None


@pytest.mark.parametrize("model_cls", [HybridDiscrete, HybridResidual])
def test_a_training_step_runs_under_bf16_autocast(ml100k_data, model_cls):
    """``fast_bf16`` wraps each step in a bf16 autocast: the graph propagation (sparse products) and the loss must
    run under it, forward and backward, with float32 gradients for the graph table."""
    _, model = make(model_cls, ml100k_data)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.calculate_loss(next(iter(ml100k_data[2])))
    loss.backward()
    grad = model.fusion.graph_embedding.weight.grad
    assert math.isfinite(loss.item()) and grad.dtype == torch.float32 and grad.abs().sum() > 0


def test_a_shared_graph_propagates_the_id_table_through_an_identity_projection(ml100k_data):
    """``graph_table: shared``: no second table; G starts as the LightGCN mean of E itself, and E's gradient comes
    through both the inputs and the graph."""
    config, _, train, _, _ = ml100k_data
    with bare_argv():
        shared_cfg = build_config("HybridDiscrete", "ml-100k", [], {**TINY, "train_mode": "prefix",
                                                                    "graph_table": "shared",
                                                                    "graph_cache_dir": config["graph_cache_dir"]})
    model = HybridDiscrete(shared_cfg, train.dataset)
    assert model.fusion.graph_embedding is None
    assert not any("graph_embedding" in name for name in model.state_dict())
    E = model.item_embedding.weight
    layers = [E]
    for _ in range(shared_cfg["gnn_layers"]):
        layers.append(torch.sparse.mm(model.fusion.adjacency, layers[-1]))
    assert torch.allclose(model.graph_table(), torch.stack(layers).mean(0), atol=1e-6)
    model.graph_table().sum().backward()
    assert model.item_embedding.weight.grad is not None and model.item_embedding.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("value", ["both", "", None, 1])
def test_an_unknown_graph_table_is_refused_by_name_before_data_loads(value):
    with bare_argv(), pytest.raises(ConfigError, match=r"graph_table=.* must be one of separate, shared"):
        build_config("HybridDiscrete", "ml-100k", [], {**TINY, "graph_table": value, "data_path": "/nonexistent"})
