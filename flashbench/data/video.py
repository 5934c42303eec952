"""Video reading and writing. Frames are uint8 ``(T, H, W, 3)`` RGB at every seam.

Reading uses decord (fast, frame-accurate random access) and falls back to PyAV; writing
uses PyAV. Ground truth the project renders itself is stored losslessly as FFV1 in Matroska
(``.mkv``): a decode returns exactly the frames that were written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError, VideoError
from ..utils.atomic import atomic_path

LOSSLESS_EXT = ".mkv"
VIDEO_EXTS = (".mkv", ".mp4", ".avi", ".mov", ".webm")


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    height: int
    width: int
    fps: float


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Assert the project's frame layout: uint8, (T, H, W, 3), T >= 1."""
    if not isinstance(frames, np.ndarray):
        raise VideoError(f"{name}: expected a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise VideoError(f"{name}: expected uint8 frames, got {frames.dtype} (convert with np.clip(x, 0, 255).astype(np.uint8))")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise VideoError(f"{name}: expected shape (T, H, W, 3), got {frames.shape}")
    return frames


def write_video(path: str | os.PathLike, frames: np.ndarray | Iterable[np.ndarray], fps: float = 24.0) -> Path:
    """Write frames atomically. ``.mkv`` is lossless FFV1; ``.mp4`` is H.264 at CRF 10 (lossy)."""
    import av

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".mkv", ".mp4"):
        raise VideoError(f"{path}: can only write .mkv (lossless) or .mp4 videos")
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise VideoError(f"{path}: no frames to write") from None
    check_frames(first[None], str(path))
    height, width = first.shape[:2]
    with atomic_path(path) as tmp:
        # bitexact: no random segment UID or encoder tag, so the same frames give the same bytes
        container = av.open(str(tmp), "w", options={"fflags": "+bitexact"})
        try:
            if ext == ".mkv":
                stream = container.add_stream("ffv1", rate=_fraction(fps))
                stream.pix_fmt = "bgr0"
            else:
                if height % 2 or width % 2:
                    raise VideoError(f"{path}: H.264 needs even sizes, got {height}x{width}; write .mkv instead")
                stream = container.add_stream("libx264", rate=_fraction(fps))
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "10", "preset": "medium"}
            stream.width, stream.height = width, height
            count = 0
            for frame in _chain(first, it):
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise VideoError(f"{path}: frame {count} has shape {frame.shape} {frame.dtype}, expected {first.shape} uint8")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
                count += 1
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
    return path


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, size and fps, counted by decoding (container headers can over-report)."""
    frames = read_video(path)
    return VideoInfo(num_frames=frames.shape[0], height=frames.shape[1], width=frames.shape[2], fps=_fps(path))


def _fps(path: str | os.PathLike) -> float:
    import av

    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate or c.streams.video[0].base_rate
        return float(rate) if rate else 0.0


def frame_rate(path: str | os.PathLike) -> float:
    """The video's frame rate (24 when the container does not say); VideoError when unreadable."""
    try:
        return _fps(path) or 24.0
    except Exception as exc:
        raise VideoError(f"{path}: cannot read the frame rate ({exc})") from exc


