"""The four stage runners: ``train_stage(cfg, out, ...)`` for stage0..stage3.

Every stage reads its parent's output (``cfg.parent``), builds the latent cache of its data,
and runs :class:`~.loop.Run` with a step function built from the shared pieces: the per-sample
noise of :mod:`.data`, the x0 helper and few-step chain of :mod:`flashmotion.samplers` (one
copy, shared with inference), and the losses of :mod:`.losses`.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flashbench import paths
from flashbench.distributed import DistContext
from flashbench.errors import InputError

from .. import loading
from ..adapters import build_adapter
from ..assemble import model_config_of
from ..model import FlashMotionModel
from ..samplers import first_frame_token_mask, fewstep_chain, paste_first_frame, predict_flow, predict_x0
from ..schedules import add_noise
from . import data as D
from . import losses as L
from .components import Parent, adapter_input_of, code_version, fresh_components, frozen_copy, load_parent, write_output
from .config import StageConfig
from .discriminator import Discriminator
from .loop import Run, Tracked, ema_update, make_optimizer, optimizer_step, report_discriminator, scheduled_lr


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cache_dir() -> Path:
    return paths.home() / "train-cache"


class Context:
    """What every stage's step needs: data, text, schedule, process group."""

    def __init__(self, cfg: StageConfig, parent: Parent, ctx: DistContext, progress: bool, types=("mask", "box"),
                 loaded: dict | None = None):
        self.cfg, self.parent, self.ctx = cfg, parent, ctx
        self.mcfg = parent.config
        codec, text = parent.codec(), parent.text_encoder()
        types = tuple(dict.fromkeys(list(types) + [p.trajectory for p in cfg.phases]))
        cache = D.LatentCache(_cache_dir(), cfg.data, codec, text, types)
        cache.build(loaded=loaded)
        self.cache = cache
        self.dataset = D.LatentDataset(cache.paths)
        self.negative = text.encode([self.mcfg.sampling.negative_prompt])[0].float()
        self.schedule = self.mcfg.sampling.few_step_schedule()
        self.data_hash = cache.manifest_hash()

    def batches(self, start: int, stop: int):
        return D.loader(self.dataset, self.cfg.batch_size, self.cfg.seed, start, stop, self.ctx.rank,
                        self.ctx.world_size, self.cfg.data.workers)

    def global_indices(self) -> list[int]:
        """Positions of this rank's samples within the global batch (for per-sample RNG)."""
        return list(range(self.cfg.batch_size))[self.ctx.rank :: self.ctx.world_size]

    def noise(self, shape, step: int, what: str) -> Tensor:
        return D.sample_noise(shape, self.cfg.seed, step, self.global_indices(), what)

    def sigmas(self, step: int, what: str, t_min: float = 0.0, t_max: float = 1000.0,
               shift: float | None = None) -> Tensor:
        u = D.sample_uniform(self.cfg.seed, step, self.global_indices(), what)
        return L.training_sigmas(u, self.cfg.timestep_shift if shift is None else shift, t_min, t_max)

    def step_randint(self, step: int, what: str, high: int) -> int:
        g = torch.Generator().manual_seed(D.hash_seed(self.cfg.seed, what, step))
        return int(torch.randint(high, (), generator=g))

    def token_mask(self, latents: Tensor, transformer) -> Tensor:
        return first_frame_token_mask(transformer.token_grid(latents.shape), latents.device, latents.shape[0])

    def provenance(self, extra_parents: dict[str, str | None] | None = None) -> dict[str, Any]:
        parents = {"parent": self.parent.hash(), **(extra_parents or {})}
        return {"seed": self.cfg.seed, "code_version": code_version(), "data_manifest_sha256": self.data_hash,
                "data": self.cfg.data.source, "parents": parents, "world_size": self.ctx.world_size,
                "torch_threads": torch.get_num_threads()}  # CPU float rounding depends on it


def _flow_step(model: FlashMotionModel, c: Context, batch: dict[str, Any], step: int, traj: Tensor | None,
               text_dropout: float = 0.0) -> Tensor:
    """The flow-matching loss of one batch (stage 0 generator, stage 1 adapter)."""
    x0 = batch["latents"]
    first = x0[:, :, :1]
    noise = c.noise(x0.shape[1:], step, "noise")
    sigma = c.sigmas(step, "t")
    x_t = paste_first_frame(add_noise(x0, noise, sigma.view(-1, 1, 1, 1, 1)), first)
    text = batch["text"]
    if text_dropout > 0:
        drop = D.sample_uniform(c.cfg.seed, step, c.global_indices(), "text-dropout") < text_dropout
        text = torch.where(drop.view(-1, 1, 1), c.negative.expand_as(text), text)
    v = predict_flow(model, x_t, sigma, text, traj, c.token_mask(x0, model.transformer))
    return L.flow_matching_loss(v, noise, x0)


