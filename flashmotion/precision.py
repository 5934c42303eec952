"""Casting a network to a low-precision dtype the way diffusers loads one.

Diffusers models name the submodules that must stay float32 (``_keep_in_fp32_modules``; for
Wan: the time embedder, the modulation tables and the float32 norms, and the rope tables in
recent releases), and their forwards compute in float32 there. ``from_pretrained(...,
torch_dtype=...)`` honours that list; ``module.to(dtype)`` does not. :func:`cast` does, for any
module that declares the list (the backbone, the ControlNet adapter) anywhere inside the tree.
"""

from __future__ import annotations

import torch
from torch import nn


def float32_names(module: nn.Module) -> set[str]:
    """Names of the parameters and buffers that stay float32: a declaring submodule's tensors
    whose dotted name has one of its ``_keep_in_fp32_modules`` as a component (diffusers' rule)."""
    keep: set[str] = set()
    for prefix, sub in module.named_modules():
        declared = getattr(sub, "_keep_in_fp32_modules", None)
        if not declared:
            continue
        for name, _ in list(sub.named_parameters()) + list(sub.named_buffers()):
            if any(part in declared for part in name.split(".")):
                keep.add(f"{prefix}.{name}" if prefix else name)
    return keep


@torch.no_grad()
def cast(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Floating-point tensors to ``dtype`` in place, those of :func:`float32_names` to float32.

    This is what ``from_pretrained(..., torch_dtype=dtype)`` produces: buffers that are not
    saved (the rope tables) keep the dtype they were built in. Parameters keep their identity
    (``.data`` is replaced, as ``Module.to`` does), so optimiser references stay valid; integer
    tensors are left alone.
    """
    keep = float32_names(module) if dtype != torch.float32 else set()
    for prefix, sub in module.named_modules():
        for name, p in sub.named_parameters(recurse=False):
            target = torch.float32 if (f"{prefix}.{name}" if prefix else name) in keep else dtype
            if p.is_floating_point() and p.dtype != target:
                p.data = p.data.to(target)
                if p.grad is not None:
                    p.grad.data = p.grad.data.to(target)
        for name, b in sub.named_buffers(recurse=False):
            if name in sub._non_persistent_buffers_set:
                continue  # computed at construction (rope tables), never loaded: from_pretrained leaves them too
            target = torch.float32 if (f"{prefix}.{name}" if prefix else name) in keep else dtype
            if b is not None and b.is_floating_point() and b.dtype != target:
                sub._buffers[name] = b.to(target)
    return module