def read_video(
    path: str | os.PathLike,
    indices: Sequence[int] | None = None,
    *,
    expected_frames: int | None = None,
    backend: str = "pyav",
) -> np.ndarray:
    """Decode a video to uint8 ``(T, H, W, 3)``; optionally only the frames at ``indices``.

    ``expected_frames`` turns a short (truncated) or long video into a :class:`VideoError`.
    ``backend`` is ``"pyav"`` (default: a full sequential decode, exact and robust) or
    ``"decord"`` (random access, faster for sparse ``indices``); decord falls back to PyAV.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    if backend == "decord":
        try:
            frames = _read_decord(path, indices, expected_frames)
        except VideoError:
            raise
        except Exception:  # decord is unmaintained: anything it cannot do, PyAV does
            frames = None
        if frames is not None:
            return frames
    elif backend != "pyav":
        raise ValueError(f"unknown video backend {backend!r}; use 'pyav' or 'decord'")
    return _read_pyav(path, indices, expected_frames)


def _read_pyav(path: Path, indices: Sequence[int] | None, expected_frames: int | None) -> np.ndarray:
    import av

    # Without a frame-count check, decoding can stop at the last wanted frame.
    stop = int(max(indices)) + 1 if indices is not None and len(indices) and expected_frames is None else None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            declared = _declared_frames(container.streams.video[0])
            frames = []
            for f in container.decode(video=0):
                frames.append(f.to_ndarray(format="rgb24"))
                if stop is not None and len(frames) >= stop:
                    break
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot decode video ({exc}); the file is corrupt or not a video - rebuild or re-export it") from exc
    if not frames:
        raise VideoError(f"{path}: the video has no decodable frames (truncated or empty file)")
    _check_count(path, len(frames), expected_frames)
    if stop is None and declared is not None and len(frames) < declared - max(1, round(0.02 * declared)):
        # a file cut short keeps its header: fewer frames than it declares means lost data
        raise VideoError(
            f"{path}: decodes to {len(frames)} frames but its header declares {declared}; "
            "the file is truncated or damaged - re-export or rebuild it"
        )
    video = np.stack(frames)
    if indices is not None:
        idx = _check_indices(path, indices, len(frames))
        video = video[idx]
    return video


def _declared_frames(stream) -> int | None:
    """The frame count a video stream's header declares (MP4 frame count, or duration x rate), if any."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.base_rate
    seconds = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    else:  # Matroska keeps the stream duration as a tag, e.g. "00:00:05.042000000"
        tag = (stream.metadata or {}).get("DURATION")
        try:
            h, m, sec = tag.split(":")
            seconds = int(h) * 3600 + int(m) * 60 + float(sec)
        except (AttributeError, ValueError):
            seconds = None
    if not rate or not seconds or seconds <= 0:
        return None
    return int(round(seconds * float(rate)))


def _read_decord(path: Path, indices: Sequence[int] | None, expected_frames: int | None) -> np.ndarray:
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
    n = len(vr)
    _check_count(path, n, expected_frames)
    idx = list(range(n)) if indices is None else _check_indices(path, indices, n).tolist()
    out = vr.get_batch(idx).asnumpy()
    del vr
    return out


def _check_count(path: Path, n: int, expected: int | None) -> None:
    if expected is not None and n != expected:
        raise VideoError(
            f"{path}: has {n} frames, expected {expected}"
            + (" (truncated file?)" if n < expected else "")
        )


def _check_indices(path: Path, indices: Sequence[int], n: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise VideoError(f"{path}: frame index out of range 0..{n - 1}: {idx.min()}..{idx.max()}")
    return idx


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """``round(linspace(0, num_frames - 1, n))``: the protocol's uniform frame sampling."""
    if n < 1 or num_frames < 1:
        raise ValueError(f"need n >= 1 and num_frames >= 1, got n={n}, num_frames={num_frames}")
    return np.round(np.linspace(0, num_frames - 1, n)).astype(np.int64)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize with antialias (docs/protocol.md, section 3), uint8 in and out; a no-op at the same size."""
    check_frames(frames)
    if frames.shape[1:3] == (height, width):
        return frames
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def resize_masks(masks: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Nearest-neighbour resize of a (..., H, W) bool stack to ``size``; no-op when equal or None."""
    if size is None or tuple(masks.shape[-2:]) == tuple(size):
        return masks
    h, w = size
    sh, sw = masks.shape[-2:]
    ys = np.minimum(((np.arange(h) + 0.5) * sh / h).astype(np.int64), sh - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * sw / w).astype(np.int64), sw - 1)
    return masks[..., ys[:, None], xs[None, :]]


def read_rgb_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3); an unreadable file is one error naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc})") from exc
