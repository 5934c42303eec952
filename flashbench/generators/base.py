"""Request, response and info types of the generator protocol.

A generator is any object with an ``info`` attribute (:class:`GeneratorInfo`) and a batched
``generate(requests) -> list`` method. Each output is a uint8 ``(T, H, W, 3)`` array, or a
:class:`GeneratedVideo` that also reports the denoising time of that video.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..data.trajectory import DEFAULT_MAP_STYLE, Trajectory


@dataclass(frozen=True)
class GeneratorInfo:
    name: str
    version: str
    parameters: int  # total parameter count (0 for a method without a network)
    native_size: tuple[int, int] | None  # (H, W) the model was trained at; None: any
    max_frames: int | None  # None: any length
    trajectory_types: tuple[str, ...]
    nfe: int  # network function evaluations per video (steps x CFG branches)
    checkpoint_sha256: str | None = None
    dtype: str = "float32"
    reference: bool = False  # True when not running official weights (tiny reference checkpoint or random init)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["native_size"] = list(self.native_size) if self.native_size else None
        d["trajectory_types"] = list(self.trajectory_types)
        return d


@dataclass(frozen=True)
class GenerationRequest:
    video_id: str
    first_frame: np.ndarray  # (H, W, 3) uint8 at the requested size
    prompt: str
    trajectory: Trajectory  # at the requested size and frame count
    num_frames: int
    height: int
    width: int
    seed: int
    fps: float = 24.0
    map_style: str = DEFAULT_MAP_STYLE  # the protocol's style; pass it to render_maps

    def content_hash(self) -> str:
        """A hash of everything that determines the output (for the generation cache)."""
        h = hashlib.sha256()
        for part in (self.video_id, self.prompt, self.trajectory.type, self.num_frames, self.height, self.width, self.seed, self.fps, self.map_style):
            h.update(repr(part).encode("utf-8"))
            h.update(b"\0")
        h.update(np.ascontiguousarray(self.first_frame).tobytes())
        t = self.trajectory
        for arr in (t.first_masks, t.boxes, t.visible, t.masks):
            if arr is not None:
                h.update(repr(arr.shape).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr(t.frame_indices).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class GeneratedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8
    denoise_seconds: float | None = None


@runtime_checkable
class Generator(Protocol):
    info: GeneratorInfo

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray | GeneratedVideo]: ...


def as_generated(out: np.ndarray | GeneratedVideo) -> GeneratedVideo:
    return out if isinstance(out, GeneratedVideo) else GeneratedVideo(frames=out)