def _maybe_shard(cfg: StageConfig, ctx: DistContext, *roots) -> None:
    """FSDP2 over the blocks of each root (``fsdp: true`` under torchrun); before optimisers exist."""
    if not (cfg.fsdp and ctx.enabled):
        return
    from .parallel import shard

    for root in roots:
        if root is not None:
            shard(root, ctx, cfg.mixed_precision)


def _check_stage(cfg: StageConfig, stage: str) -> None:
    if cfg.stage != stage:
        raise InputError(f"the config is for {cfg.stage}, not {stage}")


def _parent(cfg: StageConfig, adapter: str | None = None) -> Parent:
    if not cfg.parent:
        raise InputError(f"config: {cfg.stage} needs parent: the output folder (…/final) of the previous stage")
    return load_parent(cfg.parent, adapter)


# --------------------------------------------------------------------------- stage 0

def reuse_vae(folder: str, parent: Parent, key: str = "vae.checkpoint") -> str:
    """Load the VAE of an earlier stage-0 output into ``parent`` (same model config); its SHA-256."""
    meta = loading.read_checkpoint_meta(Path(folder))
    theirs, ours = model_config_of(meta).vae, parent.config.vae
    if replace(theirs, latents_mean=ours.latents_mean, latents_std=ours.latents_std) != ours:  # statistics are recomputed
        raise InputError(f"{key} {folder}: its VAE is not built like model {parent.config.name}'s; use a stage-0 output of the same model")
    loading.load_checkpoint_component(folder, "vae", parent.vae)
    return meta["components"]["vae"]["sha256"]


def vae_clips(seed: int, step: int, vcfg, shape: tuple[int, int, int], videos: int) -> list[tuple[int, str | None, tuple]]:
    """The VAE phase's batch at ``step``: per clip, the video index, ``None`` for the video or the
    trajectory-map kind, and the (frames, rows, columns) crop. A ``map_share`` of the steps are
    map batches (each clip a box or a mask map, even odds, ``map_frames`` long, default
    ``clip_frames``), so one batch holds clips of one length. Depends on the seed and step only."""
    g = torch.Generator().manual_seed(D.hash_seed(seed, "vae-crop", step))
    (t, h, w), (ch, cw) = shape, vcfg.crop
    maps = bool(vcfg.map_share) and float(torch.rand((), generator=g)) < vcfg.map_share  # no draw without maps: older runs replay
    n = (vcfg.map_frames or vcfg.clip_frames) if maps else vcfg.clip_frames
    out = []
    for _ in range(vcfg.batch_size):
        k = int(torch.randint(videos, (), generator=g))
        kind = ("box" if float(torch.rand((), generator=g)) < 0.5 else "mask") if maps else None
        t0 = int(torch.randint(t - n + 1, (), generator=g))
        y0 = int(torch.randint(h - ch + 1, (), generator=g))
        x0 = int(torch.randint(w - cw + 1, (), generator=g))
        out.append((k, kind, (slice(t0, t0 + n), slice(y0, y0 + ch), slice(x0, x0 + cw))))
    return out


