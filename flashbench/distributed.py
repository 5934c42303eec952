"""torch.distributed glue for sharded evaluation under ``torchrun``.

Items are sharded by rank (``items[rank::world]``); every rank writes its per-video files
into the shared run directory, IoU rows are gathered on rank 0, and rank 0 aggregates the
feature statistics in manifest order, so the numbers equal a single process's to the bit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Gather one picklable object per rank on rank 0 (None elsewhere)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def counter(self, name: str) -> Callable[[int], int] | None:
        """A job-wide counter (None in a single process): ``add(n)`` adds n and returns the sum over ranks.

        It lives in the process group's key-value store, so no rank waits for another to count.
        """
        if not self.enabled:
            return None
        import torch.distributed as dist

        try:
            store = dist.distributed_c10d._get_default_store()
        except (AttributeError, RuntimeError):  # no store to share: each rank counts its own share
            return None
        key = f"flashbench/progress/{name}"
        return lambda n: int(store.add(key, n))

    def broadcast(self, obj: Any) -> Any:
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def init_from_env() -> DistContext:
    """Join the process group ``torchrun`` describes in the environment (gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("FLASHBENCH_DIST_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
