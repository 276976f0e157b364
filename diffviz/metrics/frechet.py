"""Fréchet distance between two Gaussians — the "F" and "D" of FID.

d² = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2 tr √(Σ₁Σ₂).

pytorch-fid computes tr √(Σ₁Σ₂) with scipy's general `sqrtm` of a non-symmetric product. Here
the same trace comes from one symmetric eigenvalue problem, which is faster and stays real:
tr √(Σ₁Σ₂) = Σᵢ √λᵢ(Lᵀ Σ₂ L) with Σ₁ = L Lᵀ (Cholesky; Lᵀ Σ₂ L is symmetric PSD and similar to
Σ₁Σ₂). A singular Σ₁ (fewer samples than dimensions) has no Cholesky factor; then L = √Σ₁ from
an eigendecomposition serves the same purpose.
Round-off can leave eigenvalues a hair below zero; those within EIG_TOLERANCE · λ_max are set
to 0, anything more negative means an input was not a covariance matrix and raises.
"""
from __future__ import annotations

import numpy as np
from ..errors import DiffvizError

EIG_TOLERANCE = 1e-8


def _as_stats(mu, sigma, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1:
        raise DiffvizError(f"mu{which} must be a vector, got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DiffvizError(f"sigma{which} must be ({mu.shape[0]}, {mu.shape[0]}) to match mu{which}, got {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise DiffvizError(f"mu{which}/sigma{which} contain NaN or inf")
    return mu, (sigma + sigma.T) / 2


def _check_psd(vals: np.ndarray, name: str) -> np.ndarray:
    floor = -EIG_TOLERANCE * max(float(np.abs(vals).max()), 1e-300)
    if vals.min() < floor:
        raise DiffvizError(f"{name} is not positive semi-definite (eigenvalue {vals.min():.3g}); is it a covariance matrix?")
    return np.clip(vals, 0, None)


def _factor(sigma: np.ndarray) -> np.ndarray:
    """Some L with L Lᵀ = Σ: Cholesky when Σ is positive definite, else √Σ."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(sigma)
        return vecs * np.sqrt(_check_psd(vals, "sigma1"))


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr √(Σ₁Σ₂) for symmetric PSD Σ₁, Σ₂ from the eigenvalues of Lᵀ Σ₂ L (Σ₁ = L Lᵀ)."""
    L = _factor(sigma1)
    inner = L.T @ sigma2 @ L
    lam = _check_psd(np.linalg.eigvalsh((inner + inner.T) / 2), "sigma2 (or the product)")
    return float(np.sqrt(lam).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); equals pytorch-fid's value."""
    mu1, sigma1 = _as_stats(mu1, sigma1, "1")
    mu2, sigma2 = _as_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise DiffvizError(f"the two statistics have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))
