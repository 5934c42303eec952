"""Trajectory conditions and maps: map styles, render_maps and decode_map_boxes round trip."""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.data.schema import Annotation, ObjectTrack
from flashbench.data.trajectory import (
    MAP_STYLES,
    Trajectory,
    box_thickness,
    decode_map_boxes,
    from_annotation,
    render_maps,
    resample,
    sparse_frame_indices,
)

H, W, T = 40, 64, 9
FULL = MAP_STYLES["full-intensity"].colours(16)


def _annotation():
    """Three non-overlapping objects (a square, a tall bar, an L shape); object 2 leaves at frame 6."""
    masks = np.zeros((3, T, H, W), bool)
    for t in range(T):
        masks[0, t, 4 : 12, 2 + t : 10 + t] = True
        masks[1, t, 20 + t // 2 : 34 + t // 2, 30 : 34] = True
        if t < 6:
            masks[2, t, 5 : 15, 44 : 47] = True
            masks[2, t, 12 : 15, 44 : 56] = True
    objs = tuple(ObjectTrack.from_masks(k, f"o{k}", masks[k]) for k in range(3))
    return Annotation("v", T, H, W, objs), masks


@pytest.mark.parametrize("style", sorted(MAP_STYLES))
@pytest.mark.parametrize("kind", ["box", "mask"])
def test_maps_round_trip_to_the_boxes(kind, style):
    ann, masks = _annotation()
    traj = from_annotation(ann, kind)
    maps = render_maps(traj, style)
    colours = MAP_STYLES[style].colours(3)
    assert maps.shape == (T, H, W, 3) and maps.dtype == np.uint8
    decoded = decode_map_boxes(maps, 3, style)
    np.testing.assert_array_equal(decoded, traj.boxes)  # zeros where the object is gone, too
    # frame 0 is always the filled masks, in the colour of each object
    for k in range(3):
        np.testing.assert_array_equal(np.all(maps[0] == colours[k], axis=-1), masks[k, 0])
    if kind == "mask":
        for k in range(3):
            np.testing.assert_array_equal(np.all(maps == colours[k], axis=-1), masks[k])


def test_box_maps_are_outlines_of_the_documented_thickness():
    ann, _ = _annotation()
    maps = render_maps(from_annotation(ann, "box"), "full-intensity")
    th = box_thickness(H, W)
    assert th == 1 and box_thickness(240, 416) == 2 and box_thickness(704, 1280) == 7 and box_thickness(50, 99) == 1
    red = np.all(maps[3] == FULL[0], axis=-1)
    x0, y0, x1, y1 = 5, 4, 13, 12
    assert red[y0, x0:x1].all() and red[y1 - 1, x0:x1].all() and red[y0:y1, x0].all() and red[y0:y1, x1 - 1].all()
    assert not red[y0 + th : y1 - th, x0 + th : x1 - th].any()  # hollow
    assert red.sum() == 2 * (x1 - x0) + 2 * (y1 - y0) - 4


def test_thickness_rule_on_a_larger_frame():
    h, w = 240, 320
    m = np.zeros((2, h, w), bool)
    m[:, 50:150, 60:200] = True
    ann = Annotation("v", 2, h, w, (ObjectTrack.from_masks(0, "o", m),))
    maps = render_maps(from_annotation(ann, "box"), "full-intensity")
    hit = np.all(maps[1] == FULL[0], axis=-1)
    th = max(1, min(h, w) // 100)
    assert th == 2
    assert hit[50 : 50 + th, 100].all() and not hit[50 + th, 100]
    np.testing.assert_array_equal(decode_map_boxes(maps, 1, "full-intensity")[0, 1], [60, 50, 200, 150])


def test_sparse_box_unlisted_frames_are_black():
    ann, _ = _annotation()
    traj = from_annotation(ann, "sparse_box", sparse_frames=3)
    assert traj.frame_indices == (0, 4, 8) == sparse_frame_indices(T, 3)
    maps = render_maps(traj, "full-intensity")
    listed = set(traj.frame_indices)
    for t in range(T):
        assert maps[t].any() == (t in listed and (t == 0 or traj.visible[:, t].any()))
    decoded = decode_map_boxes(maps, 3, "full-intensity")
    for t in listed:
        np.testing.assert_array_equal(decoded[:, t], traj.boxes[:, t])


def test_resample_and_validation():
    ann, _ = _annotation()
    traj = from_annotation(ann, "sparse_box", sparse_frames=3)
    sub = resample(traj, [0, 2, 4, 6, 8])
    assert sub.num_frames == 5 and sub.frame_indices == (0, 2, 4)
    np.testing.assert_array_equal(sub.boxes, traj.boxes[:, [0, 2, 4, 6, 8]])
    with pytest.raises(ValueError):
        Trajectory("mask", traj.first_masks, traj.boxes, traj.visible)
    with pytest.raises(ValueError):
        from_annotation(ann, "points")
