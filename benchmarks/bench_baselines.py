"""Seconds per training step of every baseline and of stage 3 at the tiny reference scale, and
the tiny-baselines recipe's projected wall time on this machine.

Parents are untrained (stage 0-2 run for zero steps: same shapes, same cost per step as the
trained ones); each run trains ``--steps`` steps on a small training set (the per-step cost does
not depend on the set's size) and is timed after its first step (the latent cache, model
loading and first-call warm-up excluded). The projection multiplies each config's step count by
the measured time per step of its kind (ablations: their stage 3 adapter's time). The timed
part includes reloading the parents and a checkpoint after every step (both small at this
scale), so the figures err high.

    python benchmarks/bench_baselines.py [--steps 4] [--videos 4] [--adapters resnet controlnet]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flashbench.distributed import DistContext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--adapters", nargs="+", default=["resnet", "controlnet"])
    args = ap.parse_args()

    from baselines.train import train_baseline
    from flashmotion.training.config import load_config
    from flashmotion.training.recipe import TINY_BASELINE_RUNS
    from flashmotion.training.stages import RUNNERS

    ctx = DistContext()
    tmp = Path(tempfile.mkdtemp(prefix="bench-baselines-"))
    data = {"data.videos": args.videos}
    zero = {"steps": 0, "phases": [], "checkpoint_every": 1, **data}
    s0 = RUNNERS["stage0"](load_config("tiny-stage0", {**zero, "vae.steps": 0}), tmp / "stage0", ctx, progress=False)
    s2 = RUNNERS["stage2"](load_config("tiny-stage2", {**zero, "parent": str(s0)}), tmp / "stage2", ctx, progress=False)

    per_step: dict[str, float] = {}
    for adapter in args.adapters:
        s1 = RUNNERS["stage1"](load_config(f"tiny-stage1-{adapter}", {**zero, "parent": str(s0)}), tmp / f"stage1-{adapter}",
                               ctx, progress=False)
        kinds = {f"stage3-{adapter}": (f"tiny-stage3-{adapter}", RUNNERS["stage3"])}
        kinds.update({f"baseline-{m}-{adapter}": (f"tiny-baseline-{m}-{adapter}", train_baseline) for m in ("dmd", "gan", "lcm")})
        for name, (config, runner) in kinds.items():
            ov = {"parent": str(s1), "generator": str(s2), "steps": args.steps, "checkpoint_every": 1,
                  "phases": [{"trajectory": "box", "steps": args.steps}], **data}
            out = tmp / name
            cfg = load_config(config, ov)
            runner(cfg, out, ctx, progress=False, stop_after=1)  # cache, warm-up; checkpoint at step 1
            t = time.perf_counter()
            runner(cfg, out, ctx, progress=False, resume=True)
            per_step[name] = (time.perf_counter() - t) / (args.steps - 1)
            print(f"{name:28s} {per_step[name]:7.2f} s/step", flush=True)

    total = 0.0
    print(f"\n{'run':34s} {'steps':>5s} {'projected min':>13s}")
    for run, config, _, _ in TINY_BASELINE_RUNS:
        cfg = load_config(config)
        kind = run if run in per_step else f"stage3-{cfg.adapter}"
        if kind not in per_step:
            continue
        minutes = cfg.steps * per_step[kind] / 60
        total += minutes
        print(f"{run:34s} {cfg.steps:5d} {minutes:13.1f}")
    print(f"{'total (baselines + ablations)':34s} {'':5s} {total:13.1f}")


if __name__ == "__main__":
    main()
