"""FID over generated batches, the FID-vs-N curve, FID∞, and one model's whole evaluation.

FID fits a Gaussian to the features of real and of generated images and measures the Fréchet
distance between the two. It is biased upwards at small N (Chong & Forsyth, 2020): FID_N grows
like 1/N above its limit, so the curve over N with bootstrap bands shows how much to trust a
number, and a linear fit of FID against 1/N extrapolates FID∞ (the intercept). The same bias
hits two sets of real images: `model_fid` measures that real-vs-real floor at the model's own N
(N real images against N other real ones), so the two numbers can be compared.

Scaling out: `generated_stats` splits the batches between processes (`rank`, `world_size`); under
`accelerate launch --num_processes N` each process generates its share and the exact sums are
gathered (see `distributed.py`): `accelerate launch --multi_gpu --num_processes 4 script.py`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.domain import real_pool_size, real_set
from .features import ClassifierFeatures, FeatureExtractor, InceptionFeatures, extract_features
from .frechet import frechet_distance
from .kid import KID, KID_MIN_IMAGES, feature_scale, kernel_inception_distance
from .projection import gaussian_outline, pca_2d
from .stats import RunningStats, SingularCovarianceWarning, check_features
from ..errors import DiffvizError, InputTypeError


def fid_from_stats(a: RunningStats, b: RunningStats) -> float:
    for which, stats in (("first (real)", a), ("second (generated)", b)):
        if stats.n < 2:
            raise DiffvizError(f"FID needs at least 2 images in each set (better thousands); the {which} set has {stats.n}")
    if a.dim != b.dim:
        raise DiffvizError(f"FID compares features of one dimension; got {a.dim} and {b.dim}")
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)


def fid_from_features(real, fake) -> float:
    return fid_from_stats(RunningStats.from_features(real), RunningStats.from_features(fake))


def generation_batches(conditions: Sequence, n: int, batch_size: int) -> list[list]:
    """Split n images into batches, cycling through `conditions` (None for unconditional)."""
    if n < 2:
        raise DiffvizError(f"FID needs at least 2 generated images (better thousands), got n={n}")
    conds = [conditions[i % len(conditions)] for i in range(n)] if conditions else [None] * n
    return [conds[i:i + batch_size] for i in range(0, n, batch_size)]


MAX_MINUTES = 60.0  # default limit on one generation job (max_minutes=None lifts it)


def duration_text(seconds: float) -> str:
    """'40 s', '12 min', '46 h' or '3.5 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h" if seconds < 172800 else f"{seconds / 86400:.1f} days"


def check_duration(first_batch_s: float, batches: int, n: int, batch_size: int, max_minutes: float | None) -> None:
    """Refuse a job whose first batch says it would run past max_minutes (None: no limit)."""
    if max_minutes is None:
        return
    estimate = first_batch_s * batches
    if estimate > max_minutes * 60:
        fit = int(max_minutes * 60 / max(first_batch_s, 1e-9)) * batch_size
        raise DiffvizError(f"n = {n:,} generated images would take about {duration_text(estimate)} here "
                           f"({first_batch_s:.1f} s for the first batch of {batch_size}, {batches:,} batches); the limit "
                           f"is {max_minutes:g} min: use n ≤ about {max(fit, 2):,}, or raise max_minutes (--max-minutes)")


