"""`flashbench metrics` and `flashbench weights` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from flashbench.cli import app
from flashbench.errors import InputError, MissingWeightsError
from flashbench.weights import status as weights_status

runner = CliRunner()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_weights_ls_import_verify(home, tmp_path):
    res = runner.invoke(app, ["weights", "ls", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["weights"]}
    assert rows["i3d_torchscript"]["present"] is False and rows["sam2.1_hiera_large"]["file"] == "sam2.1_hiera_large.pt"
    src = tmp_path / "sam.pt"
    src.write_bytes(b"not really a checkpoint")
    res = runner.invoke(app, ["weights", "import", "sam2.1_hiera_tiny", str(src)])  # not a torch file: refused, nothing pinned
    assert res.exit_code != 0 and "sam.pt: not a readable PyTorch/TorchScript file" in str(res.exception)
    assert weights_status("sam2.1_hiera_tiny")["hash_source"] == "none"
    torch.save({"model": torch.zeros(3)}, src)
    res = runner.invoke(app, ["weights", "import", "sam2.1_hiera_tiny", str(src)])
    assert res.exit_code == 0, res.output
    assert "sha256" in res.output
    res = runner.invoke(app, ["weights", "verify"])
    assert res.exit_code == 0 and "ok" in res.output
    (home / "weights" / "sam2.1_hiera_tiny.pt").write_bytes(b"tampered")
    res = runner.invoke(app, ["weights", "verify", "sam2.1_hiera_tiny"])
    assert res.exit_code == 2 and "FAIL" in res.output and "does not match the pinned hash" in res.output
    res = runner.invoke(app, ["weights", "ls"])
    assert res.exit_code == 0 and "sam2.1_hiera_tiny" in res.output


def test_weights_errors_name_the_fix(home, tmp_path):
    res = runner.invoke(app, ["weights", "import", "inception-2015-12-05", str(tmp_path / "missing.pt")])
    assert isinstance(res.exception, InputError) and "missing.pt" in str(res.exception)
    res = runner.invoke(app, ["metrics", "fid", "--real", str(tmp_path), "--fake", str(tmp_path), "--extractor", "official"])
    assert isinstance(res.exception, MissingWeightsError)
    assert "flashbench weights download inception-2015-12-05" in str(res.exception)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from flashbench.data.synth import render_scene
    from flashbench.data.video import write_video

    root = tmp_path_factory.mktemp("media")
    vids = {"real": [render_scene(s, 2, num_frames=5, size=(32, 48)).frames for s in range(3)]}
    rng = np.random.default_rng(0)
    vids["fake"] = [np.clip(v + rng.normal(0, 25, v.shape), 0, 255).astype(np.uint8) for v in vids["real"]]
    for side, vs in vids.items():
        (root / f"{side}_videos").mkdir()
        (root / f"{side}_images").mkdir()
        for i, v in enumerate(vs):
            write_video(root / f"{side}_videos" / f"v{i}.mkv", v)
            Image.fromarray(v[1]).save(root / f"{side}_images" / f"im{i}.png")
    return root, vids


def test_metrics_fid_images_proxy(folders):
    from flashbench.metrics import FeatureStats, fid_features, fid_from_stats, load_inception

    root, vids = folders
    args = ["metrics", "fid", "--real", str(root / "real_images"), "--fake", str(root / "fake_images"), "--extractor", "proxy"]
    res = runner.invoke(app, args + ["--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["official"] is False and out["extractor"]["name"] == "inception-v3-proxy" and len(out["extractor"]["sha256"]) == 64
    assert out["real"]["samples"] == 3 and out["real"]["kind"] == "images"
    assert any("rank-deficient" in w for w in out["warnings"])
    ext = load_inception("proxy")
    with pytest.warns(RuntimeWarning):
        expected = fid_from_stats(FeatureStats.from_features(fid_features(ext, np.stack([v[1] for v in vids["real"]]))),
                                  FeatureStats.from_features(fid_features(ext, np.stack([v[1] for v in vids["fake"]]))))
    assert out["value"] == pytest.approx(expected, rel=1e-6)


def test_text_output_marks_proxy(capsys):
    from flashbench.commands.metrics import _report
    from flashbench.metrics.folders import FolderScore

    side = {"samples": 4, "files": 2, "kind": "videos", "folder": "x"}
    _report(FolderScore("fid", 12.3456, {"name": "inception-v3-proxy", "official": False, "sha256": "ab"}, side, side), False)
    assert capsys.readouterr().out.startswith("FID 12.3456† (proxy: inception-v3-proxy")
    _report(FolderScore("fvd", 7.0, {"name": "i3d_torchscript", "official": True, "sha256": "cd"}, side, side), False)
    assert capsys.readouterr().out.startswith("FVD 7.0000 (official: i3d_torchscript)")


def test_metrics_fid_and_fvd_videos(folders, monkeypatch):
    import flashbench.metrics as metrics
    from flashbench.metrics import FeatureStats, fvd_clip_indices, fvd_features, fvd_from_stats, i3d_proxy

    root, vids = folders
    res = runner.invoke(app, ["metrics", "fid", "--real", str(root / "real_videos"), "--fake", str(root / "fake_videos"),
                              "--extractor", "proxy", "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["real"]["samples"] == 3 * 4  # frames 1..4 of each 5-frame video
    small = i3d_proxy(input_size=64)  # the 224 proxy is the same code, slower on CPU
    monkeypatch.setattr(metrics, "load_i3d", lambda mode, device="cpu": small)
    res = runner.invoke(app, ["metrics", "fvd", "--real", str(root / "real_videos"), "--fake", str(root / "fake_videos"),
                              "--extractor", "proxy", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    idx = fvd_clip_indices(5)
    with pytest.warns(RuntimeWarning):
        expected = fvd_from_stats(FeatureStats.from_features(fvd_features(small, np.stack([v[idx] for v in vids["real"]]))),
                                  FeatureStats.from_features(fvd_features(small, np.stack([v[idx] for v in vids["fake"]]))))
    # the CLI feeds one clip at a time, the reference a batch of 3: conv kernels differ in the last float32 bits
    assert out["metric"] == "fvd" and out["value"] == pytest.approx(expected, rel=1e-4) and out["value"] > 0
    assert out["real"]["short_videos"] == 3 and any("shorter than 16 frames" in w for w in out["warnings"])
    res = runner.invoke(app, ["metrics", "fvd", "--real", str(root / "real_images"), "--fake", str(root / "fake_videos")])
    assert isinstance(res.exception, InputError) and "needs videos" in str(res.exception)
    res = runner.invoke(app, ["metrics", "fvd", "--real", str(root / "real_videos"), "--fake", str(root / "fake_videos"), "--clip", "x"])
    assert isinstance(res.exception, InputError)



def _main_exit(monkeypatch, capsys, argv):
    """Run the real console entry point; return (exit code, stderr)."""
    from flashbench.cli import main

    monkeypatch.setattr("sys.argv", ["flashbench", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def test_bad_folders_are_refused_naming_the_file(folders, tmp_path, monkeypatch, capsys):
    root, vids = folders
    real = str(root / "real_images")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(vids["fake"][0][1]).save(mixed / "a.png")
    Image.fromarray(vids["fake"][0][1][:20]).save(mixed / "b.png")  # 20x48 among 32x48
    code, err = _main_exit(monkeypatch, capsys, ["metrics", "fid", "--real", real, "--fake", str(mixed), "--extractor", "proxy", "--no-progress"])
    assert code == 2 and "b.png: 20x48, but a.png is 32x48" in err and "Traceback" not in err
    code, err = _main_exit(monkeypatch, capsys, ["metrics", "fid", "--real", real, "--fake", str(tmp_path), "--no-progress"])
    assert code == 2 and "no images" in err and "subfolders (mixed) are not read: pass one of them" in err
    deep = tmp_path / "deep"
    deep.mkdir()
    for i in range(2):  # 16-bit greyscale: PIL's RGB conversion would clip it silently
        Image.fromarray((np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40 + i)).save(deep / f"{i}.png")
    res = runner.invoke(app, ["metrics", "fid", "--real", real, "--fake", str(deep), "--extractor", "proxy", "--no-progress"])
    assert isinstance(res.exception, InputError) and "0.png: image mode I;16" in str(res.exception)
    cut = tmp_path / "cut"
    cut.mkdir()
    for i, v in enumerate(vids["real"]):
        (cut / f"v{i}.mkv").write_bytes((root / "real_videos" / f"v{i}.mkv").read_bytes())
    data = (cut / "v1.mkv").read_bytes()
    (cut / "v1.mkv").write_bytes(data[: len(data) // 2])
    code, err = _main_exit(monkeypatch, capsys, ["metrics", "fid", "--real", str(root / "real_videos"), "--fake", str(cut),
                                                 "--extractor", "proxy", "--no-progress"])
    assert code == 2 and "v1.mkv: decodes to" in err and "truncated" in err and "Traceback" not in err


def test_non_finite_features_name_the_file_and_extractor(folders):
    """A broken weight file that yields NaN features is reported, not a bare ValueError from the statistics."""
    from flashbench.metrics import ExtractorInfo
    from flashbench.metrics.folders import score_folders

    class NanNet:
        info = ExtractorInfo(name="broken-net", sha256=None, official=True, dim=4)

        def __call__(self, x):
            return torch.full((x.shape[0], 4), float("nan"))

    root, _ = folders
    with pytest.raises(InputError, match=r"v0\.mkv: the extractor broken-net produced NaN or infinite features"):
        score_folders("fid", root / "real_videos", root / "fake_videos", NanNet())
