"""`flashbench validate`: an intact benchmark passes; any damaged file is named."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from flashbench.data.validate import check_benchmark, validate_benchmark
from flashbench.errors import ValidationError
from flashbench.utils.atomic import atomic_write_json, sha256_file


@pytest.fixture()
def bench(tiny_bench, tmp_path):
    """A private copy of the session's tiny benchmark (tests here damage it)."""
    dst = tmp_path / "bench"
    shutil.copytree(tiny_bench, dst)
    return dst


def _manifest(root):
    return json.loads((root / "manifest.json").read_text())


def test_intact_benchmark_passes(bench):
    rep = check_benchmark(bench)
    assert rep.ok and rep.num_videos == 6 and rep.num_files == 12 and rep.num_frames == {9}
    assert rep.groups == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, ">5": 1}


def test_truncated_video_is_named(bench):
    rel = _manifest(bench)["items"][2]["video"]
    path = bench / rel
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValidationError, match=rel.replace(".", r"\.")) as err:
        check_benchmark(bench)
    assert "SHA-256 differs" in str(err.value)
    # the hash check does not hide the decode check: the frames are short too
    assert any(rel in p and ("frames" in p or "decode" in p) for p in validate_benchmark(bench).problems if "SHA" not in p)


def test_parallel_decode_reports_the_same_problems_in_order(bench):
    items = _manifest(bench)["items"]
    for k in (1, 4):  # two damaged videos: order and content must not depend on the worker count
        path = bench / items[k]["video"]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    seen = []
    serial = validate_benchmark(bench, workers=1).problems
    parallel = validate_benchmark(bench, workers=2, progress=lambda n, total: seen.append((n, total))).problems
    assert parallel == serial and len(serial) == 4
    assert [p.split(":")[0] for p in serial] == [str(bench / items[k]["video"]) for k in (1, 4, 1, 4)]
    assert seen[-1] == (6, 6) and [n for n, _ in seen] == sorted(n for n, _ in seen)


def test_edited_annotation_is_named(bench):
    m = _manifest(bench)
    rel = m["items"][3]["annotation"]
    ann = json.loads((bench / rel).read_text())
    ann["objects"][0]["boxes"][4][0] += 1.0
    (bench / rel).write_text(json.dumps(ann))
    with pytest.raises(ValidationError, match=rel):
        check_benchmark(bench)
    # even with its hash updated in the manifest, the box no longer matches its mask
    m["files"][rel] = sha256_file(bench / rel)
    atomic_write_json(bench / "manifest.json", m)
    problems = validate_benchmark(bench).problems
    assert len(problems) == 1 and rel in problems[0] and "boxes differ" in problems[0] and "[4]" in problems[0]


def test_visibility_and_counts_are_checked(bench):
    m = _manifest(bench)
    rel = m["items"][0]["annotation"]
    ann = json.loads((bench / rel).read_text())
    ann["objects"][0]["visible"][2] = False
    (bench / rel).write_text(json.dumps(ann))
    m["files"][rel] = sha256_file(bench / rel)
    m["groups"]["1"] = 2
    atomic_write_json(bench / "manifest.json", m)
    problems = validate_benchmark(bench).problems
    assert any(rel in p and "visibility" in p for p in problems)
    assert any("group counts" in p for p in problems)


def test_missing_file_and_not_a_benchmark(bench, tmp_path):
    rel = _manifest(bench)["items"][5]["video"]
    (bench / rel).unlink()
    assert any(rel in p and "missing" in p for p in validate_benchmark(bench).problems)
    assert "not a benchmark directory" in validate_benchmark(tmp_path).problems[0]


def test_cli_exit_codes(bench):
    from flashbench.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["validate", str(bench), "--no-progress"])
    assert res.exit_code == 0 and "valid" in res.output
    assert "6 videos, 12 files hashed; frames 9; size" in res.output  # the summary line, not wrapped into fragments
    res = runner.invoke(app, ["validate", str(bench), "--workers", "2"])  # with the progress bar and the decode pool
    assert res.exit_code == 0 and "6 videos, 12 files hashed" in res.output, res.output
    rel = _manifest(bench)["items"][1]["video"]
    with open(bench / rel, "ab") as f:
        f.write(b"x")
    res = runner.invoke(app, ["validate", str(bench), "--no-progress"])
    assert res.exit_code != 0 and isinstance(res.exception, ValidationError) and rel in str(res.exception)
