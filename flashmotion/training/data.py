"""Training data: annotated videos -> cached VAE latents, trajectory latents and text embeddings.

Sources: the FlashBench-Synth train split (``source: synth``; disjoint from every benchmark
split by construction: its scenes hash the split name ``train``), or any built benchmark
directory, such as one made from a MagicData-layout folder with ``flashbench build --source
magicdata`` (``source: PATH``).

Each video is encoded once and cached on disk under a key made of everything that determines
the tensors: the frames' and annotation's content, the VAE weights (codec hash), the text
encoder weights, the map style, the trajectory types and the source of this module and of the
map renderer. Batches are a pure function of ``(seed, step)``: the same samples in the same
order whatever the number of processes (each rank takes every ``world``-th item of the global
batch) or workers, and a resumed run continues the same sequence.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from flashbench.data import trajectory as traj_mod
from flashbench.data.schema import Annotation, ObjectTrack
from flashbench.errors import InputError
from flashbench.utils.atomic import atomic_path, sha256_json

from .config import DataConfig

TRAJECTORY_TYPES = ("mask", "box", "sparse_box")


@dataclass(frozen=True)
class RawVideo:
    video_id: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    annotation: Annotation
    prompt: str


@dataclass(frozen=True)
class SourceVideo:
    """A training video before it is rendered or decoded: ``identity`` is a digest of what
    determines its pixels and annotation (for synth: the scene recipe and the renderer's
    source; for a benchmark folder: the video and annotation files' content)."""

    video_id: str
    identity: str
    load: Callable[[], RawVideo]


def module_state_hash(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (names, dtypes, shapes, bytes): the identity of its weights."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _code_hash() -> str:
    src = inspect.getsource(inspect.getmodule(_code_hash)) + inspect.getsource(traj_mod)
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def iter_source(cfg: DataConfig) -> Iterator[SourceVideo]:
    """The training videos of ``cfg``, each rendered or decoded only when loaded."""
    if cfg.source == "synth":
        from flashbench.data import synth

        renderer = hashlib.sha256(inspect.getsource(synth).encode()).hexdigest()[:16]
        for i in range(cfg.videos):
            video_id = f"train-{cfg.seed}-{i:05d}"
            recipe = {"synth": synth.SYNTH_VERSION, "renderer": renderer, "seed": cfg.seed, "index": i,
                      "frames": cfg.num_frames, "size": list(cfg.size), "objects": [cfg.min_objects, cfg.max_objects]}
            yield SourceVideo(video_id, sha256_json(recipe), functools.partial(_render_synth, cfg, i, video_id))
        return
    from flashbench.data.benchmark import Benchmark
    from flashbench.utils.atomic import sha256_file

    root = Path(cfg.source)
    if not root.is_dir():
        raise InputError(f"data.source {cfg.source}: neither 'synth' nor a benchmark directory (build one with `flashbench build`)")
    bench = Benchmark.open(root)
    for sample in bench:
        if sample.info.num_frames < cfg.num_frames:
            continue  # too short for the training clip length
        identity = sha256_json({"video": sha256_file(sample.video_path), "annotation": sha256_file(root / sample.info.annotation),
                                "frames": cfg.num_frames, "prompt": sample.info.prompt})
        yield SourceVideo(sample.video_id, identity, functools.partial(_read_sample, sample, cfg.num_frames))


def _render_synth(cfg: DataConfig, i: int, video_id: str) -> RawVideo:
    from flashbench.data.synth import render_train

    v = render_train(i, cfg.seed, cfg.num_frames, tuple(cfg.size), cfg.min_objects, cfg.max_objects)
    ann = Annotation(video_id=video_id, num_frames=v.num_frames, height=v.size[0], width=v.size[1], objects=v.objects)
    return RawVideo(video_id, v.frames, ann, v.prompt)


def _read_sample(sample, n: int) -> RawVideo:
    frames = sample.frames()[:n]
    ann = sample.annotation
    objects = tuple(ObjectTrack(o.index, o.label, o.rles[:n], o.boxes[:n], o.visible[:n]) for o in ann.objects)
    return RawVideo(sample.video_id, frames, Annotation(ann.video_id, n, ann.height, ann.width, objects), sample.info.prompt)


def trajectory_maps(ann: Annotation, kind: str, cfg: DataConfig) -> np.ndarray:
    traj = traj_mod.from_annotation(ann, kind, cfg.sparse_box_frames)
    return traj_mod.render_maps(traj, style=cfg.map_style)


class LatentCache:
    """Encodes training videos once; ``item(i)`` returns the cached tensors of video ``i``."""

    def __init__(self, cache_dir: Path, cfg: DataConfig, codec, text_encoder, types: Sequence[str] = ("mask", "box")):
        self.dir, self.cfg, self.codec, self.text = Path(cache_dir), cfg, codec, text_encoder
        self.types = tuple(types)
        # the weights and the latent normalisation (a config value, not in the state dict)
        self.codec_hash = sha256_json({"weights": module_state_hash(codec.vae), "mean": codec.mean.flatten().tolist(),
                                       "std": codec.std.flatten().tolist()})
        self.text_hash = module_state_hash(text_encoder.model)
        self.paths: list[Path] = []

    def _key(self, src: SourceVideo) -> str:
        return sha256_json({"video": src.identity, "codec": self.codec_hash, "text": self.text_hash, "map_style": self.cfg.map_style,
                            "types": list(self.types), "sparse": self.cfg.sparse_box_frames, "code": _code_hash()})[:32]

    def build(self, progress=None, loaded: dict[str, RawVideo] | None = None) -> "LatentCache":
        """Encode what is not cached yet (``loaded``: videos already in memory, by id)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.paths = []
        for src in iter_source(self.cfg):
            path = self.dir / f"{src.video_id}-{self._key(src)}.pt"
            if not path.is_file():  # rendered or decoded only on a cache miss
                raw = (loaded or {}).get(src.video_id) or src.load()
                item = {"latents": self.codec.encode(raw.frames)[0],
                        "traj": {k: self.codec.encode(trajectory_maps(raw.annotation, k, self.cfg))[0] for k in self.types},
                        "text": self.text.encode([raw.prompt])[0].float(), "video_id": raw.video_id}
                with atomic_path(path) as tmp:
                    torch.save(item, tmp)
            self.paths.append(path)
            if progress:
                progress()
        if not self.paths:
            raise InputError(f"data.source {self.cfg.source}: no usable training videos")
        return self

    def manifest_hash(self) -> str:
        """Identity of the training data (recorded in every checkpoint's provenance)."""
        return sha256_json([p.name for p in self.paths])


class LatentDataset(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return torch.load(self.paths[i], weights_only=True)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "latents": torch.stack([it["latents"] for it in items]),
        "traj": {k: torch.stack([it["traj"][k] for it in items]) for k in items[0]["traj"]},
        "text": torch.stack([it["text"] for it in items]),
        "video_id": [it["video_id"] for it in items],
    }


def step_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The global batch of ``step``: consecutive slices of seeded per-epoch permutations."""
    out = []
    pos = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(hash_seed(seed, "epoch", epoch))).tolist()
        take = min(batch_size - len(out), n - offset)
        out.extend(perm[offset : offset + take])
        pos += take
    return out


class StepBatches(torch.utils.data.Sampler):
    """Batch sampler: this rank's share of each step's global batch, from ``start`` on."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise InputError(f"batch_size {batch_size} is not divisible by the {world} processes")
        self.n, self.batch_size, self.seed, self.start, self.stop, self.rank, self.world = n, batch_size, seed, start, stop, rank, world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield step_indices(self.n, self.batch_size, self.seed, step)[self.rank :: self.world]


def loader(dataset: LatentDataset, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1,
           workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_sampler=StepBatches(len(dataset), batch_size, seed, start, stop, rank, world),
                                       collate_fn=collate, num_workers=workers, persistent_workers=False)


def hash_seed(*parts: Any) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def sample_generator(seed: int, step: int, global_index: int, what: str) -> torch.Generator:
    """The RNG of one sample's draws at one step: independent of batch split and process count."""
    return torch.Generator().manual_seed(hash_seed(seed, what, step, global_index))


def sample_noise(shape: Sequence[int], seed: int, step: int, global_indices: Sequence[int], what: str) -> Tensor:
    """(B, *shape) standard normal noise, one generator per sample."""
    return torch.stack([torch.randn(tuple(shape), generator=sample_generator(seed, step, j, what)) for j in global_indices])


def sample_uniform(seed: int, step: int, global_indices: Sequence[int], what: str) -> Tensor:
    return torch.stack([torch.rand((), generator=sample_generator(seed, step, j, what)) for j in global_indices])
