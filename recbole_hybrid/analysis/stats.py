"""Paired significance tests on per-user metric values: t-test, Wilcoxon signed-rank, paired bootstrap interval;
Holm's correction for a family of tests."""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Users resampled per bootstrap chunk; bounds memory at chunk x n_users indices.
_BOOTSTRAP_CHUNK = 256


def bootstrap_mean_ci(diff: np.ndarray, n_boot: int = 10_000, level: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of ``diff [N]`` under resampling users with replacement."""
    diff = np.asarray(diff, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, _BOOTSTRAP_CHUNK):
        size = min(_BOOTSTRAP_CHUNK, n_boot - start)
        means[start:start + size] = diff[rng.integers(0, len(diff), (size, len(diff)))].mean(1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_tests(a: np.ndarray, b: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Compare per-user values ``a [N]`` with ``b [N]`` of the same users (difference ``a - b``).

    Returns ``n``, ``mean_a``, ``mean_b``, ``mean_diff``, ``t_stat``, ``t_p``, ``wilcoxon_stat``, ``wilcoxon_p``,
    ``ci_low``, ``ci_high`` (paired bootstrap 95% interval of ``mean_diff``). Two-sided p-values. When every
    difference is zero there is no evidence of a difference: both p-values are 1 (scipy's t-test gives NaN there).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be two 1-d arrays of one length, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"paired tests need at least 2 users, got {len(a)}")
    diff = a - b
    out = {"n": len(a), "mean_a": float(a.mean()), "mean_b": float(b.mean()), "mean_diff": float(diff.mean())}
    if not diff.any():
        out.update(t_stat=0.0, t_p=1.0, wilcoxon_stat=0.0, wilcoxon_p=1.0, ci_low=0.0, ci_high=0.0)
        return out
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(diff)  # zero_method "wilcox": users with equal values carry no sign and are dropped
    low, high = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed)
    out.update(t_stat=float(t.statistic), t_p=float(t.pvalue), wilcoxon_stat=float(w.statistic),
               wilcoxon_p=float(w.pvalue), ci_low=low, ci_high=high)
    return out


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues [m]`` for ``m`` tests; adjusted values in the input's order.

    The ``k``-th smallest p-value (``k = 1..m``) becomes ``max over j <= k of min(1, (m - j + 1) p_(j))``:
    rejecting where the adjusted value is below ``level`` controls the family-wise error rate at ``level``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"holm needs a 1-d array of p-values in [0, 1], got {p!r}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted
