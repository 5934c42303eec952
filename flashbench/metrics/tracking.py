"""Mask and colour helpers shared by the weight-free trackers of :mod:`flashbench.metrics.segment`
and :mod:`flashbench.metrics.flow_tracker`: prompt checks, mask geometry, colour histograms."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def check_inputs(frames: np.ndarray, masks: np.ndarray | None, boxes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, h, w, _ = frames.shape
    if masks is not None:
        masks = np.asarray(masks).astype(bool, copy=False)
        if masks.ndim != 3 or masks.shape[1:] != (h, w):
            raise ValueError(f"prompt masks must be (K, {h}, {w}) bool, got {masks.shape}")
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"prompt boxes must be (K, 4) x0 y0 x1 y1, got {boxes.shape}")
    if masks is None and boxes is None:
        raise ValueError("give frame-0 prompt masks or boxes")
    return frames, masks, boxes


def centroid(m: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return np.zeros(2)
    return np.array([xs.mean(), ys.mean()])


def shift_mask(m: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate a mask by whole pixels, filling with False."""
    h, w = m.shape
    out = np.zeros_like(m)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = m[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def search_window(prior: np.ndarray, radius: float) -> tuple[np.ndarray | None, tuple[int, int, int, int]]:
    """Pixels within ``radius`` of ``prior``, computed on the prior's padded bounding crop."""
    h, w = prior.shape
    ys = np.flatnonzero(prior.any(axis=1))
    if ys.size == 0:
        return None, (0, 0, 0, 0)
    xs = np.flatnonzero(prior.any(axis=0))
    r = int(math.ceil(radius))
    y0, y1 = max(ys[0] - r, 0), min(ys[-1] + r + 1, h)
    x0, x1 = max(xs[0] - r, 0), min(xs[-1] + r + 1, w)
    crop = prior[y0:y1, x0:x1]
    dist = ndimage.distance_transform_edt(~crop)
    return dist <= radius, (y0, y1, x0, x1)


def largest_component(m: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(m)
    if n <= 1:
        return m
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (1 + int(sizes.argmax()))


def keep_connected(m: np.ndarray, prior: np.ndarray | None, min_keep: float) -> np.ndarray:
    """Drop stray parts: keep components touching the moved previous mask (else the largest),
    and any other component at least ``min_keep`` of the largest kept one."""
    lab, n = ndimage.label(m)
    if n <= 1:
        return m
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    touching = np.unique(lab[prior & m]) if prior is not None else np.array([], dtype=int)
    touching = touching[touching > 0]
    if touching.size == 0:
        touching = np.array([1 + int(sizes[1:].argmax())])
    keep = set(int(i) for i in touching)
    floor = min_keep * sizes[list(keep)].max()
    keep |= {i for i in range(1, n + 1) if sizes[i] >= floor}
    return np.isin(lab, list(keep))


def quantise(frames: np.ndarray, bits: int) -> np.ndarray:
    """RGB uint8 -> int32 colour-bin index with ``bits`` levels per channel."""
    s = 8 - bits
    f = frames >> s
    return ((f[..., 0].astype(np.int32) << (2 * bits)) | (f[..., 1].astype(np.int32) << bits) | f[..., 2]).astype(np.int32)


def colour_histogram(q: np.ndarray, bits: int, sigma: float) -> np.ndarray:
    """Normalised colour histogram of quantised pixels, Gaussian-smoothed over neighbouring bins
    (tolerates colour drift); all zeros for no pixels."""
    n = 1 << (3 * bits)
    h = np.bincount(q.ravel(), minlength=n).astype(np.float64)
    side = 1 << bits
    h = ndimage.gaussian_filter(h.reshape(side, side, side), sigma, mode="constant").ravel()
    total = h.sum()
    return h / total if total > 0 else h
