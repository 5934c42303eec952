"""`flashbench reproduce tiny`: the plan of rows, a 2-video run from the shipped reference checkpoints
(resumed without recomputing), and the paper's transcribed numbers."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from flashbench import reproduce
from flashbench.errors import InputError
from flashbench.report import paper_results as paper

LEADERBOARD_PAPER = Path(__file__).resolve().parents[1] / "leaderboard" / "data" / "paper_tables.json"


def _resolver(available: dict[str, Path]):
    return lambda name: available.get(name)


# ----------------------------------------------------------------------------- the plan


def test_rows_are_the_reference_models_baselines_and_ablations():
    kinds = [r.kind for r in reproduce.ROWS]
    assert (kinds.count("reference"), kinds.count("baseline"), kinds.count("ablation")) == (6, 6, 12)
    assert len(reproduce.ROW_BY_LABEL) == 24  # labels are unique: one run folder each
    for a in ("resnet", "controlnet"):
        for switch in ("no-diffusion", "no-gan", "fixed-scale", "heads-vc", "heads-ss-vc", "heads-tc-vc"):
            row = reproduce.ROW_BY_LABEL[f"ablation-{a}-{switch}"]
            assert row.model == f"flashmotion-{a}" and row.weights == row.label and row.passes_checkpoint
    assert reproduce.ROW_BY_LABEL["lcm-controlnet"].model == "lcm-controlnet"
    assert reproduce.ROW_BY_LABEL["flashmotion-resnet-slowadapter"].kind == "reference"


def test_plan_skips_rows_without_weights_with_a_reason(tmp_path):
    folder = tmp_path / "ckpt"
    have = {"flashmotion-resnet": folder, "ablation-controlnet-no-gan": folder}
    planned = reproduce.plan(resolve=_resolver(have))
    assert [pr.label for pr in planned] == [r.label for r in reproduce.ROWS]
    by = {pr.label: pr for pr in planned}
    assert by["flashmotion-resnet"].status == "planned" and by["flashmotion-resnet"].model_args == {}
    # an ablation loads its folder on the FastAdapter generator of its adapter
    assert by["ablation-controlnet-no-gan"].model_args == {"checkpoint": str(folder)}
    skipped = [pr for pr in planned if pr.status == "skipped"]
    assert len(skipped) == 22
    reason = by["dmd-resnet"].reason
    assert "\n" not in reason and "dmd-resnet" in reason and "tiny-baselines" in reason
    assert "tiny-reference" in by["wan-controlnet-50step"].reason
    assert "ablation-resnet-heads-vc" in by["ablation-resnet-heads-vc"].reason

    only = reproduce.plan(reproduce.parse_only(["dmd-resnet,flashmotion-resnet", "dmd-resnet"]), resolve=_resolver(have))
    assert [pr.label for pr in only] == ["flashmotion-resnet", "dmd-resnet"]  # plan order, no duplicates
    # init=random runs every row untrained: nothing to resolve, nothing skipped
    rand = reproduce.plan(model_args={"init": "random"}, resolve=_resolver({}))
    assert all(pr.status == "planned" and pr.model_args == {"init": "random"} for pr in rand)


def test_plan_refuses_unknown_rows_and_a_global_checkpoint():
    with pytest.raises(InputError, match="--only nosuch: no such row"):
        reproduce.parse_only(["flashmotion-resnet,nosuch"])
    with pytest.raises(InputError, match="checkpoint"):
        reproduce.plan(model_args={"checkpoint": "x"}, resolve=_resolver({}))


def test_shipped_reference_checkpoints_resolve():
    planned = reproduce.plan([r.label for r in reproduce.ROWS if r.kind == "reference"])
    assert len(planned) == 6
    for pr in planned:
        assert pr.status == "planned", pr.reason
        assert (pr.checkpoint / "flashmotion.json").is_file() and pr.checkpoint.name == pr.label


def test_every_table_row_is_a_plan_row_with_a_paper_row():
    used = set()
    for spec in reproduce.TABLE_SPECS:
        assert spec.kind in ("overall", "groups", "ablation", "models")
        for trow in spec.rows:
            assert trow.label in reproduce.ROW_BY_LABEL
            used.add(trow.label)
            for number in spec.paper_tables:
                paper.TABLES[number].row(*trow.paper_row)  # raises KeyError when the paper has no such row
        for number in spec.paper_tables:
            assert set(spec.paper_columns or ()) <= set(paper.TABLES[number].columns)
    assert used == set(reproduce.ROW_BY_LABEL)  # every row shows up in some table


# ----------------------------------------------------------------------------- the paper's numbers

EXPECTED_COUNTS = {1: (14, 182), 2: (10, 40), 3: (8, 32), 4: (10, 120), 5: (8, 96), 6: (9, 45), 7: (14, 156), 8: (14, 156)}


def test_paper_numbers_counts_and_spot_values():
    for number, (rows, values) in EXPECTED_COUNTS.items():
        assert len(paper.TABLES[number].rows) == rows, number
        assert len(list(paper.numbers(number))) == values, number
    fm_cn = paper.TABLE_1.row(paper.CONTROLNET, "FlashMotion")
    assert fm_cn.values == (14.35, 96.08, 69.15, 75.38, 12.49, 99.30, 76.92, 82.17, 45.66, 690.13, 54.54, 74.37, 24.44, 10.28)
    assert paper.TABLE_1.value(paper.MULTISTEP, "MagicMotion", "Denoising Time (s)") == 1158.63
    assert paper.TABLE_1.row(paper.CONTROLNET, "DMD / GAN").note == "OOM"
    assert paper.TABLE_2.value(paper.ABL_RESNET, "w/o GAN Loss", "FVD") == 206.75
    assert paper.TABLE_3.value(paper.ABL_CONTROLNET, "SS+VC", "M IoU") == 65.84
    assert paper.TABLE_6.row("", "FlashMotion (ControlNet)").values == (121, "704×1280", 24.44, 10.28, "Wan2.2")
    assert paper.TABLE_8.value(paper.MULTISTEP, "MagicMotion", "Obj_Num>5 B IoU") == 62.35
    n = next(x for x in paper.numbers(4) if x.row == "Slow Adapter" and x.column == "DAVIS FVD")
    assert (n.table, n.section, n.value) == (4, paper.ABL_RESNET, 992.26)
    assert paper.table_label(1) == "the FlashMotion paper, Table 1 (FlashBench, official extractors, 5B models)"


def test_paper_tables_agree_where_the_paper_repeats_a_number():
    """The paper prints some numbers twice; the two transcriptions of each must agree."""
    fb = [f"FlashBench {m}" for m in paper.METRICS]
    for small, big in ((paper.TABLE_2, paper.TABLE_4), (paper.TABLE_3, paper.TABLE_5)):
        assert [(r.section, r.row) for r in small.rows] == [(r.section, r.row) for r in big.rows]
        for r in small.rows:
            assert list(r.values) == [big.value(r.section, r.row, c) for c in fb], (small.number, r.row)
    for table1_section, abl in ((paper.RESNET, paper.ABL_RESNET), (paper.CONTROLNET, paper.ABL_CONTROLNET)):
        full = [paper.TABLE_1.value(table1_section, "FlashMotion", c) for c in fb]
        assert full == list(paper.TABLE_2.row(abl, "FlashMotion").values) == list(paper.TABLE_3.row(abl, "FlashMotion").values)
        assert full + [paper.TABLE_1.value(table1_section, "FlashMotion", f"MagicBench {m}") for m in paper.METRICS] == \
            list(paper.TABLE_4.row(abl, "FlashMotion").values[:8])
    for t1_section, t1_row, t6_row in ((paper.MULTISTEP, "Wan2.2 (ResNet)", "Wan+ResNet"), (paper.RESNET, "FlashMotion", "FlashMotion (ResNet)"),
                                       (paper.CONTROLNET, "FlashMotion", "FlashMotion (ControlNet)"), (paper.MULTISTEP, "Tora", "Tora")):
        assert paper.TABLE_1.value(t1_section, t1_row, "Denoising Time (s)") == paper.TABLE_6.value("", t6_row, "Denoising Latency (s)")
        assert paper.TABLE_1.value(t1_section, t1_row, "Params (B)") == paper.TABLE_6.value("", t6_row, "Total Params (B)")


def test_paper_tables_1_7_8_match_the_leaderboards_transcription():
    """The leaderboard ships its own transcription of Tables 1, 7 and 8: two copies, one set of numbers."""
    data = json.loads(LEADERBOARD_PAPER.read_text(encoding="utf-8"))
    keys = {"fid": "FID", "fvd": "FVD", "mask_iou": "M IoU", "box_iou": "B IoU"}
    checked = 0
    for e in data["entries"]:
        name = re.sub(r"\s*\[\d+\]", "", e["method"])
        if e.get("oom"):
            assert paper.TABLE_1.row(e["section"], name).note == "OOM"
            continue
        for bench, metrics in e["benchmarks"].items():
            for k, col in keys.items():
                assert paper.TABLE_1.value(e["section"], name, f"{bench} {col}") == metrics[k], (name, bench, k)
                checked += 1
        assert paper.TABLE_1.value(e["section"], name, "Denoising Time (s)") == e["denoise_s"]
        for g, metrics in e["flashbench_groups"].items():
            table = paper.TABLE_7 if g in ("1", "2", "3") else paper.TABLE_8
            for k, col in keys.items():
                assert table.value(e["section"], name, f"{paper.GROUP_HEADERS[g]} {col}") == metrics[k], (name, g, k)
                checked += 1
    assert checked == 13 * 12 + 13 * 24


# ----------------------------------------------------------------------------- a run


def _file_times(out: Path) -> dict[str, int]:
    """Generated videos, generation records and per-video scores (a rerun only re-aggregates: stats/ is rewritten)."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "runs").rglob("*")
            if p.is_file() and p.parent.name in ("videos", "records", "scores")}


