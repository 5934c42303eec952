"""FlashBench-Synth: procedural annotated videos with exact masks.

A scene is a textured background (optionally panned by the camera) and ``K`` coloured,
textured, shaded objects (disc, oval, rectangle, triangle, star, ring, hexagon, cross), each
moving along a smooth path (straight, arc or S-curve; constant speed, accelerating or
decelerating), zooming (growing or shrinking) and spinning, stacked in a depth order so they
occlude each other and may leave the frame in part. Every pixel belongs to exactly one layer,
so the mask of an object is exactly the set of pixels painted with it: the visible part after
occlusion and frame clipping.

Everything is a pure function of a seed: :func:`sample_scene` draws a JSON-able scene
description from a ``numpy`` Generator seeded by hashing ``(split, seed, num_objects)``, and
:func:`render_params` renders it. The ``bench`` and ``train`` splits hash different strings,
so their scenes are disjoint. Motion is parameterised by normalised time ``tau in [0, 1]``, so
a scene rendered with fewer frames is the same motion sampled more coarsely.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .schema import ObjectTrack

SYNTH_VERSION = 1
DEFAULT_FRAMES = 121
DEFAULT_SIZE = (128, 224)  # (H, W): multiples of 32 so video latents tile
FPS = 24.0
SPLITS = ("bench", "train")

SHAPES = ("disc", "oval", "rectangle", "triangle", "star", "ring", "hexagon", "cross")
TEXTURES = ("plain", "striped", "spotted", "checkered")
BACKGROUNDS = ("cloudy", "gradient", "striped", "tiled")
# area of each shape at unit radius and aspect 1 (see _inside)
_SHAPE_AREA = {"disc": math.pi, "oval": math.pi, "rectangle": 4.0, "triangle": 1.572, "star": 1.322, "ring": 0.64 * math.pi, "hexagon": 2.806, "cross": 2.362}
PATHS = ("straight", "arc", "s-curve")
EASES = ("steady", "accelerating", "decelerating")

# Acceptance rules of a sampled scene (re-drawn until they hold): each object is visible at
# frame 0 with at least MIN_AREA_FRAC of the frame and at least half of its own area, and is
# visible in at least MIN_VISIBLE_FRAC of the frames. They keep objects trackable.
MIN_AREA_FRAC = 0.004
MIN_VISIBLE_FRAC = 0.8
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class SynthVideo:
    """One rendered scene: frames, exact object tracks, prompt and the scene description."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    objects: tuple[ObjectTrack, ...]
    prompt: str
    fps: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from a hash of ``parts`` (stable across processes and platforms)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _check_args(num_objects: int, num_frames: int, size: tuple[int, int], split: str) -> tuple[int, int]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if num_objects < 1:
        raise ValueError(f"num_objects must be >= 1, got {num_objects}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    h, w = (int(v) for v in size)
    if h < 16 or w < 16:
        raise ValueError(f"size must be at least 16x16, got {h}x{w}")
    return h, w


def render_scene(
    seed: int,
    num_objects: int,
    num_frames: int = DEFAULT_FRAMES,
    size: tuple[int, int] = DEFAULT_SIZE,
    split: str = "bench",
) -> SynthVideo:
    """Render the scene of ``seed`` with ``num_objects`` objects (deterministic)."""
    h, w = _check_args(num_objects, num_frames, size, split)
    rng = np.random.default_rng(derive_seed("flashbench-synth", SYNTH_VERSION, split, seed, num_objects))
    for attempt in range(MAX_ATTEMPTS):
        params = sample_scene(rng, num_objects, num_frames, (h, w))
        params.update(seed=int(seed), split=split, attempt=attempt)
        frames, labels = render_params(params)
        if _acceptable(labels, num_objects):
            break
    else:  # only reachable for absurd sizes (many objects in a tiny frame)
        raise ValueError(f"no valid scene with {num_objects} objects at {h}x{w} after {MAX_ATTEMPTS} attempts; use a larger size")
    objects = tuple(
        ObjectTrack.from_masks(k, object_label(spec), labels == k) for k, spec in enumerate(params["objects"])
    )
    return SynthVideo(frames=frames, objects=objects, prompt=scene_prompt(params), fps=FPS, params=params)


def iter_train(
    num_videos: int,
    seed: int,
    num_frames: int = DEFAULT_FRAMES,
    size: tuple[int, int] = DEFAULT_SIZE,
    min_objects: int = 1,
    max_objects: int = 8,
) -> Iterator[SynthVideo]:
    """``num_videos`` training scenes, rendered lazily; disjoint from the benchmark split."""
    for i in range(num_videos):
        yield render_train(i, seed, num_frames, size, min_objects, max_objects)


def render_train(
    index: int,
    seed: int,
    num_frames: int = DEFAULT_FRAMES,
    size: tuple[int, int] = DEFAULT_SIZE,
    min_objects: int = 1,
    max_objects: int = 8,
) -> SynthVideo:
    """Training scene ``index`` of the training set ``seed`` (the ``index``-th of :func:`iter_train`)."""
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
    vseed = derive_seed("train-video", seed, index)
    count = min_objects + vseed % (max_objects - min_objects + 1)
    return render_scene(vseed, count, num_frames, size, split="train")


# --------------------------------------------------------------------------- sampling

def _hsv(h_deg: float, s: float, v: float) -> list[float]:
    return [float(c) for c in colorsys.hsv_to_rgb((h_deg % 360.0) / 360.0, s, v)]


def sample_scene(rng: np.random.Generator, num_objects: int, num_frames: int, size: tuple[int, int]) -> dict[str, Any]:
    """Draw a JSON-able scene description (background, camera, objects)."""
    h, w = size
    bg_hue = float(rng.uniform(0, 360))
    background = {
        "kind": str(rng.choice(BACKGROUNDS)),
        "hue": bg_hue,
        "hue2": float(bg_hue + rng.uniform(-40, 40)),
        "sat": float(rng.uniform(0.0, 0.28)),
        "v_lo": float(rng.uniform(0.18, 0.4)),
        "v_hi": float(rng.uniform(0.5, 0.72)),
        "angle": float(rng.uniform(0, math.pi)),
        "period": float(rng.uniform(0.08, 0.3) * min(h, w)),
        "noise_seed": int(rng.integers(0, 2**31)),
    }
    pan = [0.0, 0.0]
    if rng.random() < 0.6:
        ang = rng.uniform(0, 2 * math.pi)
        mag = rng.uniform(0.05, 0.25) * w
        pan = [float(mag * math.cos(ang)), float(0.5 * mag * math.sin(ang))]

    # Hues spread around the wheel so objects are told apart by colour.
    offset = rng.uniform(0, 360)
    hues = (offset + np.arange(num_objects) * 360.0 / num_objects + rng.uniform(-8, 8, num_objects)) % 360.0
    hues = hues[rng.permutation(num_objects)]
    base_r = 0.1 * min(h, w) * float(np.clip(math.sqrt(3.0 / num_objects), 0.7, 1.2))
    depth = rng.permutation(num_objects)
    starts = _spread_points(rng, num_objects, h, w, base_r)
    objects = []
    for k in range(num_objects):
        shape = str(rng.choice(SHAPES))
        aspect = float(rng.uniform(0.55, 0.8)) if shape in ("oval", "rectangle") else 1.0
        # radius scaled so every shape covers about the area of a disc of radius base_r
        r0 = float(base_r * rng.uniform(0.85, 1.3) * math.sqrt(math.pi / (_SHAPE_AREA[shape] * aspect)))
        x0, y0 = starts[k]
        if rng.random() < 0.12:  # a nearly still object
            dist = rng.uniform(0.0, 0.05) * w
        else:
            dist = rng.uniform(0.15, 0.6) * w
        ang = rng.uniform(0, 2 * math.pi)
        # the end point may lie up to 0.6 radii beyond the border: objects leave the frame in part
        x1 = float(np.clip(x0 + dist * math.cos(ang), -0.6 * r0, w + 0.6 * r0))
        y1 = float(np.clip(y0 + dist * math.sin(ang), -0.6 * r0, h + 0.6 * r0))
        path = str(rng.choice(PATHS, p=[0.45, 0.35, 0.2]))
        bend = 0.0 if path == "straight" else float(rng.uniform(0.08, 0.22) * min(h, w) * rng.choice([-1, 1]))
        zoom_kind = rng.random()
        zoom = 1.0 if zoom_kind < 0.5 else float(rng.uniform(1.3, 1.7) if zoom_kind < 0.75 else rng.uniform(0.6, 0.78))
        objects.append({
            "shape": shape,
            "texture": str(rng.choice(TEXTURES)),
            "hue": float(hues[k]),
            "sat": float(rng.uniform(0.75, 1.0)),
            "val": float(rng.uniform(0.82, 1.0)),
            "tex_freq": float(rng.uniform(1.8, 3.2)),
            "light": [float(v) for v in rng.normal(size=2) * 0.5],
            "radius": r0,
            "aspect": aspect,
            "angle": float(rng.uniform(0, 2 * math.pi)),
            "spin": float(rng.choice([0.0, rng.uniform(-1.5, 1.5) * math.pi])),
            "start": [float(x0), float(y0)],
            "end": [x1, y1],
            "path": path,
            "bend": bend,
            "ease": str(rng.choice(EASES, p=[0.5, 0.25, 0.25])),
            "zoom": zoom,
            "depth": int(depth[k]),
        })
    return {
        "version": SYNTH_VERSION,
        "size": [int(h), int(w)],
        "num_frames": int(num_frames),
        "fps": FPS,
        "background": background,
        "pan": pan,
        "objects": objects,
    }


def _spread_points(rng: np.random.Generator, n: int, h: int, w: int, r: float) -> list[tuple[float, float]]:
    """Start points inside the frame, each the best of a few draws at keeping apart from the others."""
    margin_x, margin_y = min(1.1 * r, w / 3), min(1.1 * r, h / 3)
    pts: list[tuple[float, float]] = []
    for _ in range(n):
        cands = np.stack([rng.uniform(margin_x, w - margin_x, 8), rng.uniform(margin_y, h - margin_y, 8)], axis=1)
        if pts:
            d = np.min(np.linalg.norm(cands[:, None, :] - np.asarray(pts)[None], axis=-1), axis=1)
            best = cands[int(np.argmax(d))]
        else:
            best = cands[0]
        pts.append((float(best[0]), float(best[1])))
    return pts


# --------------------------------------------------------------------------- rendering

def _ease(kind: str, tau: float) -> float:
    if kind == "accelerating":
        return tau * tau
    if kind == "decelerating":
        return 1.0 - (1.0 - tau) ** 2
    return tau


def object_pose(spec: dict[str, Any], tau: float) -> tuple[float, float, float, float]:
    """Centre x, centre y, radius and angle of an object at normalised time ``tau``."""
    (x0, y0), (x1, y1) = spec["start"], spec["end"]
    e = _ease(spec["ease"], tau)
    dx, dy = x1 - x0, y1 - y0
    norm = math.hypot(dx, dy)
    nx, ny = (-dy / norm, dx / norm) if norm > 1e-6 else (0.0, 1.0)
    cycles = {"straight": 0.0, "arc": 1.0, "s-curve": 2.0}[spec["path"]]
    off = spec["bend"] * math.sin(math.pi * cycles * tau) if cycles else 0.0
    cx, cy = x0 + dx * e + nx * off, y0 + dy * e + ny * off
    radius = spec["radius"] * spec["zoom"] ** tau
    return cx, cy, radius, spec["angle"] + spec["spin"] * tau


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of local coordinates (unit size) in a shape."""
    if shape in ("disc", "oval"):
        return u * u + v * v <= 1.0
    if shape == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.36)
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.36) & (av <= 1.0)) | ((au <= 1.0) & (av <= 0.36))
    if shape in ("triangle", "hexagon"):
        n, apothem = (3, 0.55) if shape == "triangle" else (6, 0.9)
        out = np.ones(u.shape, dtype=bool)
        for i in range(n):
            a = -math.pi / 2 + 2 * math.pi * i / n + math.pi / n * (shape == "triangle")
            out &= u * math.cos(a) + v * math.sin(a) <= apothem
        return out
    if shape == "star":
        r = np.hypot(u, v)
        sector = 2 * math.pi / 5
        phi = np.abs(np.mod(np.arctan2(v, u) + math.pi / 2, sector) - sector / 2)  # folded, tip at 0
        inner = 0.45
        vx, vy = inner * math.cos(sector / 2), inner * math.sin(sector / 2)
        px, py = r * np.cos(phi), r * np.sin(phi)
        # inside when on the origin's side of the tip-(1,0) to valley-(vx,vy) edge
        return (vx - 1.0) * py - vy * (px - 1.0) >= 0.0
    raise ValueError(f"unknown shape {shape!r}")


def _texture(kind: str, u: np.ndarray, v: np.ndarray, freq: float) -> np.ndarray:
    if kind == "striped":
        return np.where(np.sin(2 * math.pi * freq * u) > 0, 1.0, 0.6)
    if kind == "spotted":
        fu, fv = np.mod(u * freq, 1.0) - 0.5, np.mod(v * freq, 1.0) - 0.5
        return np.where(fu * fu + fv * fv < 0.09, 0.6, 1.0)
    if kind == "checkered":
        return np.where((np.floor(u * freq) + np.floor(v * freq)) % 2 == 0, 1.0, 0.65)
    return np.ones_like(u)


def _smooth_noise(seed: int, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid, bilinearly interpolated (separable)."""
    rng = np.random.default_rng(seed)
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.random((gh, gw))
    ys = np.arange(h) / cell
    xs = np.arange(w) / cell
    rows = np.stack([np.interp(xs, np.arange(gw), grid[i]) for i in range(gh)])  # (gh, w)
    out = np.stack([np.interp(ys, np.arange(gh), rows[:, j]) for j in range(w)], axis=1)  # (h, w)
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo + 1e-9)


