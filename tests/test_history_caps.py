"""History caps (``eval_history_caps``): every test user's input cut to its last k items, by brute force.

A capped rank must equal the rank of the same model (same weights, same item graph) on a dataset whose test rows
hold only the last k items: once with the user's interactions truly dropped (RecBole's own split then builds the
short user's row), and once with RecBole's rows built at ``MAX_ITEM_LIST_LENGTH = k``. A run without caps writes
the record and ranks it wrote before; bad caps are refused by name before any data loads.
"""

from __future__ import annotations

import functools
import json
import shutil

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.model.general_recommender import BPR

from tests.conftest import TINY
from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.quick_start.caps import add_history_caps
from recbole_hybrid.utils.compat import bare_argv, init_seed
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.utils.errors import ConfigError
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.data.history_caps import cap_history, check_history_caps
from recbole_hybrid.utils.records import caps_in_ranks
from recbole_hybrid.utils.records import load_checkpoint, load_ranks
from recbole_hybrid.quick_start.runner import load_data, run_experiment
from recbole_hybrid.analysis.runs import AnalysisError

MODELS = ["SASRec", *sorted(HYBRID_MODELS)]
#: Caps checked on a truly truncated dataset: k history items and the target keep a user's test row only for
#: k >= 3 (RecBole's leave-one-out puts a user's only one or two rows in train and validation first).
DROPPED_CAPS = (3, 7)
#: Caps checked on RecBole's rows at MAX_ITEM_LIST_LENGTH = k (every k, the smallest included).
ROW_CAPS = (1, 2)
USERS = 25  # users truly truncated per cap (those with the longest histories)


def _config(model: str, **extra):
    with bare_argv():
        return build_config(model, "ml-100k", [], {**TINY, "train_mode": "prefix", "graph_cache_dir": "", **extra})


@pytest.fixture(scope="module")
def data():
    config = _config("SASRec")
    return config, *load_data(config)


def _truncated(config, users: np.ndarray, k: int):
    """ml-100k's ``(train, valid, test)`` loaders with each of ``users`` keeping only its last ``k`` items before
    the test target (and the target); every other user as it was. Internal ids are those of the full dataset."""
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    uid = dataset.uid_field
    feat = dataset.inter_feat.sort_values([uid, dataset.time_field], kind="stable")
    position_from_end = feat.groupby(uid).cumcount(ascending=False)  # 0: the test target
    dataset.inter_feat = feat[~feat[uid].isin(users) | (position_from_end <= k)].reset_index(drop=True)
    return data_preparation(config, dataset)


def _model(name: str, train):
    config = _config(name)
    init_seed(config["seed"], config["reproducibility"])
    model = resolve_model(name)(config, train.dataset)
    generator = torch.Generator().manual_seed(0)
    for p in model.parameters():  # random, non-trivial weights: the learned a(L) off its flat start too
        p.data.normal_(0, 0.3, generator=generator)
    return model.eval()


def _ranks_by_user(ev) -> dict[int, tuple[int, int]]:
    return {int(u): (int(r), int(f)) for u, r, f in zip(ev.user_id, ev.rank, ev.rank_filter_seen)}


@pytest.mark.parametrize("name", MODELS)
def test_capped_rank_equals_the_rank_of_a_truly_truncated_user(data, name):
    config, _, train, valid, test = data
    model = _model(name, train)
    seen = SeenItems.from_datasets([train.dataset, valid._dataset], test._dataset)
    users = np.argsort(-seen.length, kind="stable")[:USERS]  # the longest histories: every cap cuts them
    assert seen.length[users].min() > max(DROPPED_CAPS)
    for k in DROPPED_CAPS:
        capped = _ranks_by_user(evaluate(model, test, seen, "cpu", history_cap=k))
        train_k, valid_k, test_k = _truncated(config, users, k)
        seen_k = SeenItems.from_datasets([train_k.dataset, valid_k._dataset], test_k._dataset)
        assert (seen_k.length[users] == k).all()  # these users' histories really are k items now
        truth = _ranks_by_user(evaluate(model, test_k, seen_k, "cpu"))
        assert all(capped[int(u)] == truth[int(u)] for u in users), (name, k)


def _brute_ranks(model, loader) -> dict[int, tuple[int, int, int]]:
    """Per user: the rank of the target among all items but 0, then without the row's visible items, and the
    row's length, from ``full_sort_predict`` on RecBole's own rows (no chunking, no ``evaluation`` helpers)."""
    dataset = loader._dataset
    seq_field = dataset.iid_field + dataset.config["LIST_SUFFIX"]
    out = {}
    with torch.no_grad():
        for interaction, _, _, _ in loader:
            scores = model.full_sort_predict(interaction).view(len(interaction), -1)
            targets = interaction[dataset.iid_field]
            ahead = scores >= scores[torch.arange(len(targets)), targets].unsqueeze(1)
            ahead[:, 0] = False
            ahead[torch.arange(len(targets)), targets] = False
            visible = torch.zeros_like(ahead)
            for row, items in enumerate(interaction[seq_field].tolist()):
                visible[row, [i for i in items if i]] = True
            for row in range(len(targets)):
                out[int(interaction[dataset.uid_field][row])] = (
                    1 + int(ahead[row].sum()), 1 + int((ahead[row] & ~visible[row]).sum()),
                    int(interaction[dataset.config["ITEM_LIST_LENGTH_FIELD"]][row]))
    return out