def _generate(model, conditions, n: int, extractor: FeatureExtractor, *, batch_size: int = 64, steps: int = 25,
              guidance=None, scheduler: str = "ddim", seed: int = 0, rank: int = 0, world_size: int = 1,
              progress: bool = False, callback: Callable[[int, int], None] | None = None,
              keep_images: bool = False, max_minutes: float | None = MAX_MINUTES) -> tuple[torch.Tensor, np.ndarray | None]:
    """The one generation loop of the metrics: (features, images or None) of n generated images.

    The first batch is timed: when it says the whole job would take longer than `max_minutes`, the job
    stops there with the estimate (a million images of a CPU model is days, not a result)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DiffvizError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_minutes is not None and not (isinstance(max_minutes, (int, float)) and max_minutes > 0):
        raise DiffvizError(f"max_minutes must be a positive number of minutes or None (no limit), got {max_minutes!r}")
    batches = generation_batches(list(conditions) if conditions is not None else None, n, batch_size)
    mine = [i for i in range(len(batches)) if i % world_size == rank]
    feats, images = [], []
    for k, i in enumerate(tqdm(mine, disable=not progress, desc="generating", unit="batch")):
        conds = batches[i]
        start = time.perf_counter()
        uncond = conds[0] is None
        traj = model.sample(None if uncond else conds, num_images=len(conds) if uncond else None, steps=steps,
                            guidance=guidance, scheduler=scheduler, seed=seed + i, decode_steps=False)
        batch = traj.final_images()
        feats.append(extractor(batch))
        if keep_images:
            images.append(batch)
        if k == 0:
            check_duration(time.perf_counter() - start, len(mine), n, len(conds), max_minutes)
        if callback is not None:
            callback(i + 1, len(batches))
    out = torch.cat(feats) if feats else torch.zeros(0, extractor.dim)
    return out, (np.concatenate(images) if images else None)


def generated_features(model, conditions, n: int, extractor: FeatureExtractor, *, batch_size: int = 64,
                       steps: int = 25, guidance=None, scheduler: str = "ddim", seed: int = 0, rank: int = 0,
                       world_size: int = 1, progress: bool = False,
                       max_minutes: float | None = MAX_MINUTES) -> torch.Tensor:
    """Generate n images in batches (batch i seeded by seed + i; this process takes i % world_size == rank).

    Refused after the first batch when that batch says the job would take over `max_minutes` (None: no limit)."""
    return _generate(model, conditions, n, extractor, batch_size=batch_size, steps=steps, guidance=guidance,
                     scheduler=scheduler, seed=seed, rank=rank, world_size=world_size, progress=progress,
                     max_minutes=max_minutes)[0]


def fid_for_model(model, conditions, n: int, batch_size: int, extractor: FeatureExtractor,
                  reference_stats: RunningStats, seed: int = 0, **sample_kwargs) -> float:
    """FID of n images generated by `model` (in batches, batch i seeded by seed + i) against reference stats."""
    if not isinstance(reference_stats, RunningStats):
        raise InputTypeError(f"reference_stats must be a RunningStats, got {type(reference_stats).__name__}")
    if reference_stats.dim != extractor.dim:
        raise DiffvizError(f"reference statistics have dimension {reference_stats.dim}, "
                         f"the extractor {extractor.name!r} gives {extractor.dim}: use the same extractor for both")
    feats = generated_features(model, conditions, n, extractor, batch_size=batch_size, seed=seed, **sample_kwargs)
    return fid_from_stats(reference_stats, RunningStats.from_features(feats))


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
        raise DiffvizError(f"each N must be in [2, {total}] (the number of generated features), got {list(ns)}")
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for n in ns:
        subsets = [fake] if n == total else [fake[rng.choice(total, n, replace=False)] for _ in range(bootstrap)]
        with warnings.catch_warnings():  # small N (even N <= dim, a singular Σ) is the point of the curve
            warnings.simplefilter("ignore", SingularCovarianceWarning)
            vals = [fid_from_stats(real_stats, RunningStats.from_features(s)) for s in subsets]
        means.append(float(np.mean(vals)))
        stds.append(float(np.std(vals)))
    slope, intercept = np.polyfit(1.0 / np.asarray(ns, dtype=float), means, 1) if len(ns) > 1 else (0.0, means[0])
    return FidCurve(list(ns), means, stds, float(intercept), float(slope))


def features_kid(real, fake, extractor: FeatureExtractor, subsets: int = 20, seed: int = 0) -> KID:
    """KID as diffviz reports it everywhere (`model_fid`, `diffviz fid --kid`): unbiased cubic-kernel MMD²
    over `subsets` random subsets of half the smaller set (at most 1000); features of extractors other than
    InceptionV3 divided by the real set's RMS coordinate first (see `kid.py`)."""
    scale = 1.0 if isinstance(extractor, InceptionFeatures) else feature_scale(real)
    return kernel_inception_distance(real, fake, subsets=subsets, seed=seed, scale=scale)


def domain_extractor(model) -> FeatureExtractor:
    """The features FID uses for a diffviz model by default: its bundled domain classifier's embedding."""
    if getattr(model, "classifier", None) is None:
        raise DiffvizError(f"model {getattr(model, 'name', '?')!r} has no domain classifier to take features from; "
                         "pass extractor= (e.g. InceptionFeatures with local weights)")
    return ClassifierFeatures(model.classifier, name=model.name)