def train_vae(cfg: StageConfig, out: Path, parent: Parent, ctx: DistContext, resume: bool, progress: bool,
              raws: list, stop_after: int | None = None) -> None:
    """Stage 0a: the tiny VAE on random crops of short training clips (reconstruction + KL)."""
    vcfg = cfg.vae
    vae = parent.vae.train().requires_grad_(True)
    opt = make_optimizer(vae.parameters(), vcfg.lr, cfg.optim)
    clips = [raw.frames for raw in raws]
    # foreground (any object) per pixel: the objects are what the benchmark scores, and they
    # cover ~6% of FlashBench-Synth's pixels, so an unweighted loss learns the background first
    fg = [_foreground(raw.annotation) for raw in raws] if vcfg.foreground_weight else None
    maps: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}  # rendered when first drawn

    def map_clip(k: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Video ``k``'s trajectory maps and their drawn pixels (the foreground of a map)."""
        if (k, kind) not in maps:
            m = D.trajectory_maps(raws[k].annotation, kind, cfg.data)
            maps[(k, kind)] = (m, m.any(axis=-1))
        return maps[(k, kind)]

    run = Run(replace(cfg, steps=vcfg.steps), out, Tracked({"vae": vae}, {"vae": opt}), ctx,
              {"seed": cfg.seed, "code_version": code_version()}, resume, progress, name="stage0: VAE")

    def batches(start: int, stop: int):
        for step in range(start, stop):
            out_clips, weights = [], []
            for j, (k, kind, crop) in enumerate(vae_clips(cfg.seed, step, vcfg, clips[0].shape[:3], len(clips))):
                if j % ctx.world_size != ctx.rank:  # every rank draws the whole batch, keeps its share
                    continue
                v, f = map_clip(k, kind) if kind else (clips[k], fg[k] if fg is not None else None)
                out_clips.append(v[crop])
                weights.append(1.0 + vcfg.foreground_weight * f[crop] if f is not None else np.ones(v[crop].shape[:3]))
            x = torch.from_numpy(np.stack(out_clips)).permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)
            yield x, torch.from_numpy(np.stack(weights)).float()[:, None]

    def step_fn(batch, step: int) -> dict[str, float]:
        x, w = batch
        post = vae.encode(x).latent_dist
        g = torch.Generator().manual_seed(D.hash_seed(cfg.seed, "vae-sample", step, ctx.rank))
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        l_rec = L.reconstruction_loss(rec, x, w)
        l_kl = post.kl().mean() / post.mean[0].numel()
        loss = l_rec + vcfg.kl_weight * l_kl * post.mean[0].numel()
        logs = {"recon": float(l_rec.detach()), "kl": float(l_kl.detach())}
        if vcfg.still_weight:
            # Each clip's first frame held still: its later latent frames should equal the first,
            # so that keeping a still scene is a copy in latent space for the generator.
            held = x[:, :, :1].expand(-1, -1, vcfg.still_frames or vcfg.clip_frames, -1, -1)
            l_still = L.still_latent_loss(vae.encode(held).latent_dist.mean)
            loss = loss + vcfg.still_weight * l_still
            logs["still"] = float(l_still.detach())
        norm = optimizer_step(opt, loss, ctx, cfg.optim.grad_clip, scheduled_lr(vcfg.lr, step, vcfg.steps, vcfg.warmup, vcfg.decay))
        return {**logs, "grad_norm": norm}

    run.loop(batches(run.start, vcfg.steps), step_fn, stop_after)
    vae.eval().requires_grad_(False)


def _foreground(ann) -> np.ndarray:
    """(T, H, W) bool: pixels covered by any object."""
    from flashbench.data import rle

    out = np.zeros((ann.num_frames, ann.height, ann.width), bool)
    for obj in ann.objects:
        out |= rle.decode_stack(obj.rles)
    return out


@torch.no_grad()
def latent_statistics(parent: Parent, raws: list, limit: int = 16) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the VAE's raw latents over the first ``limit`` training videos."""
    vae = parent.vae
    zs = []
    for raw in raws[:limit]:
        x = torch.from_numpy(raw.frames).permute(3, 0, 1, 2)[None].float().div(127.5).sub(1.0)
        zs.append(vae.encode(x).latent_dist.mode().float().transpose(0, 1).reshape(vae.config.z_dim, -1))
    z = torch.cat(zs, dim=1).double()
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-3).tolist()


