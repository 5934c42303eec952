"""The versioned evaluation protocol (docs/protocol.md) as a frozen, hashable object.

Every choice that changes a number is a field here. Results carry the whole object and its
hash; two results are comparable only when the hashes match.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .data.trajectory import DEFAULT_MAP_STYLE, MAP_STYLES
from .utils.atomic import sha256_json

TRAJECTORY_TYPES = ("box", "mask", "sparse_box")
FVD_CLIP_MODES = ("uniform16", "first16", "all")


@dataclass(frozen=True)
class Protocol:
    name: str = "flashbench-v1"
    version: int = 1
    # conditions (section 2)
    trajectory: str = "box"
    sparse_box_frames: int = 8  # listed frames for `sparse_box` (fewer than 10)
    map_style: str = DEFAULT_MAP_STYLE  # how conditions are drawn for map-conditioned models (docs/map-styles.md)
    # frame alignment (section 3)
    num_frames: int | None = None  # None: the benchmark's stored frame count
    resize: str = "bicubic-antialias"
    # FID (section 4)
    fid_extractor: str = "inception-2015-12-05"
    fid_preprocess: str = "clean"
    fid_frame_stride: int = 1
    fid_skip_first_frame: bool = True
    # FVD (section 5)
    fvd_extractor: str = "i3d_torchscript"
    fvd_clip: str = "uniform16"
    fvd_clip_frames: int = 16
    # IoU (section 6)
    segmenter: str = "sam2.1_hiera_large"
    sam2_prompt: str = "mask"
    iou_skip_first_frame: bool = True

    def __post_init__(self) -> None:
        if self.trajectory not in TRAJECTORY_TYPES:
            raise ValueError(f"trajectory must be one of {TRAJECTORY_TYPES}, got {self.trajectory!r}")
        if self.fvd_clip not in FVD_CLIP_MODES:
            raise ValueError(f"fvd_clip must be one of {FVD_CLIP_MODES}, got {self.fvd_clip!r}")
        if self.fid_frame_stride < 1:
            raise ValueError(f"fid_frame_stride must be >= 1, got {self.fid_frame_stride}")
        if not 1 <= self.sparse_box_frames < 10:
            raise ValueError(f"sparse_box_frames must be in 1..9, got {self.sparse_box_frames}")
        if self.map_style not in MAP_STYLES:
            raise ValueError(f"map_style must be one of {tuple(MAP_STYLES)}, got {self.map_style!r}")
        if self.sam2_prompt not in ("mask", "box"):
            raise ValueError(f"sam2_prompt must be 'mask' or 'box', got {self.sam2_prompt!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Protocol":
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown protocol field(s): {sorted(unknown)}")
        return cls(**obj)

    def hash(self) -> str:
        return sha256_json(self.to_dict())[:16]

    def with_(self, **changes: Any) -> "Protocol":
        return replace(self, **changes)


DEFAULT = Protocol()

# Named protocol variants, selectable with `flashbench eval --protocol NAME` and listed by
# `flashbench ls protocols`. Each differs from `flashbench-v1` only in the fields it sets, and
# its name is a field, so its hash differs too.
PROTOCOLS: dict[str, Protocol] = {
    DEFAULT.name: DEFAULT,
    "magicbench-49": Protocol(name="magicbench-49", num_frames=49),
}
PROTOCOL_DESCRIPTIONS: dict[str, str] = {
    DEFAULT.name: "FlashBench: every stored frame (121 in the full benchmark), scored per object-count group and overall",
    "magicbench-49": "MagicBench and DAVIS as the paper evaluates them: the first 49 frames, otherwise flashbench-v1",
}


def get_protocol(name: str) -> Protocol:
    """The named protocol variant; an unknown name is an input error listing the known ones."""
    from .errors import InputError

    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InputError(f"unknown protocol {name!r}; known protocols: {', '.join(PROTOCOLS)} (`flashbench ls protocols`)") from None


def protocol_changes(protocol: Protocol) -> dict[str, Any]:
    """The fields in which ``protocol`` differs from ``flashbench-v1`` (its name excluded)."""
    base = DEFAULT.to_dict()
    return {k: v for k, v in protocol.to_dict().items() if k != "name" and base[k] != v}
