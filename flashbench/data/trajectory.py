"""Trajectory conditions handed to a generator, and their rendered maps (docs/map-styles.md).

Three condition types:

* ``mask``: per-frame masks of every object;
* ``box`` (FlashBench default): per-frame tight boxes, plus the frame-0 masks;
* ``sparse_box``: boxes only at a few listed frames (fewer than 10), plus the frame-0 masks.

Maps are drawn in a named :class:`MapStyle` (``MAP_STYLES``), recorded in the protocol and in
every generation request. Common to all styles: black background; frame 0 always the filled
masks; ``mask`` frames filled masks; ``box`` frames rectangle outlines
``max(1, min(H, W) // 100)`` pixels thick, inside the box; ``sparse_box`` frames not listed are
black. A style fixes the colours of the objects and which object is on top where they overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .schema import Annotation
from .video import uniform_indices

TRAJECTORY_TYPES = ("box", "mask", "sparse_box")

# Sixteen saturated, pairwise distinct colours (RGB): the ``full-intensity`` style.
FULL_INTENSITY_PALETTE: np.ndarray = np.array(
    [
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
        (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 0, 255),
        (0, 255, 128), (255, 0, 128), (128, 255, 0), (0, 128, 255),
        (255, 128, 128), (128, 255, 128), (128, 128, 255), (255, 255, 255),
    ],
    dtype=np.uint8,
)

# supervision's ColorPalette.DEFAULT (supervision 0.23), RGB.
SUPERVISION_PALETTE: np.ndarray = np.array(
    [
        tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))
        for h in (
            "A351FB FF4040 FFA1A0 FF7633 FFB633 D1D435 4CFB12 94CF1A 40DE8A 1B9640 00D6C1 "
            "2E9CAA 00C4FF 364797 6675FF 0019EF 863AFF 530087 CD3AFF FF97CA FF39C9"
        ).split()
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class MapStyle:
    """How objects are coloured and stacked in a trajectory map.

    Object ``k`` (0-based) is painted in ``palette[(k + first_index) % len(palette)]`` blended at
    ``opacity`` over black with OpenCV ``addWeighted`` arithmetic (round half to even).
    ``stacking`` decides who is on top where objects overlap: ``index`` paints in object order
    (a later object covers an earlier one); ``area`` paints the largest region of the frame
    first, as supervision's ``MaskAnnotator`` does, so smaller objects stay visible.
    """

    name: str
    palette: np.ndarray
    first_index: int
    opacity: float
    stacking: str
    description: str

    def colour(self, k: int) -> np.ndarray:
        """(3,) uint8: the drawn RGB colour of object ``k``."""
        base = self.palette[(k + self.first_index) % len(self.palette)].astype(np.float32)
        # cv2.addWeighted(colour, a, black, 1 - a, 0): float arithmetic, round half to even
        return np.rint(base * np.float32(self.opacity)).astype(np.uint8)

    def colours(self, count: int) -> np.ndarray:
        """(count, 3) uint8: the drawn colours of objects ``0..count-1``."""
        return np.stack([self.colour(k) for k in range(count)]) if count else np.zeros((0, 3), np.uint8)


MAP_STYLES: dict[str, MapStyle] = {
    s.name: s
    for s in (
        MapStyle(
            "magicmotion", SUPERVISION_PALETTE, first_index=1, opacity=0.5, stacking="area",
            description="MagicMotion's maps: supervision 0.23 MaskAnnotator on black, object ids from 1, opacity 0.5",
        ),
        MapStyle(
            "full-intensity", FULL_INTENSITY_PALETTE, first_index=0, opacity=1.0, stacking="index",
            description="FlashBench's first style: sixteen saturated colours at full intensity, later objects on top",
        ),
    )
}
DEFAULT_MAP_STYLE = "magicmotion"


def get_map_style(name: str) -> MapStyle:
    try:
        return MAP_STYLES[name]
    except KeyError:
        raise ValueError(f"unknown map style {name!r}; known: {', '.join(MAP_STYLES)}") from None


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


def _outline(shape: tuple[int, int], box: np.ndarray, thickness: int) -> np.ndarray:
    """(H, W) bool: the outline of ``box``, ``thickness`` pixels inside its edges."""
    h, w = shape
    out = np.zeros((h, w), dtype=bool)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return out
    t = thickness
    out[y0 : min(y0 + t, y1), x0:x1] = True
    out[max(y1 - t, y0) : y1, x0:x1] = True
    out[y0:y1, x0 : min(x0 + t, x1)] = True
    out[y0:y1, max(x1 - t, x0) : x1] = True
    return out


def _paint(frame: np.ndarray, regions: list[np.ndarray | None], colours: np.ndarray, stacking: str) -> None:
    """Paint each object's region in its colour; the last painted is on top."""
    order = range(len(regions))
    if stacking == "area":
        areas = np.array([0 if r is None else int(r.sum()) for r in regions])
        order = np.flip(np.argsort(areas))  # MaskAnnotator's order: the largest first
    for k in order:
        if regions[k] is not None:
            frame[regions[k]] = colours[k]


def render_maps(traj: Trajectory, style: str = DEFAULT_MAP_STYLE) -> np.ndarray:
    """Render the condition as uint8 RGB maps (T, H, W, 3) in the named map style."""
    st = get_map_style(style)
    k_count, t_count = traj.num_objects, traj.num_frames
    h, w = traj.size
    maps = np.zeros((t_count, h, w, 3), dtype=np.uint8)
    colours = st.colours(k_count)
    thick = box_thickness(h, w)
    listed = traj.listed()
    _paint(maps[0], [traj.first_masks[k] for k in range(k_count)], colours, st.stacking)
    for t in range(1, t_count):
        if not listed[t]:
            continue
        regions: list[np.ndarray | None] = []
        for k in range(k_count):
            if not traj.visible[k, t]:
                regions.append(None)
            elif traj.type == "mask":
                regions.append(traj.masks[k, t])
            else:
                regions.append(_outline((h, w), traj.boxes[k, t], thick))
        _paint(maps[t], regions, colours, st.stacking)
    return maps


def decode_map_boxes(maps: np.ndarray, num_objects: int, style: str = DEFAULT_MAP_STYLE) -> np.ndarray:
    """Recover (K, T, 4) tight boxes from rendered maps by exact style colour.

    The inverse of :func:`render_maps` for boxes (and for masks, the tight box of the
    filled region), used to check a rendering round trip; zeros where a colour is absent.
    """
    colours = get_map_style(style).colours(num_objects)
    t_count = maps.shape[0]
    out = np.zeros((num_objects, t_count, 4), dtype=np.float64)
    for k in range(num_objects):
        hit = np.all(maps == colours[k], axis=-1)  # (T, H, W)
        for t in range(t_count):
            ys = np.flatnonzero(hit[t].any(axis=1))
            if ys.size:
                xs = np.flatnonzero(hit[t].any(axis=0))
                out[k, t] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out
