"""Trajectory-map videos drawn in MagicMotion's tools -> a :class:`GenerationRequest`.

A map video (or a folder of PNG frames) plus a first frame becomes a request that any
registered generator can run. Recovery, per frame (docs/map-styles.md, "Importing maps"):

1. every pixel takes the nearest colour among black and the style's object colours present
   in frame 0, if within ``tol``. Distances are taken in YCbCr with chroma at half weight:
   H.264's 4:2:0 sampling keeps luma per pixel but shares chroma over 2x2 blocks, so thin
   outlines lose saturation and drift toward paler palette colours while their luma holds;
2. per object, the core is what survives an opening (3x3 in frame 0, half the outline
   thickness later: an outline's edge pixels bleed into paler colours) and dropping connected parts smaller than ``max(MIN_REGION, 2% of its largest part)``:
   the codec's strays are short runs along other objects' edges; parts near the object's
   previous box are preferred (objects move continuously). The object's pixels are
   then its nearest-colour pixels within ``thickness + 2`` px of the core's box, so edges
   the opening thinned are not lost;
3. frame 0 gives the masks; later frames give boxes (the tight box of those pixels), or
   masks when the frames are filled rather than outlined; an object with nothing left in a
   frame is not visible there; frames with no object at all while objects exist later are
   the unlisted frames of a ``sparse_box`` condition.

Objects are identified by colour, so a style with N colours distinguishes N objects
(magicmotion: 21); object k is the one drawn in the style's colour k.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .trajectory import MAP_STYLES, Trajectory, box_thickness
from .video import read_rgb_image

DEFAULT_TOL = 32  # YCbCr distance (chroma at half weight) of a decoded pixel from its colour
MIN_REGION = 16  # pixels: smaller connected regions of a colour are codec strays
MIN_REGION_FRAC = 0.02
REACH = 0.15  # of the frame's longer side: how far an object's parts may lie from its previous box
FILLED = 0.6  # mean fill of boxes above which map frames are filled masks, not outlines


@dataclass(frozen=True)
class DecodedMaps:
    trajectory: Trajectory
    style: str
    object_ids: tuple[int, ...]  # colour index (object k of the style) of each recovered object


def read_map_frames(path: str | os.PathLike) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a map video, or of a folder of PNG frames in name order."""
    from .video import read_video

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
        if not files:
            raise InputError(f"{path}: no PNG frames in the map folder")
        frames = [read_rgb_image(p) for p in files]
        sizes = {f.shape for f in frames}
        if len(sizes) != 1:
            raise InputError(f"{path}: map frames of different sizes {sorted(sizes)}")
        return np.stack(frames)
    if not path.is_file():
        raise InputError(f"{path}: map video or folder not found")
    return read_video(path)


_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)


def _assign(frame: np.ndarray, colours: np.ndarray, tol: int) -> np.ndarray:
    """(H, W) int: 1 + index into ``colours`` of each pixel's nearest colour, 0 for black or none."""
    cands = np.concatenate([np.zeros((1, 3), np.float32), colours.astype(np.float32)]) @ _YCBCR.T
    diff = np.abs((frame.astype(np.float32) @ _YCBCR.T)[:, :, None, :] - cands[None, None])
    dist = np.maximum(diff[..., 0], 0.5 * diff[..., 1:].max(axis=-1))
    nearest = dist.argmin(axis=-1)
    nearest[dist.min(axis=-1) > tol] = 0
    return nearest


def _clean(region: np.ndarray, opening: int = 3, near: np.ndarray | None = None, reach: float = 0.0) -> np.ndarray:
    """The region after an ``opening``-px opening, without its small connected parts (codec strays).

    With ``near`` (the object's box in the previous frame), only parts within ``reach`` px of
    it are kept when there are any: objects move continuously, strays of their colour on
    other objects' edges lie elsewhere.
    """
    from scipy import ndimage

    if opening > 1:
        region = ndimage.binary_opening(region, structure=np.ones((opening, opening), bool))
    labels, n = ndimage.label(region, structure=np.ones((3, 3), bool))
    if n == 0:
        return region
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= max(MIN_REGION, MIN_REGION_FRAC * sizes.max())) + 1
    if near is not None:
        boxes = ndimage.find_objects(labels)
        x0, y0, x1, y1 = near
        close = [j for j in keep if boxes[j - 1][1].start < x1 + reach and boxes[j - 1][1].stop > x0 - reach
                 and boxes[j - 1][0].start < y1 + reach and boxes[j - 1][0].stop > y0 - reach]
        keep = close or keep
    return np.isin(labels, keep)


def _object_pixels(raw: np.ndarray, opening: int, margin: int, near: np.ndarray | None = None) -> np.ndarray:
    """The object's pixels: raw nearest-colour pixels near its cleaned core (empty if no core)."""
    core = _tight_box(_clean(raw, opening, near, reach=REACH * max(raw.shape)))
    out = np.zeros_like(raw)
    if core is not None:
        x0, y0, x1, y1 = (int(v) for v in core)
        ys, xs = slice(max(0, y0 - margin), y1 + margin), slice(max(0, x0 - margin), x1 + margin)
        out[ys, xs] = raw[ys, xs]
    return out