def curve_sizes(n: int) -> list[int]:
    """The N of the FID-vs-N curve for n images: n/8, n/4, n/2 and n (at least 4 each)."""
    return sorted({min(n, max(4, n // k)) for k in (8, 4, 2, 1)})


@dataclass
class FidReport:
    """One model's FID at N, what it is measured against, and what the pictures of it need.

    fid: N generated images against a reference set of N real images. floor: N other real images
    against the same reference — what FID gives two samples of one distribution at this N (mean and
    std over `floor_sets` disjoint real sets); a generated FID within the floor's spread means FID
    cannot tell the images from real ones at this N. kid: unbiased MMD² (mean ± std over subsets).
    curve / floor_curve: FID against subsets of the generated / of the first other real set, by N.
    """

    n: int
    fid: float
    floor: float
    floor_std: float
    floor_sets: int
    kid: KID
    curve: FidCurve | None
    floor_curve: FidCurve | None
    extractor: str
    dim: int
    dataset: str
    real_features: np.ndarray
    generated_features: np.ndarray
    real_images: np.ndarray
    generated_images: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def singular(self) -> bool:
        """N is not above the feature dimension: the covariances are singular, FID strongly biased."""
        return self.n <= self.dim

    @property
    def floor_limit(self) -> float:
        """The top of the floor's spread: the floor plus twice its standard deviation over the other real sets."""
        return self.floor + 2 * self.floor_std

    @property
    def above_floor(self) -> bool:
        """The generated FID is above the real-vs-real floor by more than twice the floor's spread."""
        return self.fid > self.floor_limit

    def projection(self, n_std: float = 2.0) -> dict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]]:
        """{"real": (points (N, 2), outline), "generated": ...}: both feature sets on their two shared
        principal axes, with the n_std contour (x, y) of the Gaussian fitted to each projection."""
        real, fake = pca_2d(self.real_features, self.generated_features)
        return {name: (pts, gaussian_outline(pts, n_std)) for name, pts in (("real", real), ("generated", fake))}


def singular_note(n: int, dim: int) -> str:
    return (f"N = {n} images of {dim}-d features: the covariances are singular and FID is biased upwards; "
            f"compare it with the real-vs-real floor at the same N, or use N > {dim}")


def max_n(model, floor_sets: int = 1) -> int | None:
    """The largest N model_fid can take for this model (None: no limit): 1 + floor_sets real sets of N."""
    pool = real_pool_size(model)
    return None if pool is None else pool // (1 + floor_sets)


def model_fid(model, n: int, *, steps: int = 20, batch_size: int = 32, seed: int = 0,
              extractor: FeatureExtractor | None = None, guidance=None, scheduler: str = "ddim",
              curve: bool = True, kid_subsets: int = 20, floor_sets: int = 4,
              progress: Callable[[int, int], None] | None = None,
              max_minutes: float | None = MAX_MINUTES) -> FidReport:
    """Evaluate `model` at N images: FID, its real-vs-real floor at the same N, KID and FID vs N.

    Disjoint sets of n real images of the model's domain: the reference, and up to `floor_sets` others
    (fewer where the data set is too small; at least one). The model generates from the conditions
    (classes, captions) of the first other set, so the generated set has the same make-up as it (batch
    i seeded by seed + i; `progress(done, total)` after each batch). FID is generated against the
    reference; the floor is each other real set against the reference. KID uses subsets of n/2 and,
    for extractors other than InceptionV3, features divided by the reference set's RMS coordinate (see
    `kid.py`); N ≥ KID_MIN_IMAGES. When N is not above the feature dimension one SingularCovarianceWarning
    says so (once). A job the first batch says would take over `max_minutes` is refused there.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
        raise DiffvizError(f"FID needs at least 4 images (better hundreds), got N = {n!r}")
    n = int(n)
    if floor_sets < 1:
        raise DiffvizError(f"floor_sets must be at least 1, got {floor_sets}")
    extractor = extractor if extractor is not None else domain_extractor(model)
    pool = real_pool_size(model)
    if pool is not None:
        if pool < 2 * n:
            raise DiffvizError(f"the real data set has {pool} images: FID and its real-vs-real floor need two "
                             f"disjoint sets of N = {n}; use N ≤ {pool // 2}")
        floor_sets = min(floor_sets, pool // n - 1)
    if n < KID_MIN_IMAGES:
        raise DiffvizError(f"model_fid needs N ≥ {KID_MIN_IMAGES} (its KID takes subsets of half a set, at least "
                           f"{KID_MIN_IMAGES // 2}), got N = {n}")
    reference = real_set(model, n)
    others = [real_set(model, n, part=p) for p in range(1, floor_sets + 1)]
    with warnings.catch_warnings():  # one note below instead of one per covariance
        warnings.simplefilter("ignore", SingularCovarianceWarning)
        fake_f, images = _generate(model, others[0].conditions, n, extractor, batch_size=batch_size,
                                   steps=steps, guidance=guidance, scheduler=scheduler, seed=seed,
                                   callback=progress, keep_images=True, max_minutes=max_minutes)
        real_f = check_features(extract_features(reference.images, extractor))
        other_f = [check_features(extract_features(o.images, extractor)) for o in others]
        fake_np = check_features(fake_f)
        ref = RunningStats.from_features(real_f)
        fid = fid_from_stats(ref, RunningStats.from_features(fake_np))
        floors = [fid_from_stats(ref, RunningStats.from_features(f)) for f in other_f]
        kid = features_kid(real_f, fake_np, extractor, subsets=kid_subsets, seed=seed)
        ns = curve_sizes(n)
        fid_curve = fid_vs_n(ref, fake_np, ns=ns, bootstrap=4, seed=seed) if curve else None
        floor_curve = fid_vs_n(ref, other_f[0], ns=ns, bootstrap=4, seed=seed) if curve else None
    notes = []
    if n <= extractor.dim:
        notes.append(singular_note(n, extractor.dim))
        warnings.warn(notes[-1], SingularCovarianceWarning, stacklevel=2)
    return FidReport(n=n, fid=fid, floor=float(np.mean(floors)), floor_std=float(np.std(floors)),
                     floor_sets=len(floors), kid=kid, curve=fid_curve, floor_curve=floor_curve,
                     extractor=extractor.name, dim=extractor.dim, dataset=reference.name, real_features=real_f,
                     generated_features=fake_np, real_images=reference.images, generated_images=images, notes=notes)
