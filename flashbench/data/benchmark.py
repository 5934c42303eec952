"""Lazy access to a built benchmark directory.

Opening a benchmark reads only ``manifest.json``; pixels and masks of a video are read when
that video's :class:`Sample` asks for them, so no command holds a whole benchmark in memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError, ValidationError
from ..utils.atomic import sha256_json
from . import video as video_io
from .schema import FORMAT, FORMAT_VERSION, GROUPS, Annotation, ItemInfo, ObjectTrack

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Sample:
    """One benchmark item; frames and annotation load on first use."""

    root: Path
    info: ItemInfo

    @property
    def video_id(self) -> str:
        return self.info.video_id

    @property
    def video_path(self) -> Path:
        return self.root / self.info.video

    def frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Ground-truth frames, uint8 (T, H, W, 3); checked against the manifest's frame count."""
        return video_io.read_video(self.video_path, indices, expected_frames=self.info.num_frames)

    def first_frame(self) -> np.ndarray:
        """Frame 0 alone (decoding stops there)."""
        return video_io.read_video(self.video_path, [0])[0]

    @cached_property
    def annotation(self) -> Annotation:
        path = self.root / self.info.annotation
        if not path.is_file():
            raise InputError(f"{path}: annotation file missing (run `flashbench validate {self.root}`)")
        try:
            ann = Annotation.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: malformed annotation ({exc})") from exc
        if ann.num_frames != self.info.num_frames:
            raise InputError(f"{path}: annotation has {ann.num_frames} frames, the manifest says {self.info.num_frames}")
        return ann

    @property
    def objects(self) -> tuple[ObjectTrack, ...]:
        return self.annotation.objects


class Benchmark:
    """A built benchmark directory (``manifest.json`` + videos + annotations)."""

    def __init__(self, root: Path, manifest: dict[str, Any]):
        self.root = root
        self.manifest = manifest
        self.items: tuple[ItemInfo, ...] = tuple(ItemInfo.from_json(i) for i in manifest["items"])
        self._by_id = {i.video_id: i for i in self.items}

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Benchmark":
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise InputError(f"{root}: not a benchmark directory (no {MANIFEST}); build one with `flashbench build`")
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            raise ValidationError(f"{path}: not valid JSON ({exc})") from exc
        if manifest.get("format") != FORMAT:
            raise ValidationError(f"{path}: not a FlashBench manifest (format={manifest.get('format')!r})")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValidationError(
                f"{path}: format version {manifest.get('format_version')} is not supported (this FlashBench reads {FORMAT_VERSION})"
            )
        return cls(root, manifest)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @cached_property
    def manifest_hash(self) -> str:
        """SHA-256 of the canonical manifest: the benchmark's identity in results."""
        return sha256_json(self.manifest)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Sample]:
        for info in self.items:
            yield Sample(self.root, info)

    def sample(self, video_id: str) -> Sample:
        try:
            return Sample(self.root, self._by_id[video_id])
        except KeyError:
            raise InputError(f"{self.root}: no video {video_id!r} in the manifest") from None

    def select(self, groups: Sequence[str] | None = None, limit: int | None = None) -> list[ItemInfo]:
        """Items of the given groups (manifest order), at most ``limit`` per group."""
        wanted = tuple(groups) if groups else GROUPS
        unknown = [g for g in wanted if g not in GROUPS]
        if unknown:
            raise InputError(f"unknown group(s) {unknown}; groups are {list(GROUPS)}")
        counts = {g: 0 for g in wanted}
        out = []
        for info in self.items:
            if info.group in counts and (limit is None or counts[info.group] < limit):
                counts[info.group] += 1
                out.append(info)
        return out

    def group_counts(self) -> dict[str, int]:
        counts = {g: 0 for g in GROUPS}
        for info in self.items:
            counts[info.group] += 1
        return counts
