"""DAVIS 2016/2017 as a benchmark source (``flashbench build --source davis DAVIS_ROOT``).

Layout (the DAVIS 2017 release, which also carries the 2016 sets)::

    DAVIS_ROOT/JPEGImages/480p/<seq>/00000.jpg ...
    DAVIS_ROOT/Annotations/480p/<seq>/00000.png ...   indexed palette PNGs: 0 background,
                                                       k = object k, 255 void
    DAVIS_ROOT/ImageSets/<year>/<split>.txt           one sequence per line (the 2016 form,
                                                       "/JPEGImages/480p/<seq>/00000.jpg ...", is read too)

Rules (docs/benchmark-format.md, "DAVIS"):

* every sequence of the split is used, in split-file order; no sampling and no groups: a
  DAVIS benchmark is scored overall (the manifest says ``"scoring": "overall"``);
* each video is the first ``num_frames`` frames (49, as the paper evaluates DAVIS); a
  sequence with fewer frames is left out and listed under ``excluded`` in the manifest;
* an object absent from frame 0 cannot be conditioned on (the condition is its frame-0
  mask), so it is dropped and listed under the video's ``source.dropped`` with the frame it
  enters at; a sequence left with no object is excluded;
* void pixels (255) belong to no object; their count is recorded per video.

Malformed input (a missing frame or annotation, an annotation that is not a palette PNG, a
size mismatch, an empty split file) is an :class:`InputError` naming the file, raised before
anything is written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..utils.atomic import atomic_write_json, sha256_file, sha256_json
from .schema import FORMAT, FORMAT_VERSION, GROUPS, ObjectTrack, group_for_count
from .video import read_rgb_image

VOID = 255
DEFAULT_FRAMES = 49  # the paper evaluates DAVIS on the first 49 frames
FPS = 24.0  # DAVIS sequences are 24 fps captures
RESOLUTIONS = ("480p", "Full-Resolution")
_FRAME_RE = re.compile(r"^(\d{5})\.jpg$")
_SEQ_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def read_palette_png(path: Path) -> np.ndarray:
    """The (H, W) uint8 palette indices of a DAVIS annotation."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"{path}: missing annotation frame; DAVIS annotates every frame of its train and val sets")
    try:
        with Image.open(path) as im:
            if im.mode != "P":
                raise InputError(
                    f"{path}: not an indexed palette PNG (mode {im.mode}); DAVIS annotations store object k as palette "
                    "index k (0 background, 255 void): use the annotations of the DAVIS 2017 release"
                )
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: cannot read the annotation ({exc})") from exc


