"""Paired significance tests on planted per-user differences."""

from __future__ import annotations

import numpy as np
import pytest

from recbole_hybrid.stats import bootstrap_mean_ci, paired_tests


def test_a_planted_difference_is_found():
    rng = np.random.default_rng(0)
    baseline = rng.uniform(0, 1, 2000)
    model = baseline + 0.02 + rng.normal(0, 0.05, 2000)  # every user a little better, with noise
    result = paired_tests(model, baseline, n_boot=2000)
    assert result["mean_diff"] == pytest.approx(0.02, abs=0.005)
    assert result["t_p"] < 1e-6 and result["wilcoxon_p"] < 1e-6
    assert 0 < result["ci_low"] < result["mean_diff"] < result["ci_high"]


def test_an_all_zero_difference_is_not_significant():
    values = np.random.default_rng(1).uniform(0, 1, 500)
    result = paired_tests(values, values.copy(), n_boot=500)
    assert result["mean_diff"] == 0 and result["t_p"] == 1 and result["wilcoxon_p"] == 1
    assert result["ci_low"] == result["ci_high"] == 0


def test_symmetric_noise_is_not_significant():
    rng = np.random.default_rng(2)
    baseline = rng.uniform(0, 1, 1000)
    noise = rng.normal(0, 0.1, 500)
    model = baseline + np.concatenate([noise, -noise])  # mean difference exactly zero, nonzero per user
    result = paired_tests(model, baseline, n_boot=2000)
    assert result["t_p"] > 0.5 and result["wilcoxon_p"] > 0.5
    assert result["ci_low"] < 0 < result["ci_high"]


def test_bootstrap_interval_is_reproducible_and_narrows_with_more_users():
    rng = np.random.default_rng(3)
    small, large = rng.normal(0, 1, 100), rng.normal(0, 1, 10_000)
    assert bootstrap_mean_ci(small, 1000, seed=5) == bootstrap_mean_ci(small, 1000, seed=5)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(bootstrap_mean_ci(large, 1000)) < width(bootstrap_mean_ci(small, 1000)) / 5


def test_unpaired_input_is_refused():
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(4,\)"):
        paired_tests(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least 2 users"):
        paired_tests(np.zeros(1), np.ones(1))
