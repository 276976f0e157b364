"""One model's evaluation (`model_fid`) on the bundled models: numbers inside their meaning.

FID ≥ 0; the real-vs-real floor is measured at the model's own N (N real against N other real
images) and falls with N; KID is an unbiased MMD² with a spread > 0; a sampler known to be poor
(1–2 steps) lands above the floor. Also the real sets, KID's units, the PCA and Gaussian outline.
"""
import warnings

import numpy as np
import pytest

import diffviz
from diffviz.data.domain import DIGITS_IMAGES, real_pool_size, real_set
from diffviz.metrics import (SingularCovarianceWarning, extract_features, feature_scale, gaussian_outline,
                             kernel_inception_distance, model_fid, pca_2d)
from diffviz.metrics.fid import domain_extractor, max_n


@pytest.fixture(scope="module")
def digits():
    return diffviz.load("digits")


@pytest.fixture(scope="module")
def shapes():
    return diffviz.load("shapes")


def check_report(r, n):
    assert r.n == n and r.real_images.shape[0] == r.generated_images.shape[0] == n
    assert r.real_images.shape == r.generated_images.shape and r.real_images.dtype == np.uint8
    assert r.real_features.shape == r.generated_features.shape == (n, r.dim)
    assert r.fid >= 0 and r.floor >= 0, "FID is a squared distance"
    assert r.floor_sets >= 2 and r.floor_std > 0, "the floor is measured on several real sets"
    assert r.kid.subset_size == n // 2 and r.kid.std > 0, "KID subsets differ, so their values spread"
    assert abs(r.kid.mean) < 1, "KID (not ×1000) of images this close is small"
    assert r.curve.n == r.floor_curve.n and r.curve.n[-1] == n
    assert r.floor_curve.mean == sorted(r.floor_curve.mean, reverse=True), "real vs real FID falls as N grows"
    assert r.curve.mean[0] > r.curve.mean[-1], "FID is biased upwards at small N"
    pts = r.projection()
    assert pts["real"][0].shape == pts["generated"][0].shape == (n, 2) and len(pts["real"][1][0]) == 100


def test_model_fid_digits_n64_floor_at_equal_n(digits):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        poor = model_fid(digits, 64, steps=1, batch_size=32)
    singular = [w for w in caught if issubclass(w.category, SingularCovarianceWarning)]
    assert len(singular) == 1, "N ≤ feature dimension is said once, not once per covariance"
    check_report(poor, 64)
    assert poor.above_floor and poor.fid > poor.floor, "a one-step sampler is visibly worse than real images"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularCovarianceWarning)
        good = model_fid(digits, 64, steps=20, batch_size=32)
    check_report(good, 64)
    assert good.floor == poor.floor and good.floor_std == poor.floor_std, "the floor depends on real images only"
    assert good.fid < poor.fid and good.kid.mean < poor.kid.mean, "20 steps draw closer to real digits than 1"
    # the floor is N real against N other real: the same N as the generated FID, far below a half-vs-half floor
    ext = domain_extractor(digits)
    ref = extract_features(real_set(digits, 64).images, ext)
    assert np.allclose(ref.double().numpy(), good.real_features)


def test_model_fid_shapes_n64_poor_sampler_above_floor(shapes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularCovarianceWarning)
        r = model_fid(shapes, 64, steps=2, batch_size=64)
    check_report(r, 64)
    assert r.above_floor and r.fid > r.floor


