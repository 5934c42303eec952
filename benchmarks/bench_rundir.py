"""Run-directory size apart from the videos, at 60 and 600 videos, new layout against old.

Generating and scoring 600 videos of 121 frames takes hours, so the run directory is
synthesised with the writers the harness uses: per-group generated-side Fréchet statistics
written by ``FeatureStats.save`` as ``evaluate.group_statistics`` writes them, from features
of the full benchmark's shape (120 FID frames per video: frames 1..120 at stride 1, 2048-d;
one 16-frame FVD clip, 400-d), plus a record, a score file and a ``videos.csv`` row per video
shaped like the harness's. The features are random but have the two properties of real
Inception/I3D features that matter for the compressed size: non-negative (pool3 follows a
ReLU; I3D logits are not, so their features are drawn signed) and float32 as the networks
output. The old layout (before the real side moved to the benchmark's cache) is computed
from its file list: 14 float64 statistics files (fid/fvd x real/fake x 6 groups + overall)
and a float32 feature file per video with both sides.

    python benchmarks/bench_rundir.py [--videos 60 600] [--fid-frames 120]

Target: new layout at 600 videos <= 100 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

GROUPS = ("1", "2", "3", "4", "5", ">5")
FID_DIM, FVD_DIM = 2048, 400


def _dir_size(root: Path, skip: str = "videos") -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != skip)


def synthesise(root: Path, n_videos: int, fid_frames: int, seed: int = 0) -> None:
    import pandas as pd

    from flashbench.aggregate import group_tag
    from flashbench.metrics.frechet import FeatureStats
    from flashbench.utils.atomic import atomic_write_json

    rng = np.random.default_rng(seed)
    per_group = n_videos // len(GROUPS)
    scale = rng.gamma(2.0, 0.25, FID_DIM).astype(np.float32)  # per-dimension spread, as pool3 has
    rows = []
    for gi, g in enumerate(GROUPS):
        fid, fvd = [], []
        for k in range(per_group):
            vid = f"synth-g{gi + 1}-{k:04d}"
            fid.append(np.maximum(rng.normal(0.2, 0.5, (fid_frames, FID_DIM)).astype(np.float32), 0) * scale)
            fvd.append(rng.normal(0.0, 1.0, (1, FVD_DIM)).astype(np.float32))
            n_obj = min(gi + 1, 5) + (rng.integers(0, 4) if g == ">5" else 0)
            objects = [{"index": i, "mask_iou": float(rng.random()), "box_iou": float(rng.random()), "coverage": 1.0,
                        "centroid_error": float(rng.random()), "frames": fid_frames} for i in range(n_obj)]
            score = {"video_id": vid, "metric_key": "0" * 20, "record_key": "0" * 20, "status": "ok",
                     "ceiling": {"mask_iou": float(rng.random()), "box_iou": float(rng.random())},
                     "mask_iou": float(rng.random()), "box_iou": float(rng.random()), "coverage": 1.0,
                     "centroid_error": float(rng.random()), "objects": objects, "metrics_s": 1.0}
            atomic_write_json(root / "scores" / f"{vid}.json", score)
            atomic_write_json(root / "records" / f"{vid}.json", {
                "video_id": vid, "key": "0" * 20, "latency_s": 1.0, "denoise_s": 0.5, "status": "ok", "error": None,
                "resized": False, "frames": fid_frames + 1})
            rows.append({"video_id": vid, "group": g, "status": "ok", "error": None,
                         **{m: 100 * float(rng.random()) for m in ("mask_iou", "box_iou", "coverage", "centroid_error",
                                                                  "ceiling_mask_iou", "ceiling_box_iou")},
                         "denoise_s": 0.5, "latency_s": 1.0, "resized": False, "objects": json.dumps(objects)})
        # as evaluate.group_statistics saves them: the sets themselves when they hold no more vectors than dimensions
        for name, sets, dim in (("fid_fake", fid, FID_DIM), ("fvd_fake", fvd, FVD_DIM)):
            FeatureStats.from_feature_sets(sets, dim).save(root / "stats" / f"{name}_{group_tag(g)}.npz", feature_sets=sets)
    pd.DataFrame(rows).to_csv(root / "videos.csv", index=False)
    atomic_write_json(root / "results.json", {"rows": "videos.csv", "note": "placeholder of a results file's size"})


def old_layout_bytes(n_videos: int, fid_frames: int) -> int:
    """Statistics and per-video features as the run directory held them before (npz overhead ignored)."""
    stats_file = lambda d: 8 * (d * d + d + 2)  # noqa: E731 - float64 outer, sum, n, dim
    stats = 7 * 2 * (stats_file(FID_DIM) + stats_file(FVD_DIM))
    features = n_videos * 4 * 2 * (fid_frames * FID_DIM + FVD_DIM)
    return stats + features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, nargs="+", default=[60, 600])
    ap.add_argument("--fid-frames", type=int, default=120, help="FID frames per video (121 frames, frame 0 skipped)")
    args = ap.parse_args()
    print(f"{'videos':>7} {'new layout MB':>14} {'of which stats MB':>18} {'old layout MB':>14} {'new/old':>8}")
    for n in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            synthesise(root, n, args.fid_frames)
            new = _dir_size(root)
            stats = sum(p.stat().st_size for p in (root / "stats").glob("*.npz"))
        old = old_layout_bytes(n, args.fid_frames) + (new - stats)
        print(f"{n:>7} {new / 1e6:>14.1f} {stats / 1e6:>18.1f} {old / 1e6:>14.1f} {new / old:>8.3f}")
    print("target: new layout at 600 videos <= 100 MB (run directory apart from the videos)")


if __name__ == "__main__":
    main()