def render_background(bg: dict[str, Any], h: int, w: int) -> np.ndarray:
    """The background canvas (h, w, 3) float32 in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    along = xx * math.cos(bg["angle"]) + yy * math.sin(bg["angle"])
    noise = _smooth_noise(bg["noise_seed"], h, w, max(8.0, bg["period"]))
    kind = bg["kind"]
    if kind == "cloudy":
        t = noise
    elif kind == "gradient":
        t = 0.8 * (along - along.min()) / (np.ptp(along) + 1e-9) + 0.2 * noise
    elif kind == "striped":
        t = 0.75 * (0.5 + 0.5 * np.sin(2 * math.pi * along / bg["period"])) + 0.25 * noise
    else:  # tiled
        cell = bg["period"]
        t = 0.7 * ((np.floor(xx / cell) + np.floor(yy / cell)) % 2) + 0.3 * noise
    lo = np.asarray(_hsv(bg["hue"], bg["sat"], bg["v_lo"]))
    hi = np.asarray(_hsv(bg["hue2"], bg["sat"], bg["v_hi"]))
    return (lo + t[..., None] * (hi - lo)).astype(np.float32)


def render_params(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Render a scene description: frames (T, H, W, 3) uint8 and labels (T, H, W) int8.

    ``labels[t, y, x]`` is the index of the object painted at that pixel (front-most after
    the depth order), -1 for background: object ``k``'s exact visible mask is ``labels == k``.
    """
    h, w = params["size"]
    t_count = params["num_frames"]
    px, py = params["pan"]
    canvas = render_background(params["background"], h + int(math.ceil(abs(py))) + 1, w + int(math.ceil(abs(px))) + 1)
    ox0, oy0 = (abs(px) if px < 0 else 0.0), (abs(py) if py < 0 else 0.0)
    specs = params["objects"]
    order = sorted(range(len(specs)), key=lambda k: specs[k]["depth"])  # back to front
    colours = [np.asarray(_hsv(s["hue"], s["sat"], s["val"]), dtype=np.float32) for s in specs]
    frames = np.empty((t_count, h, w, 3), dtype=np.uint8)
    labels = np.full((t_count, h, w), -1, dtype=np.int8)
    for t in range(t_count):
        tau = t / (t_count - 1) if t_count > 1 else 0.0
        ox, oy = int(round(ox0 + px * tau)), int(round(oy0 + py * tau))
        frame = canvas[oy : oy + h, ox : ox + w].copy()
        lab = labels[t]
        for k in order:
            _paint(frame, lab, k, specs[k], colours[k], tau)
        frames[t] = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return frames, labels


