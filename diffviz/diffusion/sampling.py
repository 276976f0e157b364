"""Recorded sampling: the reverse process as one diffusers scheduler loop that keeps every step.

The loop is exactly the bare diffusers loop —
    x = randn(shape, generator) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        eps = unet(scheduler.scale_model_input(x, t), t, cond).sample
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
— with classifier-free guidance (`guidance.combine`: eps = ε̂_uncond + w·(ε̂_cond − ε̂_uncond), both
halves from one batched call) and, on the side, copies of x_t, ε̂ and x̂0. The UNet's output is what the
scheduler's `prediction_type` says (ε, v or x0); ε̂ and x̂0 are derived from it (`forward.eps_and_x0`), and
a UNet that also predicts its variance (twice the channels) has it split off as diffusers does.
Recording never feeds back into the loop, so the final sample is bitwise the bare loop's for the
same seed.
"""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from .denoiser import call_denoiser  # noqa: F401  (re-exported: the one denoiser call)
from .forward import eps_and_x0, prediction_type, split_variance
from .guidance import combine
from .schedule import Schedule
from .trajectory import Trajectory
from ..errors import DiffvizError


def _accepts_generator(scheduler) -> bool:
    return "generator" in inspect.signature(scheduler.step).parameters


def step_input(out: torch.Tensor, pred: torch.Tensor, scheduler) -> torch.Tensor:
    """What the scheduler steps with: the UNet's whole output for a scheduler that reads a learned variance
    (DDPM with `variance_type` "learned"/"learned_range" splits it itself), else the prediction alone."""
    reads = "variance_type" in inspect.signature(type(scheduler).__init__).parameters  # a config key it knows
    learned = reads and getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range")
    return out if learned else pred


def alpha_bar_at(schedule: Schedule, t) -> torch.Tensor:
    """ᾱ at a (possibly fractional) timestep, interpolating σ like diffusers' Euler scheduler."""
    t = float(t)
    ab = schedule.alphas_cumprod
    if t == int(t):
        return ab[int(t)].float()
    sigma = np.interp(t, np.arange(len(ab)), schedule.sigma.numpy())
    return torch.tensor(1.0 / (1.0 + sigma**2), dtype=torch.float32)


@torch.no_grad()
def sample_loop(
    unet,
    scheduler,
    schedule: Schedule,
    shape: tuple[int, ...],
    *,
    cond: torch.Tensor | None = None,
    uncond: torch.Tensor | None = None,
    guidance: float = 1.0,
    steps: int = 50,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    decode_steps: bool = True,
    progress: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> Trajectory:
    """Run the reverse process and record it. `uncond` is needed when guidance ≠ 1.

    decode: latent → pixel function for latent models (records `decoded` per step when
    `decode_steps`, and `final_decoded`). callback(i, steps) is called after each step.
    """
    guided = cond is not None and guidance != 1.0
    if guided and uncond is None:
        raise DiffvizError("guidance != 1 needs an unconditional input (uncond)")
    scheduler.set_timesteps(steps, device=device)
    x = randn_tensor(shape, generator=generator, device=torch.device(device), dtype=dtype) * scheduler.init_noise_sigma
    step_kwargs = {"generator": generator} if _accepts_generator(scheduler) else {}
    both = torch.cat([uncond, cond]) if guided else None

    rec = {k: [] for k in ("x_t", "eps", "eps_cond", "eps_uncond", "x0_pred", "alpha_bar")}
    kind, channels = prediction_type(scheduler.config), shape[1]
    timesteps = scheduler.timesteps
    for t in tqdm(timesteps, disable=not progress, desc="denoising", leave=False):
        x_in = scheduler.scale_model_input(x, t)
        a = alpha_bar_at(schedule, t).to(device=x_in.device, dtype=x_in.dtype)
        if guided:
            out_uncond, out_cond = call_denoiser(unet, torch.cat([x_in, x_in]), t, both).chunk(2)
            (pred_uncond, _), (pred_cond, variance) = split_variance(out_uncond, channels), split_variance(out_cond, channels)
            pred = combine(pred_uncond, pred_cond, guidance)
            out = pred if variance is None else torch.cat([pred, variance], dim=1)  # as diffusers' IF pipelines
            rec["eps_cond"].append(eps_and_x0(pred_cond, x_in, a, kind)[0].cpu())
            rec["eps_uncond"].append(eps_and_x0(pred_uncond, x_in, a, kind)[0].cpu())
        else:
            out = call_denoiser(unet, x_in, t, cond)
            pred = split_variance(out, channels)[0]
        eps, x0 = eps_and_x0(pred, x_in, a, kind)
        rec["x_t"].append(x_in.cpu().clone())
        rec["eps"].append(eps.cpu().clone())
        rec["x0_pred"].append(x0.cpu().clone())
        rec["alpha_bar"].append(a.cpu())
        x = scheduler.step(step_input(out, pred, scheduler), t, x, **step_kwargs).prev_sample
        if callback is not None:
            callback(len(rec["x_t"]), len(timesteps))

    out = {k: torch.stack(v) for k, v in rec.items() if v}
    traj = Trajectory(timesteps=timesteps.cpu(), final=x.cpu(), **out)
    if decode is not None:
        traj.final_decoded = decode(x).cpu()
        if decode_steps:
            flat = traj.x0_pred.flatten(0, 1)
            pics = torch.cat([decode(chunk.to(device)).cpu() for chunk in flat.split(256)])
            traj.decoded = pics.view(traj.num_steps, traj.batch_size, *pics.shape[1:])
    return traj