def _numbers(markdown: str) -> str:
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("- Date:"))


def test_two_videos_two_rows_and_a_skipped_one_then_a_rerun_recomputes_nothing(tiny_bench, tmp_path, monkeypatch):
    from flashbench.results import load_results
    from flashmotion import generators as fm

    shipped = fm.REFERENCE_DIR / "flashmotion-resnet"
    # dmd-resnet has no weights (whatever is installed); the no-GAN ablation gets the shipped FastAdapter folder
    resolve = {"flashmotion-resnet": shipped, "ablation-resnet-no-gan": shipped}
    monkeypatch.setattr(fm, "reference_checkpoint", lambda name: resolve.get(name))
    out = tmp_path / "out"
    settings = reproduce.Settings(out=out, bench=tiny_bench, groups=("1", "2"), limit=1, seed=3, bootstrap=0,
                                  progress=False, fid_stride=4, extractor="proxy", segmenter="tracker")
    only = ["flashmotion-resnet", "dmd-resnet", "ablation-resnet-no-gan"]
    lines: list[str] = []
    first = reproduce.reproduce_tiny(settings, only, say=lines.append)

    status = {pr.label: pr.status for pr in first.rows}
    assert status == {"flashmotion-resnet": "evaluated", "dmd-resnet": "skipped", "ablation-resnet-no-gan": "evaluated"}
    assert any(line.startswith("dmd-resnet: skipped: no weights") for line in lines)
    md = first.report.read_text()
    assert first.report == out / "reference-results.md"
    assert (f"- Command: `flashbench reproduce tiny --out {out} --bench {tiny_bench} --groups 1,2 --limit 1 --only flashmotion-resnet "
            "--only dmd-resnet --only ablation-resnet-no-gan --seed 3 --fid-stride 4 "
            "--extractor proxy --segmenter tracker`") in md
    from flashbench.data.benchmark import Benchmark

    assert f"manifest {Benchmark.open(tiny_bench).manifest_hash}" in md and "selected 2 of 6 videos" in md
    assert "scoring code " in md and "proxy extractors" in md

    # ours: the table code's rendering, with the run's own numbers
    fm_res = load_results(out / "runs" / "flashmotion-resnet")
    assert fm_res["overall"]["n_scored"] == 2 and fm_res["label"] == "flashmotion-resnet"
    table1 = md.split("## Table 1: overall")[1].split("## ")[0]
    row = next(line for line in table1.splitlines() if line.startswith("| FlashMotion (ResNet)‡"))
    assert f"{fm_res['overall']['fid']:.2f}" in row and f"{fm_res['overall']['mask_iou']:.2f}" in row
    # ... and the paper's, in its own labelled table right after
    assert "*the FlashMotion paper, Table 1 (FlashBench, official extractors, 5B models)" in table1
    paper_rows = table1.split("the FlashMotion paper, Table 1")[1]
    assert "| FlashMotion (ResNet) | 15.81 | 108.96 | 63.96 | 70.01 | 11.72 | 5.02 |" in paper_rows
    assert "| DMD (ResNet) (not run here) | 24.38 |" in paper_rows
    # the ablation table ranks our two rows (the ablation loaded with checkpoint=); the paper's Table 2 rows follow, unranked
    table2 = md.split("## Tables 2/4: ablations, ResNet adapter")[1].split("## ")[0]
    ours2, theirs2 = table2.split("*the FlashMotion paper, Table 2")
    for title in ("w/o GAN loss‡", "FlashMotion (full)‡"):
        assert f"| {title} |" in ours2
    assert "**" in ours2 and "w/o FastAdapter" not in ours2
    assert "| w/o GAN loss | 22.74 | 206.75 | 65.82 | 70.60 |" in theirs2 and "**" not in theirs2
    # the ablation here is the full model's own checkpoint: a tie on every metric, never "the same order"
    assert "- FID (↓), best first: ours w/o GAN loss = FlashMotion (full); paper FlashMotion (full) > w/o GAN loss; " \
           "0 of 1 pair in the same order" in table2
    for section in ("## Tables 7/8: by object count", "## Table 6: models", "## Tables 3/5: discriminator heads, ResNet adapter"):
        assert section in md
    assert "Tables 2/4: ablations, ControlNet" not in md  # no selected row there
    assert "| `ablation-resnet-no-gan` | `flashmotion-resnet` | checkpoint=" in md
    assert re.search(r"\| `dmd-resnet` \| `dmd-resnet` \| – \| skipped: no weights: [^|]*dmd-resnet", md)
    for name in ("iou", "quality"):
        assert (out / f"reference-results-resnet-{name}.png").stat().st_size > 0
        assert f"(reference-results-resnet-{name}.png)" in md

    # a rerun: nothing is generated or scored again, and the numbers are the same
    import flashbench.evaluate as ev

    def no_generation(*a, **k):
        raise AssertionError("a finished row was generated again")

    monkeypatch.setattr(ev, "_generate_batch", no_generation)
    before = _file_times(out)
    assert before
    second = reproduce.reproduce_tiny(settings, only, say=lambda line: None)
    assert [pr.status for pr in second.rows] == [pr.status for pr in first.rows]
    assert _file_times(out) == before
    assert _numbers(second.report.read_text()) == _numbers(md)


