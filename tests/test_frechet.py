"""Fréchet distance and streaming statistics against a float64 SciPy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from flashbench.metrics.frechet import FeatureStats, fid_from_stats, frechet_distance, fvd_from_stats


def scipy_reference(mu1, s1, mu2, s2) -> float:
    """The classic formula with scipy.linalg.sqrtm in float64 (tests only)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_cov(rng, d, rank=None, jitter=0.0):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / (rank or d) + jitter * np.eye(d)


@pytest.mark.parametrize("d", [2, 16, 64])
def test_matches_scipy_on_random_gaussians(d):
    rng = np.random.default_rng(d)
    for _ in range(3):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = random_cov(rng, d), random_cov(rng, d)
        ours, ref = frechet_distance(mu1, s1, mu2, s2), scipy_reference(mu1, s1, mu2, s2)
        assert ours == pytest.approx(ref, rel=1e-6)


def eig_reference(mu1, s1, mu2, s2) -> float:
    """Tr sqrt(S1 S2) from the complex eigenvalues of S1 @ S2 in float64 (tests only)."""
    tr = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real.sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr)


@pytest.mark.parametrize("d, r1, r2", [(32, 8, 12), (64, 63, 40), (128, 20, 20)])
@pytest.mark.parametrize("jitter", [1e-6, 1e-9, 1e-12, 0.0])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_matches_scipy_near_singular(d, r1, r2, jitter, scale):
    """Rank-deficient covariances plus a tiny (or no) ridge: eigenvalues spanning many orders of magnitude.

    Recorded agreement over these cases and seeds 0-4: worst 4.2e-8 relative; asserted at 1e-6.
    """
    rng = np.random.default_rng(d + r1)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d) * 0.1
    s1 = random_cov(rng, d, rank=r1, jitter=jitter) * scale**2
    s2 = random_cov(rng, d, rank=r2, jitter=jitter) * scale**2
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(scipy_reference(mu1, s1, mu2, s2), rel=1e-6)
    assert ours == pytest.approx(eig_reference(mu1, s1, mu2, s2), rel=1e-6)


def test_identical_sets_give_zero():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(300, 24)) * 3 + 5
    st = FeatureStats.from_features(feats)
    assert abs(fid_from_stats(st, st)) < 1e-6
    assert abs(fvd_from_stats(st, st)) < 1e-6
    # rank-deficient case (fewer samples than dimensions) still gives 0, with a warning
    small = FeatureStats.from_features(feats[:10])
    with pytest.warns(RuntimeWarning, match="rank-deficient"):
        assert abs(fid_from_stats(small, small)) < 1e-6


def test_known_value_diagonal():
    # diagonal covariances: closed form sum (sqrt(a) - sqrt(b))^2 + |mu1 - mu2|^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_streaming_equals_one_shot_and_covariances():
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(257, 12)) + rng.normal(size=12)
    one = FeatureStats.from_features(feats)
    chunks = [FeatureStats.from_features(c) for c in np.array_split(feats, 5)]
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged.n == one.n == 257
    np.testing.assert_allclose(merged.sum, one.sum, rtol=1e-12)
    np.testing.assert_allclose(merged.outer, one.outer, rtol=1e-12)
    np.testing.assert_allclose(one.mean(), feats.mean(0), rtol=1e-12)
    np.testing.assert_allclose(one.cov(1), np.cov(feats, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(one.cov(0), np.cov(feats, rowvar=False, bias=True), rtol=1e-9, atol=1e-12)
    other = FeatureStats.from_features(rng.normal(size=(100, 12)))
    assert fid_from_stats(merged, other) == pytest.approx(fid_from_stats(one, other), rel=1e-10)


def test_fid_unbiased_fvd_biased():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 0.5
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    fid_ref = scipy_reference(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    fvd_ref = scipy_reference(x.mean(0), np.cov(x, rowvar=False, bias=True), y.mean(0), np.cov(y, rowvar=False, bias=True))
    assert fid_from_stats(sx, sy) == pytest.approx(fid_ref, rel=1e-8)
    assert fvd_from_stats(sx, sy) == pytest.approx(fvd_ref, rel=1e-8)
    assert fid_from_stats(sx, sy) != pytest.approx(fvd_from_stats(sx, sy), rel=1e-6)


def test_save_load_roundtrip(tmp_path):
    st = FeatureStats.from_features(np.random.default_rng(5).normal(size=(20, 6)))
    path = st.save(tmp_path / "s.npz")
    back = FeatureStats.load(path)
    assert back.n == 20 and back.dim == 6
    np.testing.assert_array_equal(back.outer, st.outer)
    d = FeatureStats.from_arrays(st.to_arrays())
    np.testing.assert_array_equal(d.sum, st.sum)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary


def test_bad_input_errors():
    st = FeatureStats.empty(4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        st.update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        st.update(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="dimension"):
        st.merge(FeatureStats.empty(3))
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_stats(FeatureStats.from_features(np.ones((1, 4))), FeatureStats.from_features(np.ones((3, 4))))
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_no_warning_when_enough_samples():
    rng = np.random.default_rng(6)
    a, b = FeatureStats.from_features(rng.normal(size=(30, 3))), FeatureStats.from_features(rng.normal(size=(30, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_stats(a, b)


def test_rank_deficient_from_few_samples():
    """Fewer samples than dimensions (the usual small-run case): agrees with a complex-eigenvalue reference."""
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(25, 64)) + 0.3
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    tr = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real.sum()
    diff = x.mean(0) - y.mean(0)
    ref = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr
    with pytest.warns(RuntimeWarning):
        assert fid_from_stats(sx, sy) == pytest.approx(ref, rel=1e-6)


def test_compact_file_is_lossless_and_small(tmp_path):
    feats = np.maximum(np.random.default_rng(6).normal(0.3, 0.5, size=(300, 64)), 0).astype(np.float32)
    st = FeatureStats.from_features(feats[:100])
    st.update(feats[100:])
    np.testing.assert_array_equal(st.outer, st.outer.T)  # the triangle holds everything
    back = FeatureStats.load(st.save(tmp_path / "s.npz"))
    assert back.n == st.n
    np.testing.assert_array_equal(back.sum, st.sum)
    np.testing.assert_array_equal(back.outer, st.outer)
    assert fid_from_stats(back, st) == fid_from_stats(st, st)
    full = 8 * 64 * 64
    assert (tmp_path / "s.npz").stat().st_size < 0.55 * full


def test_few_vectors_are_stored_as_the_feature_sets_and_load_to_the_same_bits(tmp_path):
    rng = np.random.default_rng(7)
    sets = [rng.normal(size=(n, 64)).astype(np.float32) for n in (5, 0, 9, 3)]
    st = FeatureStats.from_feature_sets(sets, 64)
    small = tmp_path / "few.npz"
    st.save(small, feature_sets=sets)
    with np.load(small) as z:
        assert "features" in z.files  # 17 vectors of 64-d: the sets are smaller than the statistics
    back = FeatureStats.load(small)
    assert back.n == 17
    np.testing.assert_array_equal(back.sum, st.sum)
    np.testing.assert_array_equal(back.outer, st.outer)
    many = [rng.normal(size=(40, 16)).astype(np.float32) for _ in range(3)]
    big = FeatureStats.from_feature_sets(many, 16)
    big.save(tmp_path / "many.npz", feature_sets=many)
    with np.load(tmp_path / "many.npz") as z:
        assert "features" not in z.files  # 120 vectors of 16-d: the statistics are smaller
    with pytest.raises(ValueError, match="hold 17 vectors"):
        big.save(tmp_path / "bad.npz", feature_sets=sets)
