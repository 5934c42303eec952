"""Plots of metrics by object count."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from flashbench.protocol import Protocol
from flashbench.report.plots import (
    figure_iou_by_object_count,
    figure_quality_by_object_count,
    legend_label,
    plot_by_object_count,
)

GROUP_KEYS = ("1", "2", "3", "4", "5", ">5")


def _group(fid, fvd, m, b) -> dict:
    return {
        "fid": fid, "fvd": fvd, "mask_iou": m, "box_iou": b, "mask_iou_ci": None, "box_iou_ci": None,
        "coverage": None, "centroid_error": None, "n_expected": 2, "n_scored": 2, "n_failed": 0,
        "fid_frames": 10, "fvd_clips": 2,
    }


def make_results(label: str, base: float, *, official: bool = True, reference: bool = False, skip=()) -> dict:
    """Results whose per-group values are easy to recognise: value = base + group index."""
    p = Protocol()
    groups = {
        g: _group(base + i, 10 * base + i, base + i, base + 5 + i)
        for i, g in enumerate(GROUP_KEYS) if g not in skip
    }
    return {
        "format": "flashbench-results", "format_version": 1, "protocol": p.to_dict(), "protocol_hash": p.hash(),
        "benchmark": {"name": "b", "manifest_hash": "m", "num_frames": 9, "size": [32, 48], "synthetic": True},
        "generator": {"name": label.lower(), "version": "0", "parameters": 10, "native_size": None, "max_frames": None,
                      "trajectory_types": ["box"], "nfe": 1, "checkpoint_sha256": None, "dtype": "float32",
                      "reference": reference, "notes": "", "extra": {}},
        "label": label, "trajectory": "box",
        "extractors": {k: {"name": k, "sha256": "0", "official": official} for k in ("fid", "fvd", "segmenter")},
        "official": official, "seed": 0, "overall": _group(1.0, 1.0, 1.0, 1.0), "groups": groups, "ceiling": None,
        "timings": {"total_s": 1.0, "generation_s": 1.0, "metrics_s": 0.0, "denoise_s_mean": None, "latency_s_mean": None},
        "environment": {}, "rows": "videos.csv",
    }


def _results():
    return [
        make_results("Alpha", 40.0),
        make_results("Beta", 50.0, skip=(">5",)),
        make_results("Gamma", 60.0, official=False, reference=True),
    ]


def test_one_line_per_method_per_panel():
    rs = _results()
    fig = figure_iou_by_object_count(rs)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_ylabel() for ax in panels] == ["Mask IoU (%) ↑", "Box IoU (%) ↑"]
    for ax in panels:
        assert len(ax.get_lines()) == len(rs)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(GROUP_KEYS)
    mask_lines = panels[0].get_lines()
    assert list(mask_lines[0].get_ydata()) == [40.0, 41.0, 42.0, 43.0, 44.0, 45.0]
    # A group the run does not have is a gap, not a value.
    assert math.isnan(mask_lines[1].get_ydata()[-1])
    assert list(panels[1].get_lines()[2].get_ydata()) == [65.0, 66.0, 67.0, 68.0, 69.0, 70.0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Alpha", "Beta", "Gamma (reference ckpt, proxy †)"]
    assert "not comparable to the paper" in fig.get_suptitle()

    q = figure_quality_by_object_count(rs)
    qpanels = [ax for ax in q.axes if ax.get_lines()]
    assert [ax.get_ylabel() for ax in qpanels] == ["FID ↓", "FVD ↓"]
    assert all(len(ax.get_lines()) == len(rs) for ax in qpanels)
    assert list(qpanels[1].get_lines()[0].get_ydata()) == [400.0, 401.0, 402.0, 403.0, 404.0, 405.0]


def test_no_proxy_note_for_official_results():
    fig = figure_quality_by_object_count(_results()[:2])
    assert "proxy" not in fig.get_suptitle()
    assert legend_label(_results()[0]) == "Alpha"


def test_files_are_valid_png_and_svg_and_reproducible(tmp_path):
    rs = _results()
    paths = plot_by_object_count(rs, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "iou_by_object_count.png", "iou_by_object_count.svg",
        "quality_by_object_count.png", "quality_by_object_count.svg",
    ]
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        else:
            root = ET.fromstring(data)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # No temporary files left behind by the atomic writes.
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in paths)
    # Same results, same bytes.
    again = plot_by_object_count(rs, tmp_path / "again")
    for a, b in zip(paths, again):
        assert a.read_bytes() == b.read_bytes(), a.name