def _tight_box(region: np.ndarray) -> np.ndarray | None:
    ys = np.flatnonzero(region.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(region.any(axis=0))
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=np.float64)


def _present(frame0: np.ndarray, style: str, tol: int) -> list[int]:
    """Colour indices of the style drawn in frame 0 (enough pixels after cleaning)."""
    st = MAP_STYLES[style]
    colours = st.colours(len(st.palette))
    nearest = _assign(frame0, colours, tol)
    return [k for k in range(len(colours)) if _clean(nearest == k + 1, 3).sum() >= MIN_REGION]


def detect_style(frame0: np.ndarray, tol: int = DEFAULT_TOL) -> str:
    """The map style whose colours explain the most non-black pixels of frame 0."""
    def explained(name: str) -> int:
        st = MAP_STYLES[name]
        return int((_assign(frame0, st.colours(len(st.palette)), tol) > 0).sum())

    return max(MAP_STYLES, key=explained)


def decode_maps(maps: np.ndarray, style: str | None = None, kind: str = "auto", tol: int = DEFAULT_TOL,
                source: str = "maps") -> DecodedMaps:
    """Recover the trajectory condition drawn in ``maps`` (T, H, W, 3)."""
    if maps.ndim != 4 or maps.shape[-1] != 3:
        raise InputError(f"{source}: expected RGB map frames, got an array of shape {maps.shape}")
    style = style or detect_style(maps[0], tol)
    if style not in MAP_STYLES:
        raise InputError(f"unknown map style {style!r}; known: {', '.join(MAP_STYLES)}")
    ids = _present(maps[0], style, tol)
    if not ids:
        raise InputError(f"{source}: frame 0 shows no object in the {style} colours (tolerance {tol}); frame 0 must hold the filled masks")
    colours = MAP_STYLES[style].colours(len(MAP_STYLES[style].palette))[ids]
    t_count, h, w = maps.shape[:3]
    k_count = len(ids)
    regions = np.zeros((k_count, t_count, h, w), dtype=bool)
    thick = box_thickness(h, w)
    last: list[np.ndarray | None] = [None] * k_count
    for t in range(t_count):
        nearest = _assign(maps[t], colours, tol)
        for k in range(k_count):
            # frame 0 is filled; an outline's edge pixels bleed, so its opening is half its thickness
            regions[k, t] = _object_pixels(nearest == k + 1, 3 if t == 0 else max(1, thick // 2), thick + 2, last[k])
            last[k] = _tight_box(regions[k, t]) if regions[k, t].any() else last[k]
    visible = regions.reshape(k_count, t_count, -1).any(axis=-1)
    boxes = np.zeros((k_count, t_count, 4), dtype=np.float64)
    fill = []
    for k in range(k_count):
        for t in range(t_count):
            box = _tight_box(regions[k, t])
            if box is not None:
                boxes[k, t] = box
                if t > 0:
                    fill.append(regions[k, t].sum() / max(1.0, (box[2] - box[0]) * (box[3] - box[1])))
    if kind == "auto":
        kind = "mask" if fill and float(np.mean(fill)) > FILLED else "box"
    frames_with_objects = visible.any(axis=0)
    frame_indices = None
    if kind == "box" and not frames_with_objects.all():
        kind, frame_indices = "sparse_box", tuple(int(t) for t in np.flatnonzero(frames_with_objects))
    traj = Trajectory(
        type=kind, first_masks=regions[:, 0], boxes=boxes, visible=visible,
        masks=regions if kind == "mask" else None, frame_indices=frame_indices,
    )
    return DecodedMaps(trajectory=traj, style=style, object_ids=tuple(ids))


def request_from_maps(
    maps_path: str | os.PathLike,
    first_frame_path: str | os.PathLike,
    prompt: str = "",
    *,
    style: str | None = None,
    kind: str = "auto",
    tol: int = DEFAULT_TOL,
    seed: int = 0,
    fps: float | None = None,
    video_id: str | None = None,
):
    """A :class:`GenerationRequest` from a map video (or PNG folder) and a first-frame image or video."""
    from ..generators.base import GenerationRequest
    from .video import frame_rate, read_video

    maps_path, first_path = Path(maps_path), Path(first_frame_path)
    maps = read_map_frames(maps_path)
    decoded = decode_maps(maps, style=style, kind=kind, tol=tol, source=str(maps_path))
    if not first_path.is_file():
        raise InputError(f"{first_path}: first frame not found")
    if first_path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        first = read_rgb_image(first_path)
    else:
        first = read_video(first_path, [0])[0]
    t_count, h, w = maps.shape[:3]
    if first.shape[:2] != (h, w):
        raise InputError(
            f"{first_path}: the first frame is {first.shape[1]}x{first.shape[0]} but the maps {maps_path} are {w}x{h}; "
            "give both at one size"
        )
    if fps is None:
        fps = frame_rate(maps_path) if maps_path.is_file() else 24.0
    return GenerationRequest(
        video_id=video_id or maps_path.stem, first_frame=np.ascontiguousarray(first), prompt=prompt,
        trajectory=decoded.trajectory, num_frames=t_count, height=h, width=w, seed=seed, fps=float(fps),
        map_style=decoded.style,
    )
