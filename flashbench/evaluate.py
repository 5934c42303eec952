"""The evaluation runner: requests -> generation cache -> metrics -> results.

Every per-video step writes its own file atomically into the run directory, so a crash or
Ctrl-C loses nothing and the next run resumes. Aggregation reads those files in manifest
order, which makes the numbers independent of batch size, order and process count.

Run directory layout::

    run.json                 identity: generator, benchmark, protocol, seed
    videos/<id>.mkv          generated videos (lossless)
    records/<id>.json        generation record: status, error, latency, cache key
    scores/<id>.json         per-video IoU rows and metric cache key
    features/<id>.npz        per-video generated-side FID/FVD features (float32), only until the
                             group statistics are written: they can be re-extracted from the video
    stats/*.npz              per-group generated-side feature statistics (float64, compact)
    results.json, videos.csv, plots/*.png

The real side (ground-truth features, segmenter ceilings and their group statistics) lives in
the benchmark's feature cache, shared by every run on that benchmark.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, paths
from .aggregate import STAT_NAMES, VideoOutcome, aggregate, group_tag
from .data import trajectory as traj_ops
from .data import video as video_io
from .data.video import resize_frames
from .data.benchmark import Benchmark, Sample
from .data.schema import GROUPS, ItemInfo, ObjectTrack
from .distributed import DistContext
from .errors import FlashBenchError, InputError
from .generators.base import GenerationRequest, Generator, as_generated
from .generators.builtin import safe_name
from .protocol import Protocol
from .provenance import code_hash, git_revision, package_versions
from .seeding import item_seed
from .utils.atomic import atomic_path, atomic_write_bytes, atomic_write_json, sha256_json

RESULTS_FORMAT = "flashbench-results"
RESULTS_VERSION = 1


@dataclass
class EvalConfig:
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    bench: Path | None = None
    groups: tuple[str, ...] | None = None
    limit: int | None = None  # videos per group
    trajectory: str | None = None
    run_dir: Path | None = None
    seed: int = 0
    batch_size: int = 1
    extractor: str = "auto"  # auto | official | proxy
    segmenter: str = "auto"  # auto | sam2 | tracker
    device: str = "cpu"
    label: str | None = None
    protocol: Protocol | None = None
    bootstrap: int = 1000
    progress: bool = True
    retry_failed: bool = False  # generate again the videos whose record says failed


@dataclass
class Plan:
    """Everything resolved before any work starts."""

    bench: Benchmark
    protocol: Protocol
    items: list[ItemInfo]
    eval_frames: int  # ground-truth frames the protocol considers
    gen_frames: int  # frames requested from the generator
    gt_indices: np.ndarray  # ground-truth frame of each generated frame
    run_dir: Path
    identity: dict[str, Any]
    embedded: bool


# ----------------------------------------------------------------------------- planning


def _generator_identity(model: str, model_args: dict[str, Any], gen: Generator) -> dict[str, Any]:
    info = gen.info.to_dict()
    return {"model": model, "model_args": {k: str(v) for k, v in sorted(model_args.items())}, "info": info}


def plan(cfg: EvalConfig, gen: Generator, bench_root: Path, embedded: bool, protocol: Protocol) -> Plan:
    bench = Benchmark.open(bench_root)
    info = gen.info
    trajectory = cfg.trajectory or protocol.trajectory
    if trajectory not in traj_ops.TRAJECTORY_TYPES:
        raise InputError(f"--trajectory {trajectory!r}: choose one of {', '.join(traj_ops.TRAJECTORY_TYPES)}")
    protocol = protocol.with_(trajectory=trajectory)
    if trajectory not in info.trajectory_types:
        raise InputError(f"generator {info.name!r} does not take {trajectory!r} trajectories (it takes {list(info.trajectory_types)}); pass --trajectory")
    items = bench.select(cfg.groups, cfg.limit)
    if not items:
        raise InputError(f"{bench.root}: no videos selected (groups={cfg.groups}, limit={cfg.limit})")
    eval_frames, gen_frames, gt_indices = frame_alignment(bench, items, protocol, info.max_frames)
    identity = _generator_identity(cfg.model, cfg.model_args, gen)
    run_dir = cfg.run_dir or default_run_dir(cfg.model, bench, protocol, cfg.seed, identity)
    return Plan(bench, protocol, items, eval_frames, gen_frames, gt_indices, Path(run_dir), identity, embedded)


def frame_alignment(bench: Benchmark, items: Sequence[ItemInfo], protocol: Protocol, max_frames: int | None) -> tuple[int, int, np.ndarray]:
    """(ground-truth frames scored, frames requested, ground-truth frame of each requested frame)."""
    counts = {i.num_frames for i in items}
    if len(counts) != 1:
        raise InputError(f"{bench.root}: videos have different frame counts {sorted(counts)}; the protocol needs one")
    stored = counts.pop()
    eval_frames = protocol.num_frames or stored
    if eval_frames > stored:
        raise InputError(f"protocol asks for {eval_frames} frames but the benchmark stores {stored}")
    gen_frames = min(eval_frames, max_frames) if max_frames else eval_frames
    return eval_frames, gen_frames, video_io.uniform_indices(eval_frames, gen_frames)


def default_run_dir(model: str, bench: Benchmark, protocol: Protocol, seed: int, identity: dict[str, Any]) -> Path:
    key = sha256_json({"identity": identity, "bench": bench.manifest_hash, "protocol": protocol.hash(), "seed": seed})[:10]
    return paths.runs_dir() / f"{safe_name(model)}-{safe_name(bench.name)}-{key}"


def _run_header(p: Plan, seed: int) -> dict[str, Any]:
    return {
        "generator": p.identity,
        "benchmark": {"name": p.bench.name, "manifest_hash": p.bench.manifest_hash},
        "protocol_hash": p.protocol.hash(),
        "seed": seed,
        "gen_frames": p.gen_frames,
    }


def prepare_run_dir(p: Plan, seed: int) -> None:
    """Create the run directory, or check that an existing one belongs to this evaluation."""
    header = _run_header(p, seed)
    path = p.run_dir / "run.json"
    # temporaries of a killed run: never listed anywhere, safe to drop before work starts
    for stale in p.run_dir.glob("*/.*.tmp*"):
        stale.unlink(missing_ok=True)
    if path.is_file():
        old = json.loads(path.read_text())
        if sha256_json(old) != sha256_json(header):
            diff = [k for k in header if old.get(k) != header[k]]
            raise InputError(
                f"{p.run_dir}: holds a run of a different evaluation (differs in {diff}); choose another --run-dir or delete it"
            )
        return
    for sub in ("videos", "records", "scores", "features", "stats"):
        (p.run_dir / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, header)


# ----------------------------------------------------------------------------- generation


def build_request(sample: Sample, p: Plan, seed: int) -> GenerationRequest:
    ann = sample.annotation
    traj = traj_ops.from_annotation(ann, p.protocol.trajectory, p.protocol.sparse_box_frames)
    if p.eval_frames != ann.num_frames or p.gen_frames != ann.num_frames:
        traj = traj_ops.resample(traj, p.gt_indices)
    return GenerationRequest(
        video_id=sample.video_id,
        first_frame=sample.first_frame(),
        prompt=sample.info.prompt,
        trajectory=traj,
        num_frames=p.gen_frames,
        height=sample.info.height,
        width=sample.info.width,
        seed=item_seed(seed, sample.video_id),
        fps=sample.info.fps,
        map_style=p.protocol.map_style,
    )


def check_output(frames: Any, req: GenerationRequest) -> tuple[np.ndarray, bool]:
    """Validate one generator output; returns frames at the request size and whether they were resized."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"output is {type(frames).__name__}, expected a numpy array")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"output has shape {frames.shape}, expected (T, H, W, 3)")
    if frames.dtype != np.uint8:
        if np.issubdtype(frames.dtype, np.floating) and not np.isfinite(frames).all():
            raise ValueError("output contains NaN or infinite values")
        raise ValueError(f"output dtype is {frames.dtype}, expected uint8")
    if frames.shape[0] != req.num_frames:
        raise ValueError(f"output has {frames.shape[0]} frames, {req.num_frames} were requested")
    resized = frames.shape[1:3] != (req.height, req.width)
    return resize_frames(frames, req.height, req.width), resized