def read_prompts(path: Path) -> dict[str, str]:
    """Sequence -> prompt from a JSON object or a CSV with ``videoid``/``text`` columns."""
    if not path.is_file():
        raise InputError(f"{path}: prompt file not found")
    if path.suffix.lower() == ".csv":
        from .magicdata import read_prompt_csv

        return read_prompt_csv(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the prompt file ({exc}); expected a JSON object {{sequence: prompt}} or a CSV") from exc
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise InputError(f"{path}: expected a JSON object mapping each sequence name to its prompt (a string)")
    return obj


class DavisSource:
    """A DAVIS root folder: the sequences of one split at one resolution."""

    name = "davis"

    def __init__(self, root: str | os.PathLike, split: str = "val", resolution: str = "480p",
                 prompts: str | os.PathLike | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: DAVIS root folder not found")
        if resolution not in RESOLUTIONS:
            raise InputError(f"--resolution {resolution!r}: choose one of {', '.join(RESOLUTIONS)}")
        self.resolution = resolution
        self.images = self.root / "JPEGImages" / resolution
        self.annotations = self.root / "Annotations" / resolution
        for folder in (self.images, self.annotations):
            if not folder.is_dir():
                raise InputError(f"{folder}: missing; a DAVIS root holds JPEGImages/{resolution}/<seq>/ and Annotations/{resolution}/<seq>/")
        self.split_file = self._split_file(split)
        self.split = split
        self.sequences = self._read_split()
        self.prompt_file = Path(prompts) if prompts is not None else None
        self.prompts = read_prompts(self.prompt_file) if self.prompt_file is not None else None

    def _split_file(self, split: str) -> Path:
        """``val`` -> ImageSets/2017/val.txt (else 2016); ``2016/val`` names the year."""
        sets = self.root / "ImageSets"
        year, _, name = split.rpartition("/")
        # DAVIS 2016's own release keeps its split files under ImageSets/<resolution>/
        years = (year,) if year else ("2017", "2016", self.resolution)
        candidates = [sets / y / f"{name}.txt" for y in years]
        for path in candidates:
            if path.is_file():
                return path
        raise InputError(f"{candidates[0]}: split file not found (--split {split!r}; DAVIS lists splits as ImageSets/<year>/<split>.txt)")

    def _read_split(self) -> list[str]:
        try:
            lines = self.split_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.split_file}: cannot read the split file ({exc})") from exc
        seqs: list[str] = []
        for n, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            m = re.search(r"JPEGImages/[^/]+/([^/]+)/", line)  # the 2016 form lists frame paths
            seq = m.group(1) if m else line
            if not _SEQ_RE.match(seq):
                raise InputError(f"{self.split_file}, line {n}: {line!r} is not a sequence name")
            if seq not in seqs:
                seqs.append(seq)
        if not seqs:
            raise InputError(f"{self.split_file}: the split file lists no sequences")
        return seqs

    def frame_files(self, seq: str) -> list[Path]:
        folder = self.images / seq
        if not folder.is_dir():
            raise InputError(f"{folder}: missing frame folder of sequence {seq!r} listed in {self.split_file}")
        files = sorted(p for p in folder.iterdir() if _FRAME_RE.match(p.name))
        numbers = [int(_FRAME_RE.match(p.name).group(1)) for p in files]
        if not files:
            raise InputError(f"{folder}: no frames (expected 00000.jpg, 00001.jpg, ...)")
        if numbers != list(range(len(files))):
            gap = next(i for i, v in enumerate(numbers) if v != i)
            raise InputError(f"{folder / f'{gap:05d}.jpg'}: missing frame (frames must be numbered 00000.jpg .. without gaps)")
        return files

    def annotation_file(self, seq: str, t: int) -> Path:
        return self.annotations / seq / f"{t:05d}.png"

    def prompt(self, seq: str) -> str:
        if self.prompts is None:
            return ""
        if seq not in self.prompts:
            raise InputError(f"{self.prompt_file}: no prompt for sequence {seq!r}; add it or leave --prompts out (empty prompts, recorded)")
        return self.prompts[seq]

    def check(self, seq: str, num_frames: int) -> dict[str, Any]:
        """Cheap structural checks of one sequence (headers only); its plan entry."""
        from PIL import Image

        files = self.frame_files(seq)
        n = min(len(files), num_frames)
        with Image.open(files[0]) as im:
            width, height = im.size
        for t in range(n):
            path = self.annotation_file(seq, t)
            if not path.is_file():
                raise InputError(f"{path}: missing annotation frame {t} of sequence {seq!r}; DAVIS annotates every frame of its train and val sets")
            with Image.open(path) as im:
                if im.mode != "P":
                    raise InputError(
                        f"{path}: not an indexed palette PNG (mode {im.mode}); DAVIS annotations store object k as palette "
                        "index k (0 background, 255 void): use the annotations of the DAVIS 2017 release"
                    )
                if im.size != (width, height):
                    raise InputError(f"{path}: annotation is {im.size[0]}x{im.size[1]} but the frames of {seq!r} are {width}x{height}")
        return {"sequence": seq, "frames_available": len(files), "prompt": self.prompt(seq)}

    def load(self, seq: str, num_frames: int) -> tuple[np.ndarray, list[ObjectTrack], list[dict[str, Any]], dict[str, Any]]:
        """Frames (T, H, W, 3), kept tracks, dropped objects and provenance of one sequence."""
        files = self.frame_files(seq)[:num_frames]
        frames = np.stack([read_rgb_image(p) for p in files])
        if len({f.shape for f in frames}) != 1:
            raise InputError(f"{files[0].parent}: frames of different sizes")
        labels = np.stack([read_palette_png(self.annotation_file(seq, t)) for t in range(len(files))])
        if labels.shape[1:] != frames.shape[1:3]:
            raise InputError(f"{self.annotation_file(seq, 0)}: annotation size {labels.shape[2]}x{labels.shape[1]} differs from the frames' {frames.shape[2]}x{frames.shape[1]}")
        ids = [int(v) for v in np.unique(labels) if v not in (0, VOID)]
        kept: list[ObjectTrack] = []
        dropped: list[dict[str, Any]] = []
        for obj in ids:
            masks = labels == obj
            visible = masks.reshape(len(files), -1).any(axis=1)
            if not visible[0]:
                enters = int(np.argmax(visible))
                dropped.append({"label": f"davis object {obj}", "reason": f"not visible at frame 0 (enters at frame {enters})"})
                continue
            kept.append(ObjectTrack.from_masks(len(kept), f"davis object {obj}", masks))
        digest = sha256_json([sha256_file(p) for p in files] + [sha256_file(self.annotation_file(seq, t)) for t in range(len(files))])
        source = {
            "source": "davis", "sequence": seq, "split": self.split, "resolution": self.resolution, "input_sha256": digest,
            "void_pixels": int((labels == VOID).sum()), "dropped": dropped,
        }
        return frames, kept, dropped, source


def davis_item(source: DavisSource, out: str, vid: str, seq: str, num_frames: int, size: list[int] | None, prompt: str) -> dict[str, Any]:
    """Write one DAVIS video (a top-level function: runs in worker processes); None if excluded."""
    from .builder import _done_record, resize_frames, resize_masks, write_item

    out_path = Path(out)
    record = _done_record(out_path, vid)
    if record is not None:
        return record
    frames, kept, dropped, src = source.load(seq, num_frames)
    if not kept:
        return {"excluded": {"sequence": seq, "frames": int(frames.shape[0]), "reason": "no object visible at frame 0", "dropped": dropped}}
    if size is not None:
        frames = resize_frames(frames, tuple(size))
        kept = [ObjectTrack.from_masks(t.index, t.label, resize_masks(t.masks(), tuple(size))) for t in kept]
    return write_item(out_path, vid, group_for_count(len(kept)), frames, kept, prompt, FPS, src)


def build_davis(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str = "val",
    resolution: str = "480p",
    num_frames: int = DEFAULT_FRAMES,
    size: tuple[int, int] | str | None = None,
    prompts: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    name: str | None = None,
) -> Path:
    """Build (or resume) a DAVIS benchmark directory at ``out`` and return its path."""
    from .benchmark import MANIFEST
    from .builder import WORK_DIR, _check_out, _parse_size, _Progress, _run

    if num_frames < 1:
        raise InputError(f"--frames must be >= 1, got {num_frames}")
    size = _parse_size(size)
    source = DavisSource(src, split=split, resolution=resolution, prompts=prompts)
    out = Path(out)
    workers = max(1, int(workers or os.cpu_count() or 1))
    year = source.split_file.parent.name
    build = {
        "source": "davis", "src": Path(src).name, "split": f"{year}/{Path(source.split_file).stem}", "resolution": resolution,
        "prompts": source.prompt_file.name if source.prompt_file is not None else None,
        "num_frames": int(num_frames), "size": list(size) if size else None,
        "object_rule": "objects visible at frame 0", "short_sequences": "excluded",
    }
    name = name or f"davis-{year}-{Path(source.split_file).stem}-{resolution}-{num_frames}f" + (f"-{size[0]}x{size[1]}" if size else "")
    plan = [source.check(seq, num_frames) for seq in source.sequences]  # bad input fails before anything is written
    usable = [p for p in plan if p["frames_available"] >= num_frames]
    excluded = [
        {"sequence": p["sequence"], "frames": p["frames_available"], "reason": f"{p['frames_available']} frames < {num_frames}"}
        for p in plan if p["frames_available"] < num_frames
    ]
    if not usable:
        raise InputError(f"{source.split_file}: no sequence has {num_frames} frames (the longest has {max(p['frames_available'] for p in plan)}); lower --frames")
    _check_out(out, build)
    (out / WORK_DIR / "done").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / WORK_DIR / "build.json", build)
    report = _Progress(progress)
    tasks = [
        (davis_item, (source, str(out), f"davis-{p['sequence']}", p["sequence"], num_frames, build["size"], p["prompt"]))
        for p in usable
    ]
    records = _run(tasks, workers, report, "writing")
    excluded += [r["excluded"] for r in records if "excluded" in r]
    records = [r for r in records if "excluded" not in r]
    if not records:
        raise InputError(f"{source.split_file}: no sequence has an object visible at frame 0")
    items = [r["info"] for r in records]
    groups = {g: 0 for g in GROUPS}
    for it in items:
        groups[it["group"]] += 1
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "build": build,
        "scoring": "overall",
        "source_pool_hash": sha256_json(sorted([i["source"]["sequence"], i["source"]["input_sha256"], i["prompt"]] for i in items)),
        "groups": groups,
        "shortfall": {},
        "excluded": sorted(excluded, key=lambda e: source.sequences.index(e["sequence"])),
        "items": items,
        "files": dict(sorted({rel: d for r in records for rel, d in r["files"].items()}.items())),
    }
    atomic_write_json(out / MANIFEST, manifest)
    report.done(f"built {len(items)} DAVIS videos into {out} ({len(excluded)} sequences excluded, listed in the manifest)")
    return out