def test_missing_ablations_are_trained_from_the_installed_set_then_evaluated(tiny_bench, tmp_path, monkeypatch):
    from flashmotion import generators as fm
    from flashmotion.training import recipe

    shipped = fm.REFERENCE_DIR / "flashmotion-resnet"
    installed = {"flashmotion-resnet": shipped}
    trained = []

    def fake_recipe(name, out, ctx, progress=True, install=None, only=None, **kw):
        trained.append((name, sorted(only), Path(install)))
        installed.update({run: shipped for run in only})  # stands in for the trained folders

    monkeypatch.setattr(recipe, "run_recipe", fake_recipe)
    settings = reproduce.Settings(out=tmp_path / "out", bench=tiny_bench, groups=("1",), limit=1, bootstrap=0,
                                  progress=False, extractor="proxy", segmenter="tracker")
    lines: list[str] = []
    only = ["flashmotion-resnet", "ablation-resnet-no-gan", "dmd-resnet"]
    outcome = reproduce.reproduce_tiny(settings, only, say=lines.append, resolve=installed.get)
    from flashbench.paths import checkpoints_dir

    assert trained == [("tiny-ablations", ["ablation-resnet-no-gan"], checkpoints_dir())]  # the ablation only
    assert {pr.label: pr.status for pr in outcome.rows} == {
        "flashmotion-resnet": "evaluated", "ablation-resnet-no-gan": "evaluated", "dmd-resnet": "skipped"}
    assert any(line.startswith("training 1 ablation(s) from the installed reference set") for line in lines)

    # --no-train-ablations: the row is skipped, its reason names the recipe, and the command says so
    del installed["ablation-resnet-no-gan"]
    trained.clear()
    quiet = reproduce.Settings(out=tmp_path / "out2", bench=tiny_bench, groups=("1",), limit=1, bootstrap=0,
                               progress=False, extractor="proxy", segmenter="tracker", train_ablations=False)
    outcome = reproduce.reproduce_tiny(quiet, ["ablation-resnet-no-gan"], say=lines.append, resolve=installed.get)
    assert trained == [] and outcome.rows[0].status == "skipped"
    assert "`flashbench train recipe tiny-ablations` writes it" in outcome.rows[0].reason
    assert "--no-train-ablations" in outcome.report.read_text()


