"""The embedded default: FlashBench-Synth at a size that runs on a laptop CPU, no downloads.

Built into the cache on first use. Its protocol differs from the full one only where a CPU
budget forces it (frame count via the benchmark, FID frame stride), and the differences are
fields of the protocol, so its hash says the numbers are not the full benchmark's.
"""

from __future__ import annotations

from pathlib import Path

from . import paths
from .protocol import Protocol

NAME = "flashbench-synth-mini-v1"
PER_GROUP = 4
NUM_FRAMES = 33
SIZE = (128, 224)
SEED = 0
PROTOCOL = Protocol(fid_frame_stride=4)


def benchmark_dir() -> Path:
    return paths.benchmarks_dir() / NAME


def ensure_benchmark(progress: bool = True) -> Path:
    """The embedded benchmark directory, built (resumably) if it is not complete yet."""
    root = benchmark_dir()
    if not (root / "manifest.json").is_file():
        from .data.builder import build_benchmark

        build_benchmark(
            "synth", root, per_group=PER_GROUP, num_frames=NUM_FRAMES, size=SIZE, seed=SEED, progress=progress, name=NAME
        )
    return root
