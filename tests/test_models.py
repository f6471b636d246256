"""The hybrids' behaviour: SASRec equivalence at a = 1, the a(L) policies, shapes, losses."""

from __future__ import annotations

import math

import pytest
import torch
from recbole.model.sequential_recommender import SASRec

from recbole_hybrid import HybridContinuous, HybridDiscrete, HybridFixed, HybridLearnable
from recbole_hybrid.compat import bare_argv
from recbole_hybrid.config import build_config
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


@pytest.mark.parametrize("model_cls", [HybridFixed, HybridDiscrete, HybridLearnable, HybridContinuous])
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


def test_bpr_loss_trains(ml100k_data, tiny):
    from recbole_hybrid.runner import load_data

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
