"""Loading a parent stage's output and writing a stage's output, with provenance.

A stage's output (``OUT/final``) is a FlashMotion checkpoint folder (``flashmotion.json`` +
one safetensors file per component, see :func:`flashmotion.loading.save_checkpoint`) whose
metadata carries the full model config (the VAE's measured latent statistics included) and
the provenance: stage, config, seed, code version, data manifest hash, parent checkpoint hashes.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flashbench.errors import InputError

from .. import loading
from ..adapters import build_adapter
from ..assemble import _no_meta, model_config_of
from ..configs import ModelConfig
from ..model import build_transformer
from ..text import TextEncoder, build_text_model, build_tokenizer
from ..vae import VideoCodec, build_vae


@dataclass
class Parent:
    path: Path | None
    meta: dict[str, Any]
    config: ModelConfig
    transformer: nn.Module | None
    adapter: nn.Module | None
    vae: nn.Module
    text_model: nn.Module

    def codec(self) -> VideoCodec:
        return VideoCodec(self.vae)

    def text_encoder(self) -> TextEncoder:
        return TextEncoder(build_tokenizer(self.config), self.text_model, self.config.text.max_length)

    def hash(self) -> str | None:
        return None if self.path is None else checkpoint_hash(self.meta)


def checkpoint_hash(meta: dict[str, Any]) -> str:
    """A checkpoint folder's identity in provenance records: the hash of its components' hashes."""
    from flashbench.utils.atomic import sha256_json

    return sha256_json({k: v["sha256"] for k, v in sorted(meta["components"].items())})


def checkpoint_identities(meta: dict[str, Any]) -> set[str]:
    """Every :func:`checkpoint_hash` a run trained from this folder's weights may have recorded:
    as stored and as trained (an installed alias may store half precision; its entries keep
    ``trained_sha256``), each with and without the adapter (an alias pairing a stage-1 adapter
    with the stage-2 transformer stands for the stage-2 run)."""
    out = set()
    for trained in (False, True):
        comps = {k: {"sha256": v.get("trained_sha256", v["sha256"]) if trained else v["sha256"]}
                 for k, v in meta["components"].items()}
        out.add(checkpoint_hash({"components": comps}))
        out.add(checkpoint_hash({"components": {k: v for k, v in comps.items() if k != "adapter"}}))
    return out


def adapter_input_of(meta: dict[str, Any]) -> str:
    """What a stage-1 output's adapter was trained to read: "maps", or "video" (a diagnostic)."""
    return meta.get("provenance", {}).get("stage_config", {}).get("adapter_input", "maps")


def load_parent(path: str | Path, adapter_kind: str | None = None) -> Parent:
    path = Path(path)
    meta = loading.read_checkpoint_meta(path)
    cfg = model_config_of(meta)
    have = meta["components"]
    for need in ("vae", "text_encoder", "transformer"):
        if need not in have:
            raise InputError(f"{path}: the parent checkpoint has no {need} component")

    def load(name: str, builder):
        with torch.device("meta"):
            module = builder(cfg)
        loading.load_checkpoint_component(path, name, module)
        return _no_meta(module, f"{path}/{name}")

    if adapter_kind and adapter_input_of(meta) != "maps":
        raise InputError(f"{path}: its adapter was trained on the videos' own latents (adapter_input: video, a diagnostic), "
                         f"not on trajectory maps; train stage 1 with adapter_input: maps")
    adapter = None
    if adapter_kind is not None and "adapter" in have:
        if meta.get("adapter") not in (None, adapter_kind):
            raise InputError(f"{path} holds a {meta.get('adapter')} adapter, not a {adapter_kind} adapter")
        adapter = load("adapter", lambda c: build_adapter(adapter_kind, c))
    return Parent(path, meta, cfg, load("transformer", build_transformer), adapter, load("vae", build_vae),
                  load("text_encoder", build_text_model))


def fresh_components(cfg: ModelConfig, seed: int) -> Parent:
    """Stage 0's starting point: seeded random components (the text encoder stays as drawn)."""
    torch.manual_seed(seed)
    return Parent(None, {}, cfg, build_transformer(cfg), None, build_vae(cfg), build_text_model(cfg))


@functools.cache
def code_version() -> str:
    """The package version and the commit the running code came from, read once per process: a
    run that outlives a commit records the commit it started from (its first call is at the
    start of every run)."""
    from flashbench.provenance import git_revision

    from .. import __version__

    rev = git_revision(Path(__file__).parent)
    return f"{__version__}+{rev}" if rev else __version__


def write_output(out: Path, components: dict[str, nn.Module], cfg: ModelConfig, stage_cfg, provenance: dict[str, Any],
                 adapter_kind: str | None = None, notes: str = "", ctx=None) -> Path:
    """The stage's output folder ``OUT/final`` (every rank calls it; the main rank writes)."""
    from .state import module_state

    states = {name: module_state(m) for name, m in components.items()}  # collective under FSDP
    if ctx is not None and not ctx.is_main:
        ctx.barrier()
        return Path(out) / "final"
    meta = {"config": cfg.name, "model_config": cfg.to_dict(), "adapter": adapter_kind, "reference": True,
            "notes": notes or f"tiny reference model ({stage_cfg.stage}) trained by flashbench train",
            "provenance": {**provenance, "stage": stage_cfg.stage, "stage_config": stage_cfg.to_dict()}}
    final = loading.save_checkpoint(Path(out) / "final", states, meta)
    if ctx is not None:
        ctx.barrier()
    return final


def frozen_copy(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).requires_grad_(False)
