"""Per-group and overall aggregates from per-video scores and features (PROTOCOL 4-6, 8).

A pure function of its inputs, fed in manifest order, so the same per-video files give the
same numbers to the bit, however many processes produced them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .data.schema import GROUPS


@dataclass
class VideoOutcome:
    """What the metric phase knows about one video."""

    video_id: str
    group: str
    status: str  # "ok" or "failed"
    mask_iou: float = math.nan  # fractions 0..1; NaN = nothing scorable
    box_iou: float = math.nan
    coverage: float = math.nan
    centroid_error: float = math.nan
    ceiling_mask_iou: float = math.nan
    ceiling_box_iou: float = math.nan
    fid_real: np.ndarray | None = None  # (N, D) float32 features
    fid_fake: np.ndarray | None = None
    fvd_real: np.ndarray | None = None  # (1, D)
    fvd_fake: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def iou_for_mean(self) -> tuple[float, float, float]:
        """A failed generation scores 0 (counted, never dropped)."""
        if self.status != "ok":
            return 0.0, 0.0, 0.0
        return self.mask_iou, self.box_iou, self.coverage


def _stats(arrays: Iterable[np.ndarray | None]):
    from .metrics.frechet import FeatureStats

    stats = None
    for a in arrays:
        if a is None or a.size == 0:
            continue
        if stats is None:
            stats = FeatureStats.empty(a.shape[1])
        stats.update(np.asarray(a, dtype=np.float64))
    return stats


def _nanmean(values: Sequence[float]) -> float | None:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else None


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def summarise(outcomes: Sequence[VideoOutcome], n_expected: int, *, bootstrap: int = 1000, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """One GROUP_RESULT dict (see docs/results-format.md) and its feature statistics."""
    from .metrics.frechet import fid_from_stats, fvd_from_stats
    from .report.bootstrap import bootstrap_ci

    ok = [o for o in outcomes if o.status == "ok"]
    stats = {
        "fid_real": _stats(o.fid_real for o in ok),
        "fid_fake": _stats(o.fid_fake for o in ok),
        "fvd_real": _stats(o.fvd_real for o in ok),
        "fvd_fake": _stats(o.fvd_fake for o in ok),
    }
    fid = _distance(fid_from_stats, stats["fid_real"], stats["fid_fake"])
    fvd = _distance(fvd_from_stats, stats["fvd_real"], stats["fvd_fake"])
    notes = [
        f"{name}: {st.n} samples for {st.dim}-d features (rank-deficient covariance: the estimate is biased)"
        for name, st in (("FID", stats["fid_fake"]), ("FVD", stats["fvd_fake"]))
        if st is not None and st.n <= st.dim
    ]
    ious = [o.iou_for_mean() for o in outcomes]
    mask = [m for m, _, _ in ious]
    box = [b for _, b, _ in ious]
    cov = [c for _, _, c in ious]

    def ci(values: Sequence[float]):
        vals = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
        if vals.size < 2 or bootstrap <= 0:
            return None
        lo, hi = bootstrap_ci(vals, n_boot=bootstrap, seed=seed)
        return [100.0 * lo, 100.0 * hi]

    result = {
        "fid": fid,
        "fvd": fvd,
        "mask_iou": _pct(_nanmean(mask)),
        "box_iou": _pct(_nanmean(box)),
        "mask_iou_ci": ci(mask),
        "box_iou_ci": ci(box),
        "coverage": _pct(_nanmean(cov)),
        "centroid_error": _nanmean([o.centroid_error for o in ok]),
        "n_expected": int(n_expected),
        "n_scored": len(ok),
        "n_failed": len(outcomes) - len(ok),
        "fid_frames": int(stats["fid_fake"].n) if stats["fid_fake"] is not None else 0,
        "fvd_clips": int(stats["fvd_fake"].n) if stats["fvd_fake"] is not None else 0,
    }
    ceiling = {
        "mask_iou": _pct(_nanmean([o.ceiling_mask_iou for o in outcomes])),
        "box_iou": _pct(_nanmean([o.ceiling_box_iou for o in outcomes])),
    }
    return result, {"stats": stats, "ceiling": ceiling, "notes": notes}


def _distance(fn, real, fake) -> float | None:
    """A Fréchet distance, or None when either side has fewer than two samples.

    The small-sample warning is reported once per group in the results (``notes``), not
    raised from here.
    """
    if real is None or fake is None or min(real.n, fake.n) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(real, fake)


def aggregate(outcomes: Sequence[VideoOutcome], expected: dict[str, int], *, bootstrap: int = 1000, seed: int = 0):
    """Results per group (keys of GROUPS present in ``expected``) and overall."""
    groups: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for g in GROUPS:
        if g not in expected:
            continue
        sel = [o for o in outcomes if o.group == g]
        groups[g], extras[g] = summarise(sel, expected[g], bootstrap=bootstrap, seed=seed)
    overall, extras["overall"] = summarise(outcomes, sum(expected.values()), bootstrap=bootstrap, seed=seed)
    return overall, groups, extras
