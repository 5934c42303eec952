"""FVD on video clips (docs/protocol.md, section 5).

One clip per video (``uniform16``: 16 frames at ``round(linspace(0, N-1, 16))``, spanning the
whole video; alternatives ``first16`` and ``all``), I3D Kinetics-400 features of uint8
(B, 3, T, H, W) clips, float64 statistics pooled over the whole set (never an average of
per-batch FVDs), biased covariance (divide by n, as StyleGAN-V).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


CLIP_MODES = ("uniform16", "first16", "all")


def fvd_clip_indices(num_frames: int, mode: str = "uniform16", clip_frames: int = 16) -> np.ndarray:
    """Frame indices of the clip taken from a video of ``num_frames`` frames."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if clip_frames < 1:
        raise ValueError(f"clip_frames must be >= 1, got {clip_frames}")
    if mode == "uniform16":
        return np.round(np.linspace(0, num_frames - 1, clip_frames)).astype(np.int64)
    if mode == "first16":
        if num_frames < clip_frames:
            raise ValueError(f"first16 needs at least {clip_frames} frames, the video has {num_frames}")
        return np.arange(clip_frames, dtype=np.int64)
    if mode == "all":
        return np.arange(num_frames, dtype=np.int64)
    raise ValueError(f"FVD clip mode must be one of {CLIP_MODES}, got {mode!r}")


def _as_clips(videos: Any) -> list[np.ndarray]:
    if isinstance(videos, torch.Tensor):
        videos = videos.detach().cpu().numpy()
    if isinstance(videos, np.ndarray):
        if videos.ndim != 5:
            raise ValueError(f"videos: expected uint8 (B, T, H, W, 3) or a list of (T, H, W, 3), got shape {videos.shape}")
        videos = list(videos)
    clips = []
    for i, v in enumerate(videos):
        v = np.asarray(v)
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"video {i}: expected uint8 (T, H, W, 3), got {v.dtype} {v.shape}")
        clips.append(v)
    return clips


def fvd_features(extractor: Any, videos: Any, batch_size: int = 4) -> np.ndarray:
    """I3D features (float64, (B, 400)) of clips given as (B, T, H, W, 3) uint8 or a list of (T, H, W, 3).

    Clips of equal shape are batched; the caller chooses the clip frames (:func:`fvd_clip_indices`).
    """
    clips = _as_clips(videos)
    dim = int(extractor.info.dim)
    out = np.zeros((len(clips), dim), dtype=np.float64)
    i = 0
    while i < len(clips):
        j = i + 1
        while j < len(clips) and j - i < batch_size and clips[j].shape == clips[i].shape:
            j += 1
        batch = torch.from_numpy(np.stack(clips[i:j])).permute(0, 4, 1, 2, 3).contiguous()  # B, C, T, H, W
        out[i:j] = extractor(batch).detach().cpu().numpy().astype(np.float64)
        i = j
    return out


__all__ = ["CLIP_MODES", "fvd_clip_indices", "fvd_features"]
