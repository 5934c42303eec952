"""FID: parity with clean-fid and torchmetrics, protocol frame selection, sanity on synthetic videos.

Parity uses a tiny seeded conv net with the Inception call signature ((B, 3, 299, 299) float on
0..255 -> (B, 16)) so the test is fast and the covariances are full rank (N > D); the
preprocessing (clean-fid ``clean`` resize) and statistics are the production code paths.
Recorded agreement on this fixture (FID 0.31984): clean-fid 2.0e-7 relative (it averages
float32 features), torchmetrics 3.3e-8 relative (float32 result); asserted at 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from flashbench.metrics import FID, ExtractorInfo, FeatureStats, clean_resize, fid_features, fid_frame_indices, fid_from_stats


class TinyExtractor:
    """(B, 3, 299, 299) 0..255 -> (B, 16): the clean-fid custom extractor signature."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, 9, stride=8)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.05)
            self.conv.bias.zero_()
        self.info = ExtractorInfo(name="tiny-test-net", sha256=None, official=False, dim=16)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            y = torch.tanh(self.conv((x - 128) / 128))
            return y.mean(dim=(2, 3)) + y.amax(dim=(2, 3))


def smooth_images(seed: int, n: int, h: int = 40, w: int = 56, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, size=(n, 5, 7, 3))
    imgs = np.stack([np.asarray(Image.fromarray(l.astype(np.uint8)).resize((w, h), Image.BICUBIC)) for l in low])
    noise = rng.normal(0, 12, size=imgs.shape)
    return np.clip(imgs + noise + shift, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_sets():
    return smooth_images(0, 40), smooth_images(1, 40, shift=20.0)


def ours(ext, real, fake) -> float:
    return fid_from_stats(FeatureStats.from_features(fid_features(ext, real, batch_size=16)),
                          FeatureStats.from_features(fid_features(ext, fake, batch_size=7)))


def test_parity_with_cleanfid(tmp_path, image_sets):
    from cleanfid import fid as cleanfid

    real, fake = image_sets
    for name, imgs in (("real", real), ("fake", fake)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(imgs):
            Image.fromarray(im).save(tmp_path / name / f"{i:03d}.png")
    ext = TinyExtractor()
    ref = cleanfid.compute_fid(str(tmp_path / "real"), str(tmp_path / "fake"), mode="clean", custom_feat_extractor=ext,
                               num_workers=0, batch_size=8, device=torch.device("cpu"), verbose=False, use_dataparallel=False)
    value = ours(ext, real, fake)
    assert value > 0.01
    assert value == pytest.approx(ref, rel=1e-4)
    # the `flashbench metrics fid` front door on the very same folders
    from flashbench.metrics.folders import score_folders

    front = score_folders("fid", tmp_path / "real", tmp_path / "fake", ext)
    assert front.real["samples"] == front.fake["samples"] == 40
    assert front.value == pytest.approx(ref, rel=1e-4)


def test_parity_with_torchmetrics(image_sets):
    from torchmetrics.image.fid import FrechetInceptionDistance

    ext = TinyExtractor()

    class Feature(torch.nn.Module):
        """uint8 (B, 3, H, W) -> our clean resize -> tiny net (what torchmetrics calls)."""

        num_features = 16

        def forward(self, imgs: torch.Tensor) -> torch.Tensor:
            assert imgs.dtype == torch.uint8  # normalize=False: torchmetrics passes our uint8 through untouched
            return ext(clean_resize(imgs.permute(0, 2, 3, 1).numpy()))

    real, fake = image_sets
    tm = FrechetInceptionDistance(feature=Feature(), normalize=False)
    for chunk in np.array_split(real, 3):
        tm.update(torch.from_numpy(chunk).permute(0, 3, 1, 2), real=True)
    for chunk in np.array_split(fake, 2):
        tm.update(torch.from_numpy(chunk).permute(0, 3, 1, 2), real=False)
    ref = float(tm.compute())
    assert ours(ext, real, fake) == pytest.approx(ref, rel=1e-4)
    # our torchmetrics-style wrapper gives the same number
    m = FID(ext, batch_size=9)
    m.update(real, real=True)
    m.update(fake[:25], real=False)
    m.update(fake[25:], real=False)
    assert float(m.compute()) == pytest.approx(ref, rel=1e-4)


def test_metric_states_reduce_by_sum(image_sets):
    """Two workers' states merged by summation (what DDP sync does) equal one worker's."""
    ext = TinyExtractor()
    real, fake = image_sets
    one = FID(ext)
    one.update(real, real=True)
    one.update(fake, real=False)
    a, b = FID(ext), FID(ext)
    a.update(real[:15], real=True)
    b.update(real[15:], real=True)
    a.update(fake[:30], real=False)
    b.update(fake[30:], real=False)
    for name, reduce in a._reductions.items():
        assert reduce is not None and getattr(a, name).dtype == torch.float64, name
    a.merge_state(b)
    assert float(a.compute()) == pytest.approx(float(one.compute()), rel=1e-9)


def test_clean_resize_is_cleanfid_clean_mode():
    from cleanfid.resize import build_resizer

    imgs = smooth_images(2, 2, 37, 53)
    out = clean_resize(imgs)
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.float32
    ref = build_resizer("clean")(imgs[1])
    np.testing.assert_array_equal(out[1].permute(1, 2, 0).numpy(), ref)
    assert float(out.min()) >= 0 and float(out.max()) <= 255
    assert not np.allclose(out.numpy(), np.round(out.numpy()))  # not re-quantised
    with pytest.raises(ValueError, match="uint8"):
        clean_resize(imgs.astype(np.float32))


def test_frame_indices():
    np.testing.assert_array_equal(fid_frame_indices(5), [1, 2, 3, 4])
    np.testing.assert_array_equal(fid_frame_indices(5, skip_first=False), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(fid_frame_indices(121, stride=30), [1, 31, 61, 91])
    with pytest.raises(ValueError):
        fid_frame_indices(5, stride=0)


def test_features_independent_of_batch_size(image_sets):
    ext = TinyExtractor()
    a = fid_features(ext, image_sets[0][:10], batch_size=10)
    b = fid_features(ext, image_sets[0][:10], batch_size=3)
    assert a.dtype == np.float64 and a.shape == (10, 16)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def synth_frames():
    from flashbench.data.synth import render_scene

    vids = [render_scene(s, 2, num_frames=4, size=(48, 64)).frames for s in range(2)]
    return np.concatenate([v[fid_frame_indices(4)] for v in vids])  # 6 frames


def _degrade(frames, kind, level, seed=0):
    from scipy import ndimage

    if kind == "noise":
        rng = np.random.default_rng(seed)
        return np.clip(frames + rng.normal(0, level, frames.shape), 0, 255).astype(np.uint8)
    return np.stack([np.clip(ndimage.gaussian_filter(f.astype(np.float64), (level, level, 0)), 0, 255).astype(np.uint8) for f in frames])


def test_proxy_inception_sanity(synth_frames):
    """The seeded InceptionV3 proxy: self-distance 0; FID grows with noise and with blur."""
    from flashbench.metrics import load_inception

    ext = load_inception("proxy")
    assert not ext.info.official and ext.info.dim == 2048 and len(ext.info.sha256) == 64
    real = FeatureStats.from_features(fid_features(ext, synth_frames))
    with pytest.warns(RuntimeWarning, match="rank-deficient"):
        assert fid_from_stats(real, real) < 1e-6
        for kind, levels in (("noise", (10, 50)), ("blur", (1.0, 3.0))):
            values = [fid_from_stats(real, FeatureStats.from_features(fid_features(ext, _degrade(synth_frames, kind, lv))))
                      for lv in levels]
            assert values[0] > 0 and all(a < b for a, b in zip(values, values[1:])), (kind, values)