def test_baselines_and_ablations_from_another_reference_set_are_not_evaluated(tmp_path):
    """An ablation left in the cache by an earlier set, or a shipped baseline beside a set the
    user trained into the cache, would pair weights of two sets in one table: skipped."""
    import json
    import shutil

    from flashmotion import generators as fm

    installed = {name: fm.REFERENCE_DIR / name for name in (
        "wan-resnet-50step", "flashmotion-controlnet-slowadapter", "flashmotion-resnet-slowadapter", "dmd-resnet")}

    # an ablation trained by `tiny-ablations` records the installed folders it started from
    # (the package ships none: a stage-3 folder given those parents stands in for one)
    from flashmotion.training.components import checkpoint_hash

    def installed_hash(name):
        return checkpoint_hash(json.loads((installed[name] / "flashmotion.json").read_text()))

    mine = tmp_path / "ablation-resnet-no-gan"
    mine.mkdir()
    meta = json.loads((fm.REFERENCE_DIR / "flashmotion-resnet" / "flashmotion.json").read_text())
    for entry in meta["components"].values():
        entry["file"] = str(fm.REFERENCE_DIR / "_blobs" / Path(entry["file"]).name)
    meta["provenance"]["parents"] = {"parent": installed_hash("wan-resnet-50step"),
                                     "generator": installed_hash("flashmotion-controlnet-slowadapter")}
    (mine / "flashmotion.json").write_text(json.dumps(meta))
    installed["ablation-resnet-no-gan"] = mine
    rows = {pr.label: pr for pr in reproduce.plan(["ablation-resnet-no-gan", "dmd-resnet"], resolve=installed.get)}
    assert all(pr.status == "planned" for pr in rows.values())  # the shipped baseline and this ablation: one set

    other = tmp_path / "wan-resnet-50step"  # the same alias from a retrained stage 1
    shutil.copytree(fm.REFERENCE_DIR / "wan-resnet-50step", other)
    meta = json.loads((other / "flashmotion.json").read_text())
    for entry in meta["components"].values():
        entry["file"] = str(Path("..") / "_blobs" / Path(entry["file"]).name)
    meta["components"]["adapter"]["sha256"] = meta["components"]["adapter"]["trained_sha256"] = "0" * 64
    (other / "flashmotion.json").write_text(json.dumps(meta))
    installed["wan-resnet-50step"] = other
    rows = {pr.label: pr for pr in reproduce.plan(["ablation-resnet-no-gan", "dmd-resnet"], resolve=installed.get)}
    for label, recipe in (("ablation-resnet-no-gan", "tiny-ablations"), ("dmd-resnet", "tiny-baselines")):
        assert rows[label].status == "skipped"
        assert rows[label].reason.startswith(f"stale weights: {installed[label]} was trained from another parent "
                                             f"than the installed wan-resnet-50step ({other})")
        assert rows[label].reason.endswith(f"`flashbench train recipe {recipe}` trains it from the installed set")


def test_cli_lists_rows_and_refuses_bad_input(monkeypatch, capsys):
    from flashbench import cli
    from flashmotion import generators as fm

    monkeypatch.setattr(fm, "reference_checkpoint", lambda name: Path("/ckpt") if name == "flashmotion-resnet" else None)
    monkeypatch.setattr(sys, "argv", ["flashbench", "reproduce", "tiny", "--list", "--only", "flashmotion-resnet,gan-resnet"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out = capsys.readouterr().out.splitlines()
    assert info.value.code == 0
    assert out[0] == "flashmotion-resnet (reference): flashmotion-resnet; weights /ckpt"
    assert out[1].startswith("gan-resnet (baseline): gan-resnet; skipped: no weights: no checkpoint folder gan-resnet")
    assert len(out) == 2

    monkeypatch.setattr(sys, "argv", ["flashbench", "reproduce", "tiny", "--only", "nosuch"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and err[0].startswith("error: --only nosuch: no such row")
