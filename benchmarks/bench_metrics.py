"""Metric pipeline costs, measured side by side in one run (CPU by default).

Prints:
1. FID pipeline: time outside the network forward (video decode, clean-fid resize, float64
   statistics) as a share of the total per-frame pipeline (target <= 20% on CPU); the one-off
   Fréchet distance of a 2048-d set is printed separately (it is paid once per group, not per frame).
2. IoU scoring throughput in object-frames per second, segmentation excluded.
3. The weight-free tracker's time on a 33-frame 128x224 video with 5 objects.

Uses the proxy extractors (same architectures and FLOPs as the official networks).

    python benchmarks/bench_metrics.py [--frames 33] [--videos 2] [--threads N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def bench_fid(videos: int, frames: int, size: tuple[int, int]) -> None:
    from flashbench.data.synth import render_scene
    from flashbench.data.video import read_video, write_video
    from flashbench.metrics import FeatureStats, clean_resize, fid_frame_indices, fid_from_stats, load_inception

    ext = load_inception("proxy")
    tmp = Path(tempfile.mkdtemp())
    paths = []
    for i in range(videos):
        paths.append(write_video(tmp / f"v{i}.mkv", render_scene(i, 3, num_frames=frames, size=size).frames))
    t = {"decode": 0.0, "resize": 0.0, "forward": 0.0, "stats": 0.0}
    stats = FeatureStats.empty(2048)
    n = 0
    for p in paths:
        t0 = time.perf_counter()
        video = read_video(p)
        sel = video[fid_frame_indices(video.shape[0])]
        t1 = time.perf_counter()
        for start in range(0, len(sel), 32):
            t2 = time.perf_counter()
            x = clean_resize(sel[start:start + 32])
            t3 = time.perf_counter()
            feats = ext(x).numpy()
            t4 = time.perf_counter()
            stats.update(feats)
            t5 = time.perf_counter()
            t["resize"] += t3 - t2
            t["forward"] += t4 - t3
            t["stats"] += t5 - t4
        t["decode"] += t1 - t0
        n += len(sel)
    total = sum(t.values())
    outside = total - t["forward"]
    print(f"FID pipeline ({n} frames {size[0]}x{size[1]}, proxy InceptionV3, {videos} lossless videos):")
    for k, v in t.items():
        print(f"  {k:8s} {v:8.3f} s  {1000 * v / n:7.2f} ms/frame  {100 * v / total:5.1f}%")
    print(f"  outside the network forward: {100 * outside / total:.1f}% of the pipeline (target <= 20%)")
    other = FeatureStats.from_features(np.asarray(stats.mean())[None] + np.random.default_rng(0).normal(size=(64, 2048)))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fid_from_stats(stats, other)
    print(f"  one-off Fréchet distance (2048-d, float64): {time.perf_counter() - t0:.3f} s per group")
    shutil.rmtree(tmp, ignore_errors=True)


def bench_iou(videos: int, frames: int, size: tuple[int, int]) -> None:
    from flashbench.data.synth import render_scene
    from flashbench.metrics import ColorTracker, score_video

    data = []
    rng = np.random.default_rng(0)
    for i in range(videos):
        v = render_scene(100 + i, 5, num_frames=frames, size=size)
        gt = np.stack([o.masks() for o in v.objects])
        pred = np.roll(gt, shift=(int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(2, 3))
        pred[:, ::7] = False  # some empty predictions
        data.append((pred, v.objects, v))
    object_frames = sum(int(sum(o.visible[1:].sum() for o in objs)) for _, objs, _ in data)
    t0 = time.perf_counter()
    for pred, objs, _ in data:
        score_video(pred, objs)
    dt = time.perf_counter() - t0
    print(f"IoU scoring ({videos} videos x 5 objects x {frames} frames {size[0]}x{size[1]}, segmentation excluded):")
    print(f"  {object_frames} object-frames in {dt:.3f} s = {object_frames / dt:,.0f} object-frames/s")
    tracker = ColorTracker()
    v = data[0][2]
    v33 = v.frames[:33]
    masks = np.stack([o.mask(0) for o in v.objects])
    tracker.segment(v33, masks=masks)
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        tracker.segment(v33, masks=masks)
    print(f"Tracker: {(time.perf_counter() - t0) / reps:.3f} s per {len(v33)}-frame {size[0]}x{size[1]} video with 5 objects")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    size = (128, 224)
    bench_fid(args.videos, args.frames, size)
    bench_iou(max(args.videos, 4), max(args.frames, 33), size)


if __name__ == "__main__":
    main()
