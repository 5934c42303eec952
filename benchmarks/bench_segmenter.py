"""The weight-free proxy segmenters on real photographs with exact masks, side by side.

Footage is built here so every mask is exact: real photographs from scikit-image's bundled
data are the objects (coins cut out by thresholding, the logo by its alpha channel, and
regions of the astronaut, cat, coffee, rocket and tissue photographs cut to a known outline),
composited over a real photograph that the camera pans and zooms across (a moving view of a
still photograph stands in for video footage). Object paths, sizes, spins, depth order and
camera pans are drawn by FlashBench-Synth's scene sampler, so the motion matches the
benchmark's. Half the videos have a lighting change over time (gain and tint ramp), half a
foreground pole that partly occludes objects passing behind it.

Each true video is segmented from its frame-0 prompts, and so is each "generated" variant,
always scored against the true video's masks (the condition):

* ceiling: the true video (mask prompt; also with the box prompt)
* noise: the true video plus Gaussian noise (sigma 8 of 255)
* h264: the true video after an H.264 round trip (libx264, CRF 23, yuv420p)
* speed70: objects move along their paths at 70% speed (same camera), plus the same noise
* frozen: objects stay at their frame-0 pose (same camera), plus the same noise
* removed: objects vanish after frame 0 (background only), plus the same noise

Needs scikit-image (`pip install -e ".[bench]"`). Prints mask IoU, box IoU and coverage
(percent) per variant and segmenter, and the time per video.

``--embedded`` instead times both segmenters on the ground truth of the embedded default
benchmark (FlashBench-Synth, 24 videos of 33 frames at 128x224, 1 to 7 objects), which an
evaluation segments twice per video (ground-truth ceiling, generated video), and prints
their ceilings there.

    python benchmarks/bench_segmenter.py [--videos 24] [--frames 33] [--split test]
    python benchmarks/bench_segmenter.py --embedded

``--split dev`` draws a disjoint set of scenes (for choosing tracker settings without looking at
the reported ones).
"""

from __future__ import annotations

import argparse
import io
import math
import time
from dataclasses import dataclass

import numpy as np

SIZE = (128, 224)
OBJECT_COUNTS = (1, 2, 3, 4, 5, 7)
NOISE_SIGMA = 8.0
SPEED = 0.7
H264_CRF = 23


# ----------------------------------------------------------------------------- real cut-outs


@dataclass(frozen=True)
class Cutout:
    name: str
    rgb: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool, exact


def _crop(rgb: np.ndarray, mask: np.ndarray, name: str) -> Cutout:
    ys, xs = np.nonzero(mask)
    sl = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return Cutout(name, np.ascontiguousarray(rgb[sl]), np.ascontiguousarray(mask[sl]))


def _aspect(box: tuple[slice, slice]) -> float:
    h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
    return max(h, w) / min(h, w)


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def cutouts() -> list[Cutout]:
    import cv2
    import skimage.data as data
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    out = []
    coins = data.coins()
    fg = ndimage.binary_fill_holes(ndimage.binary_opening(coins > threshold_otsu(coins), iterations=2))
    lab, n = ndimage.label(fg)
    sizes = np.bincount(lab.ravel())
    rgb = np.repeat(coins[..., None], 3, axis=2)
    boxes = ndimage.find_objects(lab)
    single = [j for j in range(1, n + 1) if sizes[j] >= 1000 and _aspect(boxes[j - 1]) < 1.3]  # not two touching coins
    for i in sorted(single, key=lambda j: -sizes[j])[:6]:
        out.append(_crop(rgb, lab == i, f"coin{i}"))
    logo = data.logo()
    ink = (logo[..., 3] > 127) & (logo[..., :3].min(axis=2) < 235)  # the drawing, not its white ground
    out.append(_crop(logo[..., :3], ndimage.binary_fill_holes(ink), "logo"))
    cat = data.chelsea()
    out.append(_crop(cat, _ellipse(cat.shape[:2], 150, 255, 110, 120), "cat-head"))
    astro = data.astronaut()
    out.append(_crop(astro, _ellipse(astro.shape[:2], 150, 230, 120, 95), "astronaut-head"))
    coffee = data.coffee()
    out.append(_crop(coffee, _ellipse(coffee.shape[:2], 160, 300, 120, 190), "coffee-cup"))
    rocket = data.rocket()
    m = np.zeros(rocket.shape[:2], dtype=bool)
    m[40:400, 280:380] = True
    out.append(_crop(rocket, m, "rocket"))
    tissue = data.immunohistochemistry()
    out.append(_crop(tissue, _ellipse(tissue.shape[:2], 256, 256, 150, 220), "tissue"))
    horse = ~data.horse()  # silhouette (True = horse), textured with the cat's fur
    fur = cv2.resize(cat, horse.shape[::-1], interpolation=cv2.INTER_AREA)
    out.append(_crop(fur, horse, "fur-horse"))
    return out


def backgrounds() -> list[tuple[str, np.ndarray]]:
    import skimage.data as data

    left, right, _ = data.stereo_motorcycle()
    return [("motorcycle", left), ("coffee", data.coffee()), ("rocket", data.rocket()), ("astronaut", data.astronaut()),
            ("chelsea", data.chelsea()), ("motorcycle-right", right)]