def train_stage0(cfg: StageConfig, out: Path, ctx: DistContext, resume: bool = False, progress: bool = True,
                 stop_after: int | None = None) -> Path:
    """The tiny VAE, then the TI2V base generator with flow matching: the stand-in SlowGenerator."""
    _check_stage(cfg, "stage0")
    from ..configs import get_config

    mcfg = get_config(cfg.model)
    if mcfg.name == "wan2.2-ti2v-5b":
        raise InputError("stage0 trains tiny models only: the real SlowGenerator is Wan2.2-TI2V-5B's released weights")
    _seed_everything(cfg.seed)
    parent = fresh_components(mcfg, cfg.seed)
    out = Path(out)
    if cfg.vae.checkpoint and cfg.vae.init:
        raise InputError("config: vae.checkpoint (reuse a VAE, no VAE phase) and vae.init (continue training one) exclude each other")
    # checked before any rendering (on --resume the VAE phase's own checkpoint replaces vae.init's weights)
    vae_parents = {}
    if cfg.vae.checkpoint:
        vae_parents["vae"] = reuse_vae(cfg.vae.checkpoint, parent)
    elif cfg.vae.init:
        vae_parents["vae_init"] = reuse_vae(cfg.vae.init, parent, "vae.init")
    raws = [src.load() for src in D.iter_source(cfg.data)]  # rendered once for the VAE, its statistics and the cache
    if not cfg.vae.checkpoint:
        train_vae(cfg, out / "vae", parent, ctx, resume, progress, raws, stop_after)
    mean, std = latent_statistics(parent, raws)
    vae_cfg = replace(mcfg.vae, latents_mean=tuple(mean), latents_std=tuple(std))
    parent.vae.register_to_config(latents_mean=list(mean), latents_std=list(std))
    parent.config = mcfg = replace(mcfg, vae=vae_cfg)
    c = Context(cfg, parent, ctx, progress, loaded={r.video_id: r for r in raws})
    prov = c.provenance(vae_parents or None)
    del raws
    base = parent.transformer.train().requires_grad_(True)
    model = FlashMotionModel(base)
    ema = frozen_copy(base) if cfg.ema else None
    _maybe_shard(cfg, ctx, model, ema)
    opt = make_optimizer(base.parameters(), cfg.optim.lr, cfg.optim)
    tracked = Tracked({"transformer": base}, {"transformer": opt}, {"transformer": ema} if ema is not None else {})
    run = Run(cfg, out / "generator", tracked, ctx, prov, resume, progress, name="stage0: generator")

    def step_fn(batch, step):
        loss = _flow_step(model, c, batch, step, None, cfg.text_dropout)
        norm = optimizer_step(opt, loss, ctx, cfg.optim.grad_clip, scheduled_lr(cfg.optim.lr, step, cfg.steps, cfg.optim.warmup, cfg.optim.decay))
        if ema is not None:
            ema_update(ema, base, cfg.ema if step >= cfg.ema_start else 0.0)
        return {"flow_loss": float(loss.detach()), "grad_norm": norm}

    run.loop(c.batches(run.start, cfg.steps), step_fn, stop_after)
    if stop_after is not None and stop_after < cfg.steps:
        return out
    final = ema if ema is not None else base
    return write_output(out, {"transformer": final, "vae": parent.vae, "text_encoder": parent.text_model}, mcfg, cfg,
                        prov, notes="tiny reference SlowGenerator (stage 0: VAE + flow-matching base)", ctx=ctx)


# --------------------------------------------------------------------------- stage 1

def train_stage1(cfg: StageConfig, out: Path, ctx: DistContext, resume: bool = False, progress: bool = True,
                 stop_after: int | None = None) -> Path:
    """The SlowAdapter on the frozen SlowGenerator: flow matching, masks then boxes."""
    _check_stage(cfg, "stage1")
    _seed_everything(cfg.seed)
    parent = _parent(cfg)
    if cfg.resnet_channels is not None:  # a wider (or narrower) ResNet than the model config's
        parent = replace(parent, config=replace(parent.config, adapter=replace(parent.config.adapter, resnet_channels=cfg.resnet_channels)))
    base = parent.transformer.requires_grad_(False)
    torch.manual_seed(cfg.seed)  # the ResNet's random init
    adapter = build_adapter(cfg.adapter, parent.config, base).train().requires_grad_(True)
    adapter.gradient_checkpointing = cfg.gradient_checkpointing
    init = {"adapter_init": init_adapter(cfg.adapter_init, adapter, cfg.adapter, parent)} if cfg.adapter_init else {}
    model = FlashMotionModel(base, adapter)
    c = Context(cfg, parent, ctx, progress)
    _maybe_shard(cfg, ctx, model)
    opt = make_optimizer(adapter.parameters(), cfg.optim.lr, cfg.optim)
    run = Run(cfg, out, Tracked({"adapter": adapter}, {"adapter": opt}), ctx, c.provenance(init), resume, progress,
              name=f"stage1: {cfg.adapter}")

    def step_fn(batch, step):
        traj = batch["latents"] if cfg.adapter_input == "video" else batch["traj"][cfg.trajectory_at(step)]
        loss = _flow_step(model, c, batch, step, traj)
        norm = optimizer_step(opt, loss, ctx, cfg.optim.grad_clip, scheduled_lr(cfg.optim.lr, step, cfg.steps, cfg.optim.warmup, cfg.optim.decay))
        return {"flow_loss": float(loss.detach()), "grad_norm": norm}

    run.loop(c.batches(run.start, cfg.steps), step_fn, stop_after)
    if stop_after is not None and stop_after < cfg.steps:
        return Path(out)
    return write_output(out, {"transformer": base, "adapter": adapter, "vae": parent.vae, "text_encoder": parent.text_model},
                        parent.config, cfg, c.provenance(init), cfg.adapter,
                        notes=(f"DIAGNOSTIC adapter ({cfg.adapter}) that reads the video's own latent, not trajectory maps (stage 1)"
                               if cfg.adapter_input == "video" else
                               f"tiny reference SlowAdapter ({cfg.adapter}) on the SlowGenerator (stage 1)"), ctx=ctx)


