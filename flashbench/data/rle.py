"""Binary masks as COCO run-length encodings (pycocotools), with tight boxes.

Boxes are ``x0, y0, x1, y1`` in pixels with exclusive right/bottom edges (``x1 = x0 + w`` in
COCO's xywh), so a one-pixel mask at (x, y) has box ``(x, y, x + 1, y + 1)``. An empty mask
has the box ``(0, 0, 0, 0)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

Rle = dict  # {"size": [H, W], "counts": str}


def encode(mask: np.ndarray) -> Rle:
    """Encode one (H, W) boolean mask; ``counts`` is returned as ``str`` for JSON."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def encode_stack(masks: np.ndarray) -> list[Rle]:
    """Encode a (T, H, W) stack of masks in one call."""
    if masks.ndim != 3:
        raise ValueError(f"expected a (T, H, W) mask stack, got shape {masks.shape}")
    arr = np.asfortranarray(np.moveaxis(masks.astype(np.uint8, copy=False), 0, -1))
    rles = mask_utils.encode(arr)
    return [{"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")} for r in rles]


def _coco(rle: Rle) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def to_coco(rles: Sequence[Rle]) -> list[dict]:
    """RLEs in the bytes form pycocotools' functions take."""
    return [_coco(r) for r in rles]


def decode(rle: Rle) -> np.ndarray:
    return mask_utils.decode(_coco(rle)).astype(bool)


def decode_stack(rles: Sequence[Rle]) -> np.ndarray:
    """Decode RLEs of one size into a (T, H, W) boolean array."""
    if not rles:
        raise ValueError("no RLEs to decode")
    return np.moveaxis(mask_utils.decode(to_coco(rles)), -1, 0).astype(bool)


def area(rles: Sequence[Rle]) -> np.ndarray:
    return np.asarray(mask_utils.area(to_coco(rles)), dtype=np.int64)


def boxes_xyxy(rles: Sequence[Rle]) -> np.ndarray:
    """Tight ``x0, y0, x1, y1`` boxes (float64, exclusive max); zeros for empty masks."""
    xywh = np.asarray(mask_utils.toBbox(to_coco(rles)), dtype=np.float64).reshape(-1, 4)
    out = xywh.copy()
    out[:, 2] = xywh[:, 0] + xywh[:, 2]
    out[:, 3] = xywh[:, 1] + xywh[:, 3]
    return out


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Tight box of a dense (H, W) mask, same convention as :func:`boxes_xyxy`."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return np.zeros(4, dtype=np.float64)
    xs = np.flatnonzero(mask.any(axis=0))
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=np.float64)
