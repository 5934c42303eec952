"""Throughput of `flashbench build --source synth`: videos/s, projected time for 600 videos, peak RSS.

Builds FlashBench-Synth into a temporary folder (default: the full benchmark, 6 x 100 videos
of 121 frames at 128x224) and prints the figures. The target is the full build in <= 10
minutes on 2 cores with the whole process tree under 2 GiB.

    python benchmarks/bench_build.py                       # full size
    python benchmarks/bench_build.py --per-group 10        # quick projection
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path


def _tree_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, from /proc (Linux)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


class TreeRssSampler(threading.Thread):
    """Samples the process tree's summed RSS every ``interval`` seconds; keeps the peak."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, 0, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-group", type=int, default=100)
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--size", default="128x224")
    ap.add_argument("--workers", type=int, default=None, help="default: CPU count")
    ap.add_argument("--validate", action="store_true", help="also time `flashbench validate` (decodes every video)")
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it (default: a temp dir, removed)")
    args = ap.parse_args()

    from flashbench.data.builder import build_benchmark

    workers = args.workers or os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="fb-bench-build-"))
    out = args.keep or tmp / "bench"
    sampler = TreeRssSampler()
    sampler.start()
    t0 = time.perf_counter()
    build_benchmark("synth", out, per_group=args.per_group, num_frames=args.frames, size=args.size, seed=0, workers=workers, progress=False)
    secs = time.perf_counter() - t0
    tree_peak = sampler.stop()
    n = 6 * args.per_group
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # largest single worker
    gib = 2**30
    print(f"synth build: {n} videos x {args.frames} frames at {args.size}, {workers} worker(s), {os.cpu_count()} CPU(s)")
    print(f"total seconds        : {secs:.1f}")
    print(f"videos/s             : {n / secs:.2f}")
    print(f"projected 600 videos : {600 * secs / n:.0f} s ({600 * secs / n / 60:.1f} min; target <= 10 min)")
    print(f"peak RSS, tree (sampled every 0.2 s): {tree_peak / gib:.3f} GiB (target < 2 GiB)")
    print(f"peak RSS, main / largest worker (getrusage): {self_peak / gib:.3f} / {child_peak / gib:.3f} GiB; "
          f"bound main + {workers} x worker = {(self_peak + workers * child_peak) / gib:.3f} GiB")
    print(f"on disk              : {size_mb:.1f} MiB ({size_mb / n:.2f} MiB/video)")
    if args.validate:
        from flashbench.data.validate import check_benchmark

        t0 = time.perf_counter()
        check_benchmark(out)
        print(f"validate (hash + decode all): {time.perf_counter() - t0:.1f} s")
    if args.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
