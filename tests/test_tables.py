"""Result tables: ranking marks, provenance marks, formats and the `flashbench tables` command."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
from typer.testing import CliRunner

from flashbench.cli import app
from flashbench.errors import InputError
from flashbench.protocol import Protocol
from flashbench.report.tables import build_table, render, render_csv, render_latex, render_markdown

GROUP_KEYS = ("1", "2", "3", "4", "5", ">5")


def group(fid=None, fvd=None, m=None, b=None, m_ci=None, b_ci=None) -> dict:
    return {
        "fid": fid, "fvd": fvd, "mask_iou": m, "box_iou": b,
        "mask_iou_ci": m_ci, "box_iou_ci": b_ci, "coverage": None, "centroid_error": None,
        "n_expected": 4, "n_scored": 4, "n_failed": 0, "fid_frames": 40, "fvd_clips": 4,
    }


def make_results(
    label: str | None,
    fid=None, fvd=None, m=None, b=None, *,
    groups: dict | None = None,
    official: bool = True,
    reference: bool = False,
    protocol: Protocol | None = None,
    m_ci=None, b_ci=None,
    denoise_s=None, parameters=5_020_000_000, max_frames=121, native_size=(704, 1280),
    num_frames=121, size=(704, 1280), name="gen",
) -> dict:
    """A hand-made results dict in the documented format (docs/results-format.md)."""
    p = protocol or Protocol()
    r = {
        "format": "flashbench-results", "format_version": 1,
        "protocol": p.to_dict(), "protocol_hash": p.hash(),
        "benchmark": {"name": "flashbench", "manifest_hash": "m", "num_frames": num_frames, "size": list(size), "synthetic": False},
        "generator": {
            "name": name, "version": "1", "parameters": parameters,
            "native_size": list(native_size) if native_size else None, "max_frames": max_frames,
            "trajectory_types": ["box"], "nfe": 4, "checkpoint_sha256": None, "dtype": "bfloat16",
            "reference": reference, "notes": "", "extra": {},
        },
        "trajectory": "box",
        "extractors": {k: {"name": k, "sha256": "0", "official": official} for k in ("fid", "fvd", "segmenter")},
        "official": official, "seed": 0,
        "overall": group(fid, fvd, m, b, m_ci, b_ci),
        "groups": groups if groups is not None else {g: group() for g in GROUP_KEYS},
        "ceiling": None,
        "timings": {"total_s": 1.0, "generation_s": 1.0, "metrics_s": 0.0, "denoise_s_mean": denoise_s, "latency_s_mean": None},
        "environment": {}, "rows": "videos.csv",
    }
    if label is not None:
        r["label"] = label
    return r


def golden_set() -> list[dict]:
    return [
        make_results("A", 20.031, 138.83, 68.10, None),
        make_results("B", 15.811, 150.0, 69.15, 70.0),
        make_results("C", 15.814, 96.08, 63.96, 75.38),  # FID ties B once rounded to 2 decimals
        make_results("D", 30.0, None, 68.1, 70.004),
    ]


GOLDEN_MD = """\
Benchmark: flashbench (manifest m, all 4 videos)

