"""Percentile bootstrap confidence intervals of a mean over videos (IoU-like scores).

Resampling is over videos: each bootstrap replicate draws ``n`` videos with replacement and
takes their mean. The interval is the pair of ``(1 - level) / 2`` and ``1 - (1 - level) / 2``
quantiles (linear interpolation) of the replicate means. The index draws match
``scipy.stats.bootstrap(..., method="percentile", vectorized=True)`` with the same
``numpy.random.default_rng(seed)``, which the tests check to the digit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Upper bound on resampled elements held in memory at once; replicates are drawn in
# consecutive row blocks from one generator, so the result does not depend on it.
_MAX_BLOCK_ELEMENTS = 1 << 22


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    *,
    _block_elements: int = _MAX_BLOCK_ELEMENTS,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval ``(lo, hi)`` of the mean of ``values``.

    NaNs are dropped first (a video without a score does not enter the mean). Returns
    ``None`` when fewer than two values remain, since no spread can be estimated. The same
    ``seed`` always gives the same interval.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    n = x.size
    if n < 2:
        return None
    if np.isinf(x).any():
        raise ValueError("values contain an infinite score; per-video scores must be finite or NaN")
    rng = np.random.default_rng(seed)
    rows = max(1, _block_elements // n)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, (stop - start, n))
        means[start:stop] = x[idx].mean(axis=-1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)