def init_adapter(folder: str, adapter, kind: str, parent: Parent) -> str:
    """Load the adapter of an earlier stage-1 output (same kind, same generator) into ``adapter``;
    its SHA-256. On ``--resume`` the run's own checkpoint replaces these weights."""
    meta = loading.read_checkpoint_meta(Path(folder))
    if meta.get("adapter") != kind:
        held = f"a {meta['adapter']} adapter" if meta.get("adapter") else "no adapter (a stage-0 output?)"
        raise InputError(f"adapter_init {folder}: holds {held}, not a {kind} one; use a stage-1 output with a {kind} adapter")
    if meta["components"]["transformer"]["sha256"] != parent.meta["components"]["transformer"]["sha256"]:
        raise InputError(f"adapter_init {folder}: trained on another generator than parent {parent.path}; use a stage-1 output of this parent")
    if adapter_input_of(meta) != "maps":
        raise InputError(f"adapter_init {folder}: its adapter read the videos' own latents (adapter_input: video), not maps")
    loading.load_checkpoint_component(folder, "adapter", adapter)
    return meta["components"]["adapter"]["sha256"]


# --------------------------------------------------------------------------- rollout

def rollout(model: FlashMotionModel, c: Context, batch: dict[str, Any], step: int, traj: Tensor | None,
            with_grad: bool) -> Tensor:
    """The few-step generator's sample: the shared chain, graph kept only at a random exit step."""
    x0 = batch["latents"]
    first = x0[:, :, :1]
    mask = c.token_mask(x0, model.transformer)
    noises = [c.noise(x0.shape[1:], step, f"chain-{i}") for i in range(c.schedule.steps)]
    exit_step = c.step_randint(step, "exit", c.schedule.steps)

    def predict(x, i, s):
        return predict_x0(model, x, s, first, batch["text"], traj, mask)

    with torch.set_grad_enabled(with_grad):
        return fewstep_chain(predict, noises, c.schedule, exit_step=exit_step)


def dmd_generator_loss(real: FlashMotionModel, fake: FlashMotionModel, x_gen: Tensor, noise: Tensor, sigma: Tensor,
                       first: Tensor, text: Tensor, traj: Tensor | None, mask: Tensor, negative: Tensor,
                       guidance_scale: float) -> Tensor:
    """DMD's generator loss on the rollout ``x_gen`` re-noised to ``sigma``: the real score (with
    CFG) against the fake score (stage 2; the DMD baseline with trajectories)."""
    x_t = add_noise(x_gen.detach(), noise, sigma.view(-1, 1, 1, 1, 1))
    with torch.no_grad():
        x0_real = predict_x0(real, x_t, sigma, first, text, traj, mask, negative_text=negative,
                             guidance_scale=guidance_scale)
        x0_fake = predict_x0(fake, x_t, sigma, first, text, traj, mask)
    return L.dmd_loss(x_gen, x0_real, x0_fake)


def fake_score_loss(fake: FlashMotionModel, x_gen: Tensor, noise: Tensor, sigma: Tensor, first: Tensor, text: Tensor,
                    traj: Tensor | None, mask: Tensor) -> Tensor:
    """The fake score tracks the generator's current samples: flow matching on them."""
    x_gen = x_gen.detach()
    x_t = paste_first_frame(add_noise(x_gen, noise, sigma.view(-1, 1, 1, 1, 1)), first)
    return L.flow_matching_loss(predict_flow(fake, x_t, sigma, text, traj, mask), noise, x_gen)


