"""Resumable training state: weights, optimisers, EMA, RNG and step, written atomically.

``OUT/checkpoints/step-NNNNNN/`` holds one safetensors file per tracked module (and per EMA),
``optim.pt`` and ``state.json``; it is written to a temporary sibling and renamed into place,
then ``OUT/checkpoints/latest`` (a one-line file) is replaced atomically. A run killed at any
moment resumes from the last complete checkpoint; since every random draw of a step is a
function of ``(seed, step)``, the resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from flashbench.errors import InputError
from flashbench.utils.atomic import atomic_write_json, atomic_write_text

KEEP = 2  # complete checkpoints kept


def module_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The whole state of ``module`` on the CPU (collective when it is FSDP-sharded: every rank calls it)."""
    from ..loading import _untie
    from .parallel import full_state_dict

    return _untie({k: v.detach().contiguous().cpu() for k, v in full_state_dict(module).items()})


def optimizer_state(module: nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    from .parallel import is_sharded

    if not any(is_sharded(m) for m in module.modules()):
        return opt.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(module, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save_state(out: Path, step: int, module_states: Mapping[str, dict[str, torch.Tensor]],
               optimizer_states: Mapping[str, dict[str, Any]], extra: Mapping[str, Any]) -> Path:
    """Write one checkpoint (call on the main rank with states gathered by :func:`module_state`)."""
    from safetensors.torch import save_file

    root = Path(out) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:06d}.", dir=root))
    try:
        for name, state in module_states.items():
            save_file(state, str(tmp / f"{name}.safetensors"))
        torch.save(dict(optimizer_states), tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **dict(extra)}, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o777 & ~_umask())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", final.name + "\n")
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def lock_run(out: Path):
    """Hold ``out/.lock`` for as long as the returned file stays open (the process's lifetime at
    most): two processes training one folder would overwrite each other's checkpoints."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{out} is being trained by another process; wait for it to finish, or choose another --out") from None
    return handle


def latest(out: Path) -> Path | None:
    pointer = Path(out) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_state(path: Path, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """Restore modules and optimisers (an optimiser is keyed like the module it trains)."""
    from safetensors.torch import load_file

    from .parallel import is_sharded, load_full_state_dict

    for name, module in modules.items():
        load_full_state_dict(module, load_file(str(path / f"{name}.safetensors")))
    states = torch.load(path / "optim.pt", weights_only=False)
    for name, opt in optimizers.items():
        module = modules[name]
        if any(is_sharded(m) for m in module.modules()):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(module, opt, states[name], options=StateDictOptions(full_state_dict=True))
        else:
            opt.load_state_dict(states[name])
    return json.loads((path / "state.json").read_text())


def write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj)
