"""Build a benchmark directory (docs/protocol.md, section 1) from a source of annotated videos.

Pipeline: pool -> filter tracks (drop objects too small at frame 0 or too rarely visible,
then recount) -> group by object count (1..5, >5) -> seeded stratified sample of
``per_group`` videos per group -> ``videos/<id>.mkv`` (lossless) + ``annotations/<id>.json``
-> ``manifest.json``, written last and atomically.

Sources:

* ``synth``: FlashBench-Synth (:mod:`.synth`). Its pool is the endless, seeded stream of
  scenes: item ``j`` of group ``g`` is the first of a seeded sequence of scenes whose objects
  all pass the filter, so items are independent and can be built in any order by any number
  of processes.
* ``magicdata``: a MagicData/MagicBench folder (:mod:`.magicdata`).
* ``videos``: raw videos with a prompt file, annotated by SAM2 (:mod:`.sam2_source`).

For the finite sources every pool video is scanned once (decoded masks, filtered tracks,
content hash) and the scan is cached under ``.build/scan``, so a rebuild or a resumed build
does not decode it again.

Resume: each finished video leaves ``.build/done/<id>.json`` (written atomically after both
of its files, with their SHA-256), so a killed build redoes only unfinished videos. The
manifest holds no timestamps or absolute paths: the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import FlashBenchError, InputError
from ..utils.atomic import atomic_write_json, sha256_file, sha256_json
from ..utils.text import plural
from .benchmark import MANIFEST
from . import video as video_io
from .schema import FORMAT, FORMAT_VERSION, GROUPS, Annotation, ItemInfo, ObjectTrack, group_for_count
from .video import resize_masks  # noqa: F401 - the sources' mask resize, re-exported for builders

SOURCES = ("synth", "magicdata", "videos")
WORK_DIR = ".build"
GROUP_TAGS = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", ">5": "6plus"}
SYNTH_MANY = (6, 8)  # object counts drawn for the ">5" group of FlashBench-Synth
SYNTH_ATTEMPTS = 32


@dataclass(frozen=True)
class TrackFilter:
    """Which annotated objects count: visible at frame 0 with at least ``min_area_frac`` of
    the frame, and visible in at least ``min_visible_frac`` of the frames."""

    min_area_frac: float = 0.003
    min_visible_frac: float = 0.5


def filter_tracks(
    tracks: Sequence[ObjectTrack], height: int, width: int, rule: TrackFilter = TrackFilter()
) -> tuple[tuple[ObjectTrack, ...], list[dict[str, Any]]]:
    """Kept tracks (re-indexed 0..K-1 in their original order) and the dropped ones with reasons."""
    kept, dropped = [], []
    min_area = rule.min_area_frac * height * width
    for tr in tracks:
        area0 = float(np.asarray(_areas(tr.rles[:1]))[0]) if tr.rles else 0.0
        vis = float(np.mean(tr.visible)) if tr.num_frames else 0.0
        if not tr.visible[0]:
            dropped.append({"label": tr.label, "reason": "not visible at frame 0"})
        elif area0 < min_area:
            dropped.append({"label": tr.label, "reason": f"frame-0 area {area0:.0f} px < {min_area:.0f} px"})
        elif vis < rule.min_visible_frac:
            dropped.append({"label": tr.label, "reason": f"visible in {vis:.0%} of frames < {rule.min_visible_frac:.0%}"})
        else:
            kept.append(tr)
    return tuple(ObjectTrack(i, t.label, t.rles, t.boxes, t.visible) for i, t in enumerate(kept)), dropped


def _areas(rles: Sequence[dict]) -> np.ndarray:
    from . import rle as rle_ops

    return rle_ops.area(rles)


def item_id(prefix: str, group: str, j: int) -> str:
    """Stable readable video id, e.g. ``synth-g3-0042`` or ``synth-g6plus-0007``."""
    return f"{prefix}-g{GROUP_TAGS[group]}-{j:04d}"


# --------------------------------------------------------------------------- writing one item

def write_item(
    out: Path,
    video_id: str,
    group: str,
    frames: np.ndarray,
    tracks: Sequence[ObjectTrack],
    prompt: str,
    fps: float,
    source: dict[str, Any],
) -> dict[str, Any]:
    """Write one video and its annotation atomically, then its done-record; return the record."""
    from .video import LOSSLESS_EXT, write_video

    t, h, w = frames.shape[:3]
    video_rel = f"videos/{video_id}{LOSSLESS_EXT}"
    ann_rel = f"annotations/{video_id}.json"
    write_video(out / video_rel, frames, fps=fps)
    ann = Annotation(video_id=video_id, num_frames=t, height=h, width=w, objects=tuple(tracks))
    atomic_write_json(out / ann_rel, ann.to_json(), indent=None)
    info = ItemInfo(
        video_id=video_id, group=group, num_objects=len(tracks), prompt=prompt, num_frames=t, height=h, width=w,
        fps=float(fps), video=video_rel, annotation=ann_rel, source=source,
    )
    record = {"info": info.to_json(), "files": {rel: sha256_file(out / rel) for rel in (video_rel, ann_rel)}}
    atomic_write_json(out / WORK_DIR / "done" / f"{video_id}.json", record)
    return record


def _done_record(out: Path, video_id: str) -> dict[str, Any] | None:
    """The done-record of a finished video whose files are still intact, else None."""
    path = out / WORK_DIR / "done" / f"{video_id}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        for rel, digest in record["files"].items():
            if not (out / rel).is_file() or sha256_file(out / rel) != digest:
                return None
    except (ValueError, KeyError, OSError):
        return None
    return record


# --------------------------------------------------------------------------- synth items

def synth_item(cfg: dict[str, Any], out: str, group: str, j: int) -> dict[str, Any]:
    """Render and write item ``j`` of ``group`` (a top-level function: runs in worker processes)."""
    from .synth import derive_seed, render_scene

    out_path = Path(out)
    vid = item_id("synth", group, j)
    record = _done_record(out_path, vid)
    if record is not None:
        return record
    h, w = cfg["size"]
    rule = TrackFilter(**cfg["filter"])
    for attempt in range(SYNTH_ATTEMPTS):
        scene_seed = derive_seed("bench-item", cfg["seed"], group, j, attempt)
        lo, hi = SYNTH_MANY
        count = int(group) if group != ">5" else lo + scene_seed % (hi - lo + 1)
        video = render_scene(scene_seed, count, cfg["num_frames"], (h, w), split="bench")
        kept, dropped = filter_tracks(video.objects, h, w, rule)
        if not dropped:  # a synthetic scene is used whole: a dropped object would still be painted
            break
    else:
        raise FlashBenchError(f"FlashBench-Synth found no scene for group {group} item {j} whose objects pass the filter {rule}")
    source = {"source": "synth", "split": "bench", "scene_seed": scene_seed, "num_objects": count, "synth_version": video.params["version"]}
    return write_item(out_path, vid, group, video.frames, kept, video.prompt, video.fps, source)


# --------------------------------------------------------------------------- pool sources

def _safe_name(pool_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", pool_id)[:80]
    return f"{stem}-{sha256_json(pool_id)[:8]}"


def scan_video(source: Any, work: str, pool_id: str, num_frames: int, size: list[int] | None) -> dict[str, Any]:
    """Scan one pool video (cached): tracks cropped to ``num_frames`` and resized, prompt, hash."""
    path = Path(work) / f"{_safe_name(pool_id)}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("pool_id") == pool_id:
                return cached
        except ValueError:
            pass
    result = source.scan(pool_id, num_frames, tuple(size) if size else None)
    result["pool_id"] = pool_id
    atomic_write_json(path, result, indent=None)
    return result


def pool_item(source: Any, out: str, vid: str, group: str, scan: dict[str, Any], rule: dict[str, float], num_frames: int, size: list[int] | None) -> dict[str, Any]:
    """Write one sampled pool video (a top-level function: runs in worker processes)."""
    out_path = Path(out)
    record = _done_record(out_path, vid)
    if record is not None:
        return record
    tracks = tuple(ObjectTrack.from_json(o) for o in scan["objects"])
    kept, _ = filter_tracks(tracks, scan["height"], scan["width"], TrackFilter(**rule))
    frames = source.frames(scan["pool_id"], num_frames, tuple(size) if size else None)
    if frames.shape[1:3] != (scan["height"], scan["width"]):
        raise InputError(f"{scan['pool_id']}: frames are {frames.shape[1]}x{frames.shape[2]} but its masks are {scan['height']}x{scan['width']}")
    src = {"source": source.name, "id": scan["pool_id"], "input_sha256": scan["input_hash"]}
    return write_item(out_path, vid, group, frames, kept, scan["prompt"], scan["fps"], src)


def resize_frames(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bicubic (antialiased) resize of uint8 frames to ``size`` = (H, W); no-op when equal or None."""
    if size is None:
        return frames
    return video_io.resize_frames(frames, int(size[0]), int(size[1]))


