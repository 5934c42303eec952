"""What a number depends on besides its inputs: the scoring code and the software stack.

:func:`code_hash` keys every metric cache (a code edit invalidates cached features, ceilings
and per-video scores); :func:`package_versions` is recorded in every ``results.json``.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent

# The source files whose code computes a per-video number: every metric module (extractors,
# Fréchet statistics, IoU, segmenters, resizers for FID/FVD), video decoding and resampling,
# mask decoding and the annotation model the IoU reads.
SCORING_SOURCES: tuple[str, ...] = ("metrics/*.py", "data/video.py", "data/rle.py", "data/schema.py")

# Distributions whose code touches a number (decoding, resizing, features, segmentation,
# statistics); absent ones are recorded as null.
PACKAGES: tuple[str, ...] = (
    "flashbench", "torch", "torchvision", "numpy", "scipy", "pillow", "clean-fid", "torchmetrics",
    "pycocotools", "sam2", "diffusers", "transformers", "av", "decord", "opencv-python",
    "opencv-python-headless", "opencv-contrib-python", "scikit-image", "pandas",
)


def scoring_files() -> list[Path]:
    files: set[Path] = set()
    for pattern in SCORING_SOURCES:
        files.update(_ROOT.glob(pattern))
    return sorted(files)


def code_hash() -> str:
    """SHA-256 (16 hex digits) over the path and bytes of every scoring source file.

    Read on every call (a few dozen small files), so an edit made in a live session counts.
    """
    h = hashlib.sha256()
    for f in scoring_files():
        h.update(f.relative_to(_ROOT).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def package_versions() -> dict[str, Any]:
    """Versions of every package that touches a number, Python, and FFmpeg's libraries (via PyAV)."""
    import platform

    out: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["ffmpeg"] = _ffmpeg_versions()
    return out


def _ffmpeg_versions() -> dict[str, str] | None:
    """The FFmpeg libraries PyAV is linked against, e.g. ``{"libavcodec": "62.28.102", ...}``."""
    try:
        import av
    except ImportError:
        return None
    return {lib: ".".join(str(v) for v in ver) for lib, ver in sorted(av.library_versions.items())}


def git_revision(folder: Path, short: bool = True) -> str:
    """``HEAD``'s (short) hash for the checkout holding ``folder``, ``.dirty`` appended when a tracked
    file differs from it (untracked files do not count); "" outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=folder, check=False).stdout.strip()

    try:
        rev = git("rev-parse", *(["--short"] if short else []), "HEAD")
        dirty = bool(rev) and bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{rev}.dirty" if dirty else rev
