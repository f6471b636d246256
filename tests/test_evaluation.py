"""The rank-based evaluator: hand-computed values, ties, RecBole's evaluator on the same scores, filter_seen."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from recbole.evaluator import Collector, Evaluator
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_hybrid import HybridDiscrete
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.evaluation import SeenItems, evaluate, target_ranks
from recbole_hybrid.metrics import metrics_from_ranks, per_user_metric
from recbole_hybrid.model.graph import default_item_degrees
from tests.conftest import TINY


def test_metrics_from_ranks_by_hand():
    m = metrics_from_ranks([1, 10, 11])
    assert m["hit@5"] == pytest.approx(1 / 3)
    assert m["hit@10"] == pytest.approx(2 / 3)
    assert m["hit@20"] == pytest.approx(1)
    assert m["ndcg@5"] == pytest.approx(1 / 3)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(11)) / 3)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(11) + 1 / math.log2(12)) / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 10) / 3)
    assert m["mrr@20"] == pytest.approx((1 + 1 / 10 + 1 / 11) / 3)
    assert list(m) == [f"{n}@{k}" for n in ("ndcg", "hit", "mrr") for k in (5, 10, 20)]  # RecBole's key names
    np.testing.assert_allclose(per_user_metric(np.array([1, 10, 11]), "ndcg@10"), [1, 1 / math.log2(11), 0])


def test_bad_metric_input_is_refused():
    with pytest.raises(ValueError, match="empty"):
        metrics_from_ranks([])
    with pytest.raises(ValueError, match="unknown metric 'auc@10'"):
        per_user_metric(np.array([1]), "auc@10")


def _scores_with_rank(rank: int, n_items: int = 30, target: int = 7) -> torch.Tensor:
    """One row whose target has exactly ``rank - 1`` strictly better items; padding item 0 scores highest."""
    scores = torch.linspace(-1, -2, n_items)  # all distinct, all below the target
    others = [i for i in range(1, n_items) if i != target]
    scores[others[: rank - 1]] = torch.linspace(3, 2, rank - 1)
    scores[target] = 1.0
    scores[0] = 100.0  # the padding item is never a candidate
    return scores


@pytest.mark.parametrize("rank", [1, 10, 11])
def test_target_rank_counts_only_better_items(rank):
    ranks, _ = target_ranks(_scores_with_rank(rank).unsqueeze(0), torch.tensor([7]))
    assert ranks.tolist() == [rank]


def test_ties_count_against_the_target():
    scores = torch.tensor([[9.0, 0.5, 0.9, 0.5, 0.5, 0.1]])  # target 3 ties with items 1 and 4; item 2 is better
    ranks, _ = target_ranks(scores, torch.tensor([3]))
    assert ranks.tolist() == [4]
    constant = torch.zeros(1, 50)
    assert target_ranks(constant, torch.tensor([10]))[0].tolist() == [49]  # worst, not best


def test_seen_items_leave_the_candidates_but_never_the_target():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])  # target 3 has rank 3 (items 1, 2 above it)
    seen = torch.tensor([[False, True, False, True, False]])  # item 1 and the target itself were seen before
    ranks, ranks_seen = target_ranks(scores, torch.tensor([3]), seen)
    assert ranks.tolist() == [3] and ranks_seen.tolist() == [2]


def test_nan_target_score_is_an_error():
    with pytest.raises(FloatingPointError, match="NaN"):
        target_ranks(torch.tensor([[0.0, float("nan"), 1.0]]), torch.tensor([1]))


def _recbole_metrics(config, scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """RecBole's own Collector + Evaluator on the given full score matrix, one target per row."""
    collector = Collector(config)
    scores = scores.clone()
    scores[:, 0] = -np.inf  # as Trainer._full_sort_batch_eval does
    collector.eval_batch_collect(scores, None, torch.arange(len(targets)), targets)
    return dict(Evaluator(config).evaluate(collector.get_data_struct()))


