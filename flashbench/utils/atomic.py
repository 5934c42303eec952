"""Atomic writes and content hashes.

A file that matters is written to a temporary sibling and renamed into place, so a crash
never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_CHUNK = 1 << 20


def _umask() -> int:
    """The process umask (reading it needs setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the final suffix so writers that choose a format by extension
    (PyAV, PIL) behave the same.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; a result file gets the mode a plain open() would give it
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: stable bytes for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> None:
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(path: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """SHA-256 of a file's bytes, with a fast check: given ``memo_dir``, a file whose size,
    modification time (ns) and inode equal those noted at its last hash is not read again;
    any change of them re-reads it."""
    path = Path(path).resolve()
    if memo_dir is None:
        return sha256_file(path)
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]
    memo = Path(memo_dir) / f"{sha256_bytes(str(path).encode('utf-8'))[:32]}.json"
    try:
        old = json.loads(memo.read_text(encoding="utf-8"))
        if old.get("stamp") == stamp and isinstance(old.get("sha256"), str):
            return old["sha256"]
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    try:
        atomic_write_json(memo, {"path": str(path), "stamp": stamp, "sha256": digest})
    except OSError:  # a read-only cache only costs speed
        pass
    return digest


def sha256_json(obj: Any) -> str:
    return sha256_bytes(canonical_json(obj).encode("utf-8"))
