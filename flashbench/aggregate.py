"""Per-group and overall aggregates from per-video rows and group feature statistics.

The aggregate is a pure function of two stored things, so anyone can recompute it from a
run directory (:func:`recompute_from_run`):

* the rows of ``videos.csv``: per video its status and the IoU values in percent exactly as
  they enter the means (a failed generation is a 0 with status ``failed``; a blank cell is a
  value that enters no mean);
* per group the Fréchet statistics (``FeatureStats``) of the generated side (in the run
  directory) and of the real side (in the benchmark's feature cache). The overall statistics
  are the sums of the group statistics in group order.

Rows are fed in manifest order, so the same per-video files give the same numbers to the bit,
however many processes produced them (docs/protocol.md, section 8).
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .data.schema import GROUPS
from .errors import InputError

# Row values that enter an aggregate, in percent (centroid error in pixels).
ROW_METRICS = ("mask_iou", "box_iou", "coverage", "centroid_error", "ceiling_mask_iou", "ceiling_box_iou")
STAT_NAMES = ("fid_real", "fid_fake", "fvd_real", "fvd_fake")


@dataclass
class VideoOutcome:
    """What the metric phase knows about one video (IoU values as fractions 0..1)."""

    video_id: str
    group: str
    status: str  # "ok" or "failed"
    mask_iou: float = math.nan  # NaN = nothing scorable
    box_iou: float = math.nan
    coverage: float = math.nan
    centroid_error: float = math.nan
    ceiling_mask_iou: float = math.nan
    ceiling_box_iou: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The values the aggregate uses: percentages; a failed generation scores 0 (counted,
        never dropped) and has no centroid error."""
        failed = self.status != "ok"
        pct = lambda v: 0.0 if failed else 100.0 * v  # noqa: E731
        return {
            "video_id": self.video_id, "group": self.group, "status": self.status,
            "mask_iou": pct(self.mask_iou), "box_iou": pct(self.box_iou), "coverage": pct(self.coverage),
            "centroid_error": math.nan if failed else self.centroid_error,
            "ceiling_mask_iou": 100.0 * self.ceiling_mask_iou, "ceiling_box_iou": 100.0 * self.ceiling_box_iou,
        }


def group_tag(group: str) -> str:
    """A file-name-safe name of a group (``>5`` -> ``gt5``)."""
    return "gt5" if group == ">5" else group


def _nanmean(values: Sequence[float]) -> float | None:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else None


def _distance(fn, real, fake) -> float | None:
    """A Fréchet distance, or None when either side has fewer than two samples.

    The small-sample warning is reported once per group in the results (``notes``), not
    raised from here.
    """
    if real is None or fake is None or min(real.n, fake.n) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(real, fake)


def summarise(rows: Sequence[Mapping[str, Any]], stats: Mapping[str, Any], *, bootstrap: int = 1000,
              seed: int = 0) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """One GROUP_RESULT dict (see docs/results-format.md), its segmenter ceiling and notes.

    ``rows`` are :meth:`VideoOutcome.row` dicts; ``stats`` maps ``fid_real``, ``fid_fake``,
    ``fvd_real``, ``fvd_fake`` to ``FeatureStats`` (or None when no video was scored).
    """
    from .metrics.frechet import fid_from_stats, fvd_from_stats
    from .report.bootstrap import bootstrap_ci

    n_ok = sum(r["status"] == "ok" for r in rows)
    fid = _distance(fid_from_stats, stats.get("fid_real"), stats.get("fid_fake"))
    fvd = _distance(fvd_from_stats, stats.get("fvd_real"), stats.get("fvd_fake"))
    notes = [
        f"{name}: {st.n} samples for {st.dim}-d features (rank-deficient covariance: the estimate is biased)"
        for name, st in (("FID", stats.get("fid_fake")), ("FVD", stats.get("fvd_fake")))
        if st is not None and st.n <= st.dim
    ]
    col = lambda k: [float(r[k]) for r in rows]  # noqa: E731

    def ci(values: Sequence[float]):
        vals = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
        if vals.size < 2 or bootstrap <= 0:
            return None
        lo, hi = bootstrap_ci(vals, n_boot=bootstrap, seed=seed)
        return [lo, hi]

    fid_fake, fvd_fake = stats.get("fid_fake"), stats.get("fvd_fake")
    result = {
        "fid": fid,
        "fvd": fvd,
        "mask_iou": _nanmean(col("mask_iou")),
        "box_iou": _nanmean(col("box_iou")),
        "mask_iou_ci": ci(col("mask_iou")),
        "box_iou_ci": ci(col("box_iou")),
        "coverage": _nanmean(col("coverage")),
        "centroid_error": _nanmean([float(r["centroid_error"]) for r in rows if r["status"] == "ok"]),
        "n_expected": len(rows),
        "n_scored": n_ok,
        "n_failed": len(rows) - n_ok,
        "fid_frames": int(fid_fake.n) if fid_fake is not None else 0,
        "fvd_clips": int(fvd_fake.n) if fvd_fake is not None else 0,
    }
    ceiling = {"mask_iou": _nanmean(col("ceiling_mask_iou")), "box_iou": _nanmean(col("ceiling_box_iou"))}
    return result, ceiling, notes


def overall_stats(stats_by_group: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The overall statistics: the group statistics summed in group order."""
    total: dict[str, Any] = {}
    for g in GROUPS:
        for name, st in stats_by_group.get(g, {}).items():
            if st is not None:
                total[name] = st if total.get(name) is None else total[name] + st
    return total


def aggregate(rows: Sequence[Mapping[str, Any]], stats_by_group: Mapping[str, Mapping[str, Any]], *,
              bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``{"overall", "groups", "ceiling", "notes"}`` from manifest-ordered rows and group statistics."""
    groups: dict[str, Any] = {}
    ceilings: dict[str, Any] = {}
    notes: list[str] = []
    for g in GROUPS:
        sel = [r for r in rows if r["group"] == g]
        if not sel:
            continue
        groups[g], ceilings[g], n = summarise(sel, stats_by_group.get(g, {}), bootstrap=bootstrap, seed=seed)
        notes += [f"{g}: {x}" for x in n]
    overall, ceiling_all, n = summarise(rows, overall_stats(stats_by_group), bootstrap=bootstrap, seed=seed)
    notes += [f"overall: {x}" for x in n]
    return {"overall": overall, "groups": groups, "ceiling": {"overall": ceiling_all, "groups": ceilings}, "notes": notes}


# ----------------------------------------------------------------------------- recomputation


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``videos.csv`` with every aggregate value as a float (blank -> NaN)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise InputError(f"cannot read the per-video rows {path}: {exc}") from exc
    out = []
    for i, r in enumerate(rows, start=2):
        try:
            out.append({**r, **{k: float(r[k]) if r[k] not in ("", None) else math.nan for k in ROW_METRICS}})
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}, line {i}: bad or missing value ({exc}); the file was edited or truncated") from exc
    return out


def _load_stats(path: Path, what: str):
    from .metrics.frechet import FeatureStats

    if not path.is_file():
        raise InputError(f"{what} statistics {path} are missing; rerun `flashbench eval` with the same arguments to rebuild them")
    return FeatureStats.load(path)


def recompute_from_run(run_dir: str | Path, real_root: str | Path | None = None) -> dict[str, Any]:
    """Recompute the aggregate sections of a run's ``results.json`` from its stored rows and statistics.

    Returns ``{"overall": ..., "groups": ..., "ceiling": ...}`` in the structure of
    ``results.json``; for an untouched run they equal the file's sections exactly. The
    generated-side statistics are read from the run directory, the real-side ones from the
    benchmark's feature cache (``real_root``, default ``<FLASHBENCH_HOME>/features``), as
    listed under ``statistics`` in ``results.json``.
    """
    from . import paths
    from .results import load_results

    run_dir = Path(run_dir)
    results = load_results(run_dir)
    listing = results.get("statistics")
    if not isinstance(listing, dict):
        raise InputError(f"{run_dir}: results.json lists no statistics (written by an older flashbench); rerun `flashbench eval`")
    real_root = Path(real_root) if real_root is not None else paths.home() / "features"
    stats_by_group: dict[str, dict[str, Any]] = {}
    for g, files in listing["groups"].items():
        stats_by_group[g] = {}
        for name in STAT_NAMES:
            rel = files.get(name)
            if rel is None:
                stats_by_group[g][name] = None
            elif name.endswith("_real"):
                stats_by_group[g][name] = _load_stats(real_root / rel, "real-side")
            else:
                stats_by_group[g][name] = _load_stats(run_dir / rel, "generated-side")
    rows = read_rows(run_dir / results["rows"])
    agg = aggregate(rows, stats_by_group, bootstrap=int(listing["bootstrap"]), seed=int(results["seed"]))
    return {k: agg[k] for k in ("overall", "groups", "ceiling")}

