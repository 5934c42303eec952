"""Denoising latency of the 50-step CFG sampler versus the 4-step sampler, adapter overhead, memory.

One run, one small config of the real classes, the same inputs for every measurement:

Each sampler runs ``--repeats`` times, interleaved, and the fastest run counts (the machine
may be shared).

* denoising latency, i.e. the loop alone (network calls + scheduler updates), of
  ``denoise_multistep`` (50 steps, CFG 5: 100 network calls) and ``denoise_fewstep``
  (``[1000, 750, 500, 250]``: 4 calls) for each adapter, and their ratio (target >= 25x); the
  per-video ``prepare`` before the loop (ResNet conv features, noise draws, casts) is timed
  and printed apart, and the ratio with it included is printed too. Text encoding and the
  VAE are not part of this script (random latents and embeddings stand in for them);
* adapter overhead: the share of one backbone+adapter call spent in the adapter (the ResNet's
  conv features are computed once per video, in ``prepare``, and only its projections run per
  step; the features' cost is shown against a 4-step chain's network time);
* peak memory of each sampler, in a separate run: CPU RSS growth over the run (polled every
  2 ms) and, on CUDA, ``max_memory_allocated``.

    python benchmarks/bench_sampler.py [--config small|tiny] [--frames 17] [--size 256x256] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from dataclasses import replace

import torch


def small_config():
    """The tiny config widened so the network, not Python, dominates a step (same classes)."""
    from flashmotion.configs import TINY

    t = replace(TINY.transformer, num_attention_heads=4, attention_head_dim=24, ffn_dim=384, num_layers=4, text_dim=64)
    return replace(TINY, name="small", transformer=t, adapter=replace(TINY.adapter, resnet_channels=16))


class PeakRSS:
    """Peak resident set size growth (bytes) while the context is open, polled in a thread."""

    def __init__(self, interval: float = 0.002):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.base)
            time.sleep(self.interval)

    def __enter__(self):
        self.base = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self.base)


def timed(fn, device: torch.device) -> float:
    """Seconds of one call (no monitor thread: it would compete with the compute threads)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_memory(fn, device: torch.device) -> tuple[int, int | None]:
    """(peak CPU RSS growth, CUDA max allocated) of one call, in a run of its own."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return mem.peak, (torch.cuda.max_memory_allocated() if device.type == "cuda" else None)


def main() -> None:
    from flashmotion.adapters import build_adapter
    from flashmotion.configs import get_config
    from flashmotion.model import FlashMotionModel, build_transformer, count_parameters
    from flashmotion.samplers import Conditions, denoise_fewstep, denoise_multistep, prepare, token_timesteps
    from flashmotion.schedules import DEFAULT_FEW_STEP
    from flashmotion.vae import latent_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="small", help="small (default) or a flashmotion config name (tiny)")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--calls", type=int, default=10, help="network calls timed for the adapter overhead (fastest kept)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each sampler (fastest kept)")
    args = ap.parse_args()

    cfg = small_config() if args.config == "small" else get_config(args.config)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    h, w = (int(v) for v in args.size.lower().split("x"))
    shape = (1, 48, latent_frames(args.frames), h // 16, w // 16)
    g = torch.Generator().manual_seed(0)
    first = torch.randn(1, 48, 1, shape[3], shape[4], generator=g).to(device)
    traj = torch.randn(shape, generator=g).to(device)
    text = torch.randn(1, cfg.text.max_length, cfg.transformer.text_dim, generator=g).to(device)
    neg = torch.randn(1, cfg.text.max_length, cfg.transformer.text_dim, generator=g).to(device)
    cond = Conditions(first_latent=first, text=text, traj_latent=traj, negative_text=neg)

    torch.manual_seed(0)
    backbone = build_transformer(cfg).eval().requires_grad_(False).to(device)
    if dtype != torch.float32:
        backbone.to(dtype)
    tokens = shape[2] * (shape[3] // 2) * (shape[4] // 2)
    print(f"config {cfg.name}: {len(backbone.blocks)} blocks, dim {cfg.transformer.inner_dim}, backbone "
          f"{count_parameters(backbone) / 1e6:.2f}M params; video {args.frames}x{h}x{w} -> latent {tuple(shape[2:])}, "
          f"{tokens} tokens; device {device}, {args.dtype}, {torch.get_num_threads()} threads")

    # Adapter overhead per network call (same inputs, same backbone).
    x = torch.randn(shape, generator=g).to(device, dtype)
    ts = token_timesteps(500.0, backbone.token_grid(shape), device)
    base_model = FlashMotionModel(backbone, None)

    def per_call(model):
        """Fastest of ``--calls`` calls of the backbone alone and with ``model``'s adapter, interleaved
        (the minimum is the least disturbed by other load on the machine). A state-free adapter's
        per-video features are computed once, outside the timed step, as the samplers do; their
        cost is returned separately."""
        with torch.no_grad():
            feats = model.static_features(traj.to(dtype))
            t_feat = min(timed(lambda: model.static_features(traj.to(dtype)), device) for _ in range(3)) if feats else 0.0
            call = lambda m: timed(lambda: m(x, ts, text.to(dtype), traj.to(dtype), features=feats), device)  # noqa: E731
            call(base_model), call(model)  # warm-up
            pairs = [(call(base_model), call(model)) for _ in range(args.calls)]
        return min(p[0] for p in pairs), min(p[1] for p in pairs), t_feat

    rows, t_base = [], float("inf")
    for kind in ("controlnet", "resnet"):
        adapter = build_adapter(kind, cfg, backbone).to(device, dtype).eval().requires_grad_(False)
        for p in adapter.proj.parameters():  # non-zero outputs: nothing can be skipped
            torch.nn.init.normal_(p, std=1e-3)
        model = FlashMotionModel(backbone, adapter)
        t_b, t_with, t_feat = per_call(model)
        t_base = min(t_base, t_b)

        def prep_slow():
            return prepare(model, cond, shape, torch.Generator().manual_seed(1), 1, dtype)

        def prep_fast():
            return prepare(model, cond, shape, torch.Generator().manual_seed(1), DEFAULT_FEW_STEP.steps, dtype)

        with torch.no_grad():
            p_slow, p_fast = prep_slow(), prep_fast()
            run_slow = lambda: denoise_multistep(model, p_slow, 50, 5.0, 5.0)  # noqa: E731
            run_fast = lambda: denoise_fewstep(model, p_fast, DEFAULT_FEW_STEP)  # noqa: E731
            run_fast()  # warm-up
            slow, fast, pre_slow, pre_fast = [], [], [], []
            for _ in range(args.repeats):  # interleaved, so a change of machine load hits both
                pre_slow.append(timed(prep_slow, device))
                slow.append(timed(run_slow, device))
                pre_fast.append(timed(prep_fast, device))
                fast.append(timed(run_fast, device))
            t_slow, t_fast, t_pre_slow, t_pre_fast = min(slow), min(fast), min(pre_slow), min(pre_fast)
            rss_slow, cuda_slow = peak_memory(run_slow, device)
            rss_fast, cuda_fast = peak_memory(run_fast, device)
        rows.append((kind, count_parameters(adapter), t_with, t_feat, t_slow, t_fast, t_pre_slow, t_pre_fast,
                     rss_slow, rss_fast, cuda_slow, cuda_fast))

    mib = 1 / 2**20
    print(f"\nbackbone-only network call: {t_base * 1e3:.1f} ms")
    print("timed: the denoising loop only (network calls + scheduler updates); per-video work before it "
          "(adapter features, noise draws, casts) is shown apart; text encoding and VAE are not run here")
    for kind, n, t_with, t_feat, t_slow, t_fast, t_pre_slow, t_pre_fast, rss_slow, rss_fast, cuda_slow, cuda_fast in rows:
        share = max(t_with - t_base, 0.0) / t_with
        print(f"\n[{kind}] adapter {n / 1e6:.3f}M params")
        print(f"  network call with adapter: {t_with * 1e3:.1f} ms; adapter share of a step: {share:.1%}")
        if t_feat:  # the samplers compute the state-free conv features once per video
            print(f"  + once per video: conv features {t_feat * 1e3:.1f} ms "
                  f"(= {t_feat / (t_feat + 4 * t_with):.1%} of a 4-step chain's network time)")
        print(f"  50-step CFG loop (NFE 100): {t_slow:.3f} s   (+ per-video prepare {t_pre_slow * 1e3:.1f} ms)   "
              f"peak RSS +{rss_slow * mib:.1f} MiB"
              + (f", CUDA max allocated {cuda_slow * mib:.1f} MiB" if cuda_slow is not None else ""))
        print(f"  4-step loop      (NFE 4):   {t_fast:.3f} s   (+ per-video prepare {t_pre_fast * 1e3:.1f} ms)   "
              f"peak RSS +{rss_fast * mib:.1f} MiB"
              + (f", CUDA max allocated {cuda_fast * mib:.1f} MiB" if cuda_fast is not None else ""))
        print(f"  denoising latency ratio 50-step CFG / 4-step: {t_slow / t_fast:.1f}x (target >= 25x; NFE ratio 25)")
        print(f"  with the per-video prepare included:          "
              f"{(t_slow + t_pre_slow) / (t_fast + t_pre_fast):.1f}x")


if __name__ == "__main__":
    main()
