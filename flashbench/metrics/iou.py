"""Mask IoU and box IoU of segmented objects against ground truth (docs/protocol.md, section 6).

Per object and frame ``t >= 1`` where the object is visible in the ground truth:

* mask IoU of the predicted and ground-truth masks (COCO RLEs, ``pycocotools.mask.iou``);
* box IoU of the tight box of the predicted mask and the ground-truth box (xywh boxes,
  ``pycocotools.mask.iou``; equal to ``torchvision.ops.box_iou`` on xyxy);
* an empty prediction of a visible object scores 0 for both.

Frames where the object is not visible are skipped. Per object: mean over its scored
frames; per video: mean over objects with at least one scored frame. An object never
visible after frame 0 is reported with ``frames_scored = 0`` and NaN values and does not
enter the video mean; a video with no scorable object has NaN fields.

Diagnostics: *coverage* = share of scored frames with a non-empty prediction;
*centroid error* = distance between the predicted and ground-truth mask centroids divided
by the frame diagonal, where a frame with an empty prediction counts as 1.0 (the largest
distance two points of the frame can have), so a method cannot lower it by predicting
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from ..data import rle as rle_ops
from ..data.schema import ObjectTrack


@dataclass
class ObjectScore:
    index: int
    mask_iou: float
    box_iou: float
    coverage: float
    centroid_error: float
    frames_scored: int


@dataclass
class VideoScore:
    mask_iou: float
    box_iou: float
    coverage: float
    centroid_error: float
    objects: list[ObjectScore] = field(default_factory=list)


def _xyxy_to_xywh(b: np.ndarray) -> np.ndarray:
    out = np.asarray(b, dtype=np.float64).copy()
    out[..., 2] = out[..., 2] - out[..., 0]
    out[..., 3] = out[..., 3] - out[..., 1]
    return out


def mask_iou_rle(pred: dict, gt: dict) -> float:
    """IoU of two COCO RLEs (bytes or str counts); two empty masks give 0 (pycocotools)."""
    return float(mask_utils.iou(rle_ops.to_coco([pred]), rle_ops.to_coco([gt]), [0])[0, 0])


def box_iou_xyxy(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two ``x0, y0, x1, y1`` boxes via pycocotools (0 when either is empty)."""
    p, g = _xyxy_to_xywh(np.asarray(pred)[None]), _xyxy_to_xywh(np.asarray(gt)[None])
    if p[0, 2] <= 0 or p[0, 3] <= 0 or g[0, 2] <= 0 or g[0, 3] <= 0:
        return 0.0
    return float(mask_utils.iou(p, g, [0])[0, 0])


def _centroids(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre centroids (T, 2) as (x, y) and areas (T,) of a (T, H, W) boolean stack."""
    t, h, w = masks.shape
    rows = masks.sum(axis=2, dtype=np.int64)  # (T, H)
    cols = masks.sum(axis=1, dtype=np.int64)  # (T, W)
    area = rows.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (rows @ (np.arange(h) + 0.5)) / area
        cx = (cols @ (np.arange(w) + 0.5)) / area
    return np.stack([cx, cy], axis=1), area


def score_object(pred: np.ndarray, obj: ObjectTrack, skip_first: bool = True) -> ObjectScore:
    """Score one object's predicted (T, H, W) boolean masks against its track."""
    t, h, w = pred.shape
    frames = np.flatnonzero(obj.visible)
    if skip_first:
        frames = frames[frames >= 1]
    if frames.size == 0:
        return ObjectScore(obj.index, math.nan, math.nan, math.nan, math.nan, 0)
    sel = np.ascontiguousarray(pred[frames])
    pred_rles = mask_utils.encode(np.asfortranarray(np.moveaxis(sel.astype(np.uint8), 0, -1)))
    gt_rles = rle_ops.to_coco([obj.rles[i] for i in frames])
    pred_area = mask_utils.area(pred_rles).astype(np.int64)
    pred_xywh = np.asarray(mask_utils.toBbox(pred_rles), dtype=np.float64).reshape(-1, 4)
    gt_xywh = _xyxy_to_xywh(obj.boxes[frames])
    m_iou = np.zeros(frames.size)
    b_iou = np.zeros(frames.size)
    for i in range(frames.size):
        if pred_area[i] == 0:
            continue  # empty prediction of a visible object: 0
        m_iou[i] = mask_utils.iou([pred_rles[i]], [gt_rles[i]], [0])[0, 0]
        b_iou[i] = mask_utils.iou(pred_xywh[i:i + 1], gt_xywh[i:i + 1], [0])[0, 0]
    gt_masks = rle_ops.decode_stack([obj.rles[i] for i in frames])
    c_pred, _ = _centroids(sel)
    c_gt, _ = _centroids(gt_masks)
    dist = np.linalg.norm(c_pred - c_gt, axis=1) / math.hypot(h, w)
    dist = np.where(pred_area > 0, dist, 1.0)
    return ObjectScore(
        index=obj.index,
        mask_iou=float(m_iou.mean()),
        box_iou=float(b_iou.mean()),
        coverage=float((pred_area > 0).mean()),
        centroid_error=float(dist.mean()),
        frames_scored=int(frames.size),
    )


def score_video(pred: np.ndarray, objects: Sequence[ObjectTrack], skip_first: bool = True) -> VideoScore:
    """Score (K, T, H, W) boolean predictions for the K ground-truth ``objects`` of one video."""
    pred = np.asarray(pred)
    if pred.dtype != bool:
        raise ValueError(f"predicted masks must be boolean, got {pred.dtype}")
    if pred.ndim != 4:
        raise ValueError(f"predicted masks must be (K, T, H, W), got shape {pred.shape}")
    if pred.shape[0] != len(objects):
        raise ValueError(f"{pred.shape[0]} predicted objects for {len(objects)} ground-truth objects")
    for obj in objects:
        if obj.num_frames != pred.shape[1]:
            raise ValueError(f"object {obj.index}: {obj.num_frames} ground-truth frames, prediction has {pred.shape[1]}")
        size = tuple(obj.rles[0]["size"]) if obj.rles else None
        if size is not None and size != tuple(pred.shape[2:]):
            raise ValueError(f"object {obj.index}: ground truth is {size[0]}x{size[1]}, prediction {pred.shape[2]}x{pred.shape[3]}")
    scores = [score_object(pred[k], obj, skip_first) for k, obj in enumerate(objects)]
    scored = [s for s in scores if s.frames_scored > 0]
    if not scored:
        return VideoScore(math.nan, math.nan, math.nan, math.nan, scores)

    def mean(attr: str) -> float:
        return float(np.mean([getattr(s, attr) for s in scored]))

    return VideoScore(mean("mask_iou"), mean("box_iou"), mean("coverage"), mean("centroid_error"), scores)
