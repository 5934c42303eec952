"""The torchmetrics FID/FVD states synchronise under two-process gloo DDP on CPU.

Each rank updates with its half of the data; ``compute()`` on every rank must equal one
process that saw everything (states are float64 sums reduced by summation).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


class MeanColour(torch.nn.Module):
    """A tiny deterministic 'extractor': per-channel means and a few pooled statistics."""

    dim = 12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        dims = tuple(range(2, x.ndim))
        return torch.cat([x.mean(dims), x.std(dims), x.amax(dims), x.amin(dims)], dim=1)


class _Ext:
    def __init__(self):
        from flashbench.metrics import ExtractorInfo

        self.net = MeanColour()
        self.info = ExtractorInfo(name="mean-colour", sha256=None, official=False, dim=MeanColour.dim)

    def __call__(self, x):
        return self.net(x)


def _data():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 255, (8, 6, 24, 32, 3), dtype=np.uint8)
    fake = np.clip(real.astype(np.int16) + rng.integers(-40, 40, real.shape), 0, 255).astype(np.uint8)
    return real, fake


def _metrics():
    from flashbench.metrics import FID, FVD

    return FID(_Ext()), FVD(_Ext())


def _update(fid, fvd, real, fake):
    for r, f in zip(real, fake):
        fid.update(r, real=True)
        fid.update(f, real=False)
        fvd.update(r[None], real=True)
        fvd.update(f[None], real=False)


def _worker(rank: int, world: int, port: int, out: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        real, fake = _data()
        fid, fvd = _metrics()
        _update(fid, fvd, real[rank::world], fake[rank::world])
        # a file per rank, not a multiprocessing.Manager: the Manager's server process is forked
        # from this multi-threaded test process and can deadlock there
        (Path(out) / f"{rank}.json").write_text(json.dumps([float(fid.compute()), float(fvd.compute())]))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fid_fvd_states_sync_across_two_gloo_processes(tmp_path):
    pytest.importorskip("torchmetrics")
    real, fake = _data()
    fid, fvd = _metrics()
    _update(fid, fvd, real, fake)
    single = (float(fid.compute()), float(fvd.compute()))
    assert single[0] > 0 and single[1] > 0

    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    for rank in (0, 1):
        got = json.loads((tmp_path / f"{rank}.json").read_text())
        assert got[0] == pytest.approx(single[0], rel=1e-10)
        assert got[1] == pytest.approx(single[1], rel=1e-10)
