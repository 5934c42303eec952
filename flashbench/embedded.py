"""The embedded default: FlashBench-Synth at a size that runs on a laptop CPU, no downloads.

Built into the cache on first use. Its protocol differs from the full one only where a CPU
budget forces it (frame count via the benchmark, FID frame stride), and the differences are
fields of the protocol, so its hash says the numbers are not the full benchmark's.

The package ships the real side of its metrics (per-video proxy FID/FVD features and segmenter
ceilings on the CPU) in ``embedded_features/<manifest hash>/<key>/``, under the same key the
evaluation caches them by; a first evaluation copies them into the feature cache instead of
computing them, and never when anything they depend on differs (the key holds the scoring code's
hash). ``python -m flashbench.embedded refresh-features`` recomputes them after the scoring code
changes (a test says when).
"""

from __future__ import annotations

from pathlib import Path

from . import paths
from .protocol import Protocol

NAME = "flashbench-synth-mini-v1"
FEATURES_DIR = Path(__file__).parent / "embedded_features"
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


def real_side_key() -> tuple[Path, dict]:
    """The folder (``<manifest hash>/<key>``) and key material of the embedded benchmark's real
    side as the default evaluation files it: proxy extractors, CPU. Builds the benchmark in
    the cache if needed."""
    from .evaluate import EvalConfig, load_scorers, plan, real_cache_subdir, real_key_material
    from .generators.registry import load_generator

    root = ensure_benchmark(progress=False)
    cfg = EvalConfig(model="ground-truth", extractor="proxy", device="cpu")
    p = plan(cfg, load_generator(cfg.model, benchmark=str(root)), root, True, PROTOCOL)
    scorers = load_scorers(cfg, p.protocol)
    return real_cache_subdir(p, scorers), real_key_material(p, scorers)


def refresh_features(home: Path) -> Path:
    """Recompute the shipped real side: evaluate ``ground-truth`` on the embedded benchmark with
    the proxy extractors on the CPU in the empty cache ``home``, then replace
    :data:`FEATURES_DIR` with that cache's per-video real-side files and ``key.json`` (the key
    material they are filed under)."""
    import os
    import shutil

    from .evaluate import EvalConfig, run
    from .utils.atomic import atomic_write_json

    home = Path(home)
    if home.exists() and any(home.iterdir()):
        raise SystemExit(f"{home}: not empty; refresh-features computes everything in an empty cache")
    os.environ["FLASHBENCH_HOME"] = str(home)
    shutil.rmtree(FEATURES_DIR, ignore_errors=True)  # computed here, never copied from the package
    run(EvalConfig(model="ground-truth", extractor="proxy", device="cpu", run_dir=home / "run"))
    sub, material = real_side_key()
    dest = FEATURES_DIR / sub
    dest.mkdir(parents=True)
    files = sorted((home / "features" / sub).glob("*.npz"))
    if len(files) != PER_GROUP * 6:
        raise SystemExit(f"{home / 'features' / sub}: {len(files)} real-side files, expected {PER_GROUP * 6}")
    for f in files:
        shutil.copyfile(f, dest / f.name)
    atomic_write_json(dest / "key.json", material)
    return dest


if __name__ == "__main__":
    import sys
    import tempfile

    if sys.argv[1:] != ["refresh-features"]:
        raise SystemExit("usage: python -m flashbench.embedded refresh-features")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"wrote {refresh_features(Path(tmp) / 'home')}")
