"""Export a benchmark's generation conditions as plain files, for models run outside FlashBench.

Each exported video gets exactly the condition the harness would hand an in-process generator
(``evaluate.build_request``: same frame alignment, trajectory type, sparse frames and seed),
written as files any code can read without FlashBench::

    OUT/manifest.json                 what was exported and, per video, where its files are
    OUT/README.txt                    the layout below, in words
    OUT/<video_id>/first_frame.png    the conditioning image (H x W RGB)
    OUT/<video_id>/prompt.txt         the text prompt (UTF-8, one line)
    OUT/<video_id>/maps/00000.png ... the trajectory maps, one PNG per requested frame
    OUT/<video_id>/maps.mkv           the same maps as a lossless video (with --maps video|both)
    OUT/<video_id>/conditions.json    per-object boxes, visibility, colour, masks as COCO RLE

The generated video for ``<video_id>`` goes to ``<folder>/<video_id>.mp4`` (or another of
``video.VIDEO_EXTS``) with
``num_frames`` frames; ``flashbench eval --model video-folder --model-arg path=<folder>``
scores the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError
from ..protocol import Protocol
from ..utils.atomic import atomic_path, atomic_write_json, atomic_write_text
from . import rle as rle_ops
from . import trajectory as traj_ops
from . import video as video_io

EXPORT_FORMAT = "flashbench-export"
EXPORT_VERSION = 1
MAP_OUTPUTS = ("png", "video", "both")

README = """\
FlashBench conditions export ({name}, {count} videos, trajectory {trajectory}, {frames} frames of {height}x{width}).

For each video id (listed in manifest.json, key "items"):
  <video_id>/first_frame.png   the first frame to condition on (RGB)
  <video_id>/prompt.txt        the text prompt
  <video_id>/maps/NNNNN.png    trajectory maps ({map_style} style), one per output frame: black
                               background, each object in its colour (conditions.json); frame 0
                               filled masks; box: outlines; mask: filled masks; sparse_box:
                               black except the listed frames
  <video_id>/conditions.json   per object: colour, boxes [x0, y0, x1, y1] per frame (pixels,
                               right/bottom exclusive), visibility, frame-0 mask and (mask
                               trajectories) per-frame masks as COCO RLE; the seed to use
Write the generated video as <video_id>.mp4 (or .{other_exts}) with {frames} frames into one
folder, then score it:
  flashbench eval --model video-folder --model-arg path=FOLDER --bench {bench}
