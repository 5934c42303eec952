"""The FID extractor's memory layout on CPU: contiguous (NCHW) against channels-last, side by side.

Runs the proxy InceptionV3 (the official network's architecture and FLOPs) on the same batch
of 299x299 frames in both layouts, alternating, and prints the median time of each, their
ratio, and the largest feature difference relative to the largest feature (float32 rounding).

    python benchmarks/bench_inception_layout.py [--frames 32] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=32, help="frames per forward (one benchmark video's FID frames)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from flashbench.metrics.extractors import _inception_proxy

    net, _ = _inception_proxy("cpu")
    nchw = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    nhwc = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x = torch.rand(args.frames, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    inputs = {"contiguous": (nchw, x.contiguous()), "channels_last": (nhwc, x.contiguous(memory_format=torch.channels_last))}
    times: dict[str, list[float]] = {k: [] for k in inputs}
    out = {}
    with torch.no_grad():
        for model, inp in inputs.values():  # warm-up (oneDNN primitive creation)
            model(inp[:2])
        for _ in range(args.repeats):
            for name, (model, inp) in inputs.items():
                t = time.perf_counter()
                out[name] = model(inp)
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    diff = float((out["contiguous"] - out["channels_last"]).abs().max() / out["contiguous"].abs().max())
    print(f"threads {torch.get_num_threads()}, {args.frames} frames, {args.repeats} repeats (medians)")
    for k, v in med.items():
        print(f"  {k:>14}: {v:.3f} s ({args.frames / v:.1f} frames/s)")
    print(f"  speed-up of channels_last: {med['contiguous'] / med['channels_last']:.2f}x")
    print(f"  max |feature difference| / max |feature|: {diff:.2e}")


if __name__ == "__main__":
    main()
