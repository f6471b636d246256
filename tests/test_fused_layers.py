"""The fused layers compute RecBole's function and draw its dropout masks; a run trains and scores with them."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from recbole.model.layers import FeedForward, MultiHeadAttention

from recbole_hybrid import evaluation
from recbole_hybrid.model import fast_layers as fused_layers
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.model.fast_layers import FusedFeedForward, FusedMultiHeadAttention, fused_kernels

from tests.conftest import TINY

MODELS = ["SASRec", "HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HybridResidual"]


def _model(name: str, train, tmp_path, **overrides):
    with bare_argv():
        config = build_config(name, "ml-100k", [], {**TINY, "n_layers": 2, "graph_cache_dir": str(tmp_path / "g"),
                                                    **overrides})
    torch.manual_seed(0)
    return resolve_model(name)(config, train.dataset)


def _valid_batch(valid):
    interaction, _, _, _ = next(iter(valid))
    return interaction


def _classes(model) -> list[type]:
    return [type(m) for m in model.modules() if isinstance(m, (MultiHeadAttention, FeedForward))]


@pytest.mark.parametrize("model_name", MODELS)
def test_fused_scores_equal_recbole_layers_in_eval_mode(ml100k_data, tmp_path, model_name):
    _, _, train, valid, _ = ml100k_data
    model = _model(model_name, train, tmp_path).eval()
    batch = _valid_batch(valid)
    with torch.no_grad():
        plain = model.full_sort_predict(batch)
        with fused_kernels(model):
            assert set(_classes(model)) == {FusedMultiHeadAttention, FusedFeedForward}
            fused = model.full_sort_predict(batch)
    assert set(_classes(model)) == {MultiHeadAttention, FeedForward}  # restored
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_each_layer_computes_recbole_function_on_wide_inputs(training):
    """Layer by layer, inputs of scale 3 (where an approximate GELU or a wrong scale shows), dropout masks drawn
    from the same seed: outputs and input gradients agree."""
    from recbole.model.layers import TransformerLayer

    torch.manual_seed(0)
    layer = TransformerLayer(2, 32, 64, 0.3, 0.3, "gelu", 1e-12).train(training)
    x = (3 * torch.randn(4, 9, 32)).requires_grad_()
    mask = torch.where(torch.tril(torch.ones(9, 9, dtype=torch.bool)), 0.0, -10000.0).expand(4, 1, 9, 9)
    outputs = []
    for fused in (False, True):
        torch.manual_seed(1)
        with fused_kernels(layer) if fused else contextlib.nullcontext():
            out = layer(x, mask)
        (grad,) = torch.autograd.grad(out.square().sum(), x)
        outputs.append((out.detach(), grad))
    torch.testing.assert_close(outputs[1][0], outputs[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs[1][1], outputs[0][1], rtol=1e-4, atol=1e-4)


def test_the_fused_kernels_run(ml100k_data, tmp_path, monkeypatch):
    _, _, train, valid, _ = ml100k_data
    model = _model("HybridDiscrete", train, tmp_path).eval()
    calls = {"sdpa": 0, "gelu": 0}
    for name in calls:
        real = getattr(fused_layers.F, {"sdpa": "scaled_dot_product_attention", "gelu": "gelu"}[name])

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(fused_layers.F, {"sdpa": "scaled_dot_product_attention", "gelu": "gelu"}[name], counted)
    with torch.no_grad(), fused_kernels(model):
        model.full_sort_predict(_valid_batch(valid))
    assert calls == {"sdpa": 2, "gelu": 2}  # one of each per layer


def _train_step(model, batch, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = model.calculate_loss(batch)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn_dropout", [0.3, 0.0])
def test_a_training_step_gives_recbole_layers_loss_and_gradients(ml100k_data, tmp_path, attn_dropout):
    """Same seed, same dropout masks: the loss and every gradient agree (with attention dropout, and without it,
    where the attention is one ``scaled_dot_product_attention`` with its own backward)."""
    _, _, train, _, _ = ml100k_data
    model = _model("HybridDiscrete", train, tmp_path, hidden_dropout_prob=0.3, attn_dropout_prob=attn_dropout,
                   train_mode="prefix").train()
    batch = next(iter(train))
    plain_loss, plain_grads = _train_step(model, batch, seed=1)
    with fused_kernels(model):
        fused_loss, fused_grads = _train_step(model, batch, seed=1)
    torch.testing.assert_close(fused_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert fused_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(fused_grads[name], plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    other_masks, _ = _train_step(model, batch, seed=2)
    assert not torch.allclose(other_masks, plain_loss, rtol=1e-5, atol=1e-6)  # the masks do matter at this size


def test_another_activation_keeps_its_own(ml100k_data, tmp_path):
    _, _, train, valid, _ = ml100k_data
    model = _model("SASRec", train, tmp_path, hidden_act="relu").eval()
    batch = _valid_batch(valid)
    with torch.no_grad():
        plain = model.full_sort_predict(batch)
        with fused_kernels(model):
            fused = model.full_sort_predict(batch)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_classes_are_restored_when_the_block_raises_and_subclasses_are_left_alone(ml100k_data, tmp_path):
    class OwnAttention(MultiHeadAttention):
        pass

    _, _, train, _, _ = ml100k_data
    model = _model("SASRec", train, tmp_path)
    own = model.trm_encoder.layer[0].multi_head_attention
    own.__class__ = OwnAttention
    with pytest.raises(RuntimeError, match="inside"), fused_kernels(model):
        assert type(own) is OwnAttention
        assert type(model.trm_encoder.layer[1].multi_head_attention) is FusedMultiHeadAttention
        raise RuntimeError("inside")
    assert type(model.trm_encoder.layer[1].multi_head_attention) is MultiHeadAttention
    assert type(own) is OwnAttention


def test_evaluate_fused_and_plain_give_the_same_ranks(ml100k_data, tmp_path):
    _, _, train, valid, _ = ml100k_data
    model = _model("HybridDiscrete", train, tmp_path)
    seen = evaluation.SeenItems.from_datasets([train.dataset], valid._dataset)
    fused = evaluation.evaluate(model, valid, seen, "cpu")
    plain = evaluation.evaluate(model, valid, seen, "cpu", fused=False)
    assert np.array_equal(fused.rank, plain.rank)
    assert np.array_equal(fused.rank_filter_seen, plain.rank_filter_seen)


def test_a_run_trains_and_scores_with_the_fused_layers_unless_switched_off(tmp_path, tiny, monkeypatch):
    from recbole_hybrid.trainer import trainer

    seen_classes = []
    real_fit = trainer.fit_and_test

    def fit_and_look(config, model, *args, **kwargs):
        result = real_fit(config, model, *args, **kwargs)
        seen_classes.append(set(_classes(model)))
        return result

    monkeypatch.setattr("recbole_hybrid.quick_start.runner.fit_and_test", fit_and_look)
    from recbole_hybrid.quick_start.runner import run_experiment

    settings = {**tiny, "train_mode": "sequence", "train_batch_size": 64}
    records = {fused: run_experiment("SASRec", "ml-100k", [], {**settings, "fused_layers": fused},
                                     run_id=f"fused-{fused}", log=lambda *_: None) for fused in (True, False)}
    assert seen_classes == [{FusedMultiHeadAttention, FusedFeedForward}, {MultiHeadAttention, FeedForward}]
    assert records[True]["fingerprint"] == records[False]["fingerprint"]  # speed only: the same run
    losses = [[e["train_loss"] for e in records[fused]["epochs"]] for fused in (True, False)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert records[True]["best_valid"]["ndcg@10"] == pytest.approx(records[False]["best_valid"]["ndcg@10"], abs=2e-3)


def test_fused_layers_must_be_a_bool(tiny):
    from recbole_hybrid.utils.errors import ConfigError

    with bare_argv(), pytest.raises(ConfigError, match="fused_layers='yes' must be True or False"):
        build_config("SASRec", "ml-100k", [], {**tiny, "fused_layers": "yes"})


# ---- fast_dropout: other masks, the same expectation ----

def test_fast_dropout_keeps_the_rate_unbiased_and_repeats_under_a_seed():
    from recbole_hybrid.model.fast_layers import FastDropout, keep_scale

    threshold, scale = keep_scale(0.2)
    assert (threshold, scale) == (13107 - 32768, 65536 / (65536 - 13107))
    layer = FastDropout(0.2).train()
    x = torch.ones(1_000_003)  # not a multiple of 4: the last word is cut
    torch.manual_seed(0)
    y = layer(x)
    assert y.unique().tolist() == [0.0, pytest.approx(scale)]
    assert (y > 0).float().mean().item() == pytest.approx(0.8, abs=2e-3)
    assert y.mean().item() == pytest.approx(1.0, abs=3e-3)  # unbiased: kept elements scaled by 1 / q
    torch.manual_seed(0)
    assert torch.equal(layer(x), y) and not torch.equal(layer(x), y)  # seeded draws repeat; the next one differs
    rows = (y.view(-1)[:1_000_000].view(1000, 1000) > 0).float()
    assert abs(np.corrcoef(rows[:, :-1].flatten(), rows[:, 1:].flatten())[0, 1]) < 0.01  # neighbours independent
    assert torch.equal(layer.eval()(x), x) and torch.equal(FastDropout(0.0).train()(x), x)


def test_fast_dropout_backward_is_the_mask_and_a_model_swaps_every_dropout(ml100k_data, tmp_path):
    from recbole_hybrid.model.fast_layers import FastDropout, fast_dropout_layers

    x = torch.randn(4, 50, 64, requires_grad=True)
    layer = FastDropout(0.3).train()
    y = layer(x)
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert torch.allclose(g * x, y)  # d y / d x is the scaled mask that made y
    _, _, train, _, _ = ml100k_data
    model = _model("HybridDiscrete", train, tmp_path)
    keys = list(model.state_dict())
    dropouts = sum(type(m) is torch.nn.Dropout for m in model.modules())
    assert dropouts > 0 and fast_dropout_layers(model) == dropouts
    assert not any(type(m) is torch.nn.Dropout for m in model.modules()) and list(model.state_dict()) == keys


def test_a_run_with_fast_dropout_trains_with_it_and_is_another_run(tmp_path, tiny, monkeypatch):
    from recbole_hybrid.model.fast_layers import FastDropout
    from recbole_hybrid.quick_start.runner import run_experiment
    from recbole_hybrid.trainer import trainer
    from recbole_hybrid.utils.errors import ConfigError

    seen = []
    real_fit = trainer.fit_and_test

    def fit_and_look(config, model, *args, **kwargs):
        result = real_fit(config, model, *args, **kwargs)
        seen.append({type(m) for m in model.modules() if isinstance(m, torch.nn.Dropout)})
        return result

    monkeypatch.setattr("recbole_hybrid.quick_start.runner.fit_and_test", fit_and_look)
    settings = {**tiny, "train_mode": "sequence", "train_batch_size": 64}
    records = {fast: run_experiment("SASRec", "ml-100k", [], {**settings, "fast_dropout": fast},
                                    run_id=f"fastdrop-{fast}", log=lambda *_: None) for fast in (True, False)}
    assert seen == [{FastDropout}, {torch.nn.Dropout}]
    assert records[True]["fingerprint"] != records[False]["fingerprint"]  # other masks: another run
    assert records[True]["config"]["fast_dropout"] is True
    assert np.isfinite(records[True]["best_valid"]["ndcg@10"])
    with bare_argv(), pytest.raises(ConfigError, match="fast_dropout=1 must be True or False"):
        build_config("SASRec", "ml-100k", [], {**tiny, "fast_dropout": 1})
