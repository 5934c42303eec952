"""Samplers: multi-step Euler with classifier-free guidance, and the few-step x0 chain.

Both follow Wan2.2-TI2V first-frame conditioning: latent frame 0 is the VAE-encoded first
frame, kept clean (its tokens get timestep 0) and pasted back after every step. Noise comes
from one CPU ``torch.Generator`` per video, so a video depends only on its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .model import FlashMotionModel
from .schedules import FewStepSchedule, add_noise, multistep_sigmas, x0_from_flow


@dataclass
class Conditions:
    """Per-video inputs of a sampler (tensors on the model's device)."""

    first_latent: Tensor  # (1, C, 1, h, w) normalised latent of the first frame
    text: Tensor  # (1, S, D_text)
    traj_latent: Tensor | None  # (1, C, F, h, w) normalised latent of the trajectory maps
    negative_text: Tensor | None = None  # (1, S, D_text), for CFG


def paste_first_frame(x: Tensor, first_latent: Tensor) -> Tensor:
    """``x`` with latent frame 0 replaced by the clean first-frame latent."""
    return torch.cat([first_latent.to(x.dtype), x[:, :, 1:]], dim=2)


def token_timesteps(t: float, grid: tuple[int, int, int], device, batch: int = 1) -> Tensor:
    """(B, L) per-token timesteps: 0 on the first latent frame's tokens, ``t`` elsewhere."""
    f, h, w = grid
    ts = torch.full((f, h * w), float(t), dtype=torch.float32, device=device)
    ts[0] = 0.0
    return ts.flatten().unsqueeze(0).expand(batch, -1)


def initial_noise(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Standard normal noise drawn on the CPU (device-independent numbers)."""
    return torch.randn(shape, generator=generator, dtype=torch.float32)


class _Predictor:
    """Calls the model on the pasted state, reusing a state-free adapter's per-video features."""

    def __init__(self, model: FlashMotionModel, cond: Conditions, dtype: torch.dtype):
        self.model, self.cond, self.dtype = model, cond, dtype
        traj = cond.traj_latent.to(dtype) if cond.traj_latent is not None else None
        self.features = model.static_features(traj) if traj is not None else None

    def __call__(self, x: Tensor, t: float, text: Tensor) -> Tensor:
        grid = self.model.transformer.token_grid(x.shape)
        ts = token_timesteps(t, grid, x.device, x.shape[0])
        traj = self.cond.traj_latent.to(self.dtype) if self.cond.traj_latent is not None else None
        v = self.model(x.to(self.dtype), ts, text.to(self.dtype), traj, features=self.features)
        return v.float()


@torch.no_grad()
def sample_multistep(
    model: FlashMotionModel,
    cond: Conditions,
    latent_shape: tuple[int, ...],
    generator: torch.Generator,
    steps: int = 50,
    shift: float = 5.0,
    guidance_scale: float = 5.0,
    dtype: torch.dtype = torch.float32,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """Euler flow-matching sampler; CFG ``v_u + g (v_c - v_u)`` when ``guidance_scale != 1``.

    The trajectory latent goes to both CFG branches (the negative branch changes the text only).
    """
    device = cond.first_latent.device
    sigmas = multistep_sigmas(steps, shift)
    predict = _Predictor(model, cond, dtype)
    use_cfg = guidance_scale != 1.0
    if use_cfg and cond.negative_text is None:
        raise ValueError("classifier-free guidance needs the negative prompt's embedding")
    x = initial_noise(latent_shape, generator).to(device)
    for i in range(steps):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        xin = paste_first_frame(x, cond.first_latent)
        v = predict(xin, 1000.0 * s, cond.text)
        if use_cfg:
            v_u = predict(xin, 1000.0 * s, cond.negative_text)
            v = v_u + guidance_scale * (v - v_u)
        x = xin + (s_next - s) * v
        if on_step:
            on_step(i)
    return paste_first_frame(x, cond.first_latent)


@torch.no_grad()
def sample_fewstep(
    model: FlashMotionModel,
    cond: Conditions,
    latent_shape: tuple[int, ...],
    generator: torch.Generator,
    schedule: FewStepSchedule,
    dtype: torch.dtype = torch.float32,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """DMD-style chain: predict x0 at each sigma of ``schedule``, re-noise to the next one.

    ``x_{i+1} = (1 - s_{i+1}) x0_i + s_{i+1} eps_i`` with fresh noise ``eps_i`` from the
    video's generator; the output is the last x0 (first frame pasted back).
    """
    device = cond.first_latent.device
    sigmas = [float(s) for s in schedule.sigmas()]
    predict = _Predictor(model, cond, dtype)
    x = initial_noise(latent_shape, generator).to(device)
    if sigmas[0] < 1.0:  # a chain starting below pure noise starts from a noised zero latent
        x = x * sigmas[0]
    x0 = x
    for i, s in enumerate(sigmas):
        xin = paste_first_frame(x, cond.first_latent)
        v = predict(xin, 1000.0 * s, cond.text)
        x0 = x0_from_flow(xin, v, s)
        if i + 1 < len(sigmas):
            x = add_noise(x0, initial_noise(latent_shape, generator).to(device), sigmas[i + 1])
        if on_step:
            on_step(i)
    return paste_first_frame(x0, cond.first_latent)
