"""Samplers: multi-step Euler with classifier-free guidance, and the few-step x0 chain.

Both follow Wan2.2-TI2V first-frame conditioning: latent frame 0 is the VAE-encoded first
frame, kept clean (its tokens get timestep 0) and pasted back after every step. Noise comes
from one CPU ``torch.Generator`` per video, so a video depends only on its seed.

Each sampler is :func:`prepare` (per-video work: casts, a state-free adapter's features, all
noise draws) followed by a denoising loop (:func:`denoise_multistep`, :func:`denoise_fewstep`)
that holds only network calls and scheduler updates; latency is reported for the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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
    return first_frame_token_mask(grid, device, batch) * float(t)


def first_frame_token_mask(grid: tuple[int, int, int], device, batch: int = 1) -> Tensor:
    """(B, L) float mask, 0 on the first latent frame's tokens and 1 elsewhere (token order f, h, w)."""
    f, h, w = grid
    mask = torch.ones((f, h * w), dtype=torch.float32, device=device)
    mask[0] = 0.0
    return mask.flatten().unsqueeze(0).expand(batch, -1)


def initial_noise(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Standard normal noise drawn on the CPU (device-independent numbers)."""
    return torch.randn(shape, generator=generator, dtype=torch.float32)


@dataclass
class Prepared:
    """Per-video work done once before the denoising loop, so the loop holds only network
    calls and scheduler updates (and its latency can be timed on its own).

    ``noise[0]`` is the initial state; the few-step chain's re-noising draws follow, in the
    order the chain uses them (all drawn from the video's generator, on the CPU).
    """

    cond: Conditions  # tensors cast to the sampling dtype (first latent stays float32)
    features: list[Tensor] | None  # per-video features of a state-free adapter (ResNet)
    noise: list[Tensor]  # float32 on the model's device
    token_mask: Tensor  # (1, L) first_frame_token_mask
    dtype: torch.dtype


@torch.no_grad()
def prepare(
    model: FlashMotionModel,
    cond: Conditions,
    latent_shape: tuple[int, ...],
    generator: torch.Generator,
    noise_draws: int,
    dtype: torch.dtype = torch.float32,
) -> Prepared:
    """Cast the conditions, compute a state-free adapter's features, draw ``noise_draws`` noises."""
    device = cond.first_latent.device
    cast = lambda t: t.to(dtype) if t is not None else None  # noqa: E731
    c = Conditions(first_latent=cond.first_latent, text=cast(cond.text), traj_latent=cast(cond.traj_latent),
                   negative_text=cast(cond.negative_text))
    features = model.static_features(c.traj_latent) if c.traj_latent is not None else None
    noise = [initial_noise(latent_shape, generator).to(device) for _ in range(noise_draws)]
    grid = model.transformer.token_grid(latent_shape)
    return Prepared(cond=c, features=features, noise=noise, token_mask=first_frame_token_mask(grid, device), dtype=dtype)


def predict_flow(model: FlashMotionModel, x: Tensor, sigma: Tensor | float, text: Tensor, traj_latent: Tensor | None,
                 token_mask: Tensor, features=None, dtype: torch.dtype | None = None) -> Tensor:
    """One network call on the (pasted) state ``x`` at noise level ``sigma`` (a float or one per
    sample); first-frame tokens get timestep 0. Returns the float32 flow prediction."""
    sig = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1, 1)
    ts = token_mask.expand(x.shape[0], -1) * (1000.0 * sig)
    dtype = dtype or x.dtype
    cast = lambda t: t.to(dtype) if t is not None else None  # noqa: E731
    return model(x.to(dtype), ts, cast(text), cast(traj_latent), features=features).float()


def _per_sample(sigma: Tensor | float, x: Tensor) -> Tensor | float:
    if isinstance(sigma, Tensor) and sigma.ndim == 1:
        return sigma.view(-1, *([1] * (x.ndim - 1)))
    return sigma


def predict_x0(
    model: FlashMotionModel,
    x_t: Tensor,
    sigma: Tensor | float,
    first_latent: Tensor,
    text: Tensor,
    traj_latent: Tensor | None,
    token_mask: Tensor,
    *,
    negative_text: Tensor | None = None,
    guidance_scale: float = 1.0,
    features=None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The clean estimate ``x0 = x_t - s v`` with the first-frame latent pasted in and pasted back.

    With ``guidance_scale != 1`` the flow is guided in the ``cond + (g - 1) (cond - uncond)``
    form (= ``uncond + g (cond - uncond)``), the negative branch changing the text only.
    The one x0 helper of sampling and training (DMD scores, diffusion and GAN losses).
    """
    xin = paste_first_frame(x_t, first_latent)
    v = predict_flow(model, xin, sigma, text, traj_latent, token_mask, features, dtype)
    if guidance_scale != 1.0:
        if negative_text is None:
            raise ValueError("classifier-free guidance needs the negative prompt's embedding")
        v_u = predict_flow(model, xin, sigma, negative_text, traj_latent, token_mask, features, dtype)
        v = torch.lerp(v_u, v, guidance_scale)
    s = _per_sample(sigma, xin)
    return paste_first_frame(x0_from_flow(xin.float(), v, s), first_latent)


def fewstep_chain(
    predict: Callable[[Tensor, int, float], Tensor],
    noise: Sequence[Tensor],
    schedule: FewStepSchedule,
    exit_step: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """The few-step x0 chain, shared by the sampler and every trainer (one copy).

    ``predict(x_i, i, sigma_i)`` returns the clean estimate (first frame pasted) at step ``i``.
    Step ``i + 1`` starts from ``x0_i`` re-noised with the fresh draw ``noise[i + 1]``. With
    ``exit_step = k`` the chain stops after step ``k`` and returns ``x0_k``; steps before ``k``
    run without a graph and only step ``k`` keeps one (the trainers' rollout: gradient through
    one randomly chosen exit step). Without it, all steps run and the last ``x0`` is returned.
    """
    sigmas = [float(s) for s in schedule.sigmas()]
    last = len(sigmas) - 1 if exit_step is None else int(exit_step)
    if not 0 <= last < len(sigmas):
        raise ValueError(f"exit step {exit_step} outside the {len(sigmas)}-step chain")
    if len(noise) < last + 1:
        raise ValueError(f"the few-step chain needs {last + 1} noise draws, got {len(noise)}")
    x = noise[0]
    if sigmas[0] < 1.0:  # a chain starting below pure noise starts from a noised zero latent
        x = x * sigmas[0]
    x0 = x
    for i in range(last + 1):
        keep_graph = exit_step is not None and i == last
        with torch.set_grad_enabled(keep_graph and torch.is_grad_enabled()):
            x0 = predict(x, i, sigmas[i])
        if i < last:
            x = add_noise(x0.detach(), noise[i + 1], sigmas[i + 1])
        if on_step:
            on_step(i)
    return x0


@torch.no_grad()
def denoise_multistep(
    model: FlashMotionModel,
    prep: Prepared,
    steps: int = 50,
    shift: float = 5.0,
    guidance_scale: float = 5.0,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """The Euler loop of :func:`sample_multistep` on prepared inputs (uses ``prep.noise[0]``)."""
    cond = prep.cond
    sigmas = [float(s) for s in multistep_sigmas(steps, shift)]
    use_cfg = guidance_scale != 1.0
    if use_cfg and cond.negative_text is None:
        raise ValueError("classifier-free guidance needs the negative prompt's embedding")
    x = prep.noise[0]
    for i in range(steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        xin = paste_first_frame(x, cond.first_latent)
        v = predict_flow(model, xin, s, cond.text, cond.traj_latent, prep.token_mask, prep.features, prep.dtype)
        if use_cfg:
            v_u = predict_flow(model, xin, s, cond.negative_text, cond.traj_latent, prep.token_mask, prep.features, prep.dtype)
            v = torch.lerp(v_u, v, guidance_scale)  # v_u + g (v_c - v_u), one kernel
        x = torch.add(xin, v, alpha=s_next - s)  # Euler: x + (s_next - s) v
        if on_step:
            on_step(i)
    return paste_first_frame(x, cond.first_latent)


@torch.no_grad()
def denoise_fewstep(
    model: FlashMotionModel,
    prep: Prepared,
    schedule: FewStepSchedule,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """The x0 chain of :func:`sample_fewstep` on prepared inputs (``schedule.steps`` noises)."""
    cond = prep.cond

    def predict(x: Tensor, i: int, s: float) -> Tensor:
        return predict_x0(model, x, s, cond.first_latent, cond.text, cond.traj_latent, prep.token_mask,
                          features=prep.features, dtype=prep.dtype)

    return fewstep_chain(predict, prep.noise, schedule, on_step=on_step)


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
    :func:`prepare` then :func:`denoise_multistep`.
    """
    prep = prepare(model, cond, latent_shape, generator, 1, dtype)
    return denoise_multistep(model, prep, steps, shift, guidance_scale, on_step)


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

    ``x_{i+1} = (1 - s_{i+1}) x0_i + s_{i+1} eps_{i+1}`` with fresh noise from the video's
    generator (drawn before the loop, in chain order); the output is the last x0 (first frame
    pasted back). :func:`prepare` then :func:`denoise_fewstep`.
    """
    prep = prepare(model, cond, latent_shape, generator, schedule.steps, dtype)
    return denoise_fewstep(model, prep, schedule, on_step)