# ----------------------------------------------------------------------------- scenes


@dataclass
class Scene:
    params: dict
    background: np.ndarray
    objects: list[Cutout]
    light: tuple[float, np.ndarray] | None  # gain change at the end, tint change at the end
    pole: tuple[float, float, np.ndarray] | None  # x at start, x at end, texture column


def make_scene(index: int, k: int, frames: int, split: str, pool: list[Cutout], bgs: list[tuple[str, np.ndarray]]) -> Scene:
    from flashbench.data.synth import derive_seed, sample_scene

    rng = np.random.default_rng(derive_seed("bench-segmenter", split, index, k))
    params = sample_scene(rng, k, frames, SIZE)
    bg = bgs[int(rng.integers(len(bgs)))][1]
    objs = [pool[int(j)] for j in rng.choice(len(pool), size=k, replace=k > len(pool))]
    light = (float(rng.uniform(-0.3, 0.3)), rng.uniform(-0.08, 0.08, 3)) if rng.random() < 0.5 else None
    pole = None
    if rng.random() < 0.5:
        x0 = float(rng.uniform(0.2, 0.8) * SIZE[1])
        pole = (x0, x0 + float(rng.uniform(-0.15, 0.15) * SIZE[1]), bgs[int(rng.integers(len(bgs)))][1])
    return Scene(params, bg, objs, light, pole)