@functools.lru_cache(maxsize=None)
def _rows_at_length(k: int):
    """RecBole's ml-100k test loader with rows of at most ``k`` items (``MAX_ITEM_LIST_LENGTH = k``)."""
    return load_data(_config("SASRec", MAX_ITEM_LIST_LENGTH=k))[3]


@pytest.mark.parametrize("name", MODELS)
def test_capped_rank_equals_recboles_rows_at_that_length(data, name):
    _, _, train, valid, test = data
    model = _model(name, train)
    seen = SeenItems.from_datasets([train.dataset, valid._dataset], test._dataset)
    for k in ROW_CAPS:
        ev = evaluate(model, test, seen, "cpu", history_cap=k)
        truth = _brute_ranks(model, _rows_at_length(k))
        assert {u for u, *_ in truth.items()} == set(ev.user_id.tolist())
        assert all(length == min(k, seen.length[u]) for u, (_, _, length) in truth.items())
        got = {int(u): (int(r), int(f)) for u, r, f in zip(ev.user_id, ev.rank, ev.rank_filter_seen)}
        assert all(got[u] == truth[u][:2] for u in truth), (name, k)
        # the whole-history set only ever removes more candidates than the visible one
        assert (ev.rank_filter_history <= ev.rank_filter_seen).all() and (ev.rank_filter_seen <= ev.rank).all()


def test_a_cap_at_the_length_limit_gives_the_uncapped_test(data):
    _, _, train, valid, test = data
    model = _model("HybridDiscrete", train)
    seen = SeenItems.from_datasets([train.dataset, valid._dataset], test._dataset)
    full = evaluate(model, test, seen, "cpu")
    at_limit = evaluate(model, test, seen, "cpu", history_cap=TINY["MAX_ITEM_LIST_LENGTH"])
    assert np.array_equal(full.rank, at_limit.rank)
    assert np.array_equal(full.rank_filter_seen, at_limit.rank_filter_history)


def test_cap_history_keeps_the_last_k_items_left_aligned():
    seq = torch.tensor([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0], [7, 8, 9, 10, 11]])
    cut, kept = cap_history(seq, torch.tensor([4, 2, 5]), 3)
    assert cut.tolist() == [[2, 3, 4], [5, 6, 0], [9, 10, 11]] and kept.tolist() == [3, 2, 3]
    cut, kept = cap_history(seq, torch.tensor([4, 2, 5]), 1)
    assert cut.tolist() == [[4], [6], [11]] and kept.tolist() == [1, 1, 1]


@pytest.mark.parametrize("caps, message", [
    ([0, 2], "0 is not an integer >= 1"), ([-1], "-1 is not an integer >= 1"), ([1.5], "1.5 is not an integer"),
    (["3"], "'3' is not an integer"), ([True], "True is not an integer"), ([2, 5, 2], "cap 2 is repeated"),
    ([1, 21], "cap 21 is above MAX_ITEM_LIST_LENGTH=20"), (3, "must be a list of integers"),
])
def test_impossible_caps_are_refused_by_name_before_data_loads(caps, message):
    with pytest.raises(ConfigError, match="eval_history_caps") as err:
        _config("HybridDiscrete", eval_history_caps=caps)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_caps_on_a_model_that_is_not_sequential_are_refused():
    with pytest.raises(ConfigError, match="BPR is not a sequential model"):
        check_history_caps([1, 2], BPR, 50)
    assert check_history_caps([], BPR, 50) == []


