"""Built-in generators that make the harness testable and the tables meaningful.

* ``ground-truth``: returns the real video (the upper bound of every metric);
* ``static``: repeats the first frame (the no-motion floor);
* ``copy-paste``: moves each object's frame-0 cut-out along the requested boxes (a
  training-free trajectory baseline);
* ``video-folder``: pre-generated videos named by video id (outside methods).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage

from .. import __version__
from ..data import video as video_io
from ..data.trajectory import Trajectory
from ..data.video import resize_frames
from ..errors import InputError
from ..utils.text import plural
from ..utils.atomic import content_hash
from .base import GeneratedVideo, GenerationRequest, GeneratorInfo

ALL_TRAJECTORIES = ("box", "mask", "sparse_box")


def _builtin_info(name: str, notes: str, max_frames: int | None = None) -> GeneratorInfo:
    """Info of a parameter-free built-in: no network, no NFE, any size, every trajectory type."""
    return GeneratorInfo(
        name=name, version=__version__, parameters=0, native_size=None, max_frames=max_frames,
        trajectory_types=ALL_TRAJECTORIES, nfe=0, notes=notes,
    )


class GroundTruthGenerator:
    """Returns the benchmark's own video, resampled to the requested frames and size."""

    def __init__(self, benchmark: str | None = None):
        if benchmark is None:
            raise InputError("the ground-truth generator needs the benchmark being evaluated")
        from ..data.benchmark import Benchmark

        self._bench = Benchmark.open(benchmark)
        self.info = self.describe()

    @staticmethod
    def describe() -> GeneratorInfo:
        return _builtin_info("ground-truth", "the real videos: an upper bound")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedVideo]:
        out = []
        for req in requests:
            sample = self._bench.sample(req.video_id)
            idx = video_io.uniform_indices(sample.info.num_frames, req.num_frames)
            frames = resize_frames(sample.frames(idx), req.height, req.width)
            out.append(GeneratedVideo(frames))
        return out


class StaticGenerator:
    """Repeats the first frame: what a model that ignores the trajectory and never moves scores."""

    def __init__(self) -> None:
        self.info = self.describe()

    @staticmethod
    def describe() -> GeneratorInfo:
        return _builtin_info("static", "first frame repeated: the no-motion floor")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedVideo]:
        return [GeneratedVideo(np.repeat(req.first_frame[None], req.num_frames, axis=0)) for req in requests]


