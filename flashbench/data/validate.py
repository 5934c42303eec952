"""Integrity check of a built benchmark directory (``flashbench validate``).

Checks, in order: the manifest parses and has this FlashBench's format; every file it lists
exists and matches its SHA-256; every item's video and annotation are listed; the group
counts match the items; each annotation agrees with its manifest entry (id, frame count,
size, object count, group) and with itself (boxes are the tight boxes of the RLE masks,
visibility is "mask non-empty"); each video decodes to the listed frame count and size.
Every problem names the offending file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import FlashBenchError, ValidationError
from ..utils.atomic import sha256_file
from . import rle as rle_ops
from .benchmark import Benchmark
from .schema import GROUPS, Annotation, ItemInfo, group_for_count


@dataclass
class ValidationReport:
    root: Path
    name: str = ""
    num_videos: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    num_files: int = 0
    num_frames: set[int] = field(default_factory=set)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_benchmark(
    root: str | os.PathLike,
    decode: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ValidationReport:
    """Check a benchmark directory; the report lists every problem (empty when intact).

    Decoding every video dominates the time; ``workers`` processes (default: the CPU count)
    decode in parallel. The problems come out in item order whatever the worker count.
    """
    root = Path(root)
    try:
        bench = Benchmark.open(root)
    except FlashBenchError as exc:
        rep = ValidationReport(root)
        rep.problems.append(str(exc))
        return rep
    m = bench.manifest
    rep = ValidationReport(root, name=bench.name, num_videos=len(bench.items), groups=bench.group_counts())
    files: dict[str, str] = m.get("files") or {}
    rep.num_files = len(files)
    for rel, digest in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            rep.problems.append(f"{path}: listed in the manifest but missing")
        elif sha256_file(path) != digest:
            rep.problems.append(f"{path}: SHA-256 differs from the manifest (modified or truncated)")
    declared = m.get("groups")
    if declared is not None and {g: int(declared.get(g, 0)) for g in GROUPS} != rep.groups:
        rep.problems.append(f"{root / 'manifest.json'}: group counts {declared} do not match its items {rep.groups}")
    per_group = (m.get("build") or {}).get("per_group")
    shortfall = m.get("shortfall") or {}
    if per_group is not None:
        for g in GROUPS:
            if rep.groups[g] + int(shortfall.get(g, 0)) != per_group:
                rep.problems.append(
                    f"{root / 'manifest.json'}: group {g!r} has {rep.groups[g]} videos, expected {per_group} (shortfall {shortfall.get(g, 0)})"
                )
    ids = [i.video_id for i in bench.items]
    if len(set(ids)) != len(ids):
        rep.problems.append(f"{root / 'manifest.json'}: duplicate video ids")
    per_item = [_check_item(root, info, files, rep) for info in bench.items]
    jobs = [(n, str(root / info.video), info.num_frames, info.height, info.width)
            for n, info in enumerate(bench.items) if decode and (root / info.video).is_file()]
    total = len(bench.items)
    done = total - len(jobs)
    if progress is not None and done:
        progress(done, total)
    for n, problems in _run_decodes(jobs, workers):
        per_item[n].extend(problems)
        done += 1
        if progress is not None:
            progress(done, total)
    for problems in per_item:
        rep.problems.extend(problems)
    return rep


def _run_decodes(jobs: list[tuple[int, str, int, int, int]], workers: int | None):
    """Yield ``(item index, problems)`` of each decode check, in job order."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job[0], _decode_problems(*job[1:])
        return
    from .pool import process_pool

    with process_pool(min(workers, len(jobs))) as pool:
        futures = [pool.submit(_decode_problems, *job[1:]) for job in jobs]
        for job, fut in zip(jobs, futures):
            yield job[0], fut.result()


def _decode_problems(path: str, num_frames: int, height: int, width: int) -> list[str]:
    """Decode one video (a top-level function: runs in worker processes); its problems."""
    from . import video as video_io

    try:
        frames = video_io.read_video(path)
    except FlashBenchError as exc:
        return [str(exc)]
    out = []
    if frames.shape[0] != num_frames:
        out.append(f"{path}: decodes to {frames.shape[0]} frames, the manifest says {num_frames}")
    if frames.shape[1:3] != (height, width):
        out.append(f"{path}: frames are {frames.shape[1]}x{frames.shape[2]}, the manifest says {height}x{width}")
    return out


