"""The benchmark builder: groups, sampling, manifest, determinism, resume, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from flashbench.data import builder
from flashbench.data.benchmark import Benchmark
from flashbench.data.builder import TrackFilter, build_benchmark, filter_tracks, item_id, stratified_sample
from flashbench.data.schema import GROUPS, ObjectTrack, group_for_count
from flashbench.data.validate import validate_benchmark
from flashbench.errors import InputError
from flashbench.utils.atomic import sha256_file

TINY = dict(per_group=1, num_frames=5, size=(64, 96), seed=0, progress=False)


def test_synth_build_layout_and_manifest(tmp_path):
    out = build_benchmark("synth", tmp_path / "b", workers=1, **TINY)
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "flashbench-benchmark" and m["format_version"] == 1
    assert m["groups"] == {g: 1 for g in GROUPS} and m["shortfall"] == {}
    assert m["build"]["source"] == "synth" and m["build"]["per_group"] == 1 and m["build"]["size"] == [64, 96]
    assert len(m["source_pool_hash"]) == 64
    assert [i["video_id"] for i in m["items"]] == [item_id("synth", g, 0) for g in GROUPS]
    assert m["items"][0]["video_id"] == "synth-g1-0000" and m["items"][-1]["video_id"] == "synth-g6plus-0000"
    assert sorted(m["files"]) == sorted([i["video"] for i in m["items"]] + [i["annotation"] for i in m["items"]])
    for rel, digest in m["files"].items():
        assert sha256_file(out / rel) == digest
    text = (out / "manifest.json").read_text()
    assert str(tmp_path) not in text  # no absolute paths
    bench = Benchmark.open(out)
    for sample in bench:
        assert group_for_count(len(sample.objects)) == sample.info.group == group_for_count(sample.info.num_objects)
        frames = sample.frames()
        assert frames.shape == (5, 64, 96, 3)
        assert all(o.visible[0] for o in sample.objects)
        assert sample.info.prompt and sample.info.source["source"] == "synth"
    assert validate_benchmark(out).ok


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    a = build_benchmark("synth", tmp_path / "a", workers=1, **TINY)
    b = build_benchmark("synth", tmp_path / "b", workers=2, **TINY)
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    c = build_benchmark("synth", tmp_path / "c", workers=1, **{**TINY, "seed": 1})
    assert json.loads((c / "manifest.json").read_text())["files"] != json.loads((a / "manifest.json").read_text())["files"]


def test_a_killed_build_resumes_without_redoing_finished_videos(tmp_path, monkeypatch):
    ref = build_benchmark("synth", tmp_path / "ref", workers=1, **TINY)
    out = tmp_path / "b"
    real = builder.write_item
    calls = []

    def dying(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(builder, "write_item", dying)
    with pytest.raises(KeyboardInterrupt):
        build_benchmark("synth", out, workers=1, **TINY)
    assert not (out / "manifest.json").exists()  # the manifest comes last
    assert len(list((out / ".build" / "done").iterdir())) == 3
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    assert len(stamps) == 3
    # a half-written video of the fourth item (no done-record) is overwritten, not trusted
    (out / "videos" / "synth-g4-0000.mkv").write_bytes(b"partial")
    monkeypatch.setattr(builder, "write_item", real)
    redone = []
    monkeypatch.setattr(builder, "write_item", lambda *a, **k: redone.append(a[1]) or real(*a, **k))
    build_benchmark("synth", out, workers=1, **TINY)
    assert redone == ["synth-g4-0000", "synth-g5-0000", "synth-g6plus-0000"]
    for name, stamp in stamps.items():
        assert (out / "videos" / name).stat().st_mtime_ns == stamp
    assert (out / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
    # a finished video whose file was damaged since is redone too
    (out / "videos" / "synth-g1-0000.mkv").write_bytes(b"damaged")
    redone.clear()
    build_benchmark("synth", out, workers=1, **TINY)
    assert redone == ["synth-g1-0000"]
    assert validate_benchmark(out).ok


def test_a_different_build_into_the_same_folder_is_refused(tmp_path):
    out = build_benchmark("synth", tmp_path / "b", workers=1, **TINY)
    with pytest.raises(InputError, match="different build"):
        build_benchmark("synth", out, workers=1, **{**TINY, "seed": 3})


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="unknown source"):
        build_benchmark("nope", tmp_path / "x")
    with pytest.raises(InputError, match="HxW"):
        build_benchmark("synth", tmp_path / "x", size="64by96")
    with pytest.raises(InputError, match="needs a source folder"):
        build_benchmark("magicdata", tmp_path / "x")


def _track(index, frames_visible, area=16, t=6, h=20, w=20):
    masks = np.zeros((t, h, w), bool)
    side = int(np.sqrt(area))
    for i in frames_visible:
        masks[i, :side, :side] = True
    return ObjectTrack.from_masks(index, f"o{index}", masks)


def test_filter_drops_and_reindexes():
    tracks = [_track(0, range(6)), _track(1, range(1, 6)), _track(2, range(6), area=1), _track(3, [0, 1]), _track(4, range(4))]
    kept, dropped = filter_tracks(tracks, 20, 20, TrackFilter(min_area_frac=0.01, min_visible_frac=0.5))
    assert [t.label for t in kept] == ["o0", "o4"] and [t.index for t in kept] == [0, 1]
    reasons = {d["label"]: d["reason"] for d in dropped}
    assert "frame 0" in reasons["o1"] and "area" in reasons["o2"] and "visible in 33%" in reasons["o3"]


def test_stratified_sample_is_seeded_and_stratified():
    pool = {g: [f"{g}-{i:02d}" for i in range(10)] for g in GROUPS}
    a = stratified_sample(pool, 3, seed=0)
    assert a == stratified_sample({g: list(reversed(v)) for g, v in pool.items()}, 3, seed=0)  # order-free
    assert all(len(a[g]) == 3 and set(a[g]) <= set(pool[g]) and a[g] == sorted(a[g]) for g in GROUPS)
    assert a != stratified_sample(pool, 3, seed=1)


def test_cli_build_and_validate(tmp_path):
    from flashbench.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["build", "--source", "synth", "--out", str(out), "--per-group", "1", "--frames", "3", "--size", "64x96", "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert Benchmark.open(out).group_counts() == {g: 1 for g in GROUPS}
    res = runner.invoke(app, ["validate", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_pool_workers_do_not_outlive_a_killed_parent(tmp_path):
    """A build or validate killed with SIGKILL leaves no worker processes behind."""
    script = (
        "import os, sys, time\n"
        "from flashbench.data.pool import process_pool\n"
        "pool = process_pool(2)\n"
        "futs = [pool.submit(os.getpid) for _ in range(4)]\n"
        "print(' '.join(str(p) for p in sorted({f.result() for f in futs})), flush=True)\n"
        "pool.submit(time.sleep, 60)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert pids and proc.pid not in pids
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        time.sleep(0.05)
    assert not alive, f"workers {alive} outlived their killed parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
