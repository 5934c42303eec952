"""One video from a first frame, rendered trajectory maps and a prompt.

:class:`FlashMotionPipeline` owns the components (model = backbone + adapter, VAE codec,
text encoder) and one :class:`SamplerSpec`; :meth:`FlashMotionPipeline.generate_video` works at
the pixel size it is given (multiples of 32, frame count 1 mod 4) and returns uint8 frames and
the denoising-loop time (the per-video stages around the loop are timed apart, in
``last_timings``). Request-level concerns (sizes, frame counts) live in
:mod:`flashmotion.generators`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .model import FlashMotionModel
from .modes import eval_mode
from .samplers import Conditions, denoise_fewstep, denoise_multistep, prepare
from .schedules import DEFAULT_FEW_STEP, FewStepSchedule
from .text import TextEncoder
from .vae import VideoCodec, latent_frames


@dataclass(frozen=True)
class SamplerSpec:
    """``multistep`` (Euler, CFG) or ``fewstep`` (x0 chain over one explicit schedule)."""

    kind: str = "fewstep"
    steps: int = 50  # multistep only
    shift: float = 5.0  # multistep only (the few-step shift lives in the schedule)
    guidance_scale: float = 5.0  # multistep only; 1.0 turns CFG off
    negative_prompt: str = ""
    schedule: FewStepSchedule = field(default_factory=lambda: DEFAULT_FEW_STEP)

    def __post_init__(self) -> None:
        if self.kind not in ("multistep", "fewstep"):
            raise ValueError(f"sampler kind must be 'multistep' or 'fewstep', got {self.kind!r}")

    @property
    def num_steps(self) -> int:
        return self.schedule.steps if self.kind == "fewstep" else self.steps

    @property
    def cfg_branches(self) -> int:
        return 2 if self.kind == "multistep" and self.guidance_scale != 1.0 else 1

    @property
    def nfe(self) -> int:
        return self.num_steps * self.cfg_branches

    def describe(self) -> dict:
        if self.kind == "fewstep":
            return {"sampler": "fewstep", "timesteps": list(self.schedule.timesteps), "shift": self.schedule.shift,
                    "sigmas": [round(float(s), 6) for s in self.schedule.sigmas()]}
        return {"sampler": "multistep-euler", "steps": self.steps, "shift": self.shift, "guidance_scale": self.guidance_scale}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class FlashMotionPipeline:
    def __init__(
        self,
        model: FlashMotionModel,
        codec: VideoCodec,
        text: TextEncoder,
        sampler: SamplerSpec,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        offload: bool = False,
    ):
        self.model = model  # used as given: a trainer may pass its trainable model for previews
        self.codec, self.text, self.sampler = codec, text, sampler
        self.device, self.dtype, self.offload = torch.device(device), dtype, offload
        self.last_timings: dict[str, float] = {}  # seconds per stage of the last video
        home = torch.device("cpu") if offload else self.device
        for m in (self.model, self.codec.vae, self.text.model):
            m.to(home)

    @contextmanager
    def _on_device(self, module: nn.Module):
        """With ``offload``, a component visits the accelerator only while it is used."""
        if self.offload:
            module.to(self.device)
        try:
            yield module
        finally:
            if self.offload:
                module.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def generate_video(self, first_frame: np.ndarray, maps: np.ndarray, prompt: str, seed: int) -> tuple[np.ndarray, float]:
        """uint8 first frame (H, W, 3) and maps (T, H, W, 3) -> uint8 video (T, H, W, 3), seconds.

        ``T`` must be 1 mod 4 and ``H, W`` multiples of 32 (the maps give the frame count, so
        they are required; ``strength=0`` turns the adapter off). The seconds are the denoising
        loop alone (network calls and scheduler updates); the per-video work around it is in
        :attr:`last_timings` (``text``, ``vae_encode``, ``prepare`` = adapter features and noise
        draws, ``denoise``, ``vae_decode``).
        """
        if maps is None or maps.ndim != 4 or (maps.shape[0] - 1) % 4:
            got = None if maps is None else maps.shape
            raise ValueError(f"the trajectory maps must be (T, H, W, 3) with T = 1 mod 4, got {got}")
        t_count = maps.shape[0]
        h, w = first_frame.shape[:2]
        if h % 32 or w % 32 or maps.shape[1:3] != (h, w):
            raise ValueError(f"first frame {first_frame.shape} and maps {maps.shape} must share a size that is a multiple of 32")

        timings: dict[str, float] = {}
        clock = _Clock(self.device, timings)
        with self._on_device(self.codec.vae), clock("vae_encode"):
            first_latent = self.codec.encode(first_frame[None])
            traj_latent = self.codec.encode(maps) if self.model.adapter is not None else None
        with self._on_device(self.text.model), clock("text"):
            prompts = [prompt] + ([self.sampler.negative_prompt] if self.sampler.cfg_branches == 2 else [])
            emb = self.text.encode(prompts)
        cond = Conditions(
            first_latent=first_latent.to(self.device),
            text=emb[:1].to(self.device),
            traj_latent=traj_latent.to(self.device) if traj_latent is not None else None,
            negative_text=emb[1:2].to(self.device) if emb.shape[0] > 1 else None,
        )
        shape = (1, first_latent.shape[1], latent_frames(t_count), first_latent.shape[3], first_latent.shape[4])
        generator = torch.Generator("cpu").manual_seed(int(seed))
        fewstep = self.sampler.kind == "fewstep"
        with self._on_device(self.model), eval_mode(self.model):
            with clock("prepare"):
                draws = self.sampler.schedule.steps if fewstep else 1
                prep = prepare(self.model, cond, shape, generator, draws, self.dtype)
            with clock("denoise"):
                if fewstep:
                    latents = denoise_fewstep(self.model, prep, self.sampler.schedule)
                else:
                    latents = denoise_multistep(self.model, prep, self.sampler.steps, self.sampler.shift,
                                                self.sampler.guidance_scale)
        with self._on_device(self.codec.vae), clock("vae_decode"):
            frames = self.codec.decode(latents)
        self.last_timings = timings
        return frames, timings["denoise"]


class _Clock:
    """``with clock(name):`` records the seconds of the block into ``timings[name]`` (synchronised on CUDA)."""

    def __init__(self, device: torch.device, timings: dict[str, float]):
        self.device, self.timings = device, timings

    @contextmanager
    def __call__(self, name: str):
        _sync(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.timings[name] = time.perf_counter() - start
