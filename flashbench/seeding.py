"""Per-item seeds: a pure function of the run seed and the video id (docs/protocol.md, section 2).

A result therefore does not depend on batch size, order, or the number of processes.
"""

from __future__ import annotations

import hashlib


def item_seed(run_seed: int, video_id: str) -> int:
    digest = hashlib.sha256(f"{int(run_seed)}:{video_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF
