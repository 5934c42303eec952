"""The default weight-free segmenter (flashbench-flowtracker-v1) on real photographs with exact masks.

Clips: scikit-image's cat head and a coin cut out to known outlines, pasted over a real photograph
the camera pans across, moving along straight paths; the masks are exact because they are what was
pasted. Scored like the harness scores (frames 1.., against the true masks).
"""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.data.schema import ObjectTrack
from flashbench.metrics import ColorTracker, FlowTracker, load_segmenter, proxy_iou_warning, score_video
from flashbench.metrics.extractors import ExtractorInfo

SIZE = (96, 160)
FRAMES = 12


def _cutouts():
    import skimage.data as data
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    cat = data.chelsea()[40:260, 135:375]  # the cat's head, cut to an ellipse
    yy, xx = np.mgrid[0:cat.shape[0], 0:cat.shape[1]]
    head = ((yy - 110) / 110) ** 2 + ((xx - 120) / 120) ** 2 <= 1.0
    coins = data.coins()
    lab, _ = ndimage.label(ndimage.binary_fill_holes(coins > threshold_otsu(coins)))
    sl = ndimage.find_objects(lab)[lab[60, 55] - 1]  # one coin of the top row
    coin = lab[sl] == lab[60, 55]
    return [(cat, head, 26), (np.repeat(coins[sl][..., None], 3, axis=2), coin, 20)]


def _clip(removed: bool = False, speed: float = 1.0):
    """Frames (T, H, W, 3) and true masks (K, T, H, W) of two cut-outs over a panned photograph."""
    import cv2
    import skimage.data as data

    h, w = SIZE
    bg = cv2.resize(data.coffee(), (w + 40, h + 20), interpolation=cv2.INTER_AREA)
    objects = []
    for rgb, mask, size in _cutouts():
        scale = size / max(mask.shape)
        dsize = (round(mask.shape[1] * scale), round(mask.shape[0] * scale))
        objects.append((cv2.resize(rgb, dsize, interpolation=cv2.INTER_AREA), cv2.resize(mask.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) > 0))
    starts, steps = [(20, 30), (100, 50)], [(3.0, 1.0), (-2.5, 1.5)]
    frames = np.empty((FRAMES, h, w, 3), np.uint8)
    masks = np.zeros((len(objects), FRAMES, h, w), bool)
    for t in range(FRAMES):
        frame = bg[t:t + h, 2 * t:2 * t + w].copy()  # the camera pans
        if not (removed and t > 0):
            for k, ((rgb, m), (x0, y0), (dx, dy)) in enumerate(zip(objects, starts, steps)):
                x, y = round(x0 + speed * dx * t), round(y0 + speed * dy * t)
                frame[y:y + m.shape[0], x:x + m.shape[1]][m] = rgb[m]
                masks[k, t, y:y + m.shape[0], x:x + m.shape[1]] = m
        frames[t] = frame
    if removed:  # the condition still says where the objects should be
        masks = _clip()[1]
    return frames, masks


@pytest.fixture(scope="module")
def clip():
    frames, masks = _clip()
    objects = [ObjectTrack.from_masks(k, "cut-out", masks[k]) for k in range(len(masks))]
    return frames, masks, objects


def _boxes(objects):
    return np.stack([o.boxes[0] for o in objects])


def test_real_photo_cutouts_are_followed(clip):
    frames, masks, objects = clip
    seg = load_segmenter("tracker")
    assert isinstance(seg, FlowTracker) and seg.info.name == "flashbench-flowtracker-v1" and seg.info.official is False
    pred = seg.segment(frames, masks=masks[:, 0], boxes=_boxes(objects))
    assert pred.shape == masks.shape and pred.dtype == bool
    assert (pred.sum(axis=0) <= 1).all()  # one object per pixel
    score = score_video(pred, objects)
    assert score.mask_iou >= 0.85 and min(o.mask_iou for o in score.objects) >= 0.8, score
    assert score.coverage == 1.0


def test_removed_objects_are_predicted_empty(clip):
    """The objects vanish after frame 0: coverage drops to about nothing (the old tracker kept 100%)."""
    _, masks, objects = clip
    gone, _ = _clip(removed=True)
    score = score_video(load_segmenter("tracker").segment(gone, masks=masks[:, 0], boxes=_boxes(objects)), objects)
    assert score.coverage <= 0.1 and score.mask_iou <= 0.05, score


def test_slower_motion_scores_lower(clip):
    """Objects moving at 70% of the conditioned speed score well below the true video."""
    frames, masks, objects = clip
    slow, _ = _clip(speed=0.7)
    seg = load_segmenter("tracker")
    true = score_video(seg.segment(frames, masks=masks[:, 0]), objects).mask_iou
    wrong = score_video(seg.segment(slow, masks=masks[:, 0]), objects).mask_iou
    assert wrong <= true - 0.15, (true, wrong)


