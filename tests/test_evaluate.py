"""The evaluation harness end to end on a tiny FlashBench-Synth benchmark (proxy extractors)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flashbench.data.schema import GROUPS
from flashbench.evaluate import EvalConfig, run
from flashbench.generators.builtin import CopyPasteGenerator
from flashbench.protocol import Protocol

# Two FID frames per 9-frame video (1 and 5) keep the tests quick; the stride is a protocol field.
TEST_PROTOCOL = Protocol(fid_frame_stride=4)

METRIC_KEYS = ("fid", "fvd", "mask_iou", "box_iou", "mask_iou_ci", "box_iou_ci", "coverage", "centroid_error",
               "n_expected", "n_scored", "n_failed", "fid_frames", "fvd_clips")


def evaluate(model: str, bench: Path, run_dir: Path, **kw):
    cfg = EvalConfig(model=model, bench=bench, run_dir=run_dir, extractor="proxy", progress=False, bootstrap=200,
                     protocol=TEST_PROTOCOL, **kw)
    return run(cfg)


def numbers(results: dict) -> dict:
    """The scored numbers of a result (no timings, paths or environment)."""
    return {"overall": {k: results["overall"][k] for k in METRIC_KEYS},
            "groups": {g: {k: r[k] for k in METRIC_KEYS} for g, r in results["groups"].items()},
            "ceiling": results["ceiling"]}


@pytest.fixture(scope="module")
def gt_static_copy(tiny_bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    results = {m: evaluate(m, tiny_bench, root / m) for m in ("ground-truth", "static", "copy-paste")}
    results["root"] = root
    return results


def test_results_are_self_describing(gt_static_copy):
    res = gt_static_copy["copy-paste"]
    for key in ("protocol", "protocol_hash", "benchmark", "generator", "extractors", "overall", "groups", "timings", "environment"):
        assert key in res
    assert set(res["groups"]) == set(GROUPS)
    assert res["official"] is False and all(e["official"] is False for e in res["extractors"].values())
    assert res["benchmark"]["manifest_hash"] and res["generator"]["name"] == "copy-paste"
    for g in GROUPS:
        r = res["groups"][g]
        assert r["n_expected"] == 1 and r["n_scored"] == 1 and r["n_failed"] == 0
    assert res["overall"]["n_expected"] == 6 and res["overall"]["fid_frames"] == 6 * 2 and res["overall"]["fvd_clips"] == 6


def test_ground_truth_is_the_upper_bound(gt_static_copy):
    res = gt_static_copy["ground-truth"]
    assert abs(res["overall"]["fid"]) < 1e-6 and abs(res["overall"]["fvd"]) < 1e-6
    assert res["overall"]["mask_iou"] == pytest.approx(res["ceiling"]["overall"]["mask_iou"], abs=1e-9)
    assert res["overall"]["box_iou"] == pytest.approx(res["ceiling"]["overall"]["box_iou"], abs=1e-9)
    for g in GROUPS:
        assert res["groups"][g]["mask_iou"] == pytest.approx(res["ceiling"]["groups"][g]["mask_iou"], abs=1e-9)


def test_static_scores_lowest_and_copy_paste_lands_between(gt_static_copy):
    gt, static, copy = (gt_static_copy[m]["overall"] for m in ("ground-truth", "static", "copy-paste"))
    assert static["mask_iou"] < copy["mask_iou"] < gt["mask_iou"]
    assert static["box_iou"] < copy["box_iou"] <= gt["box_iou"]
    assert static["mask_iou"] < 0.8 * gt["mask_iou"]
    assert static["fvd"] > 0 and copy["fvd"] > 0 and static["fid"] > 0


def test_rows_and_stats_are_written(gt_static_copy):
    import pandas as pd

    from flashbench.aggregate import recompute_from_run

    run_dir = gt_static_copy["root"] / "copy-paste"
    rows = pd.read_csv(run_dir / "videos.csv")
    assert len(rows) == 6 and set(rows["status"]) == {"ok"}
    res = gt_static_copy["copy-paste"]
    assert rows["mask_iou"].mean() == pytest.approx(res["overall"]["mask_iou"], rel=1e-12)
    # aggregates are recomputable from the stored rows and statistics, to the bit
    assert recompute_from_run(run_dir) == {k: res[k] for k in ("overall", "groups", "ceiling")}


def test_resume_after_interrupt_regenerates_nothing_and_matches(tiny_bench, tmp_path, monkeypatch, gt_static_copy):
    calls = []
    original = CopyPasteGenerator.generate

    def flaky(self, requests):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append([r.video_id for r in requests])
        return original(self, requests)

    monkeypatch.setattr(CopyPasteGenerator, "generate", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate("copy-paste", tiny_bench, tmp_path / "run")
    done = {v for c in calls for v in c}
    assert len(done) == 3 and len(list((tmp_path / "run" / "videos").glob("*.mkv"))) == 3
    assert not list((tmp_path / "run").rglob("*.tmp*")), "no half-written file may remain"

    seen = []
    monkeypatch.setattr(CopyPasteGenerator, "generate", lambda self, reqs: seen.extend(r.video_id for r in reqs) or original(self, reqs))
    res = evaluate("copy-paste", tiny_bench, tmp_path / "run")
    assert len(seen) == 3 and not (set(seen) & done), "finished videos must not be regenerated"
    assert numbers(res) == numbers(gt_static_copy["copy-paste"])


def test_batch_size_does_not_change_numbers(tiny_bench, tmp_path, gt_static_copy):
    res = evaluate("copy-paste", tiny_bench, tmp_path / "b3", batch_size=4)
    assert numbers(res) == numbers(gt_static_copy["copy-paste"])


def test_bad_outputs_are_recorded_as_failures(tiny_bench, tmp_path, monkeypatch):
    from flashbench.data.benchmark import Benchmark

    ids = [i.video_id for i in Benchmark.open(tiny_bench).items]
    original = CopyPasteGenerator.generate

    def broken(self, requests):
        out = original(self, requests)
        for i, r in enumerate(requests):
            if r.video_id == ids[0]:
                out[i] = np.full(out[i].frames.shape, np.nan, np.float32)
            elif r.video_id == ids[1]:
                out[i] = out[i].frames[:-1]
            elif r.video_id == ids[2]:
                raise RuntimeError("CUDA out of memory (simulated)")
        return out

    monkeypatch.setattr(CopyPasteGenerator, "generate", broken)
    res = evaluate("copy-paste", tiny_bench, tmp_path / "bad", batch_size=2)
    assert res["overall"]["n_failed"] == 3 and res["overall"]["n_scored"] == 3 and res["overall"]["n_expected"] == 6
    records = {v: json.loads((tmp_path / "bad" / "records" / f"{v}.json").read_text()) for v in ids[:3]}
    assert "NaN" in records[ids[0]]["error"]
    assert "frames" in records[ids[1]]["error"]
    assert "out of memory" in records[ids[2]]["error"]
    failed_group = Benchmark.open(tiny_bench).items[0].group
    assert res["groups"][failed_group]["mask_iou"] == 0.0  # a failure scores 0, it is never dropped


def test_run_dir_of_another_evaluation_is_refused(tiny_bench, tmp_path):
    from flashbench.errors import InputError

    evaluate("static", tiny_bench, tmp_path / "r", groups=("1",))
    with pytest.raises(InputError, match="different evaluation"):
        evaluate("static", tiny_bench, tmp_path / "r", groups=("1",), seed=5)


def _env():
    env = dict(os.environ)
    env["FLASHBENCH_DIST_BACKEND"] = "gloo"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_torchrun_two_processes_match_one(tiny_bench, tmp_path, gt_static_copy):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "flashbench",
           "eval", "--model", "copy-paste", "--bench", str(tiny_bench), "--run-dir", str(tmp_path / "ddp"),
           "--extractor", "proxy", "--no-progress", "--bootstrap", "200", "--fid-stride", "4"]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert numbers(res) == numbers(gt_static_copy["copy-paste"])


def test_third_party_generator_through_entry_point(tiny_bench, tmp_path):
    site = tmp_path / "site"
    pkg = site / "tinygen_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import numpy as np\n"
        "from flashbench.generators import GeneratorInfo\n"
        "class Dimmer:\n"
        "    info = GeneratorInfo(name='dimmer', version='0.1', parameters=0, native_size=None, max_frames=None,\n"
        "                         trajectory_types=('box',), nfe=0)\n"
        "    def generate(self, requests):\n"
        "        return [np.repeat((r.first_frame // 2)[None], r.num_frames, axis=0) for r in requests]\n"
        "def make():\n"
        "    return Dimmer()\n"
    )
    dist = site / "tinygen_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinygen-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[flashbench.generators]\ntiny-dimmer = tinygen_pkg:make\n")
    env = _env()
    env["PYTHONPATH"] = str(site) + os.pathsep + env.get("PYTHONPATH", "")
    listed = subprocess.run([sys.executable, "-m", "flashbench", "ls", "generators"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "tiny-dimmer" in listed.stdout
    proc = subprocess.run([sys.executable, "-m", "flashbench", "eval", "--model", "tiny-dimmer", "--bench", str(tiny_bench),
                           "--run-dir", str(tmp_path / "tp"), "--extractor", "proxy", "--groups", "1,2", "--no-progress",
                           "--fid-stride", "4"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "tp" / "results.json").read_text())
    assert res["generator"]["name"] == "dimmer" and res["overall"]["n_scored"] == 2 and res["overall"]["fid"] > 0


def test_cli_errors_name_the_input(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flashbench", "eval", "--model", "no-such-model", "--bench", str(tmp_path)],
                          env=_env(), capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not a benchmark directory" in proc.stderr or "unknown generator" in proc.stderr


def test_flashmotion_tiny_random_model_through_eval(tiny_bench, tmp_path):
    """The registered FlashMotion generator (tiny config, random weights) runs the whole pipeline."""
    res = evaluate("flashmotion-controlnet", tiny_bench, tmp_path / "fm", groups=("1", "2"),
                   model_args={"init": "random", "config": "tiny"})
    assert res["generator"]["nfe"] == 4 and res["generator"]["model_args"] == {"config": "tiny", "init": "random"}
    assert res["overall"]["n_scored"] == 2 and res["overall"]["n_failed"] == 0
    assert res["timings"]["denoise_s_mean"] > 0
    assert 0 <= res["overall"]["mask_iou"] <= 100 and res["overall"]["fvd"] > 0


def test_killed_eval_resumes_without_regenerating(tiny_bench, tmp_path):
    """SIGKILL in the middle of generation, then rerun: finished videos are kept, the rest are made."""
    import signal
    import time

    site = tmp_path / "site"
    site.mkdir()
    log = tmp_path / "calls.log"
    (site / "slowgen_pkg.py").write_text(
        "import os, time\n"
        "import numpy as np\n"
        "from flashbench.generators import GeneratorInfo\n"
        "class Slow:\n"
        "    info = GeneratorInfo(name='slow', version='0.1', parameters=0, native_size=None, max_frames=None,\n"
        "                         trajectory_types=('box',), nfe=0)\n"
        "    def generate(self, requests):\n"
        "        out = []\n"
        "        for r in requests:\n"
        "            with open(os.environ['SLOWGEN_LOG'], 'a') as f:\n"
        "                f.write(r.video_id + '\\n')\n"
        "            time.sleep(float(os.environ.get('SLOWGEN_SLEEP', '0')))\n"
        "            out.append(np.repeat(r.first_frame[None], r.num_frames, axis=0))\n"
        "        return out\n"
        "def make():\n"
        "    return Slow()\n"
    )
    env = _env()
    env.update(PYTHONPATH=str(site) + os.pathsep + env.get("PYTHONPATH", ""), SLOWGEN_LOG=str(log), SLOWGEN_SLEEP="2")
    cmd = [sys.executable, "-m", "flashbench", "eval", "--model", "slowgen_pkg:make", "--bench", str(tiny_bench),
           "--run-dir", str(tmp_path / "run"), "--extractor", "proxy", "--no-progress", "--fid-stride", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "run" / "records"

    def finished_ids() -> set[str]:  # a dot-file is an atomic write in flight, not a record
        return {p.stem for p in records.glob("*.json") if not p.name.startswith(".")}

    deadline = time.time() + 300
    while time.time() < deadline and len(finished_ids()) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = finished_ids()
    assert 2 <= len(finished) < 6
    first_calls = log.read_text().split()
    env["SLOWGEN_SLEEP"] = "0"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    second_calls = log.read_text().split()[len(first_calls):]
    assert not set(second_calls) & finished, "finished videos must not be regenerated"
    assert set(second_calls) | finished == {p.stem for p in (tmp_path / "run" / "videos").glob("*.mkv") if not p.name.startswith(".")}
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["overall"]["n_scored"] == 6 and res["overall"]["n_failed"] == 0
    assert not list((tmp_path / "run").rglob(".*.tmp*")), "stale temporary files are cleaned up on resume"


def test_video_folder_with_fewer_frames_is_compared_to_resampled_ground_truth(tiny_bench, tmp_path):
    """Outputs of N < num_frames frames meet ground truth at round(linspace(0, T-1, N)) (PROTOCOL 3)."""
    from flashbench.data.benchmark import Benchmark
    from flashbench.data.video import uniform_indices, write_video

    bench = Benchmark.open(tiny_bench)
    folder = tmp_path / "outputs"
    chosen = bench.select(("1", "2"))
    for info in chosen:
        sample = bench.sample(info.video_id)
        write_video(folder / f"{info.video_id}.mkv",
                    sample.frames(uniform_indices(info.num_frames, 5)))
    res = evaluate("video-folder", tiny_bench, tmp_path / "vf", groups=("1", "2", "3"),
                   model_args={"path": str(folder), "name": "outside-method"})
    assert res["generator"]["max_frames"] == 5 and res["generator"]["frames_generated"] == 5
    assert "missing" not in res["generator"]["notes"], "the folder's contents are no part of the run's identity"
    # the two present videos are exactly the resampled ground truth: perfect scores
    for g in ("1", "2"):
        assert res["groups"][g]["mask_iou"] == pytest.approx(res["ceiling"]["groups"][g]["mask_iou"], abs=1e-9)
        assert res["groups"][g]["n_failed"] == 0
    assert abs(res["overall"]["fvd"] if res["overall"]["fvd"] is not None else 0.0) < 1e-6
    # the missing one is a recorded failure, not a silent drop
    assert res["groups"]["3"]["n_failed"] == 1 and res["groups"]["3"]["mask_iou"] == 0.0
