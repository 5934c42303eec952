"""``flashbench-flowtracker``: the default weight-free proxy segmenter, built for real footage.

Each frame, every object's previous mask is carried forward along dense optical flow (OpenCV
DIS, from the new frame back to the previous one, so each new pixel looks up where it came
from) and refined by a colour appearance model: per object a smoothed RGB histogram from its
frame-0 mask against a histogram of the background, both refreshed from each new frame's
segmentation. Per pixel, the log-odds of the flowed mask and the colour log-likelihood ratio
add up; objects compete for pixels (one object per pixel).

Lost-object detection: when the colours inside an object's flowed mask stop looking like the
object (their mean log-likelihood ratio falls below a share of its frame-0 value), the object
is declared lost and predicted empty, so coverage drops when an object leaves or vanishes. A
lost object is re-acquired near where its motion would have taken it when a region of its size
and colours appears there again (a stricter share than the loss test, so it does not flicker).

Prompts: ``prompt="mask"`` starts from the frame-0 masks; ``prompt="box"`` starts from the
frame-0 boxes alone, each segmented by GrabCut inside its box (the same switch as SAM2's
prompt in the protocol). Deterministic: fixed OpenCV RNG seed for GrabCut, no other randomness.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..utils.atomic import sha256_json
from .extractors import ExtractorInfo
from .tracking import centroid, check_inputs, colour_histogram, keep_connected, largest_component, quantise, search_window, shift_mask

PROMPTS = ("mask", "box")


@dataclass(frozen=True)
class FlowTrackerConfig:
    prompt: str = "mask"  # frame-0 prompt: "mask" or "box" (GrabCut inside the box)
    flow_levels: int = 3  # Farneback pyramid levels (scale 0.5)
    flow_window: int = 9  # Farneback averaging window (pixels)
    flow_iterations: int = 3
    max_points: int = 300  # flow vectors sampled per object for its motion fit
    refine: int = 2  # whole-pixel search (+-) refining each object's motion by photometric match
    bits: int = 4  # colour quantisation per channel (16 levels -> 4096 bins)
    hist_sigma: float = 0.8  # histogram smoothing in bins
    flow_confidence: float = 0.95  # flowed-mask probability is clipped to [1 - c, c]
    flow_blur: float = 1.0  # Gaussian sigma (pixels) on the flowed mask: flow is unsure at edges
    appearance_weight: float = 0.7  # weight of the colour log-likelihood ratio against the flow log-odds
    llr_clip: float = 4.0  # colour log-likelihood ratios are clipped to +-this
    band: int = 4  # an object may grow at most this many pixels beyond its flowed mask per frame
    object_rate: float = 0.2  # refresh rate of the recent part of object colour models (from eroded masks)
    object_anchor: float = 0.5  # share of the frame-0 histogram in an object's model (stops drift)
    local_background: float = 0.5  # share of the ring around an object in its background model
    ring: int = 10  # outer radius (pixels) of that ring
    background_rate: float = 0.3  # refresh rate of the background colour model
    lost_ratio: float = 0.35  # lost when colour evidence < this share of frame-0 evidence
    found_ratio: float = 0.6  # re-acquired when a candidate's evidence >= this share
    min_evidence: float = 0.5  # objects whose frame-0 colour evidence is weaker cannot be judged lost by colour
    min_keep: float = 0.1  # keep connected parts at least this share of the largest kept part
    occlusion_share: float = 0.6  # a mask below this share of its carried outline keeps the outline
    grabcut_iters: int = 5
    version: int = 1


class FlowTracker:
    """Weight-free proxy segmenter: optical-flow propagation + colour appearance + lost-object detection."""

    def __init__(self, config: FlowTrackerConfig | None = None, prompt: str | None = None):
        config = config or FlowTrackerConfig()
        if prompt is not None:
            config = FlowTrackerConfig(**{**asdict(config), "prompt": prompt})
        if config.prompt not in PROMPTS:
            raise ValueError(f"tracker prompt must be one of {PROMPTS}, got {config.prompt!r}")
        self.config = config
        self.info = ExtractorInfo(
            name=f"flashbench-flowtracker-v{config.version}",
            sha256=sha256_json({**asdict(config), "opencv": cv2.__version__}),
            official=False,
            dim=0,
            notes=(f"weight-free proxy for SAM2.1: {config.prompt} prompt on frame 0, Farneback optical flow "
                   f"(OpenCV {cv2.__version__}) + colour appearance, lost-object detection"),
        )

    # -- prompts
    def masks_from_boxes(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Frame-0 masks from xyxy boxes: GrabCut on a crop around each box (largest part kept)."""
        h, w, _ = frame.shape
        out = np.zeros((len(boxes), h, w), dtype=bool)
        for i, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int)):
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            pad = max(8, (max(x1 - x0, y1 - y0) + 1) // 2)
            cx0, cy0, cx1, cy1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
            box = np.zeros((h, w), dtype=bool)
            box[y0:y1, x0:x1] = True
            m = box
            if (cx1 - cx0) * (cy1 - cy0) > (x1 - x0) * (y1 - y0):  # GrabCut needs background pixels
                crop = np.ascontiguousarray(frame[cy0:cy1, cx0:cx1])
                label = np.zeros(crop.shape[:2], dtype=np.uint8)
                bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
                cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's RNG
                cv2.grabCut(crop, label, (x0 - cx0, y0 - cy0, x1 - x0, y1 - y0), bgd, fgd, self.config.grabcut_iters, cv2.GC_INIT_WITH_RECT)
                fg = np.zeros((h, w), dtype=bool)
                fg[cy0:cy1, cx0:cx1] = (label == cv2.GC_FGD) | (label == cv2.GC_PR_FGD)
                if fg.any():
                    m = largest_component(fg)
            out[i] = m
        return out

    # -- colour model
    def _llr(self, obj_hist: np.ndarray, bg_hist: np.ndarray, q: np.ndarray) -> np.ndarray:
        eps = 0.1 / obj_hist.size  # a tenth of a uniform bin: unseen colours stay finite
        table = np.clip(np.log(obj_hist + eps) - np.log(bg_hist + eps), -self.config.llr_clip, self.config.llr_clip)
        return table.astype(np.float32)[q]

    # -- tracking
    def segment(self, frames: np.ndarray, masks: np.ndarray | None = None, boxes: np.ndarray | None = None) -> np.ndarray:
        frames, masks, boxes = check_inputs(frames, masks, boxes)
        cfg = self.config
        if cfg.prompt == "box" or masks is None:
            if boxes is None:
                raise ValueError("box prompt requested but no boxes given")
            masks = self.masks_from_boxes(frames[0], boxes)
        t_len, h, w, _ = frames.shape
        k = masks.shape[0]
        out = np.zeros((k, t_len, h, w), dtype=bool)
        out[:, 0] = masks
        if k == 0 or t_len == 1:
            return out
        q = quantise(frames, cfg.bits)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        band_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.band + 1, 2 * cfg.band + 1))
        erode_kernel = np.ones((3, 3), np.uint8)

        ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.ring + 1, 2 * cfg.ring + 1))
        hist = lambda sel: colour_histogram(sel, cfg.bits, cfg.hist_sigma)  # noqa: E731

        def background(i: int, core: np.ndarray, qt: np.ndarray) -> np.ndarray:
            """Object i's background model: the whole background mixed with the ring around it."""
            ring = cv2.dilate(core.astype(np.uint8), ring_kernel).astype(bool) & ~cv2.dilate(core.astype(np.uint8), band_kernel).astype(bool)
            if not ring.any():
                return bg_hist
            return (1 - cfg.local_background) * bg_hist + cfg.local_background * hist(qt[ring])

        bg_hist = hist(q[0][~masks.any(axis=0)])
        obj_first = [hist(q[0][m]) for m in masks]
        obj_recent = list(obj_first)
        ref = np.array([self._llr(obj_first[i], background(i, masks[i], q[0]), q[0][masks[i]]).mean() if masks[i].any() else 0.0
                        for i in range(k)])
        present = masks.reshape(k, -1).any(axis=1)
        last = masks.copy()  # last non-empty mask of each object
        shape = masks.copy()  # each object's whole outline, kept through partial occlusion
        expected = masks.reshape(k, -1).sum(axis=1).astype(np.float64)  # its area, following the motion's scale
        last_c = np.array([centroid(m) for m in masks])
        vel = np.zeros((k, 2))
        lost_for = np.zeros(k, dtype=int)

        for t in range(1, t_len):
            flow = self._flow(gray[t - 1], gray[t])
            flowed = np.zeros((h, w, k), dtype=np.float32)
            for i in range(k):
                if lost_for[i] == 0 and present[i]:
                    flowed[..., i], scale = _carry(out[i, t - 1], shape[i], flow, gray[t - 1], gray[t], vel[i], cfg.max_points, cfg.refine)
                    expected[i] *= scale * scale
            scores = np.full((k, h, w), -np.inf, dtype=np.float32)
            cores: list[np.ndarray | None] = [None] * k
            for i in range(k):
                if not present[i]:
                    continue
                core = flowed[..., i] > 0.5
                obj = cfg.object_anchor * obj_first[i] + (1 - cfg.object_anchor) * obj_recent[i]
                llr = self._llr(obj, background(i, core if core.any() else last[i], q[t]), q[t])
                judged = ref[i] >= cfg.min_evidence
                if lost_for[i] == 0 and core.any() and not (judged and llr[core].mean() < cfg.lost_ratio * ref[i]):
                    p = np.clip(cv2.GaussianBlur(flowed[..., i], (0, 0), cfg.flow_blur), 1 - cfg.flow_confidence, cfg.flow_confidence)
                    s = np.log(p / (1 - p)) + cfg.appearance_weight * llr
                    reach = cv2.dilate(core.astype(np.uint8), band_kernel).astype(bool)
                    scores[i] = np.where(reach, s, -np.inf)
                    cores[i] = core
                elif judged:  # lost: look for it again where its motion would have taken it
                    cand = self._reacquire(llr, last[i], vel[i], lost_for[i] + 1, ref[i])
                    if cand is not None:
                        scores[i] = np.where(cand, cfg.appearance_weight * llr, -np.inf)
                        cores[i] = cand
            best = scores.argmax(axis=0)
            best_val = scores.max(axis=0)
            for i in range(k):
                m = (best == i) & (best_val > 0)
                if m.any() and cores[i] is not None:
                    m = keep_connected(m, cores[i], cfg.min_keep)
                if not m.any():
                    lost_for[i] += 1
                    continue
                c = centroid(m)
                vel[i] = 0.5 * vel[i] + 0.5 * (c - last_c[i]) / (lost_for[i] + 1)
                last[i], last_c[i], lost_for[i] = m, c, 0
                out[i, t] = m
                carried = cores[i] if lost_for[i] == 0 and cores[i] is not None else m
                # a mask much smaller than the object's expected area is most likely occluded in part:
                # carry its outline on instead, so it is whole again when it comes out
                if m.sum() >= cfg.occlusion_share * expected[i] or carried is m:
                    shape[i] = m
                    expected[i] = 0.9 * expected[i] + 0.1 * m.sum()
                else:
                    shape[i] = carried
                inner = cv2.erode(m.astype(np.uint8), erode_kernel).astype(bool)
                if inner.sum() >= 16:
                    obj_recent[i] = (1 - cfg.object_rate) * obj_recent[i] + cfg.object_rate * hist(q[t][inner])
            fg = cv2.dilate(out[:, t].any(axis=0).astype(np.uint8), band_kernel).astype(bool)
            if (~fg).any():
                bg_hist = (1 - cfg.background_rate) * bg_hist + cfg.background_rate * hist(q[t][~fg])
        return out

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dense forward flow from gray frame ``a`` to ``b`` (Farneback): ``a[p]`` moves to ``p + flow[p]``."""
        c = self.config
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, c.flow_levels, c.flow_window, c.flow_iterations, 5, 1.1, 0)

    def _reacquire(self, llr: np.ndarray, last: np.ndarray, vel: np.ndarray, steps: int, ref: float) -> np.ndarray | None:
        """Pixels of a lost object found again: the largest object-coloured region near its
        predicted position, of a size like its last mask and with strong enough colour evidence."""
        cfg = self.config
        dx, dy = np.round(vel * steps).astype(int)
        prior = shift_mask(last, int(dx), int(dy))
        area = float(last.sum())
        win, (y0, y1, x0, x1) = search_window(prior, 2.0 + 0.5 * math.sqrt(area) + 2.0 * steps)
        if win is None:
            return None
        sel = np.zeros(llr.shape, dtype=bool)
        sel[y0:y1, x0:x1] = win & (llr[y0:y1, x0:x1] > 0)
        if not sel.any():
            return None
        cand = largest_component(sel)
        n = float(cand.sum())
        if not 0.5 * area <= n <= 2.0 * area or llr[cand].mean() < cfg.found_ratio * ref:
            return None
        return cand


def _carry(mask: np.ndarray, outline: np.ndarray, flow: np.ndarray, prev_gray: np.ndarray, gray: np.ndarray,
           velocity: np.ndarray, max_points: int, refine: int) -> tuple[np.ndarray, float]:
    """An object's ``outline`` moved to the next frame by one similarity transform (shift,
    rotation, scale) estimated from its visible ``mask``.

    Candidates: the transform that best explains the flow inside the mask (RANSAC; OpenCV
    seeds its own RNG, so it is deterministic), the median flow shift and the object's recent
    velocity. The one whose moved pixels best match the new frame wins, then its shift is
    refined by up to ``refine`` pixels. One rigid motion per object keeps the shape intact
    where a dense warp would fray it; the appearance term then fixes what is not rigid."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return np.zeros((h, w), dtype=np.float32), 1.0
    step = max(1, xs.size // max_points)
    ys, xs = ys[::step], xs[::step]
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + flow[ys, xs]
    shift = lambda d: np.array([[1, 0, d[0]], [0, 1, d[1]]], dtype=np.float64)  # noqa: E731
    candidates = [shift(np.median(dst - src, axis=0)), shift(velocity)]
    if xs.size >= 3:
        a, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if a is not None:
            candidates.insert(0, a)
    m32 = mask.astype(np.float32)
    g_prev, g_new = prev_gray.astype(np.float32), gray.astype(np.float32)
    best = (np.inf, candidates[0])
    for a in candidates:
        err = _match_error(cv2.warpAffine(g_prev, a, (w, h), flags=cv2.INTER_LINEAR),
                           cv2.warpAffine(m32, a, (w, h), flags=cv2.INTER_LINEAR) > 0.5, g_new, refine)
        if err[0] < best[0]:
            best = (err[0], a + shift(err[1]) - shift((0, 0)))
    a = best[1]
    moved = cv2.warpAffine(outline.astype(np.float32), a, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return moved, float(np.sqrt(abs(np.linalg.det(a[:, :2]))))


def _match_error(moved: np.ndarray, moved_mask: np.ndarray, target: np.ndarray, refine: int) -> tuple[float, tuple[int, int]]:
    """Smallest mean squared difference between the moved object pixels and ``target`` over
    whole-pixel shifts of up to ``refine`` (masked template matching), and that shift (dx, dy)."""
    ys = np.flatnonzero(moved_mask.any(axis=1))
    if ys.size == 0:
        return np.inf, (0, 0)
    xs = np.flatnonzero(moved_mask.any(axis=0))
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    templ = np.ascontiguousarray(moved[y0:y1, x0:x1])
    weight = np.ascontiguousarray(moved_mask[y0:y1, x0:x1]).astype(np.float32)
    r = refine
    padded = cv2.copyMakeBorder(target, r, r, r, r, cv2.BORDER_REPLICATE)
    scores = cv2.matchTemplate(padded[y0:y1 + 2 * r, x0:x1 + 2 * r], templ, cv2.TM_SQDIFF, mask=weight)
    dy, dx = np.unravel_index(int(np.argmin(scores)), scores.shape)
    return float(scores[dy, dx]) / float(weight.sum()), (int(dx) - r, int(dy) - r)