def _interpolate_boxes(traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame boxes and visibility; ``sparse_box`` is filled in linearly between listed frames."""
    if traj.type != "sparse_box":
        return traj.boxes, traj.visible
    listed = np.asarray(traj.frame_indices)
    t = np.arange(traj.num_frames)
    boxes = np.zeros_like(traj.boxes)
    visible = np.zeros_like(traj.visible)
    for k in range(traj.num_objects):
        keep = listed[traj.visible[k, listed]]
        if keep.size == 0:
            continue
        for c in range(4):
            boxes[k, :, c] = np.interp(t, keep, traj.boxes[k, keep, c])
        visible[k] = (t >= keep[0]) & (t <= keep[-1])
    return boxes, visible


class CopyPasteGenerator:
    """Moves each object's frame-0 cut-out along the requested trajectory.

    The background is the first frame with the objects filled in from their nearest
    background pixels; each object's frame-0 patch (and mask) is scaled to the box of frame
    t and pasted there, in object order. With a ``mask`` trajectory the pasted patch is cut
    to the requested mask. No learning, no randomness: a training-free trajectory baseline.
    """

    def __init__(self) -> None:
        self.info = self.describe()

    @staticmethod
    def describe() -> GeneratorInfo:
        return _builtin_info("copy-paste", "frame-0 cut-outs moved along the boxes")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedVideo]:
        return [GeneratedVideo(self._one(req)) for req in requests]

    @staticmethod
    def _one(req: GenerationRequest) -> np.ndarray:
        traj = req.trajectory
        first = req.first_frame
        union = traj.first_masks.any(axis=0) if traj.num_objects else np.zeros(first.shape[:2], bool)
        if union.any() and not union.all():
            _, (iy, ix) = ndimage.distance_transform_edt(union, return_indices=True)
            background = first[iy, ix]
        else:
            background = first.copy()
        boxes, visible = _interpolate_boxes(traj)
        video = np.repeat(background[None], req.num_frames, axis=0)
        video[0] = first
        patches = []
        for k in range(traj.num_objects):
            m = traj.first_masks[k]
            b = _mask_box(m)
            patches.append(None if b is None else (first[b[1] : b[3], b[0] : b[2]], m[b[1] : b[3], b[0] : b[2]]))
        h, w = first.shape[:2]
        for t in range(1, req.num_frames):
            frame = video[t]
            for k, patch in enumerate(patches):
                if patch is None or not visible[k, t]:
                    continue
                x0, y0, x1, y1 = (int(round(v)) for v in boxes[k, t])
                if x1 - x0 < 1 or y1 - y0 < 1:
                    continue
                pix, pmask = _scale_patch(patch[0], patch[1], y1 - y0, x1 - x0)
                if traj.type == "mask" and traj.masks is not None:
                    pmask = pmask & traj.masks[k, t, y0:y1, x0:x1] if (y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w) else pmask
                _paste(frame, pix, pmask, x0, y0)
        return video


def _mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1] + 1), int(ys[-1] + 1)


def _scale_patch(pix: np.ndarray, mask: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    if pix.shape[:2] == (height, width):
        return pix, mask
    zy, zx = height / pix.shape[0], width / pix.shape[1]
    iy = np.minimum((np.arange(height) / zy).astype(np.int64), pix.shape[0] - 1)
    ix = np.minimum((np.arange(width) / zx).astype(np.int64), pix.shape[1] - 1)
    return pix[iy][:, ix], mask[iy][:, ix]


def _paste(frame: np.ndarray, pix: np.ndarray, pmask: np.ndarray, x0: int, y0: int) -> None:
    h, w = frame.shape[:2]
    ph, pw = pmask.shape
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + pw), min(h, y0 + ph)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sub_m = pmask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    region = frame[fy0:fy1, fx0:fx1]
    region[sub_m] = pix[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0][sub_m]


class VideoFolderGenerator:
    """Pre-generated videos ``<path>/<video_id>.<ext>`` (for methods run outside FlashBench).

    ``max_frames`` is the common frame count of the folder's videos, so the harness requests
    that many frames and compares against uniformly resampled ground truth (docs/protocol.md, section 3). A
    missing or unreadable file is a recorded failure of that video, never the end of the run;
    each video's record is keyed by its file's content (:meth:`input_key`), so adding or
    replacing a file and rerunning scores the new file.
    """

    def __init__(self, path: str | None = None, name: str | None = None, frames: str | int | None = None, benchmark: str | None = None):
        if not path:
            raise InputError("video-folder needs the folder: --model-arg path=DIR")
        self.root = Path(path)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: video folder not found")
        self.files = {
            p.stem: p for p in sorted(self.root.iterdir())
            if p.suffix.lower() in video_io.VIDEO_EXTS and not p.name.startswith(".")  # dot-files: partial writes, OS litter
        }
        if not self.files:
            raise InputError(f"{self.root}: no videos ({', '.join(video_io.VIDEO_EXTS)}) in the folder")
        if benchmark is not None:
            self._check_names(benchmark)
        if frames is None:
            frames = self._common_frames()
        label = name or f"video-folder:{self.root.name}"
        # the info (and so the run's identity) names the folder, not its contents: adding a
        # missing file later resumes the same run
        self.info = _builtin_info(label, f"pre-generated videos from {self.root}", max_frames=int(frames))

    def _check_names(self, benchmark: str) -> None:
        """Refuse files named after no benchmark video."""
        from ..data.benchmark import Benchmark

        ids = {i.video_id for i in Benchmark.open(benchmark).items}
        unknown = sorted(set(self.files) - ids)
        if unknown:
            preview = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise InputError(f"{self.root}: {plural(len(unknown), 'video')} named after no benchmark id: {preview}; name files <video_id>.mp4")

    def _common_frames(self) -> int:
        """The frame count of the first readable video (an unreadable one fails alone, when generated)."""
        for path in self.files.values():
            try:
                return video_io.probe(path).num_frames
            except InputError:
                continue
        raise InputError(f"{self.root}: none of the {plural(len(self.files), 'video')} can be read; check the files or pass --model-arg frames=N")

    def missing(self, video_ids: Sequence[str]) -> list[str]:
        """The given benchmark videos without a file in the folder."""
        return [v for v in video_ids if v not in self.files]

    def input_key(self, video_id: str) -> str:
        """The content of this video's file (or its absence): part of the video's record key."""
        path = self.files.get(video_id)
        if path is None:
            return "missing"
        from .. import paths

        return content_hash(path, paths.home() / "file-hashes")  # size+mtime fast check, else the bytes

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray]:
        out = []
        for req in requests:
            path = self.files.get(req.video_id)
            if path is None:
                raise InputError(f"{self.root}: no video for {req.video_id!r} (expected {req.video_id}.<{'|'.join(e[1:] for e in video_io.VIDEO_EXTS)}>)")
            out.append(video_io.read_video(path, expected_frames=req.num_frames))
        return out


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    return _SAFE.sub("_", text).strip("_") or "model"
