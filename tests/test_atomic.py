"""Atomic writes: the final file has the mode the user's umask gives, never mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import pytest

from flashbench.utils.atomic import atomic_path, atomic_write_json


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "results.json", {"a": 1})
        with atomic_path(tmp_path / "stats.npz") as tmp:
            tmp.write_bytes(b"x")
        with open(tmp_path / "plain.txt", "w"):  # what a plain open() gives, for comparison
            pass
    finally:
        os.umask(old)
    for name in ("results.json", "stats.npz", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert os.umask(old) == old  # the umask is left as it was
