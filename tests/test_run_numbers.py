"""Numbers that cannot go stale: rows and statistics that recompute every aggregate, caches keyed
by the scoring code, the inputs' content and the device, lean run directories, provenance."""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from flashbench.aggregate import recompute_from_run
from flashbench.data.benchmark import Benchmark
from flashbench.evaluate import EvalConfig, Scorers, run
from flashbench.generators.builtin import CopyPasteGenerator
from flashbench.protocol import Protocol

TEST_PROTOCOL = Protocol(fid_frame_stride=4)


def evaluate(model: str, bench: Path, run_dir: Path, **kw):
    cfg = EvalConfig(model=model, bench=bench, run_dir=run_dir, extractor="proxy", progress=False, bootstrap=50,
                     protocol=TEST_PROTOCOL, **kw)
    return run(cfg)


def sections(res: dict) -> dict:
    return {k: res[k] for k in ("overall", "groups", "ceiling")}


def test_rows_and_statistics_recompute_every_aggregate_with_failures(tiny_bench, tmp_path, monkeypatch):
    ids = [i.video_id for i in Benchmark.open(tiny_bench).items]
    original = CopyPasteGenerator.generate

    def two_fail(self, requests):
        if any(r.video_id in ids[:2] for r in requests):
            raise RuntimeError("simulated failure")
        return original(self, requests)

    monkeypatch.setattr(CopyPasteGenerator, "generate", two_fail)
    old = os.umask(0o022)
    try:
        res = evaluate("copy-paste", tiny_bench, tmp_path / "run")
    finally:
        os.umask(old)
    run_dir = tmp_path / "run"
    assert res["overall"]["n_failed"] == 2

    with open(run_dir / "videos.csv", newline="") as f:
        rows = {r["video_id"]: r for r in csv.DictReader(f)}
    for vid in ids[:2]:  # a failure is a 0 with its status, as the aggregate counts it
        assert rows[vid]["status"] == "failed"
        assert float(rows[vid]["mask_iou"]) == 0.0 and float(rows[vid]["box_iou"]) == 0.0 and float(rows[vid]["coverage"]) == 0.0
    assert recompute_from_run(run_dir) == sections(res)

    # lean: no real-side statistics and no per-video features stay in the run directory
    assert not list((run_dir / "stats").glob("*_real_*")) and not list((run_dir / "features").glob("*.npz"))
    assert stat.S_IMODE((run_dir / "results.json").stat().st_mode) == 0o644  # the user's umask

    # a rerun with nothing to redo re-aggregates from the stored statistics to the same numbers
    monkeypatch.setattr(CopyPasteGenerator, "generate", original)
    again = evaluate("copy-paste", tiny_bench, tmp_path / "run")
    assert sections(again) == sections(res)


def test_edited_scoring_code_rescores_and_rebuilds_the_real_side(tiny_bench, tmp_path, monkeypatch):
    import flashbench.metrics
    import flashbench.provenance as provenance

    # a private copy of the package's scoring sources, so a test can edit one
    root = tmp_path / "src"
    for f in provenance.scoring_files():
        dst = root / f.relative_to(provenance._ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst)
    monkeypatch.setattr(provenance, "_ROOT", root)
    first = evaluate("ground-truth", tiny_bench, tmp_path / "run", groups=("1", "2"))

    # the IoU code changes: (here) it halves every mask IoU
    real_score_video = flashbench.metrics.score_video
    monkeypatch.setattr(flashbench.metrics, "score_video",
                        lambda *a, **k: dataclasses.replace(s := real_score_video(*a, **k), mask_iou=s.mask_iou / 2))
    unchanged_source = evaluate("ground-truth", tiny_bench, tmp_path / "run", groups=("1", "2"))
    assert sections(unchanged_source) == sections(first)  # same source hash: the cache is valid

    with open(root / "metrics" / "iou.py", "a") as f:
        f.write("\n# edited\n")
    second = evaluate("ground-truth", tiny_bench, tmp_path / "run", groups=("1", "2"))
    assert second["environment"]["code_hash"] != first["environment"]["code_hash"]
    assert second["overall"]["mask_iou"] == pytest.approx(first["overall"]["mask_iou"] / 2, rel=1e-9)
    assert second["ceiling"]["overall"]["mask_iou"] == pytest.approx(first["ceiling"]["overall"]["mask_iou"] / 2, rel=1e-9)


def test_cache_key_covers_device_and_code():
    class Stub:
        class info:  # noqa: N801 - stands in for an extractor's info
            @staticmethod
            def to_dict():
                return {"name": "stub"}

    cpu, gpu = (Scorers(Stub, Stub, Stub, device=d).cache_key() for d in ("cpu", "cuda:0"))
    assert cpu != gpu and cpu["code"] == gpu["code"] and len(cpu["code"]) == 16


def test_replaced_video_in_a_folder_is_rescored(tiny_bench, tmp_path):
    from flashbench.data import video as video_io

    gt = evaluate("ground-truth", tiny_bench, tmp_path / "gt", groups=("1",))
    folder = tmp_path / "folder"
    folder.mkdir()
    for v in (tmp_path / "gt" / "videos").glob("*.mkv"):
        shutil.copy(v, folder / v.name)
    args = {"path": str(folder)}
    first = evaluate("video-folder", tiny_bench, tmp_path / "vf", groups=("1",), model_args=args)
    assert first["overall"]["mask_iou"] == pytest.approx(gt["overall"]["mask_iou"])

    (video,) = folder.glob("*.mkv")  # replaced by a video that never moves
    frames = video_io.read_video(video)
    video_io.write_video(video, np.repeat(frames[:1], len(frames), axis=0))
    second = evaluate("video-folder", tiny_bench, tmp_path / "vf", groups=("1",), model_args=args)
    assert second["overall"]["mask_iou"] < first["overall"]["mask_iou"] - 1.0


def test_results_record_package_versions_and_extractor_notes(tiny_bench, tmp_path):
    res = evaluate("static", tiny_bench, tmp_path / "run", groups=("1",))
    pkgs = res["environment"]["packages"]
    for name in ("python", "flashbench", "torch", "torchvision", "numpy", "scipy", "pillow", "clean-fid", "torchmetrics", "av"):
        assert pkgs[name], name
    for name in ("sam2", "diffusers", "transformers", "opencv-python-headless"):
        assert name in pkgs  # null when not installed
    assert pkgs["ffmpeg"]["libavcodec"].count(".") == 2
    for role in ("fid", "fvd", "segmenter"):  # how each extractor ran, as it describes itself
        assert isinstance(res["extractors"][role]["notes"], str) and res["extractors"][role]["notes"]
    assert "seeded random weights" in res["extractors"]["fid"]["notes"]
