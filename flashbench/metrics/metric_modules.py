"""torchmetrics wrappers of FID and FVD: float64 sums as states, reduced across processes by summation.

Thin stateful shells over the functional cores in ``fid``, ``fvd`` and ``frechet``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from .fid import _check_uint8_frames, fid_features
from .frechet import FeatureStats, fid_from_stats, fvd_from_stats
from .fvd import fvd_features


class _FrechetMetric(Metric):
    """Shared state handling: float64 sums per side, reduced across processes by summation."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, extractor: Any, dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.extractor = extractor
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(dim, dim, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.dim = dim

    def _add(self, feats: np.ndarray, real: bool) -> None:
        side = "real" if real else "fake"
        x = torch.from_numpy(np.asarray(feats, dtype=np.float64)).to(self.real_sum.device)
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + x.sum(0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + x.T @ x)
        setattr(self, f"{side}_n", getattr(self, f"{side}_n") + x.shape[0])

    def stats(self, real: bool) -> FeatureStats:
        side = "real" if real else "fake"
        return FeatureStats(
            dim=self.dim,
            n=int(getattr(self, f"{side}_n").item()),
            sum=getattr(self, f"{side}_sum").detach().cpu().numpy().copy(),
            outer=getattr(self, f"{side}_outer").detach().cpu().numpy().copy(),
        )


class FID(_FrechetMetric):
    """torchmetrics-style FID over uint8 frames: ``update(frames, real)``, ``compute()``."""

    def __init__(self, extractor: Any, batch_size: int = 32, **kwargs: Any):
        super().__init__(extractor, int(extractor.info.dim), **kwargs)
        self.batch_size = batch_size

    def update(self, frames: Any, real: bool) -> None:  # type: ignore[override]
        self._add(fid_features(self.extractor, _check_uint8_frames(frames), self.batch_size), real)

    def compute(self) -> torch.Tensor:  # type: ignore[override]
        return torch.tensor(fid_from_stats(self.stats(True), self.stats(False)), dtype=torch.float64)


class FVD(_FrechetMetric):
    """torchmetrics-style FVD: ``update(videos, real)`` with clips already selected, ``compute()``."""

    def __init__(self, extractor: Any, batch_size: int = 4, **kwargs: Any):
        super().__init__(extractor, int(extractor.info.dim), **kwargs)
        self.batch_size = batch_size

    def update(self, videos: Any, real: bool) -> None:  # type: ignore[override]
        self._add(fvd_features(self.extractor, videos, self.batch_size), real)

    def compute(self) -> torch.Tensor:  # type: ignore[override]
        return torch.tensor(fvd_from_stats(self.stats(True), self.stats(False)), dtype=torch.float64)
