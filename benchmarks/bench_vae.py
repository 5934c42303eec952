"""VAE encode/decode time with PyTorch's default CPU conv3d versus the oneDNN route, side by side.

The same VAE (the tiny reference config, or ``--config``), the same 33-frame 128x224 input,
each path run ``--repeats`` times interleaved; the fastest run counts (the machine may be
shared). Prints both timings, their ratio, and the largest output difference.

    python benchmarks/bench_vae.py [--config tiny-reference] [--frames 33] [--size 128x224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import types

import torch
from torch import nn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny-reference")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--size", default="128x224")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from flashmotion.configs import get_config
    from flashmotion.vae import build_vae

    h, w = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    fast = build_vae(get_config(args.config)).eval()
    default = build_vae(get_config(args.config)).eval()
    default.load_state_dict(fast.state_dict())
    for m in default.modules():  # undo the oneDNN route: nn.Conv3d's own method
        if isinstance(m, nn.Conv3d):
            m._conv_forward = types.MethodType(nn.Conv3d._conv_forward, m)
    x = torch.rand(1, 3, args.frames, h, w) * 2 - 1
    best = {("default", "encode"): 1e9, ("default", "decode"): 1e9, ("onednn", "encode"): 1e9, ("onednn", "decode"): 1e9}
    outs = {}
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, vae in (("default", default), ("onednn", fast)):
                t = time.perf_counter()
                z = vae.encode(x).latent_dist.mode()
                best[name, "encode"] = min(best[name, "encode"], time.perf_counter() - t)
                t = time.perf_counter()
                y = vae.decode(z).sample
                best[name, "decode"] = min(best[name, "decode"], time.perf_counter() - t)
                outs[name] = (z, y)
    print(f"VAE {args.config}, {args.frames} frames at {h}x{w}, {torch.get_num_threads()} threads, best of {args.repeats}")
    for part in ("encode", "decode"):
        d, o = best["default", part], best["onednn", part]
        print(f"  {part}: default {d:.2f} s   oneDNN {o:.2f} s   ratio {d / o:.2f}x")
    dz = float((outs["default"][0] - outs["onednn"][0]).abs().max())
    dy = float((outs["default"][1] - outs["onednn"][1]).abs().max())
    print(f"  max |difference|: latent {dz:.2e}, frames {dy:.2e}")


if __name__ == "__main__":
    main()