def test_equal_to_recbole_on_the_same_scores_and_bounded_by_it_under_ties(ml100k_data):
    config = ml100k_data[0]
    torch.manual_seed(0)
    scores = torch.randn(300, 200)
    targets = torch.randint(1, 200, (300,))
    ours = metrics_from_ranks(target_ranks(scores, targets)[0].numpy())
    theirs = _recbole_metrics(config, scores, targets)
    assert ours == pytest.approx(theirs, abs=1e-6)  # RecBole rounds to 6 decimals

    tied = torch.round(scores * 2) / 2  # many exact ties: RecBole's order among them is torch.topk's
    ours = metrics_from_ranks(target_ranks(tied, targets)[0].numpy())
    theirs = _recbole_metrics(config, tied, targets)
    assert all(ours[k] <= theirs[k] + 1e-6 for k in ours)
    assert ours["ndcg@20"] < theirs["ndcg@20"]  # the ties really happen in this case


def test_equal_to_recbole_trainer_evaluate_on_a_model(ml100k_data):
    config, _, train, valid, test = ml100k_data
    init_seed(3, True)
    model = HybridDiscrete(config, train.dataset)
    trainer = Trainer(config, model)
    for data, earlier in ((valid, [train.dataset]), (test, [train.dataset, valid.dataset])):
        ours = evaluate(model, data, SeenItems.from_datasets(earlier, data.dataset), "cpu")
        theirs = dict(trainer.evaluate(data, load_best_model=False, show_progress=False))
        assert ours.metrics == pytest.approx(theirs, abs=1e-6)
        assert len(ours.rank) == len(data.dataset) == len(np.unique(ours.user_id))


class PlantedScores(torch.nn.Module):
    """Every user gets the same fixed random item scores."""

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.scores = torch.randn(n_items, generator=torch.Generator().manual_seed(7))

    def full_sort_predict(self, interaction) -> torch.Tensor:
        return self.scores.expand(len(interaction), -1).clone()


def _raw_ml100k_items(dataset) -> pd.DataFrame:
    """ml-100k's raw file with the protocol's filters, mapped to RecBole's internal ids: an independent source."""
    raw = pd.read_csv(f"{dataset.config['data_path']}/ml-100k.inter", sep="\t")
    raw.columns = [c.split(":")[0] for c in raw.columns]
    raw = raw[raw["rating"] >= 4]
    raw = raw[raw.groupby("user_id")["item_id"].transform("size") >= 5]
    return pd.DataFrame({"user": dataset.token2id("user_id", raw["user_id"].astype(str).to_numpy()),
                         "item": dataset.token2id("item_id", raw["item_id"].astype(str).to_numpy())})


def test_filter_seen_on_planted_scores_drops_exactly_the_earlier_items(ml100k_data):
    config, dataset, train, valid, test = ml100k_data
    model = PlantedScores(dataset.item_num)
    result = evaluate(model, test, SeenItems.from_datasets([train.dataset, valid.dataset], test.dataset), "cpu")

    raw = _raw_ml100k_items(dataset)
    items_of = raw.groupby("user")["item"].apply(set)
    target_of = dict(zip(test.dataset.inter_feat["user_id"].numpy(), test.dataset.inter_feat["item_id"].numpy()))
    s = model.scores.numpy()
    for user, rank, rank_seen, length in zip(result.user_id, result.rank, result.rank_filter_seen,
                                             result.history_length):
        target = target_of[user]
        above = {j for j in range(1, len(s)) if j != target and s[j] >= s[target]}
        seen = items_of[user] - {target}  # ml-100k has no repeated items: seen before the test = all but it
        assert rank == 1 + len(above)
        assert rank_seen == 1 + len(above - seen)
        assert length == len(items_of[user]) - 1  # TRUE history length, not capped at MAX_ITEM_LIST_LENGTH
    assert result.history_length.max() > config["MAX_ITEM_LIST_LENGTH"]
    assert (result.rank_filter_seen < result.rank).mean() > 0.5  # the planted case does filter something


