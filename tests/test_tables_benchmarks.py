"""Tables across benchmarks (Table 1, ablations) and the comparability rules: benchmark, subset, protocol."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from flashbench.cli import app
from flashbench.errors import InputError
from flashbench.protocol import DEFAULT, get_protocol
from flashbench.report.tables import build_table, render_csv, render_latex, render_markdown

from test_tables import make_results

MB49 = get_protocol("magicbench-49")


def on(results: dict, source: str, name: str, manifest: str, *, full=True, groups=None, limit=None, scoring="groups",
       n=600) -> dict:
    """Place a result on a benchmark (as `flashbench eval` records it)."""
    results["benchmark"].update(
        {"name": name, "manifest_hash": manifest, "source": source, "full": full, "scoring": scoring,
         "groups": groups or ["1", "2", "3", "4", "5", ">5"], "limit": limit}
    )
    results["overall"]["n_expected"] = n
    return results


def fb(label, fid, fvd, m, b, **kw):
    return on(make_results(label, fid, fvd, m, b, **kw), "videos", "flashbench-v1-600", "f" * 64)


def mb(label, fid, fvd, m, b, **kw):
    kw.setdefault("protocol", MB49)
    return on(make_results(label, fid, fvd, m, b, **kw), "magicdata", "magicbench-600", "a" * 64)


def dv(label, fid, fvd, m, b, **kw):
    kw.setdefault("protocol", MB49)
    return on(make_results(label, fid, fvd, m, b, **kw), "davis", "davis-2017-val-480p-49f", "d" * 64,
              scoring="overall", n=25)


def three_benchmarks():
    # Given out of order on purpose: columns follow the paper (FlashBench | MagicBench | DAVIS).
    return [
        dv("MagicMotion", 50.36, 760.95, 53.94, 72.84, denoise_s=1158.63, parameters=11_530_000_000),
        fb("MagicMotion", 20.03, 138.83, 68.10, 73.68, denoise_s=1158.63, parameters=11_530_000_000),
        mb("MagicMotion", 15.17, 107.21, 76.61, 81.45, denoise_s=1158.63, parameters=11_530_000_000),
        fb("FlashMotion", 14.35, 96.08, 69.15, 75.38, denoise_s=24.44, parameters=10_280_000_000),
        mb("FlashMotion", 12.49, 99.30, 76.61, 82.17, denoise_s=24.44, parameters=10_280_000_000),  # M IoU ties MagicMotion
        dv("FlashMotion", 45.66, 690.13, 54.54, 74.37, denoise_s=24.44, parameters=10_280_000_000),
        fb("LCM", 28.34, 340.29, 61.29, 64.83, denoise_s=24.44, parameters=10_280_000_000),  # time ties FlashMotion
        dv("LCM", 62.25, 1164.75, 45.94, 61.27, denoise_s=24.44, parameters=10_280_000_000),  # no MagicBench result
    ]


THREE_MD = """\
Benchmarks: FlashBench: flashbench-v1-600 (manifest ffffffffffff, all 600 videos); MagicBench: magicbench-600 (manifest aaaaaaaaaaaa, all 600 videos); DAVIS: davis-2017-val-480p-49f (manifest dddddddddddd, all 25 videos)

