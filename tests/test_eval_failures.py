"""Failed videos: listed at the end of eval, retried on request, fatal with --strict, and a
video-folder whose files are corrupt, missing or added later (one test per behaviour)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from flashbench.data.benchmark import Benchmark
from flashbench.data.video import write_video
from flashbench.evaluate import EvalConfig, run
from flashbench.generators.builtin import CopyPasteGenerator
from flashbench.protocol import Protocol

PROTOCOL = Protocol(fid_frame_stride=4)


def evaluate(model: str, bench: Path, run_dir: Path, console: Console | None = None, **kw):
    cfg = EvalConfig(model=model, bench=bench, run_dir=run_dir, extractor="proxy", progress=False, bootstrap=0,
                     protocol=PROTOCOL, **kw)
    return run(cfg, console=console)


def capture() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=60), buf


def ground_truth_folder(bench_root: Path, folder: Path, groups: tuple[str, ...]) -> list[str]:
    """Write the ground truth of the given groups as a folder of pre-generated videos."""
    bench = Benchmark.open(bench_root)
    ids = []
    for info in bench.select(groups):
        write_video(folder / f"{info.video_id}.mkv", bench.sample(info.video_id).frames())
        ids.append(info.video_id)
    return ids


def test_failed_videos_are_listed_with_reasons_at_the_end(tiny_bench, tmp_path, monkeypatch):
    first = Benchmark.open(tiny_bench).items[0].video_id

    def broken(self, requests):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(CopyPasteGenerator, "generate", broken)
    console, buf = capture()
    evaluate("copy-paste", tiny_bench, tmp_path / "run", console=console, groups=("1",))
    out = buf.getvalue()
    assert "1 video failed" in out
    tail = out[out.index("1 video failed"):]
    assert f"{first}: RuntimeError: CUDA out of memory (simulated)" in tail, "each failure on one line with its reason"


def test_retry_failed_generates_only_the_failed_videos_again(tiny_bench, tmp_path, monkeypatch):
    first = Benchmark.open(tiny_bench).items[0].video_id
    original = CopyPasteGenerator.generate
    calls: list[str] = []
    state = {"broken": True}

    def flaky(self, requests):
        calls.extend(r.video_id for r in requests)
        if state["broken"]:
            raise RuntimeError("transient failure")
        return original(self, requests)

    monkeypatch.setattr(CopyPasteGenerator, "generate", flaky)
    res = evaluate("copy-paste", tiny_bench, tmp_path / "run", groups=("1",))
    assert res["overall"]["n_failed"] == 1
    state["broken"] = False
    calls.clear()
    res = evaluate("copy-paste", tiny_bench, tmp_path / "run", groups=("1",))
    assert calls == [] and res["overall"]["n_failed"] == 1, "a plain rerun keeps recorded failures"
    res = evaluate("copy-paste", tiny_bench, tmp_path / "run", groups=("1",), retry_failed=True)
    assert calls == [first], "the failed video is generated again"
    assert res["overall"]["n_failed"] == 0 and res["overall"]["n_scored"] == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "flashbench", *args], env=env, capture_output=True, text=True, timeout=600)


def test_strict_exits_nonzero_when_a_video_failed(tiny_bench, tmp_path):
    folder = tmp_path / "outputs"
    ground_truth_folder(tiny_bench, folder, ("3",))  # group 1's video is missing: a recorded failure
    base = ["eval", "--model", "video-folder", "--model-arg", f"path={folder}", "--bench", str(tiny_bench),
            "--groups", "1", "--extractor", "proxy", "--no-progress", "--bootstrap", "0", "--fid-stride", "4",
            "--run-dir", str(tmp_path / "run")]
    strict = _cli(*base, "--strict")
    assert strict.returncode == 1
    assert strict.stderr.strip().splitlines() == ["--strict: 1 of 1 videos failed (listed above)"]
    assert "1 video failed" in strict.stdout
    assert (tmp_path / "run" / "results.json").is_file(), "results are written before --strict fails the run"
    lenient = _cli(*base)  # the same evaluation resumed: nothing to do but report
    assert lenient.returncode == 0, lenient.stderr[-2000:]


def test_corrupt_file_in_video_folder_is_a_recorded_failure_wherever_it_sorts(tiny_bench, tmp_path):
    folder = tmp_path / "outputs"
    ids = sorted(ground_truth_folder(tiny_bench, folder, ("1", "2", "3")))
    for bad in (ids[0], ids[-1]):  # the first file once set the frame count and aborted the run
        (folder / f"{bad}.mkv").write_bytes(b"not a video" * 100)
    res = evaluate("video-folder", tiny_bench, tmp_path / "run", groups=("1", "2", "3"), model_args={"path": str(folder)})
    assert res["overall"]["n_failed"] == 2 and res["overall"]["n_scored"] == 1
    for bad in (ids[0], ids[-1]):
        record = json.loads((tmp_path / "run" / "records" / f"{bad}.json").read_text())
        assert record["status"] == "failed" and str(folder / f"{bad}.mkv") in record["error"]


def test_adding_a_missing_file_to_a_video_folder_and_rerunning_scores_it(tiny_bench, tmp_path):
    folder = tmp_path / "outputs"
    one, two = ground_truth_folder(tiny_bench, folder, ("1", "2"))
    held_back = tmp_path / "later.mkv"
    (folder / f"{one}.mkv").rename(held_back)
    res = evaluate("video-folder", tiny_bench, tmp_path / "run", groups=("1",), model_args={"path": str(folder)})
    assert res["overall"]["n_failed"] == 1
    held_back.rename(folder / f"{one}.mkv")
    res = evaluate("video-folder", tiny_bench, tmp_path / "run", groups=("1",), model_args={"path": str(folder)})
    assert res["overall"]["n_failed"] == 0 and res["overall"]["n_scored"] == 1
    assert res["overall"]["mask_iou"] == pytest.approx(res["ceiling"]["overall"]["mask_iou"], abs=1e-9)


def test_missing_videos_header_counts_only_the_selected_groups(tiny_bench, tmp_path):
    folder = tmp_path / "outputs"
    ground_truth_folder(tiny_bench, folder, ("3",))  # five benchmark videos missing, one of them selected
    console, buf = capture()
    evaluate("video-folder", tiny_bench, tmp_path / "run", console=console, groups=("1",), model_args={"path": str(folder)})
    out = " ".join(buf.getvalue().split())
    assert "1 selected video missing" in out
    assert "5 videos missing" not in out and "5 selected" not in out, "videos outside --groups are not counted"
