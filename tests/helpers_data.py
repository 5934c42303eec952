"""Small data fixtures in the real formats: MagicData folders and raw videos with prompts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from flashbench.data.video import write_video

# Half-intensity object colours, as MagicData draws them (pairwise > 40 apart per channel).
HALF_COLOURS = [
    (127, 0, 0), (0, 127, 0), (0, 0, 127), (127, 127, 0), (127, 0, 127),
    (0, 127, 127), (127, 127, 127), (64, 0, 127), (127, 64, 0),
]
SIZE = (48, 64)
SQUARE = 8


def square_boxes(num_objects: int, num_frames: int, size=SIZE, square: int = SQUARE, small: set[int] = frozenset()) -> np.ndarray:
    """(K, T, 4) boxes of non-overlapping squares on a 4x3 grid, each moving 1 px right per frame."""
    h, w = size
    out = np.zeros((num_objects, num_frames, 4), dtype=np.int64)
    for k in range(num_objects):
        row, col = divmod(k, 4)
        x0, y0 = 2 + col * (w // 4), 2 + row * (h // 3)
        side = 2 if k in small else square
        for t in range(num_frames):
            out[k, t] = (x0 + t, y0, x0 + t + side, y0 + side)
    return out


def draw_frames(boxes: np.ndarray, size=SIZE, seed: int = 0) -> np.ndarray:
    """Video frames: a grey noisy background with bright coloured squares at ``boxes``."""
    rng = np.random.default_rng(seed)
    k_count, t_count = boxes.shape[:2]
    frames = np.empty((t_count, *size, 3), dtype=np.uint8)
    for t in range(t_count):
        f = np.full((*size, 3), 90, np.int16) + rng.integers(-10, 10, (*size, 3))
        for k in range(k_count):
            x0, y0, x1, y1 = boxes[k, t]
            f[y0:y1, x0:x1] = np.array(HALF_COLOURS[k]) * 2
        frames[t] = np.clip(f, 0, 255)
    return frames


def draw_mask_image(boxes_t: np.ndarray, size=SIZE, noise: int = 0, rng=None, colours=HALF_COLOURS) -> np.ndarray:
    """A colour-coded mask image: each box filled with its half-intensity colour on black, plus noise."""
    img = np.zeros((*size, 3), np.int16)
    for k, (x0, y0, x1, y1) in enumerate(boxes_t):
        img[y0:y1, x0:x1] = colours[k]
    if noise:
        img += (rng or np.random.default_rng(0)).integers(-noise, noise + 1, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_magicdata(
    root: Path,
    counts: dict[str, int],
    num_frames: int = 9,
    size=SIZE,
    noise: int = 6,
    with_csv: bool = True,
    small: dict[str, set[int]] | None = None,
) -> dict[str, np.ndarray]:
    """A MagicData folder with one video per entry of ``counts`` (video id -> object count).

    Returns the drawn boxes per video id (K, T, 4).
    """
    rng = np.random.default_rng(1)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    all_boxes = {}
    for i, (vid, count) in enumerate(counts.items()):
        boxes = square_boxes(count, num_frames, size, small=(small or {}).get(vid, set()))
        all_boxes[vid] = boxes
        write_video(root / "videos" / f"{vid}.mp4", draw_frames(boxes, size, seed=i), fps=24.0)
        for folder in ("masks", "boxs"):
            (root / folder / vid).mkdir(parents=True, exist_ok=True)
        for t in range(num_frames):
            img = draw_mask_image(boxes[:, t], size, noise, rng)
            Image.fromarray(img).save(root / "masks" / vid / f"annotated_frame_{t:05d}.png")
            Image.fromarray(np.zeros_like(img)).save(root / "boxs" / vid / f"annotated_frame_{t:05d}.png")
    if with_csv:
        with open(root / "MagicData.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["videoid", "video_path", "text"])
            writer.writeheader()
            for vid, count in counts.items():
                writer.writerow({"videoid": vid, "video_path": f"videos/{vid}.mp4", "text": f"{count} squares move right"})
    return all_boxes


def make_video_folder(root: Path, counts: dict[str, int], num_frames: int = 7, size=SIZE, mask_for: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Raw videos + ``prompts.json`` with frame-0 boxes (or a colour-coded mask for ids in ``mask_for``)."""
    root.mkdir(parents=True, exist_ok=True)
    entries, all_boxes = {}, {}
    for i, (vid, count) in enumerate(counts.items()):
        boxes = square_boxes(count, num_frames, size)
        all_boxes[vid] = boxes
        write_video(root / f"{vid}.mkv", draw_frames(boxes, size, seed=i), fps=24.0)
        entry = {"prompt": f"{count} squares move right"}
        if vid in mask_for:
            Image.fromarray(draw_mask_image(boxes[:, 0], size)).save(root / f"{vid}_mask.png")
            entry["mask"] = f"{vid}_mask.png"
        else:
            entry["boxes"] = boxes[:, 0].tolist()
        entries[vid] = entry
    (root / "prompts.json").write_text(json.dumps(entries))
    return all_boxes


class BoxTrackingSegmenter:
    """A stand-in for the SAM2 segmenter: follows the squares of :func:`draw_frames` by colour.

    For each prompted object it takes the colour of the video at the centre of its frame-0
    box (or mask) and returns, per frame, the pixels of exactly that colour.
    """

    def __init__(self):
        self.calls = []

    def segment(self, frames, masks=None, boxes=None):
        self.calls.append({"frames": frames.shape, "masks": None if masks is None else masks.shape, "boxes": None if boxes is None else np.asarray(boxes).copy()})
        if boxes is not None:
            centres = [(int((b[1] + b[3]) / 2), int((b[0] + b[2]) / 2)) for b in boxes]
        else:
            centres = []
            for m in masks:
                ys, xs = np.nonzero(m)
                centres.append((int(np.median(ys)), int(np.median(xs))))
        out = np.zeros((len(centres), *frames.shape[:3]), dtype=bool)
        for k, (y, x) in enumerate(centres):
            colour = frames[0, y, x]
            out[k] = np.all(frames == colour, axis=-1)
        return out
