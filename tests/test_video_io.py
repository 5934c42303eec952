"""Video I/O: lossless, frame-accurate .mkv round trips; decord and PyAV agree; bad files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.data.video import probe, read_video, uniform_indices, write_video
from flashbench.errors import VideoError


def _frames(t=7, h=32, w=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_mkv_round_trip_is_lossless_and_frame_accurate(tmp_path):
    frames = _frames()
    path = write_video(tmp_path / "v.mkv", frames, fps=24.0)
    np.testing.assert_array_equal(read_video(path), frames)
    idx = [6, 0, 3, 3]
    np.testing.assert_array_equal(read_video(path, idx), frames[idx])
    info = probe(path)
    assert (info.num_frames, info.height, info.width) == (7, 32, 48)
    assert info.fps == pytest.approx(24.0)


def test_writing_the_same_frames_twice_gives_the_same_bytes(tmp_path):
    frames = _frames(3)
    a = write_video(tmp_path / "a.mkv", frames).read_bytes()
    b = write_video(tmp_path / "b.mkv", frames).read_bytes()
    assert a == b


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_decord_and_pyav_agree(tmp_path, ext):
    frames = np.repeat(np.repeat(_frames(6, 8, 12, seed=1), 4, axis=1), 4, axis=2)  # smooth enough for H.264
    path = write_video(tmp_path / f"v{ext}", frames)
    a = read_video(path, backend="pyav")
    b = read_video(path, backend="decord")
    np.testing.assert_array_equal(a, b)  # same FFmpeg decode, bit for bit (measured: max diff 0)
    sub = [5, 1, 2]
    np.testing.assert_array_equal(read_video(path, sub, backend="decord"), a[sub])
    if ext == ".mkv":
        np.testing.assert_array_equal(a, frames)
    else:  # lossy, but close at CRF 10
        assert np.abs(a.astype(int) - frames).mean() < 8


def test_frame_count_checks_and_bad_files(tmp_path):
    path = write_video(tmp_path / "v.mkv", _frames(5))
    with pytest.raises(VideoError, match="has 5 frames, expected 6"):
        read_video(path, expected_frames=6)
    with pytest.raises(VideoError, match="out of range"):
        read_video(path, [5])
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "missing.mkv")
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(path.read_bytes()[:200])  # truncated inside the first frame
    with pytest.raises(VideoError, match="bad.mkv"):
        read_video(bad)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="junk.mp4"):
        read_video(junk)


def test_write_rejects_wrong_layouts(tmp_path):
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "v.mkv", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(VideoError, match="even"):
        write_video(tmp_path / "v.mp4", np.zeros((2, 7, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="no frames"):
        write_video(tmp_path / "v.mkv", [])
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_uniform_indices():
    np.testing.assert_array_equal(uniform_indices(121, 16), np.round(np.linspace(0, 120, 16)).astype(int))
    assert uniform_indices(121, 16)[1] == 8
    np.testing.assert_array_equal(uniform_indices(5, 5), np.arange(5))
    with pytest.raises(ValueError):
        uniform_indices(0, 3)


def test_truncated_video_is_refused_without_an_expected_count(tmp_path):
    """A file cut short keeps its header: decoding fewer frames than it declares is an error."""
    path = write_video(tmp_path / "v.mkv", _frames(20))
    assert read_video(path).shape[0] == 20  # intact: decoded count equals the declared one
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])  # still decodes, to about 10 frames
    assert 0 < read_video(cut, [0]).shape[0]  # the header and the first frames are readable
    with pytest.raises(VideoError, match=r"cut\.mkv: decodes to \d+ frames but its header declares 20"):
        read_video(cut)
