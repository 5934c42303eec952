"""Analytical GPU memory estimate of one denoising network call (inference, batch 1).

Counted: weights (parameter count x bytes), the per-token modulation tensor that TI2V's
per-token timesteps create (``(L, 6 D)`` kept for the whole forward, plus its float32 copy
inside each block), and the largest transient of one block (the FFN hidden layer and its
activation, and float32 copies of the ``(L, D)`` hidden states made by the norms). Blocks
run one after another, so transients do not add up over blocks; adapter residuals are
produced lazily (one at a time). Not counted: the CUDA context (~0.5 GiB), allocator
fragmentation, and the VAE/text encoder when offloaded. It is an estimate to size a GPU,
not a measurement.
"""

from __future__ import annotations

from .configs import ModelConfig
from .vae import latent_frames


def tokens(cfg: ModelConfig, frames: int, height: int, width: int) -> int:
    p_t, p_h, p_w = cfg.transformer.patch_size
    s = cfg.vae.scale_factor_spatial
    return (latent_frames(frames, cfg.vae.scale_factor_temporal) // p_t) * (height // s // p_h) * (width // s // p_w)


def estimate(cfg: ModelConfig, counts: dict[str, int], adapter: str | None, frames: int, height: int, width: int,
             bytes_per_param: int = 2) -> dict[str, float]:
    """Bytes per item for one network call; ``counts`` from :func:`flashmotion.model.meta_parameter_counts`."""
    t = cfg.transformer
    n_tok, d, act = tokens(cfg, frames, height, width), t.inner_dim, bytes_per_param
    networks = 1 + (adapter == "controlnet")  # each DiT-like network keeps its own modulation
    out = {
        "weights_backbone": counts["transformer"] * bytes_per_param,
        "weights_adapter": counts[adapter] * bytes_per_param if adapter else 0,
        "modulation": networks * n_tok * 6 * d * act,  # (L, 6D) per forward, per network
        "block_modulation_fp32": n_tok * 6 * d * 4,  # scale_shift_table + temb.float() inside a block
        "block_ffn": 2 * n_tok * t.ffn_dim * act,  # FFN hidden layer and its GELU output
        "block_hidden": 4 * n_tok * d * 4 + 4 * n_tok * d * act,  # fp32 norm copies, q/k/v/out, states
        "adapter_state": (n_tok * d * act * 2 if adapter == "controlnet" else 0)  # adapter hidden + residual
        + (t.num_layers * n_tok * cfg.adapter.resnet_channels * 4 * act if adapter == "resnet" else 0),  # features
    }
    out["total"] = sum(out.values())
    return out