| Method | FlashBench FID (↓) | FlashBench FVD (↓) | FlashBench M/B IoU (↑) | MagicBench FID (↓) | MagicBench FVD (↓) | MagicBench M/B IoU (↑) | DAVIS FID (↓) | DAVIS FVD (↓) | DAVIS M/B IoU (↑) | Denoising time (s, ↓) | Params (B) |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| MagicMotion | <u>20.03</u> | <u>138.83</u> | <u>68.10</u>/<u>73.68</u> | <u>15.17</u> | <u>107.21</u> | **76.61**/<u>81.45</u> | <u>50.36</u> | <u>760.95</u> | <u>53.94</u>/<u>72.84</u> | <u>1158.63</u> | 11.53 |
| FlashMotion | **14.35** | **96.08** | **69.15**/**75.38** | **12.49** | **99.30** | **76.61**/**82.17** | **45.66** | **690.13** | **54.54**/**74.37** | **24.44** | 10.28 |
| LCM | 28.34 | 340.29 | 61.29/64.83 | – | – | –/– | 62.25 | 1164.75 | 45.94/61.27 | **24.44** | 10.28 |

Denoising time: mean per video on FlashBench; a method timed only elsewhere is shown unranked
"""


def test_three_benchmark_table1_ranks_within_each_column():
    t = build_table("overall", three_benchmarks())
    assert render_markdown(t, joint_iou=True) == THREE_MD
    cell = lambda label, key: next(r for r in t.rows if r.label == label).cells[key]  # noqa: E731
    # lower is better: FlashMotion's MagicBench FVD 99.30 is bold, MagicMotion's 107.21 underlined
    assert (cell("FlashMotion", "magicbench_fvd").mark, cell("MagicMotion", "magicbench_fvd").mark) == (1, 2)
    # a tie on MagicBench M IoU (76.61 both): both bold, and nothing is second
    assert (cell("FlashMotion", "magicbench_mask_iou").mark, cell("MagicMotion", "magicbench_mask_iou").mark) == (1, 1)
    assert cell("LCM", "magicbench_fid").value is None and cell("LCM", "magicbench_fid").rank is None
    # the DAVIS column ranks DAVIS results only (LCM's 62.25 is third there, not compared with FlashBench's numbers)
    assert [cell(m, "davis_fid").rank for m in ("MagicMotion", "FlashMotion", "LCM")] == [2, 1, 3]
    assert [cell(m, "denoise_s").rank for m in ("MagicMotion", "FlashMotion", "LCM")] == [2, 1, 1]


def test_three_benchmark_latex_and_csv_name_every_benchmark():
    t = build_table("overall", three_benchmarks())
    tex = render_latex(t)
    assert r"\multicolumn{3}{c}{FlashBench} & \multicolumn{3}{c}{MagicBench} & \multicolumn{3}{c}{DAVIS}" in tex
    assert r"\cmidrule(lr){2-4} \cmidrule(lr){5-7} \cmidrule(lr){8-10}" in tex
    assert r"LCM & 28.34 & 340.29 & 61.29/64.83 & -- & -- & --/-- & 62.25 & 1164.75 & 45.94/61.27 & \textbf{24.44} & 10.28 \\" in tex
    rows = list(csv.DictReader(io.StringIO(render_csv(t))))
    assert rows[2]["magicbench_fid"] == "" and rows[2]["davis_fid"] == "62.25"
    assert rows[0]["benchmark"].startswith("FlashBench=flashbench-v1-600 (manifest ffffffffffff, all 600 videos); MagicBench=")


def test_two_results_of_different_benchmarks_in_one_column_are_refused():
    # two FlashBench builds (different manifests) would share the FlashBench columns
    other = on(make_results("Other", 10.0, 90.0, 70.0, 76.0), "videos", "flashbench-rebuilt", "e" * 64)
    rs = three_benchmarks() + [other]
    sources = [f"r{i}.json" for i in range(len(rs))]
    with pytest.raises(InputError) as info:
        build_table("overall", rs, sources)
    msg = str(info.value)
    assert "in the FlashBench columns" in msg and "different benchmarks" in msg and "r8.json" in msg and "--force" in msg
    assert "flashbench-rebuilt (manifest eeeeeeeeeeee" in msg
    t = build_table("overall", rs, sources, force=True)
    row = next(r for r in t.rows if r.label == "Other")
    assert row.other_benchmark and not row.cells["flashbench_fid"].ranked and row.cells["flashbench_fid"].mark == 0
    md = render_markdown(t)
    assert "| Other¶ | 10.00 |" in md and "¶ other benchmark or video subset (flashbench-rebuilt" in md


def test_one_method_twice_on_one_benchmark_is_refused():
    rs = three_benchmarks() + [fb("LCM", 1.0, 1.0, 1.0, 1.0)]
    with pytest.raises(InputError, match="two results of 'LCM' on FlashBench"):
        build_table("overall", rs)


def test_a_groups_subset_is_not_ranked_with_a_full_run():
    """Issue: a 6-video --groups 1,2 run was bolded against a full run of the same benchmark."""
    full = on(make_results("Full", 20.0, 200.0, 60.0, 65.0), "synth", "flashbench-synth-mini-v1", "s" * 64, n=24)
    sub = on(make_results("Subset", 10.0, 100.0, 80.0, 85.0), "synth", "flashbench-synth-mini-v1", "s" * 64,
             full=False, groups=["1", "2"], n=8)
    with pytest.raises(InputError) as info:
        build_table("overall", [full, sub], ["full.json", "sub.json"])
    msg = str(info.value)
    assert "video subsets" in msg and "groups 1, 2 (8 videos)): sub.json" in msg and "all 24 videos): full.json" in msg
    with pytest.raises(InputError, match="video subsets"):
        build_table("groups", [full, sub], ["full.json", "sub.json"])
    t = build_table("overall", [full, sub], ["full.json", "sub.json"], force=True)
    assert [r.other_benchmark for r in t.rows] == [False, True]
    assert t.rows[1].cells["fid"].mark == 0 and t.rows[0].cells["fid"].mark == 0  # one ranked value: no mark
    md = render_markdown(t)
    assert md.startswith("Benchmark: flashbench-synth-mini-v1 (manifest ssssssssssss, all 24 videos)\n")
    assert "| Subset¶ | 10.00 |" in md
    # two runs of the same subset are comparable
    sub2 = on(make_results("Subset2", 12.0, 90.0, 70.0, 75.0), "synth", "flashbench-synth-mini-v1", "s" * 64,
              full=False, groups=["1", "2"], n=8)
    t = build_table("overall", [sub, sub2])
    assert t.rows[0].cells["fid"].mark == 1 and "groups 1, 2 (8 videos)" in render_markdown(t).splitlines()[0]


def test_same_protocol_different_manifests_in_a_single_benchmark_layout():
    a = on(make_results("A", 1.0, 1.0, 1.0, 1.0), "synth", "synth-a", "1" * 64)
    b = on(make_results("B", 2.0, 2.0, 2.0, 2.0), "synth", "synth-b", "2" * 64)
    for kind in ("overall", "models", "groups"):
        with pytest.raises(InputError, match="different benchmarks"):
            build_table(kind, [a, b])


def test_protocols_are_compared_per_benchmark_column_group():
    # FlashBench under flashbench-v1 and DAVIS under magicbench-49 in one table: fine
    assert build_table("overall", three_benchmarks()).footnotes[-1][1].startswith("Denoising time")
    # two protocols inside the DAVIS columns: refused
    rs = three_benchmarks()
    rs[0] = dv("MagicMotion", 50.36, 760.95, 53.94, 72.84, protocol=DEFAULT)
    with pytest.raises(InputError, match="in the DAVIS columns use different protocols"):
        build_table("overall", rs)


def test_overall_scored_benchmark_has_no_groups_table():
    with pytest.raises(InputError, match="scored overall, not by object-count groups.*--table overall"):
        build_table("groups", [dv("FlashMotion", 45.66, 690.13, 54.54, 74.37)], ["davis.json"])


def test_ablation_layout_has_benchmark_groups_without_time_and_params():
    rs = [
        fb("Slow Adapter", 19.44, 171.83, 62.72, 69.38), mb("Slow Adapter", 21.19, 161.80, 70.20, 76.54),
        dv("Slow Adapter", 46.42, 875.37, 50.52, 70.83),
        fb("w/o GAN Loss", 28.82, 265.46, 71.56, 75.48), mb("w/o GAN Loss", 26.33, 192.85, 78.26, 82.15),
        dv("w/o GAN Loss", 75.42, 1131.65, 55.87, 68.59),
        fb("FlashMotion", 14.35, 96.08, 69.15, 75.38), mb("FlashMotion", 12.49, 99.30, 76.92, 82.17),
        dv("FlashMotion", 45.66, 690.13, 54.54, 74.37),
    ]
    t = build_table("ablation", rs)
    assert [c.key for c in t.columns][-1] == "davis_box_iou" and len(t.columns) == 12
    lines = render_markdown(t, joint_iou=True).splitlines()
    # w/o GAN loss: best trajectory numbers, worst quality (paper Table 4, ControlNet)
    assert lines[5] == ("| w/o GAN Loss | 28.82 | 265.46 | **71.56**/**75.48** | 26.33 | 192.85 | **78.26**/<u>82.15</u> "
                        "| 75.42 | 1131.65 | **55.87**/68.59 |")
    assert lines[6].startswith("| FlashMotion | **14.35** | **96.08** | <u>69.15</u>/<u>75.38</u> | **12.49** | **99.30** |")


runner = CliRunner()


def test_cli_overall_across_benchmarks_and_refusal(tmp_path):
    paths = []
    for i, r in enumerate(three_benchmarks()):
        d = tmp_path / f"r{i}"
        d.mkdir()
        (d / "results.json").write_text(json.dumps(r))
        paths.append(str(d))
    result = runner.invoke(app, ["tables", *paths, "--table", "overall", "--iou", "joint"])
    assert result.exit_code == 0, result.output
    assert result.stdout == THREE_MD
    result = runner.invoke(app, ["tables", *paths, "--plot", str(tmp_path / "plots")])
    assert isinstance(result.exception, InputError) and "one benchmark" in str(result.exception)
    result = runner.invoke(app, ["tables", paths[0], "--table", "groups"])
    assert isinstance(result.exception, InputError) and "scored overall" in str(result.exception)
