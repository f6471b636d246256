"""Serving: top-k items per user from a saved checkpoint alone, on ml-100k."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from recbole_hybrid import HybridDiscrete
from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.cli.main import main as console
from recbole_hybrid.quick_start.recommend import Recommender, UnknownUsersError
from recbole_hybrid.utils.records import save_checkpoint

USERS = ["1", "7", "13"]


@pytest.fixture(scope="module")
def saved(ml100k_data, tmp_path_factory):
    """A HybridDiscrete with random weights saved as ``best.pth``, its config and its training split."""
    config, _, train, _, test = ml100k_data
    init_seed(config["seed"] + 1, config["reproducibility"])
    model = HybridDiscrete(config, train.dataset)
    path = save_checkpoint(tmp_path_factory.mktemp("run") / "best.pth", model, config, epoch=0)
    return path, model.eval(), test


@pytest.fixture(scope="module")
def recommender(saved) -> Recommender:
    return Recommender(saved[0])


def test_history_is_the_test_sequence_plus_the_test_item(recommender, saved):
    test = saved[2].dataset.inter_feat
    field = recommender.config["ITEM_ID_FIELD"]
    for token in USERS:
        (uid,) = recommender.user_ids([token])
        row = int(np.flatnonzero(test[recommender.uid_field].numpy() == uid)[0])
        length = int(test["item_length"][row])
        history = recommender.histories[uid]
        assert history[-1] == int(test[field][row])
        assert np.array_equal(history[-length - 1:-1], test[field + "_list"][row, :length].numpy())


def test_scores_come_from_the_saved_weights(recommender, saved):
    rows = recommender.recommend(USERS, topk=5)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5] * len(USERS)
    model = saved[1]
    for i, token in enumerate(USERS):
        (uid,) = recommender.user_ids([token])
        recent = torch.from_numpy(recommender.histories[uid][-recommender.config["MAX_ITEM_LIST_LENGTH"]:])
        seq = torch.zeros(1, recommender.config["MAX_ITEM_LIST_LENGTH"], dtype=torch.long)
        seq[0, :len(recent)] = recent
        with torch.no_grad():
            scores = model.full_sort_predict({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: torch.tensor([len(recent)])})[0]
        scores[0] = -torch.inf
        expected = [str(recommender.dataset.field2id_token[recommender.iid_field][j]) for j in scores.topk(5).indices]
        assert [r["item_id"] for r in rows[5 * i:5 * i + 5]] == expected
        assert all(r["user_id"] == token for r in rows[5 * i:5 * i + 5])


def test_exclude_seen_and_titles(recommender):
    rows = recommender.recommend(USERS, topk=20, exclude_seen=True)
    tokens = recommender.dataset.field2id_token[recommender.iid_field]
    for token in USERS:
        (uid,) = recommender.user_ids([token])
        seen = {str(tokens[i]) for i in recommender.histories[uid]}
        mine = [r["item_id"] for r in rows if r["user_id"] == token]
        assert len(mine) == 20 and not seen & set(mine) and "[PAD]" not in mine
    assert recommender.titles["1"] == "Toy Story" and recommender.titles["50"] == "Star Wars"
    assert all(r["title"] == recommender.titles[r["item_id"]] for r in rows)


def test_unknown_users_are_named(recommender):
    with pytest.raises(UnknownUsersError, match=r"unknown user\(s\) 99999, abc\b") as info:
        recommender.recommend(["1", "99999", "abc"], topk=3)
    assert info.value.users == ["99999", "abc"]


def test_command_line_prints_and_writes_csv(saved, tmp_path, capsys):
    out = tmp_path / "recs.csv"
    assert console(["recommend", f"--checkpoint={saved[0]}", "--users=1,7", "--topk=3", "--exclude_seen",
                    f"--out={out}"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(printed) == len(rows) == 6
    assert [line.split("\t") for line in printed] == [[r["user_id"], r["rank"], r["item_id"], r["title"]]
                                                      for r in rows]
    assert console(["recommend", f"--checkpoint={saved[0]}", "--users=1,424242"]) == 2
    assert "recbole-hybrid recommend: error: unknown user(s) 424242" in capsys.readouterr().err
    assert console(["recommend", f"--checkpoint={tmp_path / 'missing.pth'}", "--users=1"]) == 2
    assert "missing.pth not found" in capsys.readouterr().err


def test_the_recommender_scores_with_the_fused_layers_its_config_asks_for(recommender):
    from recbole_hybrid.model.fast_layers import FusedFeedForward, FusedMultiHeadAttention

    assert recommender.config["fused_layers"] is True
    assert {FusedMultiHeadAttention, FusedFeedForward} <= {type(m) for m in recommender.model.modules()}