# --------------------------------------------------------------------------- stage 2

def train_stage2(cfg: StageConfig, out: Path, ctx: DistContext, resume: bool = False, progress: bool = True,
                 stop_after: int | None = None) -> Path:
    """DMD: the SlowGenerator distilled into the few-step FastGenerator (no adapter)."""
    _check_stage(cfg, "stage2")
    _seed_everything(cfg.seed)
    parent = _parent(cfg)
    real = FlashMotionModel(parent.transformer.requires_grad_(False))
    gen_t = copy.deepcopy(parent.transformer).train().requires_grad_(True)
    fake_t = copy.deepcopy(parent.transformer).train().requires_grad_(True)
    gen, fake = FlashMotionModel(gen_t), FlashMotionModel(fake_t)
    c = Context(cfg, parent, ctx, progress)
    dcfg = cfg.dmd
    ema = frozen_copy(gen_t) if cfg.ema else None
    _maybe_shard(cfg, ctx, real, gen, fake, ema)
    opt_g = make_optimizer(gen_t.parameters(), cfg.optim.lr, cfg.optim)
    opt_f = make_optimizer(fake_t.parameters(), dcfg.fake_lr, cfg.optim)
    tracked = Tracked({"generator": gen_t, "fake_score": fake_t}, {"generator": opt_g, "fake_score": opt_f},
                      {"generator": ema} if ema is not None else {})
    run = Run(cfg, out, tracked, ctx, c.provenance(), resume, progress, name="stage2: DMD")

    def step_fn(batch, step):
        x0 = batch["latents"]
        first, text = x0[:, :, :1], batch["text"]
        mask = c.token_mask(x0, gen_t)
        neg = c.negative.expand_as(text)
        logs: dict[str, float] = {}
        update_gen = step % dcfg.generator_every == 0
        x_gen = rollout(gen, c, batch, step, None, with_grad=update_gen)
        sigma = c.sigmas(step, "dmd-t", dcfg.t_min, dcfg.t_max)
        noise = c.noise(x0.shape[1:], step, "dmd-noise")
        if update_gen:
            loss_g = dmd_generator_loss(real, fake, x_gen, noise, sigma, first, text, None, mask, neg, dcfg.guidance_scale)
            logs["dmd_loss"] = float(loss_g.detach())
            logs["generator_grad_norm"] = optimizer_step(opt_g, loss_g, ctx, cfg.optim.grad_clip)
            if ema is not None:
                ema_update(ema, gen_t, dcfg_ema(cfg, step))
        loss_f = fake_score_loss(fake, x_gen, noise, sigma, first, text, None, mask)
        logs["fake_score_loss"] = float(loss_f.detach())
        optimizer_step(opt_f, loss_f, ctx, cfg.optim.grad_clip)
        return logs

    run.loop(c.batches(run.start, cfg.steps), step_fn, stop_after)
    if stop_after is not None and stop_after < cfg.steps:
        return Path(out)
    final = ema if ema is not None else gen_t
    return write_output(out, {"transformer": final, "vae": parent.vae, "text_encoder": parent.text_model}, parent.config,
                        cfg, c.provenance(), notes="tiny reference FastGenerator (stage 2: DMD, 4 steps)", ctx=ctx)


def dcfg_ema(cfg: StageConfig, step: int) -> float:
    return float(cfg.ema) if step >= cfg.ema_start else 0.0


# --------------------------------------------------------------------------- stage 3

