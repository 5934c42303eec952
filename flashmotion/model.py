"""Backbone + trajectory adapter: the one network both training and sampling call.

``FlashMotionModel(latents, timestep, text, traj_latent)`` returns the flow prediction
``v = eps - x0`` (same shape as ``latents``). ``strength`` scales the adapter residuals
(0 turns the adapter off; 1 is the trained setting).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .configs import ModelConfig
from .transformer import FlashMotionTransformer


def build_transformer(cfg: ModelConfig) -> FlashMotionTransformer:
    return FlashMotionTransformer(**cfg.transformer.kwargs())


class FlashMotionModel(nn.Module):
    def __init__(self, transformer: FlashMotionTransformer, adapter: nn.Module | None = None, strength: float = 1.0):
        super().__init__()
        self.transformer = transformer
        self.adapter = adapter
        self.strength = float(strength)

    @property
    def adapter_uses_state(self) -> bool:
        return self.adapter is not None and bool(getattr(self.adapter, "uses_state", True))

    def static_features(self, traj_latent: Tensor | None) -> list[Tensor] | None:
        """Per-video features of a state-free adapter (ResNet), to reuse at every step; else None."""
        if self.adapter is None or self.adapter_uses_state or traj_latent is None or self.strength == 0.0:
            return None
        return self.adapter.features(traj_latent)

    def residuals(self, latents: Tensor, timestep: Tensor, text: Tensor, traj_latent: Tensor | None,
                  features: Sequence[Tensor] | None = None) -> Sequence[Tensor] | None:
        """The adapter's lazy per-block residuals, scaled by ``strength`` (None: no adapter)."""
        if self.adapter is None or self.strength == 0.0 or (traj_latent is None and features is None):
            return None
        if self.adapter_uses_state:
            return self.adapter.stream(latents, timestep, text, traj_latent, scale=self.strength)
        if features is None:
            features = self.adapter.features(traj_latent)
        return self.adapter.project(features, scale=self.strength)

    def forward(
        self,
        latents: Tensor,
        timestep: Tensor,
        text: Tensor,
        traj_latent: Tensor | None = None,
        features: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Flow prediction ``v = eps - x0``. ``features``: precomputed :meth:`static_features`."""
        residuals = self.residuals(latents, timestep, text, traj_latent, features)
        return self.transformer(latents, timestep, text, block_residuals=residuals)


def count_parameters(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def meta_parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameter counts of backbone, adapters, VAE and text encoder built on the meta device."""
    from .adapters import ControlNetAdapter, ResNetAdapter
    from .text import build_text_model
    from .vae import build_vae

    with torch.device("meta"):
        counts = {
            "transformer": count_parameters(build_transformer(cfg)),
            "controlnet": count_parameters(ControlNetAdapter(cfg)),
            "resnet": count_parameters(ResNetAdapter(cfg)),
            "vae": count_parameters(build_vae(cfg)),
            "text_encoder": count_parameters(build_text_model(cfg)),
        }
    return counts
