"""The runner every stage shares: resume, the step loop, gradient averaging, EMA, logs, plots.

A stage supplies the tracked modules and optimisers and a ``step(batch, step) -> losses``
function; :class:`Run` does the rest. Under ``torchrun`` each rank takes its share of every
global batch (:mod:`.data`) and the gradients of the trained parameters are averaged with
``all_reduce`` after the backward pass: the reduction DDP performs, done explicitly because a
step calls a trained module several times (rollout, losses) before one backward. With
``fsdp: true`` (real configs) the blocks are sharded with FSDP2 instead, which reduces the
gradients itself.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from flashbench.distributed import DistContext
from flashbench.errors import InputError

from . import state as st
from .config import StageConfig


@dataclass
class Tracked:
    """What a checkpoint holds: modules (weights), optimisers, EMA copies."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: dict[str, nn.Module] = field(default_factory=dict)  # name of tracked module -> EMA copy

    def all_modules(self) -> dict[str, nn.Module]:
        return {**self.modules, **{f"ema_{k}": v for k, v in self.ema.items()}}


def make_optimizer(params, lr: float, cfg) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise InputError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def average_gradients(params, ctx: DistContext) -> None:
    if not ctx.enabled:
        return
    import torch.distributed as dist

    from torch.distributed.tensor import DTensor

    for p in params:
        if isinstance(p, DTensor):
            continue  # FSDP-sharded: already reduce-scattered in the backward pass
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(ctx.world_size)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, ctx: DistContext, grad_clip: float | None,
                   lr: float | None = None) -> float:
    """Backward, average across ranks, clip, step; returns the gradient norm."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in opt.param_groups for p in g["params"]]
    average_gradients(params, ctx)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip else math.inf)
    if hasattr(norm, "full_tensor"):  # a DTensor under FSDP
        norm = norm.full_tensor()
    if lr is not None:
        for g in opt.param_groups:
            g["lr"] = lr
    opt.step()
    return float(norm)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)


def scheduled_lr(base: float, step: int, steps: int, warmup: int = 0, decay: str = "constant") -> float:
    """Linear warm-up over ``warmup`` steps, then constant or a cosine decay to zero at ``steps``."""
    lr = base * min(1.0, (step + 1) / warmup) if warmup else base
    if decay == "cosine" and step >= warmup:
        lr *= 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
    return lr


def _saved_config(saved: Mapping[str, Any]) -> Any:
    """A checkpoint's config with the defaults of keys added to the config classes since it was
    written (a new option at its default does not change a run, so the run still resumes)."""
    from .config import parse_config

    try:
        return json.loads(json.dumps(parse_config(saved.get("config")).to_dict()))
    except (InputError, TypeError):  # a key since removed, or no config: compared as written
        return saved.get("config")


class Run:
    """One training run in ``out``: resume, loop, checkpoints, ``losses.csv`` and ``losses.png``."""

    def __init__(self, cfg: StageConfig, out: Path, tracked: Tracked, ctx: DistContext, provenance: dict[str, Any],
                 resume: bool = False, progress: bool = True, name: str | None = None, total_steps: int | None = None):
        self.cfg, self.out, self.tracked, self.ctx = cfg, Path(out), tracked, ctx
        self.provenance = provenance
        self.progress = progress and ctx.is_main
        self.name = name or cfg.stage
        self.total = cfg.steps if total_steps is None else total_steps
        self.start = 0
        # held until this Run is dropped (the stage function returns): one writer per folder
        self._lock = st.lock_run(self.out) if ctx.is_main else None
        existing = st.latest(self.out)
        if existing is not None and not resume:
            raise InputError(f"{self.out} already holds a run (at {existing.name}); pass --resume to continue it or choose another --out")
        if existing is not None:
            saved = st.load_state(existing, tracked.all_modules(), tracked.optimizers)
            if _saved_config(saved) != json.loads(json.dumps(cfg.to_dict())):
                raise InputError(f"{self.out}: the run there was made with another config; --resume needs the same config")
            self.start = int(saved["step"])
        self.log_path = self.out / "losses.csv"
        if ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)

    def _log(self, rows: list[dict[str, Any]]) -> None:
        if not self.ctx.is_main or not rows:
            return
        fields = ["step"] + sorted({k for r in rows for k in r if k != "step"})
        new = not self.log_path.is_file()
        if not new:
            with open(self.log_path, newline="") as f:
                old_fields = next(csv.reader(f), [])
            if set(fields) - set(old_fields):  # a later phase logs new columns: rewrite with the union
                with open(self.log_path, newline="") as f:
                    old = list(csv.DictReader(f))
                fields = old_fields + [k for k in fields if k not in old_fields]
                rows = old + rows
                new = True
            else:
                fields = old_fields
        mode = "w" if new else "a"
        with open(self.log_path, mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerows(rows)

    def _trim_log(self) -> None:
        """A resumed run drops log rows past its checkpoint (they will be redone)."""
        if not self.ctx.is_main or not self.log_path.is_file():
            return
        with open(self.log_path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames, [r for r in reader if int(r["step"]) < self.start]
        with open(self.log_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def save(self, step: int) -> None:
        modules = self.tracked.all_modules()
        states = {k: st.module_state(m) for k, m in modules.items()}  # collective under FSDP
        optims = {k: st.optimizer_state(modules[k], o) for k, o in self.tracked.optimizers.items()}
        if self.ctx.is_main:
            st.save_state(self.out, step, states, optims, {"config": self.cfg.to_dict(), "provenance": self.provenance})
        self.ctx.barrier()

    def loop(self, batches, step_fn: Callable[[Any, int], Mapping[str, float]],
             stop_after: int | None = None) -> None:
        """Run ``step_fn`` for steps ``start..total-1``; ``stop_after`` (tests) simulates a kill."""
        self._trim_log()
        pending: list[dict[str, Any]] = []
        bar = _Progress(self.name, self.start, self.total) if self.progress else None
        step = self.start
        try:
            for step, batch in zip(range(self.start, self.total), batches):
                losses = step_fn(batch, step)
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(f"{self.name}: non-finite {', '.join(bad)} at step {step}")
                pending.append({"step": step, **{k: f"{v:.6g}" for k, v in losses.items()}})
                done = step + 1
                if done % self.cfg.log_every == 0 or done == self.total:
                    self._log(pending)
                    pending = []
                if done % self.cfg.checkpoint_every == 0 or done == self.total:
                    self._log(pending)
                    pending = []
                    self.save(done)
                if bar:
                    bar.advance(losses)
                if stop_after is not None and done >= stop_after:
                    return
        finally:
            if bar:
                bar.close()
        if self.ctx.is_main:
            plot_losses(self.log_path, self.out / "losses.png", self.name)


class _Progress:
    def __init__(self, name: str, start: int, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), transient=False)
        self.p.start()
        self.task = self.p.add_task(name, total=total, completed=start, losses="")
        self.t = time.perf_counter()

    def advance(self, losses: Mapping[str, float]) -> None:
        text = " ".join(f"{k}={v:.4g}" for k, v in list(losses.items())[:3])
        self.p.update(self.task, advance=1, losses=text)

    def close(self) -> None:
        self.p.stop()


def plot_losses(csv_path: Path, png_path: Path, title: str) -> None:
    """One panel per logged quantity, raw and smoothed."""
    if not csv_path.is_file():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from flashbench.utils.atomic import atomic_path

    df = pd.read_csv(csv_path)
    cols = [c for c in df.columns if c != "step"]
    if not cols or df.empty:
        return
    fig, axes = plt.subplots(len(cols), 1, figsize=(7, 2.2 * len(cols)), squeeze=False, sharex=True)
    for ax, c in zip(axes[:, 0], cols):
        s = df[["step", c]].dropna()
        ax.plot(s["step"], s[c], lw=0.6, alpha=0.4)
        ax.plot(s["step"], s[c].rolling(max(1, len(s) // 20), min_periods=1).mean(), lw=1.4)
        ax.set_ylabel(c, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


CHANCE_DISC_LOSS = 2.0 * math.log(2.0)  # softplus(-0) + softplus(0): D that cannot tell real from fake


def discriminator_summary(csv_path: Path, tail: float = 0.2, margin: float = 0.025) -> dict[str, Any] | None:
    """How the discriminator fared: its mean loss over the last ``tail`` of the logged steps
    against chance (``2 ln 2``). ``at_chance`` means the adversarial term gave the adapter no
    signal. None when the log has no ``disc_loss`` (no discriminator in the run)."""
    if not Path(csv_path).is_file():
        return None
    with open(csv_path, newline="") as f:
        losses = [float(r["disc_loss"]) for r in csv.DictReader(f) if r.get("disc_loss")]
    if not losses:
        return None
    last = losses[-max(1, round(len(losses) * tail)):]
    mean = sum(last) / len(last)
    return {"mean_loss_last_steps": round(mean, 4), "last_steps": len(last), "chance": round(CHANCE_DISC_LOSS, 4),
            "at_chance": mean > CHANCE_DISC_LOSS - margin}


def report_discriminator(csv_path: Path, name: str, ctx: DistContext) -> dict[str, Any] | None:
    """:func:`discriminator_summary`, with one warning line when the discriminator stayed at chance."""
    summary = discriminator_summary(csv_path)
    if summary and summary["at_chance"] and ctx.is_main:
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold yellow]warning:[/] {name}: the discriminator stayed at chance (mean loss "
            f"{summary['mean_loss_last_steps']:.3f} over the last {summary['last_steps']} steps; chance "
            f"{summary['chance']:.3f}), so the adversarial loss gave the adapter no signal; see docs/training.md "
            "(gan.disc_warmup, gan.timestep_shift)", highlight=False, soft_wrap=True)
    return summary
