"""Word maps on the bundled shapes model: how often a word's cross-attention map peaks inside the drawn object.

Samples n prompts "a {size} {colour} {shape} {where}" (DDIM, default guidance, seeded) with
`record_attention=True`; the object mask is the decoded final image's saturated pixels (the background
is grey). Reports, for the shape word, the colour word, the position words (maps added) and the article "a" as a
control, the fraction of images whose map peak lies on the object — averaged over steps and at the
last step — beside chance (the object's mean area fraction). `diffviz.metrics.word_maps` does the work.

    .venv/bin/python benchmarks/word_maps.py [--n 96] [--steps 50] [--seed 0] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import diffviz
from diffviz.metrics.word_maps import word_map_hit_rate


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=96)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    report = word_map_hit_rate(diffviz.load("shapes"), n=args.n, steps=args.steps, batch=args.batch, seed=args.seed)
    print(report.format())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(asdict(report), f, indent=2)


if __name__ == "__main__":
    main()
