"""The list fields nobody reads are freed after the split, for SASRec and the hybrids only; nothing they read moves."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from recbole_hybrid.config import build_config
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.utils.compat import bare_argv


def _load(model: str, tmp_path):
    with bare_argv():
        config = build_config(model, "ml-100k", [], {**TINY, "graph_cache_dir": str(tmp_path / "graph")})
    return load_data(config)


def test_sasrec_and_the_hybrids_keep_only_the_item_list(tmp_path):
    dataset, *splits = _load("HybridDiscrete", tmp_path)
    assert not any(field.endswith("_list") for field in dataset.inter_feat.interaction)
    assert dataset.inter_num > 0 and dataset.item_num > 1  # the counts a run reports stay
    for loader in splits:
        lists = [field for field in loader.dataset.inter_feat.interaction if field.endswith("_list")]
        assert lists == ["item_id_list"]


def test_the_item_lists_and_everything_else_are_unchanged_and_other_models_keep_every_list(tmp_path):
    _, *pruned = _load("SASRec", tmp_path)
    _, *kept = _load("GRU4Rec", tmp_path)  # RecBole's own model: it might read another feature list
    for small, full in zip(pruned, kept):
        ours, theirs = small.dataset.inter_feat.interaction, full.dataset.inter_feat.interaction
        assert {"rating_list", "timestamp_list"} <= set(theirs) and not {"rating_list", "timestamp_list"} & set(ours)
        for field, values in ours.items():
            assert torch.equal(values, theirs[field]), field


@pytest.mark.parametrize("model", ["SASRec", "HybridDiscrete"])
def test_a_pruned_split_still_evaluates(tmp_path, model):
    from recbole_hybrid.config import resolve_model

    _, train, valid, _ = _load(model, tmp_path)
    with bare_argv():
        config = build_config(model, "ml-100k", [], {**TINY, "graph_cache_dir": str(tmp_path / "graph")})
    net = resolve_model(model)(config, train.dataset)
    batch = next(iter(valid))[0]
    assert net.full_sort_predict(batch).shape[0] == len(batch)
