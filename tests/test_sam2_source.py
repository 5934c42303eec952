"""Raw videos + prompt file, annotated through the segmenter interface (SAM2 by default)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flashbench.data.benchmark import Benchmark
from flashbench.data.builder import build_benchmark
from flashbench.data.sam2_source import VideoPromptSource
from flashbench.data.validate import validate_benchmark
from flashbench.errors import FlashBenchError, InputError
from helpers_data import BoxTrackingSegmenter, make_video_folder

POOL = {"v1": 1, "v2": 2, "v3": 3, "v4": 4, "v5": 5, "v6": 6}
ARGS = dict(per_group=1, num_frames=5, size=None, seed=0, workers=1, progress=False)


def test_build_from_videos_with_an_injected_segmenter(tmp_path):
    src = tmp_path / "raw"
    boxes = make_video_folder(src, POOL, num_frames=7, mask_for={"v3"})
    seg = BoxTrackingSegmenter()
    out = build_benchmark("videos", tmp_path / "b", src=src, segmenter=seg, **ARGS)
    assert len(seg.calls) == 6
    by_kind = {c["masks"] is not None for c in seg.calls}
    assert by_kind == {True, False}  # one mask prompt, five box prompts
    assert all(c["frames"] == (5, 48, 64, 3) for c in seg.calls)
    bench = Benchmark.open(out)
    assert bench.group_counts() == {g: 1 for g in ("1", "2", "3", "4", "5", ">5")}
    for sample in bench:
        vid = sample.info.source["id"]
        assert sample.info.prompt == f"{POOL[vid]} squares move right"
        got = sorted(o.boxes.tolist() for o in sample.objects)  # mask prompts list objects by colour
        assert got == sorted(boxes[vid][:, :5].astype(float).tolist())  # the segmenter's masks became the tracks
    assert validate_benchmark(out).ok
    # the scan is cached: a second build in a new folder does not segment again
    seg2 = BoxTrackingSegmenter()
    build_benchmark("videos", tmp_path / "b", src=src, segmenter=seg2, **ARGS)
    assert seg2.calls == []


def test_resized_build_scales_box_prompts(tmp_path):
    src = tmp_path / "raw"
    boxes = make_video_folder(src, {"v1": 1}, num_frames=5)
    seg = BoxTrackingSegmenter()
    VideoPromptSource(src, segmenter=seg).scan("v1", 5, (96, 128))
    np.testing.assert_allclose(seg.calls[0]["boxes"][0], boxes["v1"][0, 0] * 2)


def test_bad_prompt_files(tmp_path):
    src = tmp_path / "raw"
    make_video_folder(src, {"v1": 1, "v2": 2}, num_frames=3)
    entries = json.loads((src / "prompts.json").read_text())
    seg = BoxTrackingSegmenter()
    (src / "prompts.json").write_text(json.dumps({"v1": entries["v1"]}))
    with pytest.raises(InputError, match=r"prompts.json: no entry for video\(s\) \['v2'\]"):
        build_benchmark("videos", tmp_path / "b", src=src, segmenter=seg, **ARGS)
    entries["v2"]["boxes"] = [[10, 10, 5, 20]]
    (src / "prompts.json").write_text(json.dumps(entries))
    with pytest.raises(InputError, match=r"\['v2'\]: every box needs x1 > x0"):
        VideoPromptSource(src, segmenter=seg).scan("v2", 3, None)
    (src / "prompts.json").unlink()
    with pytest.raises(InputError, match="prompts.json: prompt file not found"):
        build_benchmark("videos", tmp_path / "b", src=src, segmenter=seg, **ARGS)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "prompts.json").write_text("{}")
    with pytest.raises(InputError, match="empty source folder"):
        build_benchmark("videos", tmp_path / "c", src=empty, segmenter=seg, **ARGS)


def test_a_segmenter_of_the_wrong_shape_is_an_error(tmp_path):
    src = tmp_path / "raw"
    make_video_folder(src, {"v1": 1}, num_frames=3)

    class Broken:
        def segment(self, frames, masks=None, boxes=None):
            return np.zeros((1, 2, 4, 4), bool)

    with pytest.raises(FlashBenchError, match="the segmenter returned"):
        VideoPromptSource(src, segmenter=Broken()).scan("v1", 3, None)


def test_random_init_sam2_end_to_end_plumbing(tmp_path):
    """Plumbing only: a randomly initialised SAM2.1-tiny, mask prompt, on a 2-frame 32x32 video.

    The predictor runs at 128 px instead of 1024 to keep CPU time small (a test-only option
    that is never reported as official).
    """
    segment = pytest.importorskip("flashbench.metrics.segment")
    pytest.importorskip("sam2")
    import torch

    torch.manual_seed(0)
    src = tmp_path / "raw"
    boxes = make_video_folder(src, {"v1": 1}, num_frames=2, size=(32, 32), mask_for={"v1"})
    seg = segment.load_segmenter("sam2", model="sam2.1_hiera_tiny", prompt="mask", random_init=True, image_size=128)
    out = build_benchmark("videos", tmp_path / "b", src=src, segmenter=seg, allow_short=True, **{**ARGS, "num_frames": 2})
    m = json.loads((out / "manifest.json").read_text())
    assert m["build"]["segmenter"]["injected"] is True
    assert m["groups"]["1"] == 1  # frame 0 is the prompt, so the object passes the filter
    (sample,) = list(Benchmark.open(out))
    assert len(sample.objects) == 1 and (sample.info.height, sample.info.width) == (32, 32)
    # on the prompted frame SAM2.1 returns (approximately) the prompt mask itself
    import torch as _torch
    from torchvision.ops import box_iou

    got, want = _torch.tensor(sample.objects[0].boxes[:1]), _torch.tensor(boxes["v1"][0, :1], dtype=_torch.float64)
    assert float(box_iou(got, want)[0, 0]) > 0.7
    assert validate_benchmark(out).ok