def stratified_sample(groups: dict[str, list[str]], per_group: int, seed: int) -> dict[str, list[str]]:
    """``per_group`` ids per group, a seeded permutation of each group's sorted ids; result sorted."""
    from .synth import derive_seed

    out = {}
    for g in GROUPS:
        cands = sorted(groups.get(g, []))
        rng = np.random.default_rng(derive_seed("flashbench-sample", seed, g))
        order = rng.permutation(len(cands))[:per_group]
        out[g] = sorted(cands[i] for i in order)
    return out


# --------------------------------------------------------------------------- the build

def _open_source(source: str, src: Path | None, prompts: Path | None, segmenter: Any, sam2: dict[str, Any]) -> Any:
    if source == "magicdata":
        from .magicdata import MagicDataSource

        return MagicDataSource(src, prompts=prompts)
    from .sam2_source import VideoPromptSource

    return VideoPromptSource(src, prompts=prompts, segmenter=segmenter, **sam2)


def _parse_size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not m:
            raise InputError(f"--size {size!r}: expected HxW, e.g. 128x224")
        size = (int(m.group(1)), int(m.group(2)))
    h, w = (int(v) for v in size)
    if h < 16 or w < 16:
        raise InputError(f"size {h}x{w}: height and width must be at least 16")
    return h, w


