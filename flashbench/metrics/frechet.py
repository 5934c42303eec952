"""Fréchet distance between Gaussians fitted to feature sets (docs/protocol.md, sections 4-5).

Statistics are streamed as float64 sufficient statistics (count, sum, sum of outer
products), so chunks, videos and processes combine by plain addition and the result never
depends on how the data was split. The distance is computed in float64 without
``scipy.linalg.sqrtm``: ``Tr sqrt(S1 S2)`` is the sum of square roots of the eigenvalues of a
symmetric positive semi-definite matrix ``F^T S2 F`` (``S1 = F F^T`` by pivoted Cholesky),
whose eigenvalues ``eigvalsh`` gives stably (see :func:`trace_sqrt_product`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..utils.atomic import atomic_path


@dataclass
class FeatureStats:
    """Streaming sufficient statistics of a feature set, all float64."""

    dim: int
    n: int
    sum: np.ndarray  # (D,)
    outer: np.ndarray  # (D, D), sum of x x^T

    @classmethod
    def empty(cls, dim: int) -> "FeatureStats":
        if dim < 1:
            raise ValueError(f"feature dimension must be >= 1, got {dim}")
        return cls(dim=int(dim), n=0, sum=np.zeros(dim, np.float64), outer=np.zeros((dim, dim), np.float64))

    @classmethod
    def from_features(cls, feats: np.ndarray) -> "FeatureStats":
        feats = np.asarray(feats)
        if feats.ndim != 2:
            raise ValueError(f"features must be (N, D), got shape {feats.shape}")
        stats = cls.empty(feats.shape[1])
        stats.update(feats)
        return stats

    def update(self, feats: np.ndarray) -> None:
        """Add a (N, D) batch of features (converted to float64 before any arithmetic)."""
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be (N, {self.dim}), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or infinite values")
        self.n += int(x.shape[0])
        self.sum += x.sum(axis=0)
        xx = x.T @ x
        # exactly symmetric, so the upper triangle alone stores it without loss (see save)
        self.outer += np.triu(xx) + np.triu(xx, 1).T

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """A new object holding the statistics of both sets."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {self.dim} and {other.dim}")
        return FeatureStats(self.dim, self.n + other.n, self.sum + other.sum, self.outer + other.outer)

    __add__ = merge

    def mean(self) -> np.ndarray:
        if self.n < 1:
            raise ValueError("no features accumulated")
        return self.sum / self.n

    def cov(self, ddof: int = 1) -> np.ndarray:
        """Covariance dividing by ``n - ddof`` (1: unbiased, FID; 0: biased, FVD)."""
        if self.n - ddof < 1:
            raise ValueError(f"need more than {ddof} feature vectors for a covariance with ddof={ddof}, got {self.n}")
        mu = self.mean()
        c = (self.outer - self.n * np.outer(mu, mu)) / (self.n - ddof)
        return 0.5 * (c + c.T)  # exact symmetry for eigh

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"dim": np.int64(self.dim), "n": np.int64(self.n), "sum": self.sum, "outer": self.outer}

    @classmethod
    def from_arrays(cls, d: dict) -> "FeatureStats":
        dim, n = int(d["dim"]), int(d["n"])
        s = np.asarray(d["sum"], dtype=np.float64)
        o = np.asarray(d["outer"], dtype=np.float64)
        if s.shape != (dim,) or o.shape != (dim, dim):
            raise ValueError(f"inconsistent statistics: dim={dim}, sum {s.shape}, outer {o.shape}")
        return cls(dim=dim, n=n, sum=s.copy(), outer=o.copy())

    def to_compact(self) -> dict[str, np.ndarray]:
        """Lossless arrays of less than half the size: ``outer`` is symmetric, so only its upper
        triangle is kept, as little-endian float64 bytes grouped by significance (every value's
        byte 0, then every byte 1, ...), which lets the deflate of ``savez_compressed`` shrink
        the nearly constant sign and exponent bytes."""
        tri = self.outer[np.triu_indices(self.dim)].astype("<f8")
        return {"dim": np.int64(self.dim), "n": np.int64(self.n), "sum": self.sum.astype("<f8"),
                "outer_triu_bytes": tri.view(np.uint8).reshape(-1, 8).T.copy()}

    @classmethod
    def from_compact(cls, d: dict) -> "FeatureStats":
        dim = int(d["dim"])
        packed = np.asarray(d["outer_triu_bytes"], dtype=np.uint8)
        if packed.shape != (8, dim * (dim + 1) // 2):
            raise ValueError(f"inconsistent statistics: dim={dim}, packed triangle {packed.shape}")
        tri = np.ascontiguousarray(packed.T).view("<f8").ravel()
        outer = np.zeros((dim, dim), np.float64)
        rows, cols = np.triu_indices(dim)
        outer[rows, cols] = tri
        outer[cols, rows] = tri
        return cls.from_arrays({"dim": dim, "n": d["n"], "sum": d["sum"], "outer": outer})

    @classmethod
    def from_feature_sets(cls, sets: Sequence[np.ndarray], dim: int) -> "FeatureStats":
        """Statistics of (N_i, D) feature sets added one after another, in the given order."""
        stats = cls.empty(dim)
        for x in sets:
            if len(x):
                stats.update(x)
        return stats

    def save(self, path: str | os.PathLike, feature_sets: Sequence[np.ndarray] | None = None) -> Path:
        """Write a compressed ``.npz`` atomically: the statistics (:meth:`to_compact`), or, when
        ``feature_sets`` (the float32 sets these statistics were summed from, in order) hold
        no more vectors than dimensions, those sets, which then take less room; :meth:`load`
        sums them again in the same order, so both forms load to the same bits."""
        if feature_sets is not None:
            total = sum(len(x) for x in feature_sets)
            if total != self.n:
                raise ValueError(f"the feature sets hold {total} vectors, the statistics {self.n}")
            if total > self.dim or any(np.asarray(x).dtype != np.float32 for x in feature_sets):
                feature_sets = None
        arrays = self.to_compact() if feature_sets is None else {
            "dim": np.int64(self.dim), "counts": np.asarray([len(x) for x in feature_sets], np.int64),
            "features": np.concatenate([np.asarray(x).reshape(-1, self.dim) for x in feature_sets]).astype("<f4"),
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(path) as z:
            if "features" in z.files:
                splits = np.cumsum(z["counts"])[:-1]
                return cls.from_feature_sets(np.split(z["features"].astype(np.float32), splits), int(z["dim"]))
            if "outer_triu_bytes" in z.files:
                return cls.from_compact({k: z[k] for k in ("dim", "n", "sum", "outer_triu_bytes")})
            return cls.from_arrays({k: z[k] for k in ("dim", "n", "sum", "outer")})


def psd_factor(sigma: np.ndarray) -> np.ndarray:
    """A (D, r) factor ``F`` with ``sigma = F F^T``, r = numerical rank.

    Pivoted Cholesky (LAPACK ``dpstrf``, stopping at its default tolerance ``D * eps * max
    diag``) costs O(D^2 r): cheap for the rank-deficient covariances of small sample sets, and
    cheaper than an eigendecomposition at full rank.
    """
    from scipy.linalg import lapack

    d = sigma.shape[0]
    c, piv, rank, info = lapack.dpstrf(np.array(sigma, dtype=np.float64, order="F"), lower=1)
    if info < 0:  # invalid argument: fall back to the eigendecomposition
        w, v = np.linalg.eigh(sigma)
        keep = w > max(float(w[-1]), 0.0) * d * np.finfo(np.float64).eps
        return v[:, keep] * np.sqrt(w[keep])
    factor = np.zeros((d, rank), dtype=np.float64)
    factor[piv - 1] = np.tril(c)[:, :rank]
    return factor


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr sqrt(sigma1 @ sigma2)`` for PSD matrices.

    With ``sigma1 = F F^T`` the non-zero eigenvalues of ``sigma1 @ sigma2`` are those of the
    symmetric PSD (r, r) matrix ``F^T sigma2 F``; their square roots summed give the trace.
    """
    f = psd_factor(sigma1)
    if f.shape[1] == 0:
        return 0.0
    m = f.T @ sigma2 @ f
    ev = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))`` in float64, clamped at 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {s1.shape}, sigma2 {s2.shape}")
    for name, arr in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return max(value, 0.0)


def _check_pair(real: FeatureStats, fake: FeatureStats, what: str) -> None:
    if real.dim != fake.dim:
        raise ValueError(f"{what}: real and fake features differ in dimension ({real.dim} vs {fake.dim})")
    for side, st in (("real", real), ("fake", fake)):
        if st.n < 2:
            raise ValueError(f"{what}: need at least 2 {side} feature vectors, got {st.n}")
        if st.n <= st.dim:
            warnings.warn(
                f"{what}: {st.n} {side} samples for {st.dim}-d features; the covariance is rank-deficient and the "
                f"distance is biased (use more than {st.dim} samples for a stable estimate)",
                RuntimeWarning,
                stacklevel=3,
            )


def fid_from_stats(real: FeatureStats, fake: FeatureStats) -> float:
    """FID: unbiased covariances (divide by n - 1), as clean-fid and torchmetrics."""
    _check_pair(real, fake, "FID")
    return frechet_distance(real.mean(), real.cov(1), fake.mean(), fake.cov(1))


def fvd_from_stats(real: FeatureStats, fake: FeatureStats) -> float:
    """FVD: biased covariances (divide by n), as StyleGAN-V."""
    _check_pair(real, fake, "FVD")
    return frechet_distance(real.mean(), real.cov(0), fake.mean(), fake.cov(0))