def _record_key(p: Plan, req_hash: str, input_key: str | None = None) -> str:
    key = {"identity": p.identity, "request": req_hash}
    if input_key is not None:  # a generator reading files (video-folder): their content
        key["input"] = input_key
    return sha256_json(key)[:20]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def generate_missing(gen: Generator, p: Plan, items: Sequence[ItemInfo], seed: int, batch_size: int, progress: Callable[[int], None],
                     retry_failed: bool = False) -> None:
    """Generate every item without a valid record (and, with ``retry_failed``, every failed one);
    write video then record, each atomically."""
    input_key = getattr(gen, "input_key", None)
    todo: list[tuple[GenerationRequest, str]] = []
    for info in items:
        sample = p.bench.sample(info.video_id)
        req = build_request(sample, p, seed)
        key = _record_key(p, req.content_hash(), input_key(info.video_id) if input_key else None)
        rec = _read_json(p.run_dir / "records" / f"{info.video_id}.json")
        done = rec["status"] == "ok" and (p.run_dir / "videos" / f"{info.video_id}.mkv").is_file() if rec else False
        if rec and rec.get("key") == key and (done or (rec["status"] != "ok" and not retry_failed)):
            progress(1)
            continue
        todo.append((req, key))
        if len(todo) == batch_size:
            _generate_batch(gen, p, todo, progress)
            todo = []
    if todo:
        _generate_batch(gen, p, todo, progress)


