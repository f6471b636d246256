"""The one length-group rule, as the models, the dataset check and the analysis use it."""

from __future__ import annotations

import numpy as np
import torch

from recbole_hybrid.model.layers import length_bin
from recbole_hybrid.data.lengths import GROUPS, bin_index, group_counts, group_names, group_ranges

EDGES = [1, 10, 11, 30, 31, 200]  # each side of L_short=10 and L_long=30


def test_edges_belong_to_the_lower_group_for_numpy_and_torch_alike():
    expected = [0, 0, 1, 1, 2, 2]
    assert bin_index(np.array(EDGES), 10, 30).tolist() == expected
    assert bin_index(torch.tensor(EDGES), 10, 30).tolist() == expected
    assert list(group_names(np.array(EDGES), 10, 30)) == ["short", "short", "mid", "mid", "long", "long"]
    assert group_counts(np.array(EDGES), 10, 30) == {"short": 2, "mid": 2, "long": 2}
    assert group_counts(np.array([3, 4]), 10, 30) == {"short": 2, "mid": 0, "long": 0}  # empty groups count 0
    assert list(group_ranges(10, 30).values()) == ["L<=10", "10<L<=30", "L>30"]
    assert tuple(group_ranges(10, 30)) == GROUPS


def test_the_models_length_bin_is_the_same_rule_and_stays_long():
    lengths = torch.tensor(EDGES)
    bins = length_bin(lengths, 10, 30)
    assert bins.dtype == torch.long and bins.tolist() == bin_index(np.array(EDGES), 10, 30).tolist()
