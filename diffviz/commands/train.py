"""`diffviz train`: train a bundled model (all parts, resumable) or one part of it."""
from __future__ import annotations

import argparse
from pathlib import Path

PACKAGE_BUNDLED = Path(__file__).resolve().parent.parent / "bundled"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=["shapes", "digits"], help="which bundled model")
    p.add_argument("--part", default=None, help="train only this part (shapes: clip, classifier, vae, decoder, unet, text_bilingual; digits: classifier, unet); "
                   "text_bilingual (the English+Chinese text encoder, distilled from the English one) is then written "
                   "to <out>/text_encoder_bilingual")
    p.add_argument("--steps", type=int, default=None, help="override the part's step count (with --part)")
    p.add_argument("--minutes", type=float, default=None, help="stop each part after this many minutes (resumable)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs", help="folder for checkpoints and loss logs")
    p.add_argument("--out", default=None, help="model folder to write (default: the package's bundled/<name>)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args) -> int:
    import torch

    from ..training import bundle

    if args.threads:
        torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    out = Path(args.out) if args.out else PACKAGE_BUNDLED / args.name
    if args.part:
        bundle.train_part(args.name, args.part, runs, device=args.device, seed=args.seed, steps=args.steps, minutes=args.minutes)
        print(f"trained {args.name}/{args.part} in {runs / args.name / args.part}")
        if (args.name, args.part) == ("shapes", "text_bilingual"):
            print(f"wrote {bundle.save_bilingual(runs, out)}")
        return 0
    bundle.train_model(args.name, runs, out, device=args.device, seed=args.seed, minutes=args.minutes)
    print(f"wrote {out}")
    return 0
