"""Sliced Wasserstein distance between two point clouds: how far generated points are from the data.

Project both clouds on many random directions; on each line the 1-D Wasserstein-2 distance is the
distance between the sorted projections (quantiles); average the squares over directions, take the
root. Two draws of the data itself are not at distance 0 (finite samples): `swd_floor` is that
data-vs-data distance at the same N, the best a model's samples can do.
"""
from __future__ import annotations

import numpy as np

from ..errors import DiffvizError


def sliced_wasserstein(a, b, projections: int = 256, seed: int = 0) -> float:
    """SW₂ between point sets a (N, D) and b (M, D) (quantiles matched when N ≠ M)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise DiffvizError(f"point sets must be (N, D) and (M, D) with the same D, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DiffvizError("point sets contain NaN or inf values")
    dirs = np.random.default_rng(seed).standard_normal((a.shape[1], projections))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    if len(pa) != len(pb):
        q = (np.arange(max(len(pa), len(pb))) + 0.5) / max(len(pa), len(pb))
        pa = np.quantile(pa, q, axis=0)
        pb = np.quantile(pb, q, axis=0)
    return float(np.sqrt(((pa - pb) ** 2).mean()))


def swd_floor(draw, n: int, repeats: int = 3, projections: int = 256) -> float:
    """The data-vs-data distance at N = n: mean SW₂ between independent draws `draw(n, seed)`."""
    return float(np.mean([sliced_wasserstein(draw(n, 1000 + 2 * r), draw(n, 1001 + 2 * r), projections)
                          for r in range(repeats)]))
