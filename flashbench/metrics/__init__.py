"""FlashBench metrics: FID, FVD, mask/box IoU, their extractors and segmenters.

Functional cores (``frechet``, ``fid``, ``fvd``, ``iou``) plus thin stateful wrappers
(``FID``, ``FVD`` torchmetrics metrics). Extractors are official (weights from the cache,
SHA-256 checked) or labelled proxies; see ``docs/metrics.md``.
"""

from .extractors import ExtractorInfo, I3DExtractor, InceptionExtractor, InceptionI3d, i3d_proxy, load_i3d, load_inception
from .fid import clean_resize, fid_features, fid_frame_indices
from .frechet import FeatureStats, fid_from_stats, frechet_distance, fvd_from_stats
from .fvd import fvd_clip_indices, fvd_features
from .iou import ObjectScore, VideoScore, box_iou_xyxy, mask_iou_rle, score_object, score_video
from .flow_tracker import FlowTracker, FlowTrackerConfig
from .segment import ColorTracker, SAM2Segmenter, Segmenter, TrackerConfig, load_segmenter, proxy_iou_warning

__all__ = [
    "ColorTracker", "ExtractorInfo", "FID", "FVD", "FeatureStats", "FlowTracker", "FlowTrackerConfig", "I3DExtractor", "InceptionExtractor", "InceptionI3d",
    "ObjectScore", "SAM2Segmenter", "Segmenter", "TrackerConfig", "VideoScore", "box_iou_xyxy", "clean_resize",
    "fid_features", "fid_frame_indices", "fid_from_stats", "frechet_distance", "fvd_clip_indices", "fvd_features",
    "fvd_from_stats", "i3d_proxy", "load_i3d", "load_inception", "load_segmenter", "mask_iou_rle", "proxy_iou_warning",
    "score_object", "score_video",
]


def __getattr__(name: str):
    # FID and FVD (torchmetrics.Metric subclasses) load torchmetrics on first use only
    if name in ("FID", "FVD"):
        from . import metric_modules

        return getattr(metric_modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
