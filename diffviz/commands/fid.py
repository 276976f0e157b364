"""`diffviz fid`: FID (and KID) of a model's samples against its domain's real images, from the shell.

Reference statistics are cached on disk (see `diffviz.metrics.stats`), so a second run only
generates. Features: the bundled domain classifier (offline default) or pytorch-fid's InceptionV3
with `--inception /path/pt_inception-2015-12-05-6726825d.pth` (or DIFFVIZ_INCEPTION_WEIGHTS).
This command runs in one process; for large N on several GPUs use
`diffviz.metrics.distributed.distributed_generated_stats` in a script under `accelerate launch`.
A run whose first batch says it would take longer than --max-minutes (default 60) stops there with the
estimate. FID here is N generated images against --reference-n real ones (default 1000), so it is not
`diffviz evaluate`'s figure (N generated against N real, beside the real-vs-real floor at that N): FID falls
as either set grows. KID is `diffviz.metrics.fid.features_kid`, the same as the library's.
"""
from __future__ import annotations

import argparse

from . import SEED, int_in, number_in
from ..errors import DiffvizError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="bundled name (shapes, digits), tiny-* or a folder; default: shapes")
    p.add_argument("-n", "--num-images", type=int_in(2, 1_000_000), default=256, help="generated images, >= 2 (FID wants thousands)")
    p.add_argument("--reference-n", type=int_in(2, 1_000_000), default=1000, help="real images for the reference statistics, >= 2")
    p.add_argument("--batch-size", type=int_in(1, 4096), default=64, help="images per sampling batch, 1..4096")
    p.add_argument("--steps", type=int_in(1, None), default=20)
    p.add_argument("--guidance", type=number_in(0, None), default=None)
    p.add_argument("--scheduler", default="ddim", help="ddpm, ddim, dpm or euler")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--inception", default=None, help="local pytorch-fid InceptionV3 weights (.pth or .safetensors)")
    p.add_argument("--kid", action="store_true", help="also report KID (×10³, mean ± std over subsets; needs N >= 16)")
    p.add_argument("--kid-subsets", type=int_in(2, 1000), default=20, help="KID subsets, 2..1000 (default 20)")
    p.add_argument("--max-minutes", type=number_in(0, None, above=True), default=None,
                   help="refuse a run the first batch says would take longer (default 60: metrics.fid.MAX_MINUTES)")
    p.add_argument("--device", default=None)


def run(args) -> int:
    from ..metrics import ClassifierFeatures, InceptionFeatures, RunningStats, cached_reference_stats, fid_from_stats
    from ..metrics.fid import MAX_MINUTES, generated_features
    from ..metrics.kid import check_kid_sizes
    from ..data.domain import domain_conditions, real_images
    from ..models.defaults import load_default
    from ..models.registry import load

    from ..diffusion.schedulers import SCHEDULER_NAMES
    from ..errors import check_choice
    from ..utils import check_int, pick_device

    check_choice("scheduler", args.scheduler, SCHEDULER_NAMES)  # before minutes of work
    if args.kid:
        check_kid_sizes(args.reference_n, args.num_images, subsets=args.kid_subsets)
    device = pick_device(args.device)
    model = load(args.model, device=device) if args.model else load_default(device=device)
    check_int("--steps", args.steps, minimum=1, maximum=model.schedule.num_train_timesteps)
    if args.inception:
        extractor = InceptionFeatures(weights=args.inception, device=args.device)
    elif model.classifier is not None:
        extractor = ClassifierFeatures(model.classifier, name=model.name)
    else:
        raise DiffvizError(f"model {model.name!r} has no domain classifier; pass --inception /path/to/weights")
    dataset, real = real_images(model, args.reference_n)
    ref = cached_reference_stats(dataset, real, extractor, progress=True)
    fake = generated_features(model, domain_conditions(model, args.num_images), args.num_images, extractor,
                              batch_size=args.batch_size, steps=args.steps, guidance=args.guidance,
                              scheduler=args.scheduler, seed=args.seed, progress=True,
                              max_minutes=MAX_MINUTES if args.max_minutes is None else args.max_minutes)
    fid = fid_from_stats(ref, RunningStats.from_features(fake))
    sets = f"N = {args.num_images} generated vs {ref.n} real, features {extractor.name} ({extractor.dim}-d)"
    print(f"{model.name}: FID {fid:.2f}  ({sets}; squared distance of feature Gaussians)")
    if args.kid:
        print(kid_line(real, fake, extractor, args.kid_subsets, args.seed))
    return 0


def kid_line(real, fake, extractor, subsets: int, seed: int) -> str:
    """KID as the library computes it (`features_kid`), ×10³ with its spread and what it was measured on."""
    from ..metrics.features import extract_features
    from ..metrics.fid import features_kid

    kid = features_kid(extract_features(real, extractor), fake, extractor, subsets=subsets, seed=seed)
    mean, std = kid.mean * 1000, kid.std * 1000
    note = "; below 0 within its spread: KID cannot tell the sets apart at this N" if mean < 0 <= mean + 2 * std else ""
    return (f"KID ×10³ {mean:.3f} ± {std:.3f}  (unbiased MMD², cubic kernel, no unit; mean ± std over {kid.subsets} "
            f"subsets of {kid.subset_size} per set{note})")