def build_benchmark(
    source: str,
    out: str | os.PathLike,
    src: str | os.PathLike | None = None,
    per_group: int = 100,
    num_frames: int = 121,
    size: tuple[int, int] | str | None = (128, 224),
    seed: int = 0,
    workers: int | None = None,
    allow_short: bool = False,
    prompts: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    name: str | None = None,
    track_filter: TrackFilter = TrackFilter(),
    segmenter: Any = None,
    sam2_model: str = "sam2.1_hiera_large",
    device: str = "cpu",
    checkpoint: str | None = None,
) -> Path:
    """Build (or resume building) a benchmark directory at ``out`` and return its path.

    ``size`` is (H, W) or "HxW"; for ``magicdata`` and ``videos`` ``None`` keeps each video's
    own size. ``workers`` defaults to the CPU count (1 builds in this process). ``segmenter``
    (``videos`` only) is any object with the ``segment(frames, masks=, boxes=)`` method of
    :mod:`flashbench.metrics.segment`; by default a SAM2 video predictor is loaded.
    """
    if source not in SOURCES:
        raise InputError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if per_group < 1:
        raise InputError(f"--per-group must be >= 1, got {per_group}")
    if num_frames < 1:
        raise InputError(f"--frames must be >= 1, got {num_frames}")
    size = _parse_size(size)
    if source == "synth":
        size = size or (128, 224)
    elif src is None:
        raise InputError(f"source {source!r} needs a source folder (SRC)")
    src_path = Path(src) if src is not None else None
    prompts_path = Path(prompts) if prompts is not None else None
    out = Path(out)
    workers = max(1, int(workers or os.cpu_count() or 1))

    build = {
        "source": source,
        "src": src_path.name if src_path is not None else None,
        "prompts": prompts_path.name if prompts_path is not None else None,
        "per_group": int(per_group),
        "num_frames": int(num_frames),
        "size": list(size) if size else None,
        "seed": int(seed),
        "allow_short": bool(allow_short),
        "filter": asdict(track_filter),
    }
    if source == "synth":
        from .synth import SYNTH_VERSION

        build["synth_version"] = SYNTH_VERSION
        build["synth_many"] = list(SYNTH_MANY)
    if source == "videos":
        build["segmenter"] = {"model": sam2_model, "checkpoint": Path(checkpoint).name if checkpoint else None, "injected": segmenter is not None}
    name = name or f"flashbench-{source}-{num_frames}f" + (f"-{size[0]}x{size[1]}" if size else "") + f"-{per_group}pg-s{seed}"

    src_obj, pool_ids = None, []
    if source != "synth":  # bad input fails before anything is written
        src_obj = _open_source(source, src_path, prompts_path, segmenter, {"model": sam2_model, "device": device, "checkpoint": checkpoint})
        pool_ids = src_obj.pool_ids()
    _check_out(out, build)
    work = out / WORK_DIR
    (work / "done").mkdir(parents=True, exist_ok=True)
    atomic_write_json(work / "build.json", build)
    report = _Progress(progress)

    if source == "synth":
        pool_hash = sha256_json({"generator": "flashbench-synth", "build": build})
        plan = [(g, j) for g in GROUPS for j in range(per_group)]
        cfg = {"seed": int(seed), "num_frames": int(num_frames), "size": list(size), "filter": asdict(track_filter)}
        tasks = [(synth_item, (cfg, str(out), g, j)) for g, j in plan]
        shortfall: dict[str, int] = {}
        records = _run(tasks, workers, report, "rendering")
    else:
        scan_key = {"n": num_frames, "size": build["size"], "prompts": build["prompts"], "segmenter": build.get("segmenter")}
        scan_dir = work / f"scan-{sha256_json(scan_key)[:12]}"
        scan_workers = workers if getattr(src_obj, "parallel_scan", False) else 1
        scans = _run([(scan_video, (src_obj, str(scan_dir), pid, num_frames, build["size"])) for pid in pool_ids], scan_workers, report, "scanning")
        pool_hash = sha256_json(sorted([s["pool_id"], s["input_hash"], s["prompt"]] for s in scans))
        by_group: dict[str, list[str]] = {g: [] for g in GROUPS}
        scan_by_id = {}
        for s in scans:
            if s.get("excluded"):
                continue
            tracks = tuple(ObjectTrack.from_json(o) for o in s["objects"])
            kept, _ = filter_tracks(tracks, s["height"], s["width"], track_filter)
            if kept:
                by_group[group_for_count(len(kept))].append(s["pool_id"])
                scan_by_id[s["pool_id"]] = s
        if not scan_by_id:  # --allow-short must not turn "nothing usable" into an empty benchmark
            too_short = [s for s in scans if s.get("excluded")]
            lengths = sorted({int(s.get("num_frames_available", 0)) for s in too_short})
            have = f" (they have {lengths[0]}..{lengths[-1]} frames)" if lengths else ""
            reasons = []
            if too_short:
                reasons.append(f"{len(too_short)} shorter than --frames {num_frames}{have}")
            if len(scans) > len(too_short):
                reasons.append(f"{len(scans) - len(too_short)} with no object passing the track filter {track_filter}")
            raise InputError(
                f"{src_path}: no video of the pool is usable ({len(scans)} videos: {'; '.join(reasons)}); "
                "lower --frames or use another source folder"
            )
        shortfall = {g: per_group - len(by_group[g]) for g in GROUPS if len(by_group[g]) < per_group}
        if shortfall and not allow_short:
            counts = ", ".join(f"{g}: {len(by_group[g])}" for g in GROUPS)
            short = ", ".join(f"group {g!r} has {len(by_group[g])} of {per_group}" for g in shortfall)
            excluded = sum(1 for s in scans if s.get("excluded"))
            raise InputError(
                f"{src_path}: the pool is too small: {short} (pool counts by group: {counts}; "
                f"{plural(excluded, 'video')} excluded as too short). Use a larger pool, a smaller --per-group, "
                "or --allow-short to record the shortfall in the manifest"
            )
        chosen = stratified_sample(by_group, per_group, seed)
        prefix = source
        tasks = [
            (pool_item, (src_obj, str(out), item_id(prefix, g, j), g, scan_by_id[pid], asdict(track_filter), num_frames, build["size"]))
            for g in GROUPS for j, pid in enumerate(chosen[g])
        ]
        records = _run(tasks, workers if getattr(src_obj, "parallel_write", True) else 1, report, "writing")

    items = [r["info"] for r in records]
    files = {rel: digest for r in records for rel, digest in r["files"].items()}
    groups = {g: 0 for g in GROUPS}
    for it in items:
        groups[it["group"]] += 1
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "build": build,
        "source_pool_hash": pool_hash,
        "groups": groups,
        "shortfall": shortfall,
        "items": items,
        "files": dict(sorted(files.items())),
    }
    atomic_write_json(out / MANIFEST, manifest)
    report.done(f"built {len(items)} videos into {out}")
    return out


