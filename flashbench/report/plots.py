"""Plots of metrics against object count (1..5, >5), one line per method.

Figures are built on matplotlib's object API with the Agg canvas (no pyplot state, no
display needed) and written atomically as PNG and SVG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..data.schema import GROUPS
from ..results import is_proxy, method_label, weights_kind
from ..utils.atomic import atomic_path

FORMATS = ("png", "svg")
_PROXY_NOTE = "† proxy extractors: not comparable to the paper"


def legend_label(results: Mapping[str, Any]) -> str:
    """Method label with its provenance: proxy numbers carry †; a reference checkpoint or random init says so."""
    tags = []
    kind = weights_kind(results["generator"])
    if kind is not None:
        tags.append("reference ckpt" if kind == "reference checkpoint" else kind)
    if is_proxy(results):
        tags.append("proxy †")
    label = method_label(results)
    return f"{label} ({', '.join(tags)})" if tags else label


def _series(results: Mapping[str, Any], metric: str) -> list[float]:
    groups = results["groups"]
    out = []
    for g in GROUPS:
        v = groups.get(g, {}).get(metric)
        out.append(math.nan if v is None else float(v))
    return out


def _figure(
    results_list: Sequence[Mapping[str, Any]],
    panels: Sequence[tuple[str, str]],
    title: str,
    labels: Sequence[str] | None,
) -> Figure:
    if labels is None:
        labels = [legend_label(r) for r in results_list]
    if len(labels) != len(results_list):
        raise ValueError("labels must name every result")
    fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    x = list(range(len(GROUPS)))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, ylabel) in zip(axes, panels):
        for r, label in zip(results_list, labels):
            # Missing groups are NaN: the line breaks there instead of inventing a value.
            ax.plot(x, _series(r, metric), marker="o", linewidth=1.6, markersize=4.5, label=label,
                    linestyle="--" if is_proxy(r) else "-")
        ax.set_xticks(x, [f"{g}" for g in GROUPS])
        ax.set_xlabel("foreground objects per video")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(3, max(1, len(names))), fontsize="small", frameon=False)
    suptitle = title
    if any(is_proxy(r) for r in results_list):
        suptitle += f"\n{_PROXY_NOTE}"
    fig.suptitle(suptitle, fontsize="medium")
    return fig


def figure_iou_by_object_count(results_list: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> Figure:
    """Mask and box IoU (%) against object count; one panel each, one line per method."""
    return _figure(
        results_list,
        [("mask_iou", "Mask IoU (%) ↑"), ("box_iou", "Box IoU (%) ↑")],
        "FlashBench: trajectory accuracy by object count",
        labels,
    )


def figure_quality_by_object_count(results_list: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> Figure:
    """FID and FVD against object count; one panel each, one line per method."""
    return _figure(
        results_list,
        [("fid", "FID ↓"), ("fvd", "FVD ↓")],
        "FlashBench: visual quality by object count",
        labels,
    )


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``stem.<fmt>`` for each format, atomically and reproducibly."""
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "flashbench"}):
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            # Fixed metadata so the same results give byte-identical files.
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata)
            paths.append(path)
    return paths


def plot_by_object_count(
    results_list: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Write ``iou_by_object_count`` and ``quality_by_object_count`` plots; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    paths += save_figure(figure_iou_by_object_count(results_list, labels), out / "iou_by_object_count", formats)
    paths += save_figure(figure_quality_by_object_count(results_list, labels), out / "quality_by_object_count", formats)
    return paths
