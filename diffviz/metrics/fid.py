"""FID over generated batches, the FID-vs-N curve, and FID∞.

FID fits a Gaussian to the features of real and of generated images and measures the Fréchet
distance between the two. It is biased upwards at small N (Chong & Forsyth, 2020): FID_N grows
like 1/N above its limit, so the curve over N with bootstrap bands shows how much to trust a
number, and a linear fit of FID against 1/N extrapolates FID∞ (the intercept).

Scaling out: `generated_stats` splits the batches between processes (`rank`, `world_size`); under
`accelerate launch --num_processes N` each process generates its share and the exact sums are
gathered (see `distributed.py`): `accelerate launch --multi_gpu --num_processes 4 script.py`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .features import FeatureExtractor
from .frechet import frechet_distance
from .stats import RunningStats, check_features


def fid_from_stats(a: RunningStats, b: RunningStats) -> float:
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)


def fid_from_features(real, fake) -> float:
    return fid_from_stats(RunningStats.from_features(real), RunningStats.from_features(fake))


def generation_batches(conditions: Sequence, n: int, batch_size: int) -> list[list]:
    """Split n images into batches, cycling through `conditions` (None for unconditional)."""
    if n < 2:
        raise ValueError(f"FID needs at least 2 generated images (better thousands), got n={n}")
    conds = [conditions[i % len(conditions)] for i in range(n)] if conditions else [None] * n
    return [conds[i:i + batch_size] for i in range(0, n, batch_size)]


def generated_features(model, conditions, n: int, extractor: FeatureExtractor, *, batch_size: int = 64,
                       steps: int = 25, guidance=None, scheduler: str = "ddim", seed: int = 0, rank: int = 0,
                       world_size: int = 1, progress: bool = False) -> torch.Tensor:
    """Generate n images in batches (batch i seeded by seed + i; this process takes i % world_size == rank)."""
    batches = generation_batches(list(conditions) if conditions is not None else None, n, batch_size)
    feats = []
    for i, conds in enumerate(tqdm(batches, disable=not progress, desc="generating")):
        if i % world_size != rank:
            continue
        uncond = conds[0] is None
        traj = model.sample(None if uncond else conds, num_images=len(conds) if uncond else None, steps=steps,
                            guidance=guidance, scheduler=scheduler, seed=seed + i, decode_steps=False)
        feats.append(extractor(traj.final_images()))
    return torch.cat(feats) if feats else torch.zeros(0, extractor.dim)


class FidCurve(NamedTuple):
    n: list[int]
    mean: list[float]
    std: list[float]
    fid_inf: float  # intercept of the linear fit of FID against 1/N
    slope: float


def fid_vs_n(real_stats: RunningStats, fake_features, ns: Sequence[int] | None = None, bootstrap: int = 5,
             seed: int = 0) -> FidCurve:
    """FID at several N (subsets of the generated features, drawn `bootstrap` times) and FID∞."""
    fake = check_features(fake_features, real_stats.dim)
    total = len(fake)
    if ns is None:
        ns = sorted({int(x) for x in np.linspace(max(2, total // 5), total, 5)})
    if not ns or min(ns) < 2 or max(ns) > total:
        raise ValueError(f"each N must be in [2, {total}] (the number of generated features), got {list(ns)}")
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for n in ns:
        subsets = [fake] if n == total else [fake[rng.choice(total, n, replace=False)] for _ in range(bootstrap)]
        vals = [fid_from_stats(real_stats, RunningStats.from_features(s)) for s in subsets]
        means.append(float(np.mean(vals)))
        stds.append(float(np.std(vals)))
    slope, intercept = np.polyfit(1.0 / np.asarray(ns, dtype=float), means, 1) if len(ns) > 1 else (0.0, means[0])
    return FidCurve(list(ns), means, stds, float(intercept), float(slope))
