"""``vae-roundtrip``: the real video through a FlashMotion model's VAE (encode, then decode).

Every FlashMotion generator decodes its latents with its VAE, so what the VAE loses no
generator on top of it can bring back: the scores of the real videos after one encode/decode
are the ceiling of every model that shares that VAE (FID/FVD floor, IoU ceiling). A model
whose scores sit at this ceiling is limited by its VAE, not by its generator or adapter.

Options: ``model`` (a registered FlashMotion generator whose VAE to use; default
``flashmotion-controlnet``) and the loading options of :func:`flashmotion.generators.load`
(``config``, ``init``, ``device``, ``size``, ``max_frames``...); or ``checkpoint=DIR``, any
FlashMotion checkpoint folder with a ``vae`` component (a stage-0 output included, which has no
adapter). The video is processed as the generator would: at its working size and frame count,
then resized back.
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import torch

from flashbench.data import video as video_io
from flashbench.data.video import resize_frames
from flashbench.errors import InputError
from flashbench.generators.base import GeneratedVideo, GenerationRequest


class VAERoundTripGenerator:
    def __init__(self, benchmark: str | None = None, model: str = "flashmotion-controlnet", **options: Any):
        from flashbench.data.benchmark import Benchmark

        from .generators import VARIANTS, load

        if benchmark is None:
            raise InputError("the vae-roundtrip generator needs the benchmark being evaluated")
        if model not in VARIANTS:
            raise InputError(f"option model={model!r}: expected a FlashMotion generator ({', '.join(VARIANTS)})")
        self._bench = Benchmark.open(benchmark)
        if options.get("checkpoint") is not None:
            self._from_checkpoint(Path(options.pop("checkpoint")), options)
            return
        gen = load(model, **options)
        self.codec, self.config, self.size, max_frames = gen.pipeline.codec, gen.config, gen.size, gen.info.max_frames
        base = gen.info
        self.info = replace(base, name="vae-roundtrip", nfe=0, notes=f"real videos through the VAE of {base.name} ({base.notes})",
                            extra={**base.extra, "vae_of": base.name})

    def _from_checkpoint(self, folder: Path, options: dict[str, Any]) -> None:
        from flashbench import __version__
        from flashbench.generators.base import GeneratorInfo

        from . import loading
        from .assemble import model_config_of
        from .generators import _device
        from .vae import VideoCodec, build_vae

        unknown = set(options) - {"device", "size"}
        if unknown:
            raise InputError(f"vae-roundtrip with checkpoint=...: unknown option {sorted(unknown)[0]!r} (known: device, size)")
        meta = loading.read_checkpoint_meta(folder)
        if "vae" not in meta["components"]:
            raise InputError(f"checkpoint {folder} has no vae component (has: {', '.join(meta['components'])})")
        self.config = model_config_of(meta)
        vae = loading.load_checkpoint_component(folder, "vae", build_vae(self.config)).eval()
        self.codec = VideoCodec(vae.to(_device(options.get("device", "auto"))))
        self.size = options.get("size", "request")
        s = self.config.sampling
        self.info = GeneratorInfo(name="vae-roundtrip", version=f"{__version__}+{self.config.name}", parameters=0,
                                  native_size=tuple(s.native_size), max_frames=s.max_frames,
                                  trajectory_types=("box", "mask", "sparse_box"), nfe=0,
                                  checkpoint_sha256=meta["components"]["vae"]["sha256"], reference=bool(meta.get("reference")),
                                  notes=f"real videos through the VAE of checkpoint {folder}",
                                  extra={"vae_of": str(folder), "config": self.config.name})

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedVideo]:
        from .generators import _work_size, frame_plan

        out = []
        codec = self.codec
        for req in requests:
            sample = self._bench.sample(req.video_id)
            h, w = _work_size(self.size, self.config, req.height, req.width)
            m, src, out_idx = frame_plan(req.num_frames, self.info.max_frames)
            idx = video_io.uniform_indices(sample.info.num_frames, req.num_frames)
            frames = resize_frames(sample.frames(idx), h, w)
            if src is not None:
                frames = frames[src]
            if frames.shape[0] < m:  # a valid VAE length, holding the last frame (as the maps are held)
                frames = np.concatenate([frames, np.repeat(frames[-1:], m - frames.shape[0], axis=0)])
            start = time.perf_counter()
            with torch.no_grad():
                rec = codec.decode(codec.encode(frames))
            seconds = time.perf_counter() - start
            rec = resize_frames(rec[out_idx], req.height, req.width)
            out.append(GeneratedVideo(frames=np.ascontiguousarray(rec), denoise_seconds=seconds))
        return out
