"""Built-in generators: static, copy-paste, ground-truth, video-folder; and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.data import rle as rle_ops
from flashbench.data.trajectory import Trajectory
from flashbench.data.video import write_video
from flashbench.errors import InputError
from flashbench.generators import GenerationRequest, load_generator
from flashbench.data.video import resize_frames
from flashbench.generators.builtin import CopyPasteGenerator, StaticGenerator, VideoFolderGenerator


def _square_request(kind: str = "box") -> GenerationRequest:
    """A grey frame with one red 8x8 square at (10, 10) that should move 4 px right per frame."""
    h, w, t = 48, 64, 5
    first = np.full((h, w, 3), 90, np.uint8)
    first[10:18, 10:18] = (255, 0, 0)
    m0 = np.zeros((1, h, w), bool)
    m0[0, 10:18, 10:18] = True
    boxes = np.array([[[10 + 4 * i, 10, 18 + 4 * i, 18] for i in range(t)]], float)
    masks = None
    if kind == "mask":
        masks = np.zeros((1, t, h, w), bool)
        for i in range(t):
            masks[0, i, 10:18, 10 + 4 * i : 18 + 4 * i] = True
    traj = Trajectory(kind, m0, boxes, np.ones((1, t), bool), masks, (0, 4) if kind == "sparse_box" else None)
    return GenerationRequest("v0", first, "a red square", traj, t, h, w, seed=1)


@pytest.mark.parametrize("kind", ["box", "mask", "sparse_box"])
def test_copy_paste_follows_the_boxes(kind):
    req = _square_request(kind)
    video = CopyPasteGenerator().generate([req])[0].frames
    assert video.shape == (5, 48, 64, 3) and video.dtype == np.uint8
    assert (video[0] == req.first_frame).all()
    for t in range(1, 5):
        red = np.all(video[t] == (255, 0, 0), axis=-1)
        np.testing.assert_array_equal(rle_ops.mask_box(red), req.trajectory.boxes[0, t])
    # the object's old place is filled from the background, not left as a ghost
    assert not np.all(video[4, 10:18, 10:14] == (255, 0, 0), axis=-1).any()


def test_copy_paste_scales_the_patch_and_clips_at_the_border():
    req = _square_request()
    boxes = req.trajectory.boxes.copy()
    boxes[0, 2] = (20, 20, 36, 36)  # twice the size
    boxes[0, 3] = (58, 40, 66, 48)  # partly outside the 64-wide frame
    traj = Trajectory("box", req.trajectory.first_masks, boxes, req.trajectory.visible)
    req = GenerationRequest("v0", req.first_frame, "", traj, 5, 48, 64, seed=1)
    video = CopyPasteGenerator().generate([req])[0].frames
    np.testing.assert_array_equal(rle_ops.mask_box(np.all(video[2] == (255, 0, 0), axis=-1)), [20, 20, 36, 36])
    np.testing.assert_array_equal(rle_ops.mask_box(np.all(video[3] == (255, 0, 0), axis=-1)), [58, 40, 64, 48])


def test_static_repeats_the_first_frame():
    req = _square_request()
    video = StaticGenerator().generate([req])[0].frames
    assert video.shape == (5, 48, 64, 3)
    assert (video == req.first_frame[None]).all()


def test_resize_frames_bicubic_keeps_constant_images_exact():
    frames = np.full((2, 30, 40, 3), 77, np.uint8)
    out = resize_frames(frames, 15, 20)
    assert out.shape == (2, 15, 20, 3) and out.dtype == np.uint8 and (out == 77).all()


def test_video_folder_reads_by_id_and_checks_names(tmp_path, tiny_bench):
    from flashbench.data.benchmark import Benchmark

    bench = Benchmark.open(tiny_bench)
    vid = bench.items[0].video_id
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 96, 3), dtype=np.uint8)
    write_video(tmp_path / "out" / f"{vid}.mkv", frames)
    gen = load_generator("video-folder", benchmark=str(tiny_bench), path=str(tmp_path / "out"))
    assert gen.info.max_frames == 5
    req = _square_request()
    req = GenerationRequest(vid, req.first_frame, "", req.trajectory, 5, 64, 96, seed=0)
    assert (gen.generate([req])[0] == frames).all()
    missing = GenerationRequest("nope", req.first_frame, "", req.trajectory, 5, 64, 96, seed=0)
    with pytest.raises(InputError, match="no video for 'nope'"):
        gen.generate([missing])
    write_video(tmp_path / "out" / "stranger.mkv", frames)
    with pytest.raises(InputError, match="named after no benchmark id: stranger"):
        load_generator("video-folder", benchmark=str(tiny_bench), path=str(tmp_path / "out"))


def test_registry_errors_are_clear():
    with pytest.raises(InputError, match="unknown generator 'nope'"):
        load_generator("nope")
    with pytest.raises(InputError, match="cannot import generator module"):
        load_generator("no_such_module_xyz:factory")
    with pytest.raises(InputError, match="needs the folder"):
        load_generator("video-folder")
    with pytest.raises(InputError, match=r"has no option\(s\) \['foo'\]"):
        load_generator("static", foo="1")
    # a model option may be called `name` (the alias is positional-only)
    assert load_generator("copy-paste").info.name == "copy-paste"
