"""Paired significance tests on planted per-user differences."""

from __future__ import annotations

import numpy as np
import pytest

from recbole_hybrid.analysis.stats import bootstrap_mean_ci, holm, paired_tests


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


def test_holm_on_a_hand_checked_family():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06: monotone)
    assert holm(np.array([0.01, 0.04, 0.03, 0.005])).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(np.array([0.5, 0.6])).tolist() == [1.0, 1.0]  # capped at 1
    assert holm(np.array([0.02])).tolist() == [0.02]  # one test: unchanged
    assert holm(np.array([0.01, 0.01])).tolist() == [0.02, 0.02]  # ties get the same value
    with pytest.raises(ValueError, match="p-values in \\[0, 1\\]"):
        holm(np.array([0.1, np.nan]))


def _run(model: str, seed: int, test_rank: np.ndarray):
    from recbole_hybrid.analysis.runs import Run

    users = np.arange(1, len(test_rank) + 1)
    return Run({"model": model, "seed": seed, "run_id": f"{model}-{seed}"},
               {"test_user_id": users, "test_history_length": users % 40, "test_rank": test_rank,
                "test_rank_filter_seen": test_rank}, None)


def test_significance_from_ranks_per_seed_and_pooled_over_users():
    from recbole_hybrid.analysis.tables import significance

    rng = np.random.default_rng(4)
    runs = []
    for seed in (1, 2):
        base = rng.integers(1, 200, 400)
        runs += [_run("SASRec", seed, base),
                 _run("HybridDiscrete", seed, np.maximum(base // 4, 1)),  # planted: every target ranked higher
                 _run("HybridFixed", seed, base.copy())]  # planted: no difference at all
    table = significance(runs, n_boot=300).set_index(["model", "candidates", "seeds"])
    better = table.loc[("HybridDiscrete", "all_items")]
    assert list(better.index) == ["1", "2", "pooled"]
    assert (better["n"] == 400).all()  # pooled: users averaged over seeds, not 800 stacked pairs
    assert better.loc["pooled", "mean_diff"] == pytest.approx(better.loc[["1", "2"], "mean_diff"].mean())
    assert (better["t_p"] < 1e-3).all() and (better["ci_low"] > 0).all()
    same = table.loc[("HybridFixed", "all_items")]
    assert (same["t_p"] == 1).all() and (same["wilcoxon_p"] == 1).all() and (same["mean_diff"] == 0).all()