def _check_out(out: Path, build: dict[str, Any]) -> None:
    """Refuse to mix two different builds in one directory (resuming the same build is fine)."""
    started = any((out / WORK_DIR / "done").glob("*.json")) or (out / MANIFEST).is_file()
    for path in (out / MANIFEST, out / WORK_DIR / "build.json"):
        if path.is_file() and started:  # a build that wrote nothing yet may be restarted with other arguments
            try:
                previous = json.loads(path.read_text())
            except ValueError:
                continue
            previous = previous.get("build", previous) if path.name == MANIFEST else previous
            if previous != build:
                raise InputError(
                    f"{out}: holds a different build ({path.name} differs from the arguments given); "
                    "choose another --out or delete that folder"
                )
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")


def _run(tasks: list[tuple[Callable[..., Any], tuple]], workers: int, report: "_Progress", label: str) -> list[Any]:
    """Run tasks (results in task order) inline or in a process pool, with progress."""
    results: list[Any] = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        with report.task(label, len(tasks)) as advance:
            for i, (fn, args) in enumerate(tasks):
                results[i] = fn(*args)
                advance()
        return results
    from concurrent.futures import FIRST_COMPLETED, wait

    from .pool import process_pool

    with process_pool(min(workers, len(tasks))) as pool:
        # all workers start here, before the progress display starts its thread
        futures = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(tasks)}
        pending = set(futures)
        try:
            with report.task(label, len(tasks)) as advance:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        results[futures[fut]] = fut.result()  # re-raises a worker's error here
                        advance()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return results


class _Progress:
    """A rich progress bar per phase, or nothing."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.console = None
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True)

    def task(self, label: str, total: int):
        from contextlib import contextmanager

        @contextmanager
        def cm():
            if not self.enabled:
                yield lambda: None
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            cols = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
            with Progress(*cols, console=self.console) as prog:
                tid = prog.add_task(label, total=total)
                yield lambda: prog.advance(tid, 1)

        return cm()

    def done(self, message: str) -> None:
        if self.console is not None:
            self.console.print(message, soft_wrap=True)  # a path in it stays whole, on one line