def _camera(bg: np.ndarray, pan: tuple[float, float], tau: float) -> np.ndarray:
    """The view at time ``tau``: the photograph scaled to cover the frame with room to pan,
    shifted along ``pan`` and zoomed in by up to 12%."""
    import cv2

    h, w = SIZE
    bh, bw = bg.shape[:2]
    need_w, need_h = w + abs(pan[0]) + 4, h + abs(pan[1]) + 4
    scale = max(need_w / bw, need_h / bh) * (1.0 + 0.12 * tau)
    ox = (abs(pan[0]) if pan[0] < 0 else 0.0) + pan[0] * tau + 2
    oy = (abs(pan[1]) if pan[1] < 0 else 0.0) + pan[1] * tau + 2
    m = np.array([[scale, 0, -ox], [0, scale, -oy]], dtype=np.float64)
    return cv2.warpAffine(bg, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _place(cut: Cutout, spec: dict, pose: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out warped to a pose: RGB (bilinear) and its exact mask (nearest)."""
    import cv2

    h, w = SIZE
    cx, cy, radius, angle = pose
    ch, cw = cut.mask.shape
    scale = math.sqrt(math.pi) * radius / math.sqrt(float(cut.mask.sum()))
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    # object pixel (u, v) about its centre -> frame pixel
    m = np.array([[c, -s, cx - c * cw / 2 + s * ch / 2], [s, c, cy - s * cw / 2 - c * ch / 2]], dtype=np.float64)
    rgb = cv2.warpAffine(cut.rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(cut.mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0
    return rgb, mask


def render(scene: Scene, frames: int, speed: float = 1.0, frozen: bool = False, removed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 and per-object visible masks (K, T, H, W) bool."""
    import cv2

    from flashbench.data.synth import object_pose

    h, w = SIZE
    specs = scene.params["objects"]
    order = sorted(range(len(specs)), key=lambda j: specs[j]["depth"])  # back to front
    video = np.empty((frames, h, w, 3), dtype=np.uint8)
    masks = np.zeros((len(specs), frames, h, w), dtype=bool)
    for t in range(frames):
        tau = t / (frames - 1) if frames > 1 else 0.0
        frame = _camera(scene.background, scene.params["pan"], tau).astype(np.float32)
        label = np.full((h, w), -1, dtype=np.int16)
        if not (removed and t > 0):
            obj_tau = 0.0 if frozen else speed * tau
            for j in order:
                rgb, m = _place(scene.objects[j], specs[j], object_pose(specs[j], obj_tau))
                frame[m] = rgb[m]
                label[m] = j
        if scene.pole is not None:
            x0, x1, tex = scene.pole
            x = x0 + (x1 - x0) * tau
            pw = 7
            col = cv2.resize(np.ascontiguousarray(tex[:, : tex.shape[1] // 8]), (pw, h), interpolation=cv2.INTER_AREA)
            lo, hi = int(round(x - pw / 2)), int(round(x - pw / 2)) + pw
            a, b = max(lo, 0), min(hi, w)
            if b > a:
                frame[:, a:b] = col[:, a - lo:b - lo]
                label[:, a:b] = -1
        if scene.light is not None:
            gain, tint = scene.light
            frame = frame * (1.0 + gain * tau) * (1.0 + tint * tau)[None, None, :]
        video[t] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
        for j in range(len(specs)):
            masks[j, t] = label == j
    return video, masks


def add_noise(video: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(video + rng.normal(0.0, NOISE_SIGMA, video.shape) + 0.5, 0, 255).astype(np.uint8)


def h264_round_trip(video: np.ndarray, crf: int = H264_CRF) -> np.ndarray:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for f in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as inp:
        return np.stack([fr.to_ndarray(format="rgb24") for fr in inp.decode(video=0)])


# ----------------------------------------------------------------------------- scoring


VARIANTS = ("ceiling", "ceiling (box prompt)", "noise", "h264", "speed70", "frozen", "removed")


def variant_videos(scene: Scene, true: np.ndarray, frames: int, seed: int) -> dict[str, np.ndarray]:
    return {
        "ceiling": true,
        "noise": add_noise(true, seed),
        "h264": h264_round_trip(true),
        "speed70": add_noise(render(scene, frames, speed=SPEED)[0], seed),
        "frozen": add_noise(render(scene, frames, frozen=True)[0], seed),
        "removed": add_noise(render(scene, frames, removed=True)[0], seed),
    }


def embedded_timing() -> None:
    from flashbench import embedded
    from flashbench.data.benchmark import Benchmark
    from flashbench.metrics import ColorTracker, FlowTracker, score_video

    bench = Benchmark.open(embedded.ensure_benchmark(progress=False))
    samples = [bench.sample(info.video_id) for info in bench.select(None, None)]
    print(f"Embedded default {bench.name}: {len(samples)} videos, ground truth segmented from frame-0 masks")
    for seg in (ColorTracker(), FlowTracker()):
        seconds, ceiling = 0.0, []
        for sample in samples:
            frames = sample.frames()
            first = np.stack([o.mask(0) for o in sample.objects])
            t0 = time.perf_counter()
            pred = seg.segment(frames, masks=first)
            seconds += time.perf_counter() - t0
            ceiling.append(score_video(pred, list(sample.objects)).mask_iou)
        print(f"{seg.info.name:<28} {1000 * seconds / len(samples):6.0f} ms per video, {2 * seconds:6.1f} s per evaluation "
              f"(two segmentations per video); ceiling mask IoU {100 * np.nanmean(ceiling):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=24, help="videos, spread over 1, 2, 3, 4, 5 and 7 objects")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--embedded", action="store_true", help="time both segmenters on the embedded default benchmark")
    args = ap.parse_args()
    if args.embedded:
        embedded_timing()
        return

    from flashbench.data.schema import ObjectTrack
    from flashbench.metrics import ColorTracker, score_video
    from flashbench.metrics.flow_tracker import FlowTracker

    pool, bgs = cutouts(), backgrounds()
    segmenters = {"tracker-v1": (ColorTracker(), ColorTracker()), "flowtracker-v1": (FlowTracker(), FlowTracker(prompt="box"))}
    results = {name: {v: [] for v in VARIANTS} for name in segmenters}
    seconds = {name: 0.0 for name in segmenters}
    calls = 0
    for index in range(args.videos):
        k = OBJECT_COUNTS[index % len(OBJECT_COUNTS)]
        scene = make_scene(index, k, args.frames, args.split, pool, bgs)
        true, masks = render(scene, args.frames)
        objects = [ObjectTrack.from_masks(j, scene.objects[j].name, masks[j]) for j in range(k)]
        first, boxes = masks[:, 0], np.stack([o.boxes[0] for o in objects])
        videos = variant_videos(scene, true, args.frames, seed=index)
        for name, (by_mask, by_box) in segmenters.items():
            for variant in VARIANTS:
                video = videos["ceiling" if variant.startswith("ceiling") else variant]
                t0 = time.perf_counter()
                if variant == "ceiling (box prompt)":
                    pred = by_box.segment(video, boxes=boxes)
                else:
                    pred = by_mask.segment(video, masks=first, boxes=boxes)
                seconds[name] += time.perf_counter() - t0
                results[name][variant].append(score_video(pred, objects))
        calls += len(VARIANTS)

    print(f"Proxy segmenters on real photographs composited over a panned/zoomed real photograph "
          f"({args.videos} videos, {args.frames} frames {SIZE[0]}x{SIZE[1]}, {OBJECT_COUNTS} objects, split {args.split}).")
    print("Scores against the true video's masks, frames 1.. (percent); coverage: frames with a non-empty prediction.\n")
    names = list(segmenters)
    head = f"{'variant':<22}" + "".join(f"{n + ' M/B IoU, cover':>36}" for n in names)
    print(head)
    print("-" * len(head))
    table = {}
    for variant in VARIANTS:
        row = f"{variant:<22}"
        for name in names:
            scores = results[name][variant]
            m = 100 * np.nanmean([s.mask_iou for s in scores])
            b = 100 * np.nanmean([s.box_iou for s in scores])
            c = 100 * np.nanmean([s.coverage for s in scores])
            table[name, variant] = m
            row += f"{m:>22.1f}{b:>7.1f}{c:>7.1f}"
        print(row)
    print()
    for name in names:
        print(f"{name}: {1000 * seconds[name] / calls:.0f} ms per video; "
              f"ceiling {table[name, 'ceiling']:.1f} (target >= 85), "
              f"noise - speed70 {table[name, 'noise'] - table[name, 'speed70']:.1f} points (target >= 15), "
              f"removed {table[name, 'removed']:.1f} (target < 20)")


if __name__ == "__main__":
    main()
