"""Segmenters for the IoU metrics (protocol section 6): SAM2.1 or a weight-free tracker.

A segmenter takes a video (uint8 ``(T, H, W, 3)``) and frame-0 prompts for K objects
(masks ``(K, H, W)`` bool, or boxes ``(K, 4)`` xyxy) and returns ``(K, T, H, W)`` bool masks.

* ``sam2``: the SAM2.1 video predictor, prompted on frame 0 with each object's mask
  (``add_new_mask``) or box, propagated forward, logits > 0. Frames go to the model from
  memory (resized with PIL bicubic to the model's input size, as SAM2's own loader does),
  with no JPEG round trip.
* ``tracker``: :class:`~flashbench.metrics.flow_tracker.FlowTracker`
  (``flashbench-flowtracker-v1``), the weight-free proxy (``official: False``): optical flow,
  colour appearance and lost-object detection, honouring the protocol's prompt kind.
* :class:`ColorTracker` (``flashbench-tracker-v1``, the earlier proxy): per-object colour
  histograms against a background histogram, a motion prior and per-pixel arbitration. It
  fits FlashBench-Synth's flat colours but not real footage; kept for comparison
  (``benchmarks/bench_segmenter.py``), never chosen by :func:`load_segmenter`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import weights
from ..errors import InputError
from ..utils.atomic import sha256_json
from .extractors import ExtractorInfo
from .flow_tracker import PROMPTS, FlowTracker
from .tracking import centroid, check_inputs, colour_histogram, keep_connected, largest_component, quantise, search_window, shift_mask

SEGMENTER_MODES = ("auto", "sam2", "tracker")
SAM2_CONFIGS = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}


class Segmenter(Protocol):
    info: ExtractorInfo

    def segment(self, frames: np.ndarray, masks: np.ndarray | None = None, boxes: np.ndarray | None = None) -> np.ndarray:
        ...


# ----------------------------------------------------------------------------- weight-free tracker


@dataclass(frozen=True)
class TrackerConfig:
    bits: int = 4  # colour quantisation per channel (16 levels -> 4096 bins)
    hist_sigma: float = 0.8  # histogram smoothing in bins (tolerates colour drift)
    window_min: float = 4.0  # search-window radius floor in pixels
    window_scale: float = 0.35  # ... plus this times sqrt(object area)
    speed_scale: float = 1.0  # ... plus this times |velocity|
    lost_growth: float = 2.0  # extra radius per frame an object stays lost
    velocity_momentum: float = 0.5  # smoothing of the centroid velocity
    prior_bonus: float = 0.15  # added to an object's posterior inside its moved previous mask
    min_keep: float = 0.1  # keep connected parts at least this share of the largest kept part
    version: int = 1


class ColorTracker:
    """Weight-free proxy segmenter: colour appearance + motion prior + overlap arbitration."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        cfg = self.config.__dict__
        self.info = ExtractorInfo(
            name=f"flashbench-tracker-v{self.config.version}",
            sha256=sha256_json(cfg),
            official=False,
            dim=0,
            notes="weight-free colour-histogram + motion-prior tracker (proxy for SAM2.1)",
        )

    # -- appearance
    def _quantise(self, frames: np.ndarray) -> np.ndarray:
        return quantise(frames, self.config.bits)

    def _hist(self, q: np.ndarray) -> np.ndarray:
        return colour_histogram(q, self.config.bits, self.config.hist_sigma)

    def _posterior_table(self, q0: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(K + 1, bins) class posteriors (row 0: background) with equal class priors."""
        fg = masks.any(axis=0)
        hists = [self._hist(q0[~fg]) if (~fg).any() else np.zeros(1 << (3 * self.config.bits))]
        hists += [self._hist(q0[m]) for m in masks]
        table = np.stack(hists) + 1e-9
        return (table / table.sum(axis=0, keepdims=True)).astype(np.float32)

    def _masks_from_boxes(self, q0: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Frame-0 masks from boxes: pixels in the box whose colour is likelier inside than outside."""
        k = boxes.shape[0]
        h, w = q0.shape
        inside = np.zeros((k, h, w), dtype=bool)
        for i, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int)):
            inside[i, max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        table = self._posterior_table(q0, inside)
        post = table[:, q0]
        out = np.zeros_like(inside)
        for i in range(k):
            m = inside[i] & (post[i + 1] > post[0])
            out[i] = largest_component(m) if m.any() else inside[i]
        return out

    # -- tracking
    def segment(self, frames: np.ndarray, masks: np.ndarray | None = None, boxes: np.ndarray | None = None) -> np.ndarray:
        frames, masks, boxes = check_inputs(frames, masks, boxes)
        cfg = self.config
        t_len, h, w, _ = frames.shape
        q = self._quantise(frames)
        if masks is None:
            masks = self._masks_from_boxes(q[0], boxes)
        k = masks.shape[0]
        out = np.zeros((k, t_len, h, w), dtype=bool)
        if k == 0:
            return out
        out[:, 0] = masks
        table = self._posterior_table(q[0], masks)
        area0 = masks.reshape(k, -1).sum(axis=1).astype(np.float64)
        last = masks.copy()  # last non-empty mask of each object
        last_c = np.array([centroid(m) for m in masks])
        vel = np.zeros((k, 2))
        lost = np.zeros(k, dtype=int)
        for t in range(1, t_len):
            post = table[:, q[t]]  # (K + 1, H, W)
            score = np.zeros((k + 1, h, w), dtype=np.float32)
            score[0] = post[0]
            priors = []
            for i in range(k):
                if area0[i] == 0:
                    priors.append(None)
                    continue
                steps = lost[i] + 1
                shift = np.round(vel[i] * steps).astype(int)
                prior = shift_mask(last[i], shift[0], shift[1])
                radius = cfg.window_min + cfg.window_scale * math.sqrt(area0[i]) + cfg.speed_scale * float(np.hypot(*vel[i])) + cfg.lost_growth * lost[i]
                win, (y0, y1, x0, x1) = search_window(prior, radius)
                priors.append(prior)
                if win is None:
                    continue
                s = post[i + 1, y0:y1, x0:x1] + cfg.prior_bonus * prior[y0:y1, x0:x1]
                score[i + 1, y0:y1, x0:x1] = np.where(win, s, 0.0)
            label = score.argmax(axis=0)
            for i in range(k):
                m = label == i + 1
                if m.any():
                    m = keep_connected(m, priors[i], cfg.min_keep)
                if m.any():
                    c = centroid(m)
                    step = (c - last_c[i]) / (lost[i] + 1)
                    vel[i] = cfg.velocity_momentum * vel[i] + (1 - cfg.velocity_momentum) * step
                    last[i], last_c[i], lost[i] = m, c, 0
                    out[i, t] = m
                else:
                    lost[i] += 1
        return out


# ----------------------------------------------------------------------------- SAM2


@contextlib.contextmanager
def _frames_from_memory(images: Any, height: int, width: int):
    """Make SAM2's ``init_state`` take pre-normalised in-memory frames instead of reading files,
    and keep its per-video tqdm bar quiet (the caller shows progress)."""
    import sam2.sam2_video_predictor as svp

    original = svp.load_video_frames, getattr(svp, "tqdm", None)

    def load(video_path: Any, image_size: int, offload_video_to_cpu: bool, **_: Any):
        return images, height, width

    svp.load_video_frames = load
    if original[1] is not None:
        svp.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        svp.load_video_frames = original[0]
        if original[1] is not None:
            svp.tqdm = original[1]


class SAM2Segmenter:
    """SAM2.1 video predictor, prompted on frame 0 and propagated forward (logits > 0)."""

    def __init__(self, model: str = "sam2.1_hiera_large", prompt: str = "mask", device: str = "cpu",
                 checkpoint: str | None = None, random_init: bool = False, image_size: int | None = None):
        if model not in SAM2_CONFIGS:
            raise InputError(f"unknown SAM2 model {model!r}; choose one of {sorted(SAM2_CONFIGS)}")
        if prompt not in ("mask", "box"):
            raise InputError(f"SAM2 prompt must be 'mask' or 'box', got {prompt!r}")
        from sam2.build_sam import build_sam2_video_predictor

        if random_init:
            ckpt, digest, official = None, None, False
        elif checkpoint is not None:
            from ..utils.atomic import sha256_file

            ckpt, digest = str(checkpoint), sha256_file(checkpoint)
            expected, _ = weights.expected_sha256(model)
            official = expected is not None and digest == expected
        else:
            ckpt, digest, official = str(weights.require(model)), weights.verified_sha256(model), True
        # image_size other than the config's 1024 exists for fast plumbing tests; never official
        overrides = [f"++model.image_size={int(image_size)}"] if image_size else []
        try:
            self.predictor = build_sam2_video_predictor(SAM2_CONFIGS[model], ckpt_path=ckpt, device=device, hydra_overrides_extra=overrides)
        except (RuntimeError, KeyError, EOFError, ValueError) as exc:
            if ckpt is None:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
            raise InputError(
                f"{ckpt}: cannot load it as the {model} checkpoint ({type(exc).__name__}: {first}); import the right file "
                f"with `flashbench weights import {model} PATH --force`"
            ) from None
        self.prompt = prompt
        self.device = device
        official = official and not image_size
        name = model + ("(random-init)" if random_init else "") + (f"@{int(image_size)}" if image_size else "")
        notes = f"{prompt} prompt on frame 0, propagate, logits > 0; float32; frames in memory (PIL bicubic to {self.predictor.image_size})"
        try:
            from sam2 import _C  # noqa: F401
        except ImportError:
            notes += "; sam2._C missing, so SAM2 skips its fill-holes post-processing"
        self.info = ExtractorInfo(name=name, sha256=digest, official=official, dim=0, notes=notes)

    def _images(self, frames: np.ndarray):
        import torch
        from PIL import Image

        size = self.predictor.image_size
        mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        imgs = torch.empty(len(frames), 3, size, size, dtype=torch.float32)
        for i, f in enumerate(frames):
            arr = np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
            imgs[i] = torch.from_numpy(arr).permute(2, 0, 1)
        return ((imgs - mean) / std).to(self.device)

    def segment(self, frames: np.ndarray, masks: np.ndarray | None = None, boxes: np.ndarray | None = None) -> np.ndarray:
        import torch

        frames, masks, boxes = check_inputs(frames, masks, boxes)
        t_len, h, w, _ = frames.shape
        k = masks.shape[0] if masks is not None else boxes.shape[0]
        out = np.zeros((k, t_len, h, w), dtype=bool)
        use_mask = self.prompt == "mask" and masks is not None
        if not use_mask and boxes is None:
            raise ValueError("box prompt requested but no boxes given")
        with torch.inference_mode(), _frames_from_memory(self._images(frames), h, w):
            state = self.predictor.init_state(video_path="<memory>")
            prompted = []
            for i in range(k):
                if use_mask:
                    if not masks[i].any():
                        continue
                    self.predictor.add_new_mask(state, frame_idx=0, obj_id=i, mask=torch.from_numpy(masks[i]))
                else:
                    b = boxes[i]
                    if b[2] <= b[0] or b[3] <= b[1]:
                        continue
                    self.predictor.add_new_points_or_box(state, frame_idx=0, obj_id=i, box=b.astype(np.float32))
                prompted.append(i)
            if not prompted:
                return out
            for t, obj_ids, logits in self.predictor.propagate_in_video(state):
                pred = (logits[:, 0] > 0.0).cpu().numpy()
                for j, oid in enumerate(obj_ids):
                    out[int(oid), t] = pred[j]
        return out


def load_segmenter(mode: str = "auto", model: str = "sam2.1_hiera_large", prompt: str = "mask", device: str = "cpu",
                   checkpoint: str | None = None, random_init: bool = False, image_size: int | None = None) -> Segmenter:
    """``sam2`` (official when its checkpoint is in the cache), ``tracker`` (the weight-free
    :class:`FlowTracker` proxy, same prompt kind as SAM2 would get), or ``auto``."""
    if mode not in SEGMENTER_MODES:
        raise InputError(f"segmenter mode must be one of {SEGMENTER_MODES}, got {mode!r}")
    if mode == "auto":
        mode = "sam2" if (checkpoint is not None or random_init or weights.is_available(model)) else "tracker"
    if mode == "sam2":
        return SAM2Segmenter(model, prompt, device, checkpoint, random_init, image_size)
    if prompt not in PROMPTS:
        raise InputError(f"segmenter prompt must be one of {PROMPTS}, got {prompt!r}")
    return FlowTracker(prompt=prompt)


def proxy_iou_warning(info: ExtractorInfo, benchmark_source: str | None) -> str | None:
    """The warning a run owes its reader when IoU comes from a proxy segmenter on footage that
    is not FlashBench-Synth (whose flat-coloured objects are what the proxies are checked on)."""
    if info.official or benchmark_source == "synth":
        return None
    return (f"mask and box IoU come from the proxy segmenter {info.name}, not SAM2.1, on a benchmark that is not "
            f"FlashBench-Synth (source: {benchmark_source or 'unknown'}): a proxy of limited validity on real footage, "
            "not comparable to published numbers; `flashbench weights download sam2.1_hiera_large` gives the official one")
