"""Shared test setup: an isolated cache, offline hubs, and small benchmarks built once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Every test session gets its own FLASHBENCH_HOME: no test touches the user's cache."""
    home = tmp_path_factory.mktemp("flashbench_home")
    old = os.environ.get("FLASHBENCH_HOME")
    os.environ["FLASHBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("FLASHBENCH_HOME", None)
    else:
        os.environ["FLASHBENCH_HOME"] = old


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """A six-group FlashBench-Synth benchmark, one video per group, 9 frames of 64x96."""
    from flashbench.data.builder import build_benchmark

    out = tmp_path_factory.mktemp("bench") / "tiny"
    build_benchmark("synth", out, per_group=1, num_frames=9, size=(64, 96), seed=0, progress=False)
    return out
