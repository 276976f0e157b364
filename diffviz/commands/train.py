"""`diffviz train`: train a bundled model (all parts, resumable) or one part of it.

The model folder goes to `--out`, by default `<runs>/<name>/model` — never into the installed package
unless `--out` names it. A time-capped run (`--minutes`) that stops before the end says so and exits 3
(the same command continues it); the model folder it writes then says so in its MODEL_CARD.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import int_in, number_in, SEED

STOPPED_SHORT = 3  # exit code: the time budget ended the run early (resume with the same command)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=["shapes", "digits"], help="which bundled model")
    p.add_argument("--part", default=None, help="train only this part (shapes: clip, classifier, vae, decoder, unet, text_bilingual; digits: classifier, unet); "
                   "text_bilingual (the English+Chinese text encoder, distilled from the English one) is then written "
                   "to <out>/text_encoder_bilingual")
    p.add_argument("--steps", type=int_in(1, 10_000_000), default=None, help="override the part's step count (with --part), >= 1")
    p.add_argument("--minutes", type=number_in(0, None, above=True), default=None,
                   help="stop each part after this many minutes (resumable; exit code 3 when stopped short)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed: on the CPU the same seed, threads and steps "
                   "give the same weights bit for bit (on a GPU: not guaranteed bitwise)")
    p.add_argument("--runs", default="runs", help="folder for checkpoints and loss logs")
    p.add_argument("--out", default=None, help="model folder to write (default: <runs>/<name>/model; "
                                               "name the package's bundled/<name> explicitly to replace a bundled model; "
                                               "a symbolic link is written through)")
    p.add_argument("--threads", type=int_in(1, 1024), default=None, help="torch CPU threads, >= 1")


def default_out(runs: str | Path, name: str) -> Path:
    """Where `diffviz train NAME` writes the model without --out: beside its runs, not in the package."""
    return Path(runs) / name / "model"


def run(args) -> int:
    import torch

    from ..errors import DiffvizError
    from ..training import bundle
    from ..utils import check_output_folder, pick_device

    device = pick_device(args.device)  # a bad device is refused before any data is made
    if args.part is not None and args.part not in bundle.parts(args.name):
        raise DiffvizError(f"{args.name} has parts {', '.join(bundle.parts(args.name))}; got {args.part!r}")
    if args.steps is not None and args.part is None:
        raise DiffvizError("--steps sets one part's step count: give --part too")
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = check_output_folder(args.runs)  # a file, a read-only place: refused before minutes of training
    out = check_output_folder(args.out) if args.out is not None else default_out(runs, args.name)
    if args.part:
        bundle.train_part(args.name, args.part, runs, device=device, seed=args.seed, steps=args.steps, minutes=args.minutes)
        target = args.steps or bundle.part_steps(args.name, args.part)
        reached = bundle.run_steps(runs, args.name, args.part)
        if reached < target:
            print(f"diffviz train: stopped short: {args.name}/{args.part} reached step {reached} of {target} "
                  f"(--minutes {args.minutes:g}); run the same command again to continue", file=sys.stderr)
            return STOPPED_SHORT
        print(f"trained {args.name}/{args.part} in {runs / args.name / args.part}")
        if (args.name, args.part) == ("shapes", "text_bilingual"):
            print(f"wrote {bundle.save_bilingual(runs, out)}")
        return 0
    bundle.train_model(args.name, runs, out, device=device, seed=args.seed, minutes=args.minutes)
    print(f"wrote {out}" + ("" if args.out else f"  (load it with diffviz.load({str(out)!r}))"))
    unfinished = bundle.unfinished_parts(args.name, runs)
    if unfinished:
        left = ", ".join(f"{p} at step {a} of {b}" for p, (a, b) in unfinished.items())
        print(f"diffviz train: stopped short: {left} (--minutes {args.minutes:g}); the model written is unfinished "
              "(its MODEL_CARD.md says so); run the same command again to continue", file=sys.stderr)
        return STOPPED_SHORT
    return 0
