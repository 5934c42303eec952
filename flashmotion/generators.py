"""Registered FlashMotion generators (the ``flashmotion-*`` and ``wan-*-50step`` aliases).

=====================================  ==============  ==============  ===========
alias                                  generator       adapter         sampler
=====================================  ==============  ==============  ===========
flashmotion-controlnet / -resnet       FastGenerator   FastAdapter     4 steps
wan-controlnet-50step / -resnet-50step SlowGenerator   SlowAdapter     50 steps, CFG 5
flashmotion-*-slowadapter              FastGenerator   SlowAdapter     4 steps
=====================================  ==============  ==============  ===========

Every factory takes keyword options (strings from ``--model-arg key=value`` are parsed):
``config`` (``tiny`` | ``wan2.2-ti2v-5b``), ``init`` (``random`` for a randomly initialised
model), ``checkpoint`` (a FlashMotion checkpoint folder), ``device`` (``auto``/``cpu``/``cuda``),
``dtype`` (``auto``/``float32``/``bfloat16``/``float16``: backbone and adapter, the modules
diffusers keeps in float32 excepted; the VAE always runs in float32), ``steps``, ``timesteps`` (few-step
list such as ``1000,750,500,250``), ``shift``, ``guidance_scale``, ``negative_prompt``,
``strength`` (adapter residual scale), ``size`` (``request``/``native``/``HxW``), ``offload``,
``tiling``, ``compile``, ``seed`` (the random-init seed; sampling seeds come from requests).

Without options a factory loads the tiny reference checkpoint
``flashbench.paths.checkpoints_dir()/<alias>/`` (trained by the project's stage runners), else
the real weights from the cache; if neither is there it raises MissingWeightsError naming both.

Frames: the VAE needs ``T = 1 mod 4``. A request for ``N <= max_frames`` frames generates
``M = N + (1 - N) mod 4`` frames with the trajectory maps padded by repeating the last map,
and returns the first ``N``. A request for ``N > max_frames`` generates ``max_frames`` frames
on the trajectory resampled at ``round(linspace(0, N - 1, max_frames))`` and returns, for
each requested frame ``j``, the generated frame ``round(j (max_frames - 1) / (N - 1))``.
Sizes: the model works at the request size snapped to multiples of 32 (``size=request``,
nearest, ties down, at least 32) or at the native size (``size=native``); frames are resized
back to the request size (bicubic, antialias).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from flashbench.data.trajectory import Trajectory, render_maps, resample
from flashbench.errors import InputError, MissingWeightsError
from flashbench.generators.base import GeneratedVideo, GenerationRequest, GeneratorInfo
from flashbench.generators.builtin import resize_frames

from . import __version__
from .configs import ModelConfig, get_config

TRAJECTORY_TYPES = ("box", "mask", "sparse_box")

# alias -> (adapter kind, generator speed, adapter stage)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "flashmotion-controlnet": ("controlnet", "fast", "fast"),
    "flashmotion-resnet": ("resnet", "fast", "fast"),
    "wan-controlnet-50step": ("controlnet", "slow", "slow"),
    "wan-resnet-50step": ("resnet", "slow", "slow"),
    "flashmotion-controlnet-slowadapter": ("controlnet", "fast", "slow"),
    "flashmotion-resnet-slowadapter": ("resnet", "fast", "slow"),
}


# ---------------------------------------------------------------- option parsing

def _bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise InputError(f"option {name}={v!r}: expected true/false")


def _num(name: str, v: Any, kind: Callable = float):
    try:
        return kind(v)
    except (TypeError, ValueError):
        raise InputError(f"option {name}={v!r}: expected a number") from None


def _device(v: str) -> torch.device:
    if v in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(v)
    except RuntimeError:
        raise InputError(f"option device={v!r}: expected auto, cpu, cuda or cuda:N") from None


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def _dtype(v: str, device: torch.device) -> torch.dtype:
    if v in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(v, torch.dtype):
        return v
    try:
        return _DTYPES[str(v)]
    except KeyError:
        raise InputError(f"option dtype={v!r}: expected auto, {', '.join(_DTYPES)}") from None


def snap(x: int, multiple: int = 32) -> int:
    """Nearest multiple of ``multiple`` (ties toward the smaller), at least ``multiple``."""
    return max(multiple, multiple * ((int(x) + multiple // 2 - 1) // multiple))


def _work_size(size: str, cfg: ModelConfig, h: int, w: int) -> tuple[int, int]:
    m = cfg.spatial_factor
    if size == "request":
        return snap(h, m), snap(w, m)
    if size == "native":
        return cfg.sampling.native_size
    try:
        hh, ww = (int(p) for p in str(size).lower().split("x"))
    except ValueError:
        raise InputError(f"option size={size!r}: expected request, native or HxW") from None
    if hh % m or ww % m or hh <= 0 or ww <= 0:
        raise InputError(f"option size={size!r}: height and width must be positive multiples of {m}")
    return hh, ww


# ---------------------------------------------------------------- request handling

def scale_trajectory(traj: Trajectory, height: int, width: int) -> Trajectory:
    """The condition at another pixel size (masks nearest-neighbour, boxes scaled)."""
    h0, w0 = traj.size
    if (h0, w0) == (height, width):
        return traj

    def masks(m: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(m)).float()
        flat = t.reshape(-1, 1, h0, w0)
        out = torch.nn.functional.interpolate(flat, size=(height, width), mode="nearest")
        return out.reshape(*m.shape[:-2], height, width).numpy() > 0.5

    scale = np.array([width / w0, height / h0, width / w0, height / h0])
    return Trajectory(
        type=traj.type, first_masks=masks(traj.first_masks), boxes=traj.boxes * scale, visible=traj.visible,
        masks=masks(traj.masks) if traj.masks is not None else None, frame_indices=traj.frame_indices,
    )


def frame_plan(n: int, max_frames: int | None) -> tuple[int, np.ndarray | None, np.ndarray]:
    """(frames to generate M, trajectory indices to resample or None, output indices into M)."""
    from .vae import valid_frame_count

    if max_frames is None or n <= max_frames:
        return valid_frame_count(n), None, np.arange(n)
    if (max_frames - 1) % 4:
        raise ValueError(f"max_frames must be 1 mod 4, got {max_frames}")
    src = np.round(np.linspace(0, n - 1, max_frames)).astype(np.int64)
    out = np.round(np.arange(n) * (max_frames - 1) / max(n - 1, 1)).astype(np.int64)
    return max_frames, src, out


class FlashMotionGenerator:
    """The generator protocol around a :class:`~flashmotion.pipeline.FlashMotionPipeline`."""

    def __init__(self, info: GeneratorInfo, pipeline, config: ModelConfig, size: str = "request"):
        self.info, self.pipeline, self.config, self.size = info, pipeline, config, size

    def _check(self, req: GenerationRequest) -> None:
        if req.trajectory.type not in self.info.trajectory_types:
            raise InputError(f"{self.info.name} does not take {req.trajectory.type!r} trajectories")
        if req.first_frame.dtype != np.uint8 or req.first_frame.shape != (req.height, req.width, 3):
            raise InputError(f"request {req.video_id}: first frame must be uint8 ({req.height}, {req.width}, 3), "
                             f"got {req.first_frame.dtype} {req.first_frame.shape}")
        if req.trajectory.num_frames != req.num_frames:
            raise InputError(f"request {req.video_id}: trajectory has {req.trajectory.num_frames} frames, "
                             f"request asks for {req.num_frames}")

    def generate_one(self, req: GenerationRequest) -> GeneratedVideo:
        self._check(req)
        h, w = _work_size(self.size, self.config, req.height, req.width)
        m, src, out_idx = frame_plan(req.num_frames, self.info.max_frames)
        traj = resample(req.trajectory, src) if src is not None else req.trajectory
        maps = render_maps(scale_trajectory(traj, h, w), req.map_style)
        if maps.shape[0] < m:  # pad to a valid VAE length by holding the last map
            maps = np.concatenate([maps, np.repeat(maps[-1:], m - maps.shape[0], axis=0)])
        first = resize_frames(req.first_frame[None], h, w)[0]
        frames, seconds = self.pipeline.generate_video(first, maps, req.prompt, req.seed)
        frames = resize_frames(frames[out_idx], req.height, req.width)
        return GeneratedVideo(frames=np.ascontiguousarray(frames), denoise_seconds=seconds)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedVideo]:
        # One video at a time: the numbers of a video never depend on its batch.
        return [self.generate_one(r) for r in requests]


# ---------------------------------------------------------------- construction

def _sampler(speed: str, cfg: ModelConfig, steps, timesteps, shift, guidance_scale, negative_prompt):
    from .pipeline import SamplerSpec
    from .schedules import FewStepSchedule

    s = cfg.sampling
    if speed == "fast":
        fshift = _num("shift", shift) if shift is not None else s.fast_shift
        if timesteps is not None:
            schedule = FewStepSchedule.parse(str(timesteps), fshift) if isinstance(timesteps, str) else FewStepSchedule(tuple(timesteps), fshift)
        elif steps is not None:
            n = _num("steps", steps, int)
            schedule = FewStepSchedule(tuple(float(t) for t in np.linspace(1000, 0, n + 1)[:-1]), fshift)
        else:
            schedule = replace(s.few_step_schedule(), shift=fshift)
        return SamplerSpec(kind="fewstep", schedule=schedule)
    return SamplerSpec(
        kind="multistep", steps=_num("steps", steps, int) if steps is not None else s.slow_steps,
        shift=_num("shift", shift) if shift is not None else s.slow_shift,
        guidance_scale=_num("guidance_scale", guidance_scale) if guidance_scale is not None else s.guidance_scale,
        negative_prompt=s.negative_prompt if negative_prompt is None else str(negative_prompt),
    )


REFERENCE_DIR = Path(__file__).parent / "reference"  # tiny reference checkpoints shipped in the package


def reference_checkpoint(alias: str) -> Path | None:
    """The tiny reference checkpoint of ``alias``: one the user trained into the checkpoint cache
    (``flashbench train recipe tiny-reference``) wins over the one shipped in the package."""
    from flashbench.paths import checkpoints_dir

    for folder in (checkpoints_dir() / alias, REFERENCE_DIR / alias):
        if (folder / "flashmotion.json").is_file():
            return folder
    return None


def _default_components(alias: str, kind: str, speed: str, stage: str, config: str | None):
    """Reference checkpoint if present, else real weights, else one error naming both fixes."""
    from flashbench.paths import checkpoints_dir

    from .assemble import checkpoint_components, real_components

    ref = reference_checkpoint(alias)
    if config in (None, "tiny-reference") and ref is not None:
        return checkpoint_components(ref, kind, speed)
    cfg = get_config(config or "wan2.2-ti2v-5b")
    if cfg.name == "wan2.2-ti2v-5b":
        try:
            return real_components(cfg, kind, speed, stage)
        except MissingWeightsError as exc:
            real_error = str(exc)
    else:
        real_error = "a tiny config has no official weights"
    if ref is None:
        tiny = (f"no tiny reference checkpoint (neither {checkpoints_dir() / alias} nor the packaged {REFERENCE_DIR / alias}; "
                f"`flashbench train recipe tiny-reference` writes them)")
    else:
        tiny = f"the tiny reference checkpoint {ref} is used without a config option or with config=tiny-reference"
    raise MissingWeightsError(
        f"no weights for {alias} with config={cfg.name}: {tiny}, and the real weights are not usable ({real_error}). "
        f"For a plumbing run without weights pass --model-arg init=random (optionally config=tiny)."
    )


def load(alias: str, *, config: str | None = None, init: str | None = None, checkpoint: str | None = None,
         device: str = "auto", dtype: str = "auto", steps=None, timesteps=None, shift=None, guidance_scale=None,
         negative_prompt: str | None = None, strength=1.0, size: str = "request", max_frames=None,
         offload=False, tiling=False, compile=False, seed=0) -> FlashMotionGenerator:
    """Build the generator registered as ``alias`` (see the module docstring for the options)."""
    from .assemble import checkpoint_components, random_components
    from .model import FlashMotionModel, count_parameters
    from .pipeline import FlashMotionPipeline
    from .precision import cast
    from .text import TextEncoder
    from .vae import VideoCodec

    kind, speed, stage = VARIANTS[alias]
    if init not in (None, "checkpoint", "random"):
        raise InputError(f"option init={init!r}: expected random or checkpoint")
    if init == "random" and checkpoint is not None:
        raise InputError("options init=random and checkpoint=... exclude each other")
    dev = _device(device)
    dt = _dtype(dtype, dev)
    if init == "random":
        comps = random_components(get_config(config or "tiny"), kind, _num("seed", seed, int))
    elif checkpoint is not None:
        comps = checkpoint_components(checkpoint, kind, speed)
        if config is not None and get_config(config).name != comps.config.name:
            raise InputError(f"checkpoint {checkpoint} is a {comps.config.name} model, not {config}")
    else:
        comps = _default_components(alias, kind, speed, stage, config)
    cfg = comps.config
    sampler = _sampler(speed, cfg, steps, timesteps, shift, guidance_scale, negative_prompt)
    # The modules diffusers keeps float32 (time embedder, modulation tables, norms) stay float32.
    model = cast(FlashMotionModel(comps.transformer, comps.adapter, strength=_num("strength", strength)), dt)
    if _bool("compile", compile):
        for block in list(model.transformer.blocks) + list(getattr(model.adapter, "blocks", [])):
            block.compile()
    codec = VideoCodec(_cast(comps.vae, torch.float32), tiling=_bool("tiling", tiling))  # as Wan runs it, on any device
    text_dtype = torch.float32 if dt == torch.float16 else dt  # T5 overflows in float16
    text = TextEncoder(comps.tokenizer, _cast(comps.text_model, text_dtype), cfg.text.max_length)
    pipeline = FlashMotionPipeline(model, codec, text, sampler, device=dev, dtype=dt, offload=_bool("offload", offload))
    mf = cfg.sampling.max_frames if max_frames is None else _num("max_frames", max_frames, int)
    params = count_parameters(comps.transformer) + count_parameters(comps.adapter)
    info = GeneratorInfo(
        name=alias, version=f"{__version__}+{cfg.name}", parameters=params, native_size=tuple(cfg.sampling.native_size),
        max_frames=mf, trajectory_types=TRAJECTORY_TYPES, nfe=sampler.nfe, checkpoint_sha256=comps.sha256,
        dtype=str(dt).replace("torch.", ""), reference=comps.reference, notes=comps.notes,
        extra={"config": cfg.name, "adapter": kind if comps.adapter is not None else "none", "generator": speed,
               "adapter_stage": stage if comps.adapter is not None else "none",
               "strength": model.strength, "size": size, "sources": comps.sources, **sampler.describe()},
    )
    return FlashMotionGenerator(info, pipeline, cfg, size=size)


def _cast(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast only when needed (diffusers warns on every ``to(dtype)`` of a VAE)."""
    if any(p.dtype != dtype for p in module.parameters()):
        module.to(dtype)
    return module


