"""Segmenters: the earlier colour tracker on FlashBench-Synth, mode selection and the SAM2.1 plumbing.
The default weight-free segmenter on real photographs: tests/test_flow_tracker.py."""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.errors import MissingWeightsError
from flashbench.metrics import ColorTracker, FlowTracker, load_segmenter, score_video


@pytest.fixture(scope="module")
def synth_videos():
    from flashbench.data.synth import render_scene

    return [render_scene(seed, k, num_frames=25, size=(128, 224)) for seed, k in enumerate((1, 2, 3, 4, 5, 7))]


def _first(v):
    return np.stack([o.mask(0) for o in v.objects]), np.stack([o.boxes[0] for o in v.objects])


def test_tracker_ceiling_on_synth_and_frozen_video_scores_lower(synth_videos):
    tracker = ColorTracker()
    assert tracker.info.official is False and tracker.info.name.startswith("flashbench-tracker") and len(tracker.info.sha256) == 64
    ceiling, frozen = [], []
    for v in synth_videos:
        masks, _ = _first(v)
        pred = tracker.segment(v.frames, masks=masks)
        assert pred.shape == (len(v.objects), 25, 128, 224) and pred.dtype == bool
        assert (pred.sum(axis=0) <= 1).all()  # overlaps resolved: one object per pixel
        np.testing.assert_array_equal(pred[:, 0], masks)
        ceiling.append(score_video(pred, v.objects).mask_iou)
        still = np.repeat(v.frames[:1], len(v.frames), axis=0)
        frozen.append(score_video(tracker.segment(still, masks=masks), v.objects).mask_iou)
    assert np.mean(ceiling) >= 0.85, ceiling
    assert min(ceiling) >= 0.7, ceiling
    assert np.mean(frozen) < np.mean(ceiling) - 0.3, (frozen, ceiling)


def test_tracker_tolerates_noise_and_box_prompts(synth_videos):
    rng = np.random.default_rng(0)
    tracker = ColorTracker()
    noisy_scores, box_scores = [], []
    for v in synth_videos[:4]:
        masks, boxes = _first(v)
        noisy = np.clip(v.frames + rng.normal(0, 12, v.frames.shape), 0, 255).astype(np.uint8)
        noisy_scores.append(score_video(tracker.segment(noisy, masks=masks), v.objects).mask_iou)
        box_scores.append(score_video(tracker.segment(v.frames, boxes=boxes), v.objects).box_iou)
    assert np.mean(noisy_scores) >= 0.85, noisy_scores
    assert np.mean(box_scores) >= 0.6, box_scores


def test_tracker_deterministic_and_validates(synth_videos):
    v = synth_videos[2]
    masks, _ = _first(v)
    a = ColorTracker().segment(v.frames, masks=masks)
    b = ColorTracker().segment(v.frames.copy(), masks=masks.copy())
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="uint8"):
        ColorTracker().segment(v.frames.astype(np.float32), masks=masks)
    with pytest.raises(ValueError, match="prompt masks"):
        ColorTracker().segment(v.frames, masks=masks[:, :10])
    with pytest.raises(ValueError, match="prompt"):
        ColorTracker().segment(v.frames)


def test_segmenter_modes_without_weights():
    assert isinstance(load_segmenter("auto"), FlowTracker)
    assert isinstance(load_segmenter("tracker"), FlowTracker)
    with pytest.raises(MissingWeightsError, match="flashbench weights download sam2.1_hiera_large"):
        load_segmenter("sam2")
    with pytest.raises(Exception, match="segmenter mode"):
        load_segmenter("magic")


def test_a_wrong_sam2_checkpoint_is_named(tmp_path, monkeypatch):
    """A readable torch file that is not the checkpoint fails with its path and the fix, not a state-dict traceback."""
    import torch

    from flashbench import weights
    from flashbench.errors import InputError

    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "home"))
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": {"not_a_sam2_key": torch.zeros(2)}}, wrong)
    weights.import_file("sam2.1_hiera_tiny", wrong)
    with pytest.raises(InputError, match=r"sam2\.1_hiera_tiny\.pt: cannot load it as the sam2\.1_hiera_tiny checkpoint.*--force"):
        load_segmenter("sam2", model="sam2.1_hiera_tiny")


def test_sam2_inmemory_frames_match_sam2_loader(tmp_path):
    """Our in-memory frames equal what SAM2's own folder loader makes of the same pixels (PNG bytes, no JPEG loss)."""
    import torch
    from PIL import Image
    from sam2.utils.misc import load_video_frames

    seg = load_segmenter("sam2", model="sam2.1_hiera_tiny", random_init=True, image_size=64)
    frames = np.random.default_rng(1).integers(0, 256, (2, 24, 40, 3), dtype=np.uint8)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"{i}.jpg", format="PNG")
    ref, h, w = load_video_frames(str(tmp_path), 64, offload_video_to_cpu=True, compute_device=torch.device("cpu"))
    assert (h, w) == (24, 40)
    torch.testing.assert_close(seg._images(frames), ref, rtol=1e-5, atol=1e-5)


def test_sam2_random_init_end_to_end():
    """Plumbing only: a randomly initialised SAM2.1 tiny (no checkpoint), tiny video and model input size."""
    from flashbench.data.synth import render_scene

    v = render_scene(3, 2, num_frames=3, size=(32, 48))
    masks, boxes = _first(v)
    seg = load_segmenter("sam2", model="sam2.1_hiera_tiny", random_init=True, image_size=128)
    assert seg.info.official is False and "random-init" in seg.info.name and seg.info.sha256 is None
    pred = seg.segment(v.frames, masks=masks)
    assert pred.shape == (2, 3, 32, 48) and pred.dtype == bool
    # on the prompted frame SAM2.1 returns the prompt mask, up to its low-res mask round trip
    inter = (pred[:, 0] & masks).sum(axis=(1, 2))
    union = (pred[:, 0] | masks).sum(axis=(1, 2))
    assert (inter / union > 0.9).all()
    score = score_video(pred, v.objects)
    assert 0.0 <= score.mask_iou <= 1.0