def _paint(frame: np.ndarray, lab: np.ndarray, k: int, spec: dict[str, Any], colour: np.ndarray, tau: float) -> None:
    """Paint object ``k`` into ``frame`` and ``lab`` (only its bounding region is computed)."""
    h, w = lab.shape
    cx, cy, radius, angle = object_pose(spec, tau)
    ax, ay = 1.0, spec["aspect"]
    ext = radius * 1.5  # every shape lies within 1.5 unit radii of its centre
    x0, x1 = max(0, int(math.floor(cx - ext))), min(w, int(math.ceil(cx + ext)) + 1)
    y0, y1 = max(0, int(math.floor(cy - ext))), min(h, int(math.ceil(cy + ext)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    dx = (np.arange(x0, x1) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1) + 0.5 - cy)[:, None]
    c, s = math.cos(angle), math.sin(angle)
    u = (c * dx + s * dy) / (radius * ax)
    v = (-s * dx + c * dy) / (radius * ay)
    inside = _inside(spec["shape"], u, v)
    if not inside.any():
        return
    lx, ly = spec["light"]
    shade = np.clip(0.86 + 0.14 * (u * lx + v * ly) - 0.12 * (u * u + v * v), 0.6, 1.0)
    gain = (_texture(spec["texture"], u, v, spec["tex_freq"]) * shade).astype(np.float32)
    region = frame[y0:y1, x0:x1]
    region[inside] = gain[inside][:, None] * colour[None, :]
    lab[y0:y1, x0:x1][inside] = k


def _acceptable(labels: np.ndarray, num_objects: int) -> bool:
    """The scene-acceptance rules (see MIN_AREA_FRAC, MIN_VISIBLE_FRAC)."""
    t_count, h, w = labels.shape
    counts = np.stack([(labels == k).reshape(t_count, -1).sum(axis=1) for k in range(num_objects)])  # (K, T)
    if (counts[:, 0] < MIN_AREA_FRAC * h * w).any():
        return False
    if ((counts > 0).mean(axis=1) < MIN_VISIBLE_FRAC).any():
        return False
    return True


# --------------------------------------------------------------------------- language

_HUE_NAMES = ((12, "red"), (38, "orange"), (66, "yellow"), (160, "green"), (195, "cyan"), (255, "blue"), (285, "purple"), (335, "pink"), (360, "red"))
_SHAPE_NOUNS = {"disc": "disc", "oval": "oval", "rectangle": "rectangle", "triangle": "triangle", "star": "star", "ring": "ring", "hexagon": "hexagon", "cross": "cross"}
_DIRS = ("right", "down and to the right", "down", "down and to the left", "left", "up and to the left", "up", "up and to the right")


def colour_name(hue: float) -> str:
    hue = hue % 360.0
    for limit, name in _HUE_NAMES:
        if hue < limit:
            return name
    return "red"


def object_label(spec: dict[str, Any]) -> str:
    """Short noun phrase, e.g. ``"red striped disc"``."""
    tex = "" if spec["texture"] == "plain" else spec["texture"] + " "
    return f"{colour_name(spec['hue'])} {tex}{_SHAPE_NOUNS[spec['shape']]}"


def _direction(dx: float, dy: float) -> str:
    octant = int(round(math.atan2(dy, dx) / (math.pi / 4))) % 8  # image y points down
    return _DIRS[octant]


def _motion_phrase(spec: dict[str, Any], width: int) -> str:
    (x0, y0), (x1, y1) = spec["start"], spec["end"]
    dx, dy = x1 - x0, y1 - y0
    parts = []
    if math.hypot(dx, dy) < 0.08 * width:
        parts.append("stays almost still")
    else:
        verb = {"straight": "moves", "arc": "curves", "s-curve": "weaves"}[spec["path"]]
        speed = {"steady": "", "accelerating": " faster and faster", "decelerating": " and slows down"}[spec["ease"]]
        parts.append(f"{verb} {_direction(dx, dy)}{speed}")
    if spec["zoom"] > 1.15:
        parts.append("grows")
    elif spec["zoom"] < 0.87:
        parts.append("shrinks")
    if abs(spec["spin"]) > 1.0 and spec["shape"] not in ("disc", "ring"):
        parts.append("spins")
    return " and ".join(parts) if len(parts) < 3 else f"{parts[0]}, {parts[1]} and {parts[2]}"


def _article(phrase: str) -> str:
    return "an" if phrase[:1] in "aeiou" else "a"


def scene_prompt(params: dict[str, Any]) -> str:
    """A text prompt describing the scene, generated from its description."""
    w = params["size"][1]
    clauses = [f"{_article(object_label(s))} {object_label(s)} {_motion_phrase(s, w)}" for s in params["objects"]]
    if len(clauses) == 1:
        body = clauses[0]
    else:
        body = ", ".join(clauses[:-1]) + " while " + clauses[-1]
    bg = params["background"]
    tone = "grey" if bg["sat"] < 0.1 else f"muted {colour_name(bg['hue'])}"
    scene = f"on a {tone} {bg['kind']} background"
    px, py = params["pan"]
    if math.hypot(px, py) > 1.0:
        scene += f" as the camera pans {_direction(px, py)}"
    text = f"{body} {scene}."
    return text[0].upper() + text[1:]
