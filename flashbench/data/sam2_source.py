"""Raw videos plus a prompt file as a benchmark source, annotated by a SAM2 video predictor.

Layout::

    SRC/<id>.mp4 (or .mkv, .avi, .mov, .webm; also accepted under SRC/videos/)
    SRC/prompts.json   (or any file given with --prompts)

``prompts.json`` maps each video id (file stem) to its text prompt and its frame-0 objects,
either as boxes or as one colour-coded mask image (one colour per object on black, as in
MagicData), in the video's own pixel coordinates::

    {"dog_run": {"prompt": "a dog runs left", "boxes": [[10, 20, 80, 90], [100, 40, 150, 120]]},
     "cars":    {"prompt": "two cars pass",   "mask": "cars_frame0.png"}}

Mask paths are relative to the prompt file. Each video's first ``num_frames`` frames are
segmented by the segmenter interface of :mod:`flashbench.metrics.segment` (SAM2.1, prompted on
frame 0 and propagated; logits > 0), which the builder then filters, groups and samples like
any other pool. The segmenter is injectable, so the plumbing is testable without weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FlashBenchError, InputError
from ..utils.atomic import sha256_file, sha256_json


class VideoPromptSource:
    """Videos + prompt file; ``scan`` runs the segmenter (in this process), ``frames`` decodes."""

    name = "videos"
    parallel_scan = False  # one segmenter, loaded once, in the main process

    def __init__(
        self,
        root: str | os.PathLike,
        prompts: str | os.PathLike | None = None,
        segmenter: Any = None,
        model: str = "sam2.1_hiera_large",
        device: str = "cpu",
        checkpoint: str | None = None,
    ):
        from .video import VIDEO_EXTS

        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: source folder not found")
        folder = self.root / "videos" if (self.root / "videos").is_dir() else self.root
        self.videos = {
            p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")
        }
        self.prompt_file = Path(prompts) if prompts is not None else self.root / "prompts.json"
        if not self.prompt_file.is_file():
            raise InputError(f"{self.prompt_file}: prompt file not found; write a JSON of {{video id: {{prompt, boxes | mask}}}} (see docs/benchmark-format.md)")
        try:
            self.entries = json.loads(self.prompt_file.read_text())
        except ValueError as exc:
            raise InputError(f"{self.prompt_file}: not valid JSON ({exc})") from exc
        if not isinstance(self.entries, dict):
            raise InputError(f"{self.prompt_file}: expected a JSON object keyed by video id")
        self.model, self.device, self.checkpoint = model, device, checkpoint
        self._segmenter = segmenter
        self._loaded: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # worker processes only decode frames: never ship a model to them
        state = dict(self.__dict__)
        state["_segmenter"], state["_loaded"] = None, {}
        return state

    def pool_ids(self) -> list[str]:
        if not self.videos:
            raise InputError(f"{self.root}: empty source folder (no videos)")
        missing = [v for v in self.videos if v not in self.entries]
        if missing:
            raise InputError(f"{self.prompt_file}: no entry for video(s) {missing[:5]}; add a prompt and frame-0 boxes or mask for each")
        return sorted(self.videos)

    def segmenter(self, kind: str) -> Any:
        if self._segmenter is not None:
            return self._segmenter
        if kind not in self._loaded:
            try:
                from ..metrics.segment import load_segmenter
            except ImportError as exc:
                raise FlashBenchError(f"the SAM2 segmenter is not available in this installation ({exc})") from exc
            self._loaded[kind] = load_segmenter(mode="sam2", model=self.model, prompt=kind, device=self.device, checkpoint=self.checkpoint)
        return self._loaded[kind]

    def _prompt_objects(self, pool_id: str, height: int, width: int, size: tuple[int, int]) -> tuple[str, np.ndarray | None, np.ndarray | None, list[str]]:
        """Prompt kind, frame-0 masks (K, h, w) or boxes (K, 4) at the target size, extra hashes."""
        from .video import resize_masks

        entry = self.entries[pool_id]
        where = f"{self.prompt_file} [{pool_id!r}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("prompt", ""), str):
            raise InputError(f"{where}: expected {{\"prompt\": text, \"boxes\": [[x0, y0, x1, y1], ...]}} or {{\"prompt\": text, \"mask\": file}}")
        sy, sx = size[0] / height, size[1] / width
        if "boxes" in entry:
            try:
                boxes = np.asarray(entry["boxes"], dtype=np.float64).reshape(-1, 4)
            except (ValueError, TypeError) as exc:
                raise InputError(f"{where}: boxes must be a list of [x0, y0, x1, y1] ({exc})") from exc
            if boxes.shape[0] == 0 or np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
                raise InputError(f"{where}: every box needs x1 > x0 and y1 > y0, and at least one box is needed")
            if np.any(boxes < 0) or np.any(boxes[:, [0, 2]] > width) or np.any(boxes[:, [1, 3]] > height):
                raise InputError(f"{where}: boxes exceed the video's {width}x{height} frame")
            return "box", None, boxes * np.array([sx, sy, sx, sy]), []
        if "mask" in entry:
            from .magicdata import decode_mask_image

            path = (self.prompt_file.parent / entry["mask"]).resolve()
            if not path.is_file():
                raise InputError(f"{where}: mask file {path} not found")
            _, masks = decode_mask_image(path)
            if masks.shape[1:] != (height, width):
                raise InputError(f"{path}: the mask is {masks.shape[2]}x{masks.shape[1]}, the video is {width}x{height}")
            return "mask", resize_masks(masks, size), None, [sha256_file(path)]
        raise InputError(f"{where}: give frame-0 'boxes' or a 'mask' file")

    def scan(self, pool_id: str, num_frames: int, size: tuple[int, int] | None) -> dict[str, Any]:
        from . import video as video_io
        from .schema import ObjectTrack

        path = self.videos[pool_id]
        frames = video_io.read_video(path)
        n_video, height, width = frames.shape[:3]
        prompt = self.entries[pool_id].get("prompt", "") if isinstance(self.entries[pool_id], dict) else ""
        base = {"prompt": prompt, "fps": video_io.frame_rate(path), "num_frames_available": int(n_video)}
        if n_video < num_frames:
            return {**base, "excluded": f"{n_video} frames < {num_frames}", "input_hash": sha256_file(path), "objects": [], "height": 0, "width": 0}
        target = size or (height, width)
        kind, masks0, boxes0, extra = self._prompt_objects(pool_id, height, width, target)
        frames = video_io.resize_frames(frames[:num_frames], *size) if size else frames[:num_frames]
        k_count = masks0.shape[0] if masks0 is not None else boxes0.shape[0]
        seg = np.asarray(self.segmenter(kind).segment(frames, masks=masks0, boxes=boxes0))
        if seg.shape != (k_count, num_frames) + tuple(target) or seg.dtype != bool:
            raise FlashBenchError(
                f"{path}: the segmenter returned {seg.dtype} {seg.shape}, expected bool {(k_count, num_frames) + tuple(target)}"
            )
        tracks = [ObjectTrack.from_masks(k, f"object {k}", seg[k]).to_json() for k in range(k_count)]
        digest = sha256_json([sha256_file(path), sha256_json(self.entries[pool_id]), *extra])
        return {**base, "excluded": None, "input_hash": digest, "objects": tracks, "height": int(target[0]), "width": int(target[1])}

    def frames(self, pool_id: str, num_frames: int, size: tuple[int, int] | None) -> np.ndarray:
        from . import video as video_io

        frames = video_io.read_video(self.videos[pool_id], list(range(num_frames)))
        return video_io.resize_frames(frames, *size) if size else frames
