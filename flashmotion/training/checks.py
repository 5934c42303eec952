"""Checks of a base generator (a stage-0 output), and of the adapter of a stage-1 output on it.

A trajectory adapter can only steer a generator that keeps the scene, and no generator can
beat its VAE, so each is measured on training videos in normalised latent space:

* ``token_width`` against ``patch_values``: the flow target ``eps - x0`` carries the noise of
  every latent value of a patch, so a token narrower than its patch cannot pass the noise
  through and the flow loss has a floor however long it trains;
* ``x0_mse`` by noise level against ``zero_mse`` (the error of predicting the latent mean):
  a generator that cannot beat the mean at ``sigma = 1``, where it sees only the first frame
  and the prompt, has not learnt even the average scene;
* ``copy_mse``: the error of repeating the first latent frame; ``static_drift``: how far
  consecutive latent frames of a *still* video move apart. A VAE whose latents drift on a still
  video makes "keep the scene" a learnt function instead of a copy;
* ``held_out_x0_mse``: the same errors on scenes the generator never saw (FlashBench-Synth
  training scenes of another data seed). A generator far better on its training scenes than
  on new ones has memorised them, and the benchmark's scenes are new ones;
* with an adapter in the folder (a stage-1 output), ``adapter_x0_mse``: the clean-estimate
  errors again with the adapter reading the scenes' trajectories (box maps, the benchmark's, unless
  asked for mask maps; a diagnostic adapter trained with ``adapter_input: video`` reads the video's
  own latent, the upper bound of steering), over the whole latent and
  inside the objects' boxes (``object_*``, at sigma = 1: where the generator alone sees only
  the first frame, so cannot know where objects go). An adapter that steers lowers the error
  inside the boxes most; the whole-latent error also holds background and camera motion;
* ``map_signal``: what an adapter has to read. Inside the objects' boxes, how far a scene's
  rendered trajectory maps move the VAE latent away from an empty map's, relative to the
  variance of the video's own latents. A VAE that never saw a map keeps little of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import islice
from math import prod
from pathlib import Path

import numpy as np
import torch

from flashbench.errors import InputError

SIGMAS = (0.25, 0.5, 0.75, 1.0)
HELD_OUT_SEED_OFFSET = 1_000_003  # data seed of the held-out scenes: seed + this, never a training seed
MEMORISED_RATIO = 1.5  # held-out / training error at sigma = 1 above which the generator memorised
MAP_SIGNAL_MIN = 0.1  # below this the maps barely reach the latent (rule of thumb, see map_signal)
STEER_GAIN = 0.9  # an adapter that leaves more than this share of the error at sigma = 1 barely steers
ADAPTER_TRAJECTORY = "box"  # the benchmark's trajectory type, what the adapter reads by default


@dataclass(frozen=True)
class BaseGeneratorReport:
    checkpoint: str
    videos: int
    token_width: int
    patch_values: int
    zero_mse: float
    copy_mse: float
    x0_mse: dict[float, float]
    static_drift: list[float]
    held_out_zero_mse: float | None = None
    held_out_copy_mse: float | None = None
    held_out_x0_mse: dict[float, float] | None = None
    adapter: str | None = None
    adapter_reads: str | None = None  # box or mask maps, or "video" (a diagnostic adapter)
    adapter_x0_mse: dict[float, float] | None = None
    held_out_adapter_x0_mse: dict[float, float] | None = None
    object_x0_mse: float | None = None  # sigma = 1, inside the objects' boxes, generator alone
    adapter_object_x0_mse: float | None = None  # the same with the adapter
    held_out_object_x0_mse: float | None = None
    held_out_adapter_object_x0_mse: float | None = None
    map_signal: dict[str, float] | None = None  # per trajectory kind (box, mask), training scenes

    def to_dict(self) -> dict:
        return asdict(self)

    def findings(self) -> list[str]:
        """One line per problem found (empty when none)."""
        out = []
        if self.token_width < self.patch_values:
            out.append(f"the token width ({self.token_width}) is below the values per patch ({self.patch_values}): "
                       f"the flow prediction cannot carry the noise through; widen the transformer")
        if self.x0_mse[1.0] > self.zero_mse:
            out.append(f"at sigma = 1 the clean estimate's error ({self.x0_mse[1.0]:.3f}) is above the latent mean's "
                       f"({self.zero_mse:.3f}): the generator has not learnt the average scene")
        if self.copy_mse > self.zero_mse:
            out.append(f"repeating the first latent frame ({self.copy_mse:.3f}) is worse than the latent mean "
                       f"({self.zero_mse:.3f}): later latent frames do not resemble the first, even where the video is still")
        if self.held_out_x0_mse and self.held_out_x0_mse[1.0] > MEMORISED_RATIO * self.x0_mse[1.0]:
            out.append(f"on unseen scenes the clean-estimate error at sigma = 1 ({self.held_out_x0_mse[1.0]:.3f}) is "
                       f"{self.held_out_x0_mse[1.0] / self.x0_mse[1.0]:.1f}x its training scenes' ({self.x0_mse[1.0]:.3f}): "
                       f"the generator memorised its training videos; train on more (data.videos)")
        for kind, signal in (self.map_signal or {}).items():
            if signal < MAP_SIGNAL_MIN:
                out.append(f"inside the boxes, {kind} maps move the VAE latent by {signal:.3f} of the video latents' variance "
                           f"(below {MAP_SIGNAL_MIN}): the VAE barely encodes them, so no adapter can read where objects go; "
                           f"train the VAE on maps too (vae.map_share)")
        for name, alone, steered in (("training", self.object_x0_mse, self.adapter_object_x0_mse),
                                     ("unseen", self.held_out_object_x0_mse, self.held_out_adapter_object_x0_mse)):
            if alone is not None and steered is not None and steered > STEER_GAIN * alone:
                out.append(f"on {name} scenes the {self.adapter} adapter leaves {steered / alone:.0%} of the generator's "
                           f"clean-estimate error inside the objects' boxes at sigma = 1 ({steered:.3f} vs {alone:.3f}): "
                           f"it barely steers")
        return out


def _training_data(checkpoint: str | Path, videos: int, cfg):
    """The data the checkpoint was trained on (its provenance), the first ``videos`` of it."""
    from ..loading import read_checkpoint_meta
    from .config import DataConfig

    stored = read_checkpoint_meta(Path(checkpoint)).get("provenance", {}).get("stage_config", {}).get("data")
    if stored:
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in DataConfig.__dataclass_fields__}
        return DataConfig(**{**known, "videos": videos, "workers": 0})
    return DataConfig(source="synth", videos=videos, num_frames=cfg.sampling.max_frames, size=tuple(cfg.sampling.native_size))


def _later(x: torch.Tensor) -> torch.Tensor:
    return x[:, :, 1:]


def _box_region(ann, latent_shape: tuple[int, ...], temporal: int = 4) -> torch.Tensor:
    """(1, 1, F, h, w) float mask of the latent cells any visible object's box touches: latent
    frame 0 is pixel frame 0, latent frame k >= 1 the pixel frames 4k-3 .. 4k (the Wan VAE's
    causal grouping); a cell covers ``height / h`` x ``width / w`` pixels."""
    _, _, f, h, w = latent_shape
    cell_y, cell_x = ann.height / h, ann.width / w
    region = torch.zeros((1, 1, f, h, w))
    for k in range(f):
        frames = [0] if k == 0 else range(temporal * k - temporal + 1, min(temporal * k, ann.num_frames - 1) + 1)
        for obj in ann.objects:
            for t in frames:
                if not obj.visible[t]:
                    continue
                x0, y0, x1, y1 = obj.boxes[t]
                region[0, 0, k, int(y0 // cell_y): int(np.ceil(y1 / cell_y)), int(x0 // cell_x): int(np.ceil(x1 / cell_x))] = 1.0
    return region


def _region_mse(err: torch.Tensor, region: torch.Tensor) -> float:
    """Mean of the squared error ``err`` (B, C, F, h, w) over the cells of ``region``."""
    return float((err * region).sum() / (region.sum() * err.shape[1]).clamp_min(1.0))


def _held_out(data):
    """Scenes of the same kind the checkpoint never saw (synth data only), else None."""
    from dataclasses import replace

    return replace(data, seed=data.seed + HELD_OUT_SEED_OFFSET) if data.source == "synth" else None


@torch.no_grad()
def check_base_generator(checkpoint: str | Path, videos: int = 4, seed: int = 0,
                         trajectory: str = ADAPTER_TRAJECTORY) -> BaseGeneratorReport:
    """Measure a base-generator checkpoint on the first ``videos`` of its training videos (and,
    for synthetic data, on as many scenes it never saw); an adapter in the folder reads the
    ``trajectory`` maps (box or mask)."""
    if trajectory not in ("box", "mask"):
        raise InputError(f"trajectory {trajectory!r}: the adapter can be measured on box or mask maps")
    from ..assemble import checkpoint_components
    from ..model import FlashMotionModel
    from ..samplers import first_frame_token_mask, predict_x0
    from ..text import TextEncoder
    from ..vae import VideoCodec
    from .components import adapter_input_of
    from .data import iter_source, trajectory_maps

    from ..loading import read_checkpoint_meta

    # the generator is measured alone; an adapter in the folder (loaded as what it is) is measured apart
    meta = read_checkpoint_meta(Path(checkpoint))
    has_adapter = meta.get("adapter")
    reads = None if not has_adapter else trajectory if adapter_input_of(meta) == "maps" else adapter_input_of(meta)
    kind = has_adapter or "controlnet"
    comps = checkpoint_components(checkpoint, kind, "slow")
    cfg = comps.config
    codec = VideoCodec(comps.vae)
    text = TextEncoder(comps.tokenizer, comps.text_model, cfg.text.max_length)
    model = FlashMotionModel(comps.transformer, None).eval()
    steered = FlashMotionModel(comps.transformer, comps.adapter).eval() if has_adapter else None
    data = _training_data(checkpoint, videos, cfg)

    def measure(data, with_drift: bool) -> tuple[int, dict, torch.Tensor | None]:
        g = torch.Generator().manual_seed(seed)
        sums = {"zero": 0.0, "copy": 0.0, "object": 0.0, "adapter_object": 0.0, "signal_box": 0.0, "signal_mask": 0.0,
                **{s: 0.0 for s in SIGMAS}, **{("adapter", s): 0.0 for s in SIGMAS}}
        drift, n = None, 0
        for src in islice(iter_source(data), videos):
            raw = src.load()
            x0 = codec.encode(raw.frames)
            emb = text.encode([raw.prompt])
            mask = first_frame_token_mask(comps.transformer.token_grid(x0.shape), x0.device)
            sums["zero"] += float(_later(x0).pow(2).mean())
            sums["copy"] += float((_later(x0) - x0[:, :, :1]).pow(2).mean())
            traj = None if steered is None else x0 if reads == "video" else codec.encode(trajectory_maps(raw.annotation, reads, data))
            region = _later(_box_region(raw.annotation, tuple(x0.shape)))
            video_var = float(x0.var())
            for k in ("box", "mask"):
                maps = trajectory_maps(raw.annotation, k, data)
                moved = (_later(codec.encode(maps)) - _later(codec.encode(np.zeros_like(maps)))).pow(2)
                sums[f"signal_{k}"] += _region_mse(moved, region) / video_var
            for s in SIGMAS:
                noise = torch.randn(x0.shape, generator=g)
                x_t = (1 - s) * x0 + s * noise
                err = (_later(predict_x0(model, x_t, torch.tensor([s]), x0[:, :, :1], emb, None, mask)) - _later(x0)).pow(2)
                sums[s] += float(err.mean())
                if s == 1.0:
                    sums["object"] += _region_mse(err, region)
                if steered is not None:  # same noisy input, the adapter reading the trajectory
                    err = (_later(predict_x0(steered, x_t, torch.tensor([s]), x0[:, :, :1], emb, traj, mask)) - _later(x0)).pow(2)
                    sums[("adapter", s)] += float(err.mean())
                    if s == 1.0:
                        sums["adapter_object"] += _region_mse(err, region)
            if with_drift:
                still = codec.encode(np.repeat(raw.frames[:1], raw.frames.shape[0], axis=0))
                d = (still[:, :, 1:] - still[:, :, :-1]).pow(2).mean(dim=(0, 1, 3, 4)).double()
                drift = d if drift is None else drift + d
            n += 1
        return n, {k: v / n for k, v in sums.items()}, drift / n if drift is not None else None

    n, train, drift = measure(data, with_drift=True)
    unseen = _held_out(data)
    held = measure(unseen, with_drift=False)[1] if unseen is not None else None
    steer = lambda m: {s: m[("adapter", s)] for s in SIGMAS} if m and has_adapter else None  # noqa: E731
    t = cfg.transformer
    return BaseGeneratorReport(
        checkpoint=str(checkpoint), videos=n, token_width=t.inner_dim, patch_values=t.in_channels * prod(t.patch_size),
        zero_mse=train["zero"], copy_mse=train["copy"], x0_mse={s: train[s] for s in SIGMAS},
        static_drift=[float(v) for v in drift],
        held_out_zero_mse=held["zero"] if held else None, held_out_copy_mse=held["copy"] if held else None,
        held_out_x0_mse={s: held[s] for s in SIGMAS} if held else None,
        adapter=has_adapter or None, adapter_reads=reads, adapter_x0_mse=steer(train), held_out_adapter_x0_mse=steer(held),
        map_signal={k: train[f"signal_{k}"] for k in ("box", "mask")},
        object_x0_mse=train["object"], held_out_object_x0_mse=held["object"] if held else None,
        adapter_object_x0_mse=train["adapter_object"] if has_adapter else None,
        held_out_adapter_object_x0_mse=held["adapter_object"] if held and has_adapter else None,
    )
