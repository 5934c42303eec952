"""ControlNet initialisation from the backbone: random-then-copy versus meta-then-fill.

Builds one backbone, then the ControlNet adapter two ways, each in its own process (fastest
of ``--repeats`` builds kept: the machine may be shared; the RSS growth of the first build,
on fresh pages), and prints time and peak CPU RSS growth side by side:

* ``random+copy``: ``ControlNetAdapter(cfg).init_from_backbone(backbone)`` (every weight is
  randomly initialised first, then overwritten);
* ``meta+fill``: ``build_adapter("controlnet", cfg, backbone)`` (built on the meta device,
  given memory once, filled from the backbone).

Both hold one adapter-sized copy at their peak (the copy is in place); the difference is the
random initialisation that meta+fill skips (for the real 5.28B-parameter adapter, minutes of
CPU time).

    python benchmarks/bench_adapter_init.py [--layers 8] [--dim 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from dataclasses import replace

import torch
from bench_sampler import PeakRSS  # the project's RSS monitor (same folder)

from flashbench.metrics.extractors import module_sha256
from flashmotion.adapters import ControlNetAdapter, build_adapter
from flashmotion.configs import TINY
from flashmotion.model import build_transformer, count_parameters


def _config(layers: int, dim: int):
    heads = max(1, dim // 64)
    t = replace(TINY.transformer, num_attention_heads=heads, attention_head_dim=dim // heads,
                ffn_dim=4 * dim, num_layers=layers, text_dim=64)
    return replace(TINY, name="bench", transformer=t)


def _ways(cfg, backbone):
    return {
        "random+copy": lambda: ControlNetAdapter(cfg).init_from_backbone(backbone),
        "meta+fill": lambda: build_adapter("controlnet", cfg, backbone),
    }


def measure(way: str, layers: int, dim: int, repeats: int) -> dict:
    """In this (fresh) process: fastest build time, then the RSS growth of one more build."""
    torch.set_num_threads(1)
    cfg = _config(layers, dim)
    torch.manual_seed(0)
    backbone = build_transformer(cfg)
    make = _ways(cfg, backbone)[way]
    with PeakRSS() as mem:  # first build: fresh pages, so the growth is the build's own
        adapter = make()
    digest = module_sha256(adapter)
    n = count_parameters(adapter)
    del adapter
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        make()
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "peak": mem.peak, "sha256": digest, "params": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--dim", type=int, default=512, help="inner dim (heads of 64)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help=argparse.SUPPRESS)  # child mode: one way, JSON on stdout
    args = ap.parse_args()
    if args.only:
        print(json.dumps(measure(args.only, args.layers, args.dim, args.repeats)))
        return
    res = {}
    for way in ("random+copy", "meta+fill"):  # one fresh process each: no reuse of freed pages
        out = subprocess.run([sys.executable, __file__, "--only", way, "--layers", str(args.layers), "--dim",
                              str(args.dim), "--repeats", str(args.repeats)], check=True, capture_output=True, text=True)
        res[way] = json.loads(out.stdout.strip().splitlines()[-1])
    n = res["meta+fill"]["params"]
    print(f"adapter: {n / 1e6:.1f}M parameters ({n * 4 / 2**20:.0f} MiB float32), {args.layers} blocks, dim {args.dim}")
    print(f"{'way':<12} {'seconds':>9} {'peak RSS growth':>16}")
    for way, r in res.items():
        print(f"{way:<12} {r['seconds']:>9.3f} {r['peak'] / 2**20:>12.0f} MiB")
    print(f"speed-up of meta+fill: {res['random+copy']['seconds'] / res['meta+fill']['seconds']:.1f}x; "
          f"weights identical: {res['random+copy']['sha256'] == res['meta+fill']['sha256']}")


if __name__ == "__main__":
    main()
