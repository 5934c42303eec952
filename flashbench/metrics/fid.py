"""FID on video frames (docs/protocol.md, section 4).

Frames 1..N-1 of each video (frame 0 is the conditioning image), resized with clean-fid's
``clean`` mode (PIL bicubic per channel on float 0..255 to 299x299, clipped, not
re-quantised), InceptionV3 pool3 features, float64 streaming statistics, unbiased
covariance, Fréchet distance in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


FID_SIZE = 299


def fid_frame_indices(num_frames: int, skip_first: bool = True, stride: int = 1) -> np.ndarray:
    """Indices of the frames that enter FID: ``skip_first`` drops the conditioning frame 0."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return np.arange(1 if skip_first else 0, num_frames, stride, dtype=np.int64)


def _check_uint8_frames(frames: Any, what: str = "frames") -> np.ndarray:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"{what}: expected uint8 (N, H, W, 3) on 0..255, got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what}: expected shape (N, H, W, 3), got {frames.shape}")
    return frames


_RESIZER = None


def _resizer():
    """clean-fid's own ``clean`` resizer (PIL float bicubic per channel, clip, no quantisation)."""
    global _RESIZER
    if _RESIZER is None:
        from cleanfid.resize import build_resizer

        _RESIZER = build_resizer("clean")
    return _RESIZER


def clean_resize(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, 299, 299) on 0..255, clean-fid ``clean`` mode."""
    frames = _check_uint8_frames(frames)
    fn = _resizer()
    out = np.empty((frames.shape[0], FID_SIZE, FID_SIZE, 3), dtype=np.float32)
    for i, f in enumerate(frames):
        out[i] = fn(f)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def fid_features(extractor: Any, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Inception features of uint8 (N, H, W, 3) frames as float64 (N, D)."""
    frames = _check_uint8_frames(frames)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dim = getattr(extractor, "dim", None) or getattr(getattr(extractor, "info", None), "dim", None)
    chunks = []
    for start in range(0, frames.shape[0], batch_size):
        feats = extractor(clean_resize(frames[start:start + batch_size]))
        chunks.append(feats.detach().cpu().numpy().astype(np.float64))
    if not chunks:
        return np.zeros((0, int(dim or 2048)), dtype=np.float64)
    return np.concatenate(chunks, axis=0)