@pytest.mark.slow
@pytest.mark.parametrize("n", [64, 128])
def test_model_fid_bundled_20_steps(shapes, digits, n):
    """The view's settings (20 steps, N = 64 and the default 128): every number inside its meaning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularCovarianceWarning)
        for model in (shapes, digits):
            good = model_fid(model, n, steps=20, batch_size=32)
            poor = model_fid(model, n, steps=1, batch_size=32)
            check_report(good, n)
            assert good.fid < poor.fid and poor.above_floor


def test_real_sets_are_disjoint_and_limited(digits, shapes):
    assert real_pool_size(digits) == DIGITS_IMAGES and real_pool_size(shapes) is None
    a, b = real_set(digits, 100), real_set(digits, 100, part=1)
    flat = lambda x: {im.tobytes() for im in x}  # noqa: E731
    assert len(flat(a.images) & flat(b.images)) <= 2, "digits has a few duplicate images, the parts do not overlap"
    assert len(a.conditions) == 100 and set(a.conditions) == set(range(10))
    s0, s1 = real_set(shapes, 16), real_set(shapes, 16, part=1)
    assert not np.array_equal(s0.images, s1.images) and len(s1.conditions) == 16
    assert max_n(digits) == DIGITS_IMAGES // 2
    with pytest.raises(ValueError, match="N ≤ 898"):
        real_set(digits, 899, part=1)
    with pytest.raises(ValueError, match="two disjoint sets"):
        model_fid(digits, 900, steps=1)
    with pytest.raises(ValueError, match="at least 4"):
        model_fid(digits, 3, steps=1)


def test_kid_units_and_spread(digits):
    ext = domain_extractor(digits)
    x = extract_features(real_set(digits, 200).images, ext)
    y = extract_features(real_set(digits, 200, part=1).images, ext)
    raw = kernel_inception_distance(x, y, subsets=20)
    scaled = kernel_inception_distance(x, y, subsets=20, scale=feature_scale(x))
    assert raw.subset_size == scaled.subset_size == 100 and raw.std > 0 and scaled.std > 0
    assert abs(scaled.mean) < 3 * scaled.std, "two real sets: KID is 0 within its spread (unbiased)"
    assert scaled.std < raw.std / 100, "order-1 features keep the cubic kernel (and KID) in its usual range"
    with pytest.raises(ValueError, match="scale"):
        kernel_inception_distance(x, y, scale=0)


def test_kid_refuses_sets_too_small_for_a_spread(digits):
    """Subsets as large as the sets draw the same images every time: a spread of exactly 0 (2 images per
    set did this). KID refuses sets below KID_MIN_IMAGES and subsets above half a set or below the minimum."""
    from diffviz.metrics.kid import KID_MIN_IMAGES, KID_MIN_SUBSET

    ext = domain_extractor(digits)
    x = extract_features(real_set(digits, 64).images, ext)
    y = extract_features(real_set(digits, 64, part=1).images, ext)
    for n in (2, KID_MIN_IMAGES - 1):
        with pytest.raises(ValueError, match=f"KID needs at least {KID_MIN_IMAGES} images in each set.*got {n} and {n}"):
            kernel_inception_distance(x[:n], y[:n])
    with pytest.raises(ValueError, match=f"got {KID_MIN_IMAGES} and 2"):
        kernel_inception_distance(x[:KID_MIN_IMAGES], y[:2])
    smallest = kernel_inception_distance(x[:KID_MIN_IMAGES], y[:KID_MIN_IMAGES], subsets=10, scale=feature_scale(x))
    assert smallest.subset_size == KID_MIN_SUBSET and smallest.std > 0, "at the minimum, subsets differ"
    for bad in (64, 33, KID_MIN_SUBSET - 1, 0):  # a whole set, more than half, below the minimum
        with pytest.raises(ValueError, match=rf"subset_size must be a whole number in \[{KID_MIN_SUBSET}, 32\]"):
            kernel_inception_distance(x, y, subset_size=bad)
    with pytest.raises(ValueError, match="at least 2 subsets"):
        kernel_inception_distance(x, y, subsets=1)
    with pytest.raises(ValueError, match=f"needs N ≥ {KID_MIN_IMAGES}"):
        model_fid(digits, KID_MIN_IMAGES - 1, steps=1)


def test_pca_2d_and_gaussian_outline():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 5)) * [5, 2, 0.1, 0.1, 0.1]
    b = a[:50] + 1
    pa, pb = pca_2d(a, b)
    assert pa.shape == (300, 2) and pb.shape == (50, 2)
    assert pa[:, 0].var() > pa[:, 1].var() > 10 * a[:, 2].var(), "the first axis carries the most spread"
    again = pca_2d(a, b)
    assert np.array_equal(again[0], pa), "the same data gives the same picture (signs fixed)"
    one, other = pca_2d(np.ones((1, 4)), np.zeros((1, 4)))
    assert one.shape == (1, 2) and one[0, 1] == 0 == other[0, 1], "a single direction: the second coordinate is 0"
    x, y = gaussian_outline(rng.normal(size=(20000, 2)) * [2, 1])
    assert max(x) == pytest.approx(4, rel=0.05) and max(y) == pytest.approx(2, rel=0.05), "the 2σ contour"
    with pytest.raises(ValueError, match="2 coordinates"):
        gaussian_outline(np.zeros((5, 3)))


def test_a_job_of_days_is_refused_after_its_first_batch(digits, tmp_path, monkeypatch, capsys):
    """A million digits (issue 23: a 46-hour job) is refused once the first batch is timed, with N, the estimate
    and the limit; in the library and in `diffviz fid`. Under the limit, the same call runs."""
    import re
    import time

    from diffviz.cli import main
    from diffviz.metrics.fid import MAX_MINUTES, generated_features

    ext = domain_extractor(digits)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="n = 1,000,000 generated images would take about") as err:
        generated_features(digits, [1], 10**6, ext)
    took = time.perf_counter() - start
    message = str(err.value)
    assert f"the limit is {MAX_MINUTES:g} min" in message and "--max-minutes" in message
    first = float(re.search(r"\(([\d.]+) s for the first batch of 64, 15,625 batches\)", message).group(1))
    assert took < 3 * first + 5, "refused after one batch, not after hours"
    fit = int(re.search(r"use n ≤ about ([\d,]+)", message).group(1).replace(",", ""))
    assert 2 <= fit < 10**6 and fit * first / 64 <= MAX_MINUTES * 60 * 1.01, "the N it offers fits the limit"
    assert len(generated_features(digits, [1], 4, ext, steps=2, max_minutes=MAX_MINUTES)) == 4
    with pytest.raises(ValueError, match="max_minutes must be a positive number"):
        generated_features(digits, [1], 4, ext, steps=2, max_minutes=0)
    monkeypatch.setenv("DIFFVIZ_CACHE", str(tmp_path))
    assert main(["fid", "--model", "digits", "-n", "1000000", "--steps", "5", "--max-minutes", "2"]) == 2
    err = capsys.readouterr().err
    assert "n = 1,000,000 generated images would take about" in err and "the limit is 2 min" in err
