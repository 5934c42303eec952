"""The baseline trainers: ``train_baseline(cfg, out, ctx, ...)`` for ``baseline.method`` dmd, gan, lcm.

Teacher: the SlowAdapter on the SlowGenerator (``cfg.parent``, a stage 1 output). Student: an
adapter initialised from the SlowAdapter, on the frozen FastGenerator (``cfg.generator``, the
stage 2 output), sampled by the shared few-step chain. Only the student adapter trains, plus
the fake score (DMD) or the discriminator heads (GAN). Data, noise, rollout, checkpoints,
resume, logs and gradient averaging are the stage runners' (:mod:`flashmotion.training`).

* ``dmd``: distribution matching (:func:`~flashmotion.training.losses.dmd_loss`) between the
  teacher's CFG score and a fake score (a trainable copy of the teacher, backbone and adapter,
  fitted with the flow-matching loss to the student's samples); ``cfg.dmd`` sets the knobs.
* ``gan``: the adversarial loss only, APT-style: one cross-attention head with a learnable query
  reading the frozen SlowGenerator (``cfg.gan.heads: [vc]``), plus approximate R1 on real samples.
* ``lcm``: latent consistency distillation on the few-step schedule: the student's x0 at a
  schedule level ``s_i`` against the stop-grad (or EMA) student at ``s_{i+1}`` after one teacher
  Euler step with CFG from ``s_i`` to ``s_{i+1}`` (0 after the last level), pseudo-Huber distance.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flashbench.distributed import DistContext
from flashbench.errors import InputError
from flashmotion.model import FlashMotionModel
from flashmotion.samplers import paste_first_frame, predict_x0
from flashmotion.schedules import add_noise
from flashmotion.training import losses as L
from flashmotion.training.components import Parent, load_parent, write_output
from flashmotion.training.config import StageConfig
from flashmotion.training.discriminator import Discriminator
from flashmotion.training.loop import (
    Run,
    Tracked,
    ema_update,
    make_optimizer,
    optimizer_step,
    report_discriminator,
    scheduled_lr,
)
from flashmotion.training.stages import (
    Context,
    _seed_everything,
    dmd_generator_loss,
    fake_score_loss,
    rollout,
)

from . import METHODS
from .losses import lcm_target, pseudo_huber_loss


class Setup:
    """Teacher, student and the shared step context of one baseline run."""

    def __init__(self, cfg: StageConfig, ctx: DistContext, progress: bool):
        if not cfg.parent:
            raise InputError("config: a baseline needs parent: the stage 1 output folder (…/final) holding the SlowAdapter")
        if not cfg.generator:
            raise InputError("config: a baseline needs generator: the stage 2 output folder (…/final), the FastGenerator")
        self.slow: Parent = load_parent(cfg.parent, cfg.adapter)
        if self.slow.adapter is None:
            raise InputError(f"{cfg.parent}: a baseline's teacher needs a stage 1 output holding a {cfg.adapter} adapter")
        self.fast: Parent = load_parent(cfg.generator)
        self.teacher = FlashMotionModel(self.slow.transformer.requires_grad_(False),
                                        self.slow.adapter.eval().requires_grad_(False))
        self.adapter = copy.deepcopy(self.slow.adapter).train().requires_grad_(True)
        self.adapter.gradient_checkpointing = cfg.gradient_checkpointing
        self.fast_t = self.fast.transformer.requires_grad_(False)
        self.student = FlashMotionModel(self.fast_t, self.adapter)
        self.c = Context(cfg, self.slow, ctx, progress)
        self.opt = make_optimizer(self.adapter.parameters(), cfg.optim.lr, cfg.optim)

    def provenance(self) -> dict[str, Any]:
        prov = self.c.provenance({"generator": self.fast.hash()})
        prov["teacher"] = {"generator": "SlowGenerator", "adapter": "SlowAdapter", "checkpoint": str(self.slow.path)}
        return prov

    def inputs(self, batch: dict[str, Any], step: int):
        x0 = batch["latents"]
        traj = batch["traj"][self.c.cfg.trajectory_at(step)]
        return x0, x0[:, :, :1], batch["text"], traj, self.c.token_mask(x0, self.fast_t)

    def adapter_step(self, loss: torch.Tensor, step: int) -> float:
        cfg = self.c.cfg
        return optimizer_step(self.opt, loss, self.c.ctx, cfg.optim.grad_clip, scheduled_lr(cfg.optim.lr, step, cfg.steps, cfg.optim.warmup, cfg.optim.decay))


StepFn = Callable[[dict[str, Any], int], dict[str, float]]


def _dmd(cfg: StageConfig, s: Setup) -> tuple[Tracked, StepFn]:
    dcfg, c = cfg.dmd, s.c
    fake_t = copy.deepcopy(s.slow.transformer).train().requires_grad_(True)
    fake_a = copy.deepcopy(s.slow.adapter).train().requires_grad_(True)
    fake = FlashMotionModel(fake_t, fake_a)
    fake_score = nn.ModuleDict({"transformer": fake_t, "adapter": fake_a})
    opt_f = make_optimizer(fake_score.parameters(), dcfg.fake_lr, cfg.optim)

    def step_fn(batch, step):
        x0, first, text, traj, mask = s.inputs(batch, step)
        logs: dict[str, float] = {}
        update_adapter = step % dcfg.generator_every == 0
        x_gen = rollout(s.student, c, batch, step, traj, with_grad=update_adapter)
        sigma = c.sigmas(step, "dmd-t", dcfg.t_min, dcfg.t_max)
        noise = c.noise(x0.shape[1:], step, "dmd-noise")
        if update_adapter:
            loss = dmd_generator_loss(s.teacher, fake, x_gen, noise, sigma, first, text, traj, mask,
                                      c.negative.expand_as(text), dcfg.guidance_scale)
            logs["dmd_loss"] = float(loss.detach())
            logs["adapter_grad_norm"] = s.adapter_step(loss, step)
        loss_f = fake_score_loss(fake, x_gen, noise, sigma, first, text, traj, mask)
        logs["fake_score_loss"] = float(loss_f.detach())
        optimizer_step(opt_f, loss_f, c.ctx, cfg.optim.grad_clip)
        return logs

    return Tracked({"adapter": s.adapter, "fake_score": fake_score}, {"adapter": s.opt, "fake_score": opt_f}), step_fn


def _gan(cfg: StageConfig, s: Setup) -> tuple[Tracked, StepFn]:
    g, b, c = cfg.gan, cfg.baseline, s.c
    torch.manual_seed(cfg.seed)  # the heads' init
    disc = Discriminator(s.slow.transformer, g.blocks, g.heads)
    opt_d = make_optimizer(disc.trainable_parameters(), g.disc_lr, cfg.optim)
    heads = nn.ModuleDict({"heads": disc.heads, "out": disc.out})

    def step_fn(batch, step):
        x0, first, text, traj, mask = s.inputs(batch, step)
        logs: dict[str, float] = {}
        sigma = c.sigmas(step, "gan-t", g.t_min, g.t_max, g.timestep_shift)
        s5 = sigma.view(-1, 1, 1, 1, 1)
        n_fake, n_real = c.noise(x0.shape[1:], step, "gan-fake"), c.noise(x0.shape[1:], step, "gan-real")
        update_adapter = L.adapter_updates_at(step, g)
        x_fake = rollout(s.student, c, batch, step, traj, with_grad=update_adapter)
        with torch.no_grad():
            xt_fake, xt_real = add_noise(x_fake.detach(), n_fake, s5), add_noise(x0, n_real, s5)
        d_real = disc(xt_real, sigma, first, text, traj, mask)
        loss_d = L.gan_discriminator_loss(d_real, disc(xt_fake, sigma, first, text, traj, mask))
        logs["disc_loss"] = float(loss_d.detach())
        if b.r1_weight > 0:  # APT's approximate R1: D should not change under a small perturbation of real samples
            n_r1 = c.noise(x0.shape[1:], step, "gan-r1")
            r1 = L.approximate_r1(d_real, disc(xt_real + b.r1_sigma * n_r1, sigma, first, text, traj, mask))
            loss_d = loss_d + b.r1_weight * r1
            logs["r1"] = float(r1.detach())
        optimizer_step(opt_d, loss_d, c.ctx, cfg.optim.grad_clip)
        if update_adapter:
            loss = L.gan_generator_loss(disc(add_noise(x_fake, n_fake, s5), sigma, first, text, traj, mask))
            logs["gan_loss"] = float(loss.detach())
            logs["adapter_grad_norm"] = s.adapter_step(loss, step)
        return logs

    return Tracked({"adapter": s.adapter, "discriminator": heads}, {"adapter": s.opt, "discriminator": opt_d}), step_fn


def lcm_levels(c: Context, step: int) -> tuple[float, float]:
    """``(s_i, s_{i+1})`` of a random level ``i`` of the few-step schedule (``s_n = 0``)."""
    sig = [float(x) for x in c.schedule.sigmas()] + [0.0]
    i = c.step_randint(step, "lcm-level", c.schedule.steps)
    return sig[i], sig[i + 1]


def _lcm(cfg: StageConfig, s: Setup) -> tuple[Tracked, StepFn]:
    b, c = cfg.baseline, s.c
    target_adapter = copy.deepcopy(s.adapter).requires_grad_(False) if b.target_ema > 0 else s.adapter
    target = FlashMotionModel(s.fast_t, target_adapter)

    def step_fn(batch, step):
        x0, first, text, traj, mask = s.inputs(batch, step)
        neg = c.negative.expand_as(text)
        s_hi, s_lo = lcm_levels(c, step)
        x_hi = add_noise(x0, c.noise(x0.shape[1:], step, "lcm-noise"), s_hi)
        with torch.no_grad():
            y = lcm_target(paste_first_frame(x_hi, first), s_hi, s_lo,
                           lambda x, sig: predict_x0(s.teacher, x, sig, first, text, traj, mask, negative_text=neg,
                                                     guidance_scale=b.guidance_scale),
                           lambda x, sig: predict_x0(target, x, sig, first, text, traj, mask))
        pred = predict_x0(s.student, x_hi, s_hi, first, text, traj, mask)
        loss = pseudo_huber_loss(pred, y, b.huber_c)
        norm = s.adapter_step(loss, step)
        if target_adapter is not s.adapter:
            ema_update(target_adapter, s.adapter, b.target_ema)
        return {"lcm_loss": float(loss.detach()), "sigma": s_hi, "adapter_grad_norm": norm}

    ema = {"adapter": target_adapter} if target_adapter is not s.adapter else {}
    return Tracked({"adapter": s.adapter}, {"adapter": s.opt}, ema), step_fn


BUILDERS = {"dmd": _dmd, "gan": _gan, "lcm": _lcm}


def train_baseline(cfg: StageConfig, out: Path, ctx: DistContext, resume: bool = False, progress: bool = True,
                   stop_after: int | None = None) -> Path:
    """Train the ``cfg.baseline.method`` baseline into ``out``; returns ``out/final`` (a checkpoint
    folder the registered ``<method>-<adapter>`` generator loads)."""
    if cfg.stage != "baseline" or cfg.baseline.method not in METHODS:
        raise InputError(f"the config is for {cfg.stage}, not a baseline (stage: baseline, baseline.method: dmd|gan|lcm)")
    if cfg.fsdp:
        raise InputError("config: fsdp: the baseline trainers average gradients with all_reduce only; set fsdp: false")
    method = cfg.baseline.method
    _seed_everything(cfg.seed)
    s = Setup(cfg, ctx, progress)
    tracked, step_fn = BUILDERS[method](cfg, s)
    run = Run(cfg, out, tracked, ctx, s.provenance(), resume, progress, name=f"baseline {method}: {cfg.adapter}")
    run.loop(s.c.batches(run.start, cfg.steps), step_fn, stop_after)
    if stop_after is not None and stop_after < cfg.steps:
        return Path(out)
    provenance = {**s.provenance(), "method": method}
    if method == "gan":
        provenance["discriminator"] = report_discriminator(run.log_path, run.name, ctx)
    return write_output(out, {"transformer": s.fast_t, "adapter": s.adapter, "vae": s.slow.vae,
                              "text_encoder": s.slow.text_model}, s.slow.config, cfg, provenance, cfg.adapter,
                        notes=f"tiny {method.upper()} baseline: {cfg.adapter} adapter distilled from the SlowAdapter "
                              f"on the SlowGenerator onto the 4-step FastGenerator", ctx=ctx)
