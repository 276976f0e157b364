"""Fréchet distance: diffviz vs pytorch-fid on the same statistics, in one run.

Prints each implementation's time, the speed ratio and the largest relative difference, at the
dimensions of the bundled domain features (128) and of InceptionV3 pool features (2048).

    .venv/bin/python benchmarks/fid_speed.py [--dims 128 2048] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

from diffviz.metrics import frechet_distance


def stats(rng, d, n, shift):
    x = rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) / np.sqrt(d)) + shift
    return x.mean(0), np.cov(x, rowvar=False)


def realish(rng, d, n, shift):
    """Pool-feature-like statistics: non-negative, correlated ReLU features of a random 'network'."""
    w = rng.normal(size=(64, d)) / 8
    x = np.maximum(rng.normal(size=(n, 64)) @ w + shift + 0.05 * rng.normal(size=(n, d)), 0)
    return x.mean(0), np.cov(x, rowvar=False)


def best_time(fn, repeats):
    out, best = None, float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[128, 2048])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    worst_rel, ratios = 0.0, []
    for d in args.dims:
        cases = {"random SPD": (*stats(rng, d, 2 * d + 100, 0.0), *stats(rng, d, 2 * d + 100, 0.1)),
                 "real-ish": (*realish(np.random.default_rng(1), d, 3 * d, 0.0),
                              *realish(np.random.default_rng(1), d, 3 * d, 0.02))}
        for name, s in cases.items():
            ours, t_ours = best_time(lambda: frechet_distance(*s), args.repeats)
            ref, t_ref = best_time(lambda: calculate_frechet_distance(*s), args.repeats)
            rel = abs(ours - ref) / abs(ref)
            worst_rel, ratios = max(worst_rel, rel), ratios + [(d, t_ref / t_ours)]
            print(f"dim={d:5d} {name:15s} pytorch-fid {t_ref:7.3f} s  diffviz {t_ours:7.3f} s  "
                  f"speed-up {t_ref / t_ours:5.1f}x  FID {ref:.6f}  rel. difference {rel:.2e}")

    top = max(d for d, _ in ratios)
    print(f"speed-up at dim={top}: {min(r for d, r in ratios if d == top):.1f}x or more; "
          f"largest relative difference {worst_rel:.2e}")


if __name__ == "__main__":
    main()
