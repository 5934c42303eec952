"""Import of trajectory-map videos: boxes and masks recovered by colour, through a lossy H.264 round trip."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from flashbench.data.map_import import decode_maps, request_from_maps
from flashbench.data.trajectory import Trajectory, from_annotation, render_maps
from flashbench.data.schema import Annotation, ObjectTrack
from flashbench.errors import InputError

H, W, T, K = 480, 832, 9, 6


def moving_ellipses(h=H, w=W, t_count=T, k_count=K) -> Annotation:
    """``k_count`` ellipses of different sizes on a grid, moving diagonally, apart from each other."""
    yy, xx = np.mgrid[:h, :w]
    cols, rows = 3, (k_count + 2) // 3
    objs = []
    for k in range(k_count):
        masks = np.zeros((t_count, h, w), bool)
        for t in range(t_count):
            cx = (k % cols + 0.4) * w / cols + 0.01 * w * t
            cy = (k // cols + 0.45) * h / rows + 0.01 * h * t
            rx, ry = (0.08 + 0.01 * k) * w / cols * 2, 0.25 * h / rows
            masks[t] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        objs.append(ObjectTrack.from_masks(k, f"o{k}", masks))
    return Annotation("v", t_count, h, w, tuple(objs))


def h264_round_trip(maps: np.ndarray, path) -> None:
    """Write maps as MagicMotion's tools do: H.264 (libx264 defaults, crf 23), yuv420p, mp4."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = maps.shape[2], maps.shape[1], "yuv420p"
        for f in maps:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_magicmotion_box_maps_survive_h264_within_2px(tmp_path):
    ann = moving_ellipses()
    traj = from_annotation(ann, "box")
    maps = render_maps(traj, "magicmotion")
    h264_round_trip(maps, tmp_path / "maps.mp4")
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "first.png")
    req = request_from_maps(tmp_path / "maps.mp4", tmp_path / "first.png", "six balls drift")
    got = req.trajectory
    assert req.map_style == "magicmotion" and got.type == "box" and got.num_objects == K and req.num_frames == T
    assert (req.height, req.width, req.prompt, req.fps) == (H, W, "six balls drift", 24.0)
    err = np.abs(got.boxes - traj.boxes).max()
    assert err <= 2, err  # every box of every object and frame, including frame 0's filled masks
    assert got.visible.all()
    inter = (got.first_masks & traj.first_masks).sum(axis=(1, 2))
    union = (got.first_masks | traj.first_masks).sum(axis=(1, 2))
    assert (inter / union).min() > 0.95


def test_png_folder_is_exact_and_mask_and_sparse_kinds_are_recognised(tmp_path):
    ann = moving_ellipses(96, 160, 5, 3)
    for kind in ("mask", "sparse_box"):
        traj = from_annotation(ann, kind, sparse_frames=3)
        maps = render_maps(traj, "full-intensity")
        folder = tmp_path / kind
        folder.mkdir()
        for t, m in enumerate(maps):
            Image.fromarray(m).save(folder / f"{t:05d}.png")
        Image.fromarray(np.zeros((96, 160, 3), np.uint8)).save(tmp_path / "first.png")
        req = request_from_maps(folder, tmp_path / "first.png")
        got = req.trajectory
        assert req.map_style == "full-intensity" and got.type == kind
        listed = got.listed()
        np.testing.assert_array_equal(got.boxes[:, listed], traj.boxes[:, listed])
        np.testing.assert_array_equal(got.first_masks, traj.first_masks)
        if kind == "mask":
            np.testing.assert_array_equal(got.masks, traj.masks)
        else:
            assert got.frame_indices == traj.frame_indices == (0, 2, 4)


def test_bad_map_inputs_name_the_file(tmp_path):
    black = np.zeros((3, 48, 64, 3), np.uint8)
    with pytest.raises(InputError, match="maps: frame 0 shows no object"):
        decode_maps(black, style="magicmotion")
    ann = moving_ellipses(96, 160, 3, 2)
    folder = tmp_path / "m"
    folder.mkdir()
    for t, m in enumerate(render_maps(from_annotation(ann, "box"))):
        Image.fromarray(m).save(folder / f"{t:05d}.png")
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match=r"small.png: the first frame is 50x50 but the maps .* are 160x96"):
        request_from_maps(folder, tmp_path / "small.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: no PNG frames"):
        request_from_maps(tmp_path / "empty", tmp_path / "small.png")


def test_generate_command_runs_a_registered_model_on_imported_maps(tmp_path):
    from typer.testing import CliRunner

    from flashbench.cli import app
    from flashbench.data.video import read_video

    ann = moving_ellipses(96, 160, 5, 2)
    folder = tmp_path / "maps"
    folder.mkdir()
    for t, m in enumerate(render_maps(from_annotation(ann, "box"))):
        Image.fromarray(m).save(folder / f"{t:05d}.png")
    first = np.full((96, 160, 3), 60, np.uint8)
    first[ann.objects[0].mask(0)] = (250, 20, 20)
    Image.fromarray(first).save(tmp_path / "first.png")
    out = tmp_path / "out.mkv"
    result = CliRunner().invoke(app, ["generate", "--model", "copy-paste", "--maps", str(folder), "--first-frame",
                                      str(tmp_path / "first.png"), "--prompt", "two balls", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 object(s) from magicmotion maps (box)" in result.stdout
    frames = read_video(out)
    assert frames.shape == (5, 96, 160, 3)
    # copy-paste moved the red object along its imported boxes: its centre follows the trajectory
    red = (frames[..., 0] > 200) & (frames[..., 1] < 80)
    xs = [np.flatnonzero(red[t].any(axis=0)).mean() for t in (0, 4)]
    boxes = ann.objects[0].boxes
    assert abs((xs[1] - xs[0]) - ((boxes[4, 0] + boxes[4, 2]) - (boxes[0, 0] + boxes[0, 2])) / 2) <= 1