"""


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    videos: int
    num_frames: int
    height: int
    width: int


def parse_size(size: str | None) -> tuple[int, int] | None:
    """``HxW`` -> (H, W); None stays None."""
    if size is None:
        return None
    from .builder import _parse_size

    return _parse_size(size)


def scale_trajectory(traj: traj_ops.Trajectory, height: int, width: int) -> traj_ops.Trajectory:
    """The condition at another pixel size: boxes scaled, masks nearest-neighbour."""
    h0, w0 = traj.size
    if (h0, w0) == (height, width):
        return traj
    scale = np.array([width / w0, height / h0, width / w0, height / h0])
    masks = video_io.resize_masks(traj.masks, (height, width)) if traj.masks is not None else None
    return traj_ops.Trajectory(traj.type, video_io.resize_masks(traj.first_masks, (height, width)), traj.boxes * scale,
                               traj.visible, masks, traj.frame_indices)


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _conditions(req: Any, traj: traj_ops.Trajectory, style: traj_ops.MapStyle, labels: Sequence[str], output: str) -> dict[str, Any]:
    listed = np.flatnonzero(traj.listed()).tolist()
    objects = []
    for k in range(traj.num_objects):
        obj = {
            "index": k,
            "label": labels[k],
            "colour": [int(c) for c in style.colour(k)],
            "boxes": [[round(float(v), 3) for v in b] for b in traj.boxes[k]],
            "visible": [bool(v) for v in traj.visible[k]],
            "first_mask": rle_ops.encode(traj.first_masks[k]),
        }
        if traj.masks is not None:
            obj["masks"] = rle_ops.encode_stack(traj.masks[k])
        objects.append(obj)
    return {
        "video_id": req.video_id, "prompt": req.prompt, "seed": req.seed, "fps": req.fps,
        "num_frames": req.num_frames, "height": traj.size[0], "width": traj.size[1],
        "trajectory": traj.type, "map_style": style.name, "listed_frames": listed, "objects": objects, "output": output,
    }


def check_options(trajectory: str | None, map_style: str | None, maps: str) -> None:
    """Refuse unknown option values before any work (such as building the embedded benchmark)."""
    if maps not in MAP_OUTPUTS:
        raise InputError(f"--maps {maps!r}: choose one of {', '.join(MAP_OUTPUTS)}")
    if trajectory is not None and trajectory not in traj_ops.TRAJECTORY_TYPES:
        raise InputError(f"--trajectory {trajectory!r}: choose one of {', '.join(traj_ops.TRAJECTORY_TYPES)}")
    if map_style is not None and map_style not in traj_ops.MAP_STYLES:
        raise InputError(f"--map-style {map_style!r}: choose one of {', '.join(traj_ops.MAP_STYLES)}")


@dataclass(frozen=True)
class ExportPlan:
    plan: Any  # evaluate.Plan: the frame alignment and protocol every request is built with
    out: Path
    style: traj_ops.MapStyle
    size: tuple[int, int] | None
    maps: str
    seed: int

    @property
    def items(self) -> list[Any]:
        return self.plan.items


def plan_export(
    bench_root: Path,
    out: Path,
    *,
    protocol: Protocol,
    embedded: bool = False,
    trajectory: str | None = None,
    map_style: str | None = None,
    frames: int | None = None,
    size: tuple[int, int] | None = None,
    maps: str = "png",
    groups: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> ExportPlan:
    """Check the arguments and resolve what to export; nothing is written."""
    from ..evaluate import Plan, frame_alignment
    from .benchmark import Benchmark

    check_options(trajectory, map_style, maps)
    protocol = protocol.with_(trajectory=trajectory or protocol.trajectory, map_style=map_style or protocol.map_style)
    style = traj_ops.get_map_style(protocol.map_style)
    bench = Benchmark.open(bench_root)
    items = bench.select(groups, limit)
    if not items:
        raise InputError(f"{bench.root}: no videos selected (groups={groups}, limit={limit})")
    eval_frames, gen_frames, gt_indices = frame_alignment(bench, items, protocol, frames)
    if frames is not None and frames > eval_frames:
        raise InputError(f"--frames {frames}: the benchmark has {eval_frames} frames; ask for at most that many")
    p = Plan(bench, protocol, list(items), eval_frames, gen_frames, gt_indices, out, {}, embedded)
    return ExportPlan(p, out, style, size, maps, seed)


def write_export(ep: ExportPlan, progress: Callable[[int], None] = lambda n: None) -> ExportSummary:
    """Write the conditions of the planned videos under ``ep.out`` (each file written atomically)."""
    from ..evaluate import build_request

    p, out, style, size, maps, seed = ep.plan, ep.out, ep.style, ep.size, ep.maps, ep.seed
    bench, protocol, items, gen_frames = p.bench, p.protocol, p.items, p.gen_frames
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for info in items:
        sample = bench.sample(info.video_id)
        req = build_request(sample, p, seed)
        height, width = size or (req.height, req.width)
        traj = scale_trajectory(req.trajectory, height, width)
        first = video_io.resize_frames(req.first_frame[None], height, width)[0]
        vdir = out / info.video_id
        _write_png(vdir / "first_frame.png", first)
        atomic_write_text(vdir / "prompt.txt", req.prompt + "\n")
        rendered = traj_ops.render_maps(traj, style=style.name)
        if maps in ("png", "both"):
            for t, image in enumerate(rendered):
                _write_png(vdir / "maps" / f"{t:05d}.png", image)
        if maps in ("video", "both"):
            video_io.write_video(vdir / "maps.mkv", rendered, fps=req.fps)
        output = f"{info.video_id}.mp4"
        labels = [o.label for o in sample.objects]
        atomic_write_json(vdir / "conditions.json", _conditions(req, traj, style, labels, output))
        entries.append({
            "video_id": info.video_id, "group": info.group, "num_objects": info.num_objects, "dir": info.video_id,
            "first_frame": f"{info.video_id}/first_frame.png", "prompt": req.prompt,
            "conditions": f"{info.video_id}/conditions.json",
            "maps": f"{info.video_id}/maps" if maps in ("png", "both") else None,
            "maps_video": f"{info.video_id}/maps.mkv" if maps in ("video", "both") else None,
            "output": output, "num_frames": gen_frames, "seed": req.seed,
        })
        progress(1)
    height, width = size or (items[0].height, items[0].width)
    manifest = {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
        "benchmark": {"name": bench.name, "manifest_hash": bench.manifest_hash, "root": str(bench.root.resolve())},
        "protocol": protocol.to_dict(), "protocol_hash": protocol.hash(),
        "trajectory": protocol.trajectory, "num_frames": gen_frames, "benchmark_frames": p.eval_frames,
        "source_frames": [int(i) for i in p.gt_indices], "height": height, "width": width, "seed": seed,
        "map_style": {"name": style.name, "description": style.description}, "items": entries,
    }
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_text(out / "README.txt", README.format(
        name=bench.name, count=len(entries), trajectory=protocol.trajectory, frames=gen_frames, height=height, width=width, map_style=style.name,
        bench=bench.root, other_exts=", .".join(e.lstrip(".") for e in video_io.VIDEO_EXTS if e != ".mp4")))
    return ExportSummary(out, len(entries), gen_frames, height, width)
