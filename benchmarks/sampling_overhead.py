"""Recording overhead: diffviz's recorded sampling loop vs the bare diffusers loop.

Same model, scheduler, seed and guidance; the two are interleaved and repeated, and the
median time ratio is printed. Target: recorded / bare <= 1.05.

    .venv/bin/python benchmarks/sampling_overhead.py [--model digits] [--steps 50] [--repeats 5]
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import time

import torch
from diffusers.utils.torch_utils import randn_tensor

import diffviz
from diffviz.diffusion.schedulers import make_scheduler
from diffviz.models.defaults import model_name


@torch.no_grad()
def bare_loop(model, cond, uncond, n, steps, guidance, scheduler_name, seed):
    scheduler = make_scheduler(scheduler_name, model.scheduler_config, sample_range=model.sample_range)
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = randn_tensor((n, *model.sample_shape), generator=g, dtype=torch.float32) * scheduler.init_noise_sigma
    kw = {"generator": g} if "generator" in inspect.signature(scheduler.step).parameters else {}
    key = "class_labels" if model.kind == "class" else "encoder_hidden_states"
    both = torch.cat([uncond, cond])
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t)
        eu, ec = model.unet(torch.cat([x_in, x_in]), t, **{key: both}).sample.chunk(2)
        x = scheduler.step(eu + guidance * (ec - eu), t, x, **kw).prev_sample
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="default: digits if bundled, else tiny-class")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--scheduler", default="ddim")
    args = p.parse_args()
    name = args.model or model_name("digits")
    model = diffviz.load(name, device="cpu")
    conds = (["a red circle", "a blue square"] * args.batch)[: args.batch] if model.kind == "text" else [i % 10 for i in range(args.batch)]
    cond, uncond, _ = model.encode_conditions(conds, None)
    w = 3.0
    recorded, bare = [], []
    for r in range(args.repeats + 1):  # first round is warm-up
        t0 = time.perf_counter()
        traj = model.sample(conds, steps=args.steps, guidance=w, scheduler=args.scheduler, seed=r, decode_steps=False)
        t1 = time.perf_counter()
        ref = bare_loop(model, cond, uncond, len(conds), args.steps, w, args.scheduler, r)
        t2 = time.perf_counter()
        assert torch.equal(traj.final, ref), "recorded loop must equal the bare loop bitwise"
        if r:
            recorded.append(t1 - t0)
            bare.append(t2 - t1)
    ratio = statistics.median(a / b for a, b in zip(recorded, bare))
    print(f"model={name} kind={model.kind} latent={model.latent} batch={args.batch} steps={args.steps} "
          f"scheduler={args.scheduler} threads={torch.get_num_threads()}")
    print(f"bare diffusers loop: median {statistics.median(bare):.3f} s")
    print(f"recorded loop:       median {statistics.median(recorded):.3f} s")
    print(f"recording overhead ratio (recorded / bare, median of {args.repeats}): {ratio:.3f}  target <= 1.05")
    if model.latent:
        t0 = time.perf_counter()
        model.sample(conds, steps=args.steps, guidance=w, scheduler=args.scheduler, seed=0, decode_steps=True)
        full = time.perf_counter() - t0
        print(f"with every step's x̂0 decoded by the VAE: {full:.3f} s ({full / statistics.median(bare):.2f}x bare)")


if __name__ == "__main__":
    main()