def describe_variant(alias: str, config: str = "wan2.2-ti2v-5b") -> GeneratorInfo:
    """GeneratorInfo of the real config without loading weights (parameters counted on the meta device)."""
    from .adapters import build_adapter
    from .model import build_transformer, count_parameters

    kind, speed, stage = VARIANTS[alias]
    cfg = get_config(config)
    with torch.device("meta"):
        params = count_parameters(build_transformer(cfg)) + count_parameters(build_adapter(kind, cfg))
    sampler = _sampler(speed, cfg, None, None, None, None, None)
    return GeneratorInfo(
        name=alias, version=f"{__version__}+{cfg.name}", parameters=params, native_size=tuple(cfg.sampling.native_size),
        max_frames=cfg.sampling.max_frames, trajectory_types=TRAJECTORY_TYPES, nfe=sampler.nfe, dtype="bfloat16",
        notes="described without loading weights", extra={"adapter": kind, "generator": speed, "adapter_stage": stage,
                                                          **sampler.describe()},
    )


def _factory(alias: str):
    def factory(**options: Any) -> FlashMotionGenerator:
        import inspect

        known = [p for p in inspect.signature(load).parameters if p != "alias"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"{alias}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return load(alias, **options)

    factory.__name__ = alias.replace("-", "_")
    factory.__doc__ = f"The ``{alias}`` generator; options as in :func:`flashmotion.generators.load`."
    factory.describe = lambda config="wan2.2-ti2v-5b": describe_variant(alias, config)  # type: ignore[attr-defined]
    return factory


flashmotion_controlnet = _factory("flashmotion-controlnet")
flashmotion_resnet = _factory("flashmotion-resnet")
wan_controlnet_50step = _factory("wan-controlnet-50step")
wan_resnet_50step = _factory("wan-resnet-50step")
flashmotion_controlnet_slowadapter = _factory("flashmotion-controlnet-slowadapter")
flashmotion_resnet_slowadapter = _factory("flashmotion-resnet-slowadapter")
