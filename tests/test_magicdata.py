"""MagicData/MagicBench folders as a builder source: colour decoding, sampling, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flashbench.data.benchmark import Benchmark
from flashbench.data.builder import build_benchmark
from flashbench.data.magicdata import MagicDataSource, cluster_colours, match_colours
from flashbench.data.schema import GROUPS
from flashbench.data.validate import validate_benchmark
from flashbench.errors import InputError, VideoError
from helpers_data import HALF_COLOURS, draw_mask_image, make_magicdata, square_boxes

POOL = {"a1": 1, "b2": 2, "c2": 2, "d3": 3, "e4": 4, "f5": 5, "g6": 6, "h7": 7}
ARGS = dict(per_group=1, num_frames=6, size=None, seed=0, workers=1, progress=False)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("magic") / "MagicData"
    boxes = make_magicdata(root, POOL, num_frames=9)
    return root, boxes


def test_colour_clustering_tolerates_noise_and_blending():
    rng = np.random.default_rng(0)
    boxes = square_boxes(6, 1)[:, 0]
    img = draw_mask_image(boxes, noise=8, rng=rng)
    colours = cluster_colours(img)
    assert len(colours) == 6
    for c in colours:  # recovered colours are within the noise of the drawn ones
        assert min(np.abs(np.array(HALF_COLOURS[:6]) - c).max(axis=1)) <= 8
    img[boxes[0][1], boxes[0][0]] = (60, 0, 0)  # a darker edge blend of object 0's red
    masks, unexplained = match_colours(img, colours)
    assert not unexplained.any()
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        k_found = int(np.argmin(np.abs(colours - HALF_COLOURS[k]).max(axis=1)))
        expected = np.zeros(img.shape[:2], bool)
        expected[y0:y1, x0:x1] = True
        if k == 0:
            expected[y0, x0] = False
        np.testing.assert_array_equal(masks[k_found], expected)


def test_build_from_magicdata(tmp_path, pool):
    root, boxes = pool
    out = build_benchmark("magicdata", tmp_path / "b", src=root, **ARGS)
    m = json.loads((out / "manifest.json").read_text())
    assert m["groups"] == {g: 1 for g in GROUPS} and m["build"]["src"] == "MagicData"
    bench = Benchmark.open(out)
    by_source = {s.info.source["id"]: s for s in bench}
    assert set(by_source) <= set(POOL) and len(by_source) == 6
    assert ("b2" in by_source) != ("c2" in by_source) and ("g6" in by_source) != ("h7" in by_source)
    for vid, sample in by_source.items():
        assert sample.video_id.startswith("magicdata-g")
        assert sample.info.prompt == f"{POOL[vid]} squares move right"
        assert sample.info.num_frames == 6 and sample.frames().shape == (6, 48, 64, 3)
        got = sorted(tuple(o.boxes[t]) for o in sample.objects for t in range(6))
        want = sorted(tuple(map(float, boxes[vid][k, t])) for k in range(POOL[vid]) for t in range(6))
        assert got == want  # masks decoded exactly despite the noise
    assert validate_benchmark(out).ok
    again = build_benchmark("magicdata", tmp_path / "c", src=root, **ARGS)
    assert (again / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_small_objects_are_dropped_and_the_video_recounted(tmp_path):
    root = tmp_path / "md"
    make_magicdata(root, {"x": 3}, num_frames=4, small={"x": {1}})
    src = MagicDataSource(root)
    scan = src.scan("x", 4, None)
    assert len(scan["objects"]) == 3
    out = build_benchmark("magicdata", tmp_path / "b", src=root, allow_short=True, **{**ARGS, "num_frames": 4})
    m = json.loads((out / "manifest.json").read_text())
    assert m["groups"]["2"] == 1 and m["groups"]["3"] == 0  # the 2x2 object is under 0.3% of the frame
    assert m["shortfall"] == {"1": 1, "3": 1, "4": 1, "5": 1, ">5": 1}


def test_a_pool_too_small_names_the_group(tmp_path, pool):
    root, _ = pool
    with pytest.raises(InputError, match=r"group '>5' has 2 of 3.*--allow-short") as err:
        build_benchmark("magicdata", tmp_path / "b", src=root, **{**ARGS, "per_group": 3})
    assert "group '1' has 1 of 3" in str(err.value)
    out = build_benchmark("magicdata", tmp_path / "c", src=root, allow_short=True, **{**ARGS, "per_group": 2})
    m = json.loads((out / "manifest.json").read_text())
    assert m["shortfall"] == {"1": 1, "3": 1, "4": 1, "5": 1}
    assert m["groups"] == {"1": 1, "2": 2, "3": 1, "4": 1, "5": 1, ">5": 2}
    assert validate_benchmark(out).ok


def test_short_videos_leave_the_pool(tmp_path, pool):
    root, _ = pool
    # every video too short: said as such, with or without --allow-short (which records a
    # shortfall; it does not turn an unusable pool into an empty benchmark)
    for allow_short in (False, True):
        with pytest.raises(InputError, match=r"no video of the pool is usable \(8 videos: 8 shorter than --frames 12 \(they have 9\.\.9 frames\)\)"):
            build_benchmark("magicdata", tmp_path / "c", src=root, allow_short=allow_short, **{**ARGS, "num_frames": 12})
    assert not (tmp_path / "c" / "manifest.json").exists()
    # some too short, the rest too few: the shortfall message counts the excluded ones
    with pytest.raises(InputError, match="7 videos excluded as too short"):
        build_benchmark("magicdata", tmp_path / "d", src=_short_pool(tmp_path, pool), **{**ARGS, "num_frames": 9})


def _short_pool(tmp_path, pool):
    """A copy of the pool where all but one video lose their last frame (masks too)."""
    import shutil

    from flashbench.data.video import read_video, write_video

    root, _ = pool
    dst = tmp_path / "short"
    shutil.copytree(root, dst)
    for vid in list(POOL)[1:]:
        write_video(dst / "videos" / f"{vid}.mp4", read_video(root / "videos" / f"{vid}.mp4")[:8])
        (dst / "masks" / vid / "annotated_frame_00008.png").unlink()
    return dst


def _copy(pool, tmp_path, ids=("a1",)):
    import shutil

    root, _ = pool
    dst = tmp_path / "md"
    (dst / "videos").mkdir(parents=True)
    for vid in ids:
        shutil.copy(root / "videos" / f"{vid}.mp4", dst / "videos")
        shutil.copytree(root / "masks" / vid, dst / "masks" / vid)
    return dst


def test_missing_mask_folder(tmp_path, pool):
    import shutil

    dst = _copy(pool, tmp_path)
    shutil.rmtree(dst / "masks" / "a1")
    with pytest.raises(InputError, match=r"masks/a1: missing mask folder"):
        build_benchmark("magicdata", tmp_path / "b", src=dst, **ARGS)


def test_object_colour_not_found(tmp_path, pool):
    from PIL import Image

    dst = _copy(pool, tmp_path, ids=("b2",))
    path = dst / "masks" / "b2" / "annotated_frame_00003.png"
    img = np.asarray(Image.open(path)).copy()
    img[30:40, 30:40] = (0, 0, 127)  # an object frame 0 does not have
    Image.fromarray(img).save(path)
    with pytest.raises(InputError, match=r"annotated_frame_00003.png: object colour not found.*rgb\(0, 0, 127\)"):
        build_benchmark("magicdata", tmp_path / "b", src=dst, **ARGS)


def test_frame_count_mismatch(tmp_path, pool):
    dst = _copy(pool, tmp_path)
    (dst / "masks" / "a1" / "annotated_frame_00008.png").unlink()
    with pytest.raises(InputError, match=r"8 mask frames but .*a1.mp4 has 9 frames \(frame-count mismatch\)"):
        build_benchmark("magicdata", tmp_path / "b", src=dst, **ARGS)


@pytest.mark.parametrize("cut", [0.5, 0.0])
def test_truncated_or_unreadable_video(tmp_path, pool, cut):
    dst = _copy(pool, tmp_path)
    path = dst / "videos" / "a1.mp4"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)] if cut else b"garbage" * 50)
    with pytest.raises(VideoError, match=r"a1.mp4"):
        build_benchmark("magicdata", tmp_path / "b", src=dst, **ARGS)


def test_empty_source_folder(tmp_path):
    (tmp_path / "md" / "videos").mkdir(parents=True)
    with pytest.raises(InputError, match=r"md/videos: empty source folder"):
        build_benchmark("magicdata", tmp_path / "b", src=tmp_path / "md", **ARGS)
    with pytest.raises(InputError, match=r"no videos/ folder"):
        build_benchmark("magicdata", tmp_path / "b", src=tmp_path, **ARGS)


def test_missing_prompt_in_csv(tmp_path, pool):
    dst = _copy(pool, tmp_path)
    (dst / "prompts.csv").write_text("videoid,text\nother,hello\n")
    with pytest.raises(InputError, match=r"prompts.csv: no prompt \(text\) for video 'a1'"):
        build_benchmark("magicdata", tmp_path / "b", src=dst, **ARGS)


def test_resized_build_keeps_masks_and_frames_aligned(tmp_path, pool):
    root, boxes = pool
    out = build_benchmark("magicdata", tmp_path / "b", src=root, **{**ARGS, "size": (96, 128)})
    bench = Benchmark.open(out)
    for sample in bench:
        assert sample.frames().shape == (6, 96, 128, 3)
        vid = sample.info.source["id"]
        got = sorted(o.boxes[0].tolist() for o in sample.objects)
        assert got == sorted((boxes[vid][:, 0] * 2).astype(float).tolist())  # nearest-neighbour x2
    assert validate_benchmark(out).ok
