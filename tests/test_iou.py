"""Mask IoU and box IoU against pycocotools and torchvision, protocol edge cases, aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from torchvision.ops import box_iou

from flashbench.data import rle as rle_ops
from flashbench.data.schema import ObjectTrack
from flashbench.metrics import box_iou_xyxy, mask_iou_rle, score_video


def random_blobs(rng, t, h, w, p_empty=0.2):
    """(T, H, W) masks: random rectangles plus noise pixels, some frames empty."""
    m = np.zeros((t, h, w), dtype=bool)
    for i in range(t):
        if rng.random() < p_empty:
            continue
        y0, x0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
        y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
        m[i, y0:y1, x0:x1] = True
        m[i] ^= rng.random((h, w)) < 0.05
    return m


def np_iou(a, b):
    inter, union = (a & b).sum(), (a | b).sum()
    return inter / union if union else 0.0


def test_mask_iou_matches_pycocotools_and_numpy():
    rng = np.random.default_rng(0)
    a, b = random_blobs(rng, 40, 17, 23), random_blobs(rng, 40, 17, 23)
    ra, rb = rle_ops.encode_stack(a), rle_ops.encode_stack(b)
    for i in range(40):
        ref = mask_utils.iou(rle_ops.to_coco([ra[i]]), rle_ops.to_coco([rb[i]]), [0])[0, 0]
        ours = mask_iou_rle(ra[i], rb[i])
        assert ours == pytest.approx(ref, abs=1e-12)
        assert ours == pytest.approx(np_iou(a[i], b[i]), abs=1e-12)
    empty = rle_ops.encode(np.zeros((5, 5), bool))
    assert mask_iou_rle(empty, empty) == 0.0  # pycocotools: IoU of two empty masks is 0


def test_box_iou_matches_torchvision():
    rng = np.random.default_rng(1)
    for _ in range(200):
        xy = rng.uniform(0, 50, size=(2, 2))
        wh = rng.uniform(0.5, 30, size=(2, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        ref = box_iou(torch.tensor(boxes[:1]), torch.tensor(boxes[1:]))[0, 0].item()
        assert box_iou_xyxy(boxes[0], boxes[1]) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert box_iou_xyxy(np.zeros(4), np.array([1, 1, 5, 5.0])) == 0.0  # empty predicted box
    # empty cases: one empty box -> 0 in torchvision too; two empty boxes -> torchvision 0/0 = NaN,
    # the protocol 0 (pycocotools' convention; such a frame is never scored: the object is invisible)
    empty, gt = torch.zeros(1, 4, dtype=torch.float64), torch.tensor([[1.0, 1.0, 5.0, 5.0]], dtype=torch.float64)
    assert box_iou(empty, gt)[0, 0].item() == box_iou_xyxy(np.zeros(4), gt[0].numpy()) == 0.0
    assert math.isnan(box_iou(empty, empty)[0, 0].item()) and box_iou_xyxy(np.zeros(4), np.zeros(4)) == 0.0


def test_score_video_per_frame_values_and_means():
    rng = np.random.default_rng(2)
    t, h, w = 12, 20, 30
    gts = [random_blobs(rng, t, h, w) for _ in range(3)]
    gts[2][1:] = False  # object never visible after frame 0: skipped
    gts[2][0, 2:5, 2:5] = True
    preds = np.stack([random_blobs(rng, t, h, w, p_empty=0.3) for _ in range(3)])
    objects = [ObjectTrack.from_masks(k, f"o{k}", g) for k, g in enumerate(gts)]
    score = score_video(preds, objects)
    for k in range(2):
        frames = [i for i in range(1, t) if gts[k][i].any()]
        m_ref, b_ref, cov, cerr = [], [], [], []
        for i in frames:
            p, g = preds[k, i], gts[k][i]
            if not p.any():
                m_ref.append(0.0), b_ref.append(0.0), cov.append(0.0), cerr.append(1.0)
                continue
            m_ref.append(np_iou(p, g))
            pb, gb = rle_ops.mask_box(p), rle_ops.mask_box(g)
            b_ref.append(box_iou(torch.from_numpy(pb[None]), torch.from_numpy(gb[None]))[0, 0].item())
            cov.append(1.0)
            cy = lambda m: np.array([np.nonzero(m)[1].mean(), np.nonzero(m)[0].mean()])  # noqa: E731
            cerr.append(np.linalg.norm(cy(p) - cy(g)) / math.hypot(h, w))
        o = score.objects[k]
        assert o.frames_scored == len(frames)
        assert o.mask_iou == pytest.approx(np.mean(m_ref), abs=1e-12)
        assert o.box_iou == pytest.approx(np.mean(b_ref), abs=1e-9)
        assert o.coverage == pytest.approx(np.mean(cov))
        assert o.centroid_error == pytest.approx(np.mean(cerr), abs=1e-12)
    assert score.objects[2].frames_scored == 0 and math.isnan(score.objects[2].mask_iou)
    assert score.mask_iou == pytest.approx((score.objects[0].mask_iou + score.objects[1].mask_iou) / 2)
    assert score.box_iou == pytest.approx((score.objects[0].box_iou + score.objects[1].box_iou) / 2)


def test_perfect_empty_and_unscorable():
    rng = np.random.default_rng(3)
    gt = random_blobs(rng, 6, 10, 12, p_empty=0.0)
    obj = ObjectTrack.from_masks(0, "a", gt)
    perfect = score_video(gt[None], [obj])
    assert perfect.mask_iou == 1.0 and perfect.box_iou == 1.0 and perfect.coverage == 1.0 and perfect.centroid_error == 0.0
    empty = score_video(np.zeros((1, 6, 10, 12), bool), [obj])
    assert empty.mask_iou == 0.0 and empty.box_iou == 0.0 and empty.coverage == 0.0 and empty.centroid_error == 1.0
    # frame 0 excluded by default: a prediction right only on frame 0 scores 0
    only0 = np.zeros((1, 6, 10, 12), bool)
    only0[0, 0] = gt[0]
    assert score_video(only0, [obj]).mask_iou == 0.0
    assert score_video(only0, [obj], skip_first=False).mask_iou == pytest.approx(1 / 6)
    invisible = np.zeros((6, 10, 12), bool)
    invisible[0, 1, 1] = True
    nan = score_video(np.zeros((1, 6, 10, 12), bool), [ObjectTrack.from_masks(0, "b", invisible)])
    assert all(math.isnan(v) for v in (nan.mask_iou, nan.box_iou, nan.coverage, nan.centroid_error))


def test_bad_predictions_rejected():
    obj = ObjectTrack.from_masks(0, "a", np.ones((3, 4, 5), bool))
    with pytest.raises(ValueError, match="boolean"):
        score_video(np.ones((1, 3, 4, 5), np.uint8), [obj])
    with pytest.raises(ValueError, match="ground-truth objects"):
        score_video(np.ones((2, 3, 4, 5), bool), [obj])
    with pytest.raises(ValueError, match="frames"):
        score_video(np.ones((1, 2, 4, 5), bool), [obj])
    with pytest.raises(ValueError, match="4x5"):
        score_video(np.ones((1, 3, 5, 5), bool), [obj])
