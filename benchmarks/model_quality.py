"""Quality of the bundled models, judged independently of CLIP by the domain classifiers.

The measures live in the package (`diffviz.metrics.quality`, also `diffviz evaluate`); this script
runs them with the model cards' settings and can write the figures into each bundled MODEL_CARD.md.
Prints (DDIM, 50 steps, default guidance, fixed seeds): shapes prompt adherence (seen / held-out
pairs; targets ≥ 0.90 / ≥ 0.70), digits class accuracy (≥ 0.95, and at other guidance scales), FID
on the domain features beside the real-vs-real floor at the same N (≤ 3× floor) and KID, tiny-CLIP
top-1 caption retrieval (≥ 0.98), VAE reconstruction PSNR (≥ 32 dB).

    .venv/bin/python benchmarks/model_quality.py [--per-pair 8] [--fid-n 256] [--json out.json] [--write-cards]
"""
from __future__ import annotations

import argparse
import json

import diffviz
from diffviz.metrics.quality import QualitySettings, format_report, model_quality


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-pair", type=int, default=8)
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--fid-n", type=int, default=256)
    p.add_argument("--clip-n", type=int, default=500)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--digits-guidance", type=float, nargs="*", default=[0.0, 1.0, 3.0],
                   help="also report digits class accuracy at these guidance scales")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="*", default=["shapes", "digits"],
                   help="which bundled models to measure (also shapes-bilingual: Chinese and English adherence with "
                        "the bilingual text encoder swapped in)")
    p.add_argument("--json", default=None)
    p.add_argument("--write-cards", action="store_true", help="write the figures into each bundled MODEL_CARD.md")
    args = p.parse_args()
    settings = QualitySettings(per_pair=args.per_pair, per_class=args.per_class, fid_n=args.fid_n, clip_n=args.clip_n,
                               steps=args.steps, seed=args.seed, digits_guidance=tuple(args.digits_guidance))
    names = [n for n in diffviz.models.registry.bundled_names() + ["shapes-bilingual"] if n in args.models]
    out = {name: model_quality(name, settings) for name in names}
    print(format_report(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    if args.write_cards:
        from diffviz.models.registry import BUNDLED_DIR
        from diffviz.training.card import write_model_card

        for name, rep in out.items():
            if name == "shapes-bilingual":
                continue
            write_model_card(diffviz.load(name), BUNDLED_DIR / name, rep)


if __name__ == "__main__":
    main()
