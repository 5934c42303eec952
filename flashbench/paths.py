"""Where FlashBench keeps its cache: weights, built benchmarks, generation runs."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$FLASHBENCH_HOME``, else ``$XDG_CACHE_HOME/flashbench``, else ``~/.cache/flashbench``."""
    env = os.environ.get("FLASHBENCH_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "flashbench"


def weights_dir() -> Path:
    return home() / "weights"


def benchmarks_dir() -> Path:
    return home() / "benchmarks"


def runs_dir() -> Path:
    return home() / "runs"


def checkpoints_dir() -> Path:
    """Reference checkpoints trained by the project's own stage runners."""
    return home() / "checkpoints"
