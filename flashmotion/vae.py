"""The Wan2.2 VAE and the conversions at its edges.

Frames cross the seam as uint8 ``(T, H, W, 3)``; the VAE takes ``(B, 3, T, H, W)`` in
``[-1, 1]`` with ``T = 1 mod 4`` and ``H, W`` multiples of 16. Latents are normalised
``(z - mean) / std`` with the VAE's 48 per-channel statistics; the mode of the posterior is
used (deterministic), for the first frame and for the trajectory maps alike.
"""

from __future__ import annotations

import types

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from torch import Tensor, nn

from .configs import ModelConfig
from .modes import eval_mode


def build_vae(cfg: ModelConfig) -> AutoencoderKLWan:
    return use_onednn_conv3d(AutoencoderKLWan(**cfg.vae.kwargs()))


def _onednn_conv_forward(self: nn.Conv3d, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    if input.device.type == "cpu" and input.dtype == torch.float32 and self.padding_mode == "zeros" and not input.is_meta:
        return torch.mkldnn_convolution(input.contiguous(), weight.contiguous(), bias, self.padding, self.stride,
                                        self.dilation, self.groups)
    return nn.Conv3d._conv_forward(self, input, weight, bias)


def use_onednn_conv3d(module: nn.Module) -> nn.Module:
    """Route the float32 CPU 3-D convolutions of ``module`` to oneDNN.

    PyTorch sends CPU ``conv3d`` to its unfold-based ``slow_conv3d`` kernel, which makes the
    VAE's many small 3-D convolutions several times slower than oneDNN's kernel
    (``benchmarks/bench_vae.py`` prints the ratio); outputs agree to float32 rounding and
    autograd works through both. Other devices and dtypes keep the default path.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            m._conv_forward = types.MethodType(_onednn_conv_forward, m)
    return module


def valid_frame_count(n: int, temporal: int = 4) -> int:
    """Smallest count >= n that the VAE accepts (1 mod ``temporal``)."""
    if n < 1:
        raise ValueError(f"frame count must be >= 1, got {n}")
    return n + (1 - n) % temporal


def latent_frames(n: int, temporal: int = 4) -> int:
    return (n - 1) // temporal + 1


def frames_to_tensor(frames: np.ndarray) -> Tensor:
    """uint8 (T, H, W, 3) -> float (1, 3, T, H, W) in [-1, 1]."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).unsqueeze(0)
    return x.float().div_(127.5).sub_(1.0)


def tensor_to_frames(x: Tensor) -> np.ndarray:
    """float (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    x = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


class VideoCodec:
    """Normalised encode/decode with the VAE (tiling/slicing optional, for large videos).

    The VAE is used as given (it may be in training): each call runs in eval mode under
    ``no_grad`` and leaves its modes and ``requires_grad`` flags as they were.
    """

    def __init__(self, vae: AutoencoderKLWan, tiling: bool = False):
        self.vae = vae
        if tiling:
            vae.enable_tiling()
        c = vae.config.z_dim
        self.mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, c, 1, 1, 1)
        self.std = torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, c, 1, 1, 1)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> Tensor:
        """uint8 (T, H, W, 3) -> normalised float32 latent (1, 48, T//4 + 1, H/16, W/16)."""
        x = frames_to_tensor(frames).to(self.device, self.dtype)
        with eval_mode(self.vae):
            z = self.vae.encode(x).latent_dist.mode().float()
        return (z - self.mean.to(z.device)) / self.std.to(z.device)

    @torch.no_grad()
    def decode(self, latents: Tensor) -> np.ndarray:
        """Normalised latent (1, 48, F, h, w) -> uint8 (4(F-1)+1, 16h, 16w, 3)."""
        z = latents.float() * self.std.to(latents.device) + self.mean.to(latents.device)
        with eval_mode(self.vae):
            x = self.vae.decode(z.to(self.device, self.dtype)).sample
        return tensor_to_frames(x)
