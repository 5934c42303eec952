"""Trajectory conditions handed to a generator, and their rendered maps (PROTOCOL section 2).

Three condition types:

* ``mask``: per-frame masks of every object;
* ``box`` (FlashBench default): per-frame tight boxes, plus the frame-0 masks;
* ``sparse_box``: boxes only at a few listed frames (fewer than 10), plus the frame-0 masks.

Maps follow the MagicMotion convention: black background; object ``k`` drawn in
``PALETTE[k % len(PALETTE)]``; frame 0 always the filled masks; ``mask`` frames filled masks;
``box`` frames rectangle outlines ``max(1, min(H, W) // 100)`` pixels thick; ``sparse_box``
frames not listed are black. Objects are drawn in index order, so a later object covers an
earlier one where they overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .schema import Annotation
from .video import uniform_indices

TRAJECTORY_TYPES = ("box", "mask", "sparse_box")

# Sixteen saturated, pairwise distinct colours (RGB). Index k uses PALETTE[k % 16].
PALETTE: np.ndarray = np.array(
    [
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
        (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 0, 255),
        (0, 255, 128), (255, 0, 128), (128, 255, 0), (0, 128, 255),
        (255, 128, 128), (128, 255, 128), (128, 128, 255), (255, 255, 255),
    ],
    dtype=np.uint8,
)


def box_thickness(height: int, width: int) -> int:
    return max(1, min(height, width) // 100)


@dataclass(frozen=True)
class Trajectory:
    """The motion condition of one request; arrays are indexed (object, frame, ...)."""

    type: str
    first_masks: np.ndarray  # (K, H, W) bool, frame-0 masks
    boxes: np.ndarray  # (K, T, 4) float64 x0 y0 x1 y1 (zeros where not visible)
    visible: np.ndarray  # (K, T) bool
    masks: np.ndarray | None = None  # (K, T, H, W) bool, only for type "mask"
    frame_indices: tuple[int, ...] | None = None  # only for type "sparse_box"

    def __post_init__(self) -> None:
        if self.type not in TRAJECTORY_TYPES:
            raise ValueError(f"trajectory type must be one of {TRAJECTORY_TYPES}, got {self.type!r}")
        if self.type == "mask" and self.masks is None:
            raise ValueError("a 'mask' trajectory needs masks")
        if self.type == "sparse_box" and not self.frame_indices:
            raise ValueError("a 'sparse_box' trajectory needs frame_indices")

    @property
    def num_objects(self) -> int:
        return int(self.first_masks.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.boxes.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.first_masks.shape[1]), int(self.first_masks.shape[2])

    def listed(self) -> np.ndarray:
        """(T,) bool: frames at which the condition gives a box or mask for each object."""
        out = np.zeros(self.num_frames, dtype=bool)
        if self.type == "sparse_box":
            out[list(self.frame_indices)] = True
        else:
            out[:] = True
        return out


def sparse_frame_indices(num_frames: int, count: int) -> tuple[int, ...]:
    """Listed frames of a ``sparse_box`` condition: ``count`` uniform indices, 0 and the last included."""
    return tuple(int(i) for i in np.unique(uniform_indices(num_frames, min(count, num_frames))))


def from_annotation(ann: Annotation, kind: str = "box", sparse_frames: int = 8) -> Trajectory:
    """The condition of type ``kind`` for an annotated video."""
    if kind not in TRAJECTORY_TYPES:
        raise ValueError(f"trajectory type must be one of {TRAJECTORY_TYPES}, got {kind!r}")
    objs = ann.objects
    first = np.stack([o.mask(0) for o in objs]) if objs else np.zeros((0, ann.height, ann.width), bool)
    boxes = np.stack([o.boxes for o in objs]) if objs else np.zeros((0, ann.num_frames, 4))
    visible = np.stack([o.visible for o in objs]) if objs else np.zeros((0, ann.num_frames), bool)
    masks = np.stack([o.masks() for o in objs]) if kind == "mask" and objs else None
    frames = sparse_frame_indices(ann.num_frames, sparse_frames) if kind == "sparse_box" else None
    return Trajectory(type=kind, first_masks=first, boxes=boxes, visible=visible, masks=masks, frame_indices=frames)


def resample(traj: Trajectory, indices: Sequence[int]) -> Trajectory:
    """The condition at the given frame indices (for generators with fewer frames)."""
    idx = np.asarray(indices, dtype=np.int64)
    masks = traj.masks[:, idx] if traj.masks is not None else None
    frames = None
    if traj.frame_indices is not None:
        listed = set(traj.frame_indices)
        frames = tuple(i for i, src in enumerate(idx.tolist()) if src in listed) or (0,)
    return Trajectory(traj.type, traj.first_masks, traj.boxes[:, idx], traj.visible[:, idx], masks, frames)


def _draw_outline(canvas: np.ndarray, box: np.ndarray, colour: np.ndarray, thickness: int) -> None:
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    t = thickness
    canvas[y0 : min(y0 + t, y1), x0:x1] = colour
    canvas[max(y1 - t, y0) : y1, x0:x1] = colour
    canvas[y0:y1, x0 : min(x0 + t, x1)] = colour
    canvas[y0:y1, max(x1 - t, x0) : x1] = colour


def render_maps(traj: Trajectory) -> np.ndarray:
    """Render the condition as uint8 maps (T, H, W, 3) in the MagicMotion convention."""
    k_count, t_count = traj.num_objects, traj.num_frames
    h, w = traj.size
    maps = np.zeros((t_count, h, w, 3), dtype=np.uint8)
    thick = box_thickness(h, w)
    listed = traj.listed()
    for k in range(k_count):
        colour = PALETTE[k % len(PALETTE)]
        maps[0][traj.first_masks[k]] = colour
        for t in range(1, t_count):
            if not listed[t] or not traj.visible[k, t]:
                continue
            if traj.type == "mask":
                maps[t][traj.masks[k, t]] = colour
            else:
                _draw_outline(maps[t], traj.boxes[k, t], colour, thick)
    return maps


def decode_map_boxes(maps: np.ndarray, num_objects: int) -> np.ndarray:
    """Recover (K, T, 4) tight boxes from rendered maps by exact palette colour.

    The inverse of :func:`render_maps` for boxes (and for masks, the tight box of the
    filled region), used to check a rendering round trip; zeros where a colour is absent.
    """
    t_count = maps.shape[0]
    out = np.zeros((num_objects, t_count, 4), dtype=np.float64)
    for k in range(num_objects):
        colour = PALETTE[k % len(PALETTE)]
        hit = np.all(maps == colour, axis=-1)  # (T, H, W)
        for t in range(t_count):
            ys = np.flatnonzero(hit[t].any(axis=1))
            if ys.size:
                xs = np.flatnonzero(hit[t].any(axis=0))
                out[k, t] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out
