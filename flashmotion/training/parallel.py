"""FSDP2 (``fully_shard``) for the real configs: transformer and adapter blocks as units.

``shard(model, ctx, mixed_precision)`` shards every block of the backbone and of the adapter,
then the root :class:`~flashmotion.model.FlashMotionModel`, whose ``forward`` runs adapter and
backbone, so the root unit's parameters (embeddings, projections, head) are gathered by that
forward. Code that reads a sharded backbone another way (the discriminator's block features)
leaves the backbone root replicated (``shard_root=False``). Frozen parameters are sharded too: that is where
FSDP saves most memory when the backbone is frozen (stages 1 and 3).
"""

from __future__ import annotations

import torch
from torch import nn

from flashbench.distributed import DistContext


def _mesh(ctx: DistContext):
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh("cuda" if torch.cuda.is_available() else "cpu", (ctx.world_size,))


def shard(root: nn.Module, ctx: DistContext, mixed_precision: str = "no", shard_root: bool = True) -> nn.Module:
    """Apply FSDP2 to the blocks of every module under ``root`` that has ``blocks``, then to ``root``.

    ``shard_root=False`` leaves the root's own (small) parameters replicated: for a frozen
    backbone read through :meth:`block_features` rather than ``forward``, whose embedding must
    stay gathered through the backward pass that flows through it to the input."""
    if not ctx.enabled:
        return root
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kwargs = {"mesh": _mesh(ctx)}
    if mixed_precision == "bf16":
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for module in root.modules():
        blocks = getattr(module, "blocks", None)
        if isinstance(blocks, nn.ModuleList):
            for block in blocks:
                fully_shard(block, **kwargs)
    if shard_root:
        fully_shard(root, **kwargs)
    return root


def is_sharded(module: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The whole (unsharded) state on the CPU, for checkpoints and outputs."""
    if not is_sharded(module) and not any(is_sharded(m) for m in module.modules()):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    if not any(is_sharded(m) for m in module.modules()):
        module.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))