def _generate_batch(gen: Generator, p: Plan, batch: list[tuple[GenerationRequest, str]], progress: Callable[[int], None]) -> None:
    reqs = [r for r, _ in batch]
    t0 = time.perf_counter()
    try:
        outs = list(gen.generate(reqs))
        if len(outs) != len(reqs):
            raise ValueError(f"generator returned {len(outs)} videos for {len(reqs)} requests")
        errors: list[str | None] = [None] * len(reqs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a failing model must not stop the benchmark
        if len(reqs) > 1:  # isolate the culprit: retry one by one
            for item in batch:
                _generate_batch(gen, p, [item], progress)
            return
        outs, errors = [None], [f"{type(exc).__name__}: {exc}"]
    latency = (time.perf_counter() - t0) / len(reqs)
    for (req, key), out, err in zip(batch, outs, errors):
        record: dict[str, Any] = {"video_id": req.video_id, "key": key, "latency_s": latency, "denoise_s": None}
        if err is None:
            try:
                g = as_generated(out)
                frames, resized = check_output(g.frames, req)
                record.update(status="ok", error=None, denoise_s=g.denoise_seconds, resized=resized, frames=int(frames.shape[0]))
                video_io.write_video(p.run_dir / "videos" / f"{req.video_id}.mkv", frames, fps=req.fps)
            except (ValueError, FlashBenchError) as exc:
                err = str(exc)
        if err is not None:
            record.update(status="failed", error=err)
        atomic_write_json(p.run_dir / "records" / f"{req.video_id}.json", record)
        progress(1)


# ----------------------------------------------------------------------------- metrics


@dataclass
class Scorers:
    fid: Any
    fvd: Any
    segmenter: Any
    device: str = "cpu"

    def identity(self) -> dict[str, Any]:
        return {"fid": self.fid.info.to_dict(), "fvd": self.fvd.info.to_dict(), "segmenter": self.segmenter.info.to_dict()}

    def cache_key(self) -> dict[str, Any]:
        """Everything besides the inputs that decides a per-video number: the scoring code,
        the extractors (weights), the device and the floating-point types."""
        import torch

        return {
            "flashbench": __version__, "code": code_hash(), "scorers": self.identity(), "device": self.device,
            "dtype": str(torch.get_default_dtype()), "segmenter_dtype": str(getattr(self.segmenter, "dtype", None)),
        }


def load_scorers(cfg: EvalConfig, protocol: Protocol) -> Scorers:
    from .metrics import load_i3d, load_inception, load_segmenter

    seg_mode = cfg.segmenter
    if seg_mode == "auto" and cfg.extractor in ("official", "proxy"):
        seg_mode = "sam2" if cfg.extractor == "official" else "tracker"
    return Scorers(
        fid=load_inception(cfg.extractor, device=cfg.device),
        fvd=load_i3d(cfg.extractor, device=cfg.device),
        segmenter=load_segmenter(seg_mode, model=protocol.segmenter, prompt=protocol.sam2_prompt, device=cfg.device),
        device=cfg.device,
    )


def segmenter_warning(scorers: Scorers, p: Plan) -> str | None:
    """Said in the console and in results.json: proxy IoU on a benchmark that is not FlashBench-Synth."""
    from .metrics import proxy_iou_warning

    return proxy_iou_warning(scorers.segmenter.info, p.bench.manifest.get("build", {}).get("source"))


def _subset(obj: ObjectTrack, idx: np.ndarray) -> ObjectTrack:
    return ObjectTrack(obj.index, obj.label, tuple(obj.rles[i] for i in idx), obj.boxes[idx], obj.visible[idx])


def _iou_fields(score: Any) -> dict[str, Any]:
    return {
        "mask_iou": score.mask_iou,
        "box_iou": score.box_iou,
        "coverage": score.coverage,
        "centroid_error": score.centroid_error,
        "objects": [
            {"index": o.index, "mask_iou": o.mask_iou, "box_iou": o.box_iou, "coverage": o.coverage,
             "centroid_error": o.centroid_error, "frames": o.frames_scored}
            for o in score.objects
        ],
    }


def _finite(obj: Any) -> Any:
    """JSON cannot hold NaN: store None for it."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def real_key_material(p: Plan, scorers: Scorers) -> dict[str, Any]:
    """What the real side of a video depends on besides the benchmark's content."""
    return {**scorers.cache_key(), "protocol": p.protocol.hash(), "gt_indices": p.gt_indices.tolist()}


def real_cache_subdir(p: Plan, scorers: Scorers) -> Path:
    """``<manifest hash>/<key>``: the real side's folder under a features root."""
    return Path(p.bench.manifest_hash[:16]) / sha256_json(real_key_material(p, scorers))[:16]


def _real_cache_dir(p: Plan, scorers: Scorers) -> Path:
    return paths.home() / "features" / real_cache_subdir(p, scorers)


def _real_entry(p: Plan, scorers: Scorers, vid: str) -> Path:
    """One video's cached real side. A missing entry is first copied from the package's copy for
    the embedded benchmark, found only under the same key (same content, scoring code,
    extractors, device, protocol), so it holds what this machine would compute."""
    from . import embedded

    cache = _real_cache_dir(p, scorers) / f"{vid}.npz"
    if not cache.is_file():
        shipped = embedded.FEATURES_DIR / real_cache_subdir(p, scorers) / f"{vid}.npz"
        if shipped.is_file():
            atomic_write_bytes(cache, shipped.read_bytes())
    return cache


def _real_side(sample: Sample, p: Plan, scorers: Scorers, fid_idx: np.ndarray, fvd_idx: np.ndarray,
               objects: list[ObjectTrack], gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Ground-truth features and the segmenter ceiling, cached across runs of any model."""
    from .metrics import fid_features, fvd_features, score_video

    cache = _real_entry(p, scorers, sample.video_id)
    if cache.is_file():
        with np.load(cache) as z:
            return z["fid"], z["fvd"], json.loads(str(z["ceiling"]))
    fid_real = fid_features(scorers.fid, gt[fid_idx]).astype(np.float32)
    fvd_real = fvd_features(scorers.fvd, gt[fvd_idx][None]).astype(np.float32)
    first = np.stack([o.mask(0) for o in objects])
    ceiling_pred = scorers.segmenter.segment(gt, masks=first, boxes=np.stack([o.boxes[0] for o in objects]))
    ceil = score_video(ceiling_pred, objects, skip_first=p.protocol.iou_skip_first_frame)
    ceiling = _finite({"mask_iou": ceil.mask_iou, "box_iou": ceil.box_iou})
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, fid=fid_real, fvd=fvd_real, ceiling=np.array(json.dumps(ceiling)))
    return fid_real, fvd_real, ceiling


def score_missing(p: Plan, items: Sequence[ItemInfo], scorers: Scorers, progress: Callable[[int], None]) -> None:
    """Per-video metrics for every generated item without a current score file."""
    from .metrics import fid_frame_indices, fvd_clip_indices, score_video

    metric_key = sha256_json({**scorers.cache_key(), "protocol": p.protocol.hash()})[:20]
    fid_idx = fid_frame_indices(p.gen_frames, skip_first=p.protocol.fid_skip_first_frame, stride=p.protocol.fid_frame_stride)
    fvd_idx = fvd_clip_indices(p.gen_frames, p.protocol.fvd_clip, p.protocol.fvd_clip_frames)
    for info in items:
        vid = info.video_id
        rec = _read_json(p.run_dir / "records" / f"{vid}.json")
        if rec is None:
            raise InputError(f"{p.run_dir}: no generation record for {vid}; rerun `flashbench eval` to generate it")
        score_path = p.run_dir / "scores" / f"{vid}.json"
        old = _read_json(score_path)
        if old and old.get("metric_key") == metric_key and old.get("record_key") == rec["key"] and old.get("status") == rec["status"]:
            progress(1)
            continue
        t0 = time.perf_counter()
        sample = p.bench.sample(vid)
        objects = [_subset(o, p.gt_indices) for o in sample.objects]
        gt = sample.frames()[: p.eval_frames][p.gt_indices]
        _, _, ceiling = _real_side(sample, p, scorers, fid_idx, fvd_idx, objects, gt)
        row: dict[str, Any] = {"video_id": vid, "metric_key": metric_key, "record_key": rec["key"], "status": rec["status"], "ceiling": ceiling}
        if rec["status"] == "ok":
            fake = video_io.read_video(p.run_dir / "videos" / f"{vid}.mkv", expected_frames=p.gen_frames)
            fid_fake, fvd_fake = _extract(scorers, fake, fid_idx, fvd_idx)
            first = np.stack([o.mask(0) for o in objects])
            pred = scorers.segmenter.segment(fake, masks=first, boxes=np.stack([o.boxes[0] for o in objects]))
            row.update(_finite(_iou_fields(score_video(pred, objects, skip_first=p.protocol.iou_skip_first_frame))))
            with atomic_path(p.run_dir / "features" / f"{vid}.npz") as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, fid_fake=fid_fake, fvd_fake=fvd_fake)
        row["metrics_s"] = time.perf_counter() - t0
        atomic_write_json(score_path, row)
        progress(1)


def load_outcome(p: Plan, info: ItemInfo) -> VideoOutcome:
    row = json.loads((p.run_dir / "scores" / f"{info.video_id}.json").read_text())
    nan = lambda v: math.nan if v is None else float(v)  # noqa: E731
    out = VideoOutcome(
        video_id=info.video_id, group=info.group, status=row["status"],
        mask_iou=nan(row.get("mask_iou")), box_iou=nan(row.get("box_iou")), coverage=nan(row.get("coverage")),
        centroid_error=nan(row.get("centroid_error")),
        ceiling_mask_iou=nan(row["ceiling"].get("mask_iou")), ceiling_box_iou=nan(row["ceiling"].get("box_iou")),
        extra=row,
    )
    return out


def _extract(scorers: Scorers, frames: np.ndarray, fid_idx: np.ndarray, fvd_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from .metrics import fid_features, fvd_features

    fid = fid_features(scorers.fid, frames[fid_idx]).astype(np.float32)
    fvd = fvd_features(scorers.fvd, frames[fvd_idx][None]).astype(np.float32)
    return fid, fvd


def _feature_indices(p: Plan) -> tuple[np.ndarray, np.ndarray]:
    from .metrics import fid_frame_indices, fvd_clip_indices

    fid_idx = fid_frame_indices(p.gen_frames, skip_first=p.protocol.fid_skip_first_frame, stride=p.protocol.fid_frame_stride)
    return fid_idx, fvd_clip_indices(p.gen_frames, p.protocol.fvd_clip, p.protocol.fvd_clip_frames)


def _fake_features(p: Plan, scorers: Scorers, vid: str) -> tuple[np.ndarray, np.ndarray]:
    """A generated video's features: from the scoring phase, else re-extracted from the video."""
    path = p.run_dir / "features" / f"{vid}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["fid_fake"], z["fvd_fake"]
    fake = video_io.read_video(p.run_dir / "videos" / f"{vid}.mkv", expected_frames=p.gen_frames)
    return _extract(scorers, fake, *_feature_indices(p))


def _real_features(p: Plan, scorers: Scorers, vid: str) -> tuple[np.ndarray, np.ndarray]:
    cache = _real_entry(p, scorers, vid)
    if not cache.is_file():  # the cache was cleared since scoring: rebuild this entry
        sample = p.bench.sample(vid)
        gt = sample.frames()[: p.eval_frames][p.gt_indices]
        _real_side(sample, p, scorers, *_feature_indices(p), [_subset(o, p.gt_indices) for o in sample.objects], gt)
    with np.load(cache) as z:
        return z["fid"], z["fvd"]


def _summed(sides: dict[str, list[np.ndarray]], files: dict[str, Path]) -> dict[str, Any]:
    """Statistics of each side's per-video features (manifest order), saved to ``files``."""
    from .metrics.frechet import FeatureStats

    out = {}
    for name, sets in sides.items():
        out[name] = FeatureStats.from_feature_sets(sets, sets[0].shape[1])
        out[name].save(files[name], feature_sets=sets)  # few vectors: the sets themselves are smaller
    return out


def group_statistics(p: Plan, scorers: Scorers, outcomes: Sequence[VideoOutcome]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per group the four Fréchet statistics (videos in manifest order) and where they are stored.

    The generated side is written to ``stats/`` once per set of scored videos and the
    per-video features are then dropped; the real side goes to the benchmark's feature cache.
    Paths in the listing are relative to the run directory (generated side) and to
    ``<FLASHBENCH_HOME>/features`` (real side).
    """
    from .metrics.frechet import FeatureStats

    features_root = paths.home() / "features"
    real_dir = _real_cache_dir(p, scorers) / "groups"
    index_path = p.run_dir / "stats" / "index.json"
    index = _read_json(index_path) or {}
    stats: dict[str, Any] = {}
    listing: dict[str, Any] = {}
    for g in GROUPS:
        sel = [o for o in outcomes if o.group == g]
        if not sel:
            continue
        ok = [o.video_id for o in sel if o.status == "ok"]
        stats[g] = {name: None for name in STAT_NAMES}
        listing[g] = {name: None for name in STAT_NAMES}
        if not ok:
            continue
        tag = group_tag(g)
        fake_files = {n: p.run_dir / "stats" / f"{n}_{tag}.npz" for n in ("fid_fake", "fvd_fake")}
        fake_key = sha256_json([[o.video_id, o.extra.get("record_key"), o.extra.get("metric_key")] for o in sel if o.status == "ok"])
        if index.get(tag) == fake_key and all(f.is_file() for f in fake_files.values()):
            fake = {n: FeatureStats.load(f) for n, f in fake_files.items()}
        else:
            feats = [_fake_features(p, scorers, v) for v in ok]
            fake = _summed({"fid_fake": [f for f, _ in feats], "fvd_fake": [v for _, v in feats]}, fake_files)
            index[tag] = fake_key
        real_files = {n: real_dir / f"{sha256_json(ok)[:16]}_{n}.npz" for n in ("fid_real", "fvd_real")}
        if all(f.is_file() for f in real_files.values()):
            real = {n: FeatureStats.load(f) for n, f in real_files.items()}
        else:
            feats = [_real_features(p, scorers, v) for v in ok]
            real = _summed({"fid_real": [f for f, _ in feats], "fvd_real": [v for _, v in feats]}, real_files)
        stats[g] = {**real, **fake}
        listing[g] = {n: f.relative_to(p.run_dir).as_posix() for n, f in fake_files.items()}
        listing[g] |= {n: f.relative_to(features_root).as_posix() for n, f in real_files.items()}
    atomic_write_json(index_path, index)
    return stats, listing


def drop_features(p: Plan, outcomes: Sequence[VideoOutcome]) -> None:
    """Per-video features are folded into the group statistics: keep the run directory lean."""
    for o in outcomes:
        (p.run_dir / "features" / f"{o.video_id}.npz").unlink(missing_ok=True)


# ----------------------------------------------------------------------------- results


def environment(device: str) -> dict[str, Any]:
    import torch

    git = git_revision(Path(__file__).parent, short=False) or None
    hw = platform.processor() or platform.machine()
    if device.startswith("cuda") and torch.cuda.is_available():
        hw = torch.cuda.get_device_name(0)
    return {
        "flashbench": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "platform": platform.platform(), "device": device, "hardware": hw, "cpu_count": os.cpu_count(), "git": git,
        "code_hash": code_hash(), "packages": package_versions(),
    }


def write_rows(p: Plan, outcomes: Sequence[VideoOutcome]) -> Path:
    import pandas as pd

    rows = []
    for o in outcomes:
        rec = _read_json(p.run_dir / "records" / f"{o.video_id}.json") or {}
        row = o.row()  # exactly the values the aggregate uses; written at full precision
        rows.append({
            **{k: row[k] for k in ("video_id", "group", "status")}, "error": rec.get("error"),
            **{k: row[k] for k in ("mask_iou", "box_iou", "coverage", "centroid_error", "ceiling_mask_iou", "ceiling_box_iou")},
            "denoise_s": rec.get("denoise_s"), "latency_s": rec.get("latency_s"), "resized": rec.get("resized"),
            "objects": json.dumps(o.extra.get("objects", [])),
        })
    path = p.run_dir / "videos.csv"
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return path


def build_results(cfg: EvalConfig, p: Plan, scorers: Scorers, outcomes: Sequence[VideoOutcome], wall: float) -> dict[str, Any]:
    expected = {g: 0 for g in GROUPS}
    for info in p.items:
        expected[info.group] += 1
    expected = {g: n for g, n in expected.items() if n}
    stats, listing = group_statistics(p, scorers, outcomes)
    agg = aggregate([o.row() for o in outcomes], stats, bootstrap=cfg.bootstrap, seed=cfg.seed)
    drop_features(p, outcomes)
    groups = agg["groups"]
    records = [_read_json(p.run_dir / "records" / f"{i.video_id}.json") or {} for i in p.items]
    denoise = [r["denoise_s"] for r in records if r.get("denoise_s") is not None]
    latency = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    metrics_s = [o.extra.get("metrics_s", 0.0) for o in outcomes]
    ident = scorers.identity()
    info0 = p.items[0]
    return {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_VERSION,
        "protocol": p.protocol.to_dict(),
        "protocol_hash": p.protocol.hash(),
        "benchmark": {
            "name": p.bench.name, "manifest_hash": p.bench.manifest_hash, "num_frames": p.eval_frames,
            "size": [info0.height, info0.width], "synthetic": p.bench.manifest.get("build", {}).get("source") == "synth",
            "embedded": p.embedded, "groups": sorted(expected, key=GROUPS.index), "limit": cfg.limit,
            "full": not cfg.groups and cfg.limit is None, "source": p.bench.manifest.get("build", {}).get("source"),
            "scoring": p.bench.manifest.get("scoring", "groups"),
        },
        "generator": p.identity["info"] | {"model": cfg.model, "model_args": p.identity["model_args"], "frames_generated": p.gen_frames},
        "label": cfg.label or p.identity["info"]["name"],
        "trajectory": p.protocol.trajectory,
        "extractors": {k: {"name": v["name"], "sha256": v["sha256"], "official": v["official"], "notes": v.get("notes", "")}
                       for k, v in ident.items()},
        "official": all(v["official"] for v in ident.values()),
        "seed": cfg.seed,
        "overall": agg["overall"],
        "groups": groups,
        "ceiling": agg["ceiling"],
        "statistics": {"bootstrap": cfg.bootstrap, "groups": listing},
        "timings": {
            "total_s": wall,
            "generation_s": float(sum(latency)),
            "metrics_s": float(sum(metrics_s)),
            "denoise_s_mean": float(np.mean(denoise)) if denoise else None,
            "latency_s_mean": float(np.mean(latency)) if latency else None,
        },
        "warnings": list(agg["notes"]) + [f"overall: {w}" for w in [segmenter_warning(scorers, p)] if w],
        "environment": environment(cfg.device),
        "rows": "videos.csv",
    }


# ----------------------------------------------------------------------------- entry point


def resolve_benchmark(cfg: EvalConfig, progress: bool) -> tuple[Path, bool, Protocol]:
    """The benchmark directory, whether it is the embedded default, and the protocol to use."""
    from . import embedded
    from .protocol import DEFAULT

    if cfg.bench is not None:
        return Path(cfg.bench), False, cfg.protocol or DEFAULT
    env = os.environ.get("FLASHBENCH_BENCH")
    if env:
        return Path(env), False, cfg.protocol or DEFAULT
    return embedded.ensure_benchmark(progress=progress), True, cfg.protocol or embedded.PROTOCOL


def run(cfg: EvalConfig, ctx: DistContext | None = None, console: Any = None) -> dict[str, Any] | None:
    """Evaluate ``cfg.model``; returns the results on rank 0 (None on other ranks)."""
    from .generators.registry import check_generator, load_generator
    from .ui import EvalUI

    ctx = ctx or DistContext()
    ui = EvalUI(enabled=ctx.is_main, progress=cfg.progress, console=console)
    t0 = time.perf_counter()
    check_generator(cfg.model, dict(cfg.model_args))  # a wrong name or option fails before the benchmark is built
    if ctx.is_main:
        bench_root, embedded_, protocol = resolve_benchmark(cfg, cfg.progress)
    ctx.barrier()
    if not ctx.is_main:
        bench_root, embedded_, protocol = resolve_benchmark(cfg, False)
    gen = load_generator(cfg.model, benchmark=str(bench_root), **cfg.model_args)
    p = plan(cfg, gen, bench_root, embedded_, protocol)
    scorers = load_scorers(cfg, p.protocol)
    ui.header(cfg, p, scorers)
    if hasattr(gen, "missing"):  # a folder of pre-generated videos: which selected ones it lacks
        ui.missing(gen.missing([i.video_id for i in p.items]), str(getattr(gen, "root", cfg.model)))
    if ctx.is_main:
        prepare_run_dir(p, cfg.seed)
    ctx.barrier()
    mine = p.items[ctx.rank :: ctx.world_size]
    # under torchrun rank 0's bars count every rank's videos (job-wide counters)
    counted = {stage: ctx.counter(stage) for stage in ("generating", "scoring")}
    total = len(p.items) if counted["generating"] else len(mine)
    with ui.task("generating", total, counted["generating"]) as advance:
        generate_missing(gen, p, mine, cfg.seed, cfg.batch_size, advance, retry_failed=cfg.retry_failed)
    with ui.task("scoring", total, counted["scoring"]) as advance:
        score_missing(p, mine, scorers, advance)
    ctx.barrier()
    if not ctx.is_main:
        return None
    outcomes = [load_outcome(p, info) for info in p.items]
    results = build_results(cfg, p, scorers, outcomes, time.perf_counter() - t0)
    write_rows(p, outcomes)
    atomic_write_json(p.run_dir / "results.json", results)
    if len(results["groups"]) > 1:
        from .report.plots import plot_by_object_count

        plot_by_object_count([results], p.run_dir / "plots", formats=("png",))
    ui.summary(results, p.run_dir, failures(p))
    return results


def failures(p: Plan) -> list[tuple[str, str]]:
    """(video id, reason) of every selected video whose generation failed, in manifest order."""
    out = []
    for info in p.items:
        rec = _read_json(p.run_dir / "records" / f"{info.video_id}.json") or {}
        if rec.get("status") != "ok":
            out.append((info.video_id, rec.get("error") or "no generation record"))
    return out
