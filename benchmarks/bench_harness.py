"""Harness overhead per video and peak memory at 60 versus 600 videos.

The harness (requests, video writes, records, reading back, ground-truth caching, rows,
aggregation) is measured with the `static` generator and trivial scorers that stand in for
the networks (mean-colour "features", a copy-the-first-mask "segmenter"), so what is timed
is the harness itself. Each size runs in a fresh subprocess so peak RSS is its own.

    python benchmarks/bench_harness.py [--frames 9] [--size 64x96]

Target: peak RSS at 600 videos within 10% of 60 videos (everything streams).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _trivial_scorers():
    import numpy as np

    from flashbench.evaluate import Scorers
    from flashbench.metrics import ExtractorInfo

    class Feat:
        def __init__(self, name: str, dim: int):
            self.info = ExtractorInfo(name=name, sha256=None, official=False, dim=dim)

    class Seg:
        info = ExtractorInfo(name="first-mask", sha256=None, official=False, dim=0)

        def segment(self, frames, masks=None, boxes=None):
            return np.repeat(masks[:, None], frames.shape[0], axis=1)

    return Scorers(fid=Feat("mean-colour", 3), fvd=Feat("mean-colour-clip", 3), segmenter=Seg())


def child(bench: str, run_dir: str) -> None:
    import numpy as np

    import flashbench.evaluate as ev
    import flashbench.metrics as metrics

    ev.load_scorers = lambda cfg, protocol: _trivial_scorers()
    metrics.fid_features = lambda ext, frames, **kw: frames.reshape(len(frames), -1, 3).mean(axis=1).astype(np.float64)
    metrics.fvd_features = lambda ext, videos, **kw: np.asarray(videos).reshape(len(videos), -1, 3).mean(axis=1).astype(np.float64)
    t0 = time.perf_counter()
    res = ev.run(ev.EvalConfig(model="static", bench=Path(bench), run_dir=Path(run_dir), progress=False, bootstrap=0))
    wall = time.perf_counter() - t0
    n = res["overall"]["n_expected"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"videos": n, "wall_s": wall, "per_video_ms": 1000 * wall / n, "peak_rss_mib": rss}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--size", default="64x96")
    ap.add_argument("--child", nargs=2, metavar=("BENCH", "RUN_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from flashbench.data.builder import build_benchmark

    h, w = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLASHBENCH_HOME"] = str(Path(tmp) / "home")
        out = {}
        for per_group in (10, 100):
            bench = Path(tmp) / f"bench{per_group}"
            build_benchmark("synth", bench, per_group=per_group, num_frames=args.frames, size=(h, w), seed=0, progress=False)
            proc = subprocess.run([sys.executable, __file__, "--child", str(bench), str(Path(tmp) / f"run{per_group}")],
                                  capture_output=True, text=True, env=dict(os.environ))
            if proc.returncode:
                sys.exit(proc.stderr)
            out[per_group * 6] = json.loads(proc.stdout.strip().splitlines()[-1])
    small, large = out[60], out[600]
    print(f"{'videos':>8} {'wall s':>8} {'ms/video':>9} {'peak RSS MiB':>13}")
    for n, r in out.items():
        print(f"{n:>8} {r['wall_s']:>8.1f} {r['per_video_ms']:>9.1f} {r['peak_rss_mib']:>13.1f}")
    print(f"harness overhead per video: {large['per_video_ms']:.1f} ms (600 videos), {small['per_video_ms']:.1f} ms (60 videos)")
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(f"peak RSS 600/60 videos: {ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
