"""`flashbench export` end to end: export the conditions, generate outside FlashBench with a
trivial script that reads only the exported files, score the folder with `video-folder`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from flashbench.cli import app
from flashbench.data import rle as rle_ops
from flashbench.data.benchmark import Benchmark
from flashbench.data.trajectory import get_map_style, render_maps
from flashbench.evaluate import EvalConfig, run
from flashbench.protocol import Protocol

FRAMES = 5  # fewer than the benchmark's 9: the export resamples the conditions as eval does

# An "external model": numpy, PIL and PyAV only, no FlashBench. It pastes each object's
# frame-0 box of the first frame along the exported boxes (nearest-neighbour scaling).
EXTERNAL = r'''
import json, sys
from pathlib import Path
import av, numpy as np
from PIL import Image

export, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
manifest = json.loads((export / "manifest.json").read_text())
for item in manifest["items"]:
    cond = json.loads((export / item["conditions"]).read_text())
    first = np.asarray(Image.open(export / item["first_frame"]).convert("RGB"))
    background = first.copy()  # objects' frame-0 boxes filled with the median colour
    for obj in cond["objects"]:
        x0, y0, x1, y1 = (int(round(v)) for v in obj["boxes"][0])
        background[y0:y1, x0:x1] = np.median(first.reshape(-1, 3), axis=0).astype(np.uint8)
    frames = []
    for t in range(cond["num_frames"]):
        frame = first.copy() if t == 0 else background.copy()
        for obj in cond["objects"]:
            if not (obj["visible"][0] and obj["visible"][t]):
                continue
            x0, y0, x1, y1 = (int(round(v)) for v in obj["boxes"][0])
            patch = first[y0:y1, x0:x1]
            bx0, by0, bx1, by1 = (int(round(v)) for v in obj["boxes"][t])
            if bx1 <= bx0 or by1 <= by0 or patch.size == 0:
                continue
            ys = np.minimum(np.arange(by1 - by0) * patch.shape[0] // (by1 - by0), patch.shape[0] - 1)
            xs = np.minimum(np.arange(bx1 - bx0) * patch.shape[1] // (bx1 - bx0), patch.shape[1] - 1)
            scaled = patch[ys][:, xs]
            h, w = frame.shape[:2]
            cx0, cy0, cx1, cy1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
            frame[cy0:cy1, cx0:cx1] = scaled[cy0 - by0:cy1 - by0, cx0 - bx0:cx1 - bx0]
        frames.append(frame)
    container = av.open(str(out / item["output"]), "w")
    stream = container.add_stream("libx264", rate=int(round(cond["fps"])))
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "10"}
    for f in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
    container.mux(stream.encode())
    container.close()
'''


@pytest.fixture(scope="module")
def exported(tiny_bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "conditions"
    result = CliRunner().invoke(app, ["export", str(tiny_bench), "--out", str(out), "--frames", str(FRAMES),
                                      "--groups", "1,2", "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def _harness_requests(bench: Path):
    """The requests eval builds for a model of FRAMES frames (what the export must match)."""
    from flashbench.data.benchmark import Benchmark
    from flashbench.evaluate import Plan, build_request, frame_alignment
    from flashbench.protocol import DEFAULT

    b = Benchmark.open(bench)
    items = b.select(("1", "2"))
    aligned = frame_alignment(b, items, DEFAULT, FRAMES)
    p = Plan(b, DEFAULT, items, *aligned, bench, {}, False)
    return {i.video_id: build_request(b.sample(i.video_id), p, seed=0) for i in items}


def test_export_writes_exactly_the_conditions_eval_hands_a_generator(tiny_bench, exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    requests = _harness_requests(tiny_bench)
    assert [i["video_id"] for i in manifest["items"]] == list(requests)
    assert manifest["num_frames"] == FRAMES and manifest["map_style"]["name"] == "magicmotion"
    style = get_map_style("magicmotion")
    for item in manifest["items"]:
        req = requests[item["video_id"]]
        cond = json.loads((exported / item["conditions"]).read_text())
        assert cond["num_frames"] == item["num_frames"] == FRAMES and item["output"] == f"{req.video_id}.mp4"
        assert cond["seed"] == req.seed and cond["prompt"] == req.prompt
        assert (exported / item["dir"] / "prompt.txt").read_text().strip() == req.prompt
        first = np.asarray(Image.open(exported / item["first_frame"]))
        np.testing.assert_array_equal(first, req.first_frame)
        traj = req.trajectory
        np.testing.assert_allclose([o["boxes"] for o in cond["objects"]], traj.boxes, atol=1e-3)
        assert [o["visible"] for o in cond["objects"]] == traj.visible.tolist()
        for k, obj in enumerate(cond["objects"]):
            np.testing.assert_array_equal(rle_ops.decode(obj["first_mask"]), traj.first_masks[k])
            assert obj["colour"] == style.colour(k).tolist()
        maps = np.stack([np.asarray(Image.open(exported / item["maps"] / f"{t:05d}.png")) for t in range(FRAMES)])
        np.testing.assert_array_equal(maps, render_maps(traj, style="magicmotion"))


def test_exported_conditions_generated_elsewhere_score_through_video_folder(tiny_bench, exported, tmp_path):
    folder = tmp_path / "generated"
    script = tmp_path / "external_model.py"
    script.write_text(EXTERNAL)
    proc = subprocess.run([sys.executable, str(script), str(exported), str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{v}.mp4" for v in _harness_requests(tiny_bench))
    def evaluate(model: str, **args: str) -> dict:
        cfg = EvalConfig(model=model, model_args=args, bench=tiny_bench, groups=("1", "2"), run_dir=tmp_path / model,
                         extractor="proxy", progress=False, bootstrap=0, protocol=Protocol(fid_frame_stride=4))
        return run(cfg)

    res = evaluate("video-folder", path=str(folder))
    overall = res["overall"]
    assert res["generator"]["frames_generated"] == FRAMES
    assert overall["n_scored"] == 2 and overall["n_failed"] == 0
    # the pasted objects follow the exported boxes: far better than a model that never moves
    static = evaluate("static")["overall"]
    assert overall["box_iou"] > static["box_iou"] + 10



def test_export_at_another_size_scales_boxes_and_masks(tiny_bench, tmp_path):
    out = tmp_path / "half"
    result = CliRunner().invoke(app, ["export", str(tiny_bench), "--out", str(out), "--size", "32x48", "--trajectory", "mask",
                                      "--groups", "2", "--maps", "video", "--no-progress"])
    assert result.exit_code == 0, result.output
    item = json.loads((out / "manifest.json").read_text())["items"][0]
    cond = json.loads((out / item["conditions"]).read_text())
    ann = Benchmark.open(tiny_bench).sample(item["video_id"]).annotation  # 9 frames of 64x96
    assert np.asarray(Image.open(out / item["first_frame"])).shape == (32, 48, 3)
    assert cond["num_frames"] == ann.num_frames and (cond["height"], cond["width"]) == (32, 48)
    for obj, track in zip(cond["objects"], ann.objects):
        np.testing.assert_allclose(obj["boxes"], track.boxes * 0.5, atol=1e-3)
        masks = np.stack([rle_ops.decode(m) for m in obj["masks"]])
        np.testing.assert_array_equal(masks, track.masks()[:, 1::2, 1::2])  # nearest pixel centre at exactly half size
    assert item["maps"] is None and (out / item["maps_video"]).is_file()
