"""Building the components of a generator: random, from our checkpoints, or from real weights.

Three sources, each returning :class:`Components`:

* :func:`random_components`: every component randomly initialised from a seed (plumbing and
  tests); the ControlNet starts as a copy of the backbone, the adapters' projections at zero;
* :func:`checkpoint_components`: a FlashMotion checkpoint folder (``flashmotion.json`` +
  ``<component>.safetensors``), as written by :func:`flashmotion.loading.save_checkpoint`;
  components the folder lacks come from the real weights in the cache;
* :func:`real_components`: Wan2.2-TI2V-5B from the cache (official or diffusers layout),
  optionally the few-step generator, and a trained adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
from torch import nn

from flashbench.errors import InputError, MissingWeightsError
from flashbench.utils.atomic import sha256_json

from . import loading
from . import weights as fm_weights
from .adapters import build_adapter
from .configs import ModelConfig, get_config
from .model import build_transformer
from .text import build_text_model, build_tokenizer
from .vae import build_vae


@dataclass
class Components:
    config: ModelConfig
    transformer: nn.Module
    adapter: nn.Module
    vae: nn.Module
    text_model: nn.Module
    tokenizer: Any
    sha256: str | None = None
    reference: bool = False
    notes: str = ""
    sources: dict[str, str] = field(default_factory=dict)


def random_components(cfg: ModelConfig, adapter_kind: str, seed: int = 0) -> Components:
    torch.manual_seed(int(seed))
    transformer = build_transformer(cfg)
    adapter = build_adapter(adapter_kind, cfg, transformer)
    return Components(
        config=cfg, transformer=transformer, adapter=adapter, vae=build_vae(cfg), text_model=build_text_model(cfg),
        tokenizer=build_tokenizer(cfg), sha256=None, reference=True,
        notes=f"randomly initialised {cfg.name} model (init seed {seed}): plumbing only, not a trained model",
        sources={"all": f"random(seed={seed})"},
    )


def _fix_rope(module: nn.Module) -> None:
    """Non-persistent rope tables stay on the meta device after loading: rebuild them."""
    rope = getattr(module, "rope", None)
    if isinstance(rope, WanRotaryPosEmbed) and rope.freqs_cos.is_meta:
        module.rope = WanRotaryPosEmbed(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)


def _no_meta(module: nn.Module, what: str) -> nn.Module:
    _fix_rope(module)
    left = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if left:
        raise InputError(f"{what}: tensors without weights after loading: {', '.join(left[:10])}")
    return module


def _meta(builder, cfg: ModelConfig) -> nn.Module:
    with torch.device("meta"):
        return builder(cfg)


def load_adapter(kind: str, cfg: ModelConfig, directory: str | Path) -> nn.Module:
    meta = loading.read_checkpoint_meta(directory)
    if meta.get("adapter") not in (None, kind):
        raise InputError(f"{directory} holds a {meta.get('adapter')} adapter, not a {kind} adapter")
    adapter = _meta(lambda c: build_adapter(kind, c), cfg)
    loading.load_checkpoint_component(directory, "adapter", adapter)
    return _no_meta(adapter, f"adapter {directory}")


def load_wan(cfg: ModelConfig, root: str | Path) -> tuple[nn.Module, nn.Module, nn.Module, Any]:
    """Backbone, VAE, text encoder and tokenizer from a Wan2.2-TI2V-5B folder (either layout)."""
    root = Path(root)
    if (root / "model_index.json").exists():  # diffusers layout
        from transformers import AutoTokenizer, UMT5EncoderModel

        transformer = loading.load_diffusers_model(_meta(build_transformer, cfg), root / "transformer")
        vae = loading.load_diffusers_model(_meta(build_vae, cfg), root / "vae")
        text = UMT5EncoderModel.from_pretrained(str(root / "text_encoder"), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"), local_files_only=True)
        return _no_meta(transformer, "transformer"), _no_meta(vae, "VAE"), text, tokenizer
    need = {"VAE": root / "Wan2.2_VAE.pth", "text encoder": root / "models_t5_umt5-xxl-enc-bf16.pth",
            "tokenizer": root / "google" / "umt5-xxl"}
    absent = [f"{k} ({p})" for k, p in need.items() if not p.exists()]
    if absent:
        raise InputError(f"{root} is not a Wan2.2-TI2V-5B folder: missing {', '.join(absent)}")
    transformer = loading.load_transformer_weights(_meta(build_transformer, cfg), root)
    vae = loading.load_vae_weights(_meta(build_vae, cfg), need["VAE"])
    text = loading.load_umt5_weights(_meta(build_text_model, cfg), need["text encoder"])
    tokenizer = build_tokenizer(cfg, need["tokenizer"])
    return _no_meta(transformer, "transformer"), _no_meta(vae, "VAE"), _no_meta(text, "text encoder"), tokenizer


def real_components(cfg: ModelConfig, adapter_kind: str, generator: str, adapter_stage: str,
                    adapter_dir: str | Path | None = None) -> Components:
    """Real weights from the cache; ``generator`` is ``slow`` (Wan 50-step) or ``fast`` (few-step)."""
    names = [fm_weights.WAN] + ([fm_weights.FAST_GENERATOR] if generator == "fast" else [])
    adapter_name = fm_weights.adapter_weight_name(adapter_kind, adapter_stage)
    if adapter_dir is None:
        names.append(adapter_name)
    paths, missing = {}, []
    for n in names:  # collect every missing entry, each message naming its fix
        try:
            paths[n] = fm_weights.require(n)
        except MissingWeightsError as exc:
            missing.append(str(exc))
    if missing:
        raise MissingWeightsError(" | ".join(missing))
    transformer, vae, text, tokenizer = load_wan(cfg, paths[fm_weights.WAN])
    if generator == "fast":
        loading.load_fewstep_generator(transformer, paths[fm_weights.FAST_GENERATOR])
    adapter = load_adapter(adapter_kind, cfg, adapter_dir or paths[adapter_name])
    hashes = {n: fm_weights.sha256(n) for n in names}
    if adapter_dir is not None:
        hashes["adapter"] = loading.read_checkpoint_meta(adapter_dir)["components"]["adapter"]["sha256"]
    return Components(cfg, transformer, adapter, vae, text, tokenizer, sha256=sha256_json(hashes), reference=False,
                      notes="official Wan2.2-TI2V-5B weights", sources={k: str(v) for k, v in paths.items()})


def model_config_of(meta: dict[str, Any]) -> ModelConfig:
    """A checkpoint's model config: its full stored copy (trained tiny models carry their VAE's
    measured latent statistics there), else the named config."""
    if "model_config" in meta:
        return ModelConfig.from_dict(meta["model_config"])
    return get_config(meta.get("config", "tiny"))


def checkpoint_components(directory: str | Path, adapter_kind: str, generator: str = "fast") -> Components:
    """A FlashMotion checkpoint folder; components it lacks come from the real weights."""
    directory = Path(directory)
    meta = loading.read_checkpoint_meta(directory)
    cfg = model_config_of(meta)
    have = meta["components"]
    # A base-generator checkpoint (stage 0 or 2 output) has no adapter: it is sampled without
    # trajectory control, the honest "adapter off" of a generator before any adapter exists.
    with_adapter = "adapter" in have
    complete = all(k in have for k in ("transformer", "vae", "text_encoder"))
    if not (with_adapter or complete):
        raise InputError(f"checkpoint {directory} has no adapter component and is not a whole base generator "
                         f"(transformer, vae and text_encoder)")
    if complete:
        transformer = loading.load_checkpoint_component(directory, "transformer", _meta(build_transformer, cfg))
        vae = loading.load_checkpoint_component(directory, "vae", _meta(build_vae, cfg))
        text = loading.load_checkpoint_component(directory, "text_encoder", _meta(build_text_model, cfg))
        comps = Components(cfg, _no_meta(transformer, "transformer"), None, _no_meta(vae, "VAE"),
                           _no_meta(text, "text encoder"), build_tokenizer(cfg))
    else:
        comps = real_components(cfg, adapter_kind, generator, "fast", adapter_dir=directory)
        if "transformer" in have:
            loading.load_checkpoint_component(directory, "transformer", comps.transformer)
    if comps.adapter is None and with_adapter:
        comps.adapter = load_adapter(adapter_kind, cfg, directory)
    comps.sha256 = sha256_json({k: v["sha256"] for k, v in sorted(have.items())})
    comps.reference = bool(meta.get("reference", cfg.name != "wan2.2-ti2v-5b"))
    comps.notes = str(meta.get("notes", f"FlashMotion checkpoint {directory}"))
    comps.sources = {"checkpoint": str(directory)}
    return comps