def test_target_counts_are_the_training_interactions_with_each_target(ml100k_data):
    _, dataset, train, valid, test = ml100k_data
    counts = SeenItems.from_datasets([train.dataset], valid.dataset).item_counts(dataset.item_num)
    seen = SeenItems.from_datasets([train.dataset, valid.dataset], test.dataset)
    result = evaluate(PlantedScores(dataset.item_num), test, seen, "cpu", item_counts=counts)
    # independently: every kept rating of an item, less the validation and test targets (ml-100k has no repeats)
    held_out = np.concatenate([valid.dataset.inter_feat["item_id"].numpy(), test.dataset.inter_feat["item_id"].numpy()])
    expected = np.bincount(_raw_ml100k_items(dataset)["item"], minlength=dataset.item_num) \
        - np.bincount(held_out, minlength=dataset.item_num)
    target_of = dict(zip(test.dataset.inter_feat["user_id"].numpy(), test.dataset.inter_feat["item_id"].numpy()))
    np.testing.assert_array_equal(result.target_count, expected[[target_of[u] for u in result.user_id]])
    assert counts.sum() == len(train.dataset.inter_feat) + len(result.user_id)  # every row's target + first items
    assert evaluate(PlantedScores(dataset.item_num), test, seen, "cpu").target_count is None


def test_target_degrees_are_the_graph_degrees_of_each_target(ml100k_data):
    _, dataset, train, valid, test = ml100k_data
    degrees = default_item_degrees(train.dataset)
    seen = SeenItems.from_datasets([train.dataset, valid.dataset], test.dataset)
    result = evaluate(PlantedScores(dataset.item_num), test, seen, "cpu", item_degrees=degrees)
    target_of = dict(zip(test.dataset.inter_feat["user_id"].numpy(), test.dataset.inter_feat["item_id"].numpy()))
    np.testing.assert_array_equal(result.target_degree, degrees[[target_of[u] for u in result.user_id]])
    assert result.target_count is None and (result.target_degree > 0).mean() > 0.5  # ml-100k: mostly linked


def test_a_split_that_is_not_leave_one_out_is_refused(ml100k_data):
    _, dataset, train, _, test = ml100k_data
    wrong = SeenItems.from_datasets([train.dataset], test.dataset)  # forgets the validation item
    with pytest.raises(ValueError, match="leave-one-out"):
        evaluate(PlantedScores(dataset.item_num), test, wrong, "cpu")


def test_filter_seen_must_be_a_bool(tiny):
    with pytest.raises(ConfigError, match="filter_seen='yes'"):
        build_config("SASRec", "ml-100k", [], {**tiny, "filter_seen": "yes"})


@pytest.mark.parametrize("model_name", ["SASRec", "HybridDiscrete"])
def test_length_chunked_scoring_changes_no_rank(ml100k_data, tmp_path, model_name, monkeypatch):
    """Scoring in chunks cut to their longest history gives the ranks of scoring the padded batch."""
    from recbole_hybrid import evaluation
    from recbole_hybrid.utils.compat import bare_argv
    from recbole_hybrid.config import build_config, resolve_model

    _, _, train, valid, _ = ml100k_data
    with bare_argv():
        config = build_config(model_name, "ml-100k", [], {**TINY, "graph_cache_dir": str(tmp_path / "g")})
    torch.manual_seed(0)
    model = resolve_model(model_name)(config, train.dataset)
    seen = evaluation.SeenItems.from_datasets([train.dataset], valid._dataset)
    monkeypatch.setattr(evaluation, "LENGTH_CHUNK", 100)  # several chunks per batch
    chunked = evaluation.evaluate(model, valid, seen, "cpu")
    monkeypatch.setattr(evaluation, "trims_padding", lambda _: False)
    padded = evaluation.evaluate(model, valid, seen, "cpu")
    assert np.array_equal(chunked.rank, padded.rank)
    assert np.array_equal(chunked.rank_filter_seen, padded.rank_filter_seen)