def train_stage3(cfg: StageConfig, out: Path, ctx: DistContext, resume: bool = False, progress: bool = True,
                 stop_after: int | None = None) -> Path:
    """The FastAdapter: the SlowAdapter fine-tuned on the frozen FastGenerator with diffusion +
    adversarial losses; the discriminator reads a frozen copy of the SlowGenerator."""
    _check_stage(cfg, "stage3")
    _seed_everything(cfg.seed)
    slow = _parent(cfg, cfg.adapter)  # stage 1 output: SlowGenerator + SlowAdapter
    if slow.adapter is None:
        raise InputError(f"{cfg.parent}: stage 3 needs a stage 1 output holding a {cfg.adapter} adapter")
    if not cfg.generator:
        raise InputError("config: stage3 needs generator: the stage 2 output folder (FastGenerator)")
    fast = load_parent(cfg.generator)
    fast_t = fast.transformer.requires_grad_(False)
    adapter = slow.adapter.train().requires_grad_(True)
    adapter.gradient_checkpointing = cfg.gradient_checkpointing
    model = FlashMotionModel(fast_t, adapter)
    g = cfg.gan
    torch.manual_seed(cfg.seed)
    disc = Discriminator(slow.transformer.requires_grad_(False), g.blocks, g.heads)
    c = Context(cfg, slow, ctx, progress)
    _maybe_shard(cfg, ctx, model)
    if cfg.fsdp and ctx.enabled:
        from .parallel import shard

        shard(disc.backbone, ctx, cfg.mixed_precision, shard_root=False)
    opt_a = make_optimizer(adapter.parameters(), cfg.optim.lr, cfg.optim)
    opt_d = make_optimizer(disc.trainable_parameters(), g.disc_lr, cfg.optim)
    disc_heads = torch.nn.ModuleDict({"heads": disc.heads, "out": disc.out})
    tracked = Tracked({"adapter": adapter, "discriminator": disc_heads}, {"adapter": opt_a, "discriminator": opt_d})
    run = Run(cfg, out, tracked, ctx, c.provenance({"generator": fast.hash()}), resume, progress,
              name=f"stage3: {cfg.adapter}")

    def step_fn(batch, step):
        kind = cfg.trajectory_at(step)
        x0 = batch["latents"]
        first, text, traj = x0[:, :, :1], batch["text"], batch["traj"][kind]
        mask = c.token_mask(x0, fast_t)
        logs: dict[str, float] = {}
        sigma = c.sigmas(step, "gan-t", g.t_min, g.t_max, g.timestep_shift)
        n_fake, n_real = c.noise(x0.shape[1:], step, "gan-fake"), c.noise(x0.shape[1:], step, "gan-real")
        s5 = sigma.view(-1, 1, 1, 1, 1)
        update_adapter = L.adapter_updates_at(step, g)
        x_fake = rollout(model, c, batch, step, traj, with_grad=update_adapter and g.gan_loss)
        if g.gan_loss:  # the discriminator: every step
            with torch.no_grad():
                xt_fake = add_noise(x_fake.detach(), n_fake, s5)
                xt_real = add_noise(x0, n_real, s5)
            loss_d = L.gan_discriminator_loss(disc(xt_real, sigma, first, text, traj, mask),
                                              disc(xt_fake, sigma, first, text, traj, mask))
            logs["disc_loss"] = float(loss_d.detach())
            optimizer_step(opt_d, loss_d, ctx, cfg.optim.grad_clip)
        if update_adapter:
            loss = torch.zeros(())
            if g.gan_loss:
                loss_g = L.gan_generator_loss(disc(add_noise(x_fake, n_fake, s5), sigma, first, text, traj, mask))
                loss = loss + loss_g
                logs["gan_loss"] = float(loss_g.detach())
            if g.diffusion_loss:
                i = c.step_randint(step, "diffusion-step", c.schedule.steps)
                s_i = float(c.schedule.sigmas()[i])
                x_t = add_noise(x0, c.noise(x0.shape[1:], step, "diffusion-noise"), s_i)
                x0_pred = predict_x0(model, x_t, s_i, first, text, traj, mask)
                loss_diff = L.x0_loss(x0_pred, x0)
                lam = L.diffusion_scale(step, g) if g.gan_loss else 1.0
                loss = loss + lam * loss_diff
                logs["diffusion_loss"], logs["lambda"] = float(loss_diff.detach()), lam
            logs["adapter_grad_norm"] = optimizer_step(opt_a, loss, ctx, cfg.optim.grad_clip)
        return logs

    run.loop(c.batches(run.start, cfg.steps), step_fn, stop_after)
    if stop_after is not None and stop_after < cfg.steps:
        return Path(out)
    disc_report = report_discriminator(run.log_path, run.name, ctx)
    return write_output(out, {"transformer": fast_t, "adapter": adapter, "vae": slow.vae, "text_encoder": slow.text_model},
                        slow.config, cfg, {**c.provenance({"generator": fast.hash()}), "discriminator": disc_report},
                        cfg.adapter,
                        notes=f"tiny reference FastAdapter ({cfg.adapter}) on the FastGenerator (stage 3)", ctx=ctx)


RUNNERS = {"stage0": train_stage0, "stage1": train_stage1, "stage2": train_stage2, "stage3": train_stage3}
