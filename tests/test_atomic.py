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


def test_content_hash_rereads_a_file_only_when_size_or_mtime_change(tmp_path, monkeypatch):
    import flashbench.utils.atomic as atomic
    from flashbench.utils.atomic import content_hash, sha256_bytes

    reads = []
    real = atomic.sha256_file
    monkeypatch.setattr(atomic, "sha256_file", lambda p: reads.append(p) or real(p))
    f, memo = tmp_path / "v.mp4", tmp_path / "memo"
    f.write_bytes(b"first")
    assert content_hash(f, memo) == sha256_bytes(b"first") and len(reads) == 1
    assert content_hash(f, memo) == sha256_bytes(b"first") and len(reads) == 1  # fast check: not read again
    f.write_bytes(b"second!")  # replaced: other size and mtime
    assert content_hash(f, memo) == sha256_bytes(b"second!") and len(reads) == 2
    st = f.stat()
    f.write_bytes(b"third!!")  # same size; the mtime says it changed
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert content_hash(f, memo) == sha256_bytes(b"third!!") and len(reads) == 3
