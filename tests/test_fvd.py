"""FVD: clip selection per protocol, biased pooled statistics, I3D proxy, sanity on moving objects.

The sanity tests use the I3D proxy at a 64-pixel input (``i3d_proxy(input_size=64)``, same
layers, smaller resize) so they run in seconds on CPU; one test runs the 224 proxy on one clip.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flashbench.metrics import FVD, FeatureStats, fvd_clip_indices, fvd_features, fvd_from_stats, i3d_proxy, load_i3d


def test_clip_indices():
    idx = fvd_clip_indices(121)
    np.testing.assert_array_equal(idx, np.arange(0, 121, 8))  # every 8th frame spans the video
    np.testing.assert_array_equal(fvd_clip_indices(49), np.round(np.linspace(0, 48, 16)).astype(int))
    np.testing.assert_array_equal(fvd_clip_indices(121, "first16"), np.arange(16))
    np.testing.assert_array_equal(fvd_clip_indices(20, "all"), np.arange(20))
    assert len(fvd_clip_indices(9)) == 16  # shorter videos repeat frames, still 16
    with pytest.raises(ValueError, match="first16"):
        fvd_clip_indices(10, "first16")
    with pytest.raises(ValueError, match="clip mode"):
        fvd_clip_indices(10, "random")


def test_proxy_i3d_224_call_semantics():
    ext = load_i3d("proxy")
    assert ext.info.name == "i3d-k400-proxy" and not ext.info.official and ext.info.dim == 400
    clip = torch.randint(0, 256, (1, 3, 8, 40, 56), dtype=torch.uint8)
    out = ext(clip)
    assert out.shape == (1, 400) and out.dtype == torch.float32 and torch.isfinite(out).all()
    # the network rescales to [-1, 1] and resizes to 224 itself: equal to feeding it pre-processed input
    x = torch.nn.functional.interpolate(clip.float() / 127.5 - 1, size=(8, 224, 224), mode="trilinear", align_corners=False)
    with torch.no_grad():
        ref = ext.net(x, rescale=False, resize=False, return_features=True)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        ext(clip.float())


@pytest.fixture(scope="module")
def videos():
    from flashbench.data.synth import render_scene

    return np.stack([render_scene(s, 1 + s % 3, num_frames=16, size=(48, 64)).frames for s in range(6)])


@pytest.fixture(scope="module")
def ext():
    return i3d_proxy(input_size=64)


@pytest.fixture(scope="module")
def real_stats(ext, videos):
    return FeatureStats.from_features(fvd_features(ext, videos, batch_size=4))


def _fvd(ext, real_stats, fake):
    with pytest.warns(RuntimeWarning, match="rank-deficient"):
        return fvd_from_stats(real_stats, FeatureStats.from_features(fvd_features(ext, fake)))


def test_self_distance_zero_and_pooled_metric(ext, videos, real_stats):
    with pytest.warns(RuntimeWarning):
        assert fvd_from_stats(real_stats, real_stats) < 1e-6
    # the metric pools features over all updates (not an average of per-batch FVDs); batch
    # size and order do not change the result
    fake = videos[:, ::-1]
    m = FVD(ext, batch_size=2)
    m.update(videos[::-1][:4], real=True)
    m.update(list(videos[::-1][4:]), real=True)
    m.update(fake[:3], real=False)
    m.update(fake[3:], real=False)
    real_m = m.stats(True)
    assert real_m.n == 6
    np.testing.assert_allclose(real_m.sum, real_stats.sum, rtol=1e-5)
    np.testing.assert_allclose(real_m.outer, real_stats.outer, rtol=1e-5, atol=1e-5)
    with pytest.warns(RuntimeWarning):
        pooled = fvd_from_stats(real_m, m.stats(False))
        assert float(m.compute()) == pytest.approx(pooled, rel=1e-12)
    assert pooled > 0


def _shuffle(v, amount, seed=0):
    """Swap ``amount`` random pairs of frames in every video."""
    rng = np.random.default_rng(seed)
    out = v.copy()
    for b in range(len(v)):
        for _ in range(amount):
            i, j = rng.choice(v.shape[1], 2, replace=False)
            out[b, [i, j]] = out[b, [j, i]]
    return out


def _noise(v, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(v + rng.normal(0, sigma, v.shape), 0, 255).astype(np.uint8)


def _blur(v, sigma):
    from scipy import ndimage

    return np.clip(ndimage.gaussian_filter(v.astype(np.float64), (0, 0, sigma, sigma, 0)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["noise", "blur", "shuffle"])
def test_fvd_grows_with_degradation(ext, videos, real_stats, kind):
    levels = {"noise": (10, 60), "blur": (1.0, 3.0), "shuffle": (2, 12)}[kind]
    fn = {"noise": _noise, "blur": _blur, "shuffle": _shuffle}[kind]
    values = [_fvd(ext, real_stats, fn(videos, lv)) for lv in levels]
    assert 0 < values[0] < values[1], values
