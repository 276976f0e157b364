"""Diffusion of 2-D points: the forward process step by step, the noise predictor's field, the way back.

The maths is the images' (`forward.q_sample`, the diffusers scheduler loop of `sampling.sample_loop`),
on tensors of shape (N, 2): a point cloud is a batch of "images" of two numbers each, so the whole
process fits in one plot.

- `forward_chain`: x_t from x_{t-1} by adding a little noise at every step (the lecture's "image +
  random sample → next image, repeated"), recorded at chosen steps. Between two recorded steps a and
  b the many small steps combine exactly into one: x_b = √(ᾱ_b/ᾱ_a)·x_a + √(1 − ᾱ_b/ᾱ_a)·ε.
- `noise_field`: ε̂(x, t) on a grid — the arrows −ε̂ point where denoising moves a point.
- `reverse_points`: sampling from N(0, I) with a diffusers scheduler, recorded as a `Trajectory`.
"""
from __future__ import annotations

import numpy as np
import torch

from .denoiser import call_denoiser
from .sampling import sample_loop
from .schedule import Schedule
from .schedulers import make_scheduler
from .trajectory import Trajectory
from ..errors import DiffvizError

POINT_RANGE = 4.0  # x̂0 is clipped to ±4 while sampling (the toy sets lie within about ±2.5)


def frame_timesteps(schedule: Schedule, frames: int) -> list[int]:
    """`frames` steps from 0 (the data) to T-1 (noise), spaced so the cloud changes evenly: uniform in
    √(1 − ᾱ_t), the share of noise (most of the visible change happens early in t)."""
    if not 2 <= int(frames) <= schedule.num_train_timesteps:
        raise DiffvizError(f"frames must be in [2, {schedule.num_train_timesteps}], got {frames}")
    noise = schedule.sqrt_one_minus_alpha_bar.numpy()
    targets = np.linspace(noise[0], noise[-1], int(frames))
    ts = np.searchsorted(noise, targets).clip(0, len(noise) - 1)
    ts[0], ts[-1] = 0, len(noise) - 1
    return sorted(set(int(t) for t in ts))


@torch.no_grad()
def forward_chain(x0: torch.Tensor, schedule: Schedule, timesteps, generator: torch.Generator | None = None) -> torch.Tensor:
    """The forward process run step by step from x0 (N, 2), recorded at the increasing `timesteps`:
    (K, N, 2). The first recorded step t0 is x0 itself noised to t0 (t0 = 0: almost x0)."""
    ts = [int(t) for t in timesteps]
    if not ts or any(b <= a for a, b in zip(ts, ts[1:])) or ts[0] < 0 or ts[-1] >= schedule.num_train_timesteps:
        raise DiffvizError(f"timesteps must increase within [0, {schedule.num_train_timesteps - 1}], got {ts[:5]}…")
    ab = schedule.alphas_cumprod.to(torch.float64)
    x = x0.to(torch.float64)
    out, prev = [], 1.0
    for t in ts:
        keep = float(ab[t]) / prev
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        x = keep ** 0.5 * x + (1 - keep) ** 0.5 * eps
        prev = float(ab[t])
        out.append(x.clone())
    return torch.stack(out).to(x0.dtype)


def grid(extent: float = 3.0, n: int = 15) -> torch.Tensor:
    """(n², 2) points on a square grid over [-extent, extent]²."""
    axis = torch.linspace(-extent, extent, n)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1)


@torch.no_grad()
def noise_field(unet, t: int, points: torch.Tensor) -> torch.Tensor:
    """The predicted noise ε̂(x, t) at each point (N, 2); the denoising direction is −ε̂."""
    device = next(unet.parameters()).device
    return call_denoiser(unet, points.to(device), torch.full((len(points),), int(t), device=device), None).cpu()


@torch.no_grad()
def reverse_points(unet, schedule: Schedule, n: int, *, steps: int = 100, scheduler: str = "ddpm", seed: int = 0) -> Trajectory:
    """Sample n points from N(0, I) back to the data with the trained predictor, every step recorded."""
    sched = make_scheduler(scheduler, schedule, sample_range=POINT_RANGE)
    device = next(unet.parameters()).device
    g = torch.Generator(device=device).manual_seed(int(seed))
    return sample_loop(unet, sched, schedule, (int(n), 2), steps=int(steps), generator=g, device=device)