def _run(folder, caps):
    settings = {**TINY, "train_mode": "sequence", "train_batch_size": 64, "seed": 11, "eval_history_caps": caps,
                "results_dir": str(folder / "runs"), "checkpoint_dir": str(folder / "saved"), "graph_cache_dir": ""}
    record = run_experiment("HybridDiscrete", "ml-100k", [], settings, run_id="r", log=lambda _: None)
    return record, load_ranks(folder / "runs" / "r.ranks.npz")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same one-epoch run twice: without caps and with caps 1 and 4."""
    root = tmp_path_factory.mktemp("caps")
    return {"plain": (root / "plain", *_run(root / "plain", [])),
            "capped": (root / "capped", *_run(root / "capped", [1, 4]))}


#: Record keys that differ between any two runs: when and how long.
TIMING = ("date", "wall_time_s", "train_time_s", "sessions", "command")


def _comparable(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in (*TIMING, "checkpoint", "history_caps", "config")}
    out["epochs"] = [{k: v for k, v in e.items() if not k.endswith("time_s")} for e in record["epochs"]]
    out["config"] = {k: v for k, v in record["config"].items()
                     if k not in ("eval_history_caps", "results_dir", "checkpoint_dir")}
    return out


def test_caps_change_nothing_else_and_a_run_without_them_writes_what_it_wrote(runs):
    _, plain_record, plain_ranks = runs["plain"]
    _, capped_record, capped_ranks = runs["capped"]
    assert "history_caps" not in plain_record and caps_in_ranks(plain_ranks) == []
    assert _comparable(plain_record) == _comparable(capped_record)
    assert plain_record["fingerprint"] == capped_record["fingerprint"]  # caps do not define a run
    # the arrays a run wrote before caps existed: the same keys and the same values
    assert sorted(plain_ranks) == sorted(k for k in capped_ranks if not k.startswith("test_cap"))
    assert all(np.array_equal(plain_ranks[k], capped_ranks[k]) for k in plain_ranks)
    caps = capped_record["history_caps"]
    assert caps["caps"] == [1, 4] and caps_in_ranks(capped_ranks) == [1, 4] and caps["time_s"] > 0
    for k in ("1", "4"):
        assert set(caps["test"][k]) == set(capped_record["test"])
        assert caps["test_filter_history"][k]["ndcg@10"] >= caps["test_filter_seen"][k]["ndcg@10"] - 1e-12


def _copy_run(folder, to):
    shutil.copytree(folder, to)
    return to / "runs" / "r.json"


def test_caps_added_from_the_saved_model_equal_caps_of_the_run(runs, tmp_path):
    folder, plain_record, _ = runs["plain"]
    _, capped_record, capped_ranks = runs["capped"]
    path = _copy_run(folder, tmp_path / "plain")
    add_history_caps([path], [1, 4], checkpoint_dir=folder / "saved", log=lambda _: None, command=["test"])
    added, ranks = json.loads(path.read_text()), load_ranks(path.with_name("r.ranks.npz"))
    for key in ("test", "test_filter_seen", "test_filter_history"):
        assert added["history_caps"][key] == capped_record["history_caps"][key]
    assert all(np.array_equal(ranks[k], capped_ranks[k]) for k in capped_ranks)
    assert added["history_caps"]["added"]["command"] == ["test"]
    assert {k: v for k, v in added.items() if k != "history_caps"} == plain_record  # nothing else changed


@pytest.mark.parametrize("change, message", [
    ("settings", "saved by a run with other settings"), ("weights", "does not give back the record's test ranks"),
    ("missing", "is not here"),
])
def test_caps_are_not_added_from_another_model(runs, tmp_path, change, message):
    folder, _, _ = runs["plain"]
    path = _copy_run(folder, tmp_path / "run")
    best = tmp_path / "run" / "saved" / "r" / "best.pth"
    saved = load_checkpoint(best)
    if change == "settings":
        saved["config"]["hidden_dropout_prob"] = 0.3
    else:
        saved["state_dict"]["item_embedding.weight"] = saved["state_dict"]["item_embedding.weight"].flip(1)
    torch.save(saved, best)
    if change == "missing":
        best.unlink()
    before = path.read_text(), path.with_name("r.ranks.npz").read_bytes()
    with pytest.raises(AnalysisError, match=message):
        add_history_caps([path], [1], checkpoint_dir=tmp_path / "run" / "saved", log=lambda _: None)
    assert before == (path.read_text(), path.with_name("r.ranks.npz").read_bytes())  # nothing written


def test_a_retrained_model_may_differ_by_one_rank_for_a_few_users_and_the_record_says_so(tmp_path):
    from types import SimpleNamespace

    from recbole_hybrid.quick_start.caps import _check_same_test

    users = np.arange(1, 301)
    saved = {"test_user_id": users, "test_rank": np.arange(300) + 1, "test_rank_filter_seen": np.arange(300) + 1}
    near = SimpleNamespace(user_id=users, rank=saved["test_rank"].copy(), rank_filter_seen=saved["test_rank"].copy())
    near.rank[[4, 9]] += 1  # 2 of 300 users: within 1% (3 users)
    with pytest.raises(AnalysisError, match=r"2 of 300 users' test_rank differ, by up to 1.*add --retrained"):
        _check_same_test(tmp_path / "r.json", tmp_path / "best.pth", saved, near)
    assert _check_same_test(tmp_path / "r.json", tmp_path / "best.pth", saved, near, retrained=True) == {
        "test_rank": 2, "test_rank_filter_seen": 0}
    far = SimpleNamespace(user_id=users, rank=saved["test_rank"] + (users == 7) * 2,
                          rank_filter_seen=saved["test_rank"].copy())
    with pytest.raises(AnalysisError, match="by up to 2"):
        _check_same_test(tmp_path / "r.json", tmp_path / "best.pth", saved, far, retrained=True)
    many = SimpleNamespace(user_id=users, rank=saved["test_rank"] + (users % 50 == 0),
                           rank_filter_seen=saved["test_rank"].copy())  # 6 of 300 users
    with pytest.raises(AnalysisError, match="6 of 300"):
        _check_same_test(tmp_path / "r.json", tmp_path / "best.pth", saved, many, retrained=True)
