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
from ..utils.text import plural
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
        subs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        hint = f"; subfolders ({', '.join(subs[:3])}{', ...' if len(subs) > 3 else ''}) are not read: pass one of them" if subs else ""
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_EXTS)}) or videos ({', '.join(VIDEO_EXTS)}){hint}")
    return ("images", images) if images else ("videos", videos)


_HIGH_DEPTH_MODES = ("I", "F")  # PIL modes of 16/32-bit integer and float images ("I;16..." start with "I")


def _read_image(path: Path) -> np.ndarray:
    """An 8-bit RGB image as uint8 (H, W, 3); 16-bit or float images are refused, not clipped."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode.split(";")[0] in _HIGH_DEPTH_MODES:
                raise InputError(
                    f"{path}: image mode {im.mode} (16-bit or float); FID scores 8-bit images - convert it to 8-bit RGB first"
                )
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from exc


def _add(stats: FeatureStats, feats: np.ndarray, source: Path, extractor: Any) -> None:
    """Add features, naming the file and the extractor when they are not finite (a broken weight file)."""
    if not np.isfinite(feats).all():
        raise InputError(
            f"{source}: the extractor {extractor.info.name} produced NaN or infinite features; its weights are broken - "
            "check them with `flashbench weights verify` or score with --extractor proxy"
        )
    stats.update(feats)


class _SameSize:
    """Refuses a folder whose files differ in frame size, naming the odd file (a stray or mis-exported file)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.first: tuple[Path, tuple[int, int]] | None = None

    def check(self, path: Path, shape: tuple[int, ...]) -> None:
        hw = (int(shape[0]), int(shape[1]))
        if self.first is None:
            self.first = (path, hw)
        elif hw != self.first[1]:
            (p0, (h0, w0)) = self.first
            raise InputError(
                f"{path}: {hw[0]}x{hw[1]}, but {p0.name} is {h0}x{w0}; the files of one folder ({self.folder}) must share "
                "one size - resize them to one size or split the folder"
            )


def fid_folder_stats(folder: Path, extractor: Any, *, skip_first: bool = True, stride: int = 1, batch_size: int = 32,
                     progress: Callable[[int], None] | None = None) -> tuple[FeatureStats, dict[str, Any]]:
    kind, files = list_media(folder)
    stats = FeatureStats.empty(int(extractor.info.dim))
    same = _SameSize(Path(folder))
    if kind == "images":
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            imgs = [_read_image(p) for p in chunk]
            for p, im in zip(chunk, imgs):
                same.check(p, im.shape)
            _add(stats, fid_features(extractor, np.stack(imgs), batch_size), chunk[0].parent, extractor)
            if progress:
                progress(len(chunk))
    else:
        for path in files:
            frames = read_video(path)
            same.check(path, frames.shape[1:3])
            idx = fid_frame_indices(frames.shape[0], skip_first=skip_first, stride=stride)
            if idx.size:
                _add(stats, fid_features(extractor, frames[idx], batch_size), path, extractor)
            if progress:
                progress(1)
    size = same.first[1] if same.first else None
    return stats, {"folder": str(folder), "kind": kind, "files": len(files), "samples": stats.n, "size": size}


def fvd_folder_stats(folder: Path, extractor: Any, *, clip: str = "uniform16", clip_frames: int = 16,
                     progress: Callable[[int], None] | None = None) -> tuple[FeatureStats, dict[str, Any]]:
    kind, files = list_media(folder)
    if kind != "videos":
        raise InputError(f"{folder}: FVD needs videos, the folder holds images")
    stats = FeatureStats.empty(int(extractor.info.dim))
    same = _SameSize(Path(folder))
    short = 0
    for path in files:
        frames = read_video(path)
        same.check(path, frames.shape[1:3])
        short += clip == "uniform16" and frames.shape[0] < clip_frames
        idx = fvd_clip_indices(frames.shape[0], clip, clip_frames)
        _add(stats, fvd_features(extractor, frames[idx][None]), path, extractor)
        if progress:
            progress(1)
    size = same.first[1] if same.first else None
    return stats, {"folder": str(folder), "kind": kind, "files": len(files), "samples": stats.n, "size": size, "short_videos": int(short)}


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
    for info in (rinfo, finfo):
        if info.get("short_videos"):
            notes.append(f"{info['folder']}: {plural(info['short_videos'], 'video')} shorter than {settings.get('clip_frames', 16)} frames; "
                         "their uniform clips repeat frames")
    return FolderScore(metric, float(value), extractor.info.to_dict(), rinfo, finfo, dict(settings), notes)