def _check_item(root: Path, info: ItemInfo, files: dict[str, str], rep: ValidationReport) -> list[str]:
    """The problems of one item that need no decoding (listing, group, annotation)."""
    rep.num_frames.add(info.num_frames)
    rep.sizes.add((info.height, info.width))
    out = []
    for rel in (info.video, info.annotation):
        if rel not in files:
            out.append(f"{root / rel}: item {info.video_id} refers to it but the manifest's file list lacks it")
    if info.group != _group(info.num_objects):
        out.append(f"{root / 'manifest.json'}: {info.video_id} has {info.num_objects} objects but group {info.group!r}")
    ann_path = root / info.annotation
    if ann_path.is_file():
        for msg in _check_annotation(ann_path, info):
            out.append(f"{ann_path}: {msg}")
    return out


def _group(n: int) -> str | None:
    try:
        return group_for_count(n)
    except ValueError:
        return None


def _check_annotation(path: Path, info: ItemInfo) -> list[str]:
    try:
        ann = Annotation.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        return [f"malformed annotation ({type(exc).__name__}: {exc})"]
    out = []
    if ann.video_id != info.video_id:
        out.append(f"video_id {ann.video_id!r}, the manifest says {info.video_id!r}")
    if (ann.num_frames, ann.height, ann.width) != (info.num_frames, info.height, info.width):
        out.append(f"{ann.num_frames} frames of {ann.height}x{ann.width}, the manifest says {info.num_frames} of {info.height}x{info.width}")
    if len(ann.objects) != info.num_objects:
        out.append(f"{len(ann.objects)} objects, the manifest says {info.num_objects}")
    for k, obj in enumerate(ann.objects):
        where = f"object {k} ({obj.label})"
        if obj.index != k:
            out.append(f"{where}: index {obj.index}, expected {k}")
        if obj.num_frames != ann.num_frames or obj.boxes.shape != (ann.num_frames, 4) or obj.visible.shape != (ann.num_frames,):
            out.append(f"{where}: per-frame lists do not have {ann.num_frames} entries")
            continue
        try:
            sizes = {tuple(r["size"]) for r in obj.rles}
            if sizes != {(ann.height, ann.width)}:
                out.append(f"{where}: RLE sizes {sorted(sizes)} differ from {ann.height}x{ann.width}")
                continue
            boxes = rle_ops.boxes_xyxy(obj.rles)
            area = rle_ops.area(obj.rles)
        except Exception as exc:  # pycocotools raises plain errors on corrupt counts
            out.append(f"{where}: undecodable RLE ({exc})")
            continue
        bad = np.flatnonzero(np.any(boxes != obj.boxes, axis=1))
        if bad.size:
            out.append(f"{where}: boxes differ from the tight boxes of the masks at frame(s) {bad[:5].tolist()}")
        bad = np.flatnonzero((area > 0) != obj.visible)
        if bad.size:
            out.append(f"{where}: visibility differs from 'mask non-empty' at frame(s) {bad[:5].tolist()}")
    return out


def check_benchmark(
    root: str | os.PathLike, decode: bool = True, progress: Callable[[int, int], None] | None = None, workers: int | None = None
) -> ValidationReport:
    """Like :func:`validate_benchmark` but raise :class:`ValidationError` listing the problems."""
    rep = validate_benchmark(root, decode=decode, progress=progress, workers=workers)
    if len(rep.problems) == 1:  # one problem, one line
        raise ValidationError(f"{rep.problems[0]} (the only problem `flashbench validate` found)")
    if rep.problems:
        shown = rep.problems[:20]
        more = f"\n  ... and {len(rep.problems) - 20} more" if len(rep.problems) > 20 else ""
        raise ValidationError(
            f"{rep.root}: benchmark fails validation ({len(rep.problems)} problems); rebuild it with `flashbench build`:\n  "
            + "\n  ".join(shown) + more
        )
    return rep


def summary_line(rep: ValidationReport) -> str:
    """One line describing a passing benchmark."""
    frames = ", ".join(str(n) for n in sorted(rep.num_frames)) or "-"
    sizes = ", ".join(f"{h}x{w}" for h, w in sorted(rep.sizes)) or "-"
    return f"{rep.name}: {rep.num_videos} videos, {rep.num_files} files hashed; frames {frames}; size {sizes}"


def summary_table(rep: ValidationReport) -> Any:
    """A short rich table of a passing benchmark's group counts (print :func:`summary_line` beside it)."""
    from rich.table import Table

    table = Table(title="valid")
    for col in ("group", "videos"):
        table.add_column(col, justify="right")
    for g in GROUPS:
        table.add_row(g, str(rep.groups.get(g, 0)))
    return table
