"""DAVIS source: fixtures in the real DAVIS 2017 layout (palette PNGs, void, late objects, short sequences)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from flashbench.data.benchmark import Benchmark
from flashbench.data.davis import build_davis
from flashbench.errors import InputError

H, W = 32, 48
FRAMES = 6  # the build's --frames in these tests (49 in the paper's setting)


def davis_palette() -> list[int]:
    """DAVIS's colour map: index i gets the bits of i spread over R, G, B (as in the official PNGs)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def label_maps(kind: str, t_count: int) -> np.ndarray:
    """(T, H, W) palette indices of one fixture sequence."""
    lab = np.zeros((t_count, H, W), np.uint8)
    for t in range(t_count):
        if kind == "two-objects-void":
            lab[t, 4:12, 2 + t : 10 + t] = 1  # object 1 slides right
            lab[t, 16:28, 30:36] = 2  # object 2 stays
            lab[t, 12:14, 2 + t : 10 + t] = 255  # void band under object 1 (an uncertain edge)
        elif kind == "late-object":
            lab[t, 8:20, 8:20] = 1
            if t >= 3:
                lab[t, 2:6, 30 + t : 36 + t] = 3  # enters at frame 3 (index 2 is unused)
        elif kind == "short":
            lab[t, 10:20, 10:20] = 1
    return lab


def write_sequence(root, seq: str, labels: np.ndarray, *, rgb_annotation_at: int | None = None, skip_annotation: int | None = None):
    img_dir = root / "JPEGImages" / "480p" / seq
    ann_dir = root / "Annotations" / "480p" / seq
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    rng = np.random.default_rng(len(seq))
    for t, lab in enumerate(labels):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(img_dir / f"{t:05d}.jpg", quality=90)
        if t == skip_annotation:
            continue
        im = Image.fromarray(lab, mode="P")
        im.putpalette(davis_palette())
        if t == rgb_annotation_at:
            im = im.convert("RGB")
        im.save(ann_dir / f"{t:05d}.png")


def make_davis(root, split=("two-objects-void", "late-object", "short"), **kw):
    lengths = {"two-objects-void": 8, "late-object": 7, "short": 4}
    for seq in ("two-objects-void", "late-object", "short"):
        write_sequence(root, seq, label_maps(seq, lengths[seq]), **(kw if seq == "two-objects-void" else {}))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{s}\n" for s in split))
    return root


def test_davis_build_masks_boxes_visibility_exactly(tmp_path):
    src = make_davis(tmp_path / "DAVIS")
    (tmp_path / "prompts.json").write_text(json.dumps({"two-objects-void": "a block slides", "late-object": "a bird arrives",
                                                        "short": "unused"}))
    out = build_davis(src, tmp_path / "bench", num_frames=FRAMES, prompts=tmp_path / "prompts.json", workers=1, progress=False)
    bench = Benchmark.open(out)
    m = bench.manifest
    assert m["scoring"] == "overall" and m["name"] == "davis-2017-val-480p-6f"
    assert m["excluded"] == [{"sequence": "short", "frames": 4, "reason": "4 frames < 6"}]
    assert [i.video_id for i in bench.items] == ["davis-two-objects-void", "davis-late-object"]

    s = bench.sample("davis-two-objects-void")
    assert s.info.prompt == "a block slides" and s.info.num_frames == FRAMES and (s.info.height, s.info.width) == (H, W)
    lab = label_maps("two-objects-void", FRAMES)
    objs = s.objects
    assert [o.label for o in objs] == ["davis object 1", "davis object 2"]
    for o, idx in zip(objs, (1, 2)):
        np.testing.assert_array_equal(o.masks(), lab == idx)  # void (255) belongs to no object
        assert o.visible.all()
    np.testing.assert_array_equal(objs[0].boxes[:, 0], 2 + np.arange(FRAMES))
    np.testing.assert_array_equal(objs[0].boxes[3], [5, 4, 13, 12])
    np.testing.assert_array_equal(objs[1].boxes[0], [30, 16, 36, 28])
    assert s.info.source["void_pixels"] == int((lab == 255).sum()) == FRAMES * 2 * 8
    assert s.frames().shape == (FRAMES, H, W, 3)

    late = bench.sample("davis-late-object")
    assert len(late.objects) == 1 and late.info.group == "1"
    np.testing.assert_array_equal(late.objects[0].masks(), label_maps("late-object", FRAMES) == 1)
    assert late.info.source["dropped"] == [{"label": "davis object 3", "reason": "not visible at frame 0 (enters at frame 3)"}]

    from flashbench.data.validate import validate_benchmark

    report = validate_benchmark(out, workers=1)
    assert report.problems == []


def test_davis_without_prompts_records_empty_prompts_and_rebuild_is_identical(tmp_path):
    src = make_davis(tmp_path / "DAVIS", split=("late-object",))
    out = build_davis(src, tmp_path / "bench", num_frames=FRAMES, workers=1, progress=False)
    first = (out / "manifest.json").read_bytes()
    m = json.loads(first)
    assert m["build"]["prompts"] is None and m["items"][0]["prompt"] == ""
    build_davis(src, out, num_frames=FRAMES, workers=1, progress=False)  # resume: nothing to redo
    assert (out / "manifest.json").read_bytes() == first


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing-annotation", "Annotations/480p/two-objects-void/00002.png: missing annotation frame 2"),
        ("rgb-annotation", "Annotations/480p/two-objects-void/00001.png: not an indexed palette PNG (mode RGB)"),
        ("empty-split", "ImageSets/2017/val.txt: the split file lists no sequences"),
    ],
)
def test_malformed_davis_is_one_line_naming_the_file(tmp_path, case, expected):
    kw = {"missing-annotation": {"skip_annotation": 2}, "rgb-annotation": {"rgb_annotation_at": 1}}.get(case, {})
    split = () if case == "empty-split" else ("two-objects-void",)
    src = make_davis(tmp_path / "DAVIS", split=split, **kw)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        build_davis(src, tmp_path / "bench", num_frames=FRAMES, workers=1, progress=False)
    assert not (tmp_path / "bench").exists()  # nothing written
    proc = subprocess.run(
        [sys.executable, "-m", "flashbench", "build", "--source", "davis", str(src), "--out", str(tmp_path / "b2"),
         "--frames", str(FRAMES), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and expected.split(":")[0].split("/")[-1] in proc.stderr  # one message (rich may wrap it)
