"""The MagicData / MagicBench folder layout as a benchmark source.

Layout (their spelling of ``boxs``)::

    SRC/videos/<id>.mp4
    SRC/masks/<id>/annotated_frame_00000.png ...   one colour per object on black
    SRC/boxs/<id>/annotated_frame_00000.png ...    rendered boxes (not needed: boxes derive from masks)
    SRC/<anything>.csv                             optional: videoid (or video_path) and text columns

Mask PNGs draw each object in its own colour at about half intensity on black, possibly with
compression noise or blending at the edges. Objects are the colour clusters of frame 0 (colours
within ``tol`` of each other merge); in every frame a pixel belongs to the nearest object
colour within ``tol`` (max over channels). Pixels that are neither black, nor an object
colour, nor a darker blend of one, are an error: the masks do not match frame 0's objects.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, VideoError
from ..utils.atomic import sha256_file, sha256_json
from .video import read_rgb_image

MASK_PATTERN = "annotated_frame_{:05d}.png"
_MASK_RE = re.compile(r"annotated_frame_(\d{5})\.png$")
BLACK_MAX = 40  # a pixel whose channels are all <= this is background
COLOUR_TOL = 40  # max per-channel difference of a pixel from its object colour


def load_png(path: Path) -> np.ndarray:
    return read_rgb_image(path, "mask image")


def cluster_colours(image: np.ndarray, tol: int = COLOUR_TOL, black_max: int = BLACK_MAX, min_pixels: int | None = None) -> np.ndarray:
    """The object colours (K, 3) of a colour-coded mask image, sorted; noise clusters dropped."""
    pix = image.reshape(-1, 3)
    pix = pix[pix.max(axis=1) > black_max]
    if pix.size == 0:
        return np.zeros((0, 3), dtype=np.float64)
    colours, counts = np.unique(pix, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    centres: list[np.ndarray] = []
    members: list[list[tuple[np.ndarray, int]]] = []
    for i in order:
        c = colours[i].astype(np.float64)
        for k, centre in enumerate(centres):
            if np.max(np.abs(c - centre)) <= tol:
                members[k].append((c, int(counts[i])))
                break
        else:
            centres.append(c)
            members.append([(c, int(counts[i]))])
    floor = min_pixels if min_pixels is not None else max(4, int(2e-4 * image.shape[0] * image.shape[1]))
    out = []
    for group in members:
        total = sum(n for _, n in group)
        if total >= floor:
            out.append(np.round(sum(c * n for c, n in group) / total))
    if not out:
        return np.zeros((0, 3), dtype=np.float64)
    arr = np.stack(out)
    return arr[np.lexsort(arr.T[::-1])]


def match_colours(image: np.ndarray, colours: np.ndarray, tol: int = COLOUR_TOL, black_max: int = BLACK_MAX) -> tuple[np.ndarray, np.ndarray]:
    """Per-object masks (K, H, W) of one image, and the (H, W) mask of unexplained pixels.

    A pixel is object k's when colour k is its nearest object colour and within ``tol``.
    Unexplained: not black, not an object colour, and not a darker blend of one with black.
    """
    img = image.astype(np.int16)
    k_count = colours.shape[0]
    dist = np.max(np.abs(img[None] - colours[:, None, None, :].astype(np.int16)), axis=-1)  # (K, H, W)
    nearest = np.argmin(dist, axis=0)
    close = np.min(dist, axis=0) <= tol
    masks = (nearest[None] == np.arange(k_count)[:, None, None]) & close[None]
    nonblack = img.max(axis=-1) > black_max
    # distance of each pixel to the segment black..colour (edge blending and antialiasing)
    c = colours.astype(np.float64)
    p = img.astype(np.float64)
    s = np.clip(np.einsum("hwc,kc->khw", p, c) / np.maximum((c * c).sum(axis=1), 1)[:, None, None], 0, 1)
    seg = np.sqrt(((p[None] - s[..., None] * c[:, None, None, :]) ** 2).sum(axis=-1)).min(axis=0)
    unexplained = nonblack & ~close & (seg > tol)
    return masks, unexplained


def decode_mask_image(path: Path, tol: int = COLOUR_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Object colours and masks (K, H, W) of one colour-coded mask image (e.g. a frame-0 prompt)."""
    img = load_png(path)
    colours = cluster_colours(img, tol)
    if colours.shape[0] == 0:
        raise InputError(f"{path}: no object colours (the image is black); draw each object in its own colour")
    masks, _ = match_colours(img, colours, tol)
    return colours, masks