| Method | FID (↓) | FVD (↓) | M IoU (↑) | B IoU (↑) | Denoising time (s, ↓) | Params (B) |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: |
| A | <u>20.03</u> | <u>138.83</u> | <u>68.10</u> | – | – | 5.02 |
| B | **15.81** | 150.00 | **69.15** | <u>70.00</u> | – | 5.02 |
| C | **15.81** | **96.08** | 63.96 | **75.38** | – | 5.02 |
| D | 30.00 | – | <u>68.10</u> | <u>70.00</u> | – | 5.02 |
"""


def test_golden_markdown():
    # Ties at the displayed precision share a mark; lower is better for FID/FVD; missing
    # values print "–" and are not ranked; a tied second place is underlined twice.
    assert render_markdown(build_table("overall", golden_set())) == GOLDEN_MD


def test_dense_ranks():
    t = build_table("overall", golden_set())
    ranks = {row.label: row.cells["fid"].rank for row in t.rows}
    assert ranks == {"A": 2, "B": 1, "C": 1, "D": 3}
    assert [row.cells["fvd"].rank for row in t.rows] == [2, 3, 1, None]
    assert [row.cells["box_iou"].mark for row in t.rows] == [0, 2, 1, 2]


def test_single_value_column_is_not_marked():
    rs = [make_results("A", 10.0, None, 50.0, 60.0), make_results("B", 12.0, 300.0, 40.0, 70.0)]
    t = build_table("overall", rs)
    assert [row.cells["fvd"].mark for row in t.rows] == [0, 0]
    assert [row.cells["fid"].mark for row in t.rows] == [1, 2]


def test_all_tied_are_all_bold():
    rs = [make_results("A", 10.0, 1.0, 50.0, 60.0), make_results("B", 10.0, 1.0, 50.0, 60.0)]
    t = build_table("overall", rs)
    assert all(row.cells[k].mark == 1 for row in t.rows for k in ("fid", "fvd", "mask_iou", "box_iou"))


def test_protocol_mismatch_refused_naming_files_and_hashes():
    a, b = Protocol(), Protocol(fvd_clip="all")
    rs = [make_results("A", 1.0, 1.0, 1.0, 1.0, protocol=a), make_results("B", 2.0, 2.0, 2.0, 2.0, protocol=b)]
    with pytest.raises(InputError) as info:
        build_table("overall", rs, ["runs/a/results.json", "runs/b/results.json"])
    msg = str(info.value)
    assert a.hash() in msg and b.hash() in msg
    assert "runs/a/results.json" in msg and "runs/b/results.json" in msg and "--force" in msg


def test_force_marks_minority_protocol_rows():
    a, b = Protocol(), Protocol(fvd_clip="all")
    rs = [
        make_results("A", 10.0, 100.0, 50.0, 60.0, protocol=a),
        make_results("B", 5.0, 50.0, 90.0, 95.0, protocol=b),  # best numbers, other protocol
        make_results("C", 12.0, 120.0, 40.0, 50.0, protocol=a),
    ]
    t = build_table("overall", rs, ["a.json", "b.json", "c.json"], force=True)
    assert len(t.warnings) == 1 and "mixing protocols" in t.warnings[0] and b.hash() in t.warnings[0]
    md = render_markdown(t)
    assert "| B§ | 5.00 | 50.00 | 90.00 | 95.00 |" in md  # marked, not ranked
    assert "| A | **10.00** |" in md
    assert f"§ different protocol ({b.hash()})" in md


def test_proxy_numbers_marked_and_footnoted():
    rs = [make_results("P", 10.0, 100.0, 50.0, None, official=False), make_results("Q", 11.0, 90.0, 55.0, 70.0, official=False)]
    md = render_markdown(build_table("overall", rs))
    # All rows proxy: they are ranked among themselves; every number carries the dagger.
    assert "| P | **10.00**† | <u>100.00</u>† | <u>50.00</u>† | – |" in md
    assert md.rstrip().endswith("† proxy extractors: not comparable to the paper")
    latex = render_latex(build_table("overall", rs))
    assert r"\textbf{10.00}$^\dagger$" in latex and r"$^\dagger$ proxy extractors" in latex


def test_proxy_rows_not_ranked_against_official():
    rs = [make_results("Off", 20.0, 200.0, 50.0, 60.0), make_results("Proxy", 1.0, 1.0, 99.0, 99.0, official=False)]
    t = build_table("overall", rs)
    assert t.rows[0].cells["fid"].mark == 0  # only one ranked row with a value
    assert t.rows[1].cells["fid"].rank is None
    assert any("mixes official and proxy" in w for w in t.warnings)


def test_reference_checkpoint_marked():
    rs = [make_results("Tiny", 1.0, 2.0, 3.0, 4.0, reference=True), make_results("Real", 1.5, 2.5, 3.5, 4.5)]
    md = render_markdown(build_table("overall", rs))
    assert "| Tiny‡ |" in md and "‡ reference (tiny) checkpoint" in md


def test_ci_formatting():
    rs = [make_results("A", 1.0, 2.0, 62.7, 70.0, m_ci=[60.1, 65.0], b_ci=None), make_results("B", 2.0, 3.0, 50.0, 71.0)]
    md = render_markdown(build_table("overall", rs, ci=True))
    assert "| A | **1.00** | **2.00** | **62.70** [60.10, 65.00] | <u>70.00</u> |" in md
    assert "[" not in render_markdown(build_table("overall", rs, ci=False))


def test_label_falls_back_to_generator_name():
    t = build_table("overall", [make_results(None, 1.0, 2.0, 3.0, 4.0, name="flashmotion-resnet")])
    assert t.rows[0].label == "flashmotion-resnet"


def test_latex_booktabs_joint_iou_and_escaping():
    rs = [make_results("Wan_2.2 & ResNet", 19.03, 139.61, 52.19, 57.76), make_results("Flash", 15.81, 108.96, 63.96, None)]
    tex = render(build_table("overall", rs), "latex")
    lines = tex.splitlines()
    assert lines[1] == r"\begin{tabular}{lrrrrr}"
    assert [l for l in lines if l in (r"\toprule", r"\midrule", r"\bottomrule")] == [r"\toprule", r"\midrule", r"\bottomrule"]
    assert r"Method & FID ($\downarrow$) & FVD ($\downarrow$) & M/B IoU ($\uparrow$) & Denoising time (s, $\downarrow$) & Params (B) \\" in lines
    assert r"Wan\_2.2 \& ResNet & \underline{19.03} & \underline{139.61} & \underline{52.19}/57.76 & -- & 5.02 \\" in lines
    assert r"Flash & \textbf{15.81} & \textbf{108.96} & \textbf{63.96}/-- & -- & 5.02 \\" in lines
    assert r"\par\footnotesize Benchmark: flashbench (manifest m, all 4 videos)" in lines
    split = render(build_table("overall", rs), "latex", iou="split")
    assert r"M IoU ($\uparrow$) & B IoU ($\uparrow$)" in split


def test_csv_plain_numbers_ranks_and_ci():
    rs = golden_set()
    rs[0]["overall"]["mask_iou_ci"] = [66.0, 70.25]
    text = render_csv(build_table("overall", rs, ci=True))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["method"] for r in rows] == ["A", "B", "C", "D"]
    assert rows[0]["fid"] == "20.031" and rows[2]["fid"] == "15.814"  # full precision, no marks
    assert [r["fid_rank"] for r in rows] == ["2", "1", "1", "3"]
    assert rows[0]["box_iou"] == "" and rows[0]["box_iou_rank"] == ""
    assert rows[0]["mask_iou_ci_lo"] == "66.0" and rows[0]["mask_iou_ci_hi"] == "70.25"
    assert rows[1]["official"] == "true" and rows[1]["reference"] == "false"
    with pytest.raises(InputError, match="not available for CSV"):
        render(build_table("overall", rs), "csv", iou="joint")


def test_groups_table_layout_and_missing_group():
    g_a = {g: group(10.0 + i, 100.0, 60.0 - i, 70.0) for i, g in enumerate(GROUP_KEYS)}
    g_b = {g: group(12.0, 90.0 + i, 61.0, 69.0) for i, g in enumerate(GROUP_KEYS) if g != ">5"}
    rs = [make_results("A", 1.0, 1.0, 1.0, 1.0, groups=g_a), make_results("B", 1.0, 1.0, 1.0, 1.0, groups=g_b)]
    t = build_table("groups", rs)
    assert len(t.columns) == 24
    md = render_markdown(t, joint_iou=True)
    assert md.splitlines()[0] == "Benchmark: flashbench (manifest m, all 4 videos)"
    header = md.splitlines()[2]
    assert header.startswith("| Method | Obj=1 FID (↓) | Obj=1 FVD (↓) | Obj=1 M/B IoU (↑) | Obj=2 FID (↓)")
    assert header.endswith("Obj>5 M/B IoU (↑) |")
    b_row = md.splitlines()[5]
    assert b_row.endswith("| – | – | –/– |")  # B has no >5 group
    # Group 1: A's FID 10 beats B's 12; group 4: B's 12 beats A's 13.
    assert t.rows[0].cells["obj1_fid"].mark == 1 and t.rows[1].cells["obj4_fid"].mark == 1
    tex = render_latex(t)
    assert r"\multicolumn{3}{c}{Obj=1}" in tex and r"\multicolumn{3}{c}{Obj\textgreater{}5}" in tex
    assert r"\cmidrule(lr){2-4}" in tex and r"\cmidrule(lr){17-19}" in tex


def test_models_table():
    rs = [
        make_results("FlashMotion (ResNet)", denoise_s=11.72, parameters=5_020_000_000),
        make_results("Wan+ResNet", denoise_s=333.0, parameters=5_020_000_000),
        make_results("Tiny", denoise_s=0.5, parameters=1_234_567, max_frames=None, native_size=None,
                     num_frames=25, size=(64, 96), reference=True, official=False),
    ]
    md = render_markdown(build_table("models", rs))
    lines = md.splitlines()[2:]
    assert lines[0] == "| Method | Length | Resolution | Denoising latency (s, ↓) | Params (B) |"
    assert lines[2] == "| FlashMotion (ResNet) | 121 | 704×1280 | <u>11.72</u> | 5.02 |"
    assert lines[3] == "| Wan+ResNet | 121 | 704×1280 | 333.00 | 5.02 |"
    # Latency, size and parameters do not depend on the extractors: a proxy run is ranked
    # here and carries no dagger; length and size fall back to the benchmark's.
    assert lines[4] == "| Tiny‡ | 25 | 64×96 | **0.50** | 0.0012 |"
    assert "†" not in md


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


def _write(tmp_path, name, results):
    d = tmp_path / name
    d.mkdir()
    (d / "results.json").write_text(json.dumps(results))
    return d


def test_cli_markdown_from_files_and_run_dirs(tmp_path):
    paths = []
    for r in golden_set():
        paths.append(_write(tmp_path, r["label"], r))
    args = ["tables", str(paths[0] / "results.json")] + [str(p) for p in paths[1:]]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == GOLDEN_MD


def test_cli_out_csv_groups_ci_and_plot(tmp_path):
    dirs = [_write(tmp_path, r["label"], r) for r in golden_set()[:2]]
    out = tmp_path / "t.csv"
    result = runner.invoke(app, ["tables", *map(str, dirs), "--format", "csv", "--table", "groups", "--ci", "--out", str(out), "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and "obj>5_mask_iou_ci_lo" in rows[0]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "iou_by_object_count.png", "iou_by_object_count.svg", "quality_by_object_count.png", "quality_by_object_count.svg"
    ]
    assert f"wrote {out}" in result.stderr


def test_cli_protocol_mismatch_and_force(tmp_path):
    a = _write(tmp_path, "a", make_results("A", 1.0, 1.0, 1.0, 1.0))
    b = _write(tmp_path, "b", make_results("B", 2.0, 2.0, 2.0, 2.0, protocol=Protocol(trajectory="mask")))
    result = runner.invoke(app, ["tables", str(a), str(b)])
    assert isinstance(result.exception, InputError) and "different protocols" in str(result.exception)
    result = runner.invoke(app, ["tables", str(a), str(b), "--force"])
    assert result.exit_code == 0
    assert "warning: mixing protocols" in result.stderr
    assert "| B§ |" in result.stdout


def test_cli_main_reports_errors_with_status_2(tmp_path, monkeypatch, capsys):
    from flashbench import cli

    monkeypatch.setattr(sys, "argv", ["flashbench", "tables", str(tmp_path / "missing.json")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    assert "missing.json does not exist" in capsys.readouterr().err


def test_failed_generations_are_reported():
    r = make_results("A", 1.0, 1.0, 1.0, 1.0)
    r["overall"]["n_failed"] = 3
    r["overall"]["n_expected"] = 600
    t = build_table("overall", [r])
    assert t.warnings == ["A: 3 of 600 videos failed to generate (scored as failures, not dropped)"]


# The paper's Table 1, FlashBench columns (FID, FVD, mask IoU, box IoU).
PAPER_TABLE1 = [
    ("MagicMotion", 20.03, 138.83, 68.10, 73.68),
    ("Wan2.2 (ResNet)", 19.03, 139.61, 52.19, 57.76),
    ("Wan2.2 (ControlNet)", 16.93, 152.04, 65.41, 71.28),
    ("DragAnything", 34.93, 267.56, 58.54, 61.72),
    ("SG-I2V", 28.52, 252.49, 50.20, 55.72),
    ("Tora", 31.79, 315.11, 48.17, 53.70),
    ("LeviTor", 64.58, 335.47, 36.36, 39.81),
    ("DMD (ResNet)", 24.38, 228.33, 43.24, 52.61),
    ("GAN (ResNet)", 31.32, 208.06, 43.78, 49.99),
    ("LCM (ResNet)", 26.79, 462.09, 55.31, 60.80),
    ("FlashMotion (ResNet)", 15.81, 108.96, 63.96, 70.01),
    ("DMD / GAN (ControlNet)", None, None, None, None),  # OOM in the paper
    ("LCM (ControlNet)", 28.34, 340.29, 61.29, 64.83),
    ("FlashMotion (ControlNet)", 14.35, 96.08, 69.15, 75.38),
]


def test_marks_agree_with_paper_table1():
    # Paper: FlashMotion (ControlNet) best in every FlashBench column; second: FlashMotion
    # (ResNet) for FID and FVD, MagicMotion for M/B IoU. All 8 marked entries agree.
    rs = [make_results(*row) for row in PAPER_TABLE1]
    t = build_table("overall", rs)
    marks = {(row.label, k): row.cells[k].mark for row in t.rows for k in ("fid", "fvd", "mask_iou", "box_iou")}
    marked = {key: m for key, m in marks.items() if m}
    assert marked == {
        ("FlashMotion (ControlNet)", "fid"): 1, ("FlashMotion (ControlNet)", "fvd"): 1,
        ("FlashMotion (ControlNet)", "mask_iou"): 1, ("FlashMotion (ControlNet)", "box_iou"): 1,
        ("FlashMotion (ResNet)", "fid"): 2, ("FlashMotion (ResNet)", "fvd"): 2,
        ("MagicMotion", "mask_iou"): 2, ("MagicMotion", "box_iou"): 2,
    }
    tex = render_latex(t)
    assert r"MagicMotion & 20.03 & 138.83 & \underline{68.10}/\underline{73.68} & -- & 5.02 \\" in tex
    assert r"DMD / GAN (ControlNet) & -- & -- & --/-- & -- & 5.02 \\" in tex


def test_markdown_escapes_pipes_in_labels():
    md = render_markdown(build_table("overall", [make_results("A|B", 1.0, 2.0, 3.0, 4.0)]))
    assert md.splitlines()[4] == "| A\\|B | 1.00 | 2.00 | 3.00 | 4.00 | – | 5.02 |"
