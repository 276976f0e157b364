"""Training lab from scratch on CPU: digits accuracy vs minutes, 2-D sliced Wasserstein vs seconds.

    PYTHONPATH=. python benchmarks/training_lab.py [--threads 2] [--minutes 3] [--seconds 60] [--only digits|toy]

Uses `LiveTraining` exactly as the TrainingLab widget does (same tasks, same defaults), training in
this thread; the clock counts training only (evaluation pauses it).
- digits (16×16, class-conditional, from scratch): every 30 s of training, 100 samples (10 per digit,
  DDIM 20 steps, guidance 1.5, EMA weights) judged by the bundled digits classifier (`model.classify`):
  % recognised as the digit asked for. Target: ≥ 70 % within 3 minutes.
- 2-D toys: every 10 s, 1000 samples (DDPM 100 steps) against 1000 fresh data points: sliced
  Wasserstein distance (SW₂, 256 directions; mean of 3 draws), and the data-vs-data floor at the same N
  (mean of 3 pairs of draws).
  Target: ≤ 2× floor within 60 s.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch


def load_average() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def digits(minutes: float, every: float = 30.0) -> list[tuple]:
    import diffviz
    from diffviz.training.live import DigitsTask, LiveTraining

    judge = diffviz.load("digits")
    task = DigitsTask()
    lab = LiveTraining(task, steps=10**6, sample_every=10**9)
    asked = [d for d in range(10) for _ in range(10)]
    rows = []
    while lab.snapshot().seconds < minutes * 60 - 1:
        lab.train(seconds=min(every, minutes * 60 - lab.snapshot().seconds))
        snap = lab.snapshot()
        images = task.sample(lab.ema_network(), conditions=asked, seed=123)
        got = judge.classify(images)["digit"]
        acc = float((got == np.array(asked)).mean())
        rows.append((snap.seconds / 60, snap.step, float(snap.smoothed[-1]), acc, load_average()))
        print(f"digits  {snap.seconds / 60:5.2f} min  step {snap.step:5d}  loss {snap.smoothed[-1]:.4f}  "
              f"recognised {acc:6.1%}  load {load_average()}", flush=True)
    return rows


def toy(name: str, text: str, seconds: float, every: float = 10.0) -> list[tuple]:
    from diffviz.data.toy2d import toy_points
    from diffviz.metrics.sliced import sliced_wasserstein, swd_floor
    from diffviz.training.live import LiveTraining, ToyTask

    task = ToyTask(name, text=text)
    lab = LiveTraining(task, steps=10**6, sample_every=10**9)
    floor = swd_floor(lambda n, s: toy_points(name, n, s, text=text), 1000)
    refs = [task.reference(1000, seed=77 + r) for r in range(3)]
    rows = []
    while lab.snapshot().seconds < seconds - 0.5:
        lab.train(seconds=min(every, seconds - lab.snapshot().seconds))
        snap = lab.snapshot()
        net = lab.ema_network()  # mean over 3 sample/data draws, as the floor is a mean over 3 data/data draws
        swd = float(np.mean([sliced_wasserstein(task.sample(net, n=1000, steps=100, seed=5 + r), refs[r]) for r in range(3)]))
        rows.append((snap.seconds, snap.step, swd, floor, swd / floor, load_average()))
        print(f"{task.title:10s} {snap.seconds:5.1f} s  step {snap.step:5d}  SW2 {swd:.4f}  floor {floor:.4f}  "
              f"ratio {swd / floor:.2f}  load {load_average()}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--only", choices=["digits", "toy"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}, cpu count {os.cpu_count()}, load at start {load_average()}")
    if args.only != "digits":
        results = {(n, t): toy(n, t, args.seconds) for n, t in (("moons", ""), ("swiss_roll", ""), ("spiral", ""), ("text", "A"),
                                                                   ("text", "扩散"))}
        print("\n| 2-D data | seconds | steps | SW₂ | floor | ratio | first ≤ 2× floor at | load (1/5/15 min) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for (n, t), rows in results.items():
            first = next((f"{r[0]:.0f} s" for r in rows if r[4] <= 2), "never")
            s, steps, swd, floor, ratio, load = rows[-1]
            print(f"| {n}{' ' + t if t else ''} | {s:.0f} | {steps} | {swd:.4f} | {floor:.4f} | {ratio:.2f} | {first} | {load} |")
    if args.only != "toy":
        rows = digits(args.minutes)
        print("\n| digits: minutes of training | steps | smoothed loss | recognised as the asked digit | load (1/5/15 min) |")
        print("| --- | --- | --- | --- | --- |")
        for m, step, loss, acc, load in rows:
            print(f"| {m:.2f} | {step} | {loss:.4f} | {acc:.0%} | {load} |")


if __name__ == "__main__":
    main()
