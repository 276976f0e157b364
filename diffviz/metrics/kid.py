"""Kernel Inception Distance: an unbiased MMD² between feature sets (Bińkowski et al., 2018).

k(x, y) = (x·y / d + 1)³. Unlike FID it has an unbiased estimator, so it is meaningful at small N
(an estimate may dip a little below 0 when the two sets come from one distribution); it is the
mean over random subsets (each smaller than the sets, so they differ) and reported as mean ± std.

The cubic kernel was made for InceptionV3 pool features, whose coordinates are of order 1. Other
extractors (the bundled domain classifiers: coordinates ~ 3, norms ~ 40) would put the kernel far
from that regime — KID values in the tens of thousands ×1000 and a huge spread. Pass `scale` (the
features are divided by it first); `feature_scale` gives the RMS coordinate of a reference set.

Set sizes: the unbiased estimator is defined from 2 samples per subset, but its spread is not: with
subsets as large as the sets every draw is the same (a spread of exactly 0, however few images), and a
handful of images per subset gives values dominated by which images were drawn. So KID refuses subsets
of fewer than KID_MIN_SUBSET images or of more than half the smaller set (subsets then differ), i.e.
sets of fewer than 2 * KID_MIN_SUBSET images. The literature uses subsets of 1000 (Bińkowski et al.;
torchmetrics' KernelInceptionDistance: 100 subsets of 1000).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .stats import check_features
from ..errors import DiffvizError


KID_MIN_SUBSET = 8  # images per subset (28 distinct pairs in each within-set kernel mean)
KID_MIN_IMAGES = 2 * KID_MIN_SUBSET  # per set: subsets of at most half a set, so that they differ


class KID(NamedTuple):
    mean: float
    std: float
    subsets: int
    subset_size: int


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def feature_scale(features) -> float:
    """Root-mean-square coordinate of a feature set: divide by it to give the kernel order-1 inputs."""
    f = check_features(features)
    return float(np.sqrt((f ** 2).mean())) or 1.0


def default_subset_size(n_real: int, n_fake: int) -> int:
    """Half the smaller set (at most 1000): subsets then differ, so their spread means something."""
    return min(1000, min(n_real, n_fake) // 2)


def check_kid_sizes(n_real: int, n_fake: int, subset_size: int | None = None, subsets: int = 1) -> int:
    """The subset size KID will use for sets of n_real and n_fake images; a short error below the minimum."""
    if min(n_real, n_fake) < KID_MIN_IMAGES:
        raise DiffvizError(f"KID needs at least {KID_MIN_IMAGES} images in each set (subsets of at least "
                           f"{KID_MIN_SUBSET}, at most half a set, so that they differ); got {n_real} and {n_fake}")
    if isinstance(subsets, bool) or not isinstance(subsets, (int, np.integer)) or subsets < 2:
        raise DiffvizError(f"KID needs at least 2 subsets (for a spread), got {subsets!r}")
    m = default_subset_size(n_real, n_fake) if subset_size is None else subset_size
    half = min(n_real, n_fake) // 2
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not KID_MIN_SUBSET <= m <= half:
        raise DiffvizError(f"KID subset_size must be a whole number in [{KID_MIN_SUBSET}, {half}] (half the smaller "
                           f"set, so that subsets differ), got {m!r}")
    return int(m)


def kernel_inception_distance(real, fake, subsets: int = 50, subset_size: int | None = None, seed: int = 0,
                              scale: float = 1.0) -> KID:
    """KID between two feature sets (N, d), mean ± std over random subsets of `subset_size` per set.

    subset_size defaults to half the smaller set (at most 1000) and may not exceed it: a subset as large
    as a set would draw the same samples every time (a spread of 0). Sets of fewer than KID_MIN_IMAGES
    are refused. Features are divided by `scale` before the kernel.
    """
    x, y = check_features(real), check_features(fake)
    if x.shape[1] != y.shape[1]:
        raise DiffvizError(f"feature dimensions differ: {x.shape[1]} and {y.shape[1]}")
    if not (np.isfinite(scale) and scale > 0):
        raise DiffvizError(f"scale must be a positive number, got {scale!r}")
    m = check_kid_sizes(len(x), len(y), subset_size, subsets)
    x, y = x / scale, y / scale
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd2(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
            for _ in range(subsets)]
    return KID(float(np.mean(vals)), float(np.std(vals)), subsets, m)
