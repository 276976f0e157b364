"""2-D pictures of feature spaces: a shared PCA projection and the outline of a fitted Gaussian.

The widgets draw what these return; the numbers (projection, covariance, contour) are made here.
"""
from __future__ import annotations

import numpy as np
import torch
from ..errors import DiffvizError


def _as_array(x) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise DiffvizError(f"points must be a 2-D array (N, dim), got shape {a.shape}")
    return a


def pca_2d(*groups) -> list[np.ndarray]:
    """Project several point sets (N_i, d) onto the first two principal axes of all of them together.

    Returns one (N_i, 2) array per group. Signs are fixed (each axis's largest loading is positive), so
    the same data always gives the same picture; with fewer than two directions of spread the missing
    coordinates are 0.
    """
    arrays = [_as_array(g) for g in groups]
    if not arrays:
        return []
    dims = {a.shape[1] for a in arrays}
    if len(dims) != 1:
        raise DiffvizError(f"all point sets need the same dimension, got {sorted(dims)}")
    both = np.concatenate(arrays)
    out = np.zeros((len(both), 2))
    if len(both):
        centred = both - both.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        k = int(min(2, (s > 1e-12 * max(s.max(initial=0), 1e-300)).sum()))
        axes = vt[:k]
        axes *= np.where(axes[np.arange(k), np.abs(axes).argmax(1)] < 0, -1.0, 1.0)[:, None]
        out[:, :k] = centred @ axes.T
    cuts = np.cumsum([len(a) for a in arrays])[:-1]
    return np.split(out, cuts)


def gaussian_outline(points, n_std: float = 2.0, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the n_std contour of the Gaussian fitted to 2-D points (mean and sample covariance)."""
    pts = _as_array(points)
    if pts.shape[1] != 2 or len(pts) < 2:
        raise DiffvizError(f"a 2-D Gaussian needs at least 2 points of 2 coordinates, got shape {pts.shape}")
    return ellipse_points(pts.mean(0), np.cov(pts, rowvar=False), n_std, n)


def ellipse_points(mean: np.ndarray, cov: np.ndarray, n_std: float = 2.0, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Outline of a 2-D Gaussian N(mean, cov): its n_std contour as n points."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    angle = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    pts = vecs @ (np.sqrt(np.clip(vals, 0, None))[:, None] * n_std * circle) + np.asarray(mean, dtype=np.float64)[:, None]
    return pts[0], pts[1]
