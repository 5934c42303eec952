"""The training objectives, as pure functions of tensors (each checked on a toy problem in tests).

Frame 0 of a TI2V latent is the clean first frame, pasted in; no loss is taken there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..schedules import shift_sigma
from .config import GANConfig


def _later_frames(x: Tensor) -> Tensor:
    return x[:, :, 1:] if x.ndim == 5 else x


def training_sigmas(u: Tensor, shift: float, t_min: float = 0.0, t_max: float = 1000.0) -> Tensor:
    """Noise levels ``shift(u)`` for uniform ``u``, clamped to ``[t_min, t_max] / 1000``."""
    return shift_sigma(u.double(), shift).clamp(t_min / 1000.0, t_max / 1000.0).float()


def flow_matching_loss(v_pred: Tensor, noise: Tensor, x0: Tensor) -> Tensor:
    """Flow matching: MSE between the predicted flow and ``eps - x0`` (later frames)."""
    return F.mse_loss(_later_frames(v_pred).float(), _later_frames(noise - x0).float())


def x0_loss(x0_pred: Tensor, x0: Tensor) -> Tensor:
    """The diffusion loss on clean estimates, ``||G(x_t, t) - x0||^2`` (paper eq. 3)."""
    return F.mse_loss(_later_frames(x0_pred).float(), _later_frames(x0).float())


def dmd_loss(x_gen: Tensor, x0_real: Tensor, x0_fake: Tensor) -> Tensor:
    """Distribution matching: the gradient ``(x0_fake - x0_real)``, normalised per sample by
    ``mean |x_gen - x0_real|``, applied through ``0.5 ||x_gen - sg(x_gen - grad)||^2``.

    Its gradient w.r.t. ``x_gen`` is ``grad / numel``: descending it moves generator samples
    from where the fake score puts them toward where the real score does.
    """
    with torch.no_grad():
        dims = tuple(range(1, x_gen.ndim))
        norm = (x_gen.float() - x0_real.float()).abs().mean(dim=dims, keepdim=True).clamp_min(1e-8)
        grad = torch.nan_to_num((x0_fake.float() - x0_real.float()) / norm)
        target = x_gen.float() - grad
    return 0.5 * F.mse_loss(_later_frames(x_gen).float(), _later_frames(target))


def gan_generator_loss(logits_fake: Tensor) -> Tensor:
    """Paper eq. 4: ``softplus(-D(x_fake))``."""
    return F.softplus(-logits_fake.float()).mean()


def gan_discriminator_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Paper eq. 5 (the standard non-saturating pair): ``softplus(-D(x_real)) + softplus(D(x_fake))``."""
    return F.softplus(-logits_real.float()).mean() + F.softplus(logits_fake.float()).mean()


def approximate_r1(logits: Tensor, logits_perturbed: Tensor) -> Tensor:
    """APT's approximate R1: ``||D(x) - D(x + N(0, s))||^2``."""
    return (logits.float() - logits_perturbed.float()).pow(2).mean()


def adapter_updates_at(step: int, cfg: GANConfig) -> bool:
    """Whether the adapter (the generator side of the game) updates at ``step``: every
    ``adapter_every``-th step once the discriminator's warm-up is over (no warm-up without one)."""
    warmup = cfg.disc_warmup if cfg.gan_loss else 0
    return step >= warmup and (step - warmup) % cfg.adapter_every == 0


def diffusion_scale(step: int, cfg: GANConfig) -> float:
    """lambda of ``L = L_G + lambda L_diffusion`` at ``step`` (counted from the end of the
    discriminator's warm-up: the adapter's own steps).

    ``linear`` (paper eq. 7): ``rate * step``, growing, so the diffusion loss does not swamp
    the GAN loss early; ``decreasing``: ``1 - rate * step``; ``fixed``: ``lambda_fixed`` (the
    "w/o dynamic scale" ablation). Clamped to ``[lambda_min, lambda_max]``.
    """
    step = step - cfg.disc_warmup
    if cfg.lambda_schedule == "fixed":
        lam = cfg.lambda_fixed
    elif cfg.lambda_schedule == "linear":
        lam = cfg.lambda_rate * step
    else:
        lam = 1.0 - cfg.lambda_rate * step
    lam = max(cfg.lambda_min, lam)
    return min(cfg.lambda_max, lam) if cfg.lambda_max is not None else lam


def reconstruction_loss(rec: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
    """The VAE's L1 + MSE per pixel, averaged with per-pixel ``weight`` (broadcast over channels)
    normalised to mean 1, so the loss scale does not depend on how many pixels are weighted."""
    d = rec - x
    err = d.abs() + d.square()
    if weight is None:
        return err.mean()
    weight = weight.expand_as(err)
    return (weight * err).mean() / weight.mean()


def still_latent_loss(mu: Tensor) -> Tensor:
    """Latents of a still clip, (B, C, F, h, w): mean squared change of the later latent frames
    from the first, per channel in units of that channel's (detached) variance over the batch, so
    its value does not depend on the latents' scale."""
    var = mu.detach().float().var(dim=(0, 2, 3, 4), keepdim=True).clamp_min(1e-6)
    return ((mu[:, :, 1:] - mu[:, :, :1]).float().pow(2) / var).mean()
