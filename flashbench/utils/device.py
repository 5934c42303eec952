"""Checking a ``--device`` argument before any work starts."""

from __future__ import annotations

from ..errors import InputError


def check_device(device: str, option: str = "--device") -> str:
    """Return ``device`` when torch can use it here; otherwise one line naming the fix."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"{option} {device!r}: not a device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = f"torch {torch.__version__} here is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible here"
            raise InputError(f"{option} {device}: {why}; use {option} cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise InputError(f"{option} {device}: {count} CUDA device{'' if count == 1 else 's'} visible here (cuda:0 to cuda:{count - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{option} {device}: MPS is not available here; use {option} cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{option} {device!r}: FlashBench runs on cpu, cuda or mps")
    return device