def read_prompt_csv(path: Path) -> dict[str, str]:
    """``videoid`` (or the stem of ``video_path``) -> ``text`` from a MagicData CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the prompt CSV ({exc})") from exc
    if not rows:
        return {}
    cols = set(rows[0])
    if "text" not in cols or not ({"videoid", "video_path"} & cols):
        raise InputError(f"{path}: the prompt CSV needs a 'text' column and a 'videoid' or 'video_path' column; it has {sorted(cols)}")
    out = {}
    for row in rows:
        vid = (row.get("videoid") or "").strip() or Path(row.get("video_path") or "").stem
        if vid:
            out[vid] = row["text"]
    return out


class MagicDataSource:
    """A MagicData-layout folder; ``scan`` and ``frames`` are what the builder calls."""

    name = "magicdata"
    parallel_scan = True

    def __init__(self, root: str | os.PathLike, prompts: str | os.PathLike | None = None, tol: int = COLOUR_TOL):
        self.root = Path(root)
        self.tol = tol
        if not self.root.is_dir():
            raise InputError(f"{self.root}: source folder not found")
        self.videos_dir = self.root / "videos"
        if not self.videos_dir.is_dir():
            raise InputError(f"{self.root}: no videos/ folder; a MagicData source holds videos/<id>.mp4 and masks/<id>/annotated_frame_%05d.png")
        csv_path = Path(prompts) if prompts is not None else None
        if csv_path is None:
            found = sorted(self.root.glob("*.csv"))
            if len(found) > 1:
                raise InputError(f"{self.root}: several CSV files ({', '.join(p.name for p in found)}); choose one with --prompts")
            csv_path = found[0] if found else None
        if csv_path is not None and not csv_path.is_file():
            raise InputError(f"{csv_path}: prompt CSV not found")
        self.prompt_file = csv_path
        self.prompts = read_prompt_csv(csv_path) if csv_path is not None else None

    def pool_ids(self) -> list[str]:
        ids = sorted(p.stem for p in self.videos_dir.iterdir() if p.suffix.lower() == ".mp4" and not p.name.startswith("."))
        if not ids:
            raise InputError(f"{self.videos_dir}: empty source folder (no .mp4 videos)")
        return ids

    def video_path(self, pool_id: str) -> Path:
        return self.videos_dir / f"{pool_id}.mp4"

    def mask_files(self, pool_id: str) -> list[Path]:
        folder = self.root / "masks" / pool_id
        if not folder.is_dir():
            raise InputError(f"{folder}: missing mask folder for video {pool_id!r} (expected masks/{pool_id}/annotated_frame_%05d.png)")
        files = sorted(p for p in folder.iterdir() if _MASK_RE.search(p.name))
        numbers = [int(_MASK_RE.search(p.name).group(1)) for p in files]
        if numbers != list(range(len(files))):
            raise InputError(f"{folder}: mask frames must be annotated_frame_00000.png .. without gaps; found {len(files)} with gaps")
        if not files:
            raise InputError(f"{folder}: the mask folder is empty")
        return files

    def prompt(self, pool_id: str) -> str:
        if self.prompts is None:
            return ""
        if pool_id not in self.prompts:
            raise InputError(f"{self.prompt_file}: no prompt (text) for video {pool_id!r}; add a row or pass another CSV with --prompts")
        return self.prompts[pool_id]

    def scan(self, pool_id: str, num_frames: int, size: tuple[int, int] | None) -> dict[str, Any]:
        from .schema import ObjectTrack
        from .video import frame_rate, resize_masks

        vpath = self.video_path(pool_id)
        files = self.mask_files(pool_id)
        n_video, height, width = count_frames(vpath)
        if len(files) != n_video:
            raise InputError(
                f"{files[0].parent}: {len(files)} mask frames but {vpath} has {n_video} frames (frame-count mismatch); re-export the masks"
            )
        prompt = self.prompt(pool_id)
        base = {"prompt": prompt, "fps": frame_rate(vpath), "num_frames_available": n_video}
        if n_video < num_frames:
            return {**base, "excluded": f"{n_video} frames < {num_frames}", "input_hash": sha256_file(vpath), "objects": [], "height": 0, "width": 0}
        first = _fit(load_png(files[0]), height, width)
        colours = cluster_colours(first, self.tol)
        if colours.shape[0] == 0:
            raise InputError(f"{files[0]}: no object colours in frame 0 (the mask is black)")
        masks = np.zeros((colours.shape[0], num_frames, height, width), dtype=bool)
        digests = [sha256_file(vpath)]
        for t in range(num_frames):
            img = first if t == 0 else _fit(load_png(files[t]), height, width)
            masks[:, t], unexplained = match_colours(img, colours, self.tol)
            bad = int(unexplained.sum())
            if bad > max(20, 1e-3 * height * width):
                ys, xs = np.nonzero(unexplained)
                colour = tuple(int(v) for v in img[ys[0], xs[0]])
                raise InputError(
                    f"{files[t]}: object colour not found: {bad} pixels such as rgb{colour} at (x={xs[0]}, y={ys[0]}) match none of "
                    f"frame 0's object colours {[tuple(int(v) for v in c) for c in colours]} (tolerance {self.tol})"
                )
            digests.append(sha256_file(files[t]))
        if size is not None:
            masks = resize_masks(masks, size)
        tracks = [
            ObjectTrack.from_masks(k, f"object {k} rgb({int(c[0])},{int(c[1])},{int(c[2])})", masks[k]).to_json()
            for k, c in enumerate(colours)
        ]
        h, w = masks.shape[-2:]
        return {**base, "excluded": None, "input_hash": sha256_json(digests), "objects": tracks, "height": int(h), "width": int(w)}

    def frames(self, pool_id: str, num_frames: int, size: tuple[int, int] | None) -> np.ndarray:
        from . import video as video_io

        frames = video_io.read_video(self.video_path(pool_id), list(range(num_frames)))
        if frames.shape[0] != num_frames:
            raise VideoError(f"{self.video_path(pool_id)}: has {frames.shape[0]} frames, expected at least {num_frames}")
        return video_io.resize_frames(frames, *size) if size else frames


def count_frames(path: Path) -> tuple[int, int, int]:
    """Frame count, height and width by a streaming decode (no frames kept in memory)."""
    import av

    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    n = height = width = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            for frame in container.decode(video=0):
                n, height, width = n + 1, frame.height, frame.width
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot decode video ({exc}); the file is corrupt or not a video - re-export it") from exc
    if n == 0:
        raise VideoError(f"{path}: the video has no decodable frames (truncated or empty file)")
    return n, height, width


def _fit(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """A mask image at the video's size (nearest neighbour, so colours are not blended)."""
    if img.shape[:2] == (height, width):
        return img
    from .video import resize_masks

    return np.moveaxis(resize_masks(np.moveaxis(img, -1, 0), (height, width)), 0, -1)