def test_box_prompt_is_used_when_the_protocol_says_box(clip):
    """With prompt "box" the frame-0 masks are ignored: each object starts from GrabCut in its box."""
    frames, masks, objects = clip
    by_box = load_segmenter("tracker", prompt="box")
    assert isinstance(by_box, FlowTracker) and by_box.config.prompt == "box" and "box prompt" in by_box.info.notes
    assert by_box.info.sha256 != load_segmenter("tracker").info.sha256  # cached numbers are keyed by the prompt
    wrong_masks = np.roll(masks[:, 0], 40, axis=2)  # a mask prompt elsewhere must not be followed
    pred = by_box.segment(frames, masks=wrong_masks, boxes=_boxes(objects))
    first = score_video(pred, objects, skip_first=False)
    assert all((p & m).sum() / (p | m).sum() >= 0.8 for p, m in zip(pred[:, 0], masks[:, 0]))
    assert first.mask_iou >= 0.8, first
    with pytest.raises(ValueError, match="no boxes"):
        by_box.segment(frames, masks=masks[:, 0])
    with pytest.raises(Exception, match="prompt"):
        load_segmenter("tracker", prompt="points")


def test_deterministic(clip):
    frames, masks, objects = clip
    a = FlowTracker().segment(frames, masks=masks[:, 0])
    b = FlowTracker().segment(frames.copy(), masks=masks[:, 0].copy())
    np.testing.assert_array_equal(a, b)
    c = FlowTracker(prompt="box").segment(frames, boxes=_boxes(objects))
    d = FlowTracker(prompt="box").segment(frames, boxes=_boxes(objects))
    np.testing.assert_array_equal(c, d)


def test_old_tracker_stays_available_under_its_own_name(clip):
    frames, masks, _ = clip
    old = ColorTracker()
    assert old.info.name == "flashbench-tracker-v1" and old.info.name != FlowTracker().info.name
    assert old.segment(frames, masks=masks[:, 0]).shape == masks.shape


def test_proxy_iou_warning_only_off_synth():
    proxy = FlowTracker().info
    official = ExtractorInfo(name="sam2.1_hiera_large", sha256="0" * 64, official=True, dim=0)
    assert proxy_iou_warning(proxy, "synth") is None
    assert proxy_iou_warning(official, "videos") is None
    text = proxy_iou_warning(proxy, "magicdata")
    assert "flashbench-flowtracker-v1" in text and "limited validity" in text and "magicdata" in text


def test_eval_without_sam2_on_a_non_synth_benchmark_says_so(tmp_path, monkeypatch):
    """Console and results.json carry the proxy-IoU warning on a MagicData benchmark.
    The segmenter is chosen as in any run without SAM2 weights; FID/FVD use mean-colour
    stand-ins (the networks are not what this checks, and cost minutes on a busy CPU)."""
    import io

    from helpers_data import make_magicdata
    from rich.console import Console

    import flashbench.metrics as metrics
    from flashbench.data.builder import build_benchmark
    from flashbench.evaluate import EvalConfig, run
    from flashbench.protocol import Protocol

    class MeanColour:
        info = ExtractorInfo(name="mean-colour", sha256=None, official=False, dim=3)

    monkeypatch.setattr(metrics, "load_inception", lambda *a, **k: MeanColour())
    monkeypatch.setattr(metrics, "load_i3d", lambda *a, **k: MeanColour())
    monkeypatch.setattr(metrics, "fid_features", lambda ext, frames, **k: frames.reshape(len(frames), -1, 3).mean(axis=1).astype(np.float64))
    monkeypatch.setattr(metrics, "fvd_features", lambda ext, v, **k: np.asarray(v).reshape(len(v), -1, 3).mean(axis=1).astype(np.float64))

    make_magicdata(tmp_path / "MagicData", {"a1": 1, "b2": 2}, num_frames=3)
    bench = tmp_path / "bench"
    build_benchmark("magicdata", bench, src=tmp_path / "MagicData", per_group=1, num_frames=3, size=None, seed=0, workers=1,
                    allow_short=True, progress=False)
    out = io.StringIO()
    cfg = EvalConfig(model="ground-truth", bench=bench, run_dir=tmp_path / "run", extractor="proxy", progress=False,
                     bootstrap=10, protocol=Protocol(fid_frame_stride=4))
    results = run(cfg, console=Console(file=out, width=400))
    warned = [w for w in results["warnings"] if "limited validity" in w]
    assert len(warned) == 1 and "flashbench-flowtracker-v1" in warned[0] and results["benchmark"]["synthetic"] is False
    assert results["extractors"]["segmenter"]["name"] == "flashbench-flowtracker-v1"
    assert out.getvalue().count("limited validity") >= 2  # in the header, before any work, and in the summary
