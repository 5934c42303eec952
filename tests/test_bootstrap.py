"""Percentile bootstrap intervals over videos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from flashbench.report.bootstrap import bootstrap_ci


@pytest.mark.parametrize("n,seed,level", [(57, 3, 0.95), (600, 0, 0.9), (2, 7, 0.95)])
def test_matches_scipy_percentile_bootstrap(n, seed, level):
    # Reference: scipy.stats.bootstrap(method="percentile") with the same generator draws the
    # same (n_boot, n) index matrix; intervals agree to ~1e-14 relative (scipy 1.17.1).
    x = np.random.default_rng(100 + n).uniform(0.0, 100.0, n)
    ours = bootstrap_ci(x, n_boot=1000, level=level, seed=seed)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=1000, confidence_level=level, method="percentile",
        rng=np.random.default_rng(seed), vectorized=True,
    ).confidence_interval
    assert ours[0] == pytest.approx(ref.low, rel=1e-12)
    assert ours[1] == pytest.approx(ref.high, rel=1e-12)


def test_deterministic_per_seed_and_block_size():
    x = np.random.default_rng(1).normal(60.0, 10.0, 123)
    a = bootstrap_ci(x, seed=5)
    assert bootstrap_ci(x, seed=5) == a
    # Drawing the replicates in small blocks gives the identical interval.
    assert bootstrap_ci(x, seed=5, _block_elements=200) == a
    assert bootstrap_ci(x, seed=6) != a


def test_nans_ignored():
    x = np.random.default_rng(2).uniform(0, 1, 40)
    with_nans = np.concatenate([x[:10], [np.nan, np.nan], x[10:], [np.nan]])
    assert bootstrap_ci(with_nans, seed=1) == bootstrap_ci(x, seed=1)


@pytest.mark.parametrize("values", [[], [0.5], [np.nan, 0.3], [np.nan, np.nan, np.nan]])
def test_too_few_values_gives_none(values):
    assert bootstrap_ci(values) is None


def test_constant_values_collapse():
    assert bootstrap_ci([0.7] * 20) == pytest.approx((0.7, 0.7))


def test_interval_brackets_mean_and_widens_with_level():
    x = np.random.default_rng(3).beta(5, 3, 80)
    lo80, hi80 = bootstrap_ci(x, level=0.8)
    lo99, hi99 = bootstrap_ci(x, level=0.99)
    assert lo99 < lo80 < x.mean() < hi80 < hi99


def test_coverage_close_to_nominal():
    # 200 samples of 30 normal scores: a 95% percentile interval should contain the true
    # mean about 95% of the time (slightly less for small n is the known behaviour).
    rng = np.random.default_rng(11)
    hits = 0
    for i in range(200):
        x = rng.normal(50.0, 8.0, 30)
        lo, hi = bootstrap_ci(x, n_boot=300, seed=i)
        hits += lo <= 50.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="infinite"):
        bootstrap_ci([1.0, math.inf])
