"""The benchmark data model (docs/protocol.md, section 1).

A benchmark directory holds ``manifest.json``, ``videos/<id>.<ext>`` and
``annotations/<id>.json``. The manifest lists every item and the SHA-256 of every file; an
annotation holds, per object and frame, a COCO RLE mask, the tight box derived from it and a
visibility flag. Everything here is plain data; loading is lazy (see ``benchmark.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from . import rle as rle_ops

FORMAT = "flashbench-benchmark"
FORMAT_VERSION = 1

GROUPS: tuple[str, ...] = ("1", "2", "3", "4", "5", ">5")


def group_for_count(num_objects: int) -> str:
    """The FlashBench group of a video with ``num_objects`` annotated foreground objects."""
    if num_objects < 1:
        raise ValueError(f"a benchmark video needs at least one object, got {num_objects}")
    return str(num_objects) if num_objects <= 5 else ">5"


@dataclass(frozen=True)
class ObjectTrack:
    """One object across all frames of a video."""

    index: int  # position within the video; also the palette index of trajectory maps
    label: str
    rles: tuple[dict, ...]  # one COCO RLE per frame
    boxes: np.ndarray  # (T, 4) float64, x0 y0 x1 y1, zeros where not visible
    visible: np.ndarray  # (T,) bool, False where the mask is empty

    @classmethod
    def from_masks(cls, index: int, label: str, masks: np.ndarray) -> "ObjectTrack":
        """Build a track from a (T, H, W) boolean stack; boxes and visibility are derived."""
        rles = rle_ops.encode_stack(masks)
        return cls.from_rles(index, label, rles)

    @classmethod
    def from_rles(cls, index: int, label: str, rles: Sequence[dict]) -> "ObjectTrack":
        rles = tuple(rles)
        visible = rle_ops.area(rles) > 0
        return cls(index=index, label=label, rles=rles, boxes=rle_ops.boxes_xyxy(rles), visible=visible)

    @property
    def num_frames(self) -> int:
        return len(self.rles)

    def mask(self, t: int) -> np.ndarray:
        return rle_ops.decode(self.rles[t])

    def masks(self) -> np.ndarray:
        """All masks as a (T, H, W) boolean array."""
        return rle_ops.decode_stack(self.rles)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "label": self.label,
            "rles": list(self.rles),
            "boxes": [[float(v) for v in b] for b in self.boxes],
            "visible": [bool(v) for v in self.visible],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ObjectTrack":
        rles = tuple(obj["rles"])
        boxes = np.asarray(obj["boxes"], dtype=np.float64).reshape(len(rles), 4)
        visible = np.asarray(obj["visible"], dtype=bool)
        return cls(index=int(obj["index"]), label=str(obj["label"]), rles=rles, boxes=boxes, visible=visible)


@dataclass(frozen=True)
class Annotation:
    """All object tracks of one video (the content of ``annotations/<id>.json``)."""

    video_id: str
    num_frames: int
    height: int
    width: int
    objects: tuple[ObjectTrack, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "num_frames": self.num_frames,
            "height": self.height,
            "width": self.width,
            "objects": [o.to_json() for o in self.objects],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Annotation":
        return cls(
            video_id=str(obj["video_id"]),
            num_frames=int(obj["num_frames"]),
            height=int(obj["height"]),
            width=int(obj["width"]),
            objects=tuple(ObjectTrack.from_json(o) for o in obj["objects"]),
        )


@dataclass(frozen=True)
class ItemInfo:
    """One manifest entry: everything about a video except its pixels and masks."""

    video_id: str
    group: str
    num_objects: int
    prompt: str
    num_frames: int
    height: int
    width: int
    fps: float
    video: str  # path relative to the benchmark root
    annotation: str  # path relative to the benchmark root
    source: dict[str, Any] = field(default_factory=dict)  # provenance: source id, synth seed, ...

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ItemInfo":
        return cls(
            video_id=str(obj["video_id"]),
            group=str(obj["group"]),
            num_objects=int(obj["num_objects"]),
            prompt=str(obj["prompt"]),
            num_frames=int(obj["num_frames"]),
            height=int(obj["height"]),
            width=int(obj["width"]),
            fps=float(obj["fps"]),
            video=str(obj["video"]),
            annotation=str(obj["annotation"]),
            source=dict(obj.get("source", {})),
        )
