"""Kernel Inception Distance: an unbiased MMD² between feature sets (Bińkowski et al., 2018).

k(x, y) = (x·y / d + 1)³. Unlike FID it has an unbiased estimator, so it is meaningful at small N;
it is averaged over random subsets and reported as mean ± std.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .stats import check_features


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


def kernel_inception_distance(real, fake, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> KID:
    """KID between two feature sets (N, d), mean ± std over random subsets."""
    x, y = check_features(real), check_features(fake)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} and {y.shape[1]}")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd2(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
            for _ in range(subsets)]
    return KID(float(np.mean(vals)), float(np.std(vals)), subsets, m)
