"""Streaming feature statistics (mean, covariance) in float64, and an on-disk cache of them.

FID needs μ and Σ of thousands of feature vectors; `RunningStats` accumulates them batch by batch
(never holding all features) as exact sums, so stats from several processes or batches merge
into the same result as one pass. Reference statistics of a data set are cached on disk as
safetensors, keyed by data set, N, feature extractor and a hash of the data itself.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from ..errors import DiffvizError


def check_features(features, dim: int | None = None) -> np.ndarray:
    f = features.detach().cpu().double().numpy() if torch.is_tensor(features) else np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise DiffvizError(f"features must be a 2-D array (N, dim), got shape {f.shape}")
    if dim is not None and f.shape[1] != dim:
        raise DiffvizError(f"features have dimension {f.shape[1]}, these statistics have {dim}")
    if not np.isfinite(f).all():
        raise DiffvizError("features contain NaN or inf (did the generator diverge?)")
    return f


class SingularCovarianceWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased upwards."""


@dataclass
class RunningStats:
    """Exact running sums: n, Σx, Σxxᵀ (float64). `.mean`, `.cov` as numpy arrays."""

    dim: int
    n: int = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None

    def __post_init__(self):
        if self.total is None:
            self.total = np.zeros(self.dim)
            self.outer = np.zeros((self.dim, self.dim))

    def update(self, features) -> "RunningStats":
        f = check_features(features, self.dim)
        self.n += f.shape[0]
        self.total += f.sum(0)
        self.outer += f.T @ f
        return self

    def merge(self, other: "RunningStats") -> "RunningStats":
        if other.dim != self.dim:
            raise DiffvizError(f"cannot merge statistics of dimension {other.dim} into {self.dim}")
        return RunningStats(self.dim, self.n + other.n, self.total + other.total, self.outer + other.outer)

    @property
    def mean(self) -> np.ndarray:
        if self.n < 1:
            raise DiffvizError("these statistics hold no images yet: update() them with features first")
        return self.total / self.n

    @property
    def cov(self) -> np.ndarray:
        if self.n < 2:
            raise DiffvizError(f"a covariance needs at least 2 samples, got {self.n}")
        if self.n <= self.dim:
            warnings.warn(f"{self.n} samples of {self.dim}-d features give a singular covariance (rank <= n - 1); "
                          f"FID is still defined but strongly biased — use more than {self.dim} samples", SingularCovarianceWarning, stacklevel=2)
        mu = self.mean
        return (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)

    @classmethod
    def from_features(cls, features) -> "RunningStats":
        f = check_features(features)
        return cls(f.shape[1]).update(f)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"n": np.array([self.n]), "total": self.total, "outer": self.outer}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "RunningStats":
        return cls(arrays["total"].shape[0], int(arrays["n"][0]), arrays["total"], arrays["outer"])


def content_hash(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
