"""Score two folders (images or videos) with FID or FVD under the protocol's settings.

A folder holds either images (``.png``, ``.jpg``, ...; every image is one FID sample) or
videos (``.mkv``, ``.mp4``, ...; FID takes frames ``1..N-1`` of each video, FVD one clip per
video at the protocol's indices). Features stream into float64 statistics one video or one
batch of images at a time, so folders of any size fit in memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.video import VIDEO_EXTS, read_video
from ..errors import InputError
from .fid import fid_features, fid_frame_indices
from .frechet import FeatureStats, fid_from_stats, fvd_from_stats
from .fvd import fvd_clip_indices, fvd_features

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class FolderScore:
    metric: str  # "fid" | "fvd"
    value: float
    extractor: dict[str, Any]
    real: dict[str, Any]
    fake: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "official": bool(self.extractor.get("official")),
                "extractor": self.extractor, "real": self.real, "fake": self.fake, "settings": self.settings,
                "warnings": self.warnings}


def list_media(folder: Path) -> tuple[str, list[Path]]:
    """``("images" | "videos", sorted files)``; a folder mixing both is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTS]
    if images and videos:
        raise InputError(f"{folder}: holds both images and videos; put each kind in its own folder")
    if not images and not videos:
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_EXTS)}) or videos ({', '.join(VIDEO_EXTS)})")
    return ("images", images) if images else ("videos", videos)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from exc


def fid_folder_stats(folder: Path, extractor: Any, *, skip_first: bool = True, stride: int = 1, batch_size: int = 32,
                     progress: Callable[[int], None] | None = None) -> tuple[FeatureStats, dict[str, Any]]:
    kind, files = list_media(folder)
    stats = FeatureStats.empty(int(extractor.info.dim))
    if kind == "images":
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            imgs = [_read_image(p) for p in chunk]
            shapes = {im.shape for im in imgs}
            for shape in sorted(shapes):  # same-size images batch together
                stats.update(fid_features(extractor, np.stack([im for im in imgs if im.shape == shape]), batch_size))
            if progress:
                progress(len(chunk))
    else:
        for path in files:
            frames = read_video(path)
            idx = fid_frame_indices(frames.shape[0], skip_first=skip_first, stride=stride)
            if idx.size:
                stats.update(fid_features(extractor, frames[idx], batch_size))
            if progress:
                progress(1)
    return stats, {"folder": str(folder), "kind": kind, "files": len(files), "samples": stats.n}


def fvd_folder_stats(folder: Path, extractor: Any, *, clip: str = "uniform16", clip_frames: int = 16,
                     progress: Callable[[int], None] | None = None) -> tuple[FeatureStats, dict[str, Any]]:
    kind, files = list_media(folder)
    if kind != "videos":
        raise InputError(f"{folder}: FVD needs videos, the folder holds images")
    stats = FeatureStats.empty(int(extractor.info.dim))
    for path in files:
        frames = read_video(path)
        idx = fvd_clip_indices(frames.shape[0], clip, clip_frames)
        stats.update(fvd_features(extractor, frames[idx][None]))
        if progress:
            progress(1)
    return stats, {"folder": str(folder), "kind": kind, "files": len(files), "samples": stats.n}


def score_folders(metric: str, real: Path, fake: Path, extractor: Any, *, progress_factory=None, **settings: Any) -> FolderScore:
    """FID or FVD between two folders with one extractor and one set of protocol settings."""
    if metric not in ("fid", "fvd"):
        raise InputError(f"metric must be 'fid' or 'fvd', got {metric!r}")
    stats_fn = fid_folder_stats if metric == "fid" else fvd_folder_stats
    results = []
    for name, folder in (("real", Path(real)), ("fake", Path(fake))):
        _, files = list_media(folder)
        if progress_factory is None:
            results.append(stats_fn(folder, extractor, **settings))
        else:
            with progress_factory(f"{metric.upper()} {name}", len(files)) as advance:
                results.append(stats_fn(folder, extractor, progress=advance, **settings))
    (rs, rinfo), (fs, finfo) = results
    for info, st in ((rinfo, rs), (finfo, fs)):
        if st.n < 2:
            raise InputError(f"{info['folder']}: {st.n} {metric.upper()} samples; need at least 2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        value = fid_from_stats(rs, fs) if metric == "fid" else fvd_from_stats(rs, fs)
    notes = [str(w.message) for w in caught]
    return FolderScore(metric, float(value), extractor.info.to_dict(), rinfo, finfo, dict(settings), notes)
