"""The fused evaluation layers compute RecBole's function, only in eval mode, and leave the model as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recbole.model.layers import FeedForward, MultiHeadAttention

from recbole_hybrid import evaluation, fused_layers
from recbole_hybrid.compat import bare_argv
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.fused_layers import FusedFeedForward, FusedMultiHeadAttention, fused_inference

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
        with fused_inference(model):
            assert set(_classes(model)) == {FusedMultiHeadAttention, FusedFeedForward}
            fused = model.full_sort_predict(batch)
    assert set(_classes(model)) == {MultiHeadAttention, FeedForward}  # restored
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


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
    with torch.no_grad(), fused_inference(model):
        model.full_sort_predict(_valid_batch(valid))
    assert calls == {"sdpa": 2, "gelu": 2}  # one of each per layer


def test_train_mode_runs_recbole_forward_with_the_same_dropout_masks(ml100k_data, tmp_path):
    _, _, train, valid, _ = ml100k_data
    model = _model("HybridDiscrete", train, tmp_path, hidden_dropout_prob=0.3, attn_dropout_prob=0.3).train()
    batch = _valid_batch(valid)
    torch.manual_seed(1)
    plain = model.full_sort_predict(batch)
    torch.manual_seed(1)
    with fused_inference(model):
        fused = model.full_sort_predict(batch)
    assert torch.equal(fused, plain)


def test_another_activation_keeps_its_own(ml100k_data, tmp_path):
    _, _, train, valid, _ = ml100k_data
    model = _model("SASRec", train, tmp_path, hidden_act="relu").eval()
    batch = _valid_batch(valid)
    with torch.no_grad():
        plain = model.full_sort_predict(batch)
        with fused_inference(model):
            fused = model.full_sort_predict(batch)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_classes_are_restored_when_the_block_raises_and_subclasses_are_left_alone(ml100k_data, tmp_path):
    class OwnAttention(MultiHeadAttention):
        pass

    _, _, train, _, _ = ml100k_data
    model = _model("SASRec", train, tmp_path)
    own = model.trm_encoder.layer[0].multi_head_attention
    own.__class__ = OwnAttention
    with pytest.raises(RuntimeError, match="inside"), fused_inference(model):
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
