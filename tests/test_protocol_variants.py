"""Named protocol variants: magicbench-49 has its own hash, is selectable by name and listed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flashbench.errors import InputError
from flashbench.protocol import DEFAULT, PROTOCOLS, get_protocol, protocol_changes


def test_magicbench_49_is_flashbench_v1_on_the_first_49_frames():
    mb = get_protocol("magicbench-49")
    assert mb.num_frames == 49 and mb.name == "magicbench-49"
    assert protocol_changes(mb) == {"num_frames": 49}  # everything else as flashbench-v1
    assert mb.hash() != DEFAULT.hash() and get_protocol("flashbench-v1") is DEFAULT
    assert len({p.hash() for p in PROTOCOLS.values()}) == len(PROTOCOLS)


def test_unknown_protocol_names_the_known_ones():
    with pytest.raises(InputError, match="unknown protocol 'magicbench'.*magicbench-49"):
        get_protocol("magicbench")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "flashbench", *args], capture_output=True, text=True, timeout=120)


def test_ls_protocols_lists_names_and_hashes():
    proc = _cli("ls", "protocols", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    listed = {r["name"]: r for r in (rows if isinstance(rows, list) else rows["protocols"])}
    assert listed["magicbench-49"]["hash"] == get_protocol("magicbench-49").hash()
    assert listed["flashbench-v1"]["hash"] == DEFAULT.hash()


def test_eval_rejects_an_unknown_protocol_in_one_line(tmp_path):
    proc = _cli("eval", "--model", "static", "--bench", str(tmp_path), "--protocol", "magicbench-50")
    assert proc.returncode == 2
    assert "unknown protocol 'magicbench-50'" in proc.stderr and "Traceback" not in proc.stderr


def test_magicbench_49_scores_the_first_49_frames_of_a_longer_benchmark(tmp_path):
    from flashbench.data.benchmark import Benchmark
    from flashbench.data.davis import build_davis
    from flashbench.evaluate import frame_alignment

    from test_davis import label_maps, write_sequence

    src = tmp_path / "DAVIS"
    write_sequence(src, "long", label_maps("short", 52))
    (src / "ImageSets" / "2017").mkdir(parents=True)
    (src / "ImageSets" / "2017" / "val.txt").write_text("long\n")
    bench = Benchmark.open(build_davis(src, tmp_path / "bench", num_frames=52, workers=1, progress=False))
    eval_frames, gen_frames, gt = frame_alignment(bench, bench.items, get_protocol("magicbench-49"), None)
    assert (eval_frames, gen_frames) == (49, 49) and gt.tolist() == list(range(49))
    eval_frames, gen_frames, gt = frame_alignment(bench, bench.items, get_protocol("magicbench-49"), 25)
    assert (eval_frames, gen_frames) == (49, 25) and gt[0] == 0 and gt[-1] == 48  # uniform within the first 49
    assert frame_alignment(bench, bench.items, DEFAULT, None)[0] == 52
