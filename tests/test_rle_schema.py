"""COCO RLE masks and the schema: agreement with pycocotools and a dense numpy reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco

from flashbench.data import rle as rle_ops
from flashbench.data.schema import GROUPS, Annotation, ItemInfo, ObjectTrack, group_for_count


def _random_masks(t=6, h=23, w=31, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((t, h, w), bool)
    for i in range(t - 1):  # the last frame stays empty
        y0, x0 = rng.integers(0, h - 3), rng.integers(0, w - 3)
        masks[i, y0 : y0 + rng.integers(1, 8), x0 : x0 + rng.integers(1, 9)] = True
        masks[i] |= rng.random((h, w)) < 0.02  # scattered pixels stretch the box
    return masks


def _dense_box(m):
    ys, xs = np.nonzero(m)
    return [0, 0, 0, 0] if ys.size == 0 else [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_round_trip_area_and_boxes_match_references():
    masks = _random_masks()
    rles = rle_ops.encode_stack(masks)
    assert all(isinstance(r["counts"], str) for r in rles)
    np.testing.assert_array_equal(rle_ops.decode_stack(rles), masks)
    for t in range(len(masks)):
        np.testing.assert_array_equal(rle_ops.decode(rles[t]), masks[t])
        assert rle_ops.encode(masks[t]) == rles[t]
    np.testing.assert_array_equal(rle_ops.area(rles), masks.reshape(len(masks), -1).sum(1))
    boxes = rle_ops.boxes_xyxy(rles)
    np.testing.assert_array_equal(boxes, [_dense_box(m) for m in masks])
    np.testing.assert_array_equal(boxes, [rle_ops.mask_box(m) for m in masks])
    # pycocotools directly: xywh boxes and areas of its own encoding
    direct = coco.encode(np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8)))
    xywh = coco.toBbox(direct)
    np.testing.assert_array_equal(boxes[:, :2], xywh[:, :2])
    np.testing.assert_array_equal(boxes[:, 2:] - boxes[:, :2], xywh[:, 2:])
    assert [r["counts"] for r in rles] == [d["counts"].decode() for d in direct]


def test_box_convention_is_exclusive_and_empty_is_zero():
    m = np.zeros((5, 7), bool)
    m[2, 3] = True
    np.testing.assert_array_equal(rle_ops.boxes_xyxy([rle_ops.encode(m)])[0], [3, 2, 4, 3])
    np.testing.assert_array_equal(rle_ops.boxes_xyxy([rle_ops.encode(np.zeros((5, 7), bool))])[0], [0, 0, 0, 0])
    with pytest.raises(ValueError):
        rle_ops.encode(np.zeros((2, 5, 7), bool))


def test_object_track_and_annotation_json_round_trip():
    masks = _random_masks()
    track = ObjectTrack.from_masks(0, "thing", masks)
    np.testing.assert_array_equal(track.visible, [True] * 5 + [False])
    np.testing.assert_array_equal(track.boxes[-1], [0, 0, 0, 0])
    np.testing.assert_array_equal(track.masks(), masks)
    ann = Annotation("v", 6, 23, 31, (track, ObjectTrack.from_masks(1, "other", masks[::-1].copy())))
    back = Annotation.from_json(json.loads(json.dumps(ann.to_json())))
    assert back.to_json() == ann.to_json()
    np.testing.assert_array_equal(back.objects[1].mask(0), masks[-1])
    info = ItemInfo("v", "2", 2, "p", 6, 23, 31, 24.0, "videos/v.mkv", "annotations/v.json", {"seed": 1})
    assert ItemInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_groups():
    assert [group_for_count(n) for n in range(1, 9)] == ["1", "2", "3", "4", "5", ">5", ">5", ">5"]
    assert GROUPS == ("1", "2", "3", "4", "5", ">5")
    with pytest.raises(ValueError):
        group_for_count(0)
