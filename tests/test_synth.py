"""FlashBench-Synth: deterministic scenes with exact masks of the visible part of every object."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

from flashbench.data import synth
from flashbench.data.synth import MIN_AREA_FRAC, SynthVideo, iter_train, render_params, render_scene

SIZE, T = (64, 96), 9


def _hue_sat(rgb):
    x = rgb.astype(np.float64) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    d = np.maximum(mx - mn, 1e-9)
    hue = np.where(mx == r, (g - b) / d % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) * 60.0
    return hue, sat


def test_shapes_types_and_determinism():
    a = render_scene(7, 4, T, SIZE)
    b = render_scene(7, 4, T, SIZE)
    assert isinstance(a, SynthVideo) and a.frames.shape == (T, *SIZE, 3) and a.frames.dtype == np.uint8
    assert len(a.objects) == 4 and a.fps == 24.0 and a.params["num_frames"] == T
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.prompt == b.prompt and [o.rles for o in a.objects] == [o.rles for o in b.objects]
    c = render_scene(8, 4, T, SIZE)
    assert not np.array_equal(a.frames, c.frames)
    d = render_scene(7, 4, T, SIZE, split="train")
    assert not np.array_equal(a.frames, d.frames)  # the splits draw from disjoint seed spaces
    assert render_scene(0, 1).frames.shape == (121, 128, 224, 3)  # FlashBench defaults
    assert "np.random.seed" not in inspect.getsource(synth) and "np.random.rand(" not in inspect.getsource(synth)


def test_masks_are_exactly_the_visible_parts():
    video = render_scene(3, 5, T, SIZE)
    params = video.params
    masks = np.stack([o.masks() for o in video.objects])  # (K, T, H, W)
    # each object alone gives its full (unoccluded, frame-clipped) silhouette
    full = []
    for spec in params["objects"]:
        alone = copy.deepcopy(params)
        alone["objects"] = [spec]
        full.append(render_params(alone)[1] == 0)
    full = np.stack(full)
    depth = np.array([s["depth"] for s in params["objects"]])
    for k in range(len(full)):
        in_front = full[depth > depth[k]].any(axis=0) if (depth > depth[k]).any() else np.zeros_like(full[k])
        np.testing.assert_array_equal(masks[k], full[k] & ~in_front)
    assert (masks.sum(axis=0) <= 1).all()  # disjoint
    # pixels of no object are the (panned) background exactly; object pixels carry the object's hue
    empty = copy.deepcopy(params)
    empty["objects"] = []
    background = render_params(empty)[0]
    union = masks.any(axis=0)
    np.testing.assert_array_equal(video.frames[~union], background[~union])
    hue, sat = _hue_sat(video.frames)
    for k, spec in enumerate(params["objects"]):
        diff = np.abs((hue[masks[k]] - spec["hue"] + 180) % 360 - 180)
        assert diff.max() < 6, (k, diff.max())
    assert sat[union].min() > sat[~union].max()  # objects never share the background's colours


def test_objects_visible_at_frame_0_with_a_reasonable_area():
    h, w = SIZE
    for seed in range(6):
        video = render_scene(seed, 8, T, SIZE)
        for o in video.objects:
            assert o.visible[0]
            assert o.mask(0).sum() >= MIN_AREA_FRAC * h * w


def test_motion_is_varied_and_smooth():
    video = render_scene(11, 6, 33, (64, 96))
    steps = []
    for spec in video.params["objects"]:
        poses = np.array([synth.object_pose(spec, t / 32) for t in range(33)])  # cx, cy, r, angle
        steps.append(np.abs(np.diff(poses[:, :2], axis=0)).max())
        assert np.all(poses[:, 2] > 0)
    assert 0 < max(steps) < 0.1 * 96  # moves, but never jumps
    kinds = set()
    for seed in range(12):
        p = render_scene(seed, 3, 5, SIZE).params
        kinds |= {(s["path"], s["ease"]) for s in p["objects"]}
        kinds |= {("zoom", s["zoom"] > 1) for s in p["objects"] if s["zoom"] != 1}
        kinds |= {("pan", p["pan"] != [0.0, 0.0])}
    assert len(kinds) >= 8 and ("pan", True) in kinds and ("zoom", True) in kinds and ("zoom", False) in kinds


def test_prompt_describes_each_object():
    video = render_scene(5, 3, T, SIZE)
    for o in video.objects:
        assert o.label in video.prompt
    assert video.prompt.endswith(".") and "background" in video.prompt


def test_iter_train_is_lazy_and_deterministic():
    it = iter_train(4, seed=2, num_frames=5, size=SIZE, min_objects=2, max_objects=3)
    assert inspect.isgenerator(it)
    a = list(it)
    b = list(iter_train(4, seed=2, num_frames=5, size=SIZE, min_objects=2, max_objects=3))
    assert [len(v.objects) for v in a] == [len(v.objects) for v in b]
    assert all(2 <= len(v.objects) <= 3 for v in a)
    assert all(np.array_equal(x.frames, y.frames) for x, y in zip(a, b))
    assert all(v.params["split"] == "train" for v in a)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        render_scene(0, 1, T, SIZE, split="test")
    with pytest.raises(ValueError, match="num_objects"):
        render_scene(0, 0, T, SIZE)
